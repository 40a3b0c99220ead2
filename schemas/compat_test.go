package schemas_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/linkedin/goavro/v2"

	"github.com/wabridge/wabridge/schemas"
)

// Every schema version we release is kept under testdata/vN/ with records
// encoded by it (*.bin, written once with -golden). The current schemas must
// read every one of them (backward compatibility), checked twice: by the
// Avro compatibility rules (hamba/avro's checker, the rules a schema
// registry applies) and by decoding the records through schema resolution.
var writeGolden = flag.Bool("golden", false, "write testdata/vN/*.bin for the newest version from its .avsc")

// goldenRecords are what version 1 wrote; later versions add cases here
// under their own key.
var goldenRecords = map[string]map[schemas.Kind]map[string]any{
	"v1": {
		schemas.InboundMessage: {
			"event_id": "message:100000000000001:wamid.GOLD1", "received_at": time.UnixMilli(1760000000123).UTC(),
			"phone_number_id": "100000000000001", "display_phone_number": goavro.Union("string", "15550009999"),
			"waba_id": goavro.Union("string", "200000000000002"), "message_id": "wamid.GOLD1",
			"timestamp": time.Unix(1760000000, 0).UTC(), "wa_id": goavro.Union("string", "15550001111"),
			"user_id": nil, "profile_name": goavro.Union("string", "Jane"), "type": "image", "text": nil,
			"media": goavro.Union("io.wabridge.events.Media", map[string]any{
				"id": "MEDIA1", "mime_type": goavro.Union("string", "image/jpeg"), "sha256": nil,
				"caption": goavro.Union("string", "look"), "filename": nil, "voice": nil, "animated": nil,
			}),
			"context": goavro.Union("io.wabridge.events.MessageContext", map[string]any{
				"from": goavro.Union("string", "15550009999"), "id": goavro.Union("string", "wamid.Q"), "forwarded": false, "frequently_forwarded": false,
			}),
			"raw": `{"id":"wamid.GOLD1","type":"image"}`,
		},
		schemas.MessageStatus: {
			"event_id": "status:wamid.OUT1:failed:1760000100", "received_at": time.UnixMilli(1760000100456).UTC(),
			"phone_number_id": "100000000000001", "display_phone_number": nil, "waba_id": nil,
			"message_id": "wamid.OUT1", "status": "failed", "timestamp": time.Unix(1760000100, 0).UTC(),
			"recipient_id": goavro.Union("string", "15550001111"), "recipient_user_id": nil,
			"biz_opaque_callback_data": goavro.Union("string", "cmd-1"), "command_id": goavro.Union("string", "cmd-1"),
			"errors": []any{map[string]any{"code": int32(131026), "title": goavro.Union("string", "Message undeliverable"), "message": nil, "details": nil}},
			"raw":    `{"id":"wamid.OUT1","status":"failed"}`,
		},
		schemas.SendResult: {
			"event_id": "result:cmd-1", "command_id": "cmd-1", "outcome": "failed", "produced_at": time.UnixMilli(1760000000789).UTC(),
			"to": goavro.Union("string", "15550001111"), "wa_id": nil, "message_id": nil, "message_status": nil,
			"attempts": int32(1), "latency_ms": int64(12),
			"error": goavro.Union("io.wabridge.events.SendError", map[string]any{
				"reason": "api_error", "code": goavro.Union("int", int32(131026)), "http_status": goavro.Union("int", int32(400)),
				"title": goavro.Union("string", "Message undeliverable"), "details": nil,
			}),
			"source_topic": "wabridge.commands", "source_partition": int32(2), "source_offset": int64(42),
		},
	},
}

var kindFile = map[schemas.Kind]string{
	schemas.InboundMessage: "inbound_message", schemas.MessageStatus: "message_status", schemas.SendResult: "send_result",
	schemas.WebhookEvent: "webhook_event", schemas.SendCommand: "send_command", schemas.DeadLetter: "dead_letter",
}

func init() {
	// Version 2 added webhook events, typed commands and dead-letter
	// envelopes; its records of the first three kinds are version 1's.
	v2 := map[schemas.Kind]map[string]any{}
	for k, v := range goldenRecords["v1"] {
		v2[k] = v
	}
	v2[schemas.WebhookEvent] = map[string]any{
		"event_id": "event:0123456789abcdef0123456789abcdef", "received_at": time.UnixMilli(1760000000123).UTC(),
		"event_type": "user_preference", "field": "user_preferences", "value_key": goavro.Union("string", "user_preferences"),
		"phone_number_id": goavro.Union("string", "100000000000001"), "wa_id": goavro.Union("string", "15550001111"),
		"raw": `{"wa_id":"15550001111","category":"marketing_messages","value":"stop"}`,
	}
	v2[schemas.SendCommand] = map[string]any{
		"command_id": goavro.Union("string", "typed-1"), "to": goavro.Union("string", "15550001111"),
		"type": goavro.Union("string", "image"), "content_json": goavro.Union("string", `{"id":"MEDIA1"}`),
	}
	v2[schemas.DeadLetter] = schemas.DeadLetterRecord{Source: "command", Reason: "invalid_command: value is not a JSON object",
		At: time.UnixMilli(1760000000456).UTC(), CommandID: "c-9", Topic: "wabridge.commands", Partition: 1, Offset: 7,
		Original: []byte("not json")}.Native()
	goldenRecords["v2"] = v2
}

func TestCurrentSchemasReadEveryReleasedVersion(t *testing.T) {
	versions, err := filepath.Glob("testdata/v*")
	if err != nil || len(versions) == 0 {
		t.Fatalf("no released schema versions under testdata/: %v", err)
	}
	for _, dir := range versions {
		version := filepath.Base(dir)
		for kind, file := range kindFile {
			t.Run(version+"/"+file, func(t *testing.T) {
				oldText, err := os.ReadFile(filepath.Join(dir, file+".avsc"))
				if os.IsNotExist(err) {
					t.Skipf("%s did not have %s yet", version, kind)
				}
				if err != nil {
					t.Fatal(err)
				}
				binPath := filepath.Join(dir, file+".bin")
				if *writeGolden {
					native := goldenRecords[version][kind]
					codec, err := goavro.NewCodec(string(oldText))
					if err != nil {
						t.Fatal(err)
					}
					b, err := codec.BinaryFromNative(nil, native)
					if err != nil {
						t.Fatalf("encoding the %s golden record: %v", version, err)
					}
					if err := os.WriteFile(binPath, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				current, err := schemas.Lookup(kind)
				if err != nil {
					t.Fatal(err)
				}
				writer, err := avro.ParseWithCache(string(oldText), "", &avro.SchemaCache{})
				if err != nil {
					t.Fatalf("parsing %s schema: %v", version, err)
				}
				reader, err := avro.ParseWithCache(current.Text, "", &avro.SchemaCache{})
				if err != nil {
					t.Fatalf("parsing current schema: %v", err)
				}
				compat := avro.NewSchemaCompatibility()
				if err := compat.Compatible(reader, writer); err != nil {
					t.Fatalf("current %s schema cannot read %s data: %v", kind, version, err)
				}
				resolved, err := compat.Resolve(reader, writer)
				if err != nil {
					t.Fatalf("resolving: %v", err)
				}
				data, err := os.ReadFile(binPath)
				if err != nil {
					t.Fatalf("golden record: %v (write it with -golden when releasing %s)", err, version)
				}
				var got map[string]any
				if err := avro.Unmarshal(resolved, data, &got); err != nil {
					t.Fatalf("decoding the %s golden record with the current schema: %v", version, err)
				}
				want := goldenRecords[version][kind]
				for _, field := range []string{"event_id", "raw", "command_id", "message_id", "status", "outcome", "type"} {
					w, ok := want[field]
					if !ok {
						continue
					}
					g := got[field]
					if m, ok := w.(map[string]any); ok { // a union: compare the branch
						for _, v := range m {
							w = v
						}
						if gm, ok := g.(map[string]any); ok {
							for _, v := range gm {
								g = v
							}
						}
					}
					if !strings.EqualFold(stringOf(g), stringOf(w)) {
						t.Errorf("%s: %v, want %v", field, g, w)
					}
				}
			})
		}
	}
}

func stringOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return "?"
}
