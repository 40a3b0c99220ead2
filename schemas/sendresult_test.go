package schemas

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// EncodeSendResult writes the bytes goavro writes for the same record.
func TestEncodeSendResultIsGoavros(t *testing.T) {
	s, err := Lookup(SendResult)
	if err != nil {
		t.Fatal(err)
	}
	enc := &Encoder{Kind: SendResult, ID: 123456, codec: s.Codec}
	i32 := func(v int32) *int32 { return &v }
	at := time.Date(2026, 12, 4, 17, 1, 2, 345678901, time.UTC)
	long := strings.Repeat("é", 300)
	for name, r := range map[string]SendResultRecord{
		"accepted": {EventID: "result:c1", CommandID: "c1", Outcome: "accepted", ProducedAt: at, To: "+49 151", WAID: "49151",
			MessageID: "wamid.X", MessageStatus: "accepted", Attempts: 1, LatencyMS: 12, SourceTopic: "wa.commands", SourcePartition: 3, SourceOffset: 99},
		"nulls": {EventID: "e", CommandID: "", Outcome: "unknown", SourceTopic: "t", SourcePartition: -1, SourceOffset: -5, LatencyMS: -1},
		"rejected": {EventID: "result:" + long, CommandID: long, Outcome: "rejected", ProducedAt: at, To: "x", Attempts: 0,
			Error: &SendErrorRecord{Reason: "invalid_command", Details: long}, SourceTopic: "t", SourceOffset: 1 << 40},
		"failed": {EventID: "e", CommandID: "c", Outcome: "failed", ProducedAt: at.Add(-100 * 365 * 24 * time.Hour), Attempts: 5, LatencyMS: 1 << 33,
			Error: &SendErrorRecord{Reason: "api_error", Code: i32(131056), HTTPStatus: i32(400), Title: "Pair rate limit", Details: "d"}, SourceTopic: "t"},
		"zero error": {EventID: "e", CommandID: "c", Outcome: "failed", ProducedAt: at, Error: &SendErrorRecord{Code: i32(0), HTTPStatus: i32(-2147483648)}, SourceTopic: "t"},
	} {
		want, err := enc.Encode(r.Native())
		if err != nil {
			t.Fatalf("%s: goavro: %v", name, err)
		}
		got, err := enc.EncodeSendResult(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got % x\nwant % x", name, got, want)
		}
	}
	if _, err := enc.EncodeSendResult(SendResultRecord{Outcome: "sent"}); err == nil {
		t.Error("an outcome that is no symbol of the enum encoded")
	}
	if _, err := (&Encoder{Kind: DeadLetter}).EncodeSendResult(SendResultRecord{Outcome: "failed"}); err == nil {
		t.Error("a send result encoded with the dead letter's schema")
	}
}
