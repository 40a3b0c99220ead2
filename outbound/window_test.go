package outbound_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
	"github.com/wabridge/wabridge/window"
)

func newWindowStore(t *testing.T, brokers []string) *window.Store {
	t.Helper()
	s, err := window.New(window.Config{
		Brokers: brokers, WindowTopic: kafkatest.Topic(t, "windows"), OptinTopic: kafkatest.Topic(t, "optin"), Partitions: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// Free-form messages go out only inside the user's 24-hour window; templates
// always; a 131047 from the API closes the window for the next command.
func TestWorkerEnforcesTheCustomerServiceWindow(t *testing.T) {
	reply := func(r d360test.Request) *d360test.Reply {
		if strings.Contains(string(r.Body), "api says closed") {
			return &d360test.Reply{Status: 400, Body: `{"error":{"code":131047,"title":"Re-engagement message"}}`}
		}
		return nil
	}
	f := newFixture(t, reply)
	store := newWindowStore(t, f.brokers)
	const number = "100000000000001"
	ctx := context.Background()
	// 4917000000002 wrote to us a minute ago; 4917000000003 too, but the
	// API will say its window is closed.
	for _, u := range []string{"4917000000002", "4917000000003"} {
		if err := store.Opened(ctx, number, time.Now().Add(-time.Minute), u); err != nil {
			t.Fatal(err)
		}
	}
	cmd := func(id, body string) kafka.Message {
		return kafka.Message{Key: []byte(id), Value: []byte(body), Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte(id)}}}
	}
	kafkatest.Produce(t, f.brokers, f.commands,
		cmd("never-wrote", `{"to":"+49 170 000 0001","text":{"body":"hi"}}`),
		cmd("template", `{"to":"4917000000001","type":"template","template":{"name":"order_update","language":{"code":"en_US"}}}`),
		cmd("in-window", `{"to":"4917000000002","text":{"body":"thanks for writing"}}`),
		cmd("api-closed", `{"to":"4917000000003","text":{"body":"api says closed"}}`),
	)
	f.startWith(t, func(c *outbound.Config) { c.Window = store; c.PhoneNumberID = number })
	res := f.readResults(t, 4)
	check := func(id, outcome, reason string) {
		t.Helper()
		r := res[id]
		if r["outcome"] != outcome {
			t.Errorf("%s: outcome %v, want %s (%v)", id, r["outcome"], outcome, r["error"])
		}
		if reason != "" {
			if e, _ := union(r["error"]).(map[string]any); e == nil || e["reason"] != reason {
				t.Errorf("%s: error %v, want reason %s", id, r["error"], reason)
			}
		}
	}
	check("never-wrote", "rejected", "outside_customer_service_window")
	check("template", "accepted", "")
	check("in-window", "accepted", "")
	check("api-closed", "failed", "api_error")
	for _, r := range f.api.Requests() {
		if strings.Contains(string(r.Body), `"hi"`) {
			t.Errorf("the command outside the window reached the API")
		}
	}
	if st := store.Window(number, "4917000000003"); st.IsOpen(time.Now(), time.Minute) {
		t.Errorf("window of 4917000000003 still open after the API's 131047: %+v", st)
	}
}

// Template commands that cannot match an approved template are rejected
// before the API answers 132000/132001.
func TestWorkerChecksTemplatesAgainstTheCatalogue(t *testing.T) {
	f := newFixture(t, nil)
	client := timeoutClient(t, f.apiURL, 5*time.Second)
	cat, err := catalog.New(catalog.Config{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	cmd := func(id, body string) kafka.Message {
		return kafka.Message{Key: []byte(id), Value: []byte(body), Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte(id)}}}
	}
	kafkatest.Produce(t, f.brokers, f.commands,
		cmd("known", `{"to":"4917000000001","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}`),
		cmd("unknown", `{"to":"4917000000002","type":"template","template":{"name":"hello_wrold","language":{"code":"en_US"}}}`),
		cmd("wrong-language", `{"to":"4917000000003","type":"template","template":{"name":"hello_world","language":{"code":"de"}}}`),
		cmd("missing-params", `{"to":"4917000000004","type":"template","template":{"name":"order_update","language":{"code":"en_US"}}}`),
	)
	f.startWith(t, func(c *outbound.Config) { c.Templates = map[string]*catalog.Catalog{"": cat} })
	res := f.readResults(t, 4)
	want := map[string]string{"unknown": "unknown_template", "wrong-language": "unknown_template_language", "missing-params": "template_param_mismatch"}
	if res["known"]["outcome"] != "accepted" {
		t.Errorf("known template: %v", res["known"])
	}
	for id, reason := range want {
		e, _ := union(res[id]["error"]).(map[string]any)
		if res[id]["outcome"] != "rejected" || e == nil || e["reason"] != reason {
			t.Errorf("%s: %v %v, want rejected with %s", id, res[id]["outcome"], res[id]["error"], reason)
		}
	}
	if n := len(f.api.Requests()); n != 1 {
		t.Errorf("API got %d sends, want 1 (only the known template)", n)
	}
}
