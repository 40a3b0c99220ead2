package d360_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/d360"
)

const testKey = d360.APIKey("k3y-S3cr3t-value")

// capture is what a test server saw of one request.
type capture struct {
	method, path string
	header       http.Header
	body         []byte
}

// sendPaths are the ways a Client sends to a plain http API: fasthttp by
// default, net/http with a caller's client or a proxy.
var sendPaths = []string{"fasthttp", "net/http"}

// newAPI serves handler on httptest and returns a Client pointed at it and
// a function returning the requests seen so far.
func newAPI(t *testing.T, handler http.HandlerFunc) (*d360.Client, func() []capture) {
	t.Helper()
	return newAPIOn(t, "fasthttp", handler)
}

// newAPIOn is newAPI with the client sending by path (one of sendPaths).
func newAPIOn(t *testing.T, path string, handler http.HandlerFunc) (*d360.Client, func() []capture) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []capture
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, capture{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
		mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := d360.New(d360.Config{BaseURL: srv.URL, APIKey: testKey})
	if err != nil {
		t.Fatalf("d360.New: %v", err)
	}
	if path == "net/http" {
		d360.NetHTTPOnly(c)
	}
	if got := d360.Path(c); got != path {
		t.Fatalf("client sends by %s, want %s", got, path)
	}
	return c, func() []capture {
		mu.Lock()
		defer mu.Unlock()
		return append([]capture(nil), seen...)
	}
}

// answer replies with status, headers and body.
func answer(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

const okAnswer = `{"messaging_product":"whatsapp","contacts":[{"input":"+1 555 000 1111","wa_id":"15550001111"}],"messages":[{"id":"wamid.HBgLMTU1NTAwMDExMTEVAgARGBI","message_status":"accepted"}]}`

func TestSendRequest(t *testing.T) {
	for _, path := range sendPaths {
		t.Run(path, func(t *testing.T) { testSendRequest(t, path) })
	}
}

func testSendRequest(t *testing.T, path string) {
	c, seen := newAPIOn(t, path, answer(200, okAnswer))
	// Odd spacing, key order, escapes and non-ASCII must reach the API as given.
	body := []byte("{ \"to\":\"+1 555 000 1111\",\n \"messaging_product\" : \"whatsapp\", \"type\":\"text\",\"text\":{\"body\":\"h\\u00e9llo <b>&</b> ☃\"},\"x_future\":[1,2.50,null]}")
	if _, err := c.Send(context.Background(), body); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := seen()
	if len(reqs) != 1 {
		t.Fatalf("API saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/messages" {
		t.Errorf("request = %s %s, want POST /messages", r.method, r.path)
	}
	if got := r.header.Get("D360-API-KEY"); got != string(testKey) {
		t.Errorf("D360-API-KEY = %q, want %q", got, testKey)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := r.header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none (360dialog authenticates by D360-API-KEY only)", got)
	}
	if !bytes.Equal(r.body, body) {
		t.Errorf("body reached the API as\n%s\nwant byte-for-byte\n%s", r.body, body)
	}
}

func TestSendJoinsBaseURLPath(t *testing.T) {
	for _, tc := range []struct {
		name, base, want string
	}{
		{"host only", "", "/messages"},
		{"trailing slash", "/", "/messages"},
		{"path prefix", "/sandbox/v1", "/sandbox/v1/messages"},
		{"path prefix with trailing slash", "/sandbox/v1/", "/sandbox/v1/messages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.URL.Path
				io.WriteString(w, okAnswer)
			}))
			defer srv.Close()
			c, err := d360.New(d360.Config{BaseURL: srv.URL + tc.base, APIKey: testKey})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if _, err := c.Send(context.Background(), []byte(`{}`)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got != tc.want {
				t.Errorf("path = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSendSuccess(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   d360.Response
	}{
		{"message accepted", 200, okAnswer,
			d360.Response{WAID: "15550001111", MessageID: "wamid.HBgLMTU1NTAwMDExMTEVAgARGBI", MessageStatus: "accepted", StatusCode: 200}},
		{"message held for quality assessment", 200,
			`{"messaging_product":"whatsapp","contacts":[{"input":"15550001111","wa_id":"15550001111"}],"messages":[{"id":"wamid.A","message_status":"held_for_quality_assessment"}]}`,
			d360.Response{WAID: "15550001111", MessageID: "wamid.A", MessageStatus: "held_for_quality_assessment", StatusCode: 200}},
		{"message status absent", 200,
			`{"messaging_product":"whatsapp","contacts":[{"input":"15550001111","wa_id":"15550001111"}],"messages":[{"id":"wamid.B"}]}`,
			d360.Response{WAID: "15550001111", MessageID: "wamid.B", StatusCode: 200}},
		{"sent to a business-scoped user id, no wa_id", 200,
			`{"messaging_product":"whatsapp","contacts":[{"input":"US.13491208655302741918","user_id":"US.13491208655302741918"}],"messages":[{"id":"wamid.C"}]}`,
			d360.Response{MessageID: "wamid.C", StatusCode: 200}},
		{"unknown fields ignored", 200,
			`{"messaging_product":"whatsapp","future":{"x":1},"messages":[{"id":"wamid.D","extra":true}]}`,
			d360.Response{MessageID: "wamid.D", StatusCode: 200}},
		{"mark as read", 200, `{"success":true}`, d360.Response{StatusCode: 200}},
		{"other 2xx status", 201, `{"messages":[{"id":"wamid.E"}]}`, d360.Response{MessageID: "wamid.E", StatusCode: 201}},
	} {
		for _, path := range sendPaths {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				c, _ := newAPIOn(t, path, answer(tc.status, tc.body))
				got, err := c.Send(context.Background(), []byte(`{"messaging_product":"whatsapp"}`))
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if got != tc.want {
					t.Errorf("Send = %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}

func TestSendUnusableSuccessAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, body string
	}{
		{"empty object", `{}`},
		{"success false", `{"success":false}`},
		{"contacts but no messages", `{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}]}`},
		{"message without id", `{"messages":[{"message_status":"accepted"}]}`},
		{"not JSON", `<html>ok</html>`},
		{"empty body", ``},
	} {
		for _, path := range sendPaths {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				c, _ := newAPIOn(t, path, answer(200, tc.body))
				got, err := c.Send(context.Background(), []byte(`{}`))
				var ae *d360.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("Send = %+v, %v; want an *APIError", got, err)
				}
				if ae.StatusCode != 200 {
					t.Errorf("StatusCode = %d, want 200", ae.StatusCode)
				}
				if ae.Body != tc.body {
					t.Errorf("Body = %q, want %q", ae.Body, tc.body)
				}
				// A 200 that cannot be read may have sent the message: never retry it.
				if c := d360.Classify(err); c != d360.Permanent {
					t.Errorf("Classify = %v, want permanent", c)
				}
			})
		}
	}
}

type apiErrorCase struct {
	name    string
	status  int
	headers []string
	body    string
	want    d360.APIError // Body is checked separately
	class   d360.Class
}

func TestSendAPIError(t *testing.T) {
	cases := []apiErrorCase{
		{
			name:   "Meta error with title and details",
			status: 400,
			body:   `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"title":"Re-engagement message","error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"fbtrace_id":"AbCdEf123"}}`,
			want:   d360.APIError{StatusCode: 400, Code: 131047, Title: "Re-engagement message", Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
			class:  d360.Permanent,
		},
		{
			name:   "Meta error without title falls back to message",
			status: 400,
			body:   `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},"fbtrace_id":"x"}}`,
			want:   d360.APIError{StatusCode: 400, Code: 130429, Title: "(#130429) Rate limit hit", Details: "Cloud API message throughput has been reached."},
			class:  d360.SlowDown,
		},
		{
			name:   "Meta error without error_data",
			status: 500,
			body:   `{"error":{"message":"(#131000) Something went wrong","code":131000}}`,
			want:   d360.APIError{StatusCode: 500, Code: 131000, Title: "(#131000) Something went wrong"},
			class:  d360.Transient,
		},
		{
			name:   "360dialog meta body in snake case",
			status: 401,
			body:   `{"meta":{"success":false,"http_code":401,"developer_message":"Invalid api_key or token expired"}}`,
			want:   d360.APIError{StatusCode: 401, Title: "Invalid api_key or token expired"},
			class:  d360.Permanent,
		},
		{
			name:   "360dialog meta body in camel case",
			status: 401,
			body:   `{"meta":{"success":false,"httpCode":401,"developerMessage":"Invalid api_key or token expired"}}`,
			want:   d360.APIError{StatusCode: 401, Title: "Invalid api_key or token expired"},
			class:  d360.Permanent,
		},
		{
			name:   "360dialog endpoint rate limit",
			status: 400,
			body:   `{"meta":{"success":false,"http_code":400,"developer_message":"You have exceeded the endpoint rate limit"}}`,
			want:   d360.APIError{StatusCode: 400, Title: "You have exceeded the endpoint rate limit"},
			class:  d360.Transient,
		},
		{
			name:   "error as a plain string",
			status: 401,
			body:   `{"error":"Unauthorized - Invalid or missing D360-API-KEY"}`,
			want:   d360.APIError{StatusCode: 401, Title: "Unauthorized - Invalid or missing D360-API-KEY"},
			class:  d360.Permanent,
		},
		{
			name:   "non-JSON body",
			status: 502,
			body:   "<html><body>502 Bad Gateway</body></html>",
			want:   d360.APIError{StatusCode: 502, Title: "Bad Gateway"},
			class:  d360.Transient,
		},
		{
			name:   "empty body",
			status: 500,
			body:   "",
			want:   d360.APIError{StatusCode: 500, Title: "Internal Server Error"},
			class:  d360.Transient,
		},
		{
			name:   "JSON without a known error shape",
			status: 503,
			body:   `{"status":"down"}`,
			want:   d360.APIError{StatusCode: 503, Title: "Service Unavailable"},
			class:  d360.Transient,
		},
		{
			name:    "Retry-After in seconds",
			status:  429,
			headers: []string{"Retry-After", "7"},
			body:    `{"error":"Too many requests"}`,
			want:    d360.APIError{StatusCode: 429, Title: "Too many requests", RetryAfter: 7 * time.Second},
			class:   d360.SlowDown,
		},
	}
	// A Retry-After that names no wait ahead is ignored.
	for name, v := range map[string]string{
		"zero":                        "0",
		"negative is ignored":         "-5",
		"garbage is ignored":          "soon",
		"date in the past is ignored": "Wed, 21 Oct 2015 07:28:00 GMT",
	} {
		cases = append(cases, apiErrorCase{
			name:    "Retry-After " + name,
			status:  503,
			headers: []string{"Retry-After", v},
			want:    d360.APIError{StatusCode: 503, Title: "Service Unavailable"},
			class:   d360.Transient,
		})
	}
	for _, tc := range cases {
		for _, path := range sendPaths {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				c, _ := newAPIOn(t, path, answer(tc.status, tc.body, tc.headers...))
				_, err := c.Send(context.Background(), []byte(`{"messaging_product":"whatsapp"}`))
				var ae *d360.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("Send error = %v (%T), want an *APIError", err, err)
				}
				got := *ae
				got.Body = ""
				if got != tc.want {
					t.Errorf("APIError = %+v\nwant       %+v", got, tc.want)
				}
				if ae.Body != tc.body {
					t.Errorf("Body = %q, want %q", ae.Body, tc.body)
				}
				if c := d360.Classify(err); c != tc.class {
					t.Errorf("Classify = %v, want %v", c, tc.class)
				}
			})
		}
	}
}

func TestSendRetryAfterHTTPDate(t *testing.T) {
	// The parsed wait depends on the clock; check it is in range, not its value.
	at := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	c, _ := newAPI(t, answer(429, `{"error":"slow down"}`, "Retry-After", at))
	_, err := c.Send(context.Background(), []byte(`{}`))
	var ae *d360.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("Send error = %v, want an *APIError", err)
	}
	if ae.RetryAfter <= 0 || ae.RetryAfter > time.Hour+time.Second {
		t.Errorf("RetryAfter = %v for %q, want in (0, 1h]", ae.RetryAfter, at)
	}
}

func TestAPIErrorBodyIsTruncated(t *testing.T) {
	long := `{"error":"` + strings.Repeat("x", 5000) + `"}`
	c, _ := newAPI(t, answer(400, long))
	_, err := c.Send(context.Background(), []byte(`{}`))
	var ae *d360.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("Send error = %v, want an *APIError", err)
	}
	if want := long[:2048] + "…"; ae.Body != want {
		t.Errorf("Body has %d bytes, want the first 2048 and an ellipsis", len(ae.Body))
	}
	if ae.Title != strings.Repeat("x", 5000) {
		t.Errorf("Title has %d bytes, want the full error string", len(ae.Title))
	}
}

func TestAPIErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  d360.APIError
		want string
	}{
		{d360.APIError{StatusCode: 400, Code: 131047, Title: "Re-engagement message", Details: "24 hours"},
			"360dialog answered HTTP 400, code 131047: Re-engagement message (24 hours)"},
		{d360.APIError{StatusCode: 401, Title: "Invalid api_key"}, "360dialog answered HTTP 401: Invalid api_key"},
		{d360.APIError{StatusCode: 502}, "360dialog answered HTTP 502"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, err := d360.New(d360.Config{BaseURL: url, APIKey: testKey})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = c.Send(context.Background(), []byte(`{}`))
	var te *d360.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("Send error = %v (%T), want a *TransportError", err, err)
	}
	if te.Unwrap() == nil {
		t.Error("TransportError wraps no cause")
	}
	if !strings.HasPrefix(err.Error(), "calling 360dialog: ") {
		t.Errorf("Error() = %q, want it to start with %q", err, "calling 360dialog: ")
	}
	if c := d360.Classify(err); c != d360.Transient {
		t.Errorf("Classify = %v, want transient", c)
	}
}

func TestSendContextDeadline(t *testing.T) {
	release := make(chan struct{})
	c, _ := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		select { // hold the answer until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, []byte(`{}`))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send error = %v, want context.DeadlineExceeded", err)
	}
	if c := d360.Classify(err); c != d360.Transient {
		t.Errorf("Classify = %v, want transient", c)
	}
}

func TestSendClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := d360.New(d360.Config{BaseURL: srv.URL, APIKey: testKey, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = c.Send(context.Background(), []byte(`{}`))
	var te *d360.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("Send error = %v (%T), want a *TransportError", err, err)
	}
	if c := d360.Classify(err); c != d360.Transient {
		t.Errorf("Classify = %v, want transient", c)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     d360.Config
		wantErr string
	}{
		{"defaults", d360.Config{APIKey: testKey}, ""},
		{"custom HTTP client", d360.Config{APIKey: testKey, HTTPClient: &http.Client{}}, ""},
		{"no key", d360.Config{BaseURL: "https://waba-v2.360dialog.io"}, "API key is empty"},
		{"bad base URL", d360.Config{BaseURL: "waba-v2.360dialog.io", APIKey: testKey}, "want an absolute http or https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := d360.New(tc.cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr == "" && c == nil:
				t.Fatal("New returned a nil client")
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseBaseURL(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"production", "https://waba-v2.360dialog.io", true},
		{"sandbox with path", "https://waba-sandbox.360dialog.io/v1", true},
		{"plain http to a stand-in", "http://127.0.0.1:8080", true},
		{"trailing slash", "https://waba-v2.360dialog.io/", true},
		{"empty", "", false},
		{"no scheme", "waba-v2.360dialog.io", false},
		{"ftp scheme", "ftp://waba-v2.360dialog.io", false},
		{"websocket scheme", "wss://waba-v2.360dialog.io", false},
		{"no host", "https://", false},
		{"path only", "/messages", false},
		{"query", "https://waba-v2.360dialog.io?key=1", false},
		{"empty query", "https://waba-v2.360dialog.io/?", true}, // url.Parse drops an empty query
		{"fragment", "https://waba-v2.360dialog.io/#x", false},
		{"unparsable", "https://[::1", false},
		{"control character", "https://waba-v2.360dialog.io/\x7f", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := d360.ParseBaseURL(tc.in)
			if tc.ok && err != nil {
				t.Fatalf("ParseBaseURL(%q): %v", tc.in, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("ParseBaseURL(%q) = %v, want an error", tc.in, u)
			}
		})
	}
}

func TestAPIKeyIsRedacted(t *testing.T) {
	if got := testKey.String(); got != "[redacted]" {
		t.Errorf("String() = %q, want [redacted]", got)
	}
	if got := d360.APIKey("").String(); got != "" {
		t.Errorf("empty key String() = %q, want empty", got)
	}
	for _, verb := range []string{"%v", "%s", "%+v", "%q"} {
		if got := fmt.Sprintf(verb, testKey); strings.Contains(got, string(testKey)) {
			t.Errorf("Sprintf(%q, key) = %q shows the key", verb, got)
		}
	}
	if got := fmt.Sprintf("%+v", d360.Config{APIKey: testKey}); strings.Contains(got, string(testKey)) {
		t.Errorf("Sprintf(%%+v, Config) = %q shows the key", got)
	}

	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("starting", "api_key", testKey)
	logger.Info("starting", slog.Any("api_key", testKey))
	logger.With("api_key", testKey).Info("with")
	logger.Info("grouped", slog.Group("d360", "api_key", testKey))
	logger.Info("config", "config", d360.Config{BaseURL: "https://waba-v2.360dialog.io", APIKey: testKey})
	logger.Info("pointer", "config", &d360.Config{APIKey: testKey})
	out := buf.String()
	if strings.Contains(out, string(testKey)) {
		t.Errorf("slog JSON output shows the key:\n%s", out)
	}
	// Each line must still be valid JSON and name the field.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
	if n := strings.Count(out, "[redacted]"); n != 6 {
		t.Errorf("log output has %d redacted keys, want 6:\n%s", n, out)
	}

	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("starting", "api_key", testKey, "config", d360.Config{APIKey: testKey})
	if strings.Contains(text.String(), string(testKey)) {
		t.Errorf("slog text output shows the key:\n%s", text.String())
	}
}

// writeCertPEM writes srv's certificate as a PEM file and returns its path.
func writeCertPEM(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSendOverTLSWithCAFile(t *testing.T) {
	var proto atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
		answer(200, okAnswer)(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := writeCertPEM(t, srv)
	for _, tc := range []struct {
		name      string
		caFile    string
		wantProto int32 // 0: the call fails on the certificate
	}{
		{"CA file trusts the server, HTTP/2 negotiated", caFile, 2},
		{"system roots only", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proto.Store(0)
			roots, err := d360.RootCAs(tc.caFile)
			if err != nil {
				t.Fatalf("RootCAs: %v", err)
			}
			c, err := d360.New(d360.Config{BaseURL: srv.URL, APIKey: testKey, RootCAs: roots})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			_, err = c.Send(context.Background(), []byte(`{}`))
			if tc.wantProto == 0 {
				var te *d360.TransportError
				var ce *tls.CertificateVerificationError
				if !errors.As(err, &te) || !errors.As(err, &ce) {
					t.Fatalf("Send error = %v (%T), want a *TransportError from a certificate check", err, err)
				}
				if proto.Load() != 0 {
					t.Error("the request reached the server")
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := proto.Load(); got != tc.wantProto {
				t.Errorf("request arrived as HTTP/%d, want HTTP/%d", got, tc.wantProto)
			}
		})
	}
}

func TestRootCAs(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyOnly := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyOnly, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name, file, wantErr string
	}{
		{"no file: the system roots", "", ""},
		{"missing file", missing, "CA file " + missing + ": no such file or directory"},
		{"a directory", dir, "CA file " + dir + ": is a directory"},
		{"no PEM in the file", notPEM, "CA file " + notPEM + " holds no PEM certificate"},
		{"PEM without a certificate", keyOnly, "CA file " + keyOnly + " holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := d360.RootCAs(tc.file)
			if tc.wantErr == "" {
				if err != nil || pool != nil {
					t.Fatalf("RootCAs(%q) = %v, %v; want nil, nil", tc.file, pool, err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("RootCAs(%q) error = %v, want %q", tc.file, err, tc.wantErr)
			}
		})
	}
}

// h2Client serves h over TLS with HTTP/2 and returns a client trusting it,
// and the server's connection counts: opened in all, and most open at once.
func h2Client(t *testing.T, h http.HandlerFunc) (c *d360.Client, opened, peak *atomic.Int32) {
	t.Helper()
	var open atomic.Int32
	opened, peak = new(atomic.Int32), new(atomic.Int32)
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
			n := open.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots, err := d360.RootCAs(writeCertPEM(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	c, err = d360.New(d360.Config{BaseURL: srv.URL, APIKey: testKey, RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	return c, opened, peak
}

// sendAtOnce starts n sends together and returns how many failed.
func sendAtOnce(ctx context.Context, c *d360.Client, n int) int {
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Send(ctx, []byte(`{}`)); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

// Sends starting together on a fresh client wait for the first connection
// instead of each dialing (and handshaking) one of their own; a first send
// whose answer hangs does not hold the others once its connection stands.
func TestColdSendsShareTheFirstConnection(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c, opened, _ := h2Client(t, func(w http.ResponseWriter, r *http.Request) {
		if body, _ := io.ReadAll(r.Body); bytes.Contains(body, []byte("hang")) {
			<-release
		}
		answer(200, okAnswer)(w, r)
	})
	// The first send hangs on the server; 100 more start while it is being
	// dialed.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go c.Send(ctx, []byte(`{"hang":true}`))
	if n := sendAtOnce(ctx, c, 100); n != 0 {
		t.Fatalf("%d of 100 sends failed while the first one hung", n)
	}
	// One connection learns that the server speaks HTTP/2, one more (of
	// the client limited for HTTP/2) carries the sends.
	if n := opened.Load(); n > 2 {
		t.Errorf("100 concurrent sends on a cold client opened %d connections, want 2 (HTTP/2: one connection carries them all)", n)
	}
}

// More sends in flight than one HTTP/2 connection carries (the Go server's
// 250 streams) open a few more connections, not one per waiting send.
func TestManySendsOverHTTP2OpenFewConnections(t *testing.T) {
	c, _, peak := h2Client(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		answer(200, okAnswer)(w, r)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if n := sendAtOnce(ctx, c, 1000); n != 0 {
		t.Fatalf("%d of 1000 sends failed", n)
	}
	// 1 connection learns the protocol, then at most 16 carry the sends
	// (a few more show briefly: a dialed connection the transport finds it
	// does not need is closed, and its place dialed again). Without the
	// limit, every send beyond the first connection's streams dials: 250
	// to 1,000 at once.
	if n := peak.Load(); n > 32 {
		t.Errorf("1000 concurrent sends over HTTP/2 had %d connections open at once, want at most about 17", n)
	}
}

// Sends one after the other over HTTP/1.1 reuse one connection: each
// answer is read to its end, whether its length is known or not.
func TestSequentialSendsReuseTheConnection(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		var opened atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !chunked {
				w.Header().Set("Content-Length", fmt.Sprint(len(okAnswer)))
			}
			w.WriteHeader(200)
			io.WriteString(w, okAnswer)
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				opened.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		c, err := d360.New(d360.Config{BaseURL: srv.URL, APIKey: testKey})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if resp, err := c.Send(context.Background(), []byte(`{}`)); err != nil || resp.MessageID == "" {
				t.Fatalf("chunked %v, send %d: %+v, %v", chunked, i, resp, err)
			}
		}
		if n := opened.Load(); n != 1 {
			t.Errorf("chunked %v: 5 sends one after the other opened %d connections, want 1", chunked, n)
		}
	}
}
