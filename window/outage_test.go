package window_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wabridge/wabridge/window"
)

// stalledProduce is a kfake cluster whose produce requests, once stall is
// set, get no answer until release is closed: a broker killed or stopped
// while a request is in flight. (Needs kfake's control hooks, so it runs
// on kfake whatever the test backend.)
type stalledProduce struct {
	c       *kfake.Cluster
	stall   atomic.Bool
	release chan struct{}
}

func newStalledProduce(t *testing.T, topics ...string) *stalledProduce {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	sp := &stalledProduce{c: c, release: make(chan struct{})}
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if sp.stall.Load() {
			c.SleepControl(func() { <-sp.release })
		}
		return nil, nil, false
	})
	t.Cleanup(func() {
		sp.unstall()
		c.Close()
	})
	return sp
}

func (sp *stalledProduce) unstall() {
	if sp.stall.CompareAndSwap(true, false) {
		close(sp.release)
	}
}

// Every write of the Store returns when its context ends, even while the
// broker holds the produce request it already got: the webhook that made
// it must get its 503 within the publish timeout, not when Kafka is back.
func TestWritesEndWithTheirContextWhileKafkaHoldsTheRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, s *window.Store, at time.Time) error
	}{
		{"window", func(ctx context.Context, s *window.Store, at time.Time) error {
			return s.Opened(ctx, number, at.Add(time.Second), "15550003333")
		}},
		{"consent", func(ctx context.Context, s *window.Store, at time.Time) error {
			return s.ChangeConsent(ctx, number, "15550003333", window.Change{Action: window.OptOutAll, Source: "test", At: at})
		}},
		{"keyword", func(ctx context.Context, s *window.Store, at time.Time) error {
			return s.Inbound(ctx, window.Inbound{Number: number, Users: []string{"15550003333"}, At: at, Text: "STOP"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := newStalledProduce(t, "w", "o")
			s, err := window.New(window.Config{Brokers: sp.c.ListenAddrs(), WindowTopic: "w", OptinTopic: "o"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			at := time.Now().Add(-time.Minute).Truncate(time.Second)
			// A first write connects the producer.
			if err := s.Opened(ctxT(t), number, at, "15550003333"); err != nil {
				t.Fatal(err)
			}
			sp.stall.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tc.write(ctx, s, at) }()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("write while Kafka holds the request: %v, want the context's deadline", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the write is still blocked long after its context ended, while Kafka holds the request")
			}
		})
	}
}
