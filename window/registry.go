package window

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Consent returns user's consent for business number.
func (s *Store) Consent(number, user string) Consent {
	h := s.hashKey(number, user)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.consents[h]
	if !ok {
		return Consent{}
	}
	return p.unpack(s.otherCats[h])
}

// ChangeConsent applies ch to user's consent for business number and
// writes the result, unless the recorded consent is a newer decision (a
// later At, in whole seconds): 360dialog retries a webhook answered 503 for
// days, so a START can arrive after the STOP the user sent later, and must
// not undo it. While Run runs it waits for Ready and catches up (Sync)
// first, so the comparison sees changes other instances recorded; a change
// of one category keeps the rest of the consent, so it needs Run. Changes
// by one Store are serialised; two instances changing one user's consent at
// the same moment can lose one change.
func (s *Store) ChangeConsent(ctx context.Context, number, user string, ch Change) error {
	if ch.Action == NoAction || user == "" {
		return nil
	}
	if number == "" {
		return errNoNumber
	}
	if ch.At.IsZero() {
		ch.At = s.now()
	}
	select {
	case s.consentMu <- struct{}{}:
		defer func() { <-s.consentMu }()
	case <-ctx.Done():
		return fmt.Errorf("waiting for an earlier consent change: %w", ctx.Err())
	}
	if ch.Action == StopCategory || ch.Action == ResumeCategory {
		if !s.running.Load() {
			return errors.New("window: a category change needs the restored opt-in state: Run the Store")
		}
	}
	if s.running.Load() {
		if err := s.WaitReady(ctx); err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
		err := s.sync(sctx, optinTopic)
		cancel()
		if err != nil {
			return fmt.Errorf("catching up with %s before changing a consent: %w", s.cfg.OptinTopic, err)
		}
	}
	cur := s.Consent(number, user)
	if cur.Known() && ch.At.Unix() < cur.At.Unix() {
		s.log.Info("consent change older than the recorded one ignored", "phone_number_id", number, "user", user,
			"action", ch.Action.String(), "source", ch.Source, "at", ch.At, "recorded_at", cur.At)
		return nil
	}
	next := cur.Apply(ch)
	key := Key(number, user)
	return s.write(ctx, &kgo.Record{Topic: s.cfg.OptinTopic, Key: []byte(key), Value: next.Value().Encode()})
}

// Inbound is one message from a user, as the webhook reports it.
type Inbound struct {
	// Number is the business number's phone_number_id (metadata).
	Number string
	// Users are the ids of the sender: wa_id (from) and business-scoped
	// user id (from_user_id); empty ones are skipped.
	Users []string
	// At is the message's timestamp.
	At time.Time
	// Text is what keywords are matched against: the body of a text
	// message, the text of a quick-reply button; empty otherwise.
	Text string
}

// Inbound records what one user message means: it opens the window of
// every id of the user and, when Text is a whole keyword, opts the user
// out or in for this business number (Config.Keywords). It returns once
// Kafka has the records.
func (s *Store) Inbound(ctx context.Context, m Inbound) error {
	if err := s.Opened(ctx, m.Number, m.At, m.Users...); err != nil {
		return err
	}
	a, word := s.cfg.Keywords.Match(m.Text)
	if a == NoAction {
		return nil
	}
	for _, u := range m.Users {
		if u == "" {
			continue
		}
		if err := s.ChangeConsent(ctx, m.Number, u, Change{Action: a, Source: "keyword:" + word, At: m.At}); err != nil {
			return err
		}
		s.log.Info("consent changed by keyword", "phone_number_id", m.Number, "user", u, "keyword", word, "action", a.String())
	}
	return nil
}
