package outbound_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/internal/metrics"
	"github.com/wabridge/wabridge/outbound"
)

// failingGroup is a kfake cluster whose offset commits fail while
// failCommits returns an error code for them, and whose next heartbeats
// close their connection while dropHeartbeats is above 0 (the client then
// takes its partitions for lost and joins again).
type failingGroup struct {
	c              *kfake.Cluster
	failCommits    atomic.Pointer[func(*kmsg.OffsetCommitRequest) int16]
	dropHeartbeats atomic.Int32
}

// failCommitsWith makes every commit fail with code (0: none fails).
func (g *failingGroup) failCommitsWith(code int16) {
	f := func(*kmsg.OffsetCommitRequest) int16 { return code }
	g.failCommits.Store(&f)
}

func newFailingGroup(t *testing.T) *failingGroup {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	g := &failingGroup{c: c}
	c.ControlKey(int16(kmsg.OffsetCommit), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.OffsetCommitRequest)
		fail := g.failCommits.Load()
		code := int16(0)
		if fail != nil {
			code = (*fail)(req)
		}
		if code == 0 {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.Heartbeat), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if g.dropHeartbeats.Add(-1) < 0 {
			g.dropHeartbeats.Store(0)
			return nil, nil, false
		}
		return nil, errors.New("heartbeat dropped by the test"), true
	})
	return g
}

// handbackCommands is how many commands the tests below write, each to a
// recipient of its own.
const handbackCommands = 30

// fixture is a worker fixture on g's cluster with n commands written,
// each with a command-id header.
func (g *failingGroup) fixture(t *testing.T, n int) *fixture {
	t.Helper()
	return g.fixtureIDs(t, n, true)
}

// fixtureIDs is fixture, with command-id headers when withIDs (else each
// command's id is its position).
func (g *failingGroup) fixtureIDs(t *testing.T, n int, withIDs bool) *fixture {
	t.Helper()
	f := newFixtureOn(t, g.c.ListenAddrs(), nil, nil)
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		id := ""
		if withIDs {
			id = fmt.Sprintf("c%02d", i)
		}
		msgs[i] = cmd(id, fmt.Sprintf(`{"to":"4917%08d","type":"text","text":{"body":"m%d"}}`, i, i))
	}
	kafkatest.Produce(t, f.brokers, f.commands, msgs...)
	return f
}

// Commands finished (sent, results written) but not yet in a commit when
// the group drops the worker: it takes its partitions for lost, its last
// commit fails, and the group hands the same partitions back to it. The
// ledger alone would take each of those commands for an unknown outcome
// (an intent, no commit) and send it again; the worker remembers what it
// finished and skips them. A live process sends nothing twice.
func TestWorkerSkipsWhatItFinishedWhenPartitionsComeBack(t *testing.T) {
	g := newFailingGroup(t)
	const n = handbackCommands
	f := g.fixture(t, n)
	g.failCommitsWith(kerr.IllegalGeneration.Code) // as for a member the group dropped
	m := metrics.New()
	f.startWith(t, func(c *outbound.Config) {
		c.ResendUnknown = true // a resend shows as a second API call
		c.Metrics = m
		// No commit before the group drops the member: one that failed
		// would hold up the sends (TestWorkerWaitsWhileCommitsFail).
		c.CommitInterval = time.Hour
	})
	f.readResults(t, n)

	g.dropHeartbeats.Store(20)
	f.expectSkipped(t, m, n)
}

// expectSkipped waits until the worker of m skips the n finished commands
// as done when it reads them again (or sends one again), and checks that
// none reached the API twice and none was an unknown outcome.
func (f *fixture) expectSkipped(t *testing.T, m *metrics.Metrics, n int) {
	t.Helper()
	skipped := func() int { return int(counter(t, m, "wabridge_ledger_skips_total", "state", "done")) }
	deadline := time.Now().Add(60 * time.Second)
	for skipped() < n && len(f.api.Requests()) == n {
		if time.Now().After(deadline) {
			t.Fatalf("the commands were not read again within 60s: %d skipped, %d API calls", skipped(), len(f.api.Requests()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // any resend would follow at once
	if calls := len(f.api.Requests()); calls != n {
		t.Errorf("%d API calls for %d commands: %d sent again, by a live process", calls, n, calls-n)
	}
	if got := int(counter(t, m, "wabridge_sends_unknown_outcome_total")); got != 0 {
		t.Errorf("%d unknown outcomes, want 0: a live process knew every outcome", got)
	}
	if skipped() != n {
		t.Errorf("%d commands skipped as finished, want %d", skipped(), n)
	}
}

// counter is the value of the counter name (with the label pairs given).
func counter(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() != name {
			continue
		}
	series:
		for _, s := range fam.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range s.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// A member's commits fail (the group is rebalancing) until a second member
// joins and takes some of its partitions: the commit of the revocation is
// refused at first too, and is tried again until it goes through, before
// the partitions move. The new owner finds every command done; nothing is
// sent twice, although no process stopped.
func TestWorkerRevocationCommitsAgainUntilTheGroupTakesIt(t *testing.T) {
	g := newFailingGroup(t)
	const n = handbackCommands
	f := g.fixture(t, n)
	var revocationCommits atomic.Int32
	fail := func(req *kmsg.OffsetCommitRequest) int16 {
		if revocationCommits.Add(1) <= 2 {
			return kerr.RebalanceInProgress.Code // refused twice
		}
		return 0
	}
	g.failCommits.Store(&fail)
	// The only commits: the revocation's (and the shutdown's).
	edit := func(c *outbound.Config) { c.ResendUnknown = true; c.CommitInterval = time.Hour }
	f.startWith(t, edit)
	f.readResults(t, n)

	m := metrics.New()
	f.startWith(t, func(c *outbound.Config) { edit(c); c.Metrics = m })
	deadline := time.Now().Add(60 * time.Second)
	for revocationCommits.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no revocation commit went through within 60s (%d tried)", revocationCommits.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the second member restores and reads what it was given
	if calls := len(f.api.Requests()); calls != n {
		t.Errorf("%d API calls for %d commands: %d sent again by a live process", calls, n, calls-n)
	}
	if got := int(counter(t, m, "wabridge_sends_unknown_outcome_total")); got != 0 {
		t.Errorf("the second member found %d unknown outcomes, want 0", got)
	}
}

// While the group refuses a member's commits (its coordinator moving, a
// rebalance), every command the member finishes would be an unknown
// outcome for a new owner: it sends nothing new until a commit goes
// through.
func TestWorkerWaitsWhileCommitsFail(t *testing.T) {
	g := newFailingGroup(t)
	f := newFixtureOn(t, g.c.ListenAddrs(), func(d360test.Request) *d360test.Reply {
		return &d360test.Reply{Status: 200, Body: `{"messages":[{"id":"wamid.x"}]}`, Delay: 50 * time.Millisecond}
	}, nil)
	const n = 40
	msgs := make([]kafka.Message, n)
	for i := range msgs { // one recipient: one at a time, 2 s in all
		msgs[i] = cmd(fmt.Sprintf("c%02d", i), fmt.Sprintf(`{"to":"491700000001","type":"text","text":{"body":"m%d"}}`, i))
	}
	kafkatest.Produce(t, f.brokers, f.commands, msgs...)
	g.failCommitsWith(kerr.RebalanceInProgress.Code)
	f.startWith(t, nil)
	time.Sleep(3 * time.Second)
	if calls := len(f.api.Requests()); calls >= n {
		t.Errorf("all %d commands sent while every commit failed, want the sends held", calls)
	}
	g.failCommitsWith(0)
	f.readResults(t, n)
	if calls := len(f.api.Requests()); calls != n {
		t.Errorf("%d API calls for %d commands, want one each", calls, n)
	}
}

// A member whose commits fail stops (or loses its partitions) with
// commands finished and not committed; another process takes the
// partitions. The first writes them to the ledger as done when its
// revocation commit fails, so the new owner skips them rather than take
// them for unknown outcomes: no process crashed, nothing is sent twice.
// The done record names each command by its id: the one of its
// command-id header, or its position (which the worker does not remember,
// seen.go).
func TestWorkerTellsTheNextOwnerWhatItFinished(t *testing.T) {
	for _, tc := range []struct {
		name    string
		withIDs bool
	}{{"command-id headers", true}, {"position ids", false}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFailingGroup(t)
			const n = handbackCommands
			f := g.fixtureIDs(t, n, tc.withIDs)
			g.failCommitsWith(kerr.IllegalGeneration.Code)
			stop := f.startWith(t, func(c *outbound.Config) { c.CommitInterval = time.Hour })
			f.readResults(t, n)
			stop()

			g.failCommitsWith(0)
			m := metrics.New()
			f.startWith(t, func(c *outbound.Config) { c.ResendUnknown = true; c.Metrics = m })
			f.expectSkipped(t, m, n)
		})
	}
}
