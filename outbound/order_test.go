package outbound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
)

// orderChecker wraps the stand-in API: it delays each call, tracks how many
// run at once, and checks every recipient's sequence numbers arrive in order.
type orderChecker struct {
	delay time.Duration

	inFlight, peak atomic.Int32
	mu             sync.Mutex
	last           map[string]int
	violations     []string
	calls          map[string]int // by command text
}

func newOrderChecker(delay time.Duration) *orderChecker {
	return &orderChecker{delay: delay, last: map[string]int{}, calls: map[string]int{}}
}

func (o *orderChecker) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := o.inFlight.Add(1)
		for {
			p := o.peak.Load()
			if n <= p || o.peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer o.inFlight.Add(-1)
		raw, _ := io.ReadAll(r.Body)
		var body struct {
			To   string `json:"to"`
			Text struct {
				Body string `json:"body"`
			} `json:"text"`
		}
		if json.Unmarshal(raw, &body) == nil && body.To != "" {
			var seq int
			fmt.Sscanf(body.Text.Body, "seq %d", &seq)
			o.mu.Lock()
			if prev, ok := o.last[body.To]; ok && seq != prev+1 {
				o.violations = append(o.violations, fmt.Sprintf("%s: %d after %d", body.To, seq, prev))
			}
			o.last[body.To] = seq
			o.calls[body.To+"/"+body.Text.Body]++
			o.mu.Unlock()
		}
		time.Sleep(o.delay)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		next.ServeHTTP(w, r)
	})
}

// Commands for one recipient go out strictly in order, while different
// recipients, even in one partition, are sent concurrently.
func TestWorkerKeepsPerRecipientOrderWithConcurrency(t *testing.T) {
	checker := newOrderChecker(5 * time.Millisecond)
	f := newFixtureWrapped(t, nil, checker.wrap)
	const recipients, each = 50, 8
	var msgs []kafka.Message
	for i := 0; i < each; i++ {
		for r := 0; r < recipients; r++ {
			to := fmt.Sprintf("4917000%05d", r)
			msgs = append(msgs, kafka.Message{
				Key:     []byte("same-partition"), // all in one partition: order must come from the worker
				Value:   []byte(fmt.Sprintf(`{"to":%q,"type":"text","text":{"body":"seq %d"}}`, to, i)),
				Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte(fmt.Sprintf("c-%d-%d", r, i))}},
			})
		}
	}
	kafkatest.Produce(t, f.brokers, f.commands, msgs...)
	f.startWith(t, func(c *outbound.Config) { c.MaxInFlight = 64 })
	res := f.readResults(t, recipients*each)
	for id, r := range res {
		if r["outcome"] != "accepted" {
			t.Errorf("%s: outcome %v", id, r["outcome"])
		}
	}
	checker.mu.Lock()
	defer checker.mu.Unlock()
	if len(checker.violations) > 0 {
		t.Errorf("%d order violations, e.g. %v", len(checker.violations), checker.violations[:min(5, len(checker.violations))])
	}
	for k, n := range checker.calls {
		if n != 1 {
			t.Errorf("%s sent %d times", k, n)
		}
	}
	if p := checker.peak.Load(); p < 2 {
		t.Errorf("at most %d API call ran at once; different recipients must run concurrently", p)
	}
}

// A recipient that hits the pair rate limit (131056) is paused alone; the
// others keep flowing, and the paused one is sent later, in order.
func TestWorkerPairRateLimitPausesOneRecipientOnly(t *testing.T) {
	var throttled atomic.Int32
	reply := func(r d360test.Request) *d360test.Reply {
		if strings.Contains(string(r.Body), "slowpoke") && throttled.Add(1) <= 2 {
			return &d360test.Reply{Status: 400, Body: `{"error":{"code":131056,"title":"(Business Account, Consumer Account) pair rate limit hit"}}`}
		}
		return nil
	}
	f := newFixture(t, reply)
	var msgs []kafka.Message
	msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(`{"to":"4917000000001","text":{"body":"slowpoke 1"}}`), Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte("slow-1")}}})
	msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(`{"to":"4917000000001","text":{"body":"slowpoke 2"}}`), Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte("slow-2")}}})
	for i := 0; i < 20; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(fmt.Sprintf(`{"to":"49170000001%02d","text":{"body":"fast"}}`, i)), Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte(fmt.Sprintf("fast-%d", i))}}})
	}
	kafkatest.Produce(t, f.brokers, f.commands, msgs...)
	f.startWith(t, func(c *outbound.Config) { c.PairBackoff = 300 * time.Millisecond; c.MaxAttempts = 5 })
	res := f.readResults(t, 22)
	for id, r := range res {
		if r["outcome"] != "accepted" {
			t.Errorf("%s: %v", id, r)
		}
	}
	if a := res["slow-1"]["attempts"]; a != int32(3) {
		t.Errorf("slow-1 attempts = %v, want 3 (two 131056, then accepted)", a)
	}
	// Order of the API calls: the fast recipients did not wait for the
	// paused one, and slow-2 came after slow-1.
	reqs := f.api.Requests()
	firstSlowOK, lastFast, slow2 := -1, -1, -1
	slowSeen := 0
	for i, r := range reqs {
		b := string(r.Body)
		switch {
		case strings.Contains(b, "slowpoke 1"):
			slowSeen++
			if slowSeen == 3 {
				firstSlowOK = i
			}
		case strings.Contains(b, "slowpoke 2"):
			slow2 = i
		case strings.Contains(b, "fast"):
			lastFast = i
		}
	}
	if !(lastFast < firstSlowOK && firstSlowOK < slow2) {
		t.Errorf("call order: last fast %d, accepted slowpoke 1 %d, slowpoke 2 %d; want fast ones first and slowpoke 2 last", lastFast, firstSlowOK, slow2)
	}
}

// A second member joining mid-stream takes partitions over; every command
// is still sent exactly once and has exactly one result.
func TestWorkerRebalanceMidStreamSendsEachOnce(t *testing.T) {
	checker := newOrderChecker(2 * time.Millisecond)
	f := newFixtureWrapped(t, nil, checker.wrap)
	const n = 600
	var msgs []kafka.Message
	for i := 0; i < n; i++ {
		to := fmt.Sprintf("4917000%05d", i%60)
		msgs = append(msgs, kafka.Message{
			Key:     []byte(to),
			Value:   []byte(fmt.Sprintf(`{"to":%q,"type":"text","text":{"body":"seq %d"}}`, to, i/60)),
			Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte(fmt.Sprintf("r-%d", i))}},
		})
	}
	kafkatest.Produce(t, f.brokers, f.commands, msgs...)
	f.startWith(t, func(c *outbound.Config) { c.MaxInFlight = 16 })
	// Let the first member get going, then add a second.
	kafkatest.ReadN(t, f.brokers, f.results, 50, 30*time.Second)
	f.startWith(t, func(c *outbound.Config) { c.MaxInFlight = 16 })
	res := f.readResults(t, n)
	if len(res) != n {
		t.Fatalf("%d distinct results, want %d", len(res), n)
	}
	// Nothing more may arrive: wait a moment and check no result doubled.
	time.Sleep(500 * time.Millisecond)
	all := kafkatest.ReadUpTo(t, f.brokers, f.results, n+1, 2*time.Second)
	if len(all) != n {
		t.Errorf("%d result records, want exactly %d", len(all), n)
	}
	checker.mu.Lock()
	defer checker.mu.Unlock()
	for k, c := range checker.calls {
		if c != 1 {
			t.Errorf("%s sent %d times", k, c)
		}
	}
	if len(checker.violations) > 0 {
		t.Errorf("order violations across the rebalance: %v", checker.violations[:min(5, len(checker.violations))])
	}
}

// A partition full of commands for one recipient whose call hangs must not
// hold back the recipients of the other partitions: the read-ahead is shared
// among the owned partitions. (Before it was, the hanging recipient's
// queued commands filled all of it and nothing else was read.)
func TestWorkerSharesReadAheadAmongPartitions(t *testing.T) {
	release := make(chan struct{})
	var hung atomic.Int32
	f := newFixtureWrapped(t, nil, hangCalls(`"to":"1555000000"`, release, &hung, nil))
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(p int32, to string, n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: f.commands, Partition: p, Key: []byte(to),
				Value: fmt.Appendf(nil, `{"to":%q,"type":"text","text":{"body":"%d"}}`, to, i)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, "1555000000", 60)
	f.startWith(t, func(c *outbound.Config) { c.MaxInFlight = 4; c.MaxBuffered = 30 })
	defer close(release) // before the worker's stop (a cleanup) waits for the call
	for i := 0; hung.Load() == 0; i++ {
		if i == 300 {
			t.Fatal("the hanging recipient's first command never reached the API")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Partition 0's commands are read and its recipient hangs; only now do
	// the other partitions get records.
	for i := range 10 {
		produce(1, fmt.Sprintf("155500010%d", i), 1)
		produce(2, fmt.Sprintf("155500020%d", i), 1)
	}
	res := f.readResults(t, 20)
	for id, r := range res {
		if r["outcome"] != "accepted" || union(r["to"]) == "1555000000" {
			t.Errorf("result %s: %v, want accepted results of the other recipients", id, r)
		}
	}
	if n := hung.Load(); n != 1 {
		t.Errorf("the hanging recipient got %d calls, want 1 (its next command waits for the first)", n)
	}
}

// hangCalls wraps the stand-in API: a call whose body contains hang is
// counted in hung and answered once release is closed (or its client gave
// up); seen, when set, sees every call's body first.
func hangCalls(hang string, release <-chan struct{}, hung *atomic.Int32, seen func(body []byte)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if seen != nil {
				seen(body)
			}
			if bytes.Contains(body, []byte(hang)) {
				hung.Add(1)
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
