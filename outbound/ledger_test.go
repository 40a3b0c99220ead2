package outbound

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// A wave record and an entry of an earlier version both read as one entry
// per command.
func TestLedgerRecordEntries(t *testing.T) {
	at := time.Date(2026, 11, 26, 3, 4, 5, 0, time.UTC)
	wave, err := json.Marshal(waveRecord{State: ledgerSending, CommandTopic: "c", Partition: 2, At: at,
		Commands: []waveCommand{{ID: "a", Offset: 7}, {ID: "b", Offset: 9}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		raw  string
		want []ledgerEntry
	}{
		{string(wave), []ledgerEntry{
			{State: ledgerSending, CommandID: "a", Partition: 2, Offset: 7, At: at, CommandTopic: "c"},
			{State: ledgerSending, CommandID: "b", Partition: 2, Offset: 9, At: at, CommandTopic: "c"},
		}},
		{`{"state":"accepted","command_id":"x","partition":1,"offset":3,"result":"AAE=","at":"2026-11-26T03:04:05Z"}`, []ledgerEntry{
			{State: ledgerAccepted, CommandID: "x", Partition: 1, Offset: 3, Result: []byte{0, 1}, At: at},
		}},
	} {
		var rec ledgerRecord
		if err := json.Unmarshal([]byte(tc.raw), &rec); err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		got := rec.entries()
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d entries, want %d", tc.raw, len(got), len(tc.want))
		}
		for i := range got {
			g, w := got[i], tc.want[i]
			if g.State != w.State || g.CommandID != w.CommandID || g.Partition != w.Partition || g.Offset != w.Offset ||
				!g.At.Equal(w.At) || g.CommandTopic != w.CommandTopic || string(g.Result) != string(w.Result) {
				t.Errorf("%s: entry %d = %+v, want %+v", tc.raw, i, g, w)
			}
		}
	}
}

func TestFinishedOffsetsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		committed int64
		offsets   []int64
		want      string
	}{
		{100, nil, ""},
		{100, []int64{101}, "wb1:1"},
		{100, []int64{101, 102, 103, 105, 107, 108}, "wb1:1-3,5,7-8"},
		{0, []int64{4}, "wb1:4"},
	} {
		got, unlisted := encodeFinished(tc.committed, tc.offsets)
		if got != tc.want || unlisted != 0 {
			t.Errorf("encodeFinished(%d, %v) = %q, want %q", tc.committed, tc.offsets, got, tc.want)
		}
		back := decodeFinished(tc.committed, got)
		var offs []int64
		for o := range back {
			offs = append(offs, o)
		}
		slices.Sort(offs)
		if !slices.Equal(offs, tc.offsets) {
			t.Errorf("decodeFinished(%q) = %v, want %v", got, offs, tc.offsets)
		}
	}
	// Too many to list: cut at a whole item, never past Kafka's limit.
	var many []int64
	for o := int64(2); o < 20000; o += 2 {
		many = append(many, o)
	}
	s, unlisted := encodeFinished(0, many)
	listed := len(decodeFinished(0, s))
	if len(s) > maxFinishedBytes || listed == 0 {
		t.Errorf("a long list encodes to %d bytes (%d offsets read back), want at most %d", len(s), listed, maxFinishedBytes)
	}
	if listed+unlisted != len(many) {
		t.Errorf("%d offsets listed and %d counted as unlisted, want %d in all", listed, unlisted, len(many))
	}
	for _, bad := range []string{"", "wb1:", "other tool", "wb1:0", "wb1:-3", "wb1:5-2", "wb1:x", "wb1:1-99999999999", "wb1:1-2000000000"} {
		if got := decodeFinished(10, bad); got != nil {
			t.Errorf("decodeFinished(%q) = %v, want nothing", bad, got)
		}
	}
}

// The commit metadata is read back from Kafka, where any client may have
// written it: decodeFinished never fails hard, and what it returns lies
// beyond the committed offset.
func FuzzDecodeFinished(f *testing.F) {
	f.Add(int64(100), "wb1:1-3,5,7-8")
	f.Add(int64(0), "wb1:1,1,1")
	f.Add(int64(-1), "wb1:9223372036854775807")
	f.Fuzz(func(t *testing.T, committed int64, meta string) {
		for o := range decodeFinished(committed, meta) {
			if o <= committed {
				t.Errorf("offset %d at or before the committed %d", o, committed)
			}
		}
	})
}
