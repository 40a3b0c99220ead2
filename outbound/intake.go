package outbound

import (
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// intake holds fetched records until they are admitted, and shares the
// read-ahead (MaxBuffered) evenly among the owned partitions: each may have
// at most its share of commands admitted and unfinished. Without the shares,
// the records of one partition could fill the whole read-ahead while the
// recipients of the others sat idle behind them in the fetch: with 100 ms
// API calls, that left fewer than half of the in-flight calls in use.
//
// Records beyond a partition's share wait here, in order; while pauseAt or
// more wait, fetching that partition is paused, so what waits stays bounded.
// One goroutine (Worker.admitLoop) takes records out, so a partition's
// records are admitted in offset order.
type intake struct {
	max     int // MaxBuffered
	pauseAt int
	// pause and resume stop and restart fetching a partition; they are
	// called with mu held, so their calls happen in the order decided.
	pause, resume func(p int32)

	mu    sync.Mutex
	parts map[int32]*partIntake
	order []int32 // owned partitions, sorted
	last  int     // index into order of the partition served last
	wake  chan struct{}
}

type partIntake struct {
	// gen is the ownership the partition was assigned with: a record
	// taken out under an earlier ownership (revoked and assigned again
	// meanwhile) must not be admitted, nor its release counted, under this one.
	gen      uint64
	pending  []*kgo.Record
	admitted int // admitted and not yet finished or abandoned
	paused   bool
}

func newIntake(maxBuffered, pauseAt int, pause, resume func(p int32)) *intake {
	return &intake{
		max: maxBuffered, pauseAt: max(1, pauseAt), pause: pause, resume: resume,
		parts: map[int32]*partIntake{}, wake: make(chan struct{}, 1),
	}
}

// share is how many commands one partition may have admitted.
func (in *intake) share() int { return max(1, in.max/max(1, len(in.parts))) }

func (in *intake) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// assign starts taking records of p, owned as generation gen.
func (in *intake) assign(p int32, gen uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.parts[p] == nil {
		in.order = append(in.order, p)
		slices.Sort(in.order)
	}
	in.parts[p] = &partIntake{gen: gen}
	in.resume(p) // a pause does not outlive the partition's previous ownership
	in.signal()  // the other partitions' shares shrank, this one may take
}

// revoke drops p and the records of it that wait.
func (in *intake) revoke(p int32) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.parts[p] == nil {
		return
	}
	delete(in.parts, p)
	in.order = slices.DeleteFunc(in.order, func(q int32) bool { return q == p })
	in.resume(p)
	in.signal() // the other partitions' shares grew
}

// add queues fetched records of p (dropped when p is not owned) and pauses
// p when too many wait.
func (in *intake) add(p int32, recs []*kgo.Record) {
	in.mu.Lock()
	defer in.mu.Unlock()
	pi := in.parts[p]
	if pi == nil || len(recs) == 0 {
		return
	}
	pi.pending = append(pi.pending, recs...)
	if !pi.paused && len(pi.pending) >= in.pauseAt {
		pi.paused = true
		in.pause(p)
	}
	in.signal()
}

// next takes the next record that may be admitted, and the generation of
// its partition's ownership, serving the partitions in turn; nil when none
// may be. ahead is true when a record at offset of p would run too far
// ahead of p's oldest unfinished one.
func (in *intake) next(ahead func(p int32, offset int64) bool) (*kgo.Record, uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	share := in.share()
	for i := range in.order {
		k := (in.last + 1 + i) % len(in.order)
		p := in.order[k]
		pi := in.parts[p]
		if len(pi.pending) == 0 || pi.admitted >= share || ahead(p, pi.pending[0].Offset) {
			continue
		}
		r := pi.pending[0]
		pi.pending[0] = nil
		pi.pending = pi.pending[1:]
		if len(pi.pending) == 0 {
			pi.pending = nil // let the backing array go
		}
		pi.admitted++
		in.last = k
		if pi.paused && len(pi.pending) <= in.pauseAt/2 {
			pi.paused = false
			in.resume(p)
		}
		return r, pi.gen
	}
	return nil, 0
}

// release gives back the place of an admitted record of p, taken out under
// generation gen.
func (in *intake) release(p int32, gen uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if pi := in.parts[p]; pi != nil && pi.gen == gen && pi.admitted > 0 {
		pi.admitted--
	}
	in.signal()
}
