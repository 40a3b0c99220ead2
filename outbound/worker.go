// Package outbound reads send commands from Kafka, calls 360dialog's
// POST /messages, and writes exactly one result event per command (plus a
// dead-letter record for what cannot be sent), committing offsets only up
// to the contiguous prefix of finished commands.
//
// Commands for one recipient are sent strictly in order; different
// recipients proceed in parallel up to MaxInFlight, even inside one
// partition. A send ledger (ledger.go) keeps redelivered commands from being
// sent twice.
//
// This path uses franz-go's kgo rather than kafka-go: it needs partition
// assignment and revocation callbacks (to restore the ledger before a
// partition's records are processed, and to commit finished work before a
// partition moves) and an idempotent producer (so a retried produce never
// writes a result twice). kafka-go offers neither; see the README.
package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/metrics"
	"github.com/wabridge/wabridge/internal/telemetry"
	"github.com/wabridge/wabridge/schemas"
	"github.com/wabridge/wabridge/window"
)

// Sender calls the messages endpoint. *d360.Client is one.
type Sender interface {
	Send(ctx context.Context, body []byte) (d360.Response, error)
}

// Encoder encodes a native Avro record.
type Encoder interface {
	Encode(native map[string]any) ([]byte, error)
}

// Window enforces the customer service window and opt-in before a send;
// *window.Store is one.
type Window interface {
	Check(ctx context.Context, m window.Message) (window.Decision, error)
	// Closed records that the API refused a free-form message as outside
	// the window (131047).
	Closed(ctx context.Context, number, user string, at time.Time) error
}

// conn is how the worker's clients reach Kafka.
func (w *Worker) conn() kafkaio.Conn {
	return kafkaio.Conn{Brokers: w.cfg.Brokers, Security: w.cfg.Security, Logger: w.log, Metrics: w.cfg.KafkaMetrics}
}

// Config configures a Worker.
type Config struct {
	Brokers []string
	// Security is Kafka's TLS and SASL; zero: plaintext.
	Security kafkaio.Security
	GroupID  string
	// InstanceID, when set, makes this worker a static member of the group
	// (group.instance.id, KIP-345): restarted with the same id within the
	// session timeout, it gets its partitions back at once, without a
	// rebalance. It must be unique in the group (e.g. the pod name).
	InstanceID      string
	CommandTopic    string
	ResultTopic     string
	DeadLetterTopic string
	// LedgerTopic is the send ledger: compacted, with as many partitions as
	// CommandTopic (created so at start when missing).
	LedgerTopic string

	// KafkaMetrics, when set, gets the metrics of the worker's consumer
	// (client_id wabridge-outbound) and ledger producer
	// (wabridge-outbound-ledger); nil: none.
	KafkaMetrics *kafkaio.ClientMetrics

	// Sender is the API client of the default business number.
	Sender Sender
	// Senders maps a business number (the "business-number" command header)
	// to its API client, when one deployment serves several numbers.
	Senders       map[string]Sender
	ResultEncoder Encoder
	// DeadLetterEncoder, when set, wraps dead letters in the Avro
	// DeadLetter record; nil writes the original bytes alone.
	DeadLetterEncoder Encoder
	// CommandDecoder decodes typed (Avro SendCommand) command values; nil
	// rejects them.
	CommandDecoder CommandDecoder
	// Window, when set, is asked before every message (not status bodies)
	// whether it may go out; nil sends without the check.
	Window Window
	// Templates, when set, holds the template catalogue of each business
	// number ("" for the default key): a template command whose name,
	// language or parameters cannot match an approved template is rejected
	// before the API answers 132000/132001.
	Templates map[string]*catalog.Catalog
	// PhoneNumberID is the business number (phone_number_id) of the default
	// API key, for the window check; a command's business-number header is
	// a phone_number_id itself.
	PhoneNumberID string

	// MaxInFlight bounds the commands being sent at once: each writes its
	// ledger intent and calls the API; waits for a retry, the rate limit or
	// the window do not count, nor does the result write once the API has
	// answered. Default: 256.
	MaxInFlight int
	// MaxBuffered bounds the commands read but not finished (running, or
	// queued behind an earlier command for the same recipient). By default
	// it is larger than MaxInFlight so that many rounds of a few recipients
	// cannot fill the pipeline while other recipients wait. It is shared
	// evenly among the owned partitions (see intake). Default (0):
	// 4 × MaxInFlight.
	MaxBuffered int
	// MaxAhead bounds how far a partition's newest admitted command may be
	// ahead of its oldest unfinished one. Default: 4 × MaxBuffered.
	MaxAhead int
	// Rate is the messages per second per business number (token bucket).
	// Default: 80 (WhatsApp's default throughput); at most 1000; negative
	// lifts the limit (benchmarks).
	Rate float64
	// MaxAttempts of one command against the API. Default: 5.
	MaxAttempts int
	// PairBackoff is the first pause of a recipient after the pair rate
	// limit (131056); it doubles with each repeat. Default: 6s.
	PairBackoff time.Duration
	// ResendUnknown: a redelivered command whose earlier send has an
	// unknown outcome (the process stopped between the API call and the
	// ledger write) is sent again when true (at least once), and fails with
	// reason unknown_outcome when false (at most once).
	ResendUnknown bool
	// BackoffMin and BackoffMax bound the exponential backoff with full
	// jitter between attempts. Defaults: 500ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// MaxAge: a command older than this (by record timestamp) fails instead
	// of being sent or retried. Default: 24h; 0 keeps the default, negative
	// disables.
	MaxAge time.Duration
	// CommitInterval between offset commits. Default: 200ms.
	CommitInterval time.Duration
	// ShutdownGrace is how long in-flight commands may finish after Run's
	// context ends; RevokeGrace the same when a rebalance takes partitions
	// away. Defaults: 10s and 5s.
	ShutdownGrace, RevokeGrace time.Duration

	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Worker is the outbound half.
type Worker struct {
	cfg Config
	log *slog.Logger
	// tracing: the OTEL_* variables turn tracing on (telemetry.Enabled);
	// off, a command costs no span.
	tracing bool
	m       *metrics.Metrics
	senders map[string]*numberSender
	pacer   *recipientPacer
	track   *tracker

	in *intake // fetched records on their way in: MaxBuffered shared by partition

	mu     sync.Mutex
	ledger map[int32]map[string]ledgerEntry // per owned partition
	// finishedAt holds, per owned partition, the offsets beyond the
	// committed one its last commit listed as finished.
	finishedAt map[int32]map[int64]bool
	waves      map[int32]*waves   // per owned partition: its ledger intents
	seen       map[int32]*seenIDs // per owned partition: the command ids read (seen.go)
	// released holds, per owned partition, the commands to be sent that
	// were abandoned before any API call: the revocation writes them to
	// the ledger as released, so that an intent naming them is no unknown
	// outcome for the next owner.
	released map[int32][]releasedCommand
	cancels  map[int32]context.CancelFunc // per owned partition's work
	partCtxs map[int32]context.Context
	gens     map[int32]uint64          // ownership generation per owned partition
	gen      uint64                    // the last generation given out
	running  map[int32]*sync.WaitGroup // running jobs per partition

	// cl is the client, stored once it exists (callbacks use their own
	// argument: they can run before NewClient has returned).
	cl    atomic.Pointer[kgo.Client]
	queue *keyQueue
	// fail stops Run with an error (a partition that cannot be taken on).
	fail context.CancelCauseFunc
	// writes counts result writes not yet acknowledged, and their retries
	// (write).
	writes sync.WaitGroup
	// workCtx outlives Run's ctx by ShutdownGrace.
	workCtx context.Context

	ledgerCl *kgo.Client // writes the ledger's intents (waves)

	commitMu sync.Mutex // one commit at a time (commit)
	// commandTopicID is CommandTopic's topic id (set before the client).
	commandTopicID [16]byte

	keptMu sync.Mutex
	kept   map[keptKey]*kept
	// finishedHere holds, per partition this process owned, the offsets it
	// finished whose last commit failed or could not list them (see
	// revoked); merged into finishedAt when the partition comes back.
	finishedHere map[int32]finishedHere

	// The ledger write latencies, resolved once (LedgerWrite's stages).
	intentLatency, resultLatency prometheus.Observer

	hooks hooks
}

// hooks let tests stop the worker at points of its lifecycle.
type hooks struct {
	clientCreated func() // Run's Kafka client exists
	assigned      func() // the assignment callback starts
}

type numberSender struct {
	Sender
	limit *numberLimiter
}

// New checks cfg and returns a Worker.
func New(cfg Config) (*Worker, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("outbound: no brokers")
	case cfg.GroupID == "":
		return nil, errors.New("outbound: consumer group id is empty")
	case cfg.CommandTopic == "" || cfg.ResultTopic == "" || cfg.DeadLetterTopic == "" || cfg.LedgerTopic == "":
		return nil, errors.New("outbound: command, result, dead-letter and ledger topics are required")
	case cfg.Sender == nil && len(cfg.Senders) == 0:
		return nil, errors.New("outbound: no API sender")
	case cfg.ResultEncoder == nil:
		return nil, errors.New("outbound: no result encoder")
	case cfg.Rate > 1000:
		return nil, fmt.Errorf("outbound: rate %g/s is above WhatsApp's highest throughput of 1000/s", cfg.Rate)
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = 4 * cfg.MaxInFlight
	}
	if cfg.MaxAhead <= 0 {
		cfg.MaxAhead = 4 * cfg.MaxBuffered
	}
	if cfg.Rate == 0 {
		cfg.Rate = 80
	}
	if cfg.PairBackoff <= 0 {
		cfg.PairBackoff = 6 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 500 * time.Millisecond
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(30*time.Second, cfg.BackoffMin)
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 24 * time.Hour
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 200 * time.Millisecond
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.RevokeGrace <= 0 {
		cfg.RevokeGrace = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	w := &Worker{
		tracing: telemetry.Enabled(os.Getenv),
		cfg:     cfg, log: cfg.Logger, m: cfg.Metrics,
		senders:    map[string]*numberSender{},
		pacer:      newRecipientPacer(cfg.PairBackoff),
		track:      newTracker(),
		ledger:     map[int32]map[string]ledgerEntry{},
		finishedAt: map[int32]map[int64]bool{},
		waves:      map[int32]*waves{},
		seen:       map[int32]*seenIDs{},
		released:   map[int32][]releasedCommand{},
		cancels:    map[int32]context.CancelFunc{},
		partCtxs:   map[int32]context.Context{},
		gens:       map[int32]uint64{},
		running:    map[int32]*sync.WaitGroup{},
		kept:       map[keptKey]*kept{},

		finishedHere: map[int32]finishedHere{},
	}
	w.intentLatency = w.m.LedgerWrite.WithLabelValues("intent")
	w.resultLatency = w.m.LedgerWrite.WithLabelValues("result")
	burst := max(1, int(cfg.Rate/10))
	if cfg.Sender != nil {
		w.senders[""] = &numberSender{Sender: cfg.Sender, limit: newNumberLimiter(cfg.Rate, burst)}
	}
	for n, s := range cfg.Senders {
		w.senders[n] = &numberSender{Sender: s, limit: newNumberLimiter(cfg.Rate, burst)}
	}
	return w, nil
}

// Run consumes commands until ctx ends, then lets in-flight commands finish
// for ShutdownGrace, commits what finished, leaves the group and returns nil.
// It returns an error when it cannot start, or when a partition it was
// given cannot be taken on (its send ledger cannot be restored): the caller
// should stop (and be restarted), not run on without outbound. Run once.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.ensureLedger(ctx); err != nil {
		return err
	}
	// The ledger's intents have a producer of their own: a command waits
	// for its intent before its API call, and behind the results in one
	// producer's requests that wait was the larger part of a send.
	ledgerCl, err := w.conn().Named("outbound-ledger").NewClient(
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(writeTimeout),
	)
	if err != nil {
		return fmt.Errorf("outbound ledger kafka client: %w", err)
	}
	defer ledgerCl.Close()
	w.ledgerCl = ledgerCl
	// Everything the client's callbacks (assigned, revoked) can touch is
	// made before the client: it joins the group, and may be given
	// partitions, as soon as kgo.NewClient returns.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	w.workCtx = workCtx
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(w.cfg.ShutdownGrace, cancelWork) })
	defer stop()
	w.queue = newKeyQueue(w.run, w.cfg.MaxInFlight)
	w.queue.next = w.nextInLine
	// The intake pauses and resumes fetching only for partitions it was
	// assigned, by which time assigned has stored the client.
	w.in = newIntake(w.cfg.MaxBuffered, pauseAt,
		func(p int32) { w.cl.Load().PauseFetchPartitions(map[string][]int32{w.cfg.CommandTopic: {p}}) },
		func(p int32) { w.cl.Load().ResumeFetchPartitions(map[string][]int32{w.cfg.CommandTopic: {p}}) })
	pollCtx, stopPolling := context.WithCancelCause(ctx)
	defer stopPolling(nil)
	w.fail = stopPolling

	opts := []kgo.Opt{
		kgo.ConsumerGroup(w.cfg.GroupID),
		kgo.ConsumeTopics(w.cfg.CommandTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(w.assigned),
		kgo.OnPartitionsRevoked(w.revoked),
		kgo.OnPartitionsLost(w.revoked),
		kgo.SessionTimeout(10 * time.Second),
		kgo.RebalanceTimeout(30 * time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.FetchMaxWait(100 * time.Millisecond),
		// Small fetches: the intake takes only a share per partition, and
		// what a fetch brings beyond pauseAt waits in memory (pauseAt).
		kgo.FetchMaxBytes(96 << 10),
		kgo.FetchMaxPartitionBytes(16 << 10),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2 on the key, like the Java client
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		// A write the brokers do not take within this fails (and is written
		// again while its partition is owned): a revocation never waits
		// longer than this for a command's records.
		kgo.RecordDeliveryTimeout(writeTimeout),
	}
	if w.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(w.cfg.InstanceID))
	}
	cl, err := w.conn().Named("outbound").NewClient(opts...)
	if err != nil {
		return fmt.Errorf("outbound kafka client: %w", err)
	}
	if w.hooks.clientCreated != nil {
		w.hooks.clientCreated()
	}
	w.cl.Store(cl)

	// The goroutines, each stopped below in the reverse order of its start.
	commitDone := make(chan struct{})
	commitCtx, stopCommits := context.WithCancel(context.Background())
	go func() {
		defer close(commitDone)
		t := time.NewTicker(w.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-commitCtx.Done():
				return
			case <-t.C:
				w.commit(commitCtx, cl, nil)
			}
		}
	}()
	admitCtx, stopAdmitting := context.WithCancel(pollCtx)
	admitDone := make(chan struct{})
	go func() {
		defer close(admitDone)
		w.admitLoop(admitCtx)
	}()

	runErr := w.poll(pollCtx)
	if cause := context.Cause(pollCtx); ctx.Err() == nil && cause != nil {
		runErr = cause // a partition could not be taken on
	}
	stopAdmitting()
	<-admitDone

	// Shutdown: no more polling; let the admitted commands finish (jobs are
	// cancelled when the grace ends), then commit and leave.
	if runErr != nil {
		time.AfterFunc(w.cfg.ShutdownGrace, cancelWork)
	}
	w.queue.wait()
	w.writes.Wait()
	stopCommits()
	<-commitDone
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	w.commit(fctx, cl, nil)
	if err := cl.Flush(fctx); err != nil { // the last "done" entries
		w.log.Warn("flushing the last ledger entries", "err", err)
	}
	cancel()
	cl.Close() // leaves the group; revoked() runs with nothing left to do
	return runErr
}

// writeTimeout bounds one attempt to write a record.
const writeTimeout = 10 * time.Second

// A partition's fetching pauses while pauseAt of its records wait for
// admission, and resumes when half as many do: at 10,000 commands/s over 12
// partitions that is 60 ms of work left, while a busy consumer's fetches
// come back at once (FetchMaxWait is reached only when no partition has
// data). Waiting records hold their fetch's buffers, and this read-ahead
// is the larger part of the live heap: at 250 a partition (and 64 KiB
// fetches) the peak RSS at the default MaxInFlight was about 10 MB higher,
// at the same rates.
const pauseAt = 100

// poll hands fetched records to the intake until ctx ends. Each poll takes
// every record kgo holds: kgo drops the records it holds of a partition
// once it is paused, to fetch (and decompress) them again when it is
// resumed, and with polls of at most 500 records that was most of what was
// fetched at 0 ms (TestWorkerFetchesEachCommandOnce).
//
// A rebalance waits while polled records are handed over
// (BlockRebalanceOnPoll): records of a partition revoked meanwhile, and
// perhaps assigned again, must not join its new ownership's queue.
func (w *Worker) poll(ctx context.Context) error {
	cl := w.cl.Load()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		if fs.IsClientClosed() {
			cl.AllowRebalance()
			return errors.New("outbound kafka client closed")
		}
		fs.EachError(func(t string, p int32, err error) {
			w.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			w.track.highWatermark(p.Partition, p.HighWatermark)
			w.in.add(p.Partition, p.Records)
		})
		cl.AllowRebalance()
	}
}

// admitLoop admits the records the intake lets in, until ctx ends.
func (w *Worker) admitLoop(ctx context.Context) {
	ahead := func(p int32, offset int64) bool { return w.track.behind(p, offset) >= int64(w.cfg.MaxAhead) }
	for ctx.Err() == nil {
		if r, gen := w.in.next(ahead); r != nil {
			w.admit(ctx, r, gen)
			continue
		}
		select {
		case <-w.in.wake:
		case <-ctx.Done():
			return
		}
	}
}

// job is one command on its way.
type job struct {
	rec    *kgo.Record
	cmd    Command
	err    error // parse/validation error: reject
	key    string
	number string
	sender *numberSender
	ctx    context.Context // cancelled when the partition is revoked
	// replay is the ledger entry of a command the API already accepted.
	replay *ledgerEntry
	// kept is the outcome this process got from the API for the command
	// under an earlier ownership of its partition, not yet on Kafka.
	kept *kept
	// out is the outcome whose records are being written: kept's, or
	// outcome, which holds the one run got (in the job, not an allocation
	// of its own).
	out     *outcome
	outcome outcome
	// unknown: an earlier send of this command has an unknown outcome.
	unknown bool
	// turn is the run token the job holds while it runs (keyQueue).
	turn *turn
	// gen is the ownership of its partition it was admitted under.
	gen uint64
	// waves writes its partition's ledger intents; intent is set for a
	// job to be sent, and holds the wave its intent joined (nextInLine).
	waves  *waves
	intent *jobIntent
	// tmpl is its template, read once (template).
	tmpl *templateCommand
	// span is the command's send: a child of the trace its traceparent
	// header carries, the parent of the API call and of its records.
	span trace.Span
}

// admit takes a record the intake let in, under its partition's ownership
// gen, into the pipeline.
func (w *Worker) admit(ctx context.Context, r *kgo.Record, gen uint64) {
	r = detach(r)
	msg := r
	var cmd Command
	var err error
	if isConfluentAvro(r.Value) {
		// A registry that cannot be asked says nothing about the command:
		// wait for it (holding up admission, as every typed command would
		// need it) rather than reject the command as undecodable.
		for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
			var typed *kgo.Record
			typed, cmd, err = w.typed(ctx, msg)
			if ctx.Err() != nil {
				w.in.release(r.Partition, gen) // stopping: read again later
				return
			}
			if !errors.Is(err, schemas.ErrRegistryUnavailable) {
				msg = typed
				break
			}
			w.log.Warn("schema registry unavailable: typed commands wait", "partition", r.Partition, "offset", r.Offset, "retry_in", wait, "err", err)
			select {
			case <-ctx.Done():
				w.in.release(r.Partition, gen)
				return
			case <-time.After(wait):
			}
		}
	} else {
		cmd, err = ParseCommand(msg)
	}
	j := job{rec: r, cmd: cmd, err: err}
	if w.tracing {
		j.span = startSpan(r, cmd.ID)
	}
	// From msg, not r: a typed command's business_number is a header only there.
	for _, h := range msg.Headers {
		if h.Key == HeaderBusinessNumber {
			j.number = string(h.Value)
			break
		}
	}
	j.sender = w.senders[j.number]
	if err == nil && j.sender == nil {
		j.err = &InvalidError{Field: "header " + HeaderBusinessNumber, Rule: fmt.Sprintf("no API key configured for business number %q", j.number)}
	}

	// Taking the record in and queueing it happen under w.mu, so a
	// revocation either sees the job in the queue (and drops it) or the
	// record sees the partition gone: a job queued after its partition's
	// queue was dropped could overtake the dropped ones of its recipient.
	w.mu.Lock()
	defer w.mu.Unlock()
	pctx := w.partCtxs[r.Partition]
	if pctx == nil || w.gens[r.Partition] != gen || !w.track.add(r.Partition, r.Offset) {
		w.in.release(r.Partition, gen) // revoked meanwhile: the owner reads it again
		return
	}
	j.ctx, j.gen, j.waves = pctx, gen, w.waves[r.Partition]
	w.running[r.Partition].Add(1)
	w.m.CommandsRead.Inc()
	w.m.InFlight.Inc()
	if w.finishedAt[r.Partition][r.Offset] {
		w.m.LedgerSkips.WithLabelValues("done").Inc()
		w.log.Info("command finished before its partition moved (the last commit lists it); skipped", "command_id", cmd.ID, "partition", r.Partition, "offset", r.Offset)
		w.finishLocked(j)
		return
	}
	dup := w.duplicateOf(r, cmd.ID)
	if k := w.takeKept(r.Partition, r.Offset); k != nil {
		j.kept, j.err = k, nil
	} else if dup != nil {
		w.log.Warn("command id already read at another offset: a replay, not sent", "command_id", cmd.ID, "partition", r.Partition, "offset", r.Offset, "first_offset", dup.offset)
	} else if e, ok := w.ledger[r.Partition][cmd.ID]; ok {
		switch e.State {
		case ledgerDone:
			w.m.LedgerSkips.WithLabelValues("done").Inc()
			w.log.Info("command already finished and its result written; skipped", "command_id", cmd.ID, "partition", r.Partition, "offset", r.Offset)
			w.finishLocked(j)
			return
		case ledgerAccepted:
			w.m.LedgerSkips.WithLabelValues("accepted").Inc()
			stored := e // a copy of its own: e is on the stack for every other command
			j.replay = &stored
			j.err = nil
		case ledgerSending:
			w.m.UnknownOutcomes.Inc()
			j.unknown = true
			w.log.Warn("redelivered command was being sent when its previous owner stopped: outcome unknown",
				"command_id", cmd.ID, "resend", w.cfg.ResendUnknown, "partition", r.Partition, "offset", r.Offset)
		}
	}
	if j.err != nil || j.replay != nil || j.kept != nil {
		j.key = "cmd:" + cmd.ID // no order to keep: run at once
	} else {
		if !j.unknown || w.cfg.ResendUnknown {
			j.intent = &jobIntent{}
		}
		if cmd.Type == "template" {
			j.tmpl = &templateCommand{}
		}
		j.key = j.number + "|" + UserKey(cmd.To)
		if cmd.To == "" {
			j.key = "cmd:" + cmd.ID // status bodies: independent
		}
	}
	if dup != nil && j.kept == nil {
		j.err = dup // behind its recipient's commands: its result follows the first copy's
	}
	w.queue.submit(j)
}

// finish marks j done for commits and frees its slot.
func (w *Worker) finish(j job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finishLocked(j)
}

// finishLocked is finish with w.mu held.
func (w *Worker) finishLocked(j job) {
	j.endSpan("")
	w.track.finish(j.rec.Partition, j.rec.Offset)
	if wg := w.running[j.rec.Partition]; wg != nil {
		wg.Done()
	}
	w.m.InFlight.Dec()
	w.in.release(j.rec.Partition, j.gen)
}

// abandon frees j's slot without marking it finished: it will be read
// again. sent says whether j may have reached the API (an attempt was
// made, or it is not known); a command to be sent that did not is
// remembered for the revocation's released record, unless an earlier
// send of it may have reached the API: an intent of an earlier owner
// left its outcome unknown (j.unknown), or it has an outcome of its own
// (j.kept, j.replay).
func (w *Worker) abandon(j job, sent bool) {
	j.endSpan("abandoned: the command will be read again")
	w.mu.Lock()
	wg := w.running[j.rec.Partition]
	if !sent && j.intent != nil && !j.unknown && j.kept == nil && j.replay == nil {
		w.released[j.rec.Partition] = append(w.released[j.rec.Partition], releasedCommand{gen: j.gen, cmd: waveCommand{ID: j.cmd.ID, Offset: j.rec.Offset}})
	}
	w.mu.Unlock()
	if wg != nil {
		wg.Done()
	}
	w.m.InFlight.Dec()
	w.in.release(j.rec.Partition, j.gen)
}

// startSpan starts the span of a command's send as a child of the trace
// its traceparent header carries (W3C Trace Context), or of a new trace. With
// no tracer provider installed (telemetry.Setup) it is a no-op span.
func startSpan(r *kgo.Record, commandID string) trace.Span {
	parent := otel.GetTextMapPropagator().Extract(context.Background(), kotel.NewRecordCarrier(r))
	_, span := otel.Tracer("github.com/wabridge/wabridge/outbound").Start(parent, "send "+r.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", r.Topic),
			attribute.Int("messaging.destination.partition.id", int(r.Partition)),
			attribute.Int64("messaging.kafka.offset", r.Offset),
			attribute.String("wabridge.command_id", commandID),
		))
	return span
}

// endSpan ends the job's span (if it has one), with event as its last event.
func (j job) endSpan(event string) {
	if j.span == nil {
		return
	}
	if event != "" {
		j.span.AddEvent(event)
	}
	j.span.End()
}

// traced is the context a job's records are produced in: the worker's
// work context (which bounds their writes), with the job's span when tracing
// is on, so kotel's produce hook puts its trace into their headers. Nil
// without a span: Produce then uses the context it is given.
func (w *Worker) traced(j job) context.Context {
	if j.span == nil {
		return nil
	}
	return trace.ContextWithSpan(w.workCtx, j.span)
}

// outcome of one command.
type outcome struct {
	status   string // accepted, rejected, failed
	resp     d360.Response
	reason   string
	apiErr   *d360.APIError
	details  string
	attempts int
}

// run processes one job; the keyQueue calls it in per-recipient order. j is
// the queue's copy, which the job's result writes use too.
func (w *Worker) run(j *job) {
	start := time.Now()
	ctx := j.ctx
	if ctx.Err() != nil {
		w.abandon(*j, false)
		return
	}
	if j.replay != nil {
		w.replay(j)
		return
	}
	if k := j.kept; k != nil {
		w.log.Info("writing the outcome the API gave before the partition was revoked; not sent again", "command_id", j.cmd.ID, "outcome", k.out.status)
		j.out = &k.out
		w.write(j, k.recs, func() { w.finished(*j, k.out) })
		return
	}
	var out outcome
	switch {
	case j.err != nil:
		out = refusal(j.err)
	case !j.cmd.ExpiresAt.IsZero() && time.Now().After(j.cmd.ExpiresAt):
		out = outcome{status: "rejected", reason: "expired", details: "expires-at " + j.cmd.ExpiresAt.UTC().Format(time.RFC3339Nano) + " has passed"}
	case j.unknown && !w.cfg.ResendUnknown:
		out = outcome{status: "failed", reason: "unknown_outcome", details: "an earlier send was interrupted between the API call and the ledger write; not sent again (set resend-unknown to send it again)"}
	default:
		if reject := w.checkTemplate(ctx, *j); reject != nil {
			out = *reject
			break
		}
		if reject, err := w.checkWindow(ctx, *j); err != nil {
			w.abandon(*j, false) // ctx ended while waiting: read again later
			return
		} else if reject != nil {
			out = *reject
			break
		}
		var err error
		out, err = w.send(ctx, *j)
		if err != nil {
			w.log.Warn("command abandoned; it will be read again",
				"command_id", j.cmd.ID, "partition", j.rec.Partition, "offset", j.rec.Offset, "attempts", out.attempts, "err", err)
			if out.attempts > 0 {
				w.m.AbandonedSends.Inc()
			}
			w.abandon(*j, out.attempts > 0)
			return
		}
	}
	result, encodeErr := w.result(*j, out, time.Since(start))
	if err := encodeErr; err != nil {
		// The outcome stands (an accepted command was sent); the result
		// goes out without the fields that would not encode, and the whole
		// outcome to the dead-letter topic.
		w.log.Error("encoding the result; writing it without its optional fields, the full outcome to the dead-letter topic", "command_id", j.cmd.ID, "outcome", out.status, "err", err)
		if result, err = w.bareResult(*j, out, time.Since(start)); err != nil {
			w.log.Error("encoding the bare result too; only the dead letter is written", "command_id", j.cmd.ID, "err", err)
		}
	}
	// The result is the durable outcome: the command is finished once it
	// (and its dead letter) is acknowledged, and done for a new owner once
	// a commit covers or lists its offset.
	var recs []*kgo.Record
	if result != nil {
		recs = append(recs, result)
	}
	if out.status != "accepted" || encodeErr != nil {
		dl := out
		if out.status == "accepted" {
			dl.reason, dl.details = "result_encoding", fmt.Sprintf("accepted by the API as message %q; the result could not be encoded", out.resp.MessageID)
		}
		recs = append(recs, w.deadLetter(*j, dl))
	}
	j.outcome = out
	j.out = &j.outcome
	w.writeResult(j, recs)
}

// refusal is the outcome of a command that is not sent because of err.
func refusal(err error) outcome {
	switch {
	case errors.As(err, new(*duplicateError)):
		return outcome{status: "rejected", reason: "duplicate_command", details: err.Error()}
	case errors.As(err, new(*registryRefusedError)):
		return outcome{status: "failed", reason: "schema_registry_refused", details: err.Error()}
	}
	return outcome{status: "rejected", reason: "invalid_command", details: err.Error()}
}

// writeResult writes a command's result records without waiting for Kafka:
// the recipient's next command may go out as soon as the API has answered
// (the order the issue asks for is the order of API calls), while the job
// finishes, and its offset becomes committable, only once every record is
// acknowledged. A recipient's results still reach the results topic in
// order: the next command's result is produced after this one's, to the
// same partition, by an idempotent producer.
func (w *Worker) writeResult(j *job, recs []*kgo.Record) {
	w.writeAttempt(j, recs, func() { w.finished(*j, *j.out) }, 1)
}

// write produces recs (at least one) and, once every one is acknowledged,
// calls written. The records that failed are written again after a
// backoff while j's partition is owned:
// nobody else would read the command again, and its offset would hold up
// the partition's commits. Once the partition is revoked, j is abandoned
// for the next owner.
func (w *Worker) write(j *job, recs []*kgo.Record, written func()) {
	w.writeAttempt(j, recs, written, 1)
}

func (w *Worker) writeAttempt(j *job, recs []*kgo.Record, written func(), attempt int) {
	t0 := time.Now()
	left := len(recs) // promises run one at a time: no lock needed
	var failed []*kgo.Record
	var writeErr error
	w.writes.Add(1)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			failed = append(failed, r)
			writeErr = err
		}
		if left--; left > 0 {
			return
		}
		defer w.writes.Done()
		w.resultLatency.Observe(time.Since(t0).Seconds())
		if writeErr == nil {
			written()
			return
		}
		w.writes.Add(1) // a promise must not block: wait on a goroutine
		go w.rewrite(j, failed, written, attempt, writeErr)
	}
	// Not j.ctx: a batch fails as a whole when its first record's context
	// ends, and a results or dead-letter batch mixes the records of every
	// partition, so a revoked partition's cancelled write would fail the
	// results of partitions still owned.
	for _, r := range recs {
		// kgo stamps a record when it is first produced and times it out
		// (RecordDeliveryTimeout) from that stamp: a record produced again
		// needs a new one, or once a write timed out every later attempt
		// would fail at once, the broker back or not.
		r.Timestamp = time.Time{}
		w.cl.Load().Produce(w.workCtx, r, promise)
	}
}

// rewrite writes j's failed records again after a backoff, or abandons j
// once its partition is revoked.
func (w *Worker) rewrite(j *job, failed []*kgo.Record, written func(), attempt int, err error) {
	defer w.writes.Done()
	wait := w.backoff(attempt)
	t := time.NewTimer(wait)
	defer t.Stop()
	if j.ctx.Err() == nil {
		w.log.Error("writing result failed; retrying", "command_id", j.cmd.ID, "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-t.C:
			w.writeAttempt(j, failed, written, attempt+1)
			return
		case <-j.ctx.Done():
		}
	}
	if j.out != nil {
		w.keep(*j, failed)
		w.log.Warn("writing result failed and the partition was revoked; the outcome is kept for when the command is read again", "command_id", j.cmd.ID, "outcome", j.out.status, "err", err)
	} else {
		w.log.Error("writing result failed; the command will be read again", "command_id", j.cmd.ID, "err", err)
	}
	w.abandon(*j, true)
}

// kept is an outcome the API gave whose records could not be written while
// the command's partition was owned.
type kept struct {
	out  outcome
	recs []*kgo.Record // the records still to write
	at   time.Time
}

// keptFor is how long a kept outcome waits for its command to be read
// again by this process (if another member took the partition, it never is).
const keptFor = time.Hour

type keptKey struct {
	partition int32
	offset    int64
}

// keep holds j's outcome and its unwritten records: if this process reads
// the command again (its partition handed back after a reconnect), it
// writes them instead of calling the API a second time.
func (w *Worker) keep(j job, recs []*kgo.Record) {
	now := time.Now()
	w.keptMu.Lock()
	defer w.keptMu.Unlock()
	expire(w.kept, func(k *kept) time.Time { return k.at }, now)
	w.kept[keptKey{j.rec.Partition, j.rec.Offset}] = &kept{out: *j.out, recs: recs, at: now}
	w.m.KeptOutcomes.Set(float64(len(w.kept)))
}

// takeKept removes and returns the kept outcome of the command at offset of
// p, if any.
func (w *Worker) takeKept(p int32, offset int64) *kept {
	w.keptMu.Lock()
	defer w.keptMu.Unlock()
	k := w.kept[keptKey{p, offset}]
	if k != nil {
		delete(w.kept, keptKey{p, offset})
		w.m.KeptOutcomes.Set(float64(len(w.kept)))
	}
	return k
}

// finishedHere is what keepFinished holds of one partition.
type finishedHere struct {
	offsets []int64
	at      time.Time
}

// keepFinished remembers the offsets of p this process finished and could
// not commit, for keptFor: if p comes back, those commands are skipped.
func (w *Worker) keepFinished(p int32, offsets []int64) {
	now := time.Now()
	w.keptMu.Lock()
	defer w.keptMu.Unlock()
	expire(w.finishedHere, func(h finishedHere) time.Time { return h.at }, now)
	w.finishedHere[p] = finishedHere{offsets: offsets, at: now}
}

// releasedCommand is a command abandoned before any API call, and the
// ownership generation of its partition it was read in.
type releasedCommand struct {
	gen uint64
	cmd waveCommand
}

// releasedRecord is the ledger record naming the commands of p read in
// generation gen that were abandoned before any API call (Worker.released)
// as released: the next owner's restore takes an intent of this process
// naming them, written before the record, for no send at all, not for an
// unknown outcome. Nil when there are none.
func (w *Worker) releasedRecord(p int32, gen uint64) *kgo.Record {
	w.mu.Lock()
	var cmds []waveCommand
	for _, r := range w.released[p] {
		if r.gen == gen {
			cmds = append(cmds, r.cmd)
		}
	}
	delete(w.released, p)
	w.mu.Unlock()
	return w.stateRecord(p, ledgerReleased, cmds)
}

// doneRecord is the ledger record naming the commands at offsets of p (by
// the ids w.seen holds, else by their positions) as done, for the next
// owner of p if it is another process: its restore skips them instead of
// taking them for unknown outcomes. Nil when there are none.
func (w *Worker) doneRecord(p int32, offsets []int64) *kgo.Record {
	named := map[int64]string{}
	w.mu.Lock() // a commit prunes the ids meanwhile
	if seen := w.seen[p]; seen != nil {
		for _, c := range seen.named {
			named[c.Offset] = c.ID
		}
	}
	w.mu.Unlock()
	cmds := make([]waveCommand, len(offsets))
	for i, o := range offsets {
		id, ok := named[o]
		if !ok {
			id = positionID(w.cfg.CommandTopic, p, o)
		}
		cmds[i] = waveCommand{ID: id, Offset: o}
	}
	return w.stateRecord(p, ledgerDone, cmds)
}

// stateRecord is one ledger record giving cmds of p the state (done or
// released); nil when cmds is empty.
func (w *Worker) stateRecord(p int32, state string, cmds []waveCommand) *kgo.Record {
	if len(cmds) == 0 {
		return nil
	}
	value, err := json.Marshal(waveRecord{State: state, CommandTopic: w.cfg.CommandTopic, Partition: p, Commands: cmds, At: time.Now().UTC()})
	if err != nil {
		w.log.Error("encoding a ledger record", "state", state, "partition", p, "err", err)
		return nil
	}
	// A key of its own: the topic is compacted, and an intent's key is
	// the first offset of its wave.
	key := fmt.Sprintf("%s/%d/%s/%d", w.cfg.CommandTopic, p, state, cmds[0].Offset)
	return &kgo.Record{Topic: w.cfg.LedgerTopic, Partition: p, Key: []byte(key), Value: value}
}

// writeForNextOwner writes a revocation's done and released records (nil
// ones skipped), all at once. It holds up the member's return to the group
// until they are written or doneTimeout passes, for all of them together:
// after a broker outage they are written as soon as the broker answers,
// before this member has even joined again. The end of the work does not
// cut it short: at shutdown the revocation runs once the jobs were
// cancelled, and these records are what spare the next owner the unknown
// outcomes.
func (w *Worker) writeForNextOwner(recs []*kgo.Record) {
	recs = slices.DeleteFunc(recs, func(r *kgo.Record) bool { return r == nil })
	if len(recs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.workCtx), doneTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		var failed []*kgo.Record
		var lastErr error
		for _, r := range w.ledgerCl.ProduceSync(ctx, recs...) {
			if r.Err != nil {
				failed, lastErr = append(failed, r.Record), r.Err
				continue
			}
			w.log.Info("commands written to the ledger for the next owner", "record", string(r.Record.Key))
		}
		if recs = failed; len(recs) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			for _, r := range recs {
				w.log.Error("writing a ledger record failed: a new owner of the partition will take its commands for unknown outcomes", "record", string(r.Key), "err", lastErr)
			}
			return
		case <-time.After(min(w.backoff(attempt), time.Second)):
		}
	}
}

// doneTimeout bounds writeForNextOwner.
const doneTimeout = 60 * time.Second

// takeFinishedHere removes and returns what keepFinished holds of p.
func (w *Worker) takeFinishedHere(p int32) []int64 {
	w.keptMu.Lock()
	defer w.keptMu.Unlock()
	h, ok := w.finishedHere[p]
	delete(w.finishedHere, p)
	if !ok || time.Since(h.at) > keptFor {
		return nil
	}
	return h.offsets
}

// expire deletes the entries of m held (at) longer than keptFor.
func expire[K comparable, V any](m map[K]V, at func(V) time.Time, now time.Time) {
	for k, v := range m {
		if now.Sub(at(v)) > keptFor {
			delete(m, k)
		}
	}
}

// finished counts a command's outcome and marks it done for commits.
func (w *Worker) finished(j job, out outcome) {
	code := ""
	if out.apiErr != nil && out.apiErr.Code != 0 {
		code = strconv.Itoa(out.apiErr.Code)
	}
	w.m.Sends.WithLabelValues(out.status, code, out.reason).Inc()
	if j.span != nil {
		j.span.SetAttributes(attribute.String("wabridge.outcome", out.status), attribute.String("wabridge.reason", out.reason))
		if out.status != "accepted" {
			j.span.SetStatus(codes.Error, out.status+": "+out.reason)
		}
	}
	if out.status != "accepted" {
		w.m.DeadLetters.WithLabelValues("command").Inc()
		w.log.Warn("command not sent", "command_id", j.cmd.ID, "outcome", out.status, "reason", out.reason, "details", out.details)
	}
	w.finish(j)
}

// replay writes the stored result of a command the API accepted before a
// redelivery, without calling the API again.
func (w *Worker) replay(j *job) {
	e := j.replay
	rec := w.resultRec("", e.ResultKey, e.Result, e.CommandID, nil)
	w.write(j, []*kgo.Record{rec}, func() {
		w.log.Info("command was accepted before a redelivery; its result was written from the ledger, not sent again", "command_id", e.CommandID)
		w.finish(*j)
	})
}

// send calls the API until it accepts, refuses for good, or attempts or age
// run out. It returns an error only when ctx ended: the command is
// abandoned, to be read again.
func (w *Worker) send(ctx context.Context, j job) (outcome, error) {
	var lastErr error
	limit := j.sender.limit
	userKey := j.key // number|UserKey(to) (admit)
	if j.cmd.To == "" {
		userKey = j.number + "|"
	}
	attempt := 0
	for attempt < w.cfg.MaxAttempts {
		if w.cfg.MaxAge > 0 && !j.rec.Timestamp.IsZero() && time.Since(j.rec.Timestamp) > w.cfg.MaxAge {
			return w.failed("too_old", lastErr, fmt.Sprintf("command older than the maximum age %s", w.cfg.MaxAge), attempt), nil
		}
		if !j.cmd.ExpiresAt.IsZero() && time.Now().After(j.cmd.ExpiresAt) {
			return outcome{status: "rejected", reason: "expired", details: "expired while retrying", attempts: attempt}, nil
		}
		if err := w.sleep(ctx, j, w.pacer.pausedFor(userKey)); err != nil {
			return outcome{attempts: attempt}, err
		}
		delay, cancel := limit.reserve()
		if err := w.sleep(ctx, j, delay); err != nil {
			cancel()
			return outcome{attempts: attempt}, err
		}
		if delay > time.Millisecond {
			w.m.RateLimitWait.Observe(delay.Seconds())
		}
		if attempt == 0 {
			// The intent must be on Kafka before the first call, so a
			// crash during it is detectable. It was written while the
			// command was next in line (nextInLine), usually by now.
			if err := w.awaitIntent(ctx, j); err != nil {
				cancel()
				return outcome{}, err
			}
		}
		attempt++
		t0 := time.Now()
		// The call runs on workCtx, not ctx: a revocation does not cut a
		// call short and leave its outcome unknown; the answer is kept
		// (see keep) until it is durable.
		callCtx := w.workCtx
		if j.span != nil {
			callCtx = trace.ContextWithSpan(callCtx, j.span)
		}
		resp, err := j.sender.Send(callCtx, j.cmd.Body)
		w.m.APILatency.Observe(time.Since(t0).Seconds())
		if err == nil || d360.Accepted(err) {
			limit.succeeded(time.Now())
			if err != nil {
				w.log.Warn("the API accepted the command (2xx) but its answer could not be read; counted as accepted, without a message id",
					"command_id", j.cmd.ID, "err", err)
			}
			return outcome{status: "accepted", resp: resp, attempts: attempt}, nil
		}
		if w.workCtx.Err() != nil {
			return outcome{attempts: attempt}, w.workCtx.Err()
		}
		lastErr = err
		if d360.Ambiguous(err) {
			// The request was written and no answer came: the API may have
			// sent the message. Never retried blindly.
			w.m.UnknownOutcomes.Inc()
			if !w.cfg.ResendUnknown {
				return outcome{status: "failed", reason: "unknown_outcome", details: "no answer after the request was written (" + err.Error() + "); not sent again (set resend-unknown to send it again)", attempts: attempt}, nil
			}
			w.log.Warn("no answer after the request was written: outcome unknown; sending again (resend-unknown)", "command_id", j.cmd.ID, "err", err)
		}
		if ctx.Err() != nil {
			return outcome{attempts: attempt}, ctx.Err()
		}
		var apiErr *d360.APIError
		errors.As(err, &apiErr)
		if d360.NeedsAlert(err) {
			w.m.APIAlerts.WithLabelValues(strconv.Itoa(apiErr.Code)).Inc()
		}
		class := d360.Classify(err)
		if apiErr != nil && apiErr.Code == 131047 && w.cfg.Window != nil {
			if err := w.cfg.Window.Closed(ctx, w.phoneNumberID(j), UserKey(j.cmd.To), time.Now()); err != nil {
				w.log.Warn("recording the closed window", "command_id", j.cmd.ID, "err", err)
			}
		}
		if class == d360.Permanent {
			return outcome{status: "failed", reason: "api_error", apiErr: apiErr, details: err.Error(), attempts: attempt}, nil
		}
		if attempt == w.cfg.MaxAttempts {
			break
		}
		w.m.SendRetries.WithLabelValues(class.String()).Inc()
		wait := w.backoff(attempt)
		switch class {
		case d360.SlowDown:
			limit.slowDown(time.Now())
		case d360.RecipientBackoff:
			wait = max(wait, w.pacer.hit(userKey, time.Now()))
		}
		if apiErr != nil && apiErr.RetryAfter > wait {
			wait = apiErr.RetryAfter
		}
		w.log.Info("retrying send", "command_id", j.cmd.ID, "attempt", attempt, "class", class.String(), "wait", wait, "err", err)
		if err := w.sleep(ctx, j, wait); err != nil {
			return outcome{attempts: attempt}, err
		}
	}
	return w.failed("retries_exhausted", lastErr, "", attempt), nil
}

// sleep waits d without holding j's run token, so other recipients' commands
// run meanwhile; the error is ctx's.
func (w *Worker) sleep(ctx context.Context, j job, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	j.turn.release()
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C:
	}
	return j.turn.acquire(ctx)
}

func (w *Worker) failed(reason string, lastErr error, details string, attempts int) outcome {
	var apiErr *d360.APIError
	errors.As(lastErr, &apiErr)
	if details == "" && lastErr != nil {
		details = lastErr.Error()
	}
	return outcome{status: "failed", reason: reason, apiErr: apiErr, details: details, attempts: attempts}
}

// backoff is exponential with full jitter.
func (w *Worker) backoff(attempt int) time.Duration {
	ceil := w.cfg.BackoffMin << min(attempt-1, 20)
	if ceil > w.cfg.BackoffMax || ceil <= 0 {
		ceil = w.cfg.BackoffMax
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// commit commits the finished prefix of the partitions in only (all when
// nil); the error is the last failure, logged already.
//
// Commits are taken one at a time, from computing their offsets to the
// broker's answer: the ticker's commit could otherwise compute offsets,
// let a revocation commit newer ones, and then move the group's offsets
// back with its older ones.
func (w *Worker) commit(ctx context.Context, cl *kgo.Client, only map[int32]bool) error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	points := w.track.toCommit(only)
	if len(points) == 0 {
		return nil
	}
	// A commit request of our own, not CommitOffsetsSync: it carries the
	// finished offsets beyond each commit point as the offset's metadata.
	member, generation := cl.GroupMetadata()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = w.cfg.GroupID, generation, member
	if w.cfg.InstanceID != "" {
		req.InstanceID = kmsg.StringPtr(w.cfg.InstanceID)
	}
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = w.cfg.CommandTopic, w.commandTopicID // the id for OffsetCommit v10+
	for p, c := range points {
		if c.unlisted > 0 {
			w.m.CommitListCut.Inc()
			w.log.Warn("the commit's list of finished commands is full: commands are admitted again once it fits; a revocation writes the unlisted ones to the ledger as done",
				"partition", p, "offset", c.at, "listed_bytes", len(c.meta), "unlisted", c.unlisted)
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, c.at, -1, kmsg.StringPtr(c.meta)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	failed := func(p int32) {
		if w.track.commitFailed(p) {
			w.log.Warn("offset commits of the partition fail: its commands wait before their API call until one goes through (what is sent and not committed would be an unknown outcome for a new owner)", "partition", p)
		}
	}
	if err != nil {
		for p := range points {
			failed(p)
		}
	} else {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil {
					err = fmt.Errorf("partition %d: %w", p.Partition, perr)
					failed(p.Partition)
					continue
				}
				w.track.committed(p.Partition, points[p.Partition])
				w.mu.Lock()
				if s := w.seen[p.Partition]; s != nil {
					s.forget(points[p.Partition].at-int64(w.cfg.MaxAhead), points[p.Partition].at)
				}
				w.mu.Unlock()
			}
		}
	}
	if err != nil {
		w.log.Warn("offset commit failed; will retry", "err", err)
	}
	for p, lag := range w.track.lags() {
		w.m.ConsumerLag.WithLabelValues(w.cfg.CommandTopic, strconv.Itoa(int(p))).Set(float64(lag))
	}
	return err
}

// assigned restores the ledger of new partitions before their records are
// fetched.
func (w *Worker) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	if w.hooks.assigned != nil {
		w.hooks.assigned()
	}
	w.cl.Store(cl)
	parts := assigned[w.cfg.CommandTopic]
	if len(parts) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	// Without the ledger, redelivered commands could go out twice: do not
	// process the partition; stop Run with the error, so the process stops
	// (and is restarted) rather than stays up without outbound.
	failed := func(p int32, err error) {
		w.log.Error("restoring the send ledger failed; stopping", "partition", p, "err", err)
		w.fail(fmt.Errorf("restoring the send ledger of partition %d of %s: %w", p, w.cfg.CommandTopic, err))
	}
	// The commit's list of finished offsets is half of what is done: a
	// restore without it would take every command finished beyond the
	// committed offset for an unknown outcome.
	committed, finished, err := w.committedOffsets(rctx, adm, parts)
	if err != nil {
		failed(parts[0], err)
		return
	}
	starts, ends, err := listLedger(rctx, adm, w.cfg.LedgerTopic)
	if err != nil {
		failed(parts[0], err)
		return
	}
	for _, p := range parts {
		t0 := time.Now()
		c, ok := committed[p]
		if !ok || c < 0 {
			c = -1
		}
		fin := finished[p]
		if here := w.takeFinishedHere(p); len(here) > 0 {
			if fin == nil {
				fin = map[int64]bool{}
			}
			n := 0
			for _, o := range here {
				if o >= c {
					fin[o] = true
					n++
				}
			}
			w.log.Info("partition back: the commands this process finished and could not commit are skipped when read again", "partition", p, "finished", n)
		}
		// From MaxAhead before c: the ids of the commands before c are
		// what a replay (seen.go) is recognised by.
		entries, n, err := restoreLedger(rctx, w.conn(), starts, ends, w.cfg.LedgerTopic, w.cfg.CommandTopic, p, max(c-int64(w.cfg.MaxAhead), 0), int64(w.cfg.MaxAhead), w.log)
		if err != nil {
			failed(p, err)
			return
		}
		seen := seenFrom(w.cfg.CommandTopic, p, entries)
		maps.DeleteFunc(entries, func(_ string, e ledgerEntry) bool { return e.Offset < c })
		w.m.LedgerRestore.Observe(time.Since(t0).Seconds())
		w.track.assign(p, c)
		pctx, cancel := context.WithCancel(w.workCtx)
		w.mu.Lock()
		w.ledger[p] = entries
		w.seen[p] = seen
		w.finishedAt[p] = fin
		w.waves[p] = w.newWaves(p)
		w.cancels[p] = cancel
		w.partCtxs[p] = pctx
		w.running[p] = &sync.WaitGroup{}
		w.gen++
		w.gens[p] = w.gen
		gen := w.gen
		w.mu.Unlock()
		w.in.assign(p, gen)
		w.log.Info("partition assigned", "partition", p, "committed", c, "ledger_entries_read", n, "ledger_entries_kept", len(entries))
	}
}

// committedOffsets is the group's committed offset of each of parts that
// has one, and the finished offsets its commit lists. It asks again until
// ctx ends: a restore without them would take every command finished
// beyond the committed offset for an unknown outcome.
func (w *Worker) committedOffsets(ctx context.Context, adm *kadm.Client, parts []int32) (map[int32]int64, map[int32]map[int64]bool, error) {
	for attempt := 1; ; attempt++ {
		offs, err := adm.FetchOffsets(ctx, w.cfg.GroupID)
		if err == nil {
			committed := map[int32]int64{}
			finished := map[int32]map[int64]bool{}
			for _, p := range parts {
				o, ok := offs.Lookup(w.cfg.CommandTopic, p)
				if ok && o.Err != nil {
					err = fmt.Errorf("partition %d: %w", p, o.Err)
					break
				}
				if ok && o.At >= 0 {
					committed[p] = o.At
					finished[p] = decodeFinished(o.At, o.Metadata)
				}
			}
			if err == nil {
				return committed, finished, nil
			}
		}
		wait := w.backoff(attempt)
		w.log.Warn("fetching the committed offsets for the ledger restore failed; retrying", "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("fetching the committed offsets of group %s: %w", w.cfg.GroupID, err)
		case <-time.After(wait):
		}
	}
}

// revoked commits what finished on the partitions that go away, after
// giving running commands RevokeGrace to finish; queued ones are dropped
// (the next owner reads them).
func (w *Worker) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	parts := revoked[w.cfg.CommandTopic]
	if len(parts) == 0 {
		return
	}
	gone := map[int32]bool{}
	gens := map[int32]uint64{}
	w.mu.Lock()
	for _, p := range parts {
		gone[p] = true
		gens[p] = w.gens[p]
		delete(w.partCtxs, p) // admit takes no more of their records
		delete(w.gens, p)
	}
	w.mu.Unlock()
	for _, p := range parts {
		w.in.revoke(p) // drops the records waiting for admission
	}
	for _, j := range w.queue.drop(func(j job) bool { return gone[j.rec.Partition] }) {
		w.abandon(j, false)
	}
	// One grace for all the partitions, not one each: a rebalance waits for
	// this callback (RebalanceTimeout).
	grace, cancelGrace := context.WithTimeout(context.Background(), w.cfg.RevokeGrace)
	defer cancelGrace()
	for _, p := range parts {
		w.mu.Lock()
		wg := w.running[p]
		w.mu.Unlock()
		if wg == nil {
			continue
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-grace.Done():
			w.mu.Lock()
			w.cancels[p]()
			w.mu.Unlock()
			<-done
		}
	}
	// The partitions move only once this callback returns: a commit the
	// group refuses for now (a rebalance completing, the coordinator
	// loading or moving, the broker unreachable) is tried again until the
	// deadline, or the next owner would take what finished since the last
	// commit for unknown outcomes.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	for attempt := 1; ; attempt++ {
		err := w.commit(cctx, cl, gone)
		if err == nil || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.FencedInstanceID) {
			break // done, or no longer a member: a commit cannot succeed
		}
		select {
		case <-cctx.Done():
		case <-time.After(min(w.backoff(attempt), time.Second)):
			continue
		}
		break
	}
	cancel()
	// What finished and is not in a commit (the broker is down, the group
	// moved on) would be an unknown outcome for the next owner. If that is
	// this process again (a reconnect, a rebalance that hands the partition
	// back), it remembers: the commands are skipped, not sent again.
	var forNext []*kgo.Record
	for _, p := range parts {
		w.mu.Lock()
		also := w.finishedAt[p]
		w.mu.Unlock()
		if offs := w.track.unsettled(p, also); len(offs) > 0 {
			w.keepFinished(p, offs)
			w.log.Warn("finished commands not in a commit when the partition went; remembered in case it comes back, and written to the ledger as done for another owner", "partition", p, "finished", len(offs))
			forNext = append(forNext, w.doneRecord(p, offs))
		}
		forNext = append(forNext, w.releasedRecord(p, gens[p]))
	}
	w.writeForNextOwner(forNext)
	w.mu.Lock()
	for _, p := range parts {
		if c := w.cancels[p]; c != nil {
			c()
		}
		delete(w.cancels, p)
		delete(w.partCtxs, p)
		delete(w.ledger, p)
		delete(w.seen, p)
		delete(w.released, p)
		delete(w.finishedAt, p)
		delete(w.waves, p)
		delete(w.running, p)
	}
	w.mu.Unlock()
	for _, p := range parts {
		w.track.revoke(p)
		w.m.ConsumerLag.DeleteLabelValues(w.cfg.CommandTopic, strconv.Itoa(int(p)))
	}
	w.log.Info("partitions revoked", "partitions", parts)
}

// ensureLedger creates the ledger topic with the command topic's partition
// count, or checks an existing one has it.
func (w *Worker) ensureLedger(ctx context.Context) error {
	cl, err := w.conn().NewClient(kgo.MetadataMinAge(100 * time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx, w.cfg.CommandTopic, w.cfg.LedgerTopic)
	if err != nil {
		return fmt.Errorf("describing %s and %s: %w", w.cfg.CommandTopic, w.cfg.LedgerTopic, err)
	}
	cmd, ok := td[w.cfg.CommandTopic]
	if !ok || cmd.Err != nil {
		return fmt.Errorf("command topic %q does not exist", w.cfg.CommandTopic)
	}
	n := int32(len(cmd.Partitions))
	w.commandTopicID = cmd.ID
	if l, ok := td[w.cfg.LedgerTopic]; ok && l.Err == nil {
		if int32(len(l.Partitions)) < n {
			return fmt.Errorf("ledger topic %q has %d partitions, fewer than the %d of command topic %q: add partitions to it", w.cfg.LedgerTopic, len(l.Partitions), n, w.cfg.CommandTopic)
		}
		return nil
	}
	topo := kafkaio.Topology{Names: kafkaio.TopicNames{Commands: w.cfg.CommandTopic, Ledger: w.cfg.LedgerTopic}, ReplicationFactor: -1}
	_, err = topo.Ensure(ctx, adm, kafkaio.RoleLedger)
	return err
}

func (w *Worker) result(j job, out outcome, latency time.Duration) (*kgo.Record, error) {
	r := w.resultRecord(j, out, latency)
	r.To, r.WAID, r.MessageID, r.MessageStatus = j.cmd.To, out.resp.WAID, out.resp.MessageID, out.resp.MessageStatus
	if r.Error != nil {
		r.Error.Details = out.details
		if e := out.apiErr; e != nil {
			if e.Code != 0 {
				r.Error.Code = ptr(int32(e.Code))
			}
			r.Error.HTTPStatus = ptr(int32(e.StatusCode))
			r.Error.Title = e.Title
			if e.Details != "" {
				r.Error.Details = e.Details
			}
		}
	}
	value, err := w.encodeResult(r)
	if err != nil {
		return nil, fmt.Errorf("encoding result of command %s: %w", j.cmd.ID, err)
	}
	// Key results like the webhook events of the same user (digits only), so
	// a user's results and statuses share a partition.
	return w.resultRec(j.cmd.To, j.rec.Key, value, j.cmd.ID, w.traced(j)), nil
}

// resultRecord is the result of j with only the fields that cannot fail to
// encode: ids, outcome, counts and the source position.
func (w *Worker) resultRecord(j job, out outcome, latency time.Duration) schemas.SendResultRecord {
	r := schemas.SendResultRecord{
		EventID: "result:" + j.cmd.ID, CommandID: j.cmd.ID, Outcome: out.status,
		ProducedAt: time.Now().UTC().Truncate(time.Millisecond),
		Attempts:   int32(out.attempts), LatencyMS: latency.Milliseconds(),
		SourceTopic: j.rec.Topic, SourcePartition: j.rec.Partition, SourceOffset: j.rec.Offset,
	}
	if out.status != "accepted" {
		r.Error = &schemas.SendErrorRecord{Reason: out.reason}
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// resultEncoder is a ResultEncoder that writes a result without building
// its native form (*schemas.Encoder is one).
type resultEncoder interface {
	EncodeSendResult(schemas.SendResultRecord) ([]byte, error)
}

func (w *Worker) encodeResult(r schemas.SendResultRecord) ([]byte, error) {
	if e, ok := w.cfg.ResultEncoder.(resultEncoder); ok {
		return e.EncodeSendResult(r)
	}
	return w.cfg.ResultEncoder.Encode(r.Native())
}

// bareResult is the result of j with only the fields that cannot fail to
// encode (resultRecord).
func (w *Worker) bareResult(j job, out outcome, latency time.Duration) (*kgo.Record, error) {
	value, err := w.encodeResult(w.resultRecord(j, out, latency))
	if err != nil {
		return nil, fmt.Errorf("encoding bare result of command %s: %w", j.cmd.ID, err)
	}
	return w.resultRec("", j.rec.Key, value, j.cmd.ID, w.traced(j)), nil
}

// The values of the headers every result carries; shared, as nothing
// changes a record's header values once it is produced.
var (
	sendResultKind = []byte(schemas.SendResult)
	avroContent    = []byte("application/vnd.confluent.avro")
)

// resultRecord is a result record and its headers, allocated together.
type resultRecord struct {
	rec     kgo.Record
	headers [3]kgo.RecordHeader
}

// resultRec is a result record of the command commandID (value encoded),
// keyed by the recipient to (UserKey), or by key when to is empty, produced
// in ctx (Worker.traced). The record, its headers and the bytes of its key
// and id take two allocations.
func (w *Worker) resultRec(to string, key, value []byte, commandID string, ctx context.Context) *kgo.Record {
	r := &resultRecord{}
	buf := make([]byte, 0, len(to)+len(commandID))
	if to != "" {
		buf = appendUserKey(buf, to)
		key = buf[:len(buf):len(buf)]
	}
	id := append(buf[len(buf):], commandID...)
	r.headers = [3]kgo.RecordHeader{
		{Key: "event-kind", Value: sendResultKind},
		{Key: "content-type", Value: avroContent},
		{Key: HeaderCommandID, Value: id},
	}
	r.rec = kgo.Record{Topic: w.cfg.ResultTopic, Key: key, Value: value, Headers: r.headers[:], Context: ctx}
	return &r.rec
}

// deadLetter keeps the original record bytes and headers, with the reason:
// wrapped in a DeadLetter record when DeadLetterEncoder is set, and always
// with dlq-* headers, so a consumer can route without decoding.
func (w *Worker) deadLetter(j job, out outcome) *kgo.Record {
	m := j.rec
	reason := out.reason + ": " + out.details
	headers := append([]kgo.RecordHeader(nil), m.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: "dlq-reason", Value: []byte(reason)},
		kgo.RecordHeader{Key: "dlq-source", Value: []byte("command")},
		kgo.RecordHeader{Key: "dlq-source-topic", Value: []byte(m.Topic)},
		kgo.RecordHeader{Key: "dlq-source-partition", Value: []byte(strconv.Itoa(int(m.Partition)))},
		kgo.RecordHeader{Key: "dlq-source-offset", Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	value := m.Value
	if w.cfg.DeadLetterEncoder != nil {
		d := schemas.DeadLetterRecord{
			Source: "command", Reason: reason, At: time.Now(), CommandID: j.cmd.ID,
			Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Original: m.Value,
		}
		for _, h := range m.Headers {
			d.Headers = append(d.Headers, [2][]byte{[]byte(h.Key), h.Value})
		}
		if b, err := w.cfg.DeadLetterEncoder.Encode(d.Native()); err == nil {
			value = b
			headers = append(headers,
				kgo.RecordHeader{Key: "event-kind", Value: []byte(schemas.DeadLetter)},
				kgo.RecordHeader{Key: "content-type", Value: []byte("application/vnd.confluent.avro")})
		} else {
			w.log.Error("encoding the dead-letter record; keeping the original bytes alone", "command_id", j.cmd.ID, "err", err)
		}
	}
	return &kgo.Record{Topic: w.cfg.DeadLetterTopic, Key: m.Key, Value: value, Headers: headers, Context: w.traced(j)}
}

// detach copies what a job keeps of r. A fetched record's key, value and
// headers point into the fetch response, shared by every record of its
// batch: one record waiting its turn would keep the whole response alive
// (at 1,024 sends in flight that was a third of the heap).
func detach(r *kgo.Record) *kgo.Record {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Value)
	}
	buf := make([]byte, 0, n)
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	c := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, LeaderEpoch: r.LeaderEpoch, Attrs: r.Attrs}
	c.Key = take(r.Key)
	c.Value = take(r.Value)
	if len(r.Headers) > 0 {
		c.Headers = make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			c.Headers[i] = kgo.RecordHeader{Key: strings.Clone(h.Key), Value: take(h.Value)}
		}
	}
	return c
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// phoneNumberID is the business number of j: its business-number header,
// else the default key's.
func (w *Worker) phoneNumberID(j job) string {
	if j.number != "" {
		return j.number
	}
	return w.cfg.PhoneNumberID
}

// checkWindow asks the window and opt-in rules about j; a non-nil outcome
// rejects it. The error is ctx's.
func (w *Worker) checkWindow(ctx context.Context, j job) (*outcome, error) {
	if w.cfg.Window == nil || j.cmd.Type == "status" {
		return nil, nil
	}
	wait, err := window.ParseWait(header(j.rec, window.HeaderWindowWait))
	if err != nil {
		return &outcome{status: "rejected", reason: "invalid_command", details: "header " + window.HeaderWindowWait + ": " + err.Error()}, nil
	}
	category := header(j.rec, window.HeaderTemplateCategory)
	if cat := w.cfg.Templates[j.number]; category == "" && cat != nil {
		if t := j.template(); t.ok {
			category = cat.Category(t.name, t.lang)
		}
	}
	if wait > 0 {
		j.turn.release() // waiting for the window holds no run token
	}
	d, err := w.cfg.Window.Check(ctx, window.Message{
		Number: w.phoneNumberID(j), User: UserKey(j.cmd.To),
		Template: j.cmd.Type == "template", Category: category, Wait: wait,
	})
	if aerr := j.turn.acquire(ctx); err == nil {
		err = aerr
	}
	if err != nil {
		return nil, err
	}
	if !d.Allow {
		return &outcome{status: "rejected", reason: d.Reason, details: d.Details}, nil
	}
	if d.Warned() {
		w.log.Warn("sending although the rules say no (mode warn)", "command_id", j.cmd.ID, "reason", d.Reason, "details", d.Details)
	}
	return nil, nil
}

// templateCommand is what the catalogue checks of a template command: its
// name, language and parameters, read from its body once (template).
type templateCommand struct {
	name, lang string
	params     catalog.ParamCounts
	ok         bool // a template command
	read       bool
}

// template reads j's template once for the template and window checks
// (a job runs on one goroutine at a time).
func (j job) template() *templateCommand {
	t := j.tmpl
	if t == nil {
		return &notTemplate
	}
	if !t.read {
		t.name, t.lang, t.params, t.ok = catalog.CommandParams(j.cmd.Body)
		t.read = true
	}
	return t
}

// notTemplate is the template of every other command (never written).
var notTemplate = templateCommand{read: true}

// checkTemplate checks a template command against its number's catalogue;
// a non-nil outcome rejects it. A template the catalogue does not know makes
// it reload once (rate-limited), in case it was created since.
func (w *Worker) checkTemplate(ctx context.Context, j job) *outcome {
	cat := w.cfg.Templates[j.number]
	t := j.template()
	if cat == nil || !t.ok {
		return nil
	}
	err := cat.Check(t.name, t.lang, t.params)
	if catalog.Unknown(err) && cat.Refresh(ctx) == nil {
		err = cat.Check(t.name, t.lang, t.params)
	}
	var ce *catalog.Error
	if errors.As(err, &ce) {
		return &outcome{status: "rejected", reason: ce.Kind.String(), details: err.Error()}
	}
	return nil
}

// registryRefusedError: the schema registry refused wabridge's credentials
// (HTTP 401 or 403) when asked for a typed command's schema. It is not
// schemas.ErrRegistryUnavailable: nothing is gained by waiting.
type registryRefusedError struct{ err *sr.ResponseError }

func (e *registryRefusedError) Error() string {
	return "the schema registry refused the credentials (fix SCHEMA_REGISTRY_USER/PASSWORD, then replay the dead letter): " + e.err.Error()
}
func (e *registryRefusedError) Unwrap() error { return e.err }

// typed turns an Avro SendCommand record into its command, and the record
// into its JSON form (typedCommand); on an error the command has only its
// id.
func (w *Worker) typed(ctx context.Context, m *kgo.Record) (*kgo.Record, Command, error) {
	undecoded := func(err error) (*kgo.Record, Command, error) { return m, Command{ID: CommandID(m)}, err }
	if w.cfg.CommandDecoder == nil {
		return undecoded(&InvalidError{Rule: "value is Avro (Confluent framing) but no schema registry is configured to decode it"})
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	native, id, err := w.cfg.CommandDecoder.Decode(dctx, m.Value)
	var re *sr.ResponseError
	if errors.As(err, &re) && (re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden) {
		// Refused credentials are no outage to wait out: waiting would hold
		// up every command behind this one, JSON ones too.
		return undecoded(&registryRefusedError{err: re})
	}
	if errors.Is(err, schemas.ErrRegistryUnavailable) {
		return undecoded(err)
	}
	if err != nil {
		return undecoded(&InvalidError{Rule: fmt.Sprintf("Avro value (schema id %d) cannot be decoded: %v", id, err)})
	}
	return typedCommand(native, m)
}
