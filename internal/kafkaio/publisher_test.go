package kafkaio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/inbound"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

// Every Publisher has the method set the inbound half declares.
var _ inbound.Publisher = kafkaio.Publisher(nil)

// publishers are the Publisher implementations of the product, each built
// for brokers as the product builds it; Close runs at the test's end.
var publishers = []struct {
	name string
	new  func(t *testing.T, brokers []string) kafkaio.Publisher
}{
	{"kafka-go writer", func(t *testing.T, brokers []string) kafkaio.Publisher {
		return newWriter(t, brokers)
	}},
	{"tracing writer", func(t *testing.T, brokers []string) kafkaio.Publisher {
		return kafkaio.TracingWriter{Next: newWriter(t, brokers)}
	}},
}

func newWriter(t *testing.T, brokers []string) *kafka.Writer {
	t.Helper()
	w, err := kafkaio.Conn{Brokers: brokers}.NewWriter(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// TestPublisherContract checks kafkaio.Publisher's contract against every
// implementation, on kfake or the broker of KAFKA_BROKERS.
func TestPublisherContract(t *testing.T) {
	for _, impl := range publishers {
		t.Run(impl.name, func(t *testing.T) {
			brokers, conn, adm, _ := setup(t, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			endOffsets := func(topic string) int64 {
				t.Helper()
				ends, err := adm.ListEndOffsets(ctx, topic)
				if err == nil {
					err = ends.Error()
				}
				if err != nil {
					t.Fatalf("end offsets of %s: %v", topic, err)
				}
				var n int64
				ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
				return n
			}
			newTopic := func(base string, partitions int32, configs map[string]*string) string {
				t.Helper()
				topic := kafkatest.Topic(t, base)
				if _, err := kafkaio.EnsureTopics(ctx, adm, []kafkaio.Topic{{Name: topic, Partitions: partitions, ReplicationFactor: -1, Configs: configs}}); err != nil {
					t.Fatal(err)
				}
				return topic
			}
			// The topics exist before the writer, as in the product: a
			// kafka-go writer takes a topic created after it cached the
			// cluster's metadata for unknown until the cache expires.
			maxBytes := "2000"
			acksTopic, orderTopic := newTopic("acks", 3, nil), newTopic("order", 4, nil)
			largeTopic, refusedTopic := newTopic("large", 1, nil), newTopic("refused", 1, map[string]*string{"max.message.bytes": &maxBytes})
			pub := impl.new(t, brokers)

			t.Run("acknowledged before it returns", func(t *testing.T) {
				topic := acksTopic
				for round := range 3 {
					msgs := make([]kafka.Message, 10)
					for i := range msgs {
						msgs[i] = kafka.Message{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte("v")}
					}
					if err := pub.WriteMessages(ctx, msgs...); err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
					// The high watermark moves only once every in-sync
					// replica has the records.
					if got, want := endOffsets(topic), int64(10*(round+1)); got != want {
						t.Fatalf("after round %d returned, the partitions end at %d records in all, want %d", round, got, want)
					}
				}
			})

			t.Run("order per key", func(t *testing.T) {
				topic := orderTopic
				const keys, perCall, calls = 5, 20, 3
				seq := 0
				for range calls {
					msgs := make([]kafka.Message, perCall)
					for i := range msgs {
						msgs[i] = kafka.Message{Topic: topic, Key: fmt.Appendf(nil, "k%d", seq%keys), Value: []byte(strconv.Itoa(seq))}
						seq++
					}
					if err := pub.WriteMessages(ctx, msgs...); err != nil {
						t.Fatal(err)
					}
				}
				last := map[string]int{}
				part := map[string]int32{}
				n := 0
				err := conn.ReadTopic(ctx, topic, func(r *kgo.Record) error {
					n++
					k := string(r.Key)
					v, _ := strconv.Atoi(string(r.Value))
					if p, ok := part[k]; ok && p != r.Partition {
						t.Errorf("key %s in partitions %d and %d", k, p, r.Partition)
					}
					if prev, ok := last[k]; ok && v != prev+keys {
						t.Errorf("key %s: %d after %d, want %d", k, v, prev, prev+keys)
					}
					part[k], last[k] = r.Partition, v
					return nil
				})
				if err != nil || n != seq {
					t.Fatalf("read %d records (%v), want %d", n, err, seq)
				}
			})

			t.Run("a record larger than the writer takes", func(t *testing.T) {
				topic := largeTopic
				err := pub.WriteMessages(ctx,
					kafka.Message{Topic: topic, Key: []byte("small"), Value: []byte("v")},
					kafka.Message{Topic: topic, Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 1<<20+1)},
				)
				var tooLarge kafka.MessageTooLargeError
				if !errors.As(err, &tooLarge) || string(tooLarge.Message.Key) != "big" || len(tooLarge.Remaining) != 1 {
					t.Fatalf("WriteMessages = %v, want a MessageTooLargeError naming the record keyed big", err)
				}
				if n := endOffsets(topic); n != 0 {
					t.Fatalf("%d records written, want none", n)
				}
			})

			t.Run("a record larger than the topic takes", func(t *testing.T) {
				topic := refusedTopic
				err := pub.WriteMessages(ctx,
					kafka.Message{Topic: topic, Key: []byte("small"), Value: []byte("v")},
					kafka.Message{Topic: topic, Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 5000)},
				)
				var werr kafka.WriteErrors
				if !errors.As(err, &werr) || len(werr) != 2 || !errors.Is(werr[1], kafka.MessageSizeTooLarge) {
					t.Fatalf("WriteMessages = %v, want WriteErrors with MessageSizeTooLarge at index 1", err)
				}
				// Alone, the small one goes, the big one is still refused.
				if err := pub.WriteMessages(ctx, kafka.Message{Topic: topic, Key: []byte("small"), Value: []byte("v")}); err != nil {
					t.Fatalf("the small record alone: %v", err)
				}
				err = pub.WriteMessages(ctx, kafka.Message{Topic: topic, Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 5000)})
				if !errors.As(err, &werr) || len(werr) != 1 || !errors.Is(werr[0], kafka.MessageSizeTooLarge) {
					t.Fatalf("the big record alone: %v, want WriteErrors with MessageSizeTooLarge", err)
				}
			})
		})
	}
}

// TestPublisherContractUnreachable: a cancelled write returns ctx's error
// while the broker does not answer, and with no broker at all a write
// returns an error instead of waiting for ever.
func TestPublisherContractUnreachable(t *testing.T) {
	for _, impl := range publishers {
		t.Run(impl.name, func(t *testing.T) {
			t.Run("ctx ends while the broker does not answer", func(t *testing.T) {
				// A listener that takes connections and never answers.
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				accepted := make(chan net.Conn, 16)
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							close(accepted)
							return
						}
						accepted <- c
					}
				}()
				t.Cleanup(func() {
					ln.Close()
					for c := range accepted {
						c.Close()
					}
				})
				pub := impl.new(t, []string{ln.Addr().String()})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- pub.WriteMessages(ctx, kafka.Message{Topic: "t", Value: []byte("v")}) }()
				select {
				case c := <-accepted: // the write is waiting on the broker
					accepted <- c
				case err := <-done:
					t.Fatalf("WriteMessages returned %v before the broker answered", err)
				}
				cancel()
				select {
				case err := <-done:
					if !errors.Is(err, context.Canceled) {
						t.Fatalf("WriteMessages = %v, want context.Canceled", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("WriteMessages did not return after its context ended")
				}
			})

			t.Run("the broker goes away", func(t *testing.T) {
				c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
				if err != nil {
					t.Fatal(err)
				}
				pub := impl.new(t, c.ListenAddrs())
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := pub.WriteMessages(ctx, kafka.Message{Topic: "t", Value: []byte("before")}); err != nil {
					t.Fatalf("writing while the broker is up: %v", err)
				}
				c.Close()
				wantError(t, func() error {
					return pub.WriteMessages(context.Background(), kafka.Message{Topic: "t", Value: []byte("after")})
				})
			})

			t.Run("no broker", func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close() // nothing listens there now
				pub := impl.new(t, []string{addr})
				wantError(t, func() error {
					return pub.WriteMessages(context.Background(), kafka.Message{Topic: "t", Value: []byte("v")})
				})
			})
		})
	}
}

// wantError fails t unless write returns an error; a write that has not
// returned after a minute (its attempts take seconds) counts as a hang.
func wantError(t *testing.T, write func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- write() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("WriteMessages returned nil with no broker")
		}
		t.Logf("WriteMessages: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("WriteMessages with no broker did not return")
	}
}
