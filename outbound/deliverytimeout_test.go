package outbound_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wabridge/wabridge/internal/kafkatest"
)

// A result write that times out (the broker refuses the results topic for
// longer than a write may take) is written once the broker takes it again.
// kgo times a record out from the stamp it got when it was first produced,
// so a result produced again with its old stamp failed at once on every
// attempt, for as long as its partition stayed owned: its command, and the
// commands behind it, never got a result.
func TestWorkerWritesResultAfterAWriteTimedOut(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var refuse atomic.Bool
	var results string
	var resultsID [16]byte
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		if !refuse.Load() || !slices.ContainsFunc(req.Topics, func(rt kmsg.ProduceRequestTopic) bool { return rt.Topic == results || rt.TopicID == resultsID }) {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	f := newFixtureOn(t, c.ListenAddrs(), nil, nil)
	results = f.results
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	td, err := kadm.NewClient(cl).ListTopics(context.Background(), f.results)
	cl.Close()
	if err != nil || td[f.results].Err != nil {
		t.Fatalf("topic id of %s: %v %v", f.results, err, td[f.results].Err)
	}
	resultsID = td[f.results].ID
	refuse.Store(true)
	const n = 5
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = cmd(fmt.Sprintf("c%d", i), fmt.Sprintf(`{"to":"4917%08d","type":"text","text":{"body":"m%d"}}`, i, i))
	}
	kafkatest.Produce(t, f.brokers, f.commands, msgs...)
	f.start(t)

	// Every command is sent, then its result write is refused for longer
	// than a write may take (10 s), so each write times out at least once.
	deadline := time.Now().Add(time.Minute)
	for len(f.api.Requests()) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := len(f.api.Requests()); got != n {
		t.Fatalf("%d API calls, want %d", got, n)
	}
	time.Sleep(12 * time.Second)
	refuse.Store(false)

	got := f.readResults(t, n)
	if len(got) != n {
		t.Fatalf("%d results, want %d", len(got), n)
	}
	if calls := len(f.api.Requests()); calls != n {
		t.Errorf("%d API calls, want %d (a result write failing is no reason to send again)", calls, n)
	}
}
