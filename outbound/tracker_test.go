package outbound

import (
	"slices"
	"testing"
)

func TestTrackerCommitsOnlyTheFinishedPrefix(t *testing.T) {
	tr := newTracker()
	tr.assign(0, -1)
	for o := int64(10); o < 15; o++ {
		tr.add(0, o)
	}
	steps := []struct {
		finish []int64
		want   int64 // -1: nothing to commit
		meta   string
	}{
		{nil, 10, ""},                    // nothing finished: the first fetched offset
		{[]int64{12, 13}, 10, "wb1:2-3"}, // 10 unfinished: the point stays, listing 12 and 13
		{nil, -1, ""},                    // nothing new
		{[]int64{10}, 11, "wb1:1-2"},     // 11 unfinished
		{[]int64{11}, 14, ""},            // 10..13 done
		{[]int64{14}, 15, ""},            // all done: after the last fetched
	}
	for i, s := range steps {
		for _, o := range s.finish {
			tr.finish(0, o)
		}
		got, ok := tr.toCommit(nil)[0]
		if s.want < 0 {
			if ok {
				t.Fatalf("step %d: commit %d, want none (nothing new finished in order)", i, got.at)
			}
			continue
		}
		if !ok || got.at != s.want || got.meta != s.meta {
			t.Fatalf("step %d: commit point %d %q (%v), want %d %q", i, got.at, got.meta, ok, s.want, s.meta)
		}
		tr.committed(0, got)
	}
	if tr.add(1, 0) {
		t.Error("add on a partition not owned succeeded")
	}
	tr.revoke(0)
	if len(tr.toCommit(nil)) != 0 {
		t.Error("revoked partition still commits")
	}
}

// A partition with nothing fetched or finished since its last commit is
// not looked at again: its list of finished offsets is not encoded every
// commit interval.
func TestTrackerDoesNotReencodeAnUnchangedPartition(t *testing.T) {
	tr := newTracker()
	tr.assign(0, -1)
	for o := int64(0); o < 2000; o++ {
		tr.add(0, o)
		if o%2 == 1 {
			tr.finish(0, o) // 0 stays unfinished: a long list beyond it
		}
	}
	c, ok := tr.toCommit(nil)[0]
	if !ok {
		t.Fatal("nothing to commit")
	}
	tr.committed(0, c)
	allocs := testing.AllocsPerRun(100, func() {
		if len(tr.toCommit(nil)) != 0 {
			t.Fatal("an unchanged partition commits again")
		}
	})
	if allocs > 1 { // the returned map
		t.Errorf("toCommit of an unchanged partition allocates %.0f times, want at most 1 (no list encoded)", allocs)
	}
	tr.finish(0, 2)
	if got, ok := tr.toCommit(nil)[0]; !ok || got.meta == c.meta {
		t.Errorf("a finished offset changes nothing: %+v, %v", got, ok)
	}
}

// Finished offsets too scattered for the commit's metadata: the commit
// says how many it could not list, and the partition admits nothing until
// the list fits again.
func TestTrackerHoldsAdmissionWhileTheListIsCut(t *testing.T) {
	tr := newTracker()
	tr.assign(0, 0)
	const n = 4000
	for o := int64(0); o < n; o++ {
		tr.add(0, o)
		if o%2 == 1 {
			tr.finish(0, o)
		}
	}
	if b := tr.behind(0, n); b != n {
		t.Fatalf("behind before any commit = %d, want %d", b, n)
	}
	c := tr.toCommit(nil)[0]
	if c.unlisted == 0 || len(c.meta) > maxFinishedBytes {
		t.Fatalf("commit of %d scattered offsets: %d bytes, %d unlisted; want some unlisted, at most %d bytes", n/2, len(c.meta), c.unlisted, maxFinishedBytes)
	}
	listed := len(decodeFinished(c.at, c.meta))
	if listed+c.unlisted != n/2 {
		t.Errorf("%d listed + %d unlisted, want %d", listed, c.unlisted, n/2)
	}
	if b := tr.behind(0, n); b < n*n {
		t.Errorf("behind while the list is cut = %d, want admission held", b)
	}
	// Committed as cut: what it could not list is still unsettled, for the
	// revocation to write down.
	tr.committed(0, c)
	if u := tr.unsettled(0, nil); len(u) < c.unlisted || !slices.Contains(u, n-1) {
		t.Errorf("after a cut commit: %d offsets unsettled, want at least the %d unlisted, up to %d", len(u), c.unlisted, n-1)
	}
	for o := int64(0); o < n-200; o += 2 {
		tr.finish(0, o) // the low ones finish: the list shrinks
	}
	if b := tr.behind(0, n); b != 200 {
		t.Errorf("behind once the list fits = %d, want 200", b)
	}
}

// What finished under an ownership and is not in a successful commit is
// what the worker must remember when the partition goes.
func TestTrackerUnsettled(t *testing.T) {
	tr := newTracker()
	tr.assign(0, 10)
	for o := int64(10); o < 16; o++ {
		tr.add(0, o)
	}
	for _, o := range []int64{10, 11, 13} {
		tr.finish(0, o)
	}
	if got, want := tr.unsettled(0, nil), []int64{10, 11, 13}; !slices.Equal(got, want) {
		t.Errorf("before any commit: unsettled %v, want %v", got, want)
	}
	c := tr.toCommit(nil)[0]
	tr.committed(0, c)
	if got := tr.unsettled(0, nil); got != nil {
		t.Errorf("after the commit of %+v: unsettled %v, want none", c, got)
	}
	// Known finished (restored), never fetched again under this ownership.
	also := map[int64]bool{9: true, 20: true}
	if got, want := tr.unsettled(0, also), []int64{20}; !slices.Equal(got, want) {
		t.Errorf("with %v: unsettled %v, want %v", also, got, want)
	}
	tr.finish(0, 12)
	if got, want := tr.unsettled(0, nil), []int64{12, 13}; !slices.Equal(got, want) {
		t.Errorf("after 12 finished uncommitted: unsettled %v, want %v", got, want)
	}
}
