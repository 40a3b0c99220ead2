package outbound

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A command without a command-id header has its position as id, which no
// other offset has: it is not remembered. An id of its own is, and its
// copy at another offset is a replay, until a commit moves past it.
func TestSeenRemembersOnlyIDsOfTheirOwn(t *testing.T) {
	w := &Worker{seen: map[int32]*seenIDs{3: newSeenIDs()}}
	s := w.seen[3]
	rec := func(offset int64, id string) *kgo.Record {
		r := &kgo.Record{Topic: "wa.commands", Partition: 3, Offset: offset}
		if id != "" {
			r.Headers = []kgo.RecordHeader{{Key: HeaderCommandID, Value: []byte(id)}}
		}
		return r
	}
	for o := range int64(100) {
		r := rec(o, "")
		if d := w.duplicateOf(r, CommandID(r)); d != nil {
			t.Fatalf("position id at offset %d: %v", o, d)
		}
	}
	if len(s.at) != 0 || len(s.order) != 0 || len(s.named) != 0 {
		t.Errorf("after 100 position ids: %d keys, %d in order, %d named; want none", len(s.at), len(s.order), len(s.named))
	}

	if d := w.duplicateOf(rec(100, "c1"), "c1"); d != nil {
		t.Fatalf("first c1: %v", d)
	}
	if d := w.duplicateOf(rec(100, "c1"), "c1"); d != nil {
		t.Errorf("c1 read again at its own offset (a redelivery): %v", d)
	}
	if d := w.duplicateOf(rec(105, "c1"), "c1"); d == nil || d.offset != 100 {
		t.Errorf("c1 again at offset 105 = %v, want a replay of offset 100", d)
	}
	// A header holding another command's position is an id like any other.
	if d := w.duplicateOf(rec(106, "wa.commands/3/7"), "wa.commands/3/7"); d != nil {
		t.Fatalf("first wa.commands/3/7 at offset 106: %v", d)
	}
	if d := w.duplicateOf(rec(107, "wa.commands/3/7"), "wa.commands/3/7"); d == nil {
		t.Error("wa.commands/3/7 again at offset 107: not taken for a replay")
	}
	replayed := rec(108, "c1")
	replayed.Headers = append(replayed.Headers, kgo.RecordHeader{Key: HeaderReplayOf, Value: []byte("dl-1")})
	if d := w.duplicateOf(replayed, "c1"); d != nil {
		t.Errorf("c1 replayed from the dead-letter topic: %v", d)
	}

	s.forget(101, 106)
	if d := w.duplicateOf(rec(110, "c1"), "c1"); d != nil {
		t.Errorf("c1 after its offset was forgotten: %v", d)
	}
	if d := w.duplicateOf(rec(111, "wa.commands/3/7"), "wa.commands/3/7"); d == nil {
		t.Error("wa.commands/3/7 (at 106, not forgotten) again at 111: not taken for a replay")
	}
	var names []string
	for _, c := range s.named {
		names = append(names, fmt.Sprint(c.ID, "@", c.Offset))
	}
	if got, want := fmt.Sprint(names), "[wa.commands/3/7@106 c1@110]"; got != want {
		t.Errorf("named after forget(101, 106) = %s, want %s", got, want)
	}
}

func TestIsPositionID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"wa.commands/3/42", true},
		{"wa.commands/3/4", false},
		{"wa.commands/3/420", false},
		{"wa.commands/13/42", false},
		{"wa.command/3/42", false},
		{"wa.commands", false},
		{"wa.commands/", false},
		{"c1", false},
	} {
		if got := isPositionID(tc.id, "wa.commands", 3, 42); got != tc.want {
			t.Errorf("isPositionID(%q, wa.commands, 3, 42) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// Checking a command id costs no allocation: neither a position id nor an
// id already remembered.
func TestDuplicateOfAllocatesNothing(t *testing.T) {
	w := &Worker{seen: map[int32]*seenIDs{0: newSeenIDs()}}
	pos := &kgo.Record{Topic: "wa.commands", Offset: 12345}
	posID := CommandID(pos)
	own := &kgo.Record{Topic: "wa.commands", Offset: 7, Headers: []kgo.RecordHeader{{Key: HeaderCommandID, Value: []byte("order-7")}}}
	w.duplicateOf(own, "order-7")
	if n := testing.AllocsPerRun(100, func() {
		w.duplicateOf(pos, posID)
		w.duplicateOf(own, "order-7")
	}); n != 0 {
		t.Errorf("%v allocations per check, want 0", n)
	}
}
