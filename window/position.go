package window

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkaio"
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

// probe moves the follower's position in k from from up to the first
// record between from and to, or to to when there is none: the offsets in
// between hold no record the consumer returns (transaction markers, batches
// compaction emptied, records deleted meanwhile). The consumer brings the
// record it stops at.
func (s *Store) probe(ctx context.Context, k tp, from, to int64) error {
	rr := kafkaio.NewRangeReader(s.prod)
	rr.MaxBytes = 64 << 10 // the few offsets in question
	at := to
	err := rr.Read(ctx, kafkaio.PartitionRange{Topic: s.topic(k.t), Partition: k.p, Start: from, End: to}, func(r *kgo.Record) error {
		at = r.Offset
		return errRecordAhead
	})
	if err != nil && !errors.Is(err, errRecordAhead) {
		return err
	}
	s.moveTo(k, at)
	return nil
}

var errRecordAhead = errors.New("a record ahead")

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
