package window

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// windowRecord is the record of e's times under key, written by this Store.
func (s *Store) windowRecord(key string, e entry) *kgo.Record {
	v := WindowValue{By: s.cfg.InstanceID}
	if l := e.last(); l != 0 {
		v.LastInboundAt = unpackSec(l).UnixMilli()
	}
	if c := e.closed(); c != 0 {
		v.ClosedAt = unpackSec(c).UnixMilli()
	}
	return &kgo.Record{Topic: s.cfg.WindowTopic, Key: []byte(key), Value: v.Encode()}
}

// Opened records that users (the wa_id and, when present, the
// business-scoped user id of one person) sent a message to business number
// (phone_number_id) at (WhatsApp's timestamp of the message): their window
// is open until at + 24 h. at is capped at now; a message older than 24 h
// changes nothing, nor does one no newer than the window known. It returns
// once Kafka acknowledged the records (acks=all) and, while Run runs, the
// follower applied them (at most SyncTimeout later).
func (s *Store) Opened(ctx context.Context, number string, at time.Time, users ...string) error {
	now := s.now()
	if at.IsZero() || at.After(now) {
		at = now
	}
	if !at.Add(Length).After(now) {
		return nil
	}
	return s.writeWindows(ctx, number, users, makeEntry(at.UnixMilli(), 0))
}

// Closed records that the API refused a free-form message to user with
// error 131047 at at (this side's clock): the window counts as closed until
// a newer message from the user. Same return as Opened.
func (s *Store) Closed(ctx context.Context, number, user string, at time.Time) error {
	now := s.now()
	if at.IsZero() || at.After(now) {
		at = now
	}
	return s.writeWindows(ctx, number, []string{user}, makeEntry(0, at.UnixMilli()))
}

func (s *Store) writeWindows(ctx context.Context, number string, users []string, in entry) error {
	if number == "" {
		return errNoNumber
	}
	var recs []*kgo.Record
	for _, u := range users {
		if u == "" {
			continue
		}
		key := Key(number, u)
		s.mu.Lock()
		cur := s.windows[maphash.String(s.seed, key)]
		s.mu.Unlock()
		next := cur.merge(in)
		if next.times() == cur.times() {
			continue // a repeated webhook, or an older message: nothing new
		}
		recs = append(recs, s.windowRecord(key, next))
	}
	return s.write(ctx, recs...)
}

var errNoNumber = errors.New("window: no business number (phone_number_id)")

// write produces recs and, while Run runs, waits (at most SyncTimeout) for
// the follower to apply them.
func (s *Store) write(ctx context.Context, recs ...*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	res, err := s.produce(ctx, recs)
	if err != nil {
		return fmt.Errorf("writing %d record(s) to %s: %w", len(recs), recs[0].Topic, err)
	}
	if !s.running.Load() {
		return nil
	}
	target := map[tp]int64{}
	for _, r := range res {
		t := uint8(0)
		if r.Record.Topic == s.cfg.OptinTopic {
			t = 1
		}
		k := tp{t, r.Record.Partition}
		target[k] = max(target[k], r.Record.Offset+1)
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer cancel()
	if err := s.waitPositions(wctx, target); err != nil {
		s.log.Debug("written record not applied yet", "err", err)
	}
	return nil
}

// produce writes recs and returns once Kafka acknowledged all of them, or
// when ctx ends, whichever comes first. ProduceSync alone can outlast ctx by
// a whole broker outage: franz-go fails a record whose context ended only
// while the record is not in flight, and a record sent in a request whose
// answer never came (the broker was killed or stalled mid-request) stays in
// flight until a broker answers, as failing it could break the idempotent
// producer's sequence (see kgo.Client.Produce). Records left behind when ctx
// ends stay with the client, which writes them once Kafka is back: what
// they say is safe to apply late (a window only ever moves forward, see
// entry.merge; a consent change carries its time and loses to a newer one).
func (s *Store) produce(ctx context.Context, recs []*kgo.Record) (kgo.ProduceResults, error) {
	res := make(kgo.ProduceResults, len(recs))
	done := make(chan struct{})
	var left atomic.Int32
	left.Store(int32(len(recs)))
	for i, r := range recs {
		s.prod.Produce(ctx, r, func(r *kgo.Record, err error) {
			res[i] = kgo.ProduceResult{Record: r, Err: err}
			if left.Add(-1) == 0 {
				close(done)
			}
		})
	}
	select {
	case <-done:
		return res, res.FirstErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Window returns the state of user's window with business number, as of
// now. An expired window is dropped from memory on the way.
func (s *Store) Window(number, user string) State {
	now := s.now()
	h := s.hashKey(number, user)
	s.mu.Lock()
	e, ok := s.windows[h]
	if ok && e.expired(now) && !e.tracked() {
		delete(s.windows, h)
	}
	s.mu.Unlock()
	return e.state().at(now, s.cfg.Grace)
}

// WaitOpen returns as soon as user's window is open (a record opening it
// was applied), or after limit, or when ctx ends, with the state then.
func (s *Store) WaitOpen(ctx context.Context, number, user string, limit time.Duration) State {
	h := s.hashKey(number, user)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		now := s.now()
		s.mu.Lock()
		st := s.windows[h].state().at(now, s.cfg.Grace)
		if st.Status == Open || limit <= 0 {
			s.mu.Unlock()
			return st
		}
		ch := make(chan struct{})
		s.waiters[h] = append(s.waiters[h], ch)
		s.mu.Unlock()
		select {
		case <-ch:
			continue
		case <-timer.C:
		case <-ctx.Done():
		}
		s.mu.Lock()
		ws := s.waiters[h]
		for i, w := range ws {
			if w == ch {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(s.waiters, h)
		} else {
			s.waiters[h] = ws
		}
		st = s.windows[h].state().at(s.now(), s.cfg.Grace)
		s.mu.Unlock()
		return st
	}
}

// Sweep drops expired windows from memory and writes tombstones for those
// whose newest record this Store wrote (other instances tombstone theirs;
// retention removes what nobody did). Run calls it every SweepInterval.
// It returns how many windows it dropped and tombstones it wrote.
func (s *Store) Sweep(ctx context.Context) (dropped, tombstones int) {
	now := s.now()
	var recs []*kgo.Record
	s.mu.Lock()
	for s.tomb.Len() > 0 && s.tomb[0].expiry <= now.Unix() {
		it := heap.Pop(&s.tomb).(tombItem)
		h := maphash.String(s.seed, it.key)
		e, ok := s.windows[h]
		switch {
		case !ok:
		case !e.expired(now) && e.mine():
			heap.Push(&s.tomb, tombItem{expiry: e.expiry(), key: it.key})
		case !e.expired(now):
			s.windows[h] = e &^ trackBit
		default:
			if e.mine() {
				recs = append(recs, &kgo.Record{Topic: s.cfg.WindowTopic, Key: []byte(it.key)})
			}
			delete(s.windows, h)
			dropped++
		}
	}
	for h, e := range s.windows {
		if !e.tracked() && e.expired(now) {
			delete(s.windows, h)
			dropped++
		}
	}
	s.mu.Unlock()
	if len(recs) > 0 {
		if err := s.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			s.log.Warn("writing tombstones of expired windows failed; retention removes them", "tombstones", len(recs), "err", err)
		} else {
			tombstones = len(recs)
			s.tombstones.Add(int64(len(recs)))
		}
	}
	if dropped > 0 {
		s.log.Debug("expired windows swept", "dropped", dropped, "tombstones", tombstones)
	}
	return dropped, tombstones
}

// tombItem is a window this Store owns, due for a look at expiry.
type tombItem struct {
	expiry int64 // Unix seconds
	key    string
}

type tombHeap []tombItem

func (h tombHeap) Len() int           { return len(h) }
func (h tombHeap) Less(i, j int) bool { return h[i].expiry < h[j].expiry }
func (h tombHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *tombHeap) Push(x any)        { *h = append(*h, x.(tombItem)) }
func (h *tombHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
