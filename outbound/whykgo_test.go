package outbound_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wabridge/wabridge/internal/kafkatest"
)

// Why the outbound path produces with franz-go's kgo and not kafka-go: when
// a produce request is written but its response is lost (here: the broker
// answers later than the client waits), kafka-go retries and the broker
// stores the record twice — kafka-go has no idempotent producer. kgo's
// idempotent producer retries with the same sequence number and the broker
// drops the duplicate. A result event written twice would break "exactly
// one result per command".
func TestWhyKgoProducesResults(t *testing.T) {
	for _, tc := range []struct {
		client string
		want   int
	}{
		{"kafka-go", 2}, // the failing case: a duplicate
		{"kgo", 1},
	} {
		t.Run(tc.client, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "results"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			brokers := c.ListenAddrs()
			var delayed atomic.Bool
			var produces atomic.Int32
			c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				produces.Add(1)
				if delayed.CompareAndSwap(false, true) {
					// The first produce is stored only after the client
					// gave up waiting for its answer.
					// Deterministic: it waits until the client retried.
					c.SleepControl(func() {
						for i := 0; i < 200 && produces.Load() < 2; i++ {
							time.Sleep(50 * time.Millisecond)
						}
					})
				}
				return nil, nil, false
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			switch tc.client {
			case "kafka-go":
				w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "results", RequiredAcks: kafka.RequireAll,
					BatchTimeout: time.Millisecond, WriteTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, MaxAttempts: 5,
					Transport: &kafka.Transport{}}
				defer w.Close()
				if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("result of command 1")}); err != nil {
					t.Logf("kafka-go write: %v", err)
				}
			case "kgo":
				cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
					kgo.RequestTimeoutOverhead(500*time.Millisecond), kgo.ProduceRequestTimeout(100*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "results", Key: []byte("k"), Value: []byte("result of command 1")}).FirstErr(); err != nil {
					t.Fatalf("kgo produce: %v", err)
				}
			}
			time.Sleep(500 * time.Millisecond) // let the delayed request land
			if n := produces.Load(); n < 2 {
				t.Fatalf("%s sent %d produce requests; the test needs a retry", tc.client, n)
			}
			got := kafkatest.ReadUpTo(t, brokers, "results", 3, 3*time.Second)
			if len(got) != tc.want {
				t.Errorf("%s stored %d records for one write, want %d", tc.client, len(got), tc.want)
			}
		})
	}
}
