package kafkaio_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

// produceTo writes values to partition p of topic, acks=all, with the
// given timestamps when ts is not nil.
func produceTo(t *testing.T, brokers []string, topic string, p int32, values []string, ts []time.Time) {
	t.Helper()
	cl, err := kafkaio.Conn{Brokers: brokers}.NewClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, v := range values {
		r := &kgo.Record{Topic: topic, Partition: p, Key: []byte(v), Value: []byte(v)}
		if ts != nil {
			r.Timestamp = ts[i]
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("producing %s to %s/%d: %v", v, topic, p, err)
		}
	}
}

func vals(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// read collects "partition:offset:value" of every record ReadRanges gives.
func read(t *testing.T, conn kafkaio.Conn, ranges []kafkaio.PartitionRange) ([]string, error) {
	t.Helper()
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := conn.ReadRanges(ctx, ranges, func(r *kgo.Record) error {
		got = append(got, fmt.Sprintf("%d:%d:%s", r.Partition, r.Offset, r.Value))
		return nil
	})
	return got, err
}

func listRanges(t *testing.T, adm *kadm.Client, since time.Time, topics ...string) []kafkaio.PartitionRange {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := kafkaio.ListRanges(ctx, adm, since, topics...)
	if err != nil {
		t.Fatalf("ListRanges(%v): %v", topics, err)
	}
	return rs
}

// setup returns a broker's conn, an admin client and a new topic with
// partitions.
func setup(t *testing.T, partitions int32) ([]string, kafkaio.Conn, *kadm.Client, string) {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	conn := kafkaio.Conn{Brokers: brokers}
	adm, err := conn.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	topic := kafkatest.Topic(t, "ranges")
	kafkatest.CreateTopics(t, brokers, partitions, topic)
	return brokers, conn, adm, topic
}

func TestReadRanges(t *testing.T) {
	// Three partitions: 0 empty, 1 with five records, 2 with three.
	brokers, conn, adm, topic := setup(t, 3)
	produceTo(t, brokers, topic, 1, vals("a", 5), nil)
	produceTo(t, brokers, topic, 2, vals("b", 3), nil)

	all := listRanges(t, adm, time.Time{}, topic)
	want := []kafkaio.PartitionRange{{topic, 0, 0, 0}, {topic, 1, 0, 5}, {topic, 2, 0, 3}}
	if !slices.Equal(all, want) {
		t.Fatalf("ListRanges = %v, want %v", all, want)
	}

	for _, tc := range []struct {
		name   string
		ranges []kafkaio.PartitionRange
		want   []string
	}{
		{"every partition, the empty one included", all, []string{"1:0:a0", "1:1:a1", "1:2:a2", "1:3:a3", "1:4:a4", "2:0:b0", "2:1:b1", "2:2:b2"}},
		{"a middle range", []kafkaio.PartitionRange{{topic, 1, 2, 4}}, []string{"1:2:a2", "1:3:a3"}},
		{"an empty range", []kafkaio.PartitionRange{{topic, 1, 3, 3}}, nil},
		{"a range ending before it starts", []kafkaio.PartitionRange{{topic, 1, 4, 2}}, nil},
		{"an empty partition", []kafkaio.PartitionRange{{topic, 0, 0, 0}}, nil},
		{"no range", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(t, conn, tc.ranges)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ReadRanges = %v, %v; want %v", got, err, tc.want)
			}
		})
	}

	t.Run("ReadTopic reads every partition to its end", func(t *testing.T) {
		var got []string
		err := conn.ReadTopic(context.Background(), topic, func(r *kgo.Record) error {
			got = append(got, string(r.Value))
			return nil
		})
		if want := []string{"a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2"}; err != nil || !slices.Equal(got, want) {
			t.Fatalf("ReadTopic = %v, %v; want %v", got, err, want)
		}
	})

	t.Run("fn's error ends the read as it is", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := conn.ReadRanges(context.Background(), all, func(*kgo.Record) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
		if err != stop || n != 2 {
			t.Fatalf("ReadRanges = %v after %d records, want the callback's error after 2", err, n)
		}
	})

	t.Run("a cancelled context ends the read, naming the partition", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := conn.ReadRanges(ctx, []kafkaio.PartitionRange{{topic, 1, 0, 5}}, func(*kgo.Record) error {
			t.Error("a record after the context ended")
			return nil
		})
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), topic+"/1") {
			t.Fatalf("ReadRanges = %v, want context.Canceled naming %s/1", err, topic)
		}
	})

	t.Run("a context cancelled mid-read ends it", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		err := conn.ReadRanges(ctx, all, func(*kgo.Record) error {
			n++
			cancel()
			return nil
		})
		// Partition 1's one fetch brings its five records; partition 2 is
		// not read.
		if !errors.Is(err, context.Canceled) || n != 5 || !strings.Contains(err.Error(), topic+"/2") {
			t.Fatalf("ReadRanges = %v after %d records, want context.Canceled at %s/2 after 5", err, n, topic)
		}
	})

	t.Run("a range past the end is an error, not a wait", func(t *testing.T) {
		_, err := read(t, conn, []kafkaio.PartitionRange{{topic, 2, 0, 10}})
		if err == nil || !strings.Contains(err.Error(), topic+"/2") || !strings.Contains(err.Error(), "no progress at offset 3") {
			t.Fatalf("ReadRanges past the end = %v, want an error naming %s/2 at offset 3", err, topic)
		}
	})

	t.Run("a missing topic or partition is named", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		missing := topic + ".missing"
		if _, err := kafkaio.ListRanges(ctx, adm, time.Time{}, missing); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("ListRanges of a missing topic = %v, want it named", err)
		}
		if err := conn.ReadTopic(ctx, missing, func(*kgo.Record) error { return nil }); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("ReadTopic of a missing topic = %v, want it named", err)
		}
		if _, err := read(t, conn, []kafkaio.PartitionRange{{topic, 7, 0, 1}}); err == nil || !strings.Contains(err.Error(), "no partition 7") {
			t.Errorf("ReadRanges of a missing partition = %v, want it named", err)
		}
	})
}

// Records deleted below the log start (retention, DeleteRecords) are
// skipped: ListRanges starts after them, and a range that starts below the
// log start reads from it.
func TestReadRangesDeletedStart(t *testing.T) {
	brokers, conn, adm, topic := setup(t, 1)
	produceTo(t, brokers, topic, 0, vals("v", 6), nil)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
	resp, err := adm.DeleteRecords(ctx, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("deleting records below offset 4: %v", err)
	}
	if rs := listRanges(t, adm, time.Time{}, topic); !slices.Equal(rs, []kafkaio.PartitionRange{{topic, 0, 4, 6}}) {
		t.Fatalf("ListRanges after deleting = %v, want [4, 6)", rs)
	}
	got, err := read(t, conn, []kafkaio.PartitionRange{{topic, 0, 1, 6}})
	if want := []string{"0:4:v4", "0:5:v5"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("ReadRanges from a deleted offset = %v, %v; want %v", got, err, want)
	}
	got, err = read(t, conn, []kafkaio.PartitionRange{{topic, 0, 0, 3}})
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadRanges of deleted offsets only = %v, %v; want nothing", got, err)
	}
}

// A partition that ends with a transaction marker (no record the reader
// returns at the last offset) still ends, and since picks each partition's
// first record at or after a time.
func TestReadRangesTransactionsAndSince(t *testing.T) {
	brokers, conn, adm, topic := setup(t, 1)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	produceTo(t, brokers, topic, 0, vals("p", 3), []time.Time{base, base.Add(time.Minute), base.Add(2 * time.Minute)})

	cl, err := conn.NewClient(kgo.TransactionalID(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("t0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	// 3 records, 1 in the transaction, its commit marker: the coordinator
	// writes the marker after EndTransaction returned.
	var rs []kafkaio.PartitionRange
	for i := 0; i < 100; i++ {
		if rs = listRanges(t, adm, time.Time{}, topic); len(rs) == 1 && rs[0].End == 5 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(rs) != 1 || rs[0].End != 5 {
		t.Fatalf("ListRanges = %v, want one partition ending at 5", rs)
	}
	got, err := read(t, conn, rs)
	if want := []string{"0:0:p0", "0:1:p1", "0:2:p2", "0:3:t0"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("ReadRanges of a partition ending in a marker = %v, %v; want %v", got, err, want)
	}

	since := listRanges(t, adm, base.Add(30*time.Second), topic)
	if len(since) != 1 || since[0].Start != 1 || since[0].End != 5 {
		t.Fatalf("ListRanges since the second record's time = %v, want [1, 5)", since)
	}
	if future := listRanges(t, adm, time.Now().Add(time.Hour), topic); len(future) != 1 || future[0].Start != future[0].End {
		t.Fatalf("ListRanges since a future time = %v, want an empty range", future)
	}
}
