package window_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/window"
)

// clock is an injected clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// topics names a pair of topics for one test.
type topics struct {
	brokers        []string
	windows, optin string
}

// setup names a pair of topics and a clock for one test, with a context
// that ends with the test.
func setup(t *testing.T) (topics, *clock, context.Context) {
	t.Helper()
	tp := topics{brokers: kafkatest.Brokers(t), windows: kafkatest.Topic(t, "windows"), optin: kafkatest.Topic(t, "optin")}
	return tp, newClock(), ctxT(t)
}

// start runs a Store on tp until the test ends and waits until it is ready.
func start(t *testing.T, tp topics, now func() time.Time, edit ...func(*window.Config)) *window.Store {
	t.Helper()
	s, _ := startStoppable(t, tp, now, edit...)
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const number = "100000000000001"

// check is Check failing the test on an error.
func check(t *testing.T, s *window.Store, ctx context.Context, m window.Message) window.Decision {
	t.Helper()
	d, err := s.Check(ctx, m)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return d
}

// opened is Opened of number failing the test on an error.
func opened(t *testing.T, ctx context.Context, s *window.Store, at time.Time, users ...string) {
	t.Helper()
	if err := s.Opened(ctx, number, at, users...); err != nil {
		t.Fatalf("Opened: %v", err)
	}
}

func TestWindowOpenedOnOneInstanceIsHonouredByAnother(t *testing.T) {
	tp, clk, ctx := setup(t)
	a := start(t, tp, clk.Now)
	b := start(t, tp, clk.Now)

	text := window.Message{Number: number, User: "+1 555-000 1111"}
	if d := check(t, b, ctx, text); d.Allow || d.Reason != window.ReasonOutsideWindow || d.Window.Status != window.Unknown {
		t.Fatalf("before any message: got %+v, want rejected outside_customer_service_window with an unknown window", d)
	}
	if d := check(t, b, ctx, window.Message{Number: number, User: "15550001111", Template: true}); !d.Allow {
		t.Fatalf("template before any message: got %+v, want allowed", d)
	}

	// The webhook of a message from the user reaches A: the wa_id and the
	// business-scoped user id both open the window.
	at := clk.Now().Add(-time.Minute)
	opened(t, ctx, a, at, "15550001111", "US.13491208655302741918")
	d := check(t, b, ctx, text)
	if !d.Allow || d.Window.Status != window.Open || !d.Window.LastInbound.Equal(at) {
		t.Fatalf("after the message, on B: got %+v, want allowed with the window open since %s", d, at)
	}
	if st := b.Window(number, "US.13491208655302741918"); st.Status != window.Open {
		t.Fatalf("window of the business-scoped id on B: %v", st)
	}
	if st := b.Window("100000000000002", "15550001111"); st.Status != window.Unknown {
		t.Fatalf("another business number shares the window: %v", st)
	}

	// The API refuses a message on B with 131047: A sees the window closed.
	if err := b.Closed(ctx, number, "15550001111", clk.Now()); err != nil {
		t.Fatal(err)
	}
	// Check catches up only before rejecting (a stale open window costs one
	// refused API call, no more); here A catches up first.
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	d = check(t, a, ctx, text)
	if d.Allow || d.Reason != window.ReasonOutsideWindow || d.Window.Status != window.Closed || d.Window.ClosedAt.IsZero() {
		t.Fatalf("after 131047, on A: got %+v, want rejected with the window closed", d)
	}
	// A newer message opens it again.
	clk.Add(time.Second)
	opened(t, ctx, a, clk.Now(), "15550001111")
	if d := check(t, b, ctx, text); !d.Allow {
		t.Fatalf("after a newer message, on B: %+v", d)
	}
}

func TestRestartRestoresState(t *testing.T) {
	tp, clk, ctx := setup(t)
	a, stopA := startStoppable(t, tp, clk.Now)
	for i := range 50 {
		opened(t, ctx, a, clk.Now().Add(-time.Duration(i)*time.Minute), fmt.Sprint(15550000000+i))
	}
	if err := a.ChangeConsent(ctx, number, "15550000007", window.Change{Action: window.OptInAll, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := a.ChangeConsent(ctx, number, "15550000007", window.Change{Action: window.StopCategory, Category: "MARKETING"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Closed(ctx, number, "15550000003", clk.Now()); err != nil {
		t.Fatal(err)
	}
	stopA()

	c := start(t, tp, clk.Now)
	st := c.Stats()
	if st.Windows != 50 || st.Consents != 1 || !st.Ready {
		t.Fatalf("restored stats %+v, want 50 windows and 1 consent", st)
	}
	if w := c.Window(number, "15550000049"); w.Status != window.Open || !w.LastInbound.Equal(clk.Now().Add(-49*time.Minute)) {
		t.Fatalf("restored window: %v", w)
	}
	if w := c.Window(number, "15550000003"); w.Status != window.Closed {
		t.Fatalf("restored closed window: %v", w)
	}
	cons := c.Consent(number, "15550000007")
	if cons.General != window.OptedIn || cons.For("marketing") != window.OptedOut || cons.For("utility") != window.OptedIn {
		t.Fatalf("restored consent: %+v", cons)
	}
}

// startStoppable is start with a stop function for restarts; the test's
// end stops the Store too.
func startStoppable(t *testing.T, tp topics, now func() time.Time, edit ...func(*window.Config)) (*window.Store, func()) {
	t.Helper()
	cfg := window.Config{
		Brokers: tp.brokers, WindowTopic: tp.windows, OptinTopic: tp.optin,
		Partitions: 3, Now: now, SweepInterval: time.Hour, // tests sweep by hand
	}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := window.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := ctxT(t)
	if err := s.EnsureTopics(ctx); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			s.Close()
		})
	}
	t.Cleanup(stop)
	if err := s.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return s, stop
}

func TestExpiryWithInjectedClock(t *testing.T) {
	tp, clk, ctx := setup(t)
	a := start(t, tp, clk.Now)
	b := start(t, tp, clk.Now)
	openedAt := clk.Now()
	opened(t, ctx, a, openedAt, "15550001111")
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	msg := window.Message{Number: number, User: "15550001111"}

	clk.Add(window.Length - 2*time.Minute)
	if d := check(t, b, ctx, msg); !d.Allow {
		t.Fatalf("2 minutes before the end: %+v", d)
	}
	clk.Add(90 * time.Second) // 30 s before WhatsApp closes it: inside the grace
	d := check(t, b, ctx, msg)
	if d.Allow || d.Reason != window.ReasonOutsideWindow || d.Window.Status != window.Closed {
		t.Fatalf("30 s before the end (grace 60 s): got %+v, want rejected", d)
	}
	if want := openedAt.Add(window.Length); !d.Window.ClosesAt.Equal(want) {
		t.Fatalf("closes at %s, want %s", d.Window.ClosesAt, want)
	}

	clk.Add(time.Minute) // past the end
	// B does not own the window: it drops it without a tombstone.
	if dropped, tombs := b.Sweep(ctx); dropped != 1 || tombs != 0 {
		t.Fatalf("sweep on B: dropped %d, tombstones %d; want 1, 0", dropped, tombs)
	}
	// A wrote the window's newest record: it drops it and writes the tombstone.
	if dropped, tombs := a.Sweep(ctx); dropped != 1 || tombs != 1 {
		t.Fatalf("sweep on A: dropped %d, tombstones %d; want 1, 1", dropped, tombs)
	}
	if st := a.Stats(); st.Windows != 0 || st.Tracked != 0 {
		t.Fatalf("A after the sweep: %+v", st)
	}
	if st := b.Window(number, "15550001111"); st.Status != window.Unknown {
		t.Fatalf("B after the sweep: %v", st)
	}
	last := lastRecords(t, tp.brokers, tp.windows)
	if v, ok := last[window.Key(number, "15550001111")]; !ok || v != nil {
		t.Fatalf("newest record of the key: %q (present %v), want a tombstone", v, ok)
	}
	// A restart after expiry keeps nothing, even before compaction.
	c := start(t, tp, clk.Now)
	if st := c.Stats(); st.Windows != 0 {
		t.Fatalf("restored after expiry: %+v", st)
	}
}

func TestLazyExpiryDropsMemory(t *testing.T) {
	tp, clk, ctx := setup(t)
	a := start(t, tp, clk.Now)
	b := start(t, tp, clk.Now)
	opened(t, ctx, a, clk.Now(), "15550001111")
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(window.Length)
	if st := b.Window(number, "15550001111"); st.Status != window.Closed {
		t.Fatalf("at expiry: %v", st)
	}
	if st := b.Stats(); st.Windows != 0 {
		t.Fatalf("a lookup of an expired window keeps it in memory: %+v", st)
	}
}

func TestOptOutBlocksSends(t *testing.T) {
	tp, clk, ctx := setup(t)
	in := start(t, tp, clk.Now)                                                           // takes webhooks
	off := start(t, tp, clk.Now)                                                          // sends, opt-in mode off (default)
	enf := start(t, tp, clk.Now, func(c *window.Config) { c.OptInMode = window.Enforce }) // sends, enforce
	user := "15550002222"
	marketing := window.Message{Number: number, User: user, Template: true, Category: "MARKETING"}
	utility := window.Message{Number: number, User: user, Template: true, Category: "utility"}

	if d := check(t, off, ctx, marketing); !d.Allow {
		t.Fatalf("marketing, no record, mode off: %+v", d)
	}
	if d := check(t, enf, ctx, utility); d.Allow || d.Reason != window.ReasonNoOptIn {
		t.Fatalf("utility, no record, mode enforce: %+v", d)
	}

	// The user writes STOP.
	if err := in.Inbound(ctx, window.Inbound{Number: number, Users: []string{user}, At: clk.Now(), Text: "  stop\n"}); err != nil {
		t.Fatal(err)
	}
	if d := check(t, off, ctx, marketing); d.Allow || d.Reason != window.ReasonOptedOut {
		t.Fatalf("marketing after STOP, mode off: got %+v, want rejected opted_out", d)
	}
	if d := check(t, off, ctx, utility); !d.Allow || d.Reason != "" {
		t.Fatalf("utility after STOP, mode off: got %+v, want allowed", d)
	}
	if d := check(t, enf, ctx, utility); d.Allow || d.Reason != window.ReasonOptedOut {
		t.Fatalf("utility after STOP, mode enforce: %+v", d)
	}
	// STOP also opened the window: a free-form answer goes out.
	if d := check(t, off, ctx, window.Message{Number: number, User: user}); !d.Allow {
		t.Fatalf("free-form answer to STOP: %+v", d)
	}

	// START, then Meta's user_preferences stop of marketing messages.
	clk.Add(time.Minute)
	if err := in.Inbound(ctx, window.Inbound{Number: number, Users: []string{user}, At: clk.Now(), Text: "Start"}); err != nil {
		t.Fatal(err)
	}
	if d := check(t, enf, ctx, marketing); !d.Allow {
		t.Fatalf("marketing after START, enforce: %+v", d)
	}
	ch := window.UserPreference("marketing_messages", "stop")
	ch.At = clk.Now()
	if err := in.ChangeConsent(ctx, number, user, ch); err != nil {
		t.Fatal(err)
	}
	if d := check(t, enf, ctx, marketing); d.Allow || d.Reason != window.ReasonOptedOut {
		t.Fatalf("marketing after user_preferences stop: %+v", d)
	}
	if d := check(t, enf, ctx, utility); !d.Allow {
		t.Fatalf("utility after a marketing-only stop: %+v", d)
	}
	ch = window.UserPreference("marketing_messages", "resume")
	if err := in.ChangeConsent(ctx, number, user, ch); err != nil {
		t.Fatal(err)
	}
	if d := check(t, off, ctx, marketing); !d.Allow {
		t.Fatalf("marketing after resume: %+v", d)
	}
	// Consent is per business number.
	if d := check(t, enf, ctx, window.Message{Number: "100000000000002", User: user, Template: true, Category: "utility"}); d.Reason != window.ReasonNoOptIn {
		t.Fatalf("another business number: %+v", d)
	}
}

func TestWaitOpenWakesOnLiveRecord(t *testing.T) {
	tp, clk, ctx := setup(t)
	a := start(t, tp, clk.Now)
	b := start(t, tp, clk.Now)

	got := make(chan window.State, 1)
	t0 := time.Now()
	go func() { got <- b.WaitOpen(ctx, number, "15550003333", 20*time.Second) }()
	time.Sleep(200 * time.Millisecond)
	opened(t, ctx, a, clk.Now(), "15550003333")
	select {
	case st := <-got:
		if st.Status != window.Open {
			t.Fatalf("WaitOpen returned %v", st)
		}
		if el := time.Since(t0); el > 10*time.Second {
			t.Fatalf("WaitOpen took %s", el)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("WaitOpen did not wake")
	}

	// A command with window-wait, the inbound message a moment later.
	type checked struct {
		d   window.Decision
		err error
	}
	dc := make(chan checked, 1)
	go func() {
		d, err := b.Check(ctx, window.Message{Number: number, User: "15550004444", Wait: 15 * time.Second})
		dc <- checked{d, err}
	}()
	time.Sleep(300 * time.Millisecond)
	opened(t, ctx, a, clk.Now(), "15550004444")
	if c := <-dc; c.err != nil || !c.d.Allow {
		t.Fatalf("Check with a wait: %+v, %v", c.d, c.err)
	}
	// Without the message it gives up after the wait.
	t1 := time.Now()
	if d := check(t, b, ctx, window.Message{Number: number, User: "15550005555", Wait: 300 * time.Millisecond}); d.Allow {
		t.Fatalf("Check with a wait and no message: %+v", d)
	}
	if el := time.Since(t1); el < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before the wait", el)
	}
}

func TestStaleRecordAndTombstoneAreHealed(t *testing.T) {
	tp, clk, ctx := setup(t)
	a := start(t, tp, clk.Now)
	key := window.Key(number, "15550006666")
	opened(t, ctx, a, clk.Now(), "15550006666")
	// Another instance writes an older state after it (a webhook retried
	// late), then a tombstone (a sweep with a clock ahead).
	old := window.WindowValue{LastInboundAt: clk.Now().Add(-time.Hour).UnixMilli(), By: "wb-other"}
	produce(t, tp.brokers, &kgo.Record{Topic: tp.windows, Key: []byte(key), Value: old.Encode()})
	waitFor(t, func() bool { return a.Stats().Heals == 1 })
	produce(t, tp.brokers, &kgo.Record{Topic: tp.windows, Key: []byte(key)})
	waitFor(t, func() bool { return a.Stats().Heals == 2 })
	waitFor(t, func() bool {
		v, ok := lastRecords(t, tp.brokers, tp.windows)[key]
		if !ok || v == nil {
			return false
		}
		w, err := window.DecodeWindow(v)
		return err == nil && w.LastInboundAt == clk.Now().UnixMilli() && w.By == a.InstanceID()
	})
	if st := a.Window(number, "15550006666"); st.Status != window.Open {
		t.Fatalf("after the stale record and the tombstone: %v", st)
	}
	// A restart reads the healed state.
	b := start(t, tp, clk.Now)
	if st := b.Window(number, "15550006666"); st.Status != window.Open || !st.LastInbound.Equal(clk.Now()) {
		t.Fatalf("restored after heal: %v", st)
	}
}

func TestInvalidRecordsAreSkipped(t *testing.T) {
	tp, clk, _ := setup(t)
	a := start(t, tp, clk.Now)
	good := window.WindowValue{LastInboundAt: clk.Now().UnixMilli()}.Encode()
	produce(t, tp.brokers,
		&kgo.Record{Topic: tp.windows, Key: []byte("no-separator"), Value: good},
		&kgo.Record{Topic: tp.windows, Key: []byte(number + "|1"), Value: []byte("not json")},
		&kgo.Record{Topic: tp.windows, Key: []byte(number + "|2"), Value: []byte(`{"last_inbound_at":-5}`)},
		&kgo.Record{Topic: tp.optin, Key: []byte(number + "|3"), Value: []byte(`{"opted_in":"yes"}`)},
		&kgo.Record{Topic: tp.windows, Key: []byte(number + "|4"), Value: good},
	)
	waitFor(t, func() bool { return a.Stats().Invalid == 4 && a.Window(number, "4").Status == window.Open })
	// A restart is not stopped by them either.
	b := start(t, tp, clk.Now)
	if st := b.Stats(); st.Invalid != 4 || st.Windows != 1 {
		t.Fatalf("restore over invalid records: %+v", st)
	}
}

// A platform producer that keys a consent with the phone number as
// written ("+1 555-000 0005") would have it ignored without a word, since
// lookups use the digits: the record counts as invalid and is logged.
func TestConsentKeyedByPunctuatedPhoneIsInvalid(t *testing.T) {
	tp, clk, _ := setup(t)
	a := start(t, tp, clk.Now)
	out := window.ConsentValue{OptedIn: new(bool), Source: "crm"}.Encode()
	produce(t, tp.brokers,
		&kgo.Record{Topic: tp.optin, Key: []byte(number + "|+1 555-000 0005"), Value: out},
		&kgo.Record{Topic: tp.optin, Key: []byte(number + "|15550000006"), Value: out},
	)
	waitFor(t, func() bool {
		return a.Stats().Invalid == 1 && a.Consent(number, "15550000006").General == window.OptedOut
	})
	if st := a.Stats(); st.Consents != 1 {
		t.Fatalf("consents kept: %+v, want 1", st)
	}
}

// Platform producers may write the opt-in topic in transactions: a
// partition then ends in a commit marker, an offset no consumer ever
// returns. The restore must still end.
func TestRestoreEndsAtTransactionMarkers(t *testing.T) {
	tp, clk, ctx := setup(t)
	a := start(t, tp, clk.Now) // creates the topics
	tx, err := kgo.NewClient(kgo.SeedBrokers(tp.brokers...), kgo.TransactionalID(tp.optin+"-tx"), kgo.DefaultProduceTopic(tp.optin))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	yes := true
	for i := range 5 {
		v := window.ConsentValue{OptedIn: &yes, Source: "crm", At: clk.Now().UnixMilli()}
		if err := tx.ProduceSync(ctx, &kgo.Record{Key: []byte(window.Key(number, fmt.Sprint(i))), Value: v.Encode()}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return a.Stats().Consents == 5 })
	// Sync must end although the last offsets are markers.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Sync(sctx); err != nil {
		t.Fatalf("Sync over transaction markers: %v", err)
	}
	b := start(t, tp, clk.Now)
	if st := b.Stats(); st.Consents != 5 {
		t.Fatalf("restored over transaction markers: %+v", st)
	}
	// Each new transaction ends in a new marker: a check of a marketing
	// template (which catches up first) stays fast.
	for i := range 3 {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		no := false
		v := window.ConsentValue{OptedIn: &no, Source: "crm"}
		if err := tx.ProduceSync(ctx, &kgo.Record{Key: []byte(window.Key(number, fmt.Sprint(i))), Value: v.Encode()}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		d := check(t, b, ctx, window.Message{Number: number, User: fmt.Sprint(i), Template: true, Category: "marketing"})
		if d.Allow || d.Reason != window.ReasonOptedOut {
			t.Fatalf("marketing right after a transactional opt-out: %+v", d)
		}
		if el := time.Since(t0); el > 900*time.Millisecond {
			t.Fatalf("check after a transaction took %s", el)
		}
	}
}

func TestRunFailsWithoutTopics(t *testing.T) {
	s, err := window.New(window.Config{Brokers: kafkatest.Brokers(t), WindowTopic: kafkatest.Topic(t, "w"), OptinTopic: kafkatest.Topic(t, "o")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Run(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Run without topics: %v", err)
	}
}

func produce(t *testing.T, brokers []string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastRecords reads topic to its end and returns the newest value of each
// key (nil for a tombstone).
func lastRecords(t *testing.T, brokers []string, topic string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := kafkaio.Conn{Brokers: brokers}.ReadTopic(ctxT(t), topic, func(r *kgo.Record) error {
		out[string(r.Key)] = r.Value
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return out
}
