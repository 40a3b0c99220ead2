package outbound

import (
	"encoding/json"
	"testing"
	"time"
)

func TestLedgerEntryJSONIsWhatEncodingJSONWrites(t *testing.T) {
	at := time.Date(2026, 11, 26, 3, 4, 5, 123456789, time.UTC)
	for _, e := range []ledgerEntry{
		{State: ledgerSending, CommandID: "c-1", Partition: 3, Offset: 42, At: at},
		{State: ledgerAccepted, CommandID: "commands/0/17", Partition: 0, Offset: 17, Result: []byte{0, 0, 0, 0, 1, 2, 0xff}, ResultKey: []byte("4917012345"), At: at},
		{State: ledgerDone, CommandID: `quote " back \ <tag> & ünï` + "\x00\n\u2028", Partition: 2, Offset: -1, At: at.In(time.FixedZone("x", 3600))},
		{State: ledgerAccepted, CommandID: "", Result: []byte{}, ResultKey: nil},
		{State: "\xff invalid utf-8", CommandID: "x"},
		{State: ledgerSending, CommandID: "c-2", Partition: 1, Offset: 7, At: at, CommandTopic: "team-a.commands"},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.appendJSON(nil); string(got) != string(want) {
			t.Errorf("appendJSON:\n got %s\nwant %s", got, want)
		}
		var back ledgerEntry
		if err := json.Unmarshal(e.appendJSON(nil), &back); err != nil {
			t.Errorf("entry %q does not decode: %v", e.CommandID, err)
		}
	}
}

func FuzzLedgerEntryJSON(f *testing.F) {
	f.Add("sending", "c-1", int32(1), int64(2), []byte("r"), []byte("k"), int64(0))
	f.Add("done", "<&>\"\\\x01ü", int32(-1), int64(-5), []byte(nil), []byte{}, int64(1e18))
	f.Fuzz(func(t *testing.T, state, id string, p int32, off int64, res, key []byte, nanos int64) {
		e := ledgerEntry{State: state, CommandID: id, Partition: p, Offset: off, Result: res, ResultKey: key, At: time.Unix(0, nanos).UTC(), CommandTopic: id + "/" + state}
		want, err := json.Marshal(e)
		if err != nil {
			t.Skip()
		}
		if got := e.appendJSON(nil); string(got) != string(want) {
			t.Errorf("appendJSON:\n got %s\nwant %s", got, want)
		}
	})
}
