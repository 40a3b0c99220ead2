package window

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// waitPositions returns once the follower's position in every partition of
// target is at or past the target offset, or when ctx ends.
//
// A position moves with the records the consumer returns. A partition can
// end in offsets the consumer never returns: transaction markers (a
// platform producer writing the opt-in topic transactionally) and batches
// compaction emptied. A partition that does not move for a tick is
// therefore probed: a fetch of its own, read batch by batch, tells whether
// any record lies between the position and the target; if none does, the
// position moves to the target.
func (s *Store) waitPositions(ctx context.Context, target map[tp]int64) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	type seen struct {
		at    int64
		since time.Time
	}
	stalled := map[tp]seen{}
	for {
		behind := map[tp]int64{}
		s.mu.Lock()
		for k, want := range target {
			if at := s.pos[k]; at < want {
				behind[k] = at
			}
		}
		advanced := s.advanced
		s.mu.Unlock()
		if len(behind) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-advanced:
			continue
		case <-tick.C:
		}
		// A partition a few offsets short of its target that stands still
		// is almost surely at transaction markers: probe it soon (the probe
		// reads only those few offsets). One far behind may just wait its
		// turn in a busy restore: probe it after a second, once a second.
		for k, at := range behind {
			after := time.Second
			if target[k]-at <= 16 {
				after = 50 * time.Millisecond
			}
			prev, ok := stalled[k]
			switch {
			case !ok || prev.at != at:
				stalled[k] = seen{at, time.Now()}
			case time.Since(prev.since) >= after:
				if err := s.probe(ctx, k, at, target[k]); err != nil && ctx.Err() == nil {
					s.log.Debug("probing a partition that does not move", "topic", s.topic(k.t), "partition", k.p, "offset", at, "err", err)
				}
				stalled[k] = seen{at, time.Now()}
			}
		}
	}
}

// probe fetches partition k from offset from on and moves the follower's
// position up to to across offsets that hold no record the consumer
// returns. It stops at the first such record: the consumer brings it.
func (s *Store) probe(ctx context.Context, k tp, from, to int64) error {
	topic := s.topic(k.t)
	leader, id, err := partitionLeader(ctx, s.adm, topic, k.p)
	if err != nil {
		return err
	}
	for from < to {
		part, err := fetchOnce(ctx, s.prod, leader, topic, id, k.p, from, 64<<10)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
			if errors.Is(err, kerr.OffsetOutOfRange) && part.LogStartOffset > from {
				from = part.LogStartOffset // deleted by retention meanwhile
				s.moveTo(k, min(from, to))
				continue
			}
			return err
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: from, Topic: topic, Partition: k.p}, part, kgo.DefaultDecompressor(), nil)
		if len(fp.Records) > 0 || next <= from {
			return nil // records ahead (the consumer brings them), or no progress
		}
		from = next
		s.moveTo(k, min(from, to))
	}
	return nil
}

// moveTo moves the follower's position in k forward to at.
func (s *Store) moveTo(k tp, at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at > s.pos[k] {
		s.pos[k] = at
		close(s.advanced)
		s.advanced = make(chan struct{})
	}
}

// fetchOnce fetches partition p of topic from offset from, from the leader,
// without waiting for data.
// The broker returns at least the batch holding from, whatever maxBytes.
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
