package outbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
	"github.com/wabridge/wabridge/schemas"
)

type fixture struct {
	brokers                []string
	commands, results, dlq string
	ledger                 string
	group                  string
	api                    *d360test.Server
	apiURL                 string
	registry               *sr.Client
	encoder                *schemas.Encoder
	dlqEncoder             *schemas.Encoder
	decoder                *schemas.Decoder
}

func newFixture(t *testing.T, reply func(d360test.Request) *d360test.Reply) *fixture {
	return newFixtureWrapped(t, reply, nil)
}

// newFixtureWrapped serves the stand-in API through wrap (nil: directly).
func newFixtureWrapped(t *testing.T, reply func(d360test.Request) *d360test.Reply, wrap func(http.Handler) http.Handler) *fixture {
	t.Helper()
	return newFixtureOn(t, kafkatest.Brokers(t), reply, wrap)
}

// newFixtureOn is newFixtureWrapped on brokers.
func newFixtureOn(t *testing.T, brokers []string, reply func(d360test.Request) *d360test.Reply, wrap func(http.Handler) http.Handler) *fixture {
	t.Helper()
	f := &fixture{brokers: brokers}
	f.commands = kafkatest.Topic(t, "commands")
	f.results = kafkatest.Topic(t, "results")
	f.dlq = kafkatest.Topic(t, "dlq")
	f.ledger = kafkatest.Topic(t, "ledger")
	f.group = kafkatest.Topic(t, "group")
	kafkatest.CreateTopics(t, f.brokers, 3, f.commands, f.results, f.dlq)

	reg := srfake.New()
	t.Cleanup(reg.Close)
	var err error
	f.registry, err = sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	f.encoder, err = schemas.Resolve(context.Background(), f.registry, f.results, schemas.SendResult, true)
	if err != nil {
		t.Fatal(err)
	}
	f.decoder = schemas.NewDecoder(f.registry)
	f.dlqEncoder, err = schemas.Resolve(context.Background(), f.registry, f.dlq, schemas.DeadLetter, true)
	if err != nil {
		t.Fatal(err)
	}

	f.api = d360test.New(d360test.Config{APIKey: "test-key", Reply: reply})
	var h http.Handler = f.api
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); f.api.Close() })
	f.apiURL = srv.URL
	return f
}

// start runs a worker until the test ends (or stop is called).
func (f *fixture) start(t *testing.T) (stop func()) {
	t.Helper()
	return f.startWith(t, nil)
}

// startWith runs a worker whose config edit may change.
func (f *fixture) startWith(t *testing.T, edit func(*outbound.Config)) (stop func()) {
	t.Helper()
	client, err := d360.New(d360.Config{BaseURL: f.apiURL, APIKey: "test-key"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := outbound.Config{
		Brokers: f.brokers, GroupID: f.group,
		CommandTopic: f.commands, ResultTopic: f.results, DeadLetterTopic: f.dlq, LedgerTopic: f.ledger,
		Sender: client, ResultEncoder: f.encoder, DeadLetterEncoder: f.dlqEncoder, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MaxAttempts: 3, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		ShutdownGrace: 5 * time.Second, PairBackoff: 50 * time.Millisecond, Rate: -1,
	}
	if edit != nil {
		edit(&cfg)
	}
	w, err := outbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once atomic.Bool
	stop = func() {
		if once.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("worker did not stop within 30s of cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func (f *fixture) readResults(t *testing.T, n int) map[string]map[string]any {
	t.Helper()
	msgs := kafkatest.ReadN(t, f.brokers, f.results, n, 30*time.Second)
	out := map[string]map[string]any{}
	for _, m := range msgs {
		native, _, err := f.decoder.Decode(context.Background(), m.Value)
		if err != nil {
			t.Fatalf("decoding result at offset %d: %v", m.Offset, err)
		}
		id := native["command_id"].(string)
		if _, dup := out[id]; dup {
			t.Errorf("two results for command %s", id)
		}
		out[id] = native
	}
	return out
}

func cmd(id, body string) kafka.Message {
	m := kafka.Message{Value: []byte(body)}
	if id != "" {
		m.Headers = []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte(id)}}
	}
	return m
}

func union(v any) any {
	if m, ok := v.(map[string]any); ok {
		for _, x := range m {
			return x
		}
	}
	return v
}

func TestWorkerSendsAndWritesOneResultPerCommand(t *testing.T) {
	f := newFixture(t, nil)
	kafkatest.Produce(t, f.brokers, f.commands,
		cmd("c-text", `{"to":"+49 170 1234567","type":"text","text":{"body":"hi"},"x_future_field":{"a":1}}`),
		cmd("c-bad", `not json`),
		cmd("c-own-cb", `{"messaging_product":"whatsapp","to":"15550001111","type":"text","text":{"body":"yo"},"biz_opaque_callback_data":"mine"}`),
		cmd("c-read", `{"status":"read","message_id":"wamid.IN1"}`),
	)
	f.start(t)
	res := f.readResults(t, 4)

	if got := res["c-text"]["outcome"]; got != "accepted" {
		t.Fatalf("c-text outcome = %v, want accepted (result %v)", got, res["c-text"])
	}
	if id := union(res["c-text"]["message_id"]).(string); !strings.HasPrefix(id, "wamid.") {
		t.Errorf("c-text message_id = %q, want a wamid", id)
	}
	if got := union(res["c-text"]["wa_id"]); got != "491701234567" {
		t.Errorf("c-text wa_id = %v, want 491701234567", got)
	}
	if got := res["c-bad"]["outcome"]; got != "rejected" {
		t.Errorf("c-bad outcome = %v, want rejected", got)
	}
	if got := res["c-own-cb"]["outcome"]; got != "accepted" {
		t.Errorf("c-own-cb outcome = %v, want accepted", got)
	}
	if got := res["c-read"]["outcome"]; got != "accepted" {
		t.Errorf("c-read outcome = %v, want accepted", got)
	}

	reqs := f.api.Requests()
	if len(reqs) != 3 {
		t.Fatalf("API got %d requests, want 3 (the invalid command must not reach it)", len(reqs))
	}
	bodies := map[string]map[string]any{}
	for _, r := range reqs {
		if r.APIKey != "test-key" {
			t.Errorf("D360-API-KEY = %q, want test-key", r.APIKey)
		}
		var b map[string]any
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatalf("API body not JSON: %v", err)
		}
		key, _ := b["to"].(string)
		if key == "" {
			key = "read"
		}
		bodies[key] = b
	}
	text := bodies["+49 170 1234567"]
	if text["messaging_product"] != "whatsapp" || text["biz_opaque_callback_data"] != "c-text" {
		t.Errorf("text body = %v, want messaging_product filled and biz_opaque_callback_data = command id", text)
	}
	if _, ok := text["x_future_field"]; !ok {
		t.Errorf("unknown field was not passed through: %v", text)
	}
	if got := bodies["15550001111"]["biz_opaque_callback_data"]; got != "mine" {
		t.Errorf("own biz_opaque_callback_data = %v, want mine", got)
	}
	if _, ok := bodies["read"]["biz_opaque_callback_data"]; ok {
		t.Errorf("mark-as-read body got biz_opaque_callback_data: %v", bodies["read"])
	}

	dl := kafkatest.ReadN(t, f.brokers, f.dlq, 1, 30*time.Second)
	env, _, err := f.decoder.Decode(context.Background(), dl[0].Value)
	if err != nil {
		t.Fatalf("dead letter is not a DeadLetter record: %v", err)
	}
	if string(env["original"].([]byte)) != "not json" || env["source"] != "command" || union(env["command_id"]) != "c-bad" ||
		!strings.Contains(env["reason"].(string), "not a JSON object") || union(env["source_topic"]) != f.commands {
		t.Errorf("dead letter %v, want the original bytes, the reason and the command id", env)
	}
	if hs, _ := env["headers"].([]any); len(hs) != 1 || hs[0].(map[string]any)["key"] != outbound.HeaderCommandID {
		t.Errorf("dead letter headers %v, want the original command-id header", env["headers"])
	}
	var reason, origID string
	for _, h := range dl[0].Headers {
		switch h.Key {
		case "dlq-reason":
			reason = string(h.Value)
		case outbound.HeaderCommandID:
			origID = string(h.Value)
		}
	}
	if !strings.Contains(reason, "not a JSON object") || origID != "c-bad" {
		t.Errorf("dead letter headers: reason %q, command-id %q", reason, origID)
	}
}

func TestWorkerCommitsOnlyFinishedCommands(t *testing.T) {
	f := newFixture(t, nil)
	kafkatest.Produce(t, f.brokers, f.commands,
		cmd("a", `{"to":"1555000001","text":{"body":"1"}}`),
		cmd("b", `{"to":"1555000002","text":{"body":"2"}}`),
	)
	stop := f.start(t)
	f.readResults(t, 2)
	stop()
	if n := len(f.api.Requests()); n != 2 {
		t.Fatalf("API got %d requests, want 2", n)
	}
	// A new worker in the same group resumes after the committed offsets:
	// it sends only the new command.
	kafkatest.Produce(t, f.brokers, f.commands, cmd("c", `{"to":"1555000003","text":{"body":"3"}}`))
	f.start(t)
	f.readResults(t, 3)
	if n := len(f.api.Requests()); n != 3 {
		t.Fatalf("API got %d requests after restart, want 3 (finished commands must not be sent again)", n)
	}
}

func TestWorkerRetriesTransientAndFailsPermanent(t *testing.T) {
	var calls atomic.Int32
	reply := func(r d360test.Request) *d360test.Reply {
		body := string(r.Body)
		switch {
		case strings.Contains(body, "flaky") && calls.Add(1) == 1:
			return &d360test.Reply{Status: 500, Body: `{"error":{"code":131000,"title":"Something went wrong"}}`}
		case strings.Contains(body, "gone"):
			return &d360test.Reply{Status: 400, Body: `{"error":{"code":131026,"title":"Message undeliverable","error_data":{"details":"not on WhatsApp"}}}`}
		case strings.Contains(body, "down"):
			return &d360test.Reply{Status: 503, Body: `oops`}
		}
		return nil
	}
	f := newFixture(t, reply)
	kafkatest.Produce(t, f.brokers, f.commands,
		cmd("flaky", `{"to":"1555000001","text":{"body":"flaky"}}`),
		cmd("gone", `{"to":"1555000002","text":{"body":"gone"}}`),
		cmd("down", `{"to":"1555000003","text":{"body":"down"}}`),
	)
	f.start(t)
	res := f.readResults(t, 3)

	if r := res["flaky"]; r["outcome"] != "accepted" || r["attempts"] != int32(2) {
		t.Errorf("flaky: outcome %v attempts %v, want accepted after 2", r["outcome"], r["attempts"])
	}
	gone := res["gone"]
	if gone["outcome"] != "failed" || gone["attempts"] != int32(1) {
		t.Errorf("gone: outcome %v attempts %v, want failed after 1 (131026 is permanent)", gone["outcome"], gone["attempts"])
	}
	e := union(gone["error"]).(map[string]any)
	if union(e["code"]) != int32(131026) || union(e["details"]) != "not on WhatsApp" || e["reason"] != "api_error" {
		t.Errorf("gone error = %v", e)
	}
	down := res["down"]
	if down["outcome"] != "failed" || down["attempts"] != int32(3) || union(down["error"]).(map[string]any)["reason"] != "retries_exhausted" {
		t.Errorf("down: %v, want failed after 3 attempts with retries_exhausted", down)
	}
	if n := len(kafkatest.ReadN(t, f.brokers, f.dlq, 2, 30*time.Second)); n != 2 {
		t.Errorf("dead letters = %d, want 2", n)
	}
}

func TestWorkerRejectsExpiredCommand(t *testing.T) {
	f := newFixture(t, nil)
	m := cmd("old", `{"to":"1555000001","text":{"body":"code 1234"}}`)
	m.Headers = append(m.Headers, kafka.Header{Key: outbound.HeaderExpiresAt, Value: []byte(time.Now().Add(-time.Minute).Format(time.RFC3339))})
	kafkatest.Produce(t, f.brokers, f.commands, m)
	f.start(t)
	res := f.readResults(t, 1)
	if res["old"]["outcome"] != "rejected" || union(res["old"]["error"]).(map[string]any)["reason"] != "expired" {
		t.Errorf("expired command result = %v, want rejected/expired", res["old"])
	}
	if n := len(f.api.Requests()); n != 0 {
		t.Errorf("API got %d requests for an expired command, want 0", n)
	}
}

// timeoutClient is an API client whose calls time out after d.
func timeoutClient(t *testing.T, url string, d time.Duration) *d360.Client {
	t.Helper()
	c, err := d360.New(d360.Config{BaseURL: url, APIKey: "test-key", Timeout: d})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Two deployments with different command topics may share a ledger topic
// (its default name) and use the same command ids: one's ledger entries must
// not keep the other's command from being sent.
func TestWorkerLedgerSharedByTwoCommandTopics(t *testing.T) {
	f := newFixture(t, nil)
	other := kafkatest.Topic(t, "other-commands")
	kafkatest.CreateTopics(t, f.brokers, 3, other)
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(topic, to string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rec := &kgo.Record{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, `{"to":%q,"type":"text","text":{"body":"hi"}}`, to),
			Headers: []kgo.RecordHeader{{Key: outbound.HeaderCommandID, Value: []byte("order-1")}}}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(f.commands, "15550001001")
	stop := f.start(t)
	f.readResults(t, 1)
	stop()
	// The other deployment: its own command topic and group, the same
	// ledger, the same command id at the same partition and offset.
	produce(other, "15550001002")
	f.startWith(t, func(c *outbound.Config) { c.CommandTopic = other; c.GroupID = f.group + "-other" })
	kafkatest.ReadN(t, f.brokers, f.results, 2, 30*time.Second)
	if n := len(f.api.Requests()); n != 2 {
		t.Errorf("API got %d sends, want 2: the other topic's command was taken for already sent", n)
	}
}

// A redelivered command the ledger has as accepted (and not done) gets its
// stored result written again, and is not sent to the API again.
func TestWorkerReplaysAcceptedCommandFromLedger(t *testing.T) {
	f := newFixture(t, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(rec *kgo.Record) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(&kgo.Record{Topic: f.commands, Partition: 0, Value: []byte(`{"to":"15550001003","type":"text","text":{"body":"hi"}}`),
		Headers: []kgo.RecordHeader{{Key: outbound.HeaderCommandID, Value: []byte("replay-1")}}})
	stop := f.start(t)
	first := kafkatest.ReadN(t, f.brokers, f.results, 1, 30*time.Second)[0]
	stop()

	// A second group, with a ledger that has the command as accepted only.
	ledger := kafkatest.Topic(t, "ledger-accepted")
	kafkatest.CreateTopics(t, f.brokers, 3, ledger)
	entry, err := json.Marshal(map[string]any{
		"state": "accepted", "command_id": "replay-1", "partition": 0, "offset": 0,
		"result": first.Value, "result_key": first.Key, "at": time.Now().UTC(), "command_topic": f.commands,
	})
	if err != nil {
		t.Fatal(err)
	}
	produce(&kgo.Record{Topic: ledger, Partition: 0, Key: []byte("replay-1"), Value: entry})
	f.startWith(t, func(c *outbound.Config) { c.GroupID = f.group + "-replay"; c.LedgerTopic = ledger })
	msgs := kafkatest.ReadN(t, f.brokers, f.results, 2, 30*time.Second)
	if got := msgs[1]; string(got.Value) != string(first.Value) || string(got.Key) != string(first.Key) {
		t.Errorf("replayed result: key %q value %x, want the stored key %q value %x", got.Key, got.Value, first.Key, first.Value)
	}
	if n := len(f.api.Requests()); n != 1 {
		t.Errorf("API got %d sends, want 1: the accepted command was sent again", n)
	}
}

// logSignal closes seen at the first record whose message is msg.
type logSignal struct {
	slog.Handler
	msg  string
	once sync.Once
	seen chan struct{}
}

func (h *logSignal) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return h.Handler.Handle(ctx, r)
}

// A result the producer gives up on (here: its topic does not exist yet) is
// written again while the partition is owned, not left unfinished, where
// nobody would read the command again and its offset would hold up the
// partition's commits.
func TestWorkerRetriesFailedResultWrite(t *testing.T) {
	f := newFixture(t, nil)
	results := kafkatest.Topic(t, "results-later")
	h := &logSignal{Handler: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}), msg: "writing result failed; retrying", seen: make(chan struct{})}
	kafkatest.Produce(t, f.brokers, f.commands, cmd("late-1", `{"to":"15550001004","type":"text","text":{"body":"hi"}}`))
	f.startWith(t, func(c *outbound.Config) {
		c.ResultTopic = results
		c.Logger = slog.New(h)
		c.BackoffMin, c.BackoffMax = 100*time.Millisecond, 200*time.Millisecond
	})
	select {
	case <-h.seen:
	case <-time.After(60 * time.Second):
		t.Skip("the broker took the result although its topic did not exist (topic auto-creation)")
	}
	kafkatest.CreateTopics(t, f.brokers, 3, results)
	m := kafkatest.ReadN(t, f.brokers, results, 1, 30*time.Second)[0]
	native, _, err := f.decoder.Decode(context.Background(), m.Value)
	if err != nil {
		t.Fatal(err)
	}
	if native["command_id"] != "late-1" || native["outcome"] != "accepted" {
		t.Errorf("result of %v with outcome %v, want late-1 accepted", native["command_id"], native["outcome"])
	}
	if n := len(f.api.Requests()); n != 1 {
		t.Errorf("API got %d sends, want 1", n)
	}
}

// Commands finished beyond the committed offset (an earlier command of the
// partition still running when the worker stopped) are listed in the
// commit: the next owner skips them instead of sending them again.
func TestWorkerSkipsCommandsTheCommitListsAsFinished(t *testing.T) {
	f := newFixture(t, func(r d360test.Request) *d360test.Reply {
		if strings.Contains(string(r.Body), "slow") {
			return &d360test.Reply{Status: 200, Body: `{"messages":[{"id":"wamid.S"}]}`, Delay: 5 * time.Second}
		}
		return nil
	})
	k := []byte("one partition")
	kafkatest.Produce(t, f.brokers, f.commands,
		kafka.Message{Key: k, Value: []byte(`{"to":"15550001001","text":{"body":"slow"}}`), Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte("slow")}}},
		kafka.Message{Key: k, Value: []byte(`{"to":"15550001002","text":{"body":"fast"}}`), Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte("fast-1")}}},
		kafka.Message{Key: k, Value: []byte(`not json`), Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte("bad-1")}}},
	)
	stop := f.startWith(t, func(c *outbound.Config) { c.ShutdownGrace = 200 * time.Millisecond })
	res := f.readResults(t, 2)
	if res["fast-1"]["outcome"] != "accepted" || res["bad-1"]["outcome"] != "rejected" {
		t.Fatalf("fast-1 %v, bad-1 %v: want accepted and rejected", res["fast-1"]["outcome"], res["bad-1"]["outcome"])
	}
	stop() // slow is still at the API: abandoned, the commit stays before it

	h := &logSignal{Handler: slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}), msg: "command finished before its partition moved (the last commit lists it); skipped", seen: make(chan struct{})}
	f.startWith(t, func(c *outbound.Config) { c.Logger = slog.New(h) })
	select {
	case <-h.seen:
	case <-time.After(30 * time.Second):
		t.Fatal("no command was skipped as finished")
	}
	f.readResults(t, 3) // slow's own result (unknown outcome), and no second one of the others
	fast := 0
	for _, r := range f.api.Requests() {
		if strings.Contains(string(r.Body), `"fast"`) {
			fast++
		}
	}
	if fast != 1 {
		t.Errorf("fast-1 reached the API %d times, want 1", fast)
	}
}

// pickyEncoder fails to encode a result that carries a message id.
type pickyEncoder struct{ outbound.Encoder }

func (p pickyEncoder) Encode(native map[string]any) ([]byte, error) {
	if native["message_id"] != nil {
		return nil, fmt.Errorf("message_id: not encodable")
	}
	return p.Encoder.Encode(native)
}

// A result that cannot be encoded does not turn a command the API accepted
// into a failure: its result is written without the fields that would not
// encode, still accepted, and the full outcome goes to the dead-letter topic.
func TestWorkerKeepsTheOutcomeWhenItsResultCannotBeEncoded(t *testing.T) {
	f := newFixture(t, nil)
	kafkatest.Produce(t, f.brokers, f.commands, cmd("enc-1", `{"to":"15550001005","type":"text","text":{"body":"hi"}}`))
	f.startWith(t, func(c *outbound.Config) { c.ResultEncoder = pickyEncoder{f.encoder} })
	res := f.readResults(t, 1)
	if got := res["enc-1"]["outcome"]; got != "accepted" {
		t.Errorf("outcome %v (%v), want accepted", got, res["enc-1"]["error"])
	}
	dl := kafkatest.ReadN(t, f.brokers, f.dlq, 1, 30*time.Second)[0]
	if reason := headerValue(dl, "dlq-reason"); !strings.HasPrefix(reason, "result_encoding: accepted by the API") {
		t.Errorf("dead letter reason %q, want result_encoding: accepted by the API ...", reason)
	}
}

func headerValue(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
