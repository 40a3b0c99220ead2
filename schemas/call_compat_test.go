package schemas_test

import (
	"os"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/linkedin/goavro/v2"

	"github.com/wabridge/wabridge/schemas"
)

// callRecord is a WebhookEvent of the current schema carrying a typed call.
func callRecord() map[string]any {
	return map[string]any{
		"event_id": "event:c0646191b217068260a1717988fc2f42", "received_at": time.UnixMilli(1760003001123).UTC(),
		"event_type": "call", "field": "calls", "value_key": goavro.Union("string", "calls"),
		"phone_number_id": goavro.Union("string", "100000000000001"), "wa_id": goavro.Union("string", "15550001111"),
		"timestamp": goavro.Union("long.timestamp-millis", time.Unix(1760003000, 0).UTC()),
		"raw":       `{"id":"wacid.C1","from":"15550001111","event":"connect","direction":"USER_INITIATED"}`,
		"call": goavro.Union("io.wabridge.events.CallEvent", map[string]any{
			"call_id": "wacid.C1", "event": "connect", "direction": "user_initiated", "opens_window": true,
			"from": goavro.Union("string", "15550001111"), "to": goavro.Union("string", "15550009999"),
			"sdp_type": goavro.Union("string", "offer"), "errors": []any{},
		}),
	}
}

// Consumers still on the released webhook_event schema (v2) keep reading
// the topic when call events arrive: the registry's rules allow the change
// both ways, and such a reader sees a call as event_type other with raw.
func TestCallEventsAreReadableWithTheReleasedSchema(t *testing.T) {
	current, err := schemas.Lookup(schemas.WebhookEvent)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile("testdata/v2/webhook_event.avsc")
	if err != nil {
		t.Fatal(err)
	}
	writer, err := avro.ParseWithCache(current.Text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := avro.ParseWithCache(string(old), "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	compat := avro.NewSchemaCompatibility()
	if err := compat.Compatible(reader, writer); err != nil {
		t.Fatalf("the v2 schema cannot read current webhook events (forward compatibility): %v", err)
	}
	if err := compat.Compatible(writer, reader); err != nil {
		t.Fatalf("the current schema cannot read v2 webhook events (backward compatibility): %v", err)
	}
	resolved, err := compat.Resolve(reader, writer)
	if err != nil {
		t.Fatal(err)
	}
	rec := callRecord()
	data, err := current.Codec.BinaryFromNative(nil, rec)
	if err != nil {
		t.Fatalf("encoding a call event: %v", err)
	}
	var got map[string]any
	if err := avro.Unmarshal(resolved, data, &got); err != nil {
		t.Fatalf("decoding a call event with the v2 schema: %v", err)
	}
	if got["event_type"] != "other" || got["raw"] != rec["raw"] || got["event_id"] != rec["event_id"] {
		t.Errorf("v2 reader got event_type %v, raw %v, event_id %v; want other and the record's raw and id", got["event_type"], got["raw"], got["event_id"])
	}
	if _, ok := got["call"]; ok {
		t.Errorf("v2 reader got a call field it does not have")
	}

	// The current schema reads the call back whole.
	back, _, err := current.Codec.NativeFromBinary(data)
	if err != nil {
		t.Fatal(err)
	}
	call := back.(map[string]any)["call"].(map[string]any)["io.wabridge.events.CallEvent"].(map[string]any)
	if call["call_id"] != "wacid.C1" || call["opens_window"] != true || call["direction"] != "user_initiated" {
		t.Errorf("current reader got call %v", call)
	}
}
