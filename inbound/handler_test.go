package inbound_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/inbound"
	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/schemas"
	"github.com/wabridge/wabridge/window"
)

type handlerFixture struct {
	brokers []string
	topics  inbound.Topics
	dec     *schemas.Decoder
	writer  *kafka.Writer
	// pub counts what the handler asked Kafka to write.
	pub *countingPublisher
	h   *inbound.Handler
}

// countingPublisher passes writes on and counts the records of those that
// succeeded.
type countingPublisher struct {
	next    inbound.Publisher
	calls   atomic.Int64
	records atomic.Int64
}

func (c *countingPublisher) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	c.calls.Add(1)
	err := c.next.WriteMessages(ctx, msgs...)
	if err == nil {
		c.records.Add(int64(len(msgs)))
	}
	return err
}

// newHandlerFixture builds a handler on brokers with a fake schema registry;
// configure adjusts its Config. The writer is kafkaio's, as in production.
func newHandlerFixture(t *testing.T, brokers []string, configure func(*inbound.Config)) *handlerFixture {
	t.Helper()
	f := &handlerFixture{brokers: brokers}
	f.topics = inbound.Topics{
		Messages:   kafkatest.Topic(t, "messages"),
		Statuses:   kafkatest.Topic(t, "statuses"),
		Events:     kafkatest.Topic(t, "events"),
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
	encoders := map[schemas.Kind]inbound.Encoder{}
	for kind, topic := range map[schemas.Kind]string{schemas.InboundMessage: f.topics.Messages, schemas.MessageStatus: f.topics.Statuses, schemas.WebhookEvent: f.topics.Events} {
		enc, err := schemas.Resolve(ctx, client, topic, kind, true)
		if err != nil {
			t.Fatal(err)
		}
		encoders[kind] = enc
	}
	f.writer = kafkatest.Writer(t, brokers)
	t.Cleanup(func() { f.writer.Close() })
	f.pub = &countingPublisher{next: f.writer}
	cfg := inbound.Config{
		Topics:         f.topics,
		Encoders:       encoders,
		Publisher:      f.pub,
		PublishTimeout: 2 * time.Second,
	}
	if configure != nil {
		configure(&cfg)
	}
	f.h, err = inbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *handlerFixture) createTopics(t *testing.T, partitions int32) {
	t.Helper()
	kafkatest.CreateTopics(t, f.brokers, partitions, f.topics.Messages, f.topics.Statuses, f.topics.Events, f.topics.DeadLetter)
}

// decode reads a record value written by the handler.
func (f *handlerFixture) decode(t *testing.T, m kafka.Message) map[string]any {
	t.Helper()
	n, _, err := f.dec.Decode(context.Background(), m.Value)
	if err != nil {
		t.Fatalf("decoding record of %s: %v", m.Topic, err)
	}
	return n
}

func post(h http.Handler, body string, header map[string]string) *httptest.ResponseRecorder {
	return postTo(h, "/webhook", body, header)
}

func postTo(h http.Handler, target, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func header(m kafka.Message, key string) string {
	v, _ := kafkaio.Header(m, key)
	return v
}

func unionString(v any) string {
	if u, ok := v.(map[string]any); ok {
		s, _ := u["string"].(string)
		return s
	}
	return ""
}

const textWebhook = `{"object":"whatsapp_business_account","entry":[{"id":"WABA1","changes":[{"field":"messages","value":{
 "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"PN1"},
 "contacts":[{"profile":{"name":"Jane"},"wa_id":"15550001111"}],
 "messages":[{"from":"15550001111","id":"wamid.IN1","timestamp":"1760000000","type":"text","text":{"body":"hello"}}]}}]}]}`

// textWebhookN is textWebhook with message id wamid.IN<n>.
func textWebhookN(n int) string {
	return strings.Replace(textWebhook, "wamid.IN1", "wamid.IN"+strconv.Itoa(n), 1)
}

func TestHandlerPublishesMessagesAndStatusesBeforeAnswering(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	f := newHandlerFixture(t, brokers, func(c *inbound.Config) { c.Token = "s3cret" })
	f.createTopics(t, 3)

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
	m := f.decode(t, msgs[0])
	if m["event_id"] != "message:PN1:wamid.IN1" || unionString(m["text"]) != "hello" || unionString(m["profile_name"]) != "Jane" || m["message_type"] != "text" {
		t.Errorf("message record = %v", m)
	}
	for k, want := range map[string]string{inbound.HeaderEventKind: "inbound_message", inbound.HeaderEventID: "message:PN1:wamid.IN1", inbound.HeaderContentType: inbound.ContentTypeAvro} {
		if got := header(msgs[0], k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	sts := kafkatest.ReadN(t, brokers, f.topics.Statuses, 1, 30*time.Second)
	s := f.decode(t, sts[0])
	if s["status"] != "delivered" || s["status_kind"] != "delivered" || unionString(s["command_id"]) != "cmd-7" || string(sts[0].Key) != "15550001111" {
		t.Errorf("status record = %v key %q", s, sts[0].Key)
	}
}

func TestHandlerPublishesWebhookEvents(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	f := newHandlerFixture(t, brokers, nil)
	f.createTopics(t, 3)
	for _, name := range []string{"change_errors", "template_status_update", "change_unmapped_fields"} {
		if rec := post(f.h, fixture(t, name), nil); rec.Code != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", name, rec.Code, rec.Body)
		}
	}
	// change_errors: 1 error; template: 1; change_unmapped_fields: 1 error, 1 user preference (+ 1 message).
	events := kafkatest.ReadN(t, brokers, f.topics.Events, 4, 30*time.Second)
	byType := map[string][]map[string]any{}
	for _, m := range events {
		if header(m, inbound.HeaderEventKind) != string(schemas.WebhookEvent) {
			t.Errorf("event-kind header = %q", header(m, inbound.HeaderEventKind))
		}
		n := f.decode(t, m)
		if header(m, inbound.HeaderEventID) != n["event_id"] {
			t.Errorf("event-id header %q, record %q", header(m, inbound.HeaderEventID), n["event_id"])
		}
		byType[n["event_type"].(string)] = append(byType[n["event_type"].(string)], n)
	}
	if len(byType["change_error"]) != 2 || len(byType["template_status"]) != 1 || len(byType["user_preference"]) != 1 {
		t.Errorf("events by type: %v", byType)
	}
	kafkatest.ReadN(t, brokers, f.topics.Messages, 1, 30*time.Second)
}

func TestHandlerWithoutEventsTopicDeadLettersEvents(t *testing.T) {
	// Until the events topic is configured, events go where they went
	// before it existed: the dead-letter topic, with a reason.
	p := &recordingPublisher{}
	h := newUnitHandler(t, p, func(c *inbound.Config) { c.Topics.Events = "" })
	if rec := post(h, fixture(t, "change_errors"), nil); rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d", rec.Code)
	}
	got := p.all()
	if len(got) != 1 || got[0].Topic != "dlq" || !strings.Contains(header(got[0], inbound.HeaderDLQReason), "no webhook-events topic") {
		t.Fatalf("records = %+v", got)
	}
}

func TestHandlerDeadLettersWhatItCannotRead(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	f := newHandlerFixture(t, brokers, nil)
	f.createTopics(t, 1)
	bodies := map[string]string{
		`{not json`:                 "invalid JSON",
		`{"messages":[{"id":"x"}]}`: "On-Premise",
		"{\"entry\":[\"caf\xe9\"]}": "invalid UTF-8",
		`{"entry":[],"entry":[]}`:   "duplicate key",
		`{"entry":[{"id":"W","changes":[{"field":"messages","value":null}]}]}`: "value is null",
	}
	for body := range bodies {
		if rec := post(f.h, body, nil); rec.Code != http.StatusOK {
			t.Fatalf("body %q: HTTP %d, want 200 (kept in the dead-letter topic)", body, rec.Code)
		}
	}
	dl := kafkatest.ReadN(t, brokers, f.topics.DeadLetter, len(bodies), 30*time.Second)
	got := map[string]string{}
	for _, m := range dl {
		got[string(m.Value)] = header(m, inbound.HeaderDLQReason)
		if header(m, inbound.HeaderDLQSource) != "webhook" {
			t.Errorf("dlq-source = %q", header(m, inbound.HeaderDLQSource))
		}
	}
	for body, want := range bodies {
		if !strings.Contains(got[body], want) { // the whole body, a change of it failing included
			t.Errorf("reason for %q = %q, want one containing %q (got %v)", body, got[body], want, got)
		}
	}
}

func TestHandlerChunksLargeDeadLetters(t *testing.T) {
	// Kafka refuses records over message.max.bytes (1 MiB by default), and
	// 360dialog bodies may reach 3 MB: a large body that cannot be read is
	// kept in chunks.
	brokers := kafkatest.Brokers(t)
	f := newHandlerFixture(t, brokers, nil)
	f.createTopics(t, 3)
	body := `{"entry":[` + strings.Repeat(`"padding padding padding padding",`, 50000) + `]` // unterminated: invalid JSON
	if rec := post(f.h, body, nil); rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d %s, want 200", rec.Code, rec.Body)
	}
	chunks, whole := readDeadLetterChunks(t, brokers, f.topics.DeadLetter, len(body))
	sum := sha256.Sum256([]byte(body))
	if string(whole) != body || header(chunks[0], inbound.HeaderDLQSHA256) != hex.EncodeToString(sum[:]) || header(chunks[0], inbound.HeaderDLQSize) != strconv.Itoa(len(body)) {
		t.Errorf("chunks do not reassemble to the body (%d of %d bytes)", len(whole), len(body))
	}
}

// readDeadLetterChunks reads the chunks of a dead letter of size bytes
// (chunked at the default 512 KiB), checks that they are numbered in order
// and share a partition and key, and returns them with their concatenation.
func readDeadLetterChunks(t *testing.T, brokers []string, topic string, size int) ([]kafka.Message, []byte) {
	t.Helper()
	n := (size + 512<<10 - 1) / (512 << 10)
	chunks := kafkatest.ReadN(t, brokers, topic, n, 30*time.Second)
	sort.Slice(chunks, func(i, j int) bool { return chunks[i].Offset < chunks[j].Offset })
	var whole []byte
	for i, c := range chunks {
		if got, want := header(c, inbound.HeaderDLQChunk), fmt.Sprintf("%d/%d", i+1, n); got != want {
			t.Errorf("chunk %d: dlq-chunk %q, want %q", i, got, want)
		}
		if c.Partition != chunks[0].Partition || !bytes.Equal(c.Key, chunks[0].Key) {
			t.Errorf("chunk %d in partition %d key %q, want all in one", i, c.Partition, c.Key)
		}
		whole = append(whole, c.Value...)
	}
	return chunks, whole
}

func TestHandlerDeadLettersRecordsTooLargeForKafka(t *testing.T) {
	// kafka-go refuses a record over 1 MiB before writing anything, so a
	// webhook holding one was answered 503 on every retry, and its other
	// records were never written either.
	brokers := kafkatest.Brokers(t)
	f := newHandlerFixture(t, brokers, nil)
	f.createTopics(t, 3)
	value := `{"messaging_product":"whatsapp","metadata":{"phone_number_id":"PN1"},"history":[{"blob":"` + strings.Repeat("x", 1200<<10) + `"}]}`
	body := strings.Replace(textWebhook, `"changes":[`, `"changes":[{"field":"history","value":`+value+`},`, 1)
	if rec := post(f.h, body, nil); rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d %s, want 200", rec.Code, rec.Body)
	}
	chunks, whole := readDeadLetterChunks(t, brokers, f.topics.DeadLetter, len(body))
	if string(whole) != body {
		t.Errorf("dead-letter chunks hold %d bytes, want the %d of the request body", len(whole), len(body))
	}
	if reason := header(chunks[0], inbound.HeaderDLQReason); !strings.Contains(reason, "entry[0].changes[0].value: webhook_event record of") || !strings.Contains(reason, "larger than the Kafka writer takes") {
		t.Errorf("dlq-reason = %q", reason)
	}
	msgs := kafkatest.ReadN(t, brokers, f.topics.Messages, 1, 30*time.Second)
	if m := f.decode(t, msgs[0]); m["message_id"] != "wamid.IN1" {
		t.Errorf("message record = %v", m)
	}
}

func TestHandlerRefusesLargeBodies(t *testing.T) {
	big := `{"entry":[]}` + strings.Repeat(" ", 2048)
	t.Run("authenticated by header: a stub is kept", func(t *testing.T) {
		p := &recordingPublisher{}
		h := newUnitHandler(t, p, func(c *inbound.Config) { c.MaxBodyBytes = 1024; c.Token = "tok" })
		if rec := post(h, big, map[string]string{"X-Webhook-Token": "tok"}); rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("HTTP %d, want 413", rec.Code)
		}
		got := p.all()
		if len(got) != 1 || !strings.Contains(string(got[0].Value), `"content_length":2060`) || !strings.Contains(header(got[0], inbound.HeaderDLQReason), "larger than 1024") {
			t.Fatalf("dead letters = %+v", got)
		}
	})
	t.Run("chunked body without length", func(t *testing.T) {
		p := &recordingPublisher{}
		h := newUnitHandler(t, p, func(c *inbound.Config) { c.MaxBodyBytes = 1024 })
		req := httptest.NewRequest(http.MethodPost, "/webhook", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || len(p.all()) != 1 || !strings.Contains(string(p.all()[0].Value), `"truncated_bytes_read":1024`) {
			t.Fatalf("HTTP %d, dead letters %+v", rec.Code, p.all())
		}
	})
	t.Run("signature-only authentication: nothing stored", func(t *testing.T) {
		p := &recordingPublisher{}
		h := newUnitHandler(t, p, func(c *inbound.Config) { c.MaxBodyBytes = 1024; c.SignatureSecrets = []string{"k"} })
		if rec := post(h, big, map[string]string{inbound.HeaderHubSignature: sign("k", big)}); rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("HTTP %d, want 413", rec.Code)
		}
		if len(p.all()) != 0 {
			t.Fatalf("stored %d records for a body that could not be authenticated", len(p.all()))
		}
	})
}

func TestHandlerDropsRecordsAlreadyAcknowledged(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	f := newHandlerFixture(t, brokers, func(c *inbound.Config) { c.DedupeIDs = 2 })
	f.createTopics(t, 1)
	body := fixture(t, "batch_entries_changes") // 8 records
	for range 2 {
		if rec := post(f.h, body, nil); rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d", rec.Code)
		}
	}
	// The filter holds 2 ids: the second delivery repeats the 6 records whose
	// ids were forgotten and drops the last 2.
	if got := f.pub.records.Load(); got != 8+6 {
		t.Errorf("records written = %d, want 14", got)
	}
	// Off by default: every delivery is written.
	g := newHandlerFixture(t, brokers, nil)
	g.createTopics(t, 1)
	for range 2 {
		post(g.h, body, nil)
	}
	if got := g.pub.records.Load(); got != 16 {
		t.Errorf("without the filter: records written = %d, want 16", got)
	}
}

func TestHandlerDedupeMarksOnlyAcknowledgedIDs(t *testing.T) {
	// A delivery Kafka did not take must not make its retry look like a
	// duplicate.
	p := &recordingPublisher{fail: true}
	h := newUnitHandler(t, p, func(c *inbound.Config) { c.DedupeIDs = 100 })
	if rec := post(h, textWebhook, nil); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("HTTP %d, want 503", rec.Code)
	}
	p.setFail(false)
	if rec := post(h, textWebhook, nil); rec.Code != http.StatusOK || len(p.all()) != 1 {
		t.Fatalf("retry: HTTP %d, %d records, want 200 and the record", rec.Code, len(p.all()))
	}
	if rec := post(h, textWebhook, nil); rec.Code != http.StatusOK || len(p.all()) != 1 {
		t.Fatalf("third delivery: HTTP %d, %d records, want 200 and no new record", rec.Code, len(p.all()))
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
	f := newHandlerFixture(t, []string{dead}, func(c *inbound.Config) { c.PublishTimeout = 500 * time.Millisecond })
	for _, body := range []string{textWebhook, `{not json`} { // records and dead letters alike
		rec := post(f.h, body, nil)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("HTTP %d, want 503", rec.Code)
		}
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
	}
}

// gate sits between the Kafka writer and the network: closed, it cuts every
// connection and refuses new ones, as a broker that went away would.
type gate struct {
	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func (g *gate) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused (broker down)")}
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if g.conns == nil {
		g.conns = map[net.Conn]struct{}{}
	}
	g.conns[c] = struct{}{}
	return c, nil
}

func (g *gate) set(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
	if down {
		for c := range g.conns {
			c.Close()
		}
		clear(g.conns)
	}
}

func TestHandlerBrokerOutageLosesNothing(t *testing.T) {
	// 360dialog's side: every webhook is posted until it gets 200. While the
	// broker is away the answer is 503; once it is back, every message is in
	// Kafka, including those first refused.
	brokers := kafkatest.Brokers(t)
	var g gate
	f := newHandlerFixture(t, brokers, func(c *inbound.Config) { c.PublishTimeout = time.Second })
	f.writer.Transport.(*kafka.Transport).Dial = g.dial
	f.createTopics(t, 3)

	pending := map[int]bool{}
	deliver := func(n int) int {
		rec := post(f.h, textWebhookN(n), nil)
		if rec.Code == http.StatusOK {
			delete(pending, n)
		} else {
			pending[n] = true
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Errorf("webhook %d: HTTP %d (Retry-After %q), want 503 with Retry-After", n, rec.Code, rec.Header().Get("Retry-After"))
			}
		}
		return rec.Code
	}
	for n := range 5 {
		if code := deliver(n); code != http.StatusOK {
			t.Fatalf("webhook %d before the outage: HTTP %d", n, code)
		}
	}
	g.set(true)
	for n := 5; n < 10; n++ {
		if code := deliver(n); code != http.StatusServiceUnavailable {
			t.Errorf("webhook %d during the outage: HTTP %d, want 503", n, code)
		}
	}
	g.set(false)
	for n := 10; n < 15; n++ {
		deliver(n)
	}
	// 360dialog retries with backoff; so do we, a bounded number of times.
	for attempt := 0; len(pending) > 0 && attempt < 30; attempt++ {
		time.Sleep(200 * time.Millisecond)
		for n := range pending {
			deliver(n)
		}
	}
	if len(pending) > 0 {
		t.Fatalf("webhooks never accepted after the broker returned: %v", pending)
	}
	got := map[string]bool{}
	for _, m := range kafkatest.ReadN(t, brokers, f.topics.Messages, recordCount(t, brokers, f.topics.Messages), 30*time.Second) {
		got[f.decode(t, m)["message_id"].(string)] = true
	}
	for n := range 15 {
		if !got["wamid.IN"+strconv.Itoa(n)] {
			t.Errorf("message wamid.IN%d lost", n)
		}
	}
}

// recordCount is the number of records in topic (which has never been
// truncated or compacted): the sum of its end offsets.
func recordCount(t *testing.T, brokers []string, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	n := 0
	ends.Each(func(o kadm.ListedOffset) { n += int(o.Offset) })
	return n
}

// recommendedServer is the webhook server with the timeouts wabridge
// recommends, scaled down so that the test runs quickly.
func recommendedServer(h http.Handler, scale time.Duration) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", h)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadHeaderTimeout = 2 * scale
	srv.Config.ReadTimeout = 5 * scale
	srv.Config.WriteTimeout = 10 * scale
	srv.Config.IdleTimeout = 60 * scale
	srv.Config.MaxHeaderBytes = 64 << 10
	srv.Start()
	return srv
}

// trickle writes head, then body one byte at a time until the server hangs
// up, and returns what the server answered (empty if nothing).
func trickle(t *testing.T, addr, head, body string, every time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answer := make(chan string, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(time.Minute)) // a safety net, not an assertion
		b, _ := io.ReadAll(bufio.NewReader(c))
		answer <- string(b)
	}()
	if _, err := io.WriteString(c, head); err != nil {
		return <-answer
	}
	for i := range len(body) {
		select {
		case a := <-answer:
			return a
		case <-time.After(every):
		}
		if _, err := c.Write([]byte{body[i]}); err != nil {
			break
		}
	}
	return <-answer
}

func TestHandlerSlowClients(t *testing.T) {
	p := &recordingPublisher{}
	h := newUnitHandler(t, p, func(c *inbound.Config) { c.MaxInFlight = 2 })
	srv := recommendedServer(h, 100*time.Millisecond)
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	t.Run("body trickled slower than the read timeout", func(t *testing.T) {
		done := make(chan string)
		go func() {
			head := "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(textWebhook)) + "\r\n\r\n"
			done <- trickle(t, addr, head, textWebhook, 20*time.Millisecond)
		}()
		// Meanwhile, a normal sender is served.
		resp, err := http.Post(srv.URL+"/webhook", "application/json", strings.NewReader(textWebhookN(2)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("normal sender during the slow one: HTTP %d", resp.StatusCode)
		}
		answer := <-done
		if strings.HasPrefix(answer, "HTTP/1.1 200") {
			t.Fatalf("slow body answered 200: %q", answer)
		}
		for _, m := range p.all() {
			if strings.Contains(string(m.Value), "wamid.IN1") || m.Topic == "dlq" {
				t.Errorf("the cut-off body was stored: %s %q", m.Topic, m.Value)
			}
		}
	})
	t.Run("headers trickled slower than the header timeout", func(t *testing.T) {
		before := len(p.all())
		answer := trickle(t, addr, "", "POST /webhook HTTP/1.1\r\nHost: x\r\nX-Padding: "+strings.Repeat("a", 200)+"\r\n\r\n", 20*time.Millisecond)
		if strings.HasPrefix(answer, "HTTP/1.1 200") {
			t.Fatalf("slow headers answered 200: %q", answer)
		}
		if len(p.all()) != before {
			t.Errorf("slow headers stored records")
		}
	})
	t.Run("slots are free again afterwards", func(t *testing.T) {
		for n := range 3 {
			resp, err := http.Post(srv.URL+"/webhook", "application/json", strings.NewReader(textWebhookN(10+n)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("HTTP %d", resp.StatusCode)
			}
		}
	})
}

func TestHandlerCapsConcurrency(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	p := &recordingPublisher{block: release, entered: entered}
	h := newUnitHandler(t, p, func(c *inbound.Config) { c.MaxInFlight = 2; c.Token = "tok" })
	auth := map[string]string{"X-Webhook-Token": "tok"}
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for n := range 2 {
		wg.Go(func() { codes <- post(h, textWebhookN(n), auth).Code })
	}
	<-entered
	<-entered
	rec := post(h, textWebhookN(3), auth)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("third concurrent webhook: HTTP %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Unauthenticated requests are refused before they could take a slot.
	if rec := post(h, textWebhookN(3), nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("unauthenticated webhook while full: HTTP %d, want 401", rec.Code)
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("webhook within the cap: HTTP %d", c)
		}
	}
	if rec := post(h, textWebhookN(4), auth); rec.Code != http.StatusOK {
		t.Errorf("after the burst: HTTP %d", rec.Code)
	}
}

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestHandlerAuthMatrix(t *testing.T) {
	body := textWebhook
	type req struct {
		path   string
		header map[string]string
	}
	good360 := map[string]string{inbound.Header360Signature: strings.TrimPrefix(sign("new", body), "sha256=")}
	for _, tc := range []struct {
		name     string
		config   func(*inbound.Config)
		req      req
		wantCode int
	}{
		{"no auth configured", nil, req{"/webhook", nil}, 200},

		{"token: right", func(c *inbound.Config) { c.Token = "t0k" }, req{"/webhook", map[string]string{"X-Webhook-Token": "t0k"}}, 200},
		{"token: missing", func(c *inbound.Config) { c.Token = "t0k" }, req{"/webhook", nil}, 401},
		{"token: wrong", func(c *inbound.Config) { c.Token = "t0k" }, req{"/webhook", map[string]string{"X-Webhook-Token": "t0K"}}, 401},
		{"token: prefix only", func(c *inbound.Config) { c.Token = "t0k" }, req{"/webhook", map[string]string{"X-Webhook-Token": "t0"}}, 401},
		{"token: in another header", func(c *inbound.Config) { c.Token = "t0k" }, req{"/webhook", map[string]string{"Authorization": "t0k"}}, 401},
		{"token: custom header", func(c *inbound.Config) { c.Token = "t0k"; c.TokenHeader = "Authorization" }, req{"/webhook", map[string]string{"Authorization": "t0k"}}, 200},
		{"token: previous one while rotating", func(c *inbound.Config) { c.Token = "new"; c.PreviousToken = "old" }, req{"/webhook", map[string]string{"X-Webhook-Token": "old"}}, 200},
		{"token: current one while rotating", func(c *inbound.Config) { c.Token = "new"; c.PreviousToken = "old" }, req{"/webhook", map[string]string{"X-Webhook-Token": "new"}}, 200},
		{"token: neither while rotating", func(c *inbound.Config) { c.Token = "new"; c.PreviousToken = "old" }, req{"/webhook", map[string]string{"X-Webhook-Token": "older"}}, 401},

		{"path: right", func(c *inbound.Config) { c.PathSecret = "p4th" }, req{"/webhook/p4th", nil}, 200},
		{"path: missing", func(c *inbound.Config) { c.PathSecret = "p4th" }, req{"/webhook", nil}, 401},
		{"path: wrong", func(c *inbound.Config) { c.PathSecret = "p4th" }, req{"/webhook/p4tH", nil}, 401},
		{"path: as a query", func(c *inbound.Config) { c.PathSecret = "p4th" }, req{"/webhook?p4th", nil}, 401},

		{"hmac 360dialog: right", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} }, req{"/webhook", good360}, 200},
		{"hmac 360dialog: with prefix", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} },
			req{"/webhook", map[string]string{inbound.Header360Signature: sign("new", body)}}, 200},
		{"hmac meta: right", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} },
			req{"/webhook", map[string]string{inbound.HeaderHubSignature: sign("new", body)}}, 200},
		{"hmac meta: without prefix", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} },
			req{"/webhook", map[string]string{inbound.HeaderHubSignature: strings.TrimPrefix(sign("new", body), "sha256=")}}, 401},
		{"hmac: missing", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} }, req{"/webhook", nil}, 401},
		{"hmac: wrong secret", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} },
			req{"/webhook", map[string]string{inbound.HeaderHubSignature: sign("other", body)}}, 401},
		{"hmac: of another body", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} },
			req{"/webhook", map[string]string{inbound.HeaderHubSignature: sign("new", body+" ")}}, 401},
		{"hmac: not hex", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} },
			req{"/webhook", map[string]string{inbound.HeaderHubSignature: "sha256=zz"}}, 401},
		{"hmac: truncated", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} },
			req{"/webhook", map[string]string{inbound.HeaderHubSignature: sign("new", body)[:40]}}, 401},
		{"hmac: previous secret while rotating", func(c *inbound.Config) { c.SignatureSecrets = []string{"new", "old"} },
			req{"/webhook", map[string]string{inbound.HeaderHubSignature: sign("old", body)}}, 200},
		{"hmac: one bad and one good header", func(c *inbound.Config) { c.SignatureSecrets = []string{"new"} },
			req{"/webhook", map[string]string{inbound.HeaderHubSignature: sign("bad", body), inbound.Header360Signature: sign("new", body)}}, 200},

		{"all three: all right", func(c *inbound.Config) { c.Token = "t0k"; c.PathSecret = "p4th"; c.SignatureSecrets = []string{"new"} },
			req{"/webhook/p4th", map[string]string{"X-Webhook-Token": "t0k", inbound.HeaderHubSignature: sign("new", body)}}, 200},
		{"all three: signature missing", func(c *inbound.Config) { c.Token = "t0k"; c.PathSecret = "p4th"; c.SignatureSecrets = []string{"new"} },
			req{"/webhook/p4th", map[string]string{"X-Webhook-Token": "t0k"}}, 401},
		{"all three: token missing", func(c *inbound.Config) { c.Token = "t0k"; c.PathSecret = "p4th"; c.SignatureSecrets = []string{"new"} },
			req{"/webhook/p4th", map[string]string{inbound.HeaderHubSignature: sign("new", body)}}, 401},
		{"all three: path missing", func(c *inbound.Config) { c.Token = "t0k"; c.PathSecret = "p4th"; c.SignatureSecrets = []string{"new"} },
			req{"/webhook", map[string]string{"X-Webhook-Token": "t0k", inbound.HeaderHubSignature: sign("new", body)}}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &recordingPublisher{}
			h := newUnitHandler(t, p, tc.config)
			mux := http.NewServeMux()
			h.Register(mux, "/webhook")
			rec := postTo(mux, tc.req.path, body, tc.req.header)
			if rec.Code != tc.wantCode {
				t.Fatalf("HTTP %d %s, want %d", rec.Code, strings.TrimSpace(rec.Body.String()), tc.wantCode)
			}
			if stored := len(p.all()); (tc.wantCode == 200) != (stored > 0) {
				t.Errorf("HTTP %d with %d records stored", rec.Code, stored)
			}
		})
	}
}

func TestHandlerConfigErrors(t *testing.T) {
	for name, configure := range map[string]func(*inbound.Config){
		"three signature secrets":      func(c *inbound.Config) { c.SignatureSecrets = []string{"a", "b", "c"} },
		"empty signature secret":       func(c *inbound.Config) { c.SignatureSecrets = []string{""} },
		"previous token alone":         func(c *inbound.Config) { c.PreviousToken = "old" },
		"path secret with a slash":     func(c *inbound.Config) { c.PathSecret = "a/b" },
		"events topic without encoder": func(c *inbound.Config) { delete(c.Encoders, schemas.WebhookEvent) },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := unitConfig(&recordingPublisher{})
			configure(&cfg)
			if _, err := inbound.New(cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestHandlerVerificationHandshake(t *testing.T) {
	get := func(h http.Handler, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}
	p := &recordingPublisher{}
	h := newUnitHandler(t, p, func(c *inbound.Config) { c.VerifyToken = "v3rify" })
	mux := http.NewServeMux()
	h.Register(mux, "/webhook")
	for _, tc := range []struct {
		query    string
		wantCode int
		wantBody string
	}{
		{"hub.mode=subscribe&hub.verify_token=v3rify&hub.challenge=1158201444", 200, "1158201444"},
		{"hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444", 403, ""},
		{"hub.mode=subscribe&hub.challenge=1158201444", 403, ""},
		{"hub.mode=unsubscribe&hub.verify_token=v3rify&hub.challenge=1", 403, ""},
		{"hub.mode=subscribe&hub.verify_token=v3rify", 400, ""},
		{"hub.mode=subscribe&hub.verify_token=v3rify&hub.challenge=%3Cscript%3E", 400, ""},
	} {
		rec := get(mux, "/webhook?"+tc.query)
		if rec.Code != tc.wantCode || (tc.wantBody != "" && rec.Body.String() != tc.wantBody) {
			t.Errorf("GET ?%s: HTTP %d %q, want %d %q", tc.query, rec.Code, rec.Body, tc.wantCode, tc.wantBody)
		}
	}
	// Without a verify token GET is not served.
	plain := newUnitHandler(t, p, nil)
	if rec := get(plain, "/webhook?hub.mode=subscribe&hub.verify_token=&hub.challenge=1"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET without a verify token: HTTP %d, want 405", rec.Code)
	}
	if len(p.all()) != 0 {
		t.Errorf("handshakes stored records")
	}
}

// recordingPublisher is a Publisher in memory, for tests of the HTTP side.
type recordingPublisher struct {
	mu      sync.Mutex
	msgs    []kafka.Message
	fail    bool
	block   chan struct{}
	entered chan struct{}
}

func (p *recordingPublisher) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("kafka: broker not available")
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *recordingPublisher) setFail(fail bool) {
	p.mu.Lock()
	p.fail = fail
	p.mu.Unlock()
}

func (p *recordingPublisher) all() []kafka.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]kafka.Message(nil), p.msgs...)
}

type plainEncoder struct{}

func (plainEncoder) Encode(native map[string]any) ([]byte, error) {
	return []byte(native["raw"].(string)), nil
}

func unitConfig(p inbound.Publisher) inbound.Config {
	return inbound.Config{
		Topics:         inbound.Topics{Messages: "messages", Statuses: "statuses", Events: "events", DeadLetter: "dlq"},
		Encoders:       map[schemas.Kind]inbound.Encoder{schemas.InboundMessage: plainEncoder{}, schemas.MessageStatus: plainEncoder{}, schemas.WebhookEvent: plainEncoder{}},
		Publisher:      p,
		PublishTimeout: time.Second,
	}
}

// newUnitHandler is a handler on an in-memory publisher.
func newUnitHandler(t *testing.T, p inbound.Publisher, configure func(*inbound.Config)) *inbound.Handler {
	t.Helper()
	cfg := unitConfig(p)
	if configure != nil {
		configure(&cfg)
	}
	h, err := inbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// deadlines notes the deadline of each call it sees; it is a Publisher and
// a WindowRecorder.
type deadlines struct{ seen []time.Time }

func (d *deadlines) note(ctx context.Context) error {
	dl, _ := ctx.Deadline()
	d.seen = append(d.seen, dl)
	return nil
}

func (d *deadlines) WriteMessages(ctx context.Context, _ ...kafka.Message) error { return d.note(ctx) }
func (d *deadlines) Inbound(ctx context.Context, _ window.Inbound) error         { return d.note(ctx) }
func (d *deadlines) Closed(ctx context.Context, _, _ string, _ time.Time) error  { return d.note(ctx) }
func (d *deadlines) ChangeConsent(ctx context.Context, _, _ string, _ window.Change) error {
	return d.note(ctx)
}

func TestHandlerWindowAndPublishShareOneDeadline(t *testing.T) {
	// PublishTimeout bounds the whole wait for Kafka: recording the windows
	// first must not give the publishing a PublishTimeout of its own.
	win, pub := &deadlines{}, &deadlines{}
	h := newUnitHandler(t, pub, func(c *inbound.Config) { c.Window = win })
	if rec := post(h, textWebhook, nil); rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
	}
	if len(win.seen) != 1 || len(pub.seen) != 1 || win.seen[0].IsZero() || !win.seen[0].Equal(pub.seen[0]) {
		t.Errorf("window deadlines %v, publish deadlines %v: want one, the same", win.seen, pub.seen)
	}
}

// With a DeadLetter encoder, dead letters are Avro DeadLetter records that
// keep the original bytes and the reason.
func TestHandlerWrapsDeadLettersInAvro(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := inbound.Topics{Messages: kafkatest.Topic(t, "m"), Statuses: kafkatest.Topic(t, "s"), Events: kafkatest.Topic(t, "e"), DeadLetter: kafkatest.Topic(t, "dlq")}
	kafkatest.CreateTopics(t, brokers, 1, topics.Messages, topics.Statuses, topics.Events, topics.DeadLetter)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	client, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	encoders := map[schemas.Kind]inbound.Encoder{}
	for kind, topic := range map[schemas.Kind]string{schemas.InboundMessage: topics.Messages, schemas.MessageStatus: topics.Statuses, schemas.WebhookEvent: topics.Events, schemas.DeadLetter: topics.DeadLetter} {
		enc, err := schemas.Resolve(context.Background(), client, topic, kind, true)
		if err != nil {
			t.Fatal(err)
		}
		encoders[kind] = enc
	}
	w := kafkatest.Writer(t, brokers)
	t.Cleanup(func() { w.Close() })
	h, err := inbound.New(inbound.Config{Topics: topics, Encoders: encoders, Publisher: w})
	if err != nil {
		t.Fatal(err)
	}
	if rec := post(h, `{broken`, nil); rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d, want 200", rec.Code)
	}
	dl := kafkatest.ReadN(t, brokers, topics.DeadLetter, 1, 30*time.Second)
	env, _, err := schemas.NewDecoder(client).Decode(context.Background(), dl[0].Value)
	if err != nil {
		t.Fatalf("dead letter is not a DeadLetter record: %v", err)
	}
	if string(env["original"].([]byte)) != `{broken` || env["source"] != "webhook" || !strings.Contains(env["reason"].(string), "invalid JSON") ||
		!strings.HasPrefix(env["event_id"].(string), "dlq:webhook:") {
		t.Errorf("dead letter %v", env)
	}
	if header(dl[0], inbound.HeaderDLQReason) == "" || header(dl[0], inbound.HeaderEventKind) != string(schemas.DeadLetter) {
		t.Errorf("dead letter headers %v", dl[0].Headers)
	}
}
