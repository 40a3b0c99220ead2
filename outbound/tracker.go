package outbound

import (
	"maps"
	"math"
	"slices"
	"sync"
)

// partitionTracker follows the records of one partition from fetch to
// finish, so that only the contiguous prefix of finished records is ever
// committed, however out of order records finish (different recipients run
// in parallel).
type partitionTracker struct {
	// offsets of fetched records not yet below the commit point, in order;
	// done marks the finished ones.
	offsets []int64
	done    map[int64]bool
	// next is the offset after the last fetched record, first the first
	// fetched one; -1 before any.
	next, first int64
	// committed is the offset last committed (or restored from the group),
	// and committedMeta the list of finished offsets beyond it sent along.
	committed     int64
	committedMeta string
	// version counts the changes (records fetched or finished);
	// settledVersion is the version the last commit (or the last check
	// that found nothing to commit) covered: while they are equal, there
	// is nothing new to commit and the metadata is not encoded again.
	version, settledVersion uint64
	// hw is the partition's high watermark at the last fetch.
	hw int64
	// cut is the first finished offset the last commit's list could not
	// hold (-1: none): no record is admitted until the list fits again.
	cut int64
	// failing: the last commit of the partition failed.
	failing bool
}

func newPartitionTracker() *partitionTracker {
	return &partitionTracker{done: make(map[int64]bool), next: -1, first: -1, committed: -1, cut: -1}
}

// add records a fetched record. Offsets must arrive in increasing order.
func (p *partitionTracker) add(offset int64) {
	p.offsets = append(p.offsets, offset)
	if p.first < 0 {
		p.first = offset
	}
	p.next = offset + 1
	p.version++
}

// finish marks a record finished.
func (p *partitionTracker) finish(offset int64) {
	p.done[offset] = true
	p.version++
}

// commitPoint is the offset to commit: the first unfinished record, or the
// offset after the last fetched record when all are finished; ok is false
// when nothing was fetched.
func (p *partitionTracker) commitPoint() (int64, bool) {
	p.prune()
	if len(p.offsets) > 0 {
		return p.offsets[0], true
	}
	if p.next < 0 {
		return 0, false
	}
	return p.next, true
}

// finishedBeyond lists the finished offsets after the commit point, in
// order (call after commitPoint).
func (p *partitionTracker) finishedBeyond() []int64 {
	var out []int64
	for _, o := range p.offsets {
		if p.done[o] {
			out = append(out, o)
		}
	}
	return out
}

// prune forgets the finished records at the front.
func (p *partitionTracker) prune() {
	i := 0
	for i < len(p.offsets) && p.done[p.offsets[i]] {
		delete(p.done, p.offsets[i])
		i++
	}
	p.offsets = p.offsets[i:]
}

// lowestUnfinished is the offset of the oldest unfinished record, or -1.
func (p *partitionTracker) lowestUnfinished() int64 {
	p.prune()
	if len(p.offsets) > 0 {
		return p.offsets[0]
	}
	return -1
}

// tracker holds the partitions this member owns.
type tracker struct {
	mu    sync.Mutex
	parts map[int32]*partitionTracker
}

func newTracker() *tracker { return &tracker{parts: make(map[int32]*partitionTracker)} }

// assign starts following p, whose group offset is committed (-1: none).
func (t *tracker) assign(p int32, committed int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.parts[p] == nil {
		pt := newPartitionTracker()
		pt.committed = committed
		t.parts[p] = pt
	}
}

// revoke forgets a partition.
func (t *tracker) revoke(p int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.parts, p)
}

// add records a fetched record; false when the partition is not owned.
func (t *tracker) add(p int32, offset int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	pt := t.parts[p]
	if pt == nil {
		return false
	}
	pt.add(offset)
	return true
}

func (t *tracker) finish(p int32, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pt := t.parts[p]; pt != nil {
		pt.finish(offset)
	}
}

// commitPoint is what a commit of one partition sends: the offset, and the
// finished offsets beyond it (encodeFinished).
type commitPoint struct {
	at   int64
	meta string
	// unlisted counts the finished offsets beyond at that meta could not
	// hold (maxFinishedBytes): they are not done for a new owner.
	unlisted int
	// version is the tracker's version the point was computed at.
	version uint64
}

// toCommit returns, per partition, the commit point when it moved past what
// was last committed, or the finished offsets beyond it changed. A
// partition with no record fetched or finished since its last commit is
// not looked at again.
func (t *tracker) toCommit(only map[int32]bool) map[int32]commitPoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int32]commitPoint{}
	for p, pt := range t.parts {
		if (only != nil && !only[p]) || pt.version == pt.settledVersion {
			continue
		}
		at, ok := pt.commitPoint()
		if !ok || at < pt.committed {
			continue
		}
		beyond := pt.finishedBeyond()
		meta, unlisted := encodeFinished(at, beyond)
		pt.cut = -1
		if unlisted > 0 {
			pt.cut = beyond[len(beyond)-unlisted]
		}
		if at > pt.committed || meta != pt.committedMeta {
			out[p] = commitPoint{at: at, meta: meta, unlisted: unlisted, version: pt.version}
		} else {
			pt.settledVersion = pt.version
		}
	}
	return out
}

// committed records a successful commit.
func (t *tracker) committed(p int32, c commitPoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pt := t.parts[p]; pt != nil && c.at >= pt.committed {
		pt.committed, pt.committedMeta = c.at, c.meta
		pt.settledVersion = max(pt.settledVersion, c.version)
		pt.failing = false
	}
}

// commitFailed records that a commit of p failed; it reports whether the
// one before had not.
func (t *tracker) commitFailed(p int32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	pt := t.parts[p]
	if pt == nil || pt.failing {
		return false
	}
	pt.failing = true
	return true
}

// commitsFailing reports whether the last commit of p failed.
func (t *tracker) commitsFailing(p int32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	pt := t.parts[p]
	return pt != nil && pt.failing
}

// unsettled lists the offsets of p finished under this ownership that its
// last successful commit does not cover or list: every offset from the
// committed one (or the first fetched) up to the commit point, the
// finished ones beyond it, and the offsets of also at or after the
// committed one (known finished, perhaps not fetched again). Nil when the
// last commit holds them all.
func (t *tracker) unsettled(p int32, also map[int64]bool) []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	pt := t.parts[p]
	if pt == nil {
		return nil
	}
	set := map[int64]bool{}
	for o := range also {
		if o >= pt.committed {
			set[o] = true
		}
	}
	if at, ok := pt.commitPoint(); ok {
		beyond := pt.finishedBeyond()
		if meta, unlisted := encodeFinished(at, beyond); at != pt.committed || meta != pt.committedMeta || unlisted > 0 {
			for o := max(pt.committed, pt.first); o < at; o++ {
				set[o] = true
			}
			for _, o := range beyond {
				set[o] = true
			}
		}
	}
	if len(set) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(set))
}

// behind is how far offset is ahead of p's oldest unfinished record (0 when
// none is unfinished or p is not owned). While the finished offsets beyond
// the commit point are more than a commit can list, it is "infinitely"
// far: a record admitted then could finish unlisted, and a new owner would
// take it for an unknown outcome.
func (t *tracker) behind(p int32, offset int64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	pt := t.parts[p]
	if pt == nil {
		return 0
	}
	if pt.cut >= 0 {
		at, _ := pt.commitPoint()
		beyond := pt.finishedBeyond()
		pt.cut = -1
		if _, unlisted := encodeFinished(at, beyond); unlisted > 0 {
			pt.cut = beyond[len(beyond)-unlisted]
			return math.MaxInt64
		}
	}
	low := pt.lowestUnfinished()
	if low < 0 {
		return 0
	}
	return offset - low
}

// highWatermark records p's high watermark from a fetch.
func (t *tracker) highWatermark(p int32, hw int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pt := t.parts[p]; pt != nil && hw > pt.hw {
		pt.hw = hw
	}
}

// lags is, per owned partition, how many records lie beyond the committed
// offset.
func (t *tracker) lags() map[int32]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[int32]int64, len(t.parts))
	for p, pt := range t.parts {
		if pt.hw > 0 {
			out[p] = max(0, pt.hw-max(pt.committed, 0))
		}
	}
	return out
}
