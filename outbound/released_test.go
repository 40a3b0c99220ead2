package outbound_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
)

// A command next in line when its partition moves, whose ledger intent is
// written but which never reached the API, is sent by the next owner as any
// other command: the revocation released it. It is no unknown outcome, which
// (resend-unknown off here) would fail it unsent. The commands whose calls
// the stop cut short stay unknown outcomes.
func TestRevocationReleasesCommandsNeverSent(t *testing.T) {
	release := make(chan struct{})
	var hung atomic.Int32
	var mu sync.Mutex
	sent := map[string]int{}
	f := newFixtureWrapped(t, nil, hangCalls(`"body":"first"`, release, &hung, func(body []byte) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range []string{"first", "second"} {
			if bytes.Contains(body, []byte(`"body":"`+s+`"`)) {
				sent[s]++
			}
		}
	}))
	// Eight recipients (a full intent wave) on one partition, two commands
	// each: the first ones hang at the API, the second ones wait behind
	// them, next in line, their wave written at once.
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const recipients = 8
	var recs []*kgo.Record
	for _, body := range []string{"first", "second"} {
		for i := range recipients {
			to := fmt.Sprintf("4917000%05d", i)
			recs = append(recs, &kgo.Record{Topic: f.commands, Partition: 0, Key: []byte(to),
				Headers: []kgo.RecordHeader{{Key: outbound.HeaderCommandID, Value: fmt.Appendf(nil, "%s-%d", body, i)}},
				Value:   fmt.Appendf(nil, `{"to":%q,"type":"text","text":{"body":%q}}`, to, body)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	stop := f.startWith(t, func(c *outbound.Config) {
		c.MaxInFlight, c.MaxBuffered, c.ShutdownGrace = recipients, 16*recipients, 500*time.Millisecond
	})
	for i := 0; hung.Load() < recipients; i++ {
		if i == 300 {
			t.Fatalf("%d of %d first commands reached the API", hung.Load(), recipients)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The second commands' intents are on the ledger (in the first
	// commands' wave or one of their own).
	for i := 0; ; i++ {
		var named int
		for _, m := range kafkatest.ReadUpTo(t, f.brokers, f.ledger, 4*recipients, time.Second) {
			named += bytes.Count(m.Value, []byte(`"second-`))
		}
		if named == recipients {
			break
		}
		if i == 30 {
			t.Fatalf("the ledger names %d of the %d second commands", named, recipients)
		}
	}
	// Stopped while the first commands hang: their calls are cut after
	// the grace (unknown outcomes), and the second ones are abandoned
	// before any call.
	stop()
	close(release)
	mu.Lock()
	early := sent["second"]
	mu.Unlock()
	if early != 0 {
		t.Fatalf("the first worker sent %d second commands while stopping; the test needs them unsent", early)
	}

	f.startWith(t, func(c *outbound.Config) { c.MaxInFlight, c.MaxBuffered = recipients, 16*recipients })
	res := f.readResults(t, 2*recipients)
	for i := range recipients {
		id := fmt.Sprintf("second-%d", i)
		if got := res[id]["outcome"]; got != "accepted" {
			t.Errorf("%s: outcome %v (%v), want accepted: it was never sent before", id, got, res[id]["error"])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if sent["second"] != recipients {
		t.Errorf("sent %d second commands, want %d", sent["second"], recipients)
	}
}
