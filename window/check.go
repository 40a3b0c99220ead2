package window

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Message is one outbound message to check. Mark-as-read and typing
// bodies are not messages: do not check them.
type Message struct {
	// Number is the business number's phone_number_id.
	Number string
	// User is the recipient (to or recipient of the command).
	User string
	// Template: the message is a template (type "template").
	Template bool
	// Category of the template (command header template-category until the
	// template catalogue exists), e.g. "marketing".
	Category string
	// Wait is how long a free-form message may wait for its window to open
	// before it is rejected (command header window-wait); capped at
	// Config.MaxWait.
	Wait time.Duration
}

// Check decides whether m may be sent. A free-form message whose window is
// not open first makes the Store catch up with its topics (Sync: every
// record acknowledged before Check began is applied), then, under window
// mode enforce, waits up to m.Wait for the window to open. A template a
// rule can stop (a marketing one; any under opt-in mode enforce) catches up
// with the opt-in topic before the decision. Before Ready, Check waits for
// it. The error is ctx's, when ctx ended before a decision, or ErrStopped
// for a rejection after Run ended: the caller should then leave the
// command for a later attempt, not reject it.
func (s *Store) Check(ctx context.Context, m Message) (Decision, error) {
	if err := s.WaitReady(ctx); err != nil {
		return Decision{}, err
	}
	if m.Template {
		// A template can only be stopped by an opt-out, which must be seen
		// however recent: catch up first when a rule can stop it.
		if Family(m.Category) == "marketing" || s.cfg.OptInMode == Enforce {
			s.syncFor(ctx, optinTopic)
		}
		d := DecideOptIn(s.cfg.OptInMode, s.Consent(m.Number, m.User), true, m.Category)
		if err := ctx.Err(); err != nil {
			return Decision{}, err
		}
		return d, s.stale(d)
	}
	if s.cfg.WindowMode == Off {
		return Decision{Allow: true}, nil
	}
	d := Decide(s.cfg.WindowMode, s.Window(m.Number, m.User), false, s.now(), s.cfg.Grace)
	if d.Reason == "" {
		return d, nil
	}
	s.syncFor(ctx, windowsTopic)
	st := s.Window(m.Number, m.User)
	if wait := min(m.Wait, s.cfg.MaxWait); wait > 0 && s.cfg.WindowMode == Enforce && st.Status != Open {
		st = s.WaitOpen(ctx, m.Number, m.User, wait)
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	d = Decide(s.cfg.WindowMode, st, false, s.now(), s.cfg.Grace)
	return d, s.stale(d)
}

// ErrStopped is Check's error for a rejection it will not make because Run
// has ended: the view Run left may miss a window opened or a consent given
// since, so the caller should leave the message for a later attempt (on
// this or another instance) rather than reject it.
var ErrStopped = errors.New("window: the Store no longer follows its topics; not rejecting on a view that may be stale")

// stale returns ErrStopped when d rejects and Run has ended.
func (s *Store) stale(d Decision) error {
	if !d.Allow && s.started.Load() && !s.running.Load() {
		return ErrStopped
	}
	return nil
}

func (s *Store) syncFor(ctx context.Context, mask uint8) {
	sctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer cancel()
	if err := s.sync(sctx, mask); err != nil && ctx.Err() == nil {
		if last := s.syncWarned.Load(); time.Since(time.Unix(0, last)) > 10*time.Second && s.syncWarned.CompareAndSwap(last, time.Now().UnixNano()) {
			s.log.Warn("could not catch up with the window and opt-in topics before deciding; deciding on what is known", "err", err)
		}
	}
}

// Sync returns once the follower has applied every record that the topics
// held when Sync was called: a record acknowledged before (e.g. the window
// another instance opened before the message event that led to this
// command was published, or an opt-out) is then visible. Concurrent calls
// share one listing of the end offsets, issued after the last of them
// began, so Sync costs one round trip to Kafka however many wait.
func (s *Store) Sync(ctx context.Context) error { return s.sync(ctx, bothTopics) }

func (s *Store) sync(ctx context.Context, mask uint8) error {
	if !s.running.Load() {
		return errors.New("window: Sync needs Run")
	}
	y := &s.syncers[mask]
	y.mu.Lock()
	r := y.next
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		y.next = r
	}
	if !y.syncing {
		y.syncing = true
		y.next = nil
		go s.syncRounds(y, r, mask)
	}
	y.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if r.err != nil {
		return r.err
	}
	return s.waitPositions(ctx, r.ends)
}

// syncer gathers concurrent Sync calls into rounds: a round lists the end
// offsets once for every caller that arrived before it started.
type syncer struct {
	mu      sync.Mutex
	syncing bool       // a round is listing offsets
	next    *syncRound // the round new callers join; it starts after the current one
}

type syncRound struct {
	done chan struct{}
	ends map[tp]int64
	err  error
}

// syncRounds runs r, then the round that gathered meanwhile, if any.
func (s *Store) syncRounds(y *syncer, r *syncRound, mask uint8) {
	for r != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.SyncTimeout)
		r.ends, r.err = s.listOffsets(ctx, true, mask)
		cancel()
		close(r.done)
		y.mu.Lock()
		r, y.next = y.next, nil
		y.syncing = r != nil
		y.mu.Unlock()
	}
}
