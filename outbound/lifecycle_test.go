package outbound

import (
	"context"
	"sync"
	"testing"
	"time"

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
