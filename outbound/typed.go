package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Typed commands: a command value may be an Avro SendCommand
// (schemas/send_command.avsc) in the Confluent framing instead of the JSON
// body. It is turned into the same JSON body, and its command_id,
// expires_at and business_number into the headers a JSON command carries,
// so everything after (validation, the ledger, results) is the same.

// CommandDecoder decodes Confluent-framed Avro values; *schemas.Decoder is one.
type CommandDecoder interface {
	Decode(ctx context.Context, b []byte) (map[string]any, int, error)
}

// isConfluentAvro reports whether v starts like a Confluent-framed value (a
// JSON body starts with '{' or white space).
func isConfluentAvro(v []byte) bool { return len(v) > 5 && v[0] == 0 }

// typedCommand turns a decoded SendCommand into the command and m's JSON
// form: the body as value, command_id / expires_at / business_number as
// headers. The command is built from the body's members as they are
// encoded, not by parsing the body again.
func typedCommand(native map[string]any, m *kgo.Record) (*kgo.Record, Command, error) {
	str := func(k string) string {
		switch v := native[k].(type) {
		case string:
			return v
		case map[string]any:
			if s, ok := v["string"].(string); ok {
				return s
			}
		}
		return ""
	}
	rec := func(k string) map[string]any {
		if v, ok := native[k].(map[string]any); ok {
			for _, inner := range v { // the union's branch
				if r, ok := inner.(map[string]any); ok {
					return r
				}
			}
		}
		return nil
	}
	// The typed fields come first, so they win over headers of the same name
	// (the first header of a name counts).
	var typed []kgo.RecordHeader
	if id := str("command_id"); id != "" {
		typed = append(typed, kgo.RecordHeader{Key: HeaderCommandID, Value: []byte(id)})
	}
	if n := str("business_number"); n != "" {
		typed = append(typed, kgo.RecordHeader{Key: HeaderBusinessNumber, Value: []byte(n)})
	}
	if v, ok := native["expires_at"].(map[string]any); ok {
		if t, ok := v["long.timestamp-millis"].(time.Time); ok {
			typed = append(typed, kgo.RecordHeader{Key: HeaderExpiresAt, Value: []byte(strconv.FormatInt(t.UnixMilli(), 10))})
		}
	}
	// On an error below, m is returned with these headers, so the
	// rejection carries the command's own id.
	out := *m
	out.Headers = append(typed, m.Headers...)
	m = &out
	fail := func(err error) (*kgo.Record, Command, error) { return m, Command{ID: CommandID(m)}, err }

	body := map[string]any{"messaging_product": "whatsapp"}
	rawJSON := func(field, s string) (json.RawMessage, error) {
		if !json.Valid([]byte(s)) {
			return nil, &InvalidError{Field: field, Rule: "must be valid JSON"}
		}
		return json.RawMessage(s), nil
	}
	typ := str("type")
	if id := str("mark_read_message_id"); id != "" {
		if typ != "" {
			return fail(&InvalidError{Field: "mark_read_message_id", Rule: "set either type or mark_read_message_id"})
		}
		body["status"] = "read"
		body["message_id"] = id
		if b, _ := native["typing_indicator"].(bool); b {
			body["typing_indicator"] = map[string]string{"type": "text"}
		}
	} else {
		for _, k := range []string{"to", "recipient", "recipient_type", "biz_opaque_callback_data"} {
			if v := str(k); v != "" {
				body[k] = v
			}
		}
		if id := str("context_message_id"); id != "" {
			body["context"] = map[string]string{"message_id": id}
		}
		if typ == "" {
			return fail(&InvalidError{Field: "type", Rule: "required (or mark_read_message_id)"})
		}
		body["type"] = typ
		text, tmpl, content := rec("text"), rec("template"), str("content_json")
		set := 0
		for _, present := range []bool{text != nil, tmpl != nil, content != ""} {
			if present {
				set++
			}
		}
		if set != 1 {
			return fail(&InvalidError{Field: "type", Rule: fmt.Sprintf("exactly one of text, template, content_json must be set, got %d", set)})
		}
		switch {
		case text != nil:
			if typ != "text" {
				return fail(&InvalidError{Field: "text", Rule: fmt.Sprintf("set for type %q", typ)})
			}
			t := map[string]any{"body": text["body"]}
			if p, _ := text["preview_url"].(bool); p {
				t["preview_url"] = true
			}
			body["text"] = t
		case tmpl != nil:
			if typ != "template" {
				return fail(&InvalidError{Field: "template", Rule: fmt.Sprintf("set for type %q", typ)})
			}
			t := map[string]any{"name": tmpl["name"], "language": map[string]any{"code": tmpl["language"]}}
			if c, ok := tmpl["components_json"].(map[string]any); ok {
				raw, err := rawJSON("template.components_json", fmt.Sprint(c["string"]))
				if err != nil {
					return fail(err)
				}
				t["components"] = raw
			}
			body["template"] = t
		default:
			raw, err := rawJSON("content_json", content)
			if err != nil {
				return fail(err)
			}
			body[typ] = raw
		}
	}
	// The body as encoding/json writes a map (members in key order,
	// compact, HTML characters as they are), one member at a time.
	obj := make(map[string]json.RawMessage, len(body))
	keys := make([]string, 0, len(body))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for k, v := range body {
		if err := enc.Encode(v); err != nil {
			return fail(err)
		}
		obj[k] = bytes.Clone(bytes.TrimSpace(buf.Bytes()))
		buf.Reset()
		keys = append(keys, k)
	}
	slices.Sort(keys)
	value := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			value = append(value, ',')
		}
		if err := enc.Encode(k); err != nil {
			return fail(err)
		}
		value = append(value, bytes.TrimSpace(buf.Bytes())...)
		buf.Reset()
		value = append(value, ':')
		value = append(value, obj[k]...)
	}
	out.Value = append(value, '}')
	cmd, err := commandHeaders(&out)
	if err != nil {
		return &out, cmd, err
	}
	cmd, err = commandFromObject(cmd, out.Value, obj)
	return &out, cmd, err
}
