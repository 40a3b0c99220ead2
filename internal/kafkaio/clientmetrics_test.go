package kafkaio_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wabridge/wabridge/internal/kafkaio"
)

// A client never asks a broker for a KIP-714 metrics subscription, so it
// never pushes metrics (each push took 8 MiB of lz4 buffers).
func TestClientsPushNoMetricsToBrokers(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	asked := make(chan struct{}, 1)
	for _, key := range []kmsg.Key{kmsg.GetTelemetrySubscriptions, kmsg.PushTelemetry} {
		c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			select {
			case asked <- struct{}{}:
			default:
			}
			return nil, nil, false
		})
	}
	cl, err := kafkaio.Conn{Brokers: c.ListenAddrs()}.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The first produce request starts the metrics (kgo's firstObserve).
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-asked:
		t.Error("the client asked the broker for a client metrics subscription (or pushed metrics)")
	case <-time.After(2 * time.Second): // a client with metrics on asks at once
	}
}
