package schemas_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/schemas"
)

func sample(kind schemas.Kind) map[string]any {
	now := time.UnixMilli(1760000000123).UTC()
	switch kind {
	case schemas.InboundMessage:
		return map[string]any{
			"event_id": "message:PN:wamid.1", "received_at": now, "phone_number_id": "PN",
			"message_id": "wamid.1", "timestamp": now, "type": "text",
			"text": goavro.Union("string", "hi"), "raw": `{"id":"wamid.1"}`,
		}
	case schemas.MessageStatus:
		return map[string]any{
			"event_id": "status:wamid.1:read:1", "received_at": now, "phone_number_id": "PN",
			"message_id": "wamid.1", "status": "read", "timestamp": now, "raw": `{}`,
			"errors": []any{map[string]any{"code": int32(131026), "title": goavro.Union("string", "x")}},
		}
	case schemas.WebhookEvent:
		return map[string]any{
			"event_id": "event:0123456789abcdef0123456789abcdef", "received_at": now, "event_type": "change_error",
			"field": "messages", "raw": `{"code":130429}`,
			"error": goavro.Union("io.wabridge.events.ApiError", map[string]any{"code": int32(130429)}),
		}
	case schemas.SendCommand:
		return map[string]any{
			"command_id": goavro.Union("string", "c1"), "to": goavro.Union("string", "15550001111"),
			"type":       goavro.Union("string", "text"),
			"text":       goavro.Union("io.wabridge.commands.Text", map[string]any{"body": "hi", "preview_url": false}),
			"expires_at": goavro.Union("long.timestamp-millis", now),
		}
	case schemas.DeadLetter:
		return schemas.DeadLetterRecord{Source: "command", Reason: "invalid_command: x", At: now, Topic: "t", Partition: 1, Offset: 9,
			Headers: [][2][]byte{{[]byte("command-id"), []byte("c1")}}, Original: []byte("not json")}.Native()
	case schemas.SendResult:
		return map[string]any{
			"event_id": "result:c1", "command_id": "c1", "outcome": "accepted", "produced_at": now,
			"attempts": int32(1), "latency_ms": int64(3), "source_topic": "t", "source_partition": int32(0), "source_offset": int64(9),
		}
	}
	return nil
}

func TestEverySchemaCompilesAndRoundTrips(t *testing.T) {
	all, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("got %d schemas, want 6", len(all))
	}
	for _, s := range all {
		t.Run(string(s.Kind), func(t *testing.T) {
			in := sample(s.Kind)
			b, err := s.Codec.BinaryFromNative(nil, in)
			if err != nil {
				t.Fatalf("encoding sample: %v", err)
			}
			out, rest, err := s.Codec.NativeFromBinary(b)
			if err != nil || len(rest) != 0 {
				t.Fatalf("decoding: %v (%d bytes left)", err, len(rest))
			}
			key := "event_id"
			if s.Kind == schemas.SendCommand { // a command, not an event
				key = "to"
			}
			if got, want := fmt.Sprint(out.(map[string]any)[key]), fmt.Sprint(in[key]); got != want {
				t.Errorf("%s = %v, want %v", key, got, want)
			}
		})
	}
}

func TestEncoderWritesConfluentFramingThatDecoderReads(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	client, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := schemas.Resolve(ctx, client, "orders", schemas.SendResult, false); err == nil {
		t.Fatal("lookup of an unregistered schema succeeded with auto-register off")
	}
	enc, err := schemas.Resolve(ctx, client, "orders", schemas.SendResult, true)
	if err != nil {
		t.Fatal(err)
	}
	again, err := schemas.Resolve(ctx, client, "orders", schemas.SendResult, false)
	if err != nil || again.ID != enc.ID {
		t.Fatalf("lookup after registration: id %v err %v, want id %d", again, err, enc.ID)
	}
	b, err := enc.Encode(sample(schemas.SendResult))
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 || int(b[1])<<24|int(b[2])<<16|int(b[3])<<8|int(b[4]) != enc.ID {
		t.Fatalf("header % x, want magic 0 and id %d", b[:5], enc.ID)
	}
	native, id, err := schemas.NewDecoder(client).Decode(ctx, b)
	if err != nil || id != enc.ID {
		t.Fatalf("decode: id %d err %v", id, err)
	}
	if native["command_id"] != "c1" || native["outcome"] != "accepted" {
		t.Errorf("decoded %v", native)
	}
	if _, _, err := schemas.NewDecoder(client).Decode(ctx, []byte("plain")); err == nil {
		t.Error("decoding a non-Avro value succeeded")
	}
}
