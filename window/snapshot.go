package window

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wabridge/wabridge/internal/kafkaio"
)

// ReadTopic calls fn with every record of topic up to the end offsets it
// finds when called, partition after partition, each in offset order, from
// one goroutine. It reads with fetches of its own, so it knows exactly
// where each partition ends, transaction markers and compacted batches
// included. It is for tools (wabridge optin list) and tests; a Store
// restores with a consumer.
func ReadTopic(ctx context.Context, conn kafkaio.Conn, topic string, fn func(*kgo.Record) error) error {
	cl, err := conn.NewClient(kgo.MetadataMinAge(100 * time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic %q does not exist", topic)
	}
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	parts := ends[topic]
	if len(parts) == 0 {
		return fmt.Errorf("topic %q does not exist", topic)
	}
	ids := make([]int32, 0, len(parts))
	for p := range parts {
		ids = append(ids, p)
	}
	slices.Sort(ids)
	for _, p := range ids {
		start, _ := starts.Lookup(topic, p)
		if err := readPartition(ctx, adm, cl, topic, p, start.Offset, parts[p].Offset, fn); err != nil {
			return err
		}
	}
	return nil
}

func readPartition(ctx context.Context, adm *kadm.Client, cl *kgo.Client, topic string, p int32, from, end int64, fn func(*kgo.Record) error) error {
	failures := 0
	leader, id := int32(-1), kadm.TopicID{} // looked up again after an error
	for from < end {
		var part *kmsg.FetchResponseTopicPartition
		var err error
		if leader < 0 {
			leader, id, err = partitionLeader(ctx, adm, topic, p)
		}
		if err == nil {
			part, err = fetchOnce(ctx, cl, leader, topic, id, p, from, 8<<20)
		}
		if err == nil {
			err = kerr.ErrorForCode(part.ErrorCode)
			if errors.Is(err, kerr.OffsetOutOfRange) && part.LogStartOffset > from {
				from, err = part.LogStartOffset, nil // deleted meanwhile
				continue
			}
		}
		if err != nil {
			leader = -1
			if failures++; failures > 10 || !kerr.IsRetriable(err) && !errors.Is(err, errNoLeader) {
				return fmt.Errorf("reading %s/%d at offset %d: %w", topic, p, from, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: from, Topic: topic, Partition: p}, part, kgo.DefaultDecompressor(), nil)
		for _, r := range fp.Records {
			if r.Offset >= end {
				return nil
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if next <= from {
			return fmt.Errorf("reading %s/%d: no progress at offset %d below the end %d", topic, p, from, end)
		}
		from = next
	}
	return nil
}

var errNoLeader = errors.New("partition has no leader")

// partitionLeader returns the leader of partition p of topic and the
// topic's id, for fetchOnce.
func partitionLeader(ctx context.Context, adm *kadm.Client, topic string, p int32) (int32, kadm.TopicID, error) {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, kadm.TopicID{}, err
	}
	d := td[topic]
	if d.Err != nil {
		return 0, kadm.TopicID{}, d.Err
	}
	pd, ok := d.Partitions[p]
	if !ok || pd.Leader < 0 {
		return 0, kadm.TopicID{}, errNoLeader
	}
	return pd.Leader, d.ID, nil
}
