package window_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/window"
)

// A START answered 503, then STOP, then 360dialog's retry of the START: the
// user's newest decision (by WhatsApp's timestamps) stands, on the instance
// that takes the retry, on one that follows, and after a restart.
func TestOlderConsentChangeLosesToNewer(t *testing.T) {
	tp, clk, ctx := setup(t)
	a := start(t, tp, clk.Now)
	b := start(t, tp, clk.Now)
	user := "15550007777"
	startAt := clk.Now().Add(-2 * time.Minute)
	stop := clk.Now().Add(-time.Minute)
	if err := b.Inbound(ctx, window.Inbound{Number: number, Users: []string{user}, At: stop, Text: "STOP"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Inbound(ctx, window.Inbound{Number: number, Users: []string{user}, At: startAt, Text: "START"}); err != nil {
		t.Fatal(err)
	}
	ch := window.UserPreference("marketing_messages", "resume")
	ch.At = startAt
	if err := a.ChangeConsent(ctx, number, user, ch); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*window.Store{"retried on a": a, "followed by b": b} {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if c := s.Consent(number, user); c.General != window.OptedOut || len(c.Categories) != 0 || !c.At.Equal(stop) {
			t.Fatalf("%s: consent %+v, want opted out at %s (the STOP)", name, c, stop)
		}
	}
	if r := start(t, tp, clk.Now); r.Consent(number, user).General != window.OptedOut {
		t.Fatalf("restored: %+v, want opted out", r.Consent(number, user))
	}
	// A newer change still applies.
	if err := a.Inbound(ctx, window.Inbound{Number: number, Users: []string{user}, At: clk.Now(), Text: "START"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if c := b.Consent(number, user); c.General != window.OptedIn {
		t.Fatalf("after a newer START: %+v, want opted in", c)
	}
}

// An opt-in record older than the state (a write that outlived its request,
// landing after a newer change) does not undo the newer decision: every
// follower keeps the newer one and writes it again, so compaction keeps it.
func TestLateConsentRecordIsHealed(t *testing.T) {
	tp, clk, ctx := setup(t)
	a := start(t, tp, clk.Now)
	user := "15550008888"
	key := window.Key(number, user)
	if err := a.ChangeConsent(ctx, number, user, window.Change{Action: window.OptOutAll, Source: "keyword:STOP", At: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	yes := true
	late := window.ConsentValue{OptedIn: &yes, Source: "keyword:START", At: clk.Now().Add(-time.Minute).UnixMilli()}
	produce(t, tp.brokers, &kgo.Record{Topic: tp.optin, Key: []byte(key), Value: late.Encode()})
	waitFor(t, func() bool {
		v, err := window.DecodeConsent(lastRecords(t, tp.brokers, tp.optin)[key])
		return err == nil && v.OptedIn != nil && !*v.OptedIn && v.At == clk.Now().UnixMilli()
	})
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if c := a.Consent(number, user); c.General != window.OptedOut {
		t.Fatalf("after a late older record: %+v, want opted out", c)
	}
	if r := start(t, tp, clk.Now); r.Consent(number, user).General != window.OptedOut {
		t.Fatalf("restored: %+v, want opted out", r.Consent(number, user))
	}
}

// A Store whose Run ended (shutdown began) while the outbound side still
// sends for its grace period does not reject on the view it was left with:
// the window opened on another instance since must not turn into a final
// rejection. Check says ErrStopped instead, and the command waits for a
// later attempt.
func TestNoRejectionAfterRunEnded(t *testing.T) {
	tp, clk, ctx := setup(t)
	other := start(t, tp, clk.Now)
	s, stop := startStoppable(t, tp, clk.Now)
	user := "15550009999"
	stop()
	opened(t, ctx, other, clk.Now(), user)
	_, err := s.Check(ctx, window.Message{Number: number, User: user})
	if !errors.Is(err, window.ErrStopped) {
		t.Fatalf("Check of a reply after Run ended, window opened elsewhere: %v, want ErrStopped", err)
	}
	// What it can allow it still allows.
	if d, err := s.Check(ctx, window.Message{Number: number, User: user, Template: true, Category: "utility"}); err != nil || !d.Allow {
		t.Fatalf("template after Run ended: %+v, %v; want allowed", d, err)
	}
}
