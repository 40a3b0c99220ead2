package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

// Two instances: A takes the webhooks of a user's message and of a user's
// call (inbound half), B sends the replies (outbound half, window enforced).
// B honours the windows A saw; a user who never wrote or called, and a user
// the business called, are refused without calling the API; after B
// restarts, the restored state still says the same.
func TestWindowOpenedOnOneInstanceIsHonouredByAnother(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	registry, dec := testRegistry(t)
	api := d360test.New(d360test.Config{APIKey: "k", Statuses: []string{}})
	apiSrv := httptest.NewServer(api)
	t.Cleanup(func() { apiSrv.Close(); api.Close() })

	topics := newBridgeTopics(t)
	commands, results := topics.commands, topics.results
	common := append(topics.env(3),
		"KAFKA_BROKERS="+strings.Join(brokers, ","), "SCHEMA_REGISTRY_URL="+registry,
		"D360_API_KEY=k", "D360_BASE_URL="+apiSrv.URL, "WEBHOOK_TOKEN=tok",
		"WABRIDGE_PHONE_NUMBER_ID=100000000000001", "WABRIDGE_WINDOW_MODE=enforce",
	)
	httpA, adminA := freeAddr(t), freeAddr(t)
	a := start(t, append(common, "WABRIDGE_HTTP_ADDR="+httpA, "WABRIDGE_ADMIN_ADDR="+adminA), "run", "--only", "inbound")
	waitReady(t, a, adminA)
	adminB := freeAddr(t)
	b := start(t, append(common, "WABRIDGE_ADMIN_ADDR="+adminB, "WABRIDGE_PPROF=true"), "run", "--only", "outbound")
	waitReady(t, b, adminB)
	// Profiles are served only where asked for.
	for addr, want := range map[string]int{adminA: http.StatusNotFound, adminB: http.StatusOK} {
		resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s/debug/pprof/goroutine: HTTP %d, want %d", addr, resp.StatusCode, want)
		}
	}

	now := fmt.Sprint(time.Now().Unix())
	meta := `"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"}`
	for _, hook := range []string{
		`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{` + meta + `,
		 "messages":[{"from":"4917000000001","id":"wamid.W1","timestamp":"` + now + `","type":"text","text":{"body":"hello?"}}]}}]}]}`,
		// The user calls (Calling API, user-initiated connect).
		`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"calls","value":{` + meta + `,
		 "calls":[{"id":"wacid.C1","from":"4917000000003","to":"15550009999","event":"connect","timestamp":"` + now + `",
		  "direction":"USER_INITIATED","session":{"sdp_type":"offer","sdp":"v=0\r\n"}}]}}]}]}`,
		// The business calls another user: that opens no window.
		`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"calls","value":{` + meta + `,
		 "calls":[{"id":"wacid.C2","from":"15550009999","to":"4917000000004","event":"connect","timestamp":"` + now + `",
		  "direction":"BUSINESS_INITIATED","session":{"sdp_type":"answer","sdp":"v=0\r\n"}}]}}]}]}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+httpA+"/webhook", strings.NewReader(hook))
		req.Header.Set("X-Webhook-Token", "tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("webhook to A: %v %v", err, resp)
		}
		resp.Body.Close()
	}

	send := func(id, to string) {
		kafkatest.Produce(t, brokers, commands, kafka.Message{Key: []byte(to),
			Value:   []byte(fmt.Sprintf(`{"to":%q,"text":{"body":"reply %s"}}`, to, id)),
			Headers: []kafka.Header{{Key: "command-id", Value: []byte(id)}}})
	}
	outcomes := func(n int) map[string]string {
		out := map[string]string{}
		for _, m := range kafkatest.ReadN(t, brokers, results, n, 60*time.Second) {
			v, _, err := dec.Decode(context.Background(), m.Value)
			if err != nil {
				t.Fatal(err)
			}
			reason := ""
			if e, ok := v["error"].(map[string]any); ok {
				for _, x := range e {
					reason = x.(map[string]any)["reason"].(string)
				}
			}
			out[v["command_id"].(string)] = fmt.Sprint(v["outcome"], " ", reason)
		}
		return out
	}
	send("to-writer", "4917000000001")
	send("to-stranger", "4917000000002")
	send("to-caller", "4917000000003")
	send("to-called", "4917000000004")
	got := outcomes(4)
	const refused = "rejected outside_customer_service_window"
	if got["to-writer"] != "accepted " || got["to-caller"] != "accepted " || got["to-stranger"] != refused || got["to-called"] != refused {
		t.Fatalf("outcomes %v", got)
	}
	for _, r := range api.Requests() {
		if strings.Contains(string(r.Body), "to-stranger") || strings.Contains(string(r.Body), "to-called") {
			t.Errorf("a message outside the window reached the API: %s", r.Body)
		}
	}

	// B restarts: it restores the window from the topic.
	b.stop(t)
	b2 := start(t, append(common, "WABRIDGE_ADMIN_ADDR="+adminB), "run", "--only", "outbound")
	waitReady(t, b2, adminB)
	send("after-restart", "4917000000001")
	send("caller-after-restart", "4917000000003")
	if got := outcomes(6); got["after-restart"] != "accepted " || got["caller-after-restart"] != "accepted " {
		t.Errorf("after B restarted: %v", got)
	}
	b2.stop(t)
	a.stop(t)
}
