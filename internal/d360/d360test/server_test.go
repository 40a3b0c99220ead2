package d360test_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/inbound"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/schemas"
)

const key = "stand-in-key"

// standIn serves a stand-in on httptest and returns it with a real client.
func standIn(t *testing.T, cfg d360test.Config) (*d360test.Server, *d360.Client, string) {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = key
	}
	api := d360test.New(cfg)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	t.Cleanup(api.Close) // runs first: stop webhooks, then the listener
	c, err := d360.New(d360.Config{BaseURL: srv.URL, APIKey: d360.APIKey(cfg.APIKey)})
	if err != nil {
		t.Fatalf("d360.New: %v", err)
	}
	return api, c, srv.URL
}

// post sends body to url with the key (none when empty) and returns the answer.
func post(t *testing.T, url, apiKey, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if apiKey != "" {
		req.Header.Set("D360-API-KEY", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// receiver is a webhook endpoint that records what it was sent.
type receiver struct {
	mu       sync.Mutex
	attempts []delivery
	answer   func(n int) int // status for the n-th attempt (0-based)
}

type delivery struct {
	body   []byte
	header http.Header
	status int
}

func newReceiver(t *testing.T, answer func(n int) int) (*receiver, string) {
	t.Helper()
	rc := &receiver{answer: answer}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	status := http.StatusOK
	if rc.answer != nil {
		status = rc.answer(len(rc.attempts))
	}
	rc.attempts = append(rc.attempts, delivery{body: body, header: r.Header.Clone(), status: status})
	rc.mu.Unlock()
	w.WriteHeader(status)
}

func (rc *receiver) all() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.attempts...)
}

func (rc *receiver) accepted() []delivery {
	var out []delivery
	for _, d := range rc.all() {
		if d.status == http.StatusOK {
			out = append(out, d)
		}
	}
	return out
}

// waitFor polls cond until it holds or a few seconds passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closeWithin calls api.Close and fails if it does not return in a few seconds.
func closeWithin(t *testing.T, api *d360test.Server) {
	t.Helper()
	done := make(chan struct{})
	go func() { api.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: webhook deliveries were not stopped")
	}
}

func TestStandInRequiresKey(t *testing.T) {
	api, _, url := standIn(t, d360test.Config{})
	body := `{"messaging_product":"whatsapp","to":"15550001111","type":"text","text":{"body":"hi"}}`
	for _, tc := range []struct {
		name, key string
	}{
		{"no key", ""},
		{"wrong key", "not-" + key},
		{"key with different case", strings.ToUpper(key)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, answer := post(t, url+"/messages", tc.key, body)
			if status != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", status)
			}
			var got struct {
				Meta struct {
					Success          *bool  `json:"success"`
					HTTPCode         int    `json:"http_code"`
					DeveloperMessage string `json:"developer_message"`
				} `json:"meta"`
			}
			if err := json.Unmarshal([]byte(answer), &got); err != nil {
				t.Fatalf("answer %q is not JSON: %v", answer, err)
			}
			if got.Meta.Success == nil || *got.Meta.Success || got.Meta.HTTPCode != 401 || got.Meta.DeveloperMessage == "" {
				t.Errorf("answer = %s, want a 360dialog meta error with http_code 401", answer)
			}
		})
	}
	reqs := api.Requests()
	if len(reqs) != 3 {
		t.Fatalf("recorded %d requests, want 3 (rejected ones too)", len(reqs))
	}
	if reqs[1].APIKey != "not-"+key {
		t.Errorf("recorded key = %q, want the one sent", reqs[1].APIKey)
	}

	// The real client sees a 401 that needs an alert and is not retried.
	c, err := d360.New(d360.Config{BaseURL: url, APIKey: "wrong"})
	if err != nil {
		t.Fatalf("d360.New: %v", err)
	}
	_, err = c.Send(context.Background(), []byte(body))
	var ae *d360.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Title != "Invalid api_key or token expired" {
		t.Fatalf("Send error = %#v, want a 401 APIError titled by developer_message", err)
	}
	if !d360.NeedsAlert(err) || d360.Classify(err) != d360.Permanent {
		t.Errorf("401: NeedsAlert = %v, Classify = %v; want true, permanent", d360.NeedsAlert(err), d360.Classify(err))
	}
}

func TestStandInValidatesBody(t *testing.T) {
	_, c, _ := standIn(t, d360test.Config{})
	for _, tc := range []struct {
		name     string
		body     string
		wantCode int
	}{
		{"not JSON", `hello`, 100},
		{"JSON array", `[{"messaging_product":"whatsapp"}]`, 100},
		{"to is a number", `{"messaging_product":"whatsapp","to":15550001111,"text":{"body":"hi"}}`, 100},
		{"messaging_product missing", `{"to":"15550001111","type":"text","text":{"body":"hi"}}`, 100},
		{"messaging_product wrong", `{"messaging_product":"sms","to":"15550001111","type":"text","text":{"body":"hi"}}`, 100},
		{"status other than read", `{"messaging_product":"whatsapp","status":"delivered","message_id":"wamid.X"}`, 100},
		{"read without message_id", `{"messaging_product":"whatsapp","status":"read"}`, 100},
		{"no recipient", `{"messaging_product":"whatsapp","type":"text","text":{"body":"hi"}}`, 131008},
		{"type object missing", `{"messaging_product":"whatsapp","to":"15550001111","type":"image","text":{"body":"hi"}}`, 131008},
		{"default type text without text", `{"messaging_product":"whatsapp","to":"15550001111","image":{"id":"1"}}`, 131008},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Send(context.Background(), []byte(tc.body))
			var ae *d360.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("Send error = %v, want an *APIError", err)
			}
			if ae.StatusCode != 400 || ae.Code != tc.wantCode {
				t.Errorf("answer HTTP %d code %d, want HTTP 400 code %d (%v)", ae.StatusCode, ae.Code, tc.wantCode, ae)
			}
			if ae.Title == "" || ae.Details == "" {
				t.Errorf("APIError %+v: want a title and error_data.details like Meta's", ae)
			}
			if d360.Classify(err) != d360.Permanent {
				t.Errorf("Classify = %v, want permanent", d360.Classify(err))
			}
		})
	}
}

func TestStandInAccepts(t *testing.T) {
	_, c, url := standIn(t, d360test.Config{})
	for _, tc := range []struct {
		name      string
		base      string
		body      string
		wantWAID  string
		wantWamid bool
	}{
		{"text to a formatted number", url,
			`{"messaging_product":"whatsapp","to":"+1 (555) 000-1111","type":"text","text":{"body":"hi"}}`, "15550001111", true},
		{"type defaults to text", url,
			`{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"}}`, "15550001111", true},
		{"image", url,
			`{"messaging_product":"whatsapp","to":"15550001111","type":"image","image":{"link":"https://cdn.example.com/a.jpg"}}`, "15550001111", true},
		{"to a business-scoped user id", url,
			`{"messaging_product":"whatsapp","recipient":"US.13491208655302741918","type":"text","text":{"body":"hi"}}`, "", true},
		{"mark as read", url,
			`{"messaging_product":"whatsapp","status":"read","message_id":"wamid.INBOUND"}`, "", false},
		{"typing indicator", url,
			`{"messaging_product":"whatsapp","status":"read","message_id":"wamid.INBOUND","typing_indicator":{"type":"text"}}`, "", false},
		{"sandbox path /v1/messages", url + "/v1",
			`{"messaging_product":"whatsapp","to":"15550001111","type":"text","text":{"body":"hi"}}`, "15550001111", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := c
			if tc.base != url {
				var err error
				if client, err = d360.New(d360.Config{BaseURL: tc.base, APIKey: key}); err != nil {
					t.Fatalf("d360.New: %v", err)
				}
			}
			resp, err := client.Send(context.Background(), []byte(tc.body))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if resp.StatusCode != 200 || resp.WAID != tc.wantWAID {
				t.Errorf("Send = %+v, want HTTP 200 and wa_id %q", resp, tc.wantWAID)
			}
			if got := strings.HasPrefix(resp.MessageID, "wamid."); got != tc.wantWamid {
				t.Errorf("MessageID = %q, want a wamid: %v", resp.MessageID, tc.wantWamid)
			}
		})
	}

	// Message ids are unique.
	body := []byte(`{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"}}`)
	a, errA := c.Send(context.Background(), body)
	b, errB := c.Send(context.Background(), body)
	if errA != nil || errB != nil || a.MessageID == b.MessageID {
		t.Errorf("two sends gave ids %q, %q (errors %v, %v); want two distinct ids", a.MessageID, b.MessageID, errA, errB)
	}

	// The mark-as-read answer is exactly {"success":true}.
	status, answer := post(t, url+"/messages", key, `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.X"}`)
	if status != 200 || strings.TrimSpace(answer) != `{"success":true}` {
		t.Errorf("mark as read answered %d %s, want 200 {\"success\":true}", status, answer)
	}
}

func TestStandInRecordsRequests(t *testing.T) {
	api, c, _ := standIn(t, d360test.Config{})
	bodies := []string{
		"{ \"messaging_product\":\"whatsapp\", \"to\":\"15550001111\",\n\"text\":{\"body\":\"one \\u00e9\"} }",
		`{"messaging_product":"whatsapp","status":"read","message_id":"wamid.2"}`,
		`not json at all`,
	}
	before := time.Now()
	for _, b := range bodies {
		c.Send(context.Background(), []byte(b)) // the last one fails; it is recorded anyway
	}
	reqs := api.Requests()
	if len(reqs) != len(bodies) {
		t.Fatalf("recorded %d requests, want %d", len(reqs), len(bodies))
	}
	for i, r := range reqs {
		if string(r.Body) != bodies[i] {
			t.Errorf("request %d body = %q, want %q byte-for-byte", i, r.Body, bodies[i])
		}
		if r.APIKey != key {
			t.Errorf("request %d key = %q, want %q", i, r.APIKey, key)
		}
		if r.At.Before(before) {
			t.Errorf("request %d At = %v, want the time it arrived", i, r.At)
		}
	}
	reqs[0] = d360test.Request{}
	if got := api.Requests()[0]; got.APIKey != key {
		t.Error("Requests returned the server's own slice; want a copy")
	}
}

func TestStandInReply(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []d360test.Request
	)
	_, c, url := standIn(t, d360test.Config{
		Reply: func(r d360test.Request) *d360test.Reply {
			mu.Lock()
			seen = append(seen, r)
			mu.Unlock()
			switch {
			case bytes.Contains(r.Body, []byte("throttle")):
				return &d360test.Reply{Status: 400, Headers: map[string]string{"Retry-After": "3", "X-Test": "yes"},
					Body: `{"error":{"message":"(#130429) Rate limit hit","code":130429,"error_data":{"details":"throughput"}}}`}
			case bytes.Contains(r.Body, []byte("down")):
				return &d360test.Reply{Status: 502, Body: `upstream down`}
			case bytes.Contains(r.Body, []byte("custom-ok")):
				return &d360test.Reply{Status: 200, Body: `{"messages":[{"id":"wamid.SCRIPTED","message_status":"held_for_quality_assessment"}]}`}
			}
			return nil // normal answer
		},
	})
	send := func(text string) (d360.Response, error) {
		return c.Send(context.Background(), []byte(`{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"`+text+`"}}`))
	}

	_, err := send("throttle")
	var ae *d360.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != 130429 || ae.Details != "throughput" || ae.RetryAfter != 3*time.Second {
		t.Errorf("scripted 130429: error = %#v", err)
	}
	if d360.Classify(err) != d360.SlowDown {
		t.Errorf("scripted 130429: Classify = %v, want slow_down", d360.Classify(err))
	}

	_, err = send("down")
	if !errors.As(err, &ae) || ae.StatusCode != 502 || ae.Body != "upstream down" || d360.Classify(err) != d360.Transient {
		t.Errorf("scripted 502: error = %#v, class %v", err, d360.Classify(err))
	}

	resp, err := send("custom-ok")
	if err != nil || resp.MessageID != "wamid.SCRIPTED" || resp.MessageStatus != "held_for_quality_assessment" {
		t.Errorf("scripted success: %+v, %v", resp, err)
	}

	resp, err = send("normal")
	if err != nil || !strings.HasPrefix(resp.MessageID, "wamid.") || resp.WAID != "15550001111" {
		t.Errorf("unscripted: %+v, %v; want the normal answer", resp, err)
	}

	// Scripted headers reach the client.
	req, _ := http.NewRequest(http.MethodPost, url+"/messages", strings.NewReader(`{"text":{"body":"throttle"}}`))
	req.Header.Set("D360-API-KEY", key)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	hr.Body.Close()
	if hr.Header.Get("X-Test") != "yes" || hr.Header.Get("Retry-After") != "3" || hr.StatusCode != 400 {
		t.Errorf("scripted answer: HTTP %d headers %v", hr.StatusCode, hr.Header)
	}

	// An unauthenticated request never reaches the script.
	n := len(seen)
	if status, _ := post(t, url+"/messages", "", `{"text":{"body":"throttle"}}`); status != 401 {
		t.Errorf("no key: status %d, want 401 before the script runs", status)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Error("Reply was called for a request without a valid key")
	}
	for i, r := range seen {
		if r.APIKey != key || len(r.Body) == 0 || r.At.IsZero() {
			t.Errorf("Reply got request %d = {At:%v APIKey:%q Body:%q}, want the recorded request", i, r.At, r.APIKey, r.Body)
		}
	}
}

func TestStandInReplyDelayEndsWithTheRequest(t *testing.T) {
	_, c, _ := standIn(t, d360test.Config{
		Reply: func(d360test.Request) *d360test.Reply { return &d360test.Reply{Status: 200, Delay: time.Hour} },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, []byte(`{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send error = %v, want the deadline", err)
	}
	// Cleanup closes the httptest server, which waits for the handler: it
	// must have returned when the client hung up.
}

// parsedStatus is a status webhook read back through inbound.Parse.
type parsedStatus struct {
	key, messageID, status, recipientID, recipientUserID, callback, commandID, phoneNumberID string
	errors                                                                                   int
}

func parseStatus(t *testing.T, body []byte) parsedStatus {
	t.Helper()
	items, err := inbound.Parse(body, time.Unix(1760000000, 0))
	if err != nil {
		t.Fatalf("webhook %s does not parse: %v", body, err)
	}
	if len(items) != 1 || items[0].Kind != schemas.MessageStatus {
		t.Fatalf("webhook %s parsed to %+v, want one status", body, items)
	}
	n := items[0].Native
	opt := func(k string) string {
		if u, ok := n[k].(map[string]any); ok {
			return u["string"].(string)
		}
		return ""
	}
	return parsedStatus{
		key: items[0].Key, messageID: n["message_id"].(string), status: n["status"].(string),
		recipientID: opt("recipient_id"), recipientUserID: opt("recipient_user_id"),
		callback: opt("biz_opaque_callback_data"), commandID: opt("command_id"),
		phoneNumberID: n["phone_number_id"].(string), errors: len(n["errors"].([]any)),
	}
}

func TestStandInSendsStatusWebhooks(t *testing.T) {
	// The receiver fails the first delivery; the stand-in must retry it.
	rc, hook := newReceiver(t, func(n int) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	_, c, _ := standIn(t, d360test.Config{
		WebhookURL:     hook,
		WebhookHeaders: map[string]string{"X-Webhook-Token": "s3cret"},
		StatusDelay:    time.Millisecond,
	})
	resp, err := c.Send(context.Background(),
		[]byte(`{"messaging_product":"whatsapp","to":"+1 555 000 1111","type":"text","text":{"body":"hi"},"biz_opaque_callback_data":"order-42"}`))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitFor(t, "three accepted status webhooks", func() bool { return len(rc.accepted()) >= 3 })

	all := rc.all()
	if all[0].status != 500 || !bytes.Equal(all[0].body, all[1].body) {
		t.Errorf("first attempt answered %d; the retry must carry the same body", all[0].status)
	}
	var got []string
	for _, d := range rc.accepted() {
		if d.header.Get("X-Webhook-Token") != "s3cret" || d.header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook headers = %v, want the configured token and JSON", d.header)
		}
		st := parseStatus(t, d.body)
		got = append(got, st.status)
		if st.messageID != resp.MessageID {
			t.Errorf("status for %q, want the id the send returned (%q)", st.messageID, resp.MessageID)
		}
		if st.key != "15550001111" || st.recipientID != "15550001111" {
			t.Errorf("status key %q recipient_id %q, want the wa_id 15550001111", st.key, st.recipientID)
		}
		if st.callback != "order-42" || st.commandID != "order-42" {
			t.Errorf("biz_opaque_callback_data %q, command_id %q; want order-42 echoed", st.callback, st.commandID)
		}
		if st.phoneNumberID != "100000000000001" {
			t.Errorf("phone_number_id = %q, want the default", st.phoneNumberID)
		}
	}
	if want := "sent,delivered,read"; strings.Join(got, ",") != want {
		t.Errorf("statuses = %v, want %s in order", got, want)
	}
}

func TestStandInStatusWebhooksOptions(t *testing.T) {
	rc, hook := newReceiver(t, nil)
	_, c, _ := standIn(t, d360test.Config{
		WebhookURL:    hook,
		Statuses:      []string{"sent", "failed"},
		StatusDelay:   time.Millisecond,
		PhoneNumberID: "123456789",
	})
	if _, err := c.Send(context.Background(), []byte(`{"messaging_product":"whatsapp","recipient":"US.13491208655302741918","text":{"body":"hi"}}`)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitFor(t, "two status webhooks", func() bool { return len(rc.accepted()) >= 2 })
	sent, failed := parseStatus(t, rc.accepted()[0].body), parseStatus(t, rc.accepted()[1].body)
	if sent.status != "sent" || failed.status != "failed" {
		t.Fatalf("statuses %q, %q; want sent, failed", sent.status, failed.status)
	}
	if sent.callback != "" {
		t.Errorf("biz_opaque_callback_data = %q, want none when the send set none", sent.callback)
	}
	if failed.errors != 1 || sent.errors != 0 {
		t.Errorf("errors: sent %d, failed %d; want 0, 1", sent.errors, failed.errors)
	}
	if sent.phoneNumberID != "123456789" {
		t.Errorf("phone_number_id = %q, want the configured one", sent.phoneNumberID)
	}
	// Sent to a business-scoped user id: no recipient_id (reference §11).
	if sent.recipientID != "" || sent.recipientUserID != "US.13491208655302741918" || sent.key != "US.13491208655302741918" {
		t.Errorf("BSUID send: recipient_id %q, recipient_user_id %q, key %q", sent.recipientID, sent.recipientUserID, sent.key)
	}
}

func TestStandInNoWebhooksForRejectedOrReadBodies(t *testing.T) {
	rc, hook := newReceiver(t, nil)
	api, c, _ := standIn(t, d360test.Config{WebhookURL: hook, StatusDelay: time.Millisecond})
	c.Send(context.Background(), []byte(`{"messaging_product":"whatsapp","status":"read","message_id":"wamid.X"}`))
	c.Send(context.Background(), []byte(`{"messaging_product":"whatsapp","type":"text"}`))
	closeWithin(t, api) // waits for any delivery that was started
	if n := len(rc.all()); n != 0 {
		t.Errorf("%d webhooks for a mark-as-read and a rejected send, want none", n)
	}
}

func TestStandInCloseStopsDeliveries(t *testing.T) {
	rc, hook := newReceiver(t, nil)
	many := make([]string, 500)
	for i := range many {
		many[i] = "sent"
	}
	api, c, _ := standIn(t, d360test.Config{WebhookURL: hook, Statuses: many, StatusDelay: 2 * time.Millisecond})
	body := []byte(`{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"}}`)
	for range 3 {
		if _, err := c.Send(context.Background(), body); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	waitFor(t, "deliveries to start", func() bool { return len(rc.all()) >= 3 })

	closeWithin(t, api)
	n := len(rc.all())
	if n >= 3*len(many) {
		t.Fatalf("all %d webhooks were delivered before Close; the test proves nothing", n)
	}
	// A send after Close is answered but starts no deliveries.
	if _, err := c.Send(context.Background(), body); err != nil {
		t.Fatalf("Send after Close: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // many StatusDelays: time enough for a stray delivery
	if got := len(rc.all()); got != n {
		t.Errorf("%d webhooks arrived after Close returned, want none", got-n)
	}
}

func TestStandInCloseInterruptsRetries(t *testing.T) {
	rc, hook := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	api, c, _ := standIn(t, d360test.Config{WebhookURL: hook, StatusDelay: time.Millisecond})
	if _, err := c.Send(context.Background(), []byte(`{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitFor(t, "a failed delivery", func() bool { return len(rc.all()) >= 1 })
	closeWithin(t, api) // without interruption, the backoff would take 25 s
	n := len(rc.all())
	time.Sleep(100 * time.Millisecond)
	if got := len(rc.all()); got != n {
		t.Errorf("%d retries after Close returned, want none", got-n)
	}
}

func TestStandInCloseWhileSending(t *testing.T) {
	// Run with -race: Close racing new sends must neither race nor leak.
	rc, hook := newReceiver(t, nil)
	api, c, _ := standIn(t, d360test.Config{WebhookURL: hook, StatusDelay: time.Millisecond})
	body := []byte(`{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				c.Send(context.Background(), body)
			}
		})
	}
	waitFor(t, "some sends", func() bool { return len(api.Requests()) >= 4 })
	closeWithin(t, api)
	wg.Wait()
	n := len(rc.all())
	time.Sleep(50 * time.Millisecond)
	if got := len(rc.all()); got != n {
		t.Errorf("%d webhooks after Close returned and all sends finished, want none", got-n)
	}
}

func TestStatusWebhook(t *testing.T) {
	at := time.Unix(1760000100, 0)
	for _, tc := range []struct {
		name string
		ev   d360test.StatusEvent
		want parsedStatus
	}{
		{"delivered with callback data",
			d360test.StatusEvent{PhoneNumberID: "1001", MessageID: "wamid.A", RecipientID: "15550001111", Status: "delivered", CallbackData: "cmd-1", At: at},
			parsedStatus{key: "15550001111", messageID: "wamid.A", status: "delivered", recipientID: "15550001111", callback: "cmd-1", commandID: "cmd-1", phoneNumberID: "1001"}},
		{"failed carries errors",
			d360test.StatusEvent{PhoneNumberID: "1001", MessageID: "wamid.B", RecipientID: "15550001111", Status: "failed", At: at},
			parsedStatus{key: "15550001111", messageID: "wamid.B", status: "failed", recipientID: "15550001111", phoneNumberID: "1001", errors: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := d360test.StatusWebhook(tc.ev)
			if got := parseStatus(t, body); got != tc.want {
				t.Errorf("StatusWebhook parsed to %+v\nwant %+v", got, tc.want)
			}
			var env struct {
				Object string `json:"object"`
				Entry  []struct {
					ID      string `json:"id"`
					Changes []struct {
						Value struct {
							Statuses []map[string]any `json:"statuses"`
						} `json:"value"`
					} `json:"changes"`
				} `json:"entry"`
			}
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			if env.Object != "whatsapp_business_account" || env.Entry[0].ID != "200000000000002" {
				t.Errorf("envelope object %q, entry id %q", env.Object, env.Entry[0].ID)
			}
			st := env.Entry[0].Changes[0].Value.Statuses[0]
			if st["timestamp"] != "1760000100" {
				t.Errorf("timestamp = %v, want Unix seconds as a string", st["timestamp"])
			}
			_, hasPricing := st["pricing"]
			if hasPricing == (tc.ev.Status == "failed") {
				t.Errorf("status %s: pricing present = %v; failed statuses carry none, others do", tc.ev.Status, hasPricing)
			}
		})
	}
}
