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

	"github.com/wabridge/wabridge/internal/d360"
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
	f := newFixtureWrapped(t, nil, hangCalls(`"body":"first `, release, &hung, func(body []byte) {
		mu.Lock()
		defer mu.Unlock()
		if i := bytes.Index(body, []byte(`"body":"`)); i >= 0 {
			sent[string(body[i:])]++
		}
	}))
	// Sixteen recipients on one partition, two commands each, eight run
	// tokens: the first commands of eight recipients hang at the API; the
	// other first commands wait for a token and every second command
	// waits behind its recipient's first. All of those are next in line:
	// their intents fill waves that are written before any of them is sent.
	const recipients, tokens = 16, 8
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, body := range []string{"first", "second"} {
		for i := range recipients {
			to := fmt.Sprintf("4917000%05d", i)
			recs = append(recs, &kgo.Record{Topic: f.commands, Partition: 0, Key: []byte(to),
				Headers: []kgo.RecordHeader{{Key: outbound.HeaderCommandID, Value: fmt.Appendf(nil, "%s-%d", body, i)}},
				Value:   fmt.Appendf(nil, `{"to":%q,"type":"text","text":{"body":"%s %d"}}`, to, body, i)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// The hanging calls must outlast the waits below.
	slow, err := d360.New(d360.Config{BaseURL: f.apiURL, APIKey: "test-key", Timeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	stop := f.startWith(t, func(c *outbound.Config) {
		c.Sender = slow
		c.MaxInFlight, c.MaxBuffered, c.ShutdownGrace = tokens, 8*recipients, 500*time.Millisecond
	})
	for i := 0; hung.Load() < tokens; i++ {
		if i == 300 {
			t.Fatalf("%d of %d first commands reached the API", hung.Load(), tokens)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Intents name commands that were not sent.
	for i := 0; ; i++ {
		var named int
		for _, m := range kafkatest.ReadUpTo(t, f.brokers, f.ledger, 4*recipients, 2*time.Second) {
			named += bytes.Count(m.Value, []byte(`"second-`))
		}
		if named > 0 {
			break
		}
		if i == 30 {
			t.Fatal("no intent names a second command")
		}
	}
	// Stopped while the first commands hang: their calls are cut after
	// the grace (unknown outcomes), and the waiting commands are abandoned
	// before any call.
	stop()
	close(release)
	mu.Lock()
	early := len(sent)
	mu.Unlock()
	if early != tokens {
		t.Fatalf("the first worker sent %d commands, want the %d that hung", early, tokens)
	}

	f.startWith(t, func(c *outbound.Config) { c.MaxInFlight, c.MaxBuffered = tokens, 8*recipients })
	res := f.readResults(t, 2*recipients)
	mu.Lock()
	defer mu.Unlock()
	for _, body := range []string{"first", "second"} {
		for i := range recipients {
			id := fmt.Sprintf("%s-%d", body, i)
			if body == "first" && i < tokens {
				continue // sent, and cut: unknown
			}
			if got := res[id]["outcome"]; got != "accepted" {
				t.Errorf("%s: outcome %v (%v), want accepted: it was never sent before", id, got, res[id]["error"])
			}
			if n := sent[fmt.Sprintf(`"body":"%s %d"}}`, body, i)]; n != 1 {
				t.Errorf("%s sent %d times, want once", id, n)
			}
		}
	}
}
