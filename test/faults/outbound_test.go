package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/schemas"
)

// api is the 360dialog stand-in behind a recorder of what it accepted: the
// suite's independent view of what reached the API, in order.
type api struct {
	stand *d360test.Server
	srv   *httptest.Server
	mu    sync.Mutex
	sent  []int // command numbers, in the order the API accepted them
	calls int
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func newAPI(t *testing.T, reply func(d360test.Request) *d360test.Reply) *api {
	a := &api{stand: d360test.New(d360test.Config{APIKey: "k", Statuses: []string{}, Reply: reply})}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(raw)))
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		a.stand.ServeHTTP(sw, r)
		var b struct {
			Text struct {
				Body string `json:"body"`
			} `json:"text"`
		}
		json.Unmarshal(raw, &b)
		n, err := strconv.Atoi(strings.TrimPrefix(b.Text.Body, "m"))
		a.mu.Lock()
		defer a.mu.Unlock()
		a.calls++
		if err == nil && sw.code == http.StatusOK && r.Context().Err() == nil {
			a.sent = append(a.sent, n)
		}
	}))
	t.Cleanup(func() { a.srv.Close(); a.stand.Close() })
	return a
}

// outbound is a stream of n commands to recipients users (command i goes
// to user i%users, so each user's commands are in order i, i+users, …).
type outbound struct {
	t       *testing.T
	brokers []string
	tp      topics
	env     []string
	dec     *schemas.Decoder
	api     *api
	n       int
	users   int
}

func newOutbound(t *testing.T, brokers []string, n, users int, reply func(d360test.Request) *d360test.Reply) *outbound {
	reg := registry(t)
	client, err := sr.NewClient(sr.URLs(reg))
	if err != nil {
		t.Fatal(err)
	}
	o := &outbound{t: t, brokers: brokers, tp: newTopics(t), dec: schemas.NewDecoder(client), api: newAPI(t, reply), n: n, users: users}
	o.env = append(o.tp.env(4),
		"KAFKA_BROKERS="+strings.Join(brokers, ","), "SCHEMA_REGISTRY_URL="+reg,
		"D360_API_KEY=k", "D360_BASE_URL="+o.api.srv.URL, "D360_TIMEOUT=2s",
		"WABRIDGE_ONLY=outbound", "WABRIDGE_WINDOW_MODE=off", "WABRIDGE_TEMPLATE_REFRESH=0",
		"WABRIDGE_MAX_IN_FLIGHT=32", "WABRIDGE_RATE=1000", "WABRIDGE_MAX_ATTEMPTS=30",
		"WABRIDGE_BACKOFF_MIN=100ms", "WABRIDGE_BACKOFF_MAX=1s",
	)
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		to := o.user(i)
		msgs[i] = kafka.Message{Key: []byte(to), Value: []byte(fmt.Sprintf(`{"to":%q,"type":"text","text":{"body":"m%d"}}`, to, i)),
			Headers: []kafka.Header{{Key: "command-id", Value: []byte(fmt.Sprintf("c-%d", i))}}}
	}
	kafkatest.CreateTopics(t, brokers, 4, o.tp.commands)
	kafkatest.Produce(t, brokers, o.tp.commands, msgs...)
	return o
}

func (o *outbound) user(i int) string { return fmt.Sprintf("4916%08d", i%o.users) }

func (o *outbound) start(extra ...string) *bridge {
	return startBridge(o.t, append(append([]string(nil), o.env...), extra...)...)
}

// results reads the result topic: results per command id, and the
// outcomes seen.
func (o *outbound) results(timeout time.Duration) (perCommand map[string]int, outcomes map[string]int, records int) {
	perCommand, outcomes = map[string]int{}, map[string]int{}
	recs := readAll(o.t, o.brokers, o.tp.results, timeout)
	for _, m := range recs {
		v, _, err := o.dec.Decode(context.Background(), m.Value)
		if err != nil {
			o.t.Fatalf("decoding a result: %v", err)
		}
		perCommand[fmt.Sprint(v["command_id"])]++
		outcomes[fmt.Sprint(v["outcome"])]++
	}
	return perCommand, outcomes, len(recs)
}

// waitResults waits (at most limit) until every command has a result.
func (o *outbound) waitResults(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if got := kafkatest.ReadUpTo(o.t, o.brokers, o.tp.results, o.n, 10*time.Second); len(got) >= o.n {
			per, _, _ := o.results(5 * time.Second)
			if len(per) >= o.n {
				return
			}
		}
	}
}

// figures are what an outbound scenario reports.
type figures struct {
	lost, dupResults, dupSends, orderViolations, calls int
	outcomes                                           map[string]int
}

// check reads the results and the API's record and returns the figures:
// commands without a result, results beyond one per command, API
// acceptances beyond one per command, and per-user order violations (a
// command accepted after a later command of its user).
func (o *outbound) check() figures {
	per, outcomes, records := o.results(15 * time.Second)
	f := figures{outcomes: outcomes, dupResults: records - len(per)}
	for i := range o.n {
		if per[fmt.Sprintf("c-%d", i)] == 0 {
			f.lost++
			if f.lost <= 5 {
				o.t.Errorf("command c-%d has no result", i)
			}
		}
	}
	o.api.mu.Lock()
	defer o.api.mu.Unlock()
	f.calls = o.api.calls
	seen := map[int]bool{}
	last := map[int]int{} // user -> highest command number accepted so far
	for _, n := range o.api.sent {
		if seen[n] {
			f.dupSends++
			if f.dupSends <= 10 {
				o.t.Logf("command c-%d reached the API again", n)
			}
			continue
		}
		seen[n] = true
		u := n % o.users
		if l, ok := last[u]; ok && n < l {
			f.orderViolations++
		}
		last[u] = max(last[u], n)
	}
	return f
}

func (f figures) log(t *testing.T, scenario string) {
	t.Logf("FIGURES %s: lost %d, duplicate API sends %d, duplicate results %d, order violations %d, API calls %d, outcomes %v",
		scenario, f.lost, f.dupSends, f.dupResults, f.orderViolations, f.calls, f.outcomes)
}

// The broker is killed (SIGKILL) mid-stream and started again with its
// data 15 s later: nothing lost, order kept, and nothing sent twice: the
// process never stops, and only a crashed process may send a command
// again (the group takes the partitions away and hands them back; the
// outcomes the process got stay with it).
func TestOutboundBrokerCrash(t *testing.T) {
	outboundBrokerFault(t, faultBroker(t, true), "kill", "start", "outbound-broker-crash")
}

// The broker is stopped (SIGSTOP) for 15 s mid-stream: same checks.
func TestOutboundBrokerStall(t *testing.T) {
	outboundBrokerFault(t, faultBroker(t, false), "pause", "resume", "outbound-broker-stall")
}

// ambiguousAnswer starts the log line of an API call that got no answer
// (outbound.Worker.send): the outcome is unknown to the process itself.
const ambiguousAnswer = "no answer after the request was written: outcome unknown; sending again"

// outage is how long the outbound broker faults last: 15 s, or
// WABRIDGE_FAULTS_OUTAGE (a Go duration) to try other timings.
func outage(t *testing.T) time.Duration {
	v := os.Getenv("WABRIDGE_FAULTS_OUTAGE")
	if v == "" {
		return 15 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("WABRIDGE_FAULTS_OUTAGE: %v", err)
	}
	return d
}

func outboundBrokerFault(t *testing.T, brokers []string, down, up, scenario string) {
	o := newOutbound(t, brokers, 3000, 100, nil)
	o.env = append(o.env, "WABRIDGE_RATE=200") // a 15 s stream: the fault comes mid-stream
	b := o.start()
	kafkatest.ReadN(t, brokers, o.tp.results, 500, 60*time.Second)
	localKafka(t, down)
	time.Sleep(outage(t))
	localKafka(t, up)
	o.waitResults(3 * time.Minute)
	unknown := b.metric(t, "wabridge_sends_unknown_outcome_total")
	b.stop(t)
	f := o.check()
	f.log(t, scenario)
	// The one resend a live process may make: after an API call that got
	// no answer (D360_TIMEOUT on a loaded machine), with resend-unknown.
	ambiguous := b.lines(ambiguousAnswer)
	t.Logf("FIGURES %s: unknown outcomes %d, of which API calls without an answer %d", scenario, int(unknown), ambiguous)
	if f.lost > 0 || f.orderViolations > 0 || f.dupSends > ambiguous {
		t.Errorf("%s: %d lost, %d order violations, %d duplicate sends by a live process (%d API calls without an answer); want 0, 0 and at most the calls without an answer", scenario, f.lost, f.orderViolations, f.dupSends, ambiguous)
	}
}

// wabridge is killed (SIGKILL) every few seconds and started again, 6
// times, during 10,000 commands: nothing lost, order kept, and a command
// reaches the API twice only when a restarted process found its send with
// an unknown outcome (wabridge_sends_unknown_outcome_total).
func TestOutboundKill9Loop(t *testing.T) {
	brokers := faultBroker(t, false)
	o := newOutbound(t, brokers, 10000, 200, nil)
	unknown := 0.0
	for range 6 {
		b := o.start()
		time.Sleep(3 * time.Second)
		unknown += b.metric(t, "wabridge_sends_unknown_outcome_total")
		b.signal(9)
		<-b.done
	}
	b := o.start()
	o.waitResults(5 * time.Minute)
	unknown += b.metric(t, "wabridge_sends_unknown_outcome_total")
	b.stop(t)
	f := o.check()
	f.log(t, "kill-9-loop")
	t.Logf("FIGURES kill-9-loop: unknown outcomes found by restarted processes: %d", int(unknown))
	if f.lost > 0 || f.orderViolations > 0 {
		t.Errorf("kill -9 loop: %d lost, %d order violations; want 0 and 0", f.lost, f.orderViolations)
	}
	if f.dupSends > int(unknown) {
		t.Errorf("%d duplicate sends, more than the %d unknown outcomes", f.dupSends, int(unknown))
	}
}

// Three instances share the group; every 4 s one of them is stopped with
// SIGTERM and started again, for 40 s: no duplicate send, no order
// violation, every exit clean.
func TestRebalanceStorm(t *testing.T) {
	brokers := faultBroker(t, false)
	o := newOutbound(t, brokers, 10000, 200, nil)
	o.env = append(o.env, "WABRIDGE_RATE=80") // 3 × 80/s: the stream spans the storm
	bs := []*bridge{o.start(), o.start(), o.start()}
	for i := range 10 {
		time.Sleep(4 * time.Second)
		k := i % len(bs)
		bs[k].stop(t)
		bs[k] = o.start()
	}
	o.waitResults(5 * time.Minute)
	for _, b := range bs {
		b.stop(t)
	}
	f := o.check()
	f.log(t, "rebalance-storm")
	if f.lost > 0 || f.orderViolations > 0 || f.dupSends > 0 {
		t.Errorf("rebalance storm: %d lost, %d order violations, %d duplicate sends; want 0", f.lost, f.orderViolations, f.dupSends)
	}
}

// The API stalls (accepts connections, never answers) for 10 s, then
// flaps (503 every other second) for 20 s: nothing lost, order kept;
// duplicates are counted (a stalled call's outcome is unknown to wabridge,
// which sends again — the API has no idempotency key).
func TestAPIStallAndFlap(t *testing.T) {
	brokers := faultBroker(t, false)
	var mu sync.Mutex
	phase := "ok"
	setPhase := func(p string) { mu.Lock(); phase = p; mu.Unlock() }
	reply := func(d360test.Request) *d360test.Reply {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case phase == "stall":
			return &d360test.Reply{Status: 200, Body: `{}`, Delay: time.Minute}
		case phase == "flap" && time.Now().Second()%2 == 0:
			return &d360test.Reply{Status: 503, Body: `{"error":{"code":131016,"message":"Service unavailable"}}`}
		}
		return nil
	}
	o := newOutbound(t, brokers, 5000, 100, reply)
	o.env = append(o.env, "WABRIDGE_RATE=200")
	b := o.start()
	kafkatest.ReadN(t, brokers, o.tp.results, 300, 60*time.Second)
	setPhase("stall")
	time.Sleep(10 * time.Second)
	setPhase("flap")
	time.Sleep(20 * time.Second)
	setPhase("ok")
	o.waitResults(5 * time.Minute)
	b.stop(t)
	f := o.check()
	f.log(t, "api-stall-and-flap")
	if f.lost > 0 || f.orderViolations > 0 {
		t.Errorf("API stall and flap: %d lost, %d order violations; want 0 and 0", f.lost, f.orderViolations)
	}
}

// wabridge is killed (SIGKILL) mid-stream and started again at once with
// the same WABRIDGE_INSTANCE_ID (a static group member): it gets its
// partitions back without waiting out the session. Logs the time from the
// new process's start to its first API call (the bar: 2 s), and the same
// for a dynamic member (no instance id), which waits for the session
// timeout of the killed one (10 s).
func TestOutboundRestartAfterKill9(t *testing.T) {
	brokers := faultBroker(t, false)
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"static", []string{"WABRIDGE_INSTANCE_ID=restart-test"}},
		{"dynamic", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbound(t, brokers, 3000, 100, nil)
			o.env = append(append(o.env, "WABRIDGE_RATE=200"), tc.env...)
			b := o.start()
			kafkatest.ReadN(t, brokers, o.tp.results, 300, 60*time.Second)
			b.signal(9)
			<-b.done
			o.api.mu.Lock()
			before := o.api.calls
			o.api.mu.Unlock()
			start := time.Now()
			b = o.start()
			ready := time.Since(start)
			for {
				o.api.mu.Lock()
				calls := o.api.calls
				o.api.mu.Unlock()
				if calls > before {
					break
				}
				if time.Since(start) > 2*time.Minute {
					t.Fatalf("the restarted process sent nothing within 2 minutes")
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("FIGURES restart-after-kill-9 (%s member): ready %s, first API call %s after the start", tc.name, ready.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			o.waitResults(3 * time.Minute)
			unknown := int(b.metric(t, "wabridge_sends_unknown_outcome_total"))
			b.stop(t)
			f := o.check()
			f.log(t, "restart-after-kill-9 ("+tc.name+" member)")
			if f.lost > 0 || f.dupSends > unknown {
				t.Errorf("%d commands without a result, %d duplicate sends for %d unknown outcomes; want 0 and at most the unknown outcomes", f.lost, f.dupSends, unknown)
			}
		})
	}
}

// Three instances share the group; the broker is killed mid-stream and
// started again with its data 15 s later, then one instance after the
// other is stopped (SIGTERM) and started again: partitions move while the
// group coordinator is still settling. No process crashes, so nothing may
// reach the API twice: the commands finished in the last commit interval
// before the broker died, whose partitions may go to another process once
// it is back, are written to the ledger as done by the revocation that
// could not commit them.
func TestRebalanceStormAfterBrokerRestart(t *testing.T) {
	brokers := faultBroker(t, false)
	o := newOutbound(t, brokers, 6000, 200, nil)
	o.env = append(o.env, "WABRIDGE_RATE=80")
	bs := []*bridge{o.start(), o.start(), o.start()}
	all := append([]*bridge(nil), bs...)
	kafkatest.ReadN(t, brokers, o.tp.results, 800, 60*time.Second)
	localKafka(t, "kill")
	time.Sleep(15 * time.Second)
	localKafka(t, "start")
	unknown := 0.0
	for i := range 6 {
		time.Sleep(3 * time.Second)
		k := i % len(bs)
		unknown += bs[k].metric(t, "wabridge_sends_unknown_outcome_total")
		bs[k].stop(t)
		bs[k] = o.start()
		all = append(all, bs[k])
	}
	o.waitResults(5 * time.Minute)
	for _, b := range bs {
		unknown += b.metric(t, "wabridge_sends_unknown_outcome_total")
		b.stop(t)
	}
	f := o.check()
	f.log(t, "rebalance-storm-after-broker-restart")
	t.Logf("FIGURES rebalance-storm-after-broker-restart: unknown outcomes %d", int(unknown))
	ambiguous := 0
	for _, b := range all {
		ambiguous += b.lines(ambiguousAnswer)
	}
	if f.lost > 0 || f.orderViolations > 0 || f.dupSends > ambiguous {
		t.Errorf("%d lost, %d order violations, %d duplicate sends (%d unknown outcomes, %d API calls without an answer); want 0, 0 and at most the calls without an answer: no process crashed", f.lost, f.orderViolations, f.dupSends, int(unknown), ambiguous)
	}
}
