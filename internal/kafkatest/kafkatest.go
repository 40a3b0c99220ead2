// Package kafkatest gives every Kafka test a broker that speaks the real
// protocol over TCP:
//
//   - KAFKA_BROKERS set: that (real) cluster, e.g. the Apache Kafka broker
//     .ci/run starts with deploy/local-kafka.sh;
//   - WABRIDGE_TESTCONTAINERS=1 and a Docker engine answering: a Kafka
//     container started with testcontainers-go;
//   - otherwise: an in-process kfake cluster on 127.0.0.1.
//
// The same tests run on every backend. Each test names its topics with Topic
// so tests sharing a real broker never collide.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wabridge/wabridge/internal/kafkaio"
)

// Backend says which kind of broker Brokers returns.
func Backend() string {
	switch {
	case os.Getenv("KAFKA_BROKERS") != "":
		return "real"
	case os.Getenv("WABRIDGE_TESTCONTAINERS") == "1":
		return "testcontainers"
	}
	return "kfake"
}

// Brokers returns bootstrap brokers for t, started and stopped as needed.
func Brokers(t testing.TB) []string {
	t.Helper()
	if s := os.Getenv("KAFKA_BROKERS"); s != "" {
		return strings.Split(s, ",")
	}
	if os.Getenv("WABRIDGE_TESTCONTAINERS") == "1" {
		if b, ok := containerBrokers(t); ok {
			return b
		}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func containerBrokers(t testing.TB) ([]string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := testcontainers.NewDockerProvider()
	if err == nil {
		err = p.Health(ctx)
		p.Close()
	}
	if err != nil {
		t.Logf("WABRIDGE_TESTCONTAINERS=1 but Docker does not answer (%v); using in-process kfake", err)
		return nil, false
	}
	c, err := tckafka.Run(ctx, "confluentinc/confluent-local:7.5.0", tckafka.WithClusterID("wabridge-test"))
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("starting Kafka container: %v", err)
	}
	b, err := c.Brokers(ctx)
	if err != nil {
		t.Fatalf("Kafka container brokers: %v", err)
	}
	return b, true
}

var unsafe = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// Topic returns a topic name unique to this test run.
func Topic(t testing.TB, base string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := unsafe.ReplaceAllString(t.Name(), "_")
	if len(name) > 80 {
		name = name[:80]
	}
	return fmt.Sprintf("%s.%s.%s", name, base, hex.EncodeToString(b))
}

// CreateTopics creates topics with partitions each.
func CreateTopics(t testing.TB, brokers []string, partitions int32, topics ...string) {
	t.Helper()
	adm, err := kafkaio.Conn{Brokers: brokers}.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, partitions, -1, nil, topics...)
	if err != nil {
		t.Fatalf("creating topics %v: %v", topics, err)
	}
	for _, r := range resp {
		if r.Err != nil {
			t.Fatalf("creating topic %s: %v", r.Topic, r.Err)
		}
	}
	if err := kafkaio.WaitForTopics(ctx, adm, topics...); err != nil {
		t.Fatal(err)
	}
}

// Writer returns the bridge's kafka-go writer (kafkaio) for brokers, with a
// 1 ms batch wait. Close it when done.
func Writer(t testing.TB, brokers []string) *kafka.Writer {
	t.Helper()
	w, err := kafkaio.Conn{Brokers: brokers}.NewWriter(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Produce writes msgs (acks=all) to topic.
func Produce(t testing.TB, brokers []string, topic string, msgs ...kafka.Message) {
	t.Helper()
	w := Writer(t, brokers)
	defer w.Close()
	for i := range msgs {
		msgs[i].Topic = topic
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("producing %d records to %s: %v", len(msgs), topic, err)
	}
}

// ReadN reads records of every partition of topic from the beginning until
// it has n or timeout passes; it fails the test in the latter case.
func ReadN(t testing.TB, brokers []string, topic string, n int, timeout time.Duration) []kafka.Message {
	t.Helper()
	got := ReadUpTo(t, brokers, topic, n, timeout)
	if len(got) < n {
		t.Fatalf("read %d records from %s within %s, want %d", len(got), topic, timeout, n)
	}
	return got
}

// ReadUpTo is ReadN without the failure: it returns what arrived in time.
func ReadUpTo(t testing.TB, brokers []string, topic string, n int, timeout time.Duration) []kafka.Message {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatalf("dialing %s: %v", brokers[0], err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var (
		mu  sync.Mutex
		out []kafka.Message
		wg  sync.WaitGroup
	)
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				out = append(out, m)
				if len(out) >= n {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}
