package schemas

import (
	"fmt"
	"time"
)

// SendResultRecord is one SendResult event (send_result.avsc). Empty
// strings and nil pointers are the schema's nulls.
type SendResultRecord struct {
	EventID, CommandID string
	// Outcome is one of the Outcome enum's symbols.
	Outcome                            string
	ProducedAt                         time.Time
	To, WAID, MessageID, MessageStatus string
	Attempts                           int32
	LatencyMS                          int64
	// Error is set when Outcome is rejected or failed.
	Error           *SendErrorRecord
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
}

// SendErrorRecord is a SendResult's error.
type SendErrorRecord struct {
	Reason           string
	Code, HTTPStatus *int32
	Title, Details   string
}

// outcomeSymbols are the Outcome enum's symbols, in the schema's order.
var outcomeSymbols = [...]string{"accepted", "rejected", "failed", "unknown"}

// Native is r in goavro's native form.
func (r SendResultRecord) Native() map[string]any {
	native := map[string]any{
		"event_id": r.EventID, "command_id": r.CommandID, "outcome": r.Outcome,
		"produced_at": r.ProducedAt,
		"to":          Optional("string", r.To), "wa_id": Optional("string", r.WAID),
		"message_id": Optional("string", r.MessageID), "message_status": Optional("string", r.MessageStatus),
		"attempts": r.Attempts, "latency_ms": r.LatencyMS, "error": nil,
		"source_topic": r.SourceTopic, "source_partition": r.SourcePartition, "source_offset": r.SourceOffset,
	}
	if e := r.Error; e != nil {
		native["error"] = Optional("io.wabridge.events.SendError", map[string]any{
			"reason": e.Reason, "code": optionalInt(e.Code), "http_status": optionalInt(e.HTTPStatus),
			"title": Optional("string", e.Title), "details": Optional("string", e.Details),
		})
	}
	return native
}

func optionalInt(p *int32) any {
	if p == nil {
		return nil
	}
	return Optional("int", *p)
}

// EncodeSendResult encodes r as e's schema (which must be SendResult's)
// does, with the Confluent header: the same bytes as Encode(r.Native()),
// written directly, as a result is written for every command
// (https://avro.apache.org/docs/1.11.1/specification/#binary-encoding).
func (e *Encoder) EncodeSendResult(r SendResultRecord) ([]byte, error) {
	if e.Kind != SendResult {
		return nil, fmt.Errorf("encoding a send result with the %s schema", e.Kind)
	}
	outcome := -1
	for i, s := range outcomeSymbols {
		if s == r.Outcome {
			outcome = i
		}
	}
	if outcome < 0 {
		return nil, fmt.Errorf("encoding %s event: outcome %q is not a symbol of the Outcome enum", e.Kind, r.Outcome)
	}
	b, err := confluent.AppendEncode(make([]byte, 0, 192+len(r.EventID)+len(r.CommandID)), e.ID, nil)
	if err != nil {
		return nil, err
	}
	b = AppendString(b, r.EventID)
	b = AppendString(b, r.CommandID)
	b = AppendLong(b, int64(outcome))
	b = AppendTimeMillis(b, r.ProducedAt)
	b = AppendOptString(b, r.To)
	b = AppendOptString(b, r.WAID)
	b = AppendOptString(b, r.MessageID)
	b = AppendOptString(b, r.MessageStatus)
	b = AppendLong(b, int64(r.Attempts))
	b = AppendLong(b, r.LatencyMS)
	if x := r.Error; x == nil {
		b = AppendLong(b, 0)
	} else {
		b = AppendLong(b, 1)
		b = AppendString(b, x.Reason)
		b = AppendOptInt(b, x.Code)
		b = AppendOptInt(b, x.HTTPStatus)
		b = AppendOptString(b, x.Title)
		b = AppendOptString(b, x.Details)
	}
	b = AppendString(b, r.SourceTopic)
	b = AppendLong(b, int64(r.SourcePartition))
	return AppendLong(b, r.SourceOffset), nil
}
