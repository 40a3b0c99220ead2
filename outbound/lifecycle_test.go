package outbound

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

// Starting and stopping the worker many times, with the group's assignment
// arriving as early as it can (before Run has gone past creating its
// client) or the stop arriving while the group is still forming, never
// touches state that does not exist yet: 0 panics and, under -race, 0 races.
func TestWorkerStartStopCycles(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	commands, ledger, group := kafkatest.Topic(t, "commands"), kafkatest.Topic(t, "ledger"), kafkatest.Topic(t, "group")
	kafkatest.CreateTopics(t, brokers, 3, commands)
	const cycles = 200
	for i := range cycles {
		cfg := testConfig()
		cfg.Brokers, cfg.GroupID, cfg.CommandTopic, cfg.LedgerTopic = brokers, group, commands, ledger
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		assigned := make(chan struct{})
		var once sync.Once
		w.hooks.assigned = func() { once.Do(func() { close(assigned) }) }
		if i%2 == 0 {
			// Hold Run right after its client exists until the assignment
			// callback has run: the callback finds only what was made before.
			w.hooks.clientCreated = func() {
				select {
				case <-assigned:
				case <-time.After(20 * time.Second):
					t.Errorf("cycle %d: no assignment within 20s", i)
				}
				cancel()
			}
		} else {
			w.hooks.clientCreated = cancel // stop while the group forms
		}
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("cycle %d: Run: %v", i, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("cycle %d: Run did not return within 60s of its stop", i)
		}
		cancel()
	}
}

// A partition whose send ledger cannot be restored (here: the ledger topic
// was deleted while running; in production, partitions added to the
// command topic meet the same) stops Run with an error: the worker does not
// stay up without outbound.
func TestWorkerStopsWhenALedgerRestoreFails(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	commands, ledger, group := kafkatest.Topic(t, "commands"), kafkatest.Topic(t, "ledger"), kafkatest.Topic(t, "group")
	kafkatest.CreateTopics(t, brokers, 2, commands)
	cfg := testConfig()
	cfg.Brokers, cfg.GroupID, cfg.CommandTopic, cfg.LedgerTopic = brokers, group, commands, ledger
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	assigned := make(chan struct{}, 10)
	w.hooks.assigned = func() { assigned <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitFor(t, assigned, "the first assignment")

	adm, err := kafkaio.Conn{Brokers: brokers}.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := adm.DeleteTopic(ctx, ledger); err != nil {
		t.Fatal(err)
	}
	// A second member takes a partition, then leaves: the partition comes
	// back to the worker, whose restore of it fails.
	otherGot := make(chan struct{}, 10)
	other, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(commands),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { otherGot <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	go other.PollFetches(ctx) // joins the group; ends when other closes
	waitFor(t, otherGot, "assignment of the second member")
	other.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after a ledger restore failed; want the error")
		}
		t.Logf("Run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("Run still running 60s after its ledger restore failed")
	}
}

func waitFor(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30s", what)
	}
}
