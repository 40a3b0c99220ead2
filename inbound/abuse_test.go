package inbound_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/inbound"
)

// With signature-only authentication, senders that declare a 4 MiB body
// and send a byte of it hold no MaxInFlight slot: a real signed webhook
// is still answered 200.
func TestHandlerUnfinishedBodiesHoldNoSlot(t *testing.T) {
	p := &recordingPublisher{}
	h := newUnitHandler(t, p, func(c *inbound.Config) { c.MaxInFlight = 2; c.SignatureSecrets = []string{"k"} })
	var wg sync.WaitGroup
	var pipes []*io.PipeWriter
	for range 2 {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		req := httptest.NewRequest(http.MethodPost, "/webhook", pr)
		req.ContentLength = 4 << 20
		req.Header.Set(inbound.HeaderHubSignature, sign("k", "a body never sent"))
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), req) })
		if _, err := pw.Write([]byte("{")); err != nil { // returns once the handler reads the body
			t.Fatal(err)
		}
	}
	body := textWebhookN(1)
	if rec := post(h, body, map[string]string{inbound.HeaderHubSignature: sign("k", body)}); rec.Code != http.StatusOK {
		t.Errorf("signed webhook while two bodies are being read: HTTP %d, want 200", rec.Code)
	}
	// Without a well-formed signature header no body is read at all.
	if rec := post(h, body, nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("unsigned webhook: HTTP %d, want 401", rec.Code)
	}
	for _, pw := range pipes {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	wg.Wait()
}

// The body buffer grows with what arrives, not with what Content-Length
// announces.
func TestHandlerBufferFollowsTheBytes(t *testing.T) {
	h := newUnitHandler(t, &recordingPublisher{}, func(c *inbound.Config) { c.Token = "tok" })
	// TotalAlloc counts every goroutine's allocations: the least of a few
	// tries is the request's own (plus whatever else ran meanwhile).
	least := uint64(math.MaxUint64)
	for range 5 {
		req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(`{"entry":[]}`))
		req.ContentLength = 4 << 20
		req.Header.Set("X-Webhook-Token", "tok")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h.ServeHTTP(httptest.NewRecorder(), req)
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	if least > 1<<20 {
		t.Errorf("a 12-byte body declared as 4 MiB allocated %d bytes", least)
	}
}

// A body of nothing but empty entries, up to the size limit, is one dead
// letter (in chunks), not one record per entry; a body with MaxDeadItems
// bad items and a good one is the good one's record and one dead letter
// naming every bad item.
func TestHandlerBoundsDeadLettersPerBody(t *testing.T) {
	n := (4<<20 - 20) / 3
	empty := `{"entry":[` + strings.Repeat(`{},`, n-1) + `{}]}`
	p := &recordingPublisher{}
	h := newUnitHandler(t, p, func(c *inbound.Config) { c.Token = "tok" })
	auth := map[string]string{"X-Webhook-Token": "tok"}
	if rec := post(h, empty, auth); rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d, want 200", rec.Code)
	}
	got := p.all()
	if len(got) == 0 || len(got) > 16 {
		t.Fatalf("%d dead-letter records for one body of %d empty entries, want its chunks", len(got), n)
	}
	for _, m := range got {
		if r := header(m, inbound.HeaderDLQReason); !strings.Contains(r, inbound.ErrTooManyBadItems.Error()) {
			t.Fatalf("reason %q, want %q", r, inbound.ErrTooManyBadItems)
		}
	}

	p = &recordingPublisher{}
	h = newUnitHandler(t, p, func(c *inbound.Config) { c.Token = "tok" })
	few := strings.TrimSuffix(textWebhook, "\n")
	few = few[:strings.Index(few, `"entry":[`)+len(`"entry":[`)] + strings.Repeat(`{},`, inbound.MaxDeadItems) + few[strings.Index(few, `"entry":[`)+len(`"entry":[`):]
	if rec := post(h, few, auth); rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d, want 200", rec.Code)
	}
	got = p.all()
	if len(got) != 2 {
		t.Fatalf("%d records for %d bad entries and one message, want 2 (the message and one dead letter)", len(got), inbound.MaxDeadItems)
	}
	if r := header(got[1], inbound.HeaderDLQReason); !strings.Contains(r, fmt.Sprintf("and %d more parts", inbound.MaxDeadItems-1)) {
		t.Fatalf("reason %q, want the first bad entry and %d more", r, inbound.MaxDeadItems-1)
	}
}

// brokerLimit is a Publisher that refuses, like a broker whose messages
// topic has a small max.message.bytes, every write holding a record of that
// topic larger than limit: the whole call fails with MESSAGE_TOO_LARGE for
// each record (one batch).
type brokerLimit struct {
	recordingPublisher
	limit int
}

func (b *brokerLimit) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	for _, m := range msgs {
		if m.Topic == "messages" && len(m.Value) > b.limit {
			werr := make(kafka.WriteErrors, len(msgs))
			for i := range werr {
				werr[i] = kafka.MessageSizeTooLarge
			}
			return werr
		}
	}
	return b.recordingPublisher.WriteMessages(ctx, msgs...)
}

// A record the broker refuses as too large (a topic's max.message.bytes
// below the writer's limit) would be refused on every retry of the webhook:
// its item is dead-lettered and the others are published, answer 200.
func TestHandlerDeadLettersRecordsTheBrokerRefusesAsTooLarge(t *testing.T) {
	p := &brokerLimit{limit: 2000}
	h := newUnitHandler(t, p, func(c *inbound.Config) { c.Token = "tok" })
	big := strings.Replace(textWebhook, `"body":"hello"`, `"body":"`+strings.Repeat("x", 3000)+`"`, 1)
	two := strings.Replace(big, `"messages":[`, `"messages":[{"from":"15550001111","id":"wamid.SMALL","timestamp":"1760000000","type":"text","text":{"body":"hi"}},`, 1)
	if rec := post(h, two, map[string]string{"X-Webhook-Token": "tok"}); rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d, want 200", rec.Code)
	}
	var small, dead int
	for _, m := range p.all() {
		switch {
		case m.Topic == "messages" && strings.Contains(string(m.Value), "wamid.SMALL"):
			small++
		case m.Topic == "dlq" && strings.Contains(header(m, inbound.HeaderDLQReason), "refused by Kafka as too large"):
			dead++
		default:
			t.Errorf("unexpected record on %s: %.80s", m.Topic, m.Value)
		}
	}
	if small != 1 || dead != 1 {
		t.Fatalf("%d small records and %d dead letters, want 1 and 1", small, dead)
	}
}
