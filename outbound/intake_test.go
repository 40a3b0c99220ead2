package outbound

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func recs(p int32, from, n int) []*kgo.Record {
	var out []*kgo.Record
	for i := range n {
		out = append(out, &kgo.Record{Partition: p, Offset: int64(from + i)})
	}
	return out
}

type pauses struct{ calls []string }

func (c *pauses) pause(p int32)  { c.calls = append(c.calls, fmt.Sprintf("pause %d", p)) }
func (c *pauses) resume(p int32) { c.calls = append(c.calls, fmt.Sprintf("resume %d", p)) }

func never(int32, int64) bool { return false }

// take admits until the intake lets nothing more in; it returns the
// admitted offsets per partition.
func take(in *intake, ahead func(int32, int64) bool) map[int32][]int64 {
	got := map[int32][]int64{}
	for r, _ := in.next(ahead); r != nil; r, _ = in.next(ahead) {
		got[r.Partition] = append(got[r.Partition], r.Offset)
	}
	return got
}

func TestIntakeSharesTheReadAheadAmongPartitions(t *testing.T) {
	c := &pauses{}
	in := newIntake(30, 100, c.pause, c.resume)
	for _, p := range []int32{0, 1, 2} {
		in.assign(p, 1)
	}
	c.calls = nil
	in.add(0, recs(0, 0, 60)) // one busy partition fetched first
	in.add(1, recs(1, 0, 5))
	in.add(2, recs(2, 0, 20))
	got := take(in, never)
	want := map[int32][]int64{0: {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 1: {0, 1, 2, 3, 4}, 2: {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}
	for p, offs := range want {
		if !slices.Equal(got[p], offs) {
			t.Errorf("partition %d admitted %v, want %v (a share of 10 each, in offset order)", p, got[p], offs)
		}
	}
	in.release(1, 1) // a finished record of partition 1 frees a place of partition 1 only
	if r, _ := in.next(never); r != nil {
		t.Errorf("admitted %d/%d although partition 1 has nothing waiting and the others are at their share", r.Partition, r.Offset)
	}
	in.release(0, 1)
	if r, _ := in.next(never); r == nil || r.Partition != 0 || r.Offset != 10 {
		t.Errorf("after a release of partition 0 admitted %v, want 0/10", r)
	}
	// A revoked partition's share goes to the others; its waiting records
	// are dropped.
	in.revoke(2)
	got = take(in, never)
	if len(got[0]) != 5 || got[0][0] != 11 || len(got[2]) != 0 {
		t.Errorf("after revoking partition 2 admitted %v, want partition 0's offsets 11..15 (share 15)", got)
	}
	if len(c.calls) != 1 || c.calls[0] != "resume 2" {
		t.Errorf("pause/resume calls %v, want only the resume of the revoked partition", c.calls)
	}
}

func TestIntakePausesAPartitionWhileTooManyWait(t *testing.T) {
	c := &pauses{}
	in := newIntake(10, 8, c.pause, c.resume)
	in.assign(0, 1)
	c.calls = nil
	in.add(0, recs(0, 0, 7))
	if len(c.calls) != 0 {
		t.Fatalf("paused with 7 waiting, below 8: %v", c.calls)
	}
	in.add(0, recs(0, 7, 10)) // 17 wait
	if !slices.Equal(c.calls, []string{"pause 0"}) {
		t.Fatalf("calls %v, want one pause", c.calls)
	}
	in.add(0, recs(0, 17, 3)) // already paused
	take(in, never)           // 10 admitted, 10 wait
	if len(c.calls) != 1 {
		t.Fatalf("calls %v, want no resume while 10 wait", c.calls)
	}
	for range 6 {
		in.release(0, 1)
		in.next(never)
	}
	// 4 wait: at most half of 8.
	if !slices.Equal(c.calls, []string{"pause 0", "resume 0"}) {
		t.Errorf("calls %v, want a resume once 4 or fewer wait", c.calls)
	}
}

func TestIntakeHoldsARecordTooFarAhead(t *testing.T) {
	in := newIntake(100, 100, func(int32) {}, func(int32) {})
	in.assign(0, 1)
	in.add(0, recs(0, 0, 10))
	ahead := func(_ int32, offset int64) bool { return offset >= 4 }
	if got := take(in, ahead); !slices.Equal(got[0], []int64{0, 1, 2, 3}) {
		t.Errorf("admitted %v, want 0..3 (4 and later are too far ahead)", got[0])
	}
	if got := take(in, never); !slices.Equal(got[0], []int64{4, 5, 6, 7, 8, 9}) {
		t.Errorf("admitted %v once nothing is too far ahead, want 4..9 in order", got[0])
	}
}

func TestIntakeDropsRecordsOfPartitionsItDoesNotOwn(t *testing.T) {
	in := newIntake(10, 10, func(int32) {}, func(int32) {})
	in.add(3, recs(3, 0, 5))
	if r, _ := in.next(never); r != nil {
		t.Errorf("admitted %d/%d of an unowned partition", r.Partition, r.Offset)
	}
}

func TestDetachCopiesWhatAJobKeeps(t *testing.T) {
	fetch := []byte("keyvaluehv") // one buffer, as in a fetch response
	for _, tc := range []struct {
		name string
		rec  *kgo.Record
	}{
		{"key, value and header", &kgo.Record{Topic: "t", Partition: 2, Offset: 9, Key: fetch[0:3], Value: fetch[3:8],
			Headers: []kgo.RecordHeader{{Key: "command-id", Value: fetch[8:10]}}}},
		{"null key", &kgo.Record{Topic: "t", Value: fetch[3:8]}},
		{"empty value", &kgo.Record{Topic: "t", Key: fetch[0:3], Value: fetch[3:3]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := detach(tc.rec)
			if c.Topic != tc.rec.Topic || c.Partition != tc.rec.Partition || c.Offset != tc.rec.Offset ||
				string(c.Key) != string(tc.rec.Key) || (c.Key == nil) != (tc.rec.Key == nil) ||
				string(c.Value) != string(tc.rec.Value) || (c.Value == nil) != (tc.rec.Value == nil) || len(c.Headers) != len(tc.rec.Headers) {
				t.Fatalf("detach(%+v) = %+v", tc.rec, c)
			}
			for i, h := range c.Headers {
				if h.Key != tc.rec.Headers[i].Key || string(h.Value) != string(tc.rec.Headers[i].Value) {
					t.Errorf("header %d = %+v, want %+v", i, h, tc.rec.Headers[i])
				}
			}
			// Appending to one field must not write into the next.
			c.Key = append(c.Key, 'X')
			if string(c.Value) != string(tc.rec.Value) {
				t.Errorf("value %q changed by an append to the key", c.Value)
			}
		})
	}
	before := string(fetch)
	c := detach(&kgo.Record{Key: fetch[0:3], Value: fetch[3:8]})
	copy(fetch, "XXXXXXXXXX") // the fetch buffer is reused or freed
	if string(c.Key) != before[0:3] || string(c.Value) != before[3:8] {
		t.Errorf("detached record shares the fetch buffer: key %q value %q", c.Key, c.Value)
	}
}

func TestIntakeIgnoresReleasesOfAnEarlierOwnership(t *testing.T) {
	in := newIntake(2, 100, func(int32) {}, func(int32) {})
	in.assign(0, 1)
	in.add(0, recs(0, 0, 5))
	_, gen := in.next(never)
	if gen != 1 {
		t.Fatalf("generation %d, want 1", gen)
	}
	in.revoke(0)
	in.assign(0, 2) // given back: a new ownership
	in.add(0, recs(0, 0, 5))
	got := take(in, never)
	if len(got[0]) != 2 {
		t.Fatalf("admitted %v, want the new ownership's share of 2", got[0])
	}
	in.release(0, 1) // the earlier ownership's record finishes late
	if r, _ := in.next(never); r != nil {
		t.Errorf("a release of generation 1 freed a place of generation 2: admitted %d", r.Offset)
	}
	in.release(0, 2)
	if r, gen := in.next(never); r == nil || gen != 2 {
		t.Errorf("after a release of generation 2: %v, %d; want the next record, generation 2", r, gen)
	}
}
