package outbound

import (
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A typed command is built from its body's members as they are encoded:
// the same command as parsing its JSON form gives.
func TestTypedCommandIsItsJSONFormParsed(t *testing.T) {
	str := func(s string) map[string]any { return map[string]any{"string": s} }
	at := time.UnixMilli(1760000000123)
	for name, native := range map[string]map[string]any{
		"text": {"command_id": str("c-1"), "to": str("+49 151 2345"), "type": str("text"),
			"text":       map[string]any{"io.wabridge.SendText": map[string]any{"body": "a <b> & \"c\" é", "preview_url": true}},
			"expires_at": map[string]any{"long.timestamp-millis": at}},
		"template": {"to": str("15550001111"), "type": str("template"), "biz_opaque_callback_data": str("cb"),
			"template": map[string]any{"io.wabridge.SendTemplate": map[string]any{"name": "order_update", "language": "en_US",
				"components_json": str(` [ {"type":"body","parameters":[{"type":"text","text":"<1>"}]} ] `)}}},
		"content": {"to": str("15550001111"), "type": str("image"), "context_message_id": str("wamid.X"),
			"content_json": str(`{"link":"https://example.com/a.png","caption":"x\u00e9"}`)},
		"unknown type": {"to": str("15550001111"), "type": str("a\"b<c>"), "content_json": str(`{}`)},
		"mark read":    {"mark_read_message_id": str("wamid.Y"), "typing_indicator": true, "business_number": str("106540352242922")},
		"invalid":      {"to": str("12"), "type": str("text"), "text": map[string]any{"io.wabridge.SendText": map[string]any{"body": "hi"}}},
	} {
		rec, cmd, err := typedCommand(native, &kgo.Record{Topic: "cmds", Partition: 1, Offset: 7})
		want, wantErr := ParseCommand(rec)
		if !reflect.DeepEqual(cmd, want) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%s:\n typed  %+v, %v\n parsed %+v, %v\n body %s", name, cmd, err, want, wantErr, rec.Value)
		}
	}
}
