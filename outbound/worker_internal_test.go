package outbound

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/schemas"
)

// testConfig is the least Config New takes.
func testConfig() Config {
	return Config{Brokers: []string{"127.0.0.1:1"}, GroupID: "g", CommandTopic: "c", ResultTopic: "r", DeadLetterTopic: "d", LedgerTopic: "l",
		Sender: &d360.Client{}, ResultEncoder: &schemas.Encoder{}}
}

// An explicit read-ahead is kept, even below MaxInFlight (a lean setup);
// only 0 takes the default.
func TestNewKeepsAnExplicitMaxBuffered(t *testing.T) {
	for _, tc := range []struct{ set, want int }{{0, 1024}, {100, 100}, {2000, 2000}} {
		cfg := testConfig()
		cfg.MaxInFlight, cfg.MaxBuffered = 256, tc.set
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if w.cfg.MaxBuffered != tc.want {
			t.Errorf("MaxBuffered %d with MaxInFlight 256: got %d, want %d", tc.set, w.cfg.MaxBuffered, tc.want)
		}
	}
}

// Revoking several partitions whose commands do not finish waits one
// RevokeGrace in all, not one per partition: the rebalance waits for it.
func TestRevokeGivesAllPartitionsOneGrace(t *testing.T) {
	cfg := testConfig()
	cfg.RevokeGrace = 200 * time.Millisecond
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.in = newIntake(10, 10, func(int32) {}, func(int32) {})
	w.queue = newKeyQueue(func(*job) {}, 1)
	parts := []int32{0, 1, 2}
	for _, p := range parts {
		ctx, cancel := context.WithCancel(context.Background())
		wg := &sync.WaitGroup{}
		wg.Add(1)
		go func() { <-ctx.Done(); wg.Done() }() // a command that runs until its partition is cancelled
		w.cancels[p], w.running[p] = cancel, wg
	}
	start := time.Now()
	w.revoked(context.Background(), nil, map[string][]int32{cfg.CommandTopic: parts})
	if d := time.Since(start); d > 2*cfg.RevokeGrace {
		t.Errorf("revoking %d partitions took %s, want about one grace of %s", len(parts), d, cfg.RevokeGrace)
	}
}

// A result record takes four allocations: its event id, its encoded value,
// the record with its headers, and the bytes of its key and command id.
func TestResultAllocations(t *testing.T) {
	cfg := testConfig()
	cfg.ResultEncoder = &schemas.Encoder{Kind: schemas.SendResult, ID: 7}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	j := job{rec: &kgo.Record{Topic: "c", Partition: 2, Offset: 40, Key: []byte("k")}, cmd: Command{ID: "order-40", To: "+49 151 1234 5678"}}
	out := outcome{status: "accepted", resp: d360.Response{WAID: "4915112345678", MessageID: "wamid.1"}, attempts: 1}
	r, err := w.result(j, out, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "4915112345678" || r.Topic != "r" || len(r.Headers) != 3 || header(r, HeaderCommandID) != "order-40" {
		t.Errorf("result record: key %q, topic %q, headers %v", r.Key, r.Topic, r.Headers)
	}
	if n := testing.AllocsPerRun(100, func() { w.result(j, out, time.Millisecond) }); n > 4 {
		t.Errorf("%v allocations per result, want at most 4", n)
	}
}
