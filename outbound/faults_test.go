package outbound_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
)

// Each command text names a fault script: the stand-in answers its first
// calls with the scripted replies, then normally.
func TestWorkerAPIFaults(t *testing.T) {
	scripts := map[string][]*d360test.Reply{
		"429-retry-after":    {{Status: 429, Body: `{"error":"Too Many Requests"}`, Headers: map[string]string{"Retry-After": "1"}}},
		"429-no-retry-after": {{Status: 429, Body: `{"error":"Too Many Requests"}`}},
		"130429-storm": {
			{Status: 400, Body: `{"error":{"code":130429,"title":"Rate limit hit"}}`},
			{Status: 400, Body: `{"error":{"code":130429,"title":"Rate limit hit"}}`},
			{Status: 400, Body: `{"error":{"code":130429,"title":"Rate limit hit"}}`},
		},
		"5xx-burst":       {{Status: 502, Body: `bad gateway`}, {Status: 500, Body: ``}, {Status: 503, Body: `{"error":{"code":2,"title":"Service temporarily unavailable"}}`}},
		"timeout":         {{Status: 200, Body: `{"messages":[{"id":"wamid.LATE"}]}`, Delay: 2 * time.Second}},
		"2xx-unparseable": {{Status: 200, Body: `<html>OK</html>`}},
		"2xx-cut":         {{Status: 200, Body: `{"messages":[{"id":"wamid.CUT"}]}`}},
		"401":             {{Status: 401, Body: `{"meta":{"success":false,"http_code":401,"developer_message":"Invalid api_key"}}`}},
		"endpoint-limit":  {{Status: 400, Body: `{"meta":{"success":false,"http_code":400,"developer_message":"You have exceeded the endpoint rate limit"}}`}},
		"window-closed":   {{Status: 400, Body: `{"error":{"code":131047,"title":"Re-engagement message","error_data":{"details":"more than 24 hours"}}}`}},
	}
	want := map[string]struct {
		outcome  string
		attempts int32
		code     any
	}{
		"429-retry-after":    {"accepted", 2, nil},
		"429-no-retry-after": {"accepted", 2, nil},
		"130429-storm":       {"accepted", 4, nil},
		"5xx-burst":          {"accepted", 4, nil},
		// The request was written and no answer came: unknown, not retried.
		"timeout": {"failed", 1, nil},
		// 2xx is accepted, whatever its body says or however it ends.
		"2xx-unparseable": {"accepted", 1, nil},
		"2xx-cut":         {"accepted", 1, nil},
		"401":             {"failed", 1, nil},
		"endpoint-limit":  {"accepted", 2, nil},
		"window-closed":   {"failed", 1, int32(131047)},
	}
	var mu sync.Mutex
	seen := map[string]int{}
	reply := func(r d360test.Request) *d360test.Reply {
		for name, script := range scripts {
			if strings.Contains(string(r.Body), `"`+name+`"`) {
				mu.Lock()
				defer mu.Unlock()
				i := seen[name]
				seen[name]++
				if i < len(script) {
					return script[i]
				}
			}
		}
		return nil
	}
	f := newFixtureWrapped(t, reply, cutBody("2xx-cut"))
	var msgs []kafka.Message
	i := 0
	for name := range scripts {
		i++
		msgs = append(msgs, kafka.Message{
			Value:   []byte(fmt.Sprintf(`{"to":"49170000%05d","text":{"body":%q}}`, i, name)),
			Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte(name)}},
		})
	}
	kafkatest.Produce(t, f.brokers, f.commands, msgs...)
	f.startWith(t, func(c *outbound.Config) {
		c.MaxAttempts = 5
		c.Sender = timeoutClient(t, f.apiURL, 500*time.Millisecond)
	})
	res := f.readResults(t, len(scripts))
	mu.Lock()
	for _, name := range []string{"timeout", "2xx-unparseable", "2xx-cut"} {
		if seen[name] != 1 {
			t.Errorf("%s: the API was called %d times, want 1 (its outcome was not a refusal)", name, seen[name])
		}
	}
	mu.Unlock()
	for name, w := range want {
		r := res[name]
		if r["outcome"] != w.outcome || r["attempts"] != w.attempts {
			t.Errorf("%s: outcome %v after %v attempts, want %s after %d (%v)", name, r["outcome"], r["attempts"], w.outcome, w.attempts, r["error"])
		}
		if w.code != nil {
			if e, _ := union(r["error"]).(map[string]any); e == nil || union(e["code"]) != w.code {
				t.Errorf("%s: error %v, want code %v", name, r["error"], w.code)
			}
		}
	}
}

// cutBody answers a request whose body contains name with a 200 whose body
// is cut short (the connection closes mid-body); others go to next.
func cutBody(name string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(&cutWriter{ResponseWriter: w, cut: strings.Contains(string(body), `"`+name+`"`)}, r)
		})
	}
}

// cutWriter writes a header promising more than it sends, then closes.
type cutWriter struct {
	http.ResponseWriter
	cut bool
}

func (c *cutWriter) WriteHeader(code int) {
	if c.cut {
		c.Header().Set("Content-Length", "1000")
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if !c.cut {
		return c.ResponseWriter.Write(b)
	}
	n, err := c.ResponseWriter.Write(b[:len(b)/2])
	c.ResponseWriter.(http.Flusher).Flush()
	if conn, _, herr := http.NewResponseController(c.ResponseWriter).Hijack(); herr == nil {
		conn.Close()
	}
	return n, err
}
