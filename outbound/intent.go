package outbound

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// waves writes the send ledger's intent records of one owned partition. A
// command joins the next wave as soon as it is next in line for its
// recipient (Worker.nextInLine), usually while the recipient's previous
// command is at the API or while it waits for a run token, and waits for
// that wave's acknowledgement only just before its own call: the round
// trip overlaps the wait instead of adding to it. A wave is written once
// one of its commands needs it (await) or once it holds waveTarget
// commands. Up to wavesWriting waves are on their way to the broker at
// once (one producer keeps them in order), so a command that joins just
// after a wave left waits one round trip, not the rest of that one too;
// the commands that join while that many are on their way make the next
// wave, so one record covers every command that became next in line
// meanwhile.
type waves struct {
	// write starts producing one wave's record; done is called once with
	// the broker's acknowledgement (nil) or the error that ended it.
	write func(cmds []waveCommand, done func(error))
	// running counts the flushing goroutine and the writes not yet
	// acknowledged.
	running *sync.WaitGroup
	// writing holds a token per write not yet acknowledged.
	writing chan struct{}

	mu   sync.Mutex
	next *wave // the wave new commands join; nil when none waits
	busy bool  // the flushing goroutine runs
}

// waveTarget is the size at which a wave is written before any of its
// commands needs it: large enough that intents cost well under one record
// per five commands, small enough to be written long before a command
// waiting for a run token gets one.
const waveTarget = 8

// wavesWriting is how many waves of a partition are written at once.
const wavesWriting = 4

func newWavesOf(running *sync.WaitGroup, write func(cmds []waveCommand, done func(error))) *waves {
	return &waves{write: write, running: running, writing: make(chan struct{}, wavesWriting)}
}

// wave is one intent record's commands, and its fate.
type wave struct {
	cmds    []waveCommand
	awaited bool          // a command of it waits for it (ws.mu)
	done    chan struct{} // closed once written (or failed: err)
	err     error
}

// waveCommand is one command of a wave.
type waveCommand struct {
	ID     string `json:"id"`
	Offset int64  `json:"offset"`
}

// join adds the command id at offset to the next wave and returns it.
func (ws *waves) join(id string, offset int64) *wave {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.next == nil {
		ws.next = &wave{done: make(chan struct{})}
	}
	wv := ws.next
	wv.cmds = append(wv.cmds, waveCommand{ID: id, Offset: offset})
	ws.kick()
	return wv
}

// await says that a command of wv is about to be sent: wv is written now
// (once a write token is free, if all are taken) if it was not already.
func (ws *waves) await(wv *wave) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	wv.awaited = true
	ws.kick()
}

// due reports whether the next wave is to be written now (ws.mu held).
func (ws *waves) due() bool {
	return ws.next != nil && (ws.next.awaited || len(ws.next.cmds) >= waveTarget)
}

// kick starts the flushing goroutine when a wave is due and none runs
// (ws.mu held).
func (ws *waves) kick() {
	if !ws.busy && ws.due() {
		ws.busy = true
		ws.running.Add(1)
		go ws.flush()
	}
}

// flush starts writing waves while one is due, each once a write token is
// free; the acknowledgement of each closes its done.
func (ws *waves) flush() {
	defer ws.running.Done()
	for {
		ws.writing <- struct{}{}
		ws.mu.Lock()
		if !ws.due() {
			ws.busy = false
			ws.mu.Unlock()
			<-ws.writing
			return
		}
		wv := ws.next
		ws.next = nil
		ws.mu.Unlock()
		ws.running.Add(1)
		ws.write(wv.cmds, func(err error) {
			wv.err = err
			close(wv.done)
			<-ws.writing
			ws.running.Done()
		})
	}
}

// waveRecord is the ledger record of one wave.
type waveRecord struct {
	State        string        `json:"state"` // ledgerSending
	CommandTopic string        `json:"command_topic"`
	Partition    int32         `json:"partition"`
	Commands     []waveCommand `json:"commands"`
	At           time.Time     `json:"at"`
}

// newWaves returns the wave writer of partition p.
func (w *Worker) newWaves(p int32) *waves {
	return newWavesOf(&w.writes, func(cmds []waveCommand, done func(error)) {
		value, err := json.Marshal(waveRecord{State: ledgerSending, CommandTopic: w.cfg.CommandTopic, Partition: p, Commands: cmds, At: time.Now().UTC()})
		if err != nil {
			done(fmt.Errorf("encoding ledger intent: %w", err))
			return
		}
		key := fmt.Sprintf("%s/%d/%d", w.cfg.CommandTopic, p, cmds[0].Offset)
		rec := &kgo.Record{Topic: w.cfg.LedgerTopic, Partition: p, Key: []byte(key), Value: value}
		// On workCtx, not a job's: a wave carries the commands of many
		// jobs, and a job that stops waiting must not fail the others'.
		w.ledgerCl.Produce(w.workCtx, rec, func(_ *kgo.Record, err error) { done(err) })
	})
}

// The offset commit's metadata names the commands finished beyond the
// committed offset (commands of different recipients finish out of order),
// so that a new owner skips them: "done" is the committed offset plus this
// list. Its form: "wb1:" then comma-separated offsets or ranges (a-b)
// relative to the committed offset, e.g. "wb1:1,3-7". Kafka keeps at most
// offset.metadata.max.bytes (default 4096) of it, so the list stops at
// maxFinishedBytes: the offsets it cannot hold are counted (commit logs and
// counts them, the tracker holds admission until the list fits) and are
// not done for a new owner unless a revocation writes them to the ledger
// (doneRecord).
const (
	finishedPrefix   = "wb1:"
	maxFinishedBytes = 4000
)

// encodeFinished writes the offsets (ascending, all > committed) finished
// beyond committed, as many as fit in maxFinishedBytes from the lowest;
// unlisted is how many did not fit.
func encodeFinished(committed int64, offsets []int64) (meta string, unlisted int) {
	if len(offsets) == 0 {
		return "", 0
	}
	b := []byte(finishedPrefix)
	for i := 0; i < len(offsets); {
		j := i
		for j+1 < len(offsets) && offsets[j+1] == offsets[j]+1 {
			j++
		}
		n := len(b)
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, offsets[i]-committed, 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendInt(b, offsets[j]-committed, 10)
		}
		if len(b) > maxFinishedBytes {
			if n == len(finishedPrefix) {
				return "", len(offsets)
			}
			return string(b[:n]), len(offsets) - i
		}
		i = j + 1
	}
	return string(b), 0
}

// decodeFinished reads encodeFinished's form; anything else (another
// tool's metadata) is no list.
func decodeFinished(committed int64, meta string) map[int64]bool {
	rest, ok := strings.CutPrefix(meta, finishedPrefix)
	if !ok || rest == "" {
		return nil
	}
	out := map[int64]bool{}
	for _, part := range strings.Split(rest, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.ParseInt(a, 10, 32)
		if err != nil || lo < 1 {
			return nil
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseInt(b, 10, 32); err != nil || hi < lo {
				return nil
			}
		}
		if committed > math.MaxInt64-hi || len(out)+int(hi-lo) > 1<<20 {
			return nil
		}
		for o := lo; o <= hi; o++ {
			out[committed+o] = true
		}
	}
	return out
}

// nextInLine joins j's ledger intent to its partition's next wave once j
// is next in line for its recipient (the keyQueue's next hook, called
// with the queue's lock held, so j's run sees the wave), if j is to be sent.
func (w *Worker) nextInLine(j job) {
	if j.intent != nil && j.intent.wave == nil {
		j.intent.wave = j.waves.join(j.cmd.ID, j.rec.Offset)
	}
}

// jobIntent is the wave a job's ledger intent joined before its turn.
type jobIntent struct{ wave *wave }

// awaitIntent waits until the wave that names j (joined when j became
// next in line, or now) is acknowledged. kgo retries what it can (its
// producer is idempotent, so retries never duplicate); a wave it gives up
// on is joined again after a backoff, since nobody else would read the
// command again while its partition is owned. The error is ctx's.
//
// While the partition's offset commits fail (the group coordinator moving,
// the group rebalancing) it waits first: every command finished and not
// committed would be an unknown outcome for a new owner, so a member that
// cannot commit sends no more than it has in flight.
func (w *Worker) awaitIntent(ctx context.Context, j job) error {
	t0 := time.Now()
	for w.track.commitsFailing(j.rec.Partition) {
		if err := w.sleep(ctx, j, w.cfg.CommitInterval); err != nil {
			return fmt.Errorf("waiting for the offset commits to go through: %w", err)
		}
	}
	var wv *wave
	if j.intent != nil {
		wv = j.intent.wave
	}
	for attempt := 1; ; attempt++ {
		if wv == nil {
			wv = j.waves.join(j.cmd.ID, j.rec.Offset)
		}
		j.waves.await(wv)
		var err error
		select {
		case <-wv.done:
			err = wv.err
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err == nil {
			w.intentLatency.Observe(time.Since(t0).Seconds())
			return nil
		}
		wv = nil
		if ctx.Err() == nil {
			wait := w.backoff(attempt)
			w.log.Error("writing the ledger intent failed; retrying", "command_id", j.cmd.ID, "attempt", attempt, "wait", wait, "err", err)
			err = w.sleep(ctx, j, wait)
		}
		if err != nil {
			return fmt.Errorf("writing the ledger intent: %w", err)
		}
	}
}
