package kafkaio

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// PartitionRange is the offsets [Start, End) of one partition of a topic.
type PartitionRange struct {
	Topic      string
	Partition  int32
	Start, End int64
}

func (r PartitionRange) String() string {
	return fmt.Sprintf("%s/%d [%d, %d)", r.Topic, r.Partition, r.Start, r.End)
}

// ListRanges returns the range of every partition of topics, sorted by topic
// and partition: from the partition's first offset (its log start) or, when
// since is not zero, from its first record at or after since, up to its end
// offset (high watermark) as the brokers answer now. A topic that does not
// exist is an error that names it.
func ListRanges(ctx context.Context, adm *kadm.Client, since time.Time, topics ...string) ([]PartitionRange, error) {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("end offsets of %v: a topic does not exist: %w", topics, err)
		}
		return nil, fmt.Errorf("end offsets of %v: %w", topics, err)
	}
	for _, t := range topics {
		if len(ends[t]) == 0 {
			return nil, fmt.Errorf("topic %q does not exist", t)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("start offsets of %v: %w", topics, err)
	}
	var after kadm.ListedOffsets
	if !since.IsZero() {
		after, err = adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topics...)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("offsets of %v after %s: %w", topics, since.Format(time.RFC3339), err)
		}
	}
	var out []PartitionRange
	ends.Each(func(e kadm.ListedOffset) {
		r := PartitionRange{Topic: e.Topic, Partition: e.Partition, End: e.Offset}
		if s, ok := starts.Lookup(e.Topic, e.Partition); ok {
			r.Start = s.Offset
		}
		if a, ok := after.Lookup(e.Topic, e.Partition); ok {
			// No record at or after since: -1 or the end.
			if a.Offset < 0 {
				r.Start = r.End
			} else {
				r.Start = max(r.Start, a.Offset)
			}
		}
		r.Start = min(r.Start, r.End)
		out = append(out, r)
	})
	slices.SortFunc(out, func(a, b PartitionRange) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

// ReadTopic calls fn with every record of topic up to the end offsets it
// finds when called (ListRanges, ReadRanges).
func (c Conn) ReadTopic(ctx context.Context, topic string, fn func(*kgo.Record) error) error {
	return c.ReadTopicSince(ctx, topic, time.Time{}, fn)
}

// ReadTopicSince is ReadTopic from each partition's first record at or
// after since (zero: from the first record).
func (c Conn) ReadTopicSince(ctx context.Context, topic string, since time.Time, fn func(*kgo.Record) error) error {
	return c.readRanges(ctx, func(adm *kadm.Client) ([]PartitionRange, error) {
		return ListRanges(ctx, adm, since, topic)
	}, fn)
}

// ReadRanges calls fn with every record of ranges, range after range, each
// in offset order, from one goroutine, with a short-lived client of c (a
// client of its own, named by nothing: no metrics). See RangeReader.Read.
func (c Conn) ReadRanges(ctx context.Context, ranges []PartitionRange, fn func(*kgo.Record) error) error {
	return c.readRanges(ctx, func(*kadm.Client) ([]PartitionRange, error) { return ranges, nil }, fn)
}

func (c Conn) readRanges(ctx context.Context, list func(*kadm.Client) ([]PartitionRange, error), fn func(*kgo.Record) error) error {
	cl, err := c.NewClient(kgo.MetadataMinAge(100 * time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	rr := NewRangeReader(cl)
	ranges, err := list(rr.adm)
	if err != nil {
		return err
	}
	for _, r := range ranges {
		if err := rr.Read(ctx, r, fn); err != nil {
			return err
		}
	}
	return nil
}

// RangeReader reads partition ranges with fetch requests of its own, so it
// knows exactly where each fetch ends: transaction markers, aborted records
// and batches compaction emptied move it on like records do, and a range
// whose last offsets hold no record still ends. A consumer's records alone
// cannot tell that (it returns no record for those offsets).
type RangeReader struct {
	cl  *kgo.Client
	adm *kadm.Client
	// MaxBytes is the most one fetch asks for (the broker returns at least
	// the batch holding the offset asked for, whatever the limit).
	// Default: 8 MiB.
	MaxBytes int32
}

// NewRangeReader reads with cl, which stays the caller's to close.
func NewRangeReader(cl *kgo.Client) RangeReader {
	return RangeReader{cl: cl, adm: kadm.NewClient(cl), MaxBytes: 8 << 20}
}

// readAttempts bounds the failed fetches in a row before Read returns the
// error.
const readAttempts = 10

// ErrNoLeader says a partition has no leader broker to fetch from.
var ErrNoLeader = errors.New("partition has no leader")

// Read calls fn with every record of r in offset order (data records, as a
// read_uncommitted consumer returns them: no transaction markers). Offsets
// below the partition's log start (deleted, or compacted away) are skipped.
// It returns fn's error as it is, ctx's error when ctx ends, and otherwise
// an error that names the topic, partition and offset it could not read
// (after readAttempts retriable failures in a row, at once for others).
func (r RangeReader) Read(ctx context.Context, pr PartitionRange, fn func(*kgo.Record) error) error {
	from, end := pr.Start, pr.End
	failures := 0
	leader, id := int32(-1), kadm.TopicID{} // looked up again after an error
	for from < end {
		var part *kmsg.FetchResponseTopicPartition
		var err error
		if leader < 0 {
			leader, id, err = r.leader(ctx, pr.Topic, pr.Partition)
		}
		if err == nil {
			part, err = fetchOnce(ctx, r.cl, leader, pr.Topic, id, pr.Partition, from, cmp.Or(r.MaxBytes, 8<<20))
		}
		if err == nil {
			err = kerr.ErrorForCode(part.ErrorCode)
			if errors.Is(err, kerr.OffsetOutOfRange) {
				// Deleted (retention, DeleteRecords) below the log start:
				// go on from there. A response may lack the log start
				// offset (-1): then ask for it.
				start, lerr := part.LogStartOffset, error(nil)
				if start <= from {
					start, lerr = r.logStart(ctx, pr.Topic, pr.Partition)
				}
				if lerr == nil && start > from {
					from = start
					continue
				}
				if lerr != nil {
					err = fmt.Errorf("%w (log start offset: %w)", err, lerr)
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("reading %s/%d at offset %d: %w", pr.Topic, pr.Partition, from, ctx.Err())
			}
			leader = -1
			if failures++; failures >= readAttempts || !kerr.IsRetriable(err) && !errors.Is(err, ErrNoLeader) {
				return fmt.Errorf("reading %s/%d at offset %d (end %d): %w", pr.Topic, pr.Partition, from, end, err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("reading %s/%d at offset %d: %w", pr.Topic, pr.Partition, from, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		failures = 0
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: from, Topic: pr.Topic, Partition: pr.Partition}, part, kgo.DefaultDecompressor(), nil)
		for _, rec := range fp.Records {
			if rec.Offset >= end {
				return nil
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		if next <= from {
			return fmt.Errorf("reading %s/%d: no progress at offset %d below the end %d (high watermark %d)", pr.Topic, pr.Partition, from, end, part.HighWatermark)
		}
		from = next
	}
	return nil
}

// logStart returns the first offset of partition p of topic.
func (r RangeReader) logStart(ctx context.Context, topic string, p int32) (int64, error) {
	starts, err := r.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	o, ok := starts.Lookup(topic, p)
	if !ok {
		return 0, fmt.Errorf("no start offset of %s/%d", topic, p)
	}
	return o.Offset, o.Err
}

// leader returns the leader of partition p of topic and the topic's id
// (fetch requests from version 13 name topics by id).
func (r RangeReader) leader(ctx context.Context, topic string, p int32) (int32, kadm.TopicID, error) {
	td, err := r.adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, kadm.TopicID{}, err
	}
	d := td[topic]
	if d.Err != nil {
		return 0, kadm.TopicID{}, d.Err
	}
	pd, ok := d.Partitions[p]
	if !ok {
		return 0, kadm.TopicID{}, fmt.Errorf("topic %q has no partition %d", topic, p)
	}
	if pd.Leader < 0 {
		return 0, kadm.TopicID{}, ErrNoLeader
	}
	return pd.Leader, d.ID, nil
}

// fetchOnce fetches partition p of topic from offset from, from the leader,
// without waiting for data.
func fetchOnce(ctx context.Context, cl *kgo.Client, leader int32, topic string, id [16]byte, p int32, from int64, maxBytes int32) (*kmsg.FetchResponseTopicPartition, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rt.TopicID = id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = p
	rp.FetchOffset = from
	rp.PartitionMaxBytes = maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, errors.New("unexpected fetch response shape")
	}
	return &resp.Topics[0].Partitions[0], nil
}
