package window

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkaio"
)

// Default topic names.
const (
	DefaultWindowTopic = "wabridge.windows"
	DefaultOptinTopic  = "wabridge.optin"
)

// conn is how the Store's clients reach Kafka.
func (c Config) conn(log *slog.Logger) kafkaio.Conn {
	return kafkaio.Conn{Brokers: c.Brokers, Security: c.Security, Logger: log, Metrics: c.KafkaMetrics}
}

// Config configures a Store.
type Config struct {
	Brokers []string
	// Security is Kafka's TLS and SASL (kafkaio.Security); zero: plaintext.
	Security kafkaio.Security
	// KafkaMetrics, when set, gets the metrics of the Store's producer
	// (client_id wabridge-window-producer) and consumer
	// (wabridge-window-consumer); nil: none.
	KafkaMetrics *kafkaio.ClientMetrics
	// WindowTopic holds the windows. Default: wabridge.windows.
	WindowTopic string
	// OptinTopic holds the opt-in registry. Default: wabridge.optin.
	OptinTopic string
	// Partitions and ReplicationFactor of the topics EnsureTopics creates.
	// Defaults: 6 and -1 (the broker's default).
	Partitions        int32
	ReplicationFactor int16

	// WindowMode applies the customer service window. Default: Enforce.
	WindowMode Mode
	// OptInMode applies the opt-in registry. Default: Off. Marketing
	// templates to users who opted out are rejected in every mode.
	OptInMode Mode
	// Grace: a window counts as closed this long before WhatsApp closes it.
	// Default: 60s.
	Grace time.Duration
	// MaxWait bounds Message.Wait (the command header window-wait).
	// Default: 30s.
	MaxWait time.Duration
	// SyncTimeout bounds the catch-up (Sync) Check does before rejecting a
	// message, and how long Opened, Closed and ChangeConsent wait for the
	// follower to apply their record. Default: 2s.
	SyncTimeout time.Duration
	// SweepInterval between sweeps of expired windows. Default: 1m.
	SweepInterval time.Duration
	// Keywords that change consent when they are a whole inbound text (see
	// Inbound). Nil: DefaultKeywords; &Matcher{} turns keywords off.
	Keywords *Matcher

	// InstanceID names this Store in the window records it writes; the
	// instance named in a window's newest record tombstones it. It must be
	// unique among running instances; a stable one (a StatefulSet pod name)
	// lets a restarted instance keep tombstoning its windows. Default: a
	// random "wb-" id (a restarted process is a new instance, and retention
	// removes what its predecessor did not tombstone).
	InstanceID string
	// Now is the clock. Default: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if len(c.Brokers) == 0 {
		return errors.New("window: no brokers")
	}
	if c.WindowTopic == "" {
		c.WindowTopic = DefaultWindowTopic
	}
	if c.OptinTopic == "" {
		c.OptinTopic = DefaultOptinTopic
	}
	if c.WindowTopic == c.OptinTopic {
		return fmt.Errorf("window: the window and opt-in topics are both %q", c.WindowTopic)
	}
	if c.Partitions <= 0 {
		c.Partitions = 6
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	var err error
	if c.WindowMode, err = ParseMode(string(c.WindowMode), Enforce); err != nil {
		return fmt.Errorf("window mode: %w", err)
	}
	if c.OptInMode, err = ParseMode(string(c.OptInMode), Off); err != nil {
		return fmt.Errorf("opt-in mode: %w", err)
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.Grace < 0 || c.Grace >= Length {
		return fmt.Errorf("window: grace %s: want between 0 and 24h", c.Grace)
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 30 * time.Second
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 2 * time.Second
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Minute
	}
	if c.Keywords == nil {
		m, err := NewMatcher(DefaultKeywords())
		if err != nil {
			return err
		}
		c.Keywords = m
	}
	if c.InstanceID == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		c.InstanceID = "wb-" + hex.EncodeToString(b)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Store keeps the windows and the opt-in registry of every user in memory,
// restored from and following their compacted topics, and writes changes to
// them. Its methods are safe for concurrent use. See the package doc.
type Store struct {
	cfg  Config
	log  *slog.Logger
	seed maphash.Seed
	prod *kgo.Client
	adm  *kadm.Client

	ready     chan struct{}
	readyOnce sync.Once
	started   atomic.Bool // Run was called
	running   atomic.Bool // Run's follower is active
	restoreNs atomic.Int64

	records, invalid, heals, tombstones atomic.Int64
	syncWarned                          atomic.Int64 // UnixNano of the last catch-up warning

	consentMu chan struct{} // a one-slot lock that serialises ChangeConsent (read-modify-write); taken with a context

	syncers [4]syncer // per topic mask (Sync)

	mu        sync.Mutex
	windows   map[uint64]entry
	consents  map[uint64]packedConsent
	otherCats map[uint64]map[string]bool
	waiters   map[uint64][]chan struct{}
	tomb      tombHeap
	// pos is the next offset the follower applies, per partition.
	pos map[tp]int64
	// advanced is closed (and replaced) whenever pos moves.
	advanced chan struct{}
}

// tp is a partition of the window topic (t 0) or the opt-in topic (t 1).
type tp struct {
	t uint8
	p int32
}

// New checks cfg and returns a Store. It connects to nothing yet: call
// EnsureTopics (if it should create the topics), then Run.
func New(cfg Config) (*Store, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "window")
	prod, err := cfg.conn(log).Named("window-producer").NewClient(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2, like Java producers
		kgo.MetadataMinAge(100*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("window kafka client: %w", err)
	}
	return &Store{
		cfg: cfg, log: log, seed: maphash.MakeSeed(), prod: prod, adm: kadm.NewClient(prod),
		ready:     make(chan struct{}),
		consentMu: make(chan struct{}, 1),
		windows:   map[uint64]entry{},
		consents:  map[uint64]packedConsent{},
		otherCats: map[uint64]map[string]bool{},
		waiters:   map[uint64][]chan struct{}{},
		pos:       map[tp]int64{},
		advanced:  make(chan struct{}),
	}, nil
}

// Close closes the Store's producer. Call it after Run returned and no
// more writes are made.
func (s *Store) Close() { s.prod.Close() }

// InstanceID is the name this Store writes into window records.
func (s *Store) InstanceID() string { return s.cfg.InstanceID }

func (s *Store) now() time.Time { return s.cfg.Now() }

func (s *Store) topic(t uint8) string {
	if t == 0 {
		return s.cfg.WindowTopic
	}
	return s.cfg.OptinTopic
}

func (s *Store) hashKey(number, user string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(number)
	h.WriteByte('|')
	h.WriteString(NormalizeUser(user))
	return h.Sum64()
}

// EnsureTopics creates the topics that are missing, with the configs
// kafkaio.Topology gives them, and warns about existing ones whose cleanup
// policy defeats the design:
//
//   - window topic: cleanup.policy=compact,delete, retention.ms=48h,
//     segment.ms=1h, delete.retention.ms=1h. Deleting by time is safe here:
//     no record matters more than 24 h after it was written (its window
//     ended; a window that a later message refreshed has a later record),
//     so a key rewritten daily always keeps its newest record. Compaction
//     (and the tombstones the sweep writes) keep only the newest record of
//     each live key; retention removes what no live instance tombstoned.
//   - opt-in topic: cleanup.policy=compact and nothing by time: consent
//     does not expire, however old the record.
func (s *Store) EnsureTopics(ctx context.Context) error {
	topo := kafkaio.Topology{
		Names:      kafkaio.TopicNames{Windows: s.cfg.WindowTopic, Optin: s.cfg.OptinTopic},
		Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.ReplicationFactor,
	}
	created, err := topo.Ensure(ctx, s.adm, kafkaio.RoleWindows, kafkaio.RoleOptin)
	if err != nil {
		return err
	}
	if len(created) > 0 {
		s.log.Info("created topics", "topics", created, "partitions", s.cfg.Partitions)
	}
	rcs, err := s.adm.DescribeTopicConfigs(ctx, s.cfg.WindowTopic, s.cfg.OptinTopic)
	if err != nil {
		s.log.Warn("could not check the cleanup policies of the window and opt-in topics", "err", err)
		return nil
	}
	for _, rc := range rcs {
		policy := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				policy = *c.Value
			}
		}
		switch {
		case rc.Err != nil:
		case rc.Name == s.cfg.OptinTopic && policy != "compact":
			s.log.Warn("the opt-in topic should have cleanup.policy=compact only: with delete, consent records expire and users lose their opt-in or opt-out", "topic", rc.Name, "cleanup_policy", policy)
		case rc.Name == s.cfg.WindowTopic && (policy == "delete" || policy == ""):
			s.log.Warn("the window topic should have cleanup.policy=compact,delete: without compaction its restore reads every record of the retention period", "topic", rc.Name, "cleanup_policy", policy)
		}
	}
	return nil
}

// Ready says whether the restore is done.
func (s *Store) Ready() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// WaitReady blocks until the restore is done or ctx ends.
func (s *Store) WaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the window and opt-in state to be restored: %w", ctx.Err())
	}
}

// Run restores both topics (every partition up to the end offsets it finds
// at start; Ready turns true then), then follows them and sweeps expired
// windows until ctx ends. It returns nil then, and an error when it cannot
// start (e.g. a topic does not exist).
func (s *Store) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("window: Run may be called once")
	}
	s.running.Store(true)
	defer s.running.Store(false)
	t0 := time.Now()
	ends, err := s.listOffsets(ctx, true, bothTopics)
	if err != nil {
		return err
	}
	starts, err := s.listOffsets(ctx, false, bothTopics)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for k, o := range starts {
		s.pos[k] = max(s.pos[k], o)
	}
	s.mu.Unlock()

	cl, err := s.cfg.conn(s.log).Named("window-consumer").NewClient(
		kgo.ConsumeTopics(s.cfg.WindowTopic, s.cfg.OptinTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchMaxPartitionBytes(8<<20),
	)
	if err != nil {
		return fmt.Errorf("window kafka consumer: %w", err)
	}
	defer cl.Close()

	errc := make(chan error, 1)
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	go func() { errc <- s.follow(followCtx, cl) }()

	restored := make(chan error, 1)
	go func() { restored <- s.waitPositions(followCtx, ends) }()
	select {
	case err := <-errc:
		return err
	case err := <-restored:
		if err != nil {
			stopFollow()
			<-errc
			return nil // ctx ended
		}
	}
	s.restoreNs.Store(int64(time.Since(t0)))
	s.readyOnce.Do(func() { close(s.ready) })
	st := s.Stats()
	s.log.Info("window and opt-in state restored", "duration", time.Since(t0).Round(time.Millisecond),
		"records", st.Records, "windows", st.Windows, "consents", st.Consents, "invalid_records", st.Invalid)

	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-t.C:
			s.Sweep(ctx)
		case <-ctx.Done():
			stopFollow()
			<-errc
			return nil
		}
	}
}

// Topic masks for listOffsets and sync.
const (
	windowsTopic uint8 = 1 << iota
	optinTopic
	bothTopics = windowsTopic | optinTopic
)

// listOffsets lists the end (or start) offsets of every partition of the
// topics in mask.
func (s *Store) listOffsets(ctx context.Context, end bool, mask uint8) (map[tp]int64, error) {
	list := s.adm.ListStartOffsets
	if end {
		list = s.adm.ListEndOffsets
	}
	var names []string
	for t := uint8(0); t < 2; t++ {
		if mask&(1<<t) != 0 {
			names = append(names, s.topic(t))
		}
	}
	lo, err := list(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %v: %w", names, err)
	}
	out := map[tp]int64{}
	for t := uint8(0); t < 2; t++ {
		if mask&(1<<t) == 0 {
			continue
		}
		name := s.topic(t)
		ps, ok := lo[name]
		if !ok || len(ps) == 0 {
			return nil, fmt.Errorf("topic %q does not exist (create it, e.g. with --create-topics)", name)
		}
		for p, o := range ps {
			if p < 0 || errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("topic %q does not exist (create it, e.g. with --create-topics)", name)
			}
			if o.Err != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", name, p, o.Err)
			}
			out[tp{t, p}] = o.Offset
		}
	}
	return out, nil
}

// follow applies every fetched record until ctx ends.
func (s *Store) follow(ctx context.Context, cl *kgo.Client) error {
	warned := map[string]time.Time{}
	for {
		fs := cl.PollRecords(ctx, 10000)
		if ctx.Err() != nil {
			return nil
		}
		if fs.IsClientClosed() {
			return errors.New("window kafka consumer closed")
		}
		fs.EachError(func(t string, p int32, err error) {
			k := fmt.Sprint(t, p, err)
			if len(warned) > 1000 {
				clear(warned)
			}
			if time.Since(warned[k]) > time.Minute {
				warned[k] = time.Now()
				s.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		var heals []*kgo.Record
		fs.EachTopic(func(ft kgo.FetchTopic) {
			t := uint8(0)
			if ft.Topic == s.cfg.OptinTopic {
				t = 1
			}
			for _, p := range ft.Partitions {
				if len(p.Records) == 0 {
					continue
				}
				now := s.now()
				s.mu.Lock()
				for _, r := range p.Records {
					if t == 0 {
						if h := s.applyWindow(r, now); h != nil {
							heals = append(heals, h)
						}
					} else if h := s.applyConsent(r); h != nil {
						heals = append(heals, h)
					}
				}
				k := tp{t, p.Partition}
				s.pos[k] = max(s.pos[k], p.Records[len(p.Records)-1].Offset+1)
				close(s.advanced)
				s.advanced = make(chan struct{})
				s.mu.Unlock()
				s.records.Add(int64(len(p.Records)))
			}
		})
		for _, r := range heals {
			s.heals.Add(1)
			s.prod.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil && ctx.Err() == nil {
					s.log.Warn("re-writing a window or consent that a stale record or tombstone overwrote failed", "topic", r.Topic, "key", string(r.Key), "err", err)
				}
			})
		}
	}
}

// applyWindow applies one record of the window topic; it returns a record
// to write when the topic's newest record of the key is now older than
// what this Store wrote (a heal). Callers hold s.mu.
func (s *Store) applyWindow(r *kgo.Record, now time.Time) *kgo.Record {
	if err := checkKey(r.Key); err != nil {
		s.bad(r, err)
		return nil
	}
	h := maphash.Bytes(s.seed, r.Key)
	cur, ok := s.windows[h]
	if r.Value == nil { // tombstone
		switch {
		case !ok:
		case cur.expired(now) && cur.tracked():
			s.windows[h] = cur &^ mineBit // someone else cleaned up; the sweep drops it
		case cur.expired(now):
			delete(s.windows, h)
		case cur.mine():
			// A tombstone written while this Store refreshed the window
			// (another instance thought it expired): write it again, or
			// compaction would forget a live window.
			return s.windowRecord(string(r.Key), cur)
		}
		return nil
	}
	v, err := DecodeWindow(r.Value)
	if err != nil {
		s.bad(r, err)
		return nil
	}
	in := makeEntry(v.LastInboundAt, v.ClosedAt)
	if in.expired(now) { // ended: never stored
		if ok && cur.mine() && !cur.expired(now) {
			return s.windowRecord(string(r.Key), cur) // it overwrote a live window
		}
		return nil
	}
	merged := cur.merge(in)
	var heal *kgo.Record
	if merged.times() == in.times() {
		// The record carries the whole state: its writer owns the key.
		if v.By == s.cfg.InstanceID {
			merged |= mineBit
			if !merged.tracked() {
				merged |= trackBit
				heap.Push(&s.tomb, tombItem{expiry: merged.expiry(), key: string(r.Key)})
			}
		} else {
			merged &^= mineBit
		}
	} else if cur.mine() {
		// A record older than what this Store wrote came later: compaction
		// would keep it, so write the merged state again.
		heal = s.windowRecord(string(r.Key), merged)
	}
	s.windows[h] = merged
	if ws := s.waiters[h]; len(ws) > 0 && merged.state().IsOpen(now, s.cfg.Grace) {
		for _, ch := range ws {
			close(ch)
		}
		delete(s.waiters, h)
	}
	return heal
}

// applyConsent applies one record of the opt-in topic: a record replaces
// the state of its key unless the state is a newer decision (a later at, in
// whole seconds): a change written late (a webhook retried after its 503,
// a write that outlived its request) must not undo a newer one. It then
// returns a record that writes the newer state again, since compaction
// keeps the last record of a key, not the newest decision. Callers hold
// s.mu.
func (s *Store) applyConsent(r *kgo.Record) *kgo.Record {
	if err := checkKey(r.Key); err != nil {
		s.bad(r, err)
		return nil
	}
	h := maphash.Bytes(s.seed, r.Key)
	if r.Value == nil {
		delete(s.consents, h)
		delete(s.otherCats, h)
		return nil
	}
	v, err := DecodeConsent(r.Value)
	if err != nil {
		s.bad(r, err)
		return nil
	}
	c := v.Consent(r.Timestamp)
	if cur, ok := s.consents[h]; ok && c.At.Unix() < cur.unpack(nil).At.Unix() {
		kept := cur.unpack(s.otherCats[h])
		kept.Source = "kept-newer"
		return &kgo.Record{Topic: s.cfg.OptinTopic, Key: r.Key, Value: kept.Value().Encode()}
	}
	p, other := packConsent(c)
	s.consents[h] = p
	if other != nil {
		s.otherCats[h] = other
	} else {
		delete(s.otherCats, h)
	}
	return nil
}

func (s *Store) bad(r *kgo.Record, err error) {
	if n := s.invalid.Add(1); n <= 10 || n%10000 == 0 {
		s.log.Warn("skipping an invalid record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "invalid_records", n, "err", err)
	}
}

// Stats are counts for metrics and logs.
type Stats struct {
	// Windows and Consents in memory; Tracked windows this instance will
	// write tombstones for.
	Windows, Consents, Tracked int
	// Records applied since Run began; Invalid ones skipped; Heals and
	// Tombstones written.
	Records, Invalid, Heals, Tombstones int64
	// RestoreTime of the last restore; zero before Ready.
	RestoreTime time.Duration
	Ready       bool
}

// Stats returns the current counts.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	st := Stats{Windows: len(s.windows), Consents: len(s.consents), Tracked: s.tomb.Len()}
	s.mu.Unlock()
	st.Records, st.Invalid, st.Heals, st.Tombstones = s.records.Load(), s.invalid.Load(), s.heals.Load(), s.tombstones.Load()
	st.RestoreTime = time.Duration(s.restoreNs.Load())
	st.Ready = s.Ready()
	return st
}
