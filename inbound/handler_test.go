package inbound_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/inbound"
	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/schemas"
)

type handlerFixture struct {
	brokers []string
	topics  inbound.Topics
	dec     *schemas.Decoder
	h       *inbound.Handler
}

func newHandlerFixture(t *testing.T, brokers []string, token string) *handlerFixture {
	t.Helper()
	f := &handlerFixture{brokers: brokers}
	f.topics = inbound.Topics{
		Messages:   kafkatest.Topic(t, "messages"),
		Statuses:   kafkatest.Topic(t, "statuses"),
		DeadLetter: kafkatest.Topic(t, "dlq"),
	}
	reg := srfake.New()
	t.Cleanup(reg.Close)
	client, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	f.dec = schemas.NewDecoder(client)
	ctx := context.Background()
	msgEnc, err := schemas.Resolve(ctx, client, f.topics.Messages, schemas.InboundMessage, true)
	if err != nil {
		t.Fatal(err)
	}
	stEnc, err := schemas.Resolve(ctx, client, f.topics.Statuses, schemas.MessageStatus, true)
	if err != nil {
		t.Fatal(err)
	}
	w := kafkaio.NewWriter(brokers, time.Millisecond, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { w.Close() })
	f.h, err = inbound.New(inbound.Config{
		Topics:         f.topics,
		Encoders:       map[schemas.Kind]inbound.Encoder{schemas.InboundMessage: msgEnc, schemas.MessageStatus: stEnc},
		Publisher:      w,
		Token:          token,
		PublishTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func post(h http.Handler, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const textWebhook = `{"object":"whatsapp_business_account","entry":[{"id":"WABA1","changes":[{"field":"messages","value":{
 "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"PN1"},
 "contacts":[{"profile":{"name":"Jane"},"wa_id":"15550001111"}],
 "messages":[{"from":"15550001111","id":"wamid.IN1","timestamp":"1760000000","type":"text","text":{"body":"hello"}}]}}]}]}`

func TestHandlerPublishesMessagesAndStatusesBeforeAnswering(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	f := newHandlerFixture(t, brokers, "s3cret")
	kafkatest.CreateTopics(t, brokers, 3, f.topics.Messages, f.topics.Statuses, f.topics.DeadLetter)

	if rec := post(f.h, textWebhook, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("without token: HTTP %d, want 401", rec.Code)
	}
	if rec := post(f.h, textWebhook, map[string]string{"X-Webhook-Token": "s3cret"}); rec.Code != http.StatusOK {
		t.Fatalf("text webhook: HTTP %d %s, want 200", rec.Code, rec.Body)
	}
	status := d360test.StatusWebhook(d360test.StatusEvent{PhoneNumberID: "PN1", MessageID: "wamid.OUT1", RecipientID: "15550001111", Status: "delivered", CallbackData: "cmd-7", At: time.Unix(1760000100, 0)})
	if rec := post(f.h, string(status), map[string]string{"X-Webhook-Token": "s3cret"}); rec.Code != http.StatusOK {
		t.Fatalf("status webhook: HTTP %d %s, want 200", rec.Code, rec.Body)
	}
	// Answered 200 means acknowledged: the records are readable now.
	msgs := kafkatest.ReadN(t, brokers, f.topics.Messages, 1, 30*time.Second)
	if string(msgs[0].Key) != "15550001111" {
		t.Errorf("message key = %q, want the wa_id", msgs[0].Key)
	}
	m, _, err := f.dec.Decode(context.Background(), msgs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if m["event_id"] != "message:PN1:wamid.IN1" || m["text"].(map[string]any)["string"] != "hello" || m["profile_name"].(map[string]any)["string"] != "Jane" {
		t.Errorf("message record = %v", m)
	}
	sts := kafkatest.ReadN(t, brokers, f.topics.Statuses, 1, 30*time.Second)
	s, _, err := f.dec.Decode(context.Background(), sts[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if s["status"] != "delivered" || s["command_id"].(map[string]any)["string"] != "cmd-7" || string(sts[0].Key) != "15550001111" {
		t.Errorf("status record = %v key %q", s, sts[0].Key)
	}
}

func TestHandlerDeadLettersWhatItCannotRead(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	f := newHandlerFixture(t, brokers, "")
	kafkatest.CreateTopics(t, brokers, 1, f.topics.Messages, f.topics.Statuses, f.topics.DeadLetter)
	for _, body := range []string{`{not json`, `{"messages":[{"id":"x"}]}`} {
		if rec := post(f.h, body, nil); rec.Code != http.StatusOK {
			t.Fatalf("body %q: HTTP %d, want 200 (kept in the dead-letter topic)", body, rec.Code)
		}
	}
	dl := kafkatest.ReadN(t, brokers, f.topics.DeadLetter, 2, 30*time.Second)
	got := map[string]string{}
	for _, m := range dl {
		for _, h := range m.Headers {
			if h.Key == inbound.HeaderDLQReason {
				got[string(m.Value)] = string(h.Value)
			}
		}
	}
	if !strings.Contains(got[`{not json`], "invalid JSON") {
		t.Errorf("reason for invalid JSON = %q", got[`{not json`])
	}
	if !strings.Contains(got[`{"messages":[{"id":"x"}]}`], "On-Premise") {
		t.Errorf("reason for legacy body = %q", got[`{"messages":[{"id":"x"}]}`])
	}
}

// With Kafka unreachable the handler must answer 503, so 360dialog retries.
func TestHandlerAnswers503WhenKafkaIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	f := newHandlerFixture(t, []string{dead}, "")
	rec := post(f.h, textWebhook, nil)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("HTTP %d, want 503", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
}
