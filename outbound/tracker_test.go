package outbound

import "testing"

func TestTrackerCommitsOnlyTheFinishedPrefix(t *testing.T) {
	tr := newTracker()
	tr.assign(0)
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
