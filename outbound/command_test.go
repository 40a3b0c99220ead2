package outbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// commandMsg is a command record at wa.commands/3/1042 with header pairs.
func commandMsg(value string, headers ...string) kafka.Message {
	m := kafka.Message{Topic: "wa.commands", Partition: 3, Offset: 1042, Value: []byte(value)}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, kafka.Header{Key: headers[i], Value: []byte(headers[i+1])})
	}
	return m
}

const derivedID = "wa.commands/3/1042"

// decodeJSON decodes b keeping numbers exact, so that comparisons see
// exactly what passed through.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestParseCommand(t *testing.T) {
	long := strings.Repeat("é", maxCallbackData) // 512 characters, 1024 bytes
	for _, tc := range []struct {
		name string
		msg  kafka.Message
		// On success:
		wantID, wantTo, wantType string
		wantExpires              time.Time
		wantBody                 string // compared as decoded JSON
		// On failure: the field and a part of the rule.
		wantField, wantRule string
	}{
		// The value as a whole.
		{name: "empty value", msg: commandMsg(""), wantRule: "value is empty"},
		{name: "blank value", msg: commandMsg(" \n\t"), wantRule: "value is empty"},
		{name: "not JSON", msg: commandMsg("send hi to 15550001111"), wantRule: "not a JSON object"},
		{name: "truncated JSON", msg: commandMsg(`{"to":"15550001111"`), wantRule: "not a JSON object"},
		{name: "JSON null", msg: commandMsg("null"), wantRule: "value is null"},
		{name: "JSON array", msg: commandMsg(`[{"to":"15550001111","text":{"body":"hi"}}]`), wantRule: "not a JSON object"},
		{name: "JSON string", msg: commandMsg(`"hi"`), wantRule: "not a JSON object"},
		{name: "oversized value", msg: commandMsg(`{"to":"15550001111","text":{"body":"` + strings.Repeat("x", MaxCommandBytes) + `"}}`), wantRule: "at most 65536"},

		// messaging_product.
		{name: "messaging_product missing is filled in",
			msg:    commandMsg(`{"to":"15550001111","type":"text","text":{"body":"hi"}}`),
			wantID: derivedID, wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","type":"text","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "messaging_product null is filled in",
			msg:    commandMsg(`{"messaging_product":null,"to":"15550001111","text":{"body":"hi"}}`),
			wantID: derivedID, wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "messaging_product whatsapp is kept",
			msg:    commandMsg(`{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"}}`),
			wantID: derivedID, wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "messaging_product wrong",
			msg:       commandMsg(`{"messaging_product":"sms","to":"15550001111","text":{"body":"hi"}}`),
			wantField: "messaging_product", wantRule: `must be "whatsapp", got "sms"`},
		{name: "messaging_product not a string",
			msg:       commandMsg(`{"messaging_product":true,"to":"15550001111","text":{"body":"hi"}}`),
			wantField: "messaging_product", wantRule: "must be a string"},

		// to and recipient.
		{name: "to a phone number as written",
			msg:    commandMsg(`{"to":"+1 (555) 000-1111","text":{"body":"hi"}}`),
			wantID: derivedID, wantTo: "+1 (555) 000-1111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"+1 (555) 000-1111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "recipient, a business-scoped user id",
			msg:    commandMsg(`{"recipient":"US.13491208655302741918","text":{"body":"hi"}}`),
			wantID: derivedID, wantTo: "US.13491208655302741918", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","recipient":"US.13491208655302741918","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "empty to with a recipient",
			msg:    commandMsg(`{"to":"","recipient":"US.1","text":{"body":"hi"}}`),
			wantID: derivedID, wantTo: "US.1", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"","recipient":"US.1","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "both to and recipient",
			msg:       commandMsg(`{"to":"15550001111","recipient":"US.1","text":{"body":"hi"}}`),
			wantField: "to", wantRule: "not both"},
		{name: "neither to nor recipient",
			msg:       commandMsg(`{"type":"text","text":{"body":"hi"}}`),
			wantField: "to", wantRule: "required"},
		{name: "to not a string",
			msg:       commandMsg(`{"to":15550001111,"text":{"body":"hi"}}`),
			wantField: "to", wantRule: "must be a string"},
		{name: "recipient not a string",
			msg:       commandMsg(`{"recipient":["US.1"],"text":{"body":"hi"}}`),
			wantField: "recipient", wantRule: "must be a string"},

		// type and its object.
		{name: "type defaults to text",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`),
			wantID: derivedID, wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "empty type defaults to text",
			msg:    commandMsg(`{"to":"15550001111","type":"","text":{"body":"hi"}}`),
			wantID: derivedID, wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","type":"","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "default type without text object",
			msg:       commandMsg(`{"to":"15550001111","image":{"id":"1"}}`),
			wantField: "text", wantRule: `object required for type "text"`},
		{name: "type object missing",
			msg:       commandMsg(`{"to":"15550001111","type":"image","text":{"body":"hi"}}`),
			wantField: "image", wantRule: `object required for type "image"`},
		{name: "type object null",
			msg:       commandMsg(`{"to":"15550001111","type":"image","image":null}`),
			wantField: "image", wantRule: `object required for type "image"`},
		{name: "type not a string",
			msg:       commandMsg(`{"to":"15550001111","type":{"name":"text"},"text":{"body":"hi"}}`),
			wantField: "type", wantRule: "must be a string"},
		{name: "template",
			msg:    commandMsg(`{"to":"15550001111","type":"template","template":{"name":"order_update","language":{"code":"en_US"}}}`),
			wantID: derivedID, wantTo: "15550001111", wantType: "template",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","type":"template","template":{"name":"order_update","language":{"code":"en_US"}},"biz_opaque_callback_data":"wa.commands/3/1042"}`},

		// Status bodies: mark as read and typing indicator.
		{name: "mark as read",
			msg:    commandMsg(`{"status":"read","message_id":"wamid.IN"}`),
			wantID: derivedID, wantType: "status",
			wantBody: `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN"}`},
		{name: "typing indicator",
			msg:    commandMsg(`{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN","typing_indicator":{"type":"text"}}`),
			wantID: derivedID, wantType: "status",
			wantBody: `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN","typing_indicator":{"type":"text"}}`},
		{name: "status other than read",
			msg:       commandMsg(`{"status":"delivered","message_id":"wamid.IN"}`),
			wantField: "status", wantRule: `must be "read"`},
		{name: "status null",
			msg:       commandMsg(`{"status":null,"message_id":"wamid.IN"}`),
			wantField: "status", wantRule: `must be "read"`},
		{name: "status not a string",
			msg:       commandMsg(`{"status":1,"message_id":"wamid.IN"}`),
			wantField: "status", wantRule: "must be a string"},
		{name: "read without message_id",
			msg:       commandMsg(`{"status":"read"}`),
			wantField: "message_id", wantRule: "required with status"},
		{name: "read with empty message_id",
			msg:       commandMsg(`{"status":"read","message_id":""}`),
			wantField: "message_id", wantRule: "required with status"},
		{name: "read with message_id not a string",
			msg:       commandMsg(`{"status":"read","message_id":42}`),
			wantField: "message_id", wantRule: "must be a string"},
		{name: "status body with wrong messaging_product",
			msg:       commandMsg(`{"messaging_product":"sms","status":"read","message_id":"wamid.IN"}`),
			wantField: "messaging_product", wantRule: `must be "whatsapp"`},

		// biz_opaque_callback_data.
		{name: "callback data defaults to the command-id header",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderCommandID, "order-42"),
			wantID: "order-42", wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"order-42"}`},
		{name: "callback data kept when set",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"campaign-7"}`, HeaderCommandID, "order-42"),
			wantID: "order-42", wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"campaign-7"}`},
		{name: "callback data null is defaulted",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":null}`),
			wantID: derivedID, wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "callback data of 512 characters",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"` + long + `"}`),
			wantID: derivedID, wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"` + long + `"}`},
		{name: "callback data too long",
			msg:       commandMsg(`{"to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"` + long + `x"}`),
			wantField: "biz_opaque_callback_data", wantRule: "at most 512 characters"},
		{name: "callback data not a string",
			msg:       commandMsg(`{"to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":{"order":42}}`),
			wantField: "biz_opaque_callback_data", wantRule: "must be a string"},

		// Headers.
		{name: "empty command-id header falls back to the position",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderCommandID, ""),
			wantID: derivedID, wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "command-id header too long",
			msg:       commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderCommandID, strings.Repeat("x", 257)),
			wantField: "header command-id", wantRule: "at most 256 bytes"},
		{name: "command-id header not UTF-8",
			msg:       commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderCommandID, "order-\xff"),
			wantField: "header command-id", wantRule: "valid UTF-8"},
		{name: "expires-at RFC 3339",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderExpiresAt, "2026-10-09T10:00:00Z"),
			wantID: derivedID, wantTo: "15550001111", wantType: "text", wantExpires: time.Date(2026, 10, 9, 10, 0, 0, 0, time.UTC),
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "expires-at RFC 3339 with fraction and offset",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderExpiresAt, "2026-10-09T12:00:00.250+02:00"),
			wantID: derivedID, wantTo: "15550001111", wantType: "text", wantExpires: time.Date(2026, 10, 9, 10, 0, 0, 250e6, time.UTC),
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "expires-at Unix milliseconds",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderExpiresAt, "1760004000123"),
			wantID: derivedID, wantTo: "15550001111", wantType: "text", wantExpires: time.UnixMilli(1760004000123),
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "expires-at with spaces",
			msg:    commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderExpiresAt, " 1760004000123\n"),
			wantID: derivedID, wantTo: "15550001111", wantType: "text", wantExpires: time.UnixMilli(1760004000123),
			wantBody: `{"messaging_product":"whatsapp","to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"wa.commands/3/1042"}`},
		{name: "expires-at garbage",
			msg:       commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderExpiresAt, "tomorrow"),
			wantField: "header expires-at", wantRule: "want RFC 3339 time or Unix milliseconds"},
		{name: "expires-at date only",
			msg:       commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderExpiresAt, "2026-10-09"),
			wantField: "header expires-at", wantRule: "want RFC 3339 time or Unix milliseconds"},
		{name: "expires-at Unix seconds with a fraction",
			msg:       commandMsg(`{"to":"15550001111","text":{"body":"hi"}}`, HeaderExpiresAt, "1760004000.5"),
			wantField: "header expires-at", wantRule: "want RFC 3339 time or Unix milliseconds"},
		{name: "bad header is reported before a bad value",
			msg:       commandMsg(`not json`, HeaderExpiresAt, "tomorrow"),
			wantField: "header expires-at", wantRule: "want RFC 3339"},

		// Pass-through.
		{name: "unknown fields pass through untouched",
			msg: commandMsg(`{
				"recipient_type": "individual",
				"to": "15550001111",
				"type": "text",
				"context": {"message_id": "wamid.QUOTED"},
				"text": {"body": "<b>Tom & Jerry</b> ☃ \u00e9", "preview_url": true},
				"recipient_identity_key_hash": "abc",
				"x_future": {"nested": [1, 2.50, -0.0, 1e400, 12345678901234567890123, null, true, "two", {"deep": {}}]}
			}`),
			wantID: derivedID, wantTo: "15550001111", wantType: "text",
			wantBody: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"text",
				"context":{"message_id":"wamid.QUOTED"},"text":{"body":"<b>Tom & Jerry</b> ☃ é","preview_url":true},
				"recipient_identity_key_hash":"abc",
				"x_future":{"nested":[1,2.50,-0.0,1e400,12345678901234567890123,null,true,"two",{"deep":{}}]},
				"biz_opaque_callback_data":"wa.commands/3/1042"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCommand(record(tc.msg))
			if wantID := CommandID(record(tc.msg)); got.ID != wantID {
				t.Errorf("ID = %q, want %q (set on errors too, for the result record)", got.ID, wantID)
			}
			if tc.wantRule != "" {
				var ie *InvalidError
				if !errors.As(err, &ie) {
					t.Fatalf("ParseCommand error = %v (%T), want an *InvalidError", err, err)
				}
				if ie.Field != tc.wantField || !strings.Contains(ie.Rule, tc.wantRule) {
					t.Errorf("InvalidError{Field: %q, Rule: %q}, want field %q and a rule containing %q", ie.Field, ie.Rule, tc.wantField, tc.wantRule)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommand: %v", err)
			}
			if got.ID != tc.wantID || got.To != tc.wantTo || got.Type != tc.wantType || !got.ExpiresAt.Equal(tc.wantExpires) {
				t.Errorf("ParseCommand = {ID:%q To:%q Type:%q ExpiresAt:%v}\nwant          {ID:%q To:%q Type:%q ExpiresAt:%v}",
					got.ID, got.To, got.Type, got.ExpiresAt, tc.wantID, tc.wantTo, tc.wantType, tc.wantExpires)
			}
			if g, w := decodeJSON(t, got.Body), decodeJSON(t, []byte(tc.wantBody)); !reflect.DeepEqual(g, w) {
				t.Errorf("Body = %s\nwant %s", got.Body, tc.wantBody)
			}
		})
	}
}

func TestParseCommandKeepsValuesVerbatim(t *testing.T) {
	// Numbers and strings the API will read must not be re-encoded in a way
	// that changes them (precision, escapes).
	value := `{"to":"15550001111","type":"x_new","x_new":{"amount_1000":19990000000000000001,"ratio":0.1000000000000000055511151231257827,"s":"\ud83d\ude00 \u2028"}}`
	cmd, err := ParseCommand(record(commandMsg(value)))
	if err != nil {
		t.Fatalf("ParseCommand: %v", err)
	}
	for _, part := range []string{`19990000000000000001`, `0.1000000000000000055511151231257827`} {
		if !bytes.Contains(cmd.Body, []byte(part)) {
			t.Errorf("Body %s lost %s", cmd.Body, part)
		}
	}
	var got struct {
		X struct {
			S string `json:"s"`
		} `json:"x_new"`
	}
	if err := json.Unmarshal(cmd.Body, &got); err != nil || got.X.S != "😀 \u2028" {
		t.Errorf("x_new.s = %q (%v), want the same string", got.X.S, err)
	}
}

func TestCommandID(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  kafka.Message
		want string
	}{
		{"position when no header", commandMsg("{}"), derivedID},
		{"header", commandMsg("{}", HeaderCommandID, "order-42"), "order-42"},
		{"empty header is ignored", commandMsg("{}", HeaderCommandID, ""), derivedID},
		{"first non-empty header wins", commandMsg("{}", HeaderCommandID, "", HeaderCommandID, "a", HeaderCommandID, "b"), "a"},
		{"other headers are ignored", commandMsg("{}", "Command-Id", "nope", HeaderExpiresAt, "1"), derivedID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CommandID(record(tc.msg)); got != tc.want {
				t.Errorf("CommandID = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUserKey(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"15550001111", "15550001111"},
		{"+1 555 000 1111", "15550001111"},
		{"+1 (555) 000-1111", "15550001111"},
		{"+49 151 1234 5678", "4915112345678"},
		{"US.13491208655302741918", "US.13491208655302741918"},
		{"US.ENT.99887766554433221100", "US.ENT.99887766554433221100"},
		{"1555.000.1111", "1555.000.1111"}, // dots are not phone punctuation here
		{"１５５５", "１５５５"},                   // full-width digits are not ASCII digits
		{"120363025246125888@g.us", "120363025246125888@g.us"},
		{"", ""},
	} {
		if got := UserKey(tc.in); got != tc.want {
			t.Errorf("UserKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A command and the statuses of its message share a key: the wa_id the
	// API returns for any spelling of the number.
	if UserKey("+1 (555) 000-1111") != UserKey("15550001111") {
		t.Error("two spellings of one number give different keys")
	}
	if n := testing.AllocsPerRun(100, func() { UserKey("15550001111") }); n != 0 {
		t.Errorf("UserKey of digits alone: %v allocations, want 0", n)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, seed := range []struct{ value, id, expires string }{
		{`{"to":"15550001111","text":{"body":"hi"}}`, "", ""},
		{`{"messaging_product":"whatsapp","recipient":"US.1","type":"image","image":{"id":"1"},"biz_opaque_callback_data":"x"}`, "order-42", "2026-10-09T10:00:00Z"},
		{`{"status":"read","message_id":"wamid.IN","typing_indicator":{"type":"text"}}`, "", "1760004000123"},
		{`{"to":"1","recipient":"US.1"}`, "", ""},
		{`{"messaging_product":"sms"}`, "", "soon"},
		{`null`, "", ""},
		{`[]`, "\xff", ""},
		{``, "", ""},
		{`{"to":"1","type":"to"}`, "", ""},
		{`{"to":"1","type":"text","text":null}`, "", ""},
	} {
		f.Add([]byte(seed.value), seed.id, seed.expires)
	}
	f.Fuzz(func(t *testing.T, value []byte, id, expires string) {
		m := kafka.Message{Topic: "wa.commands", Partition: 0, Offset: 7, Value: value}
		if id != "" {
			m.Headers = append(m.Headers, kafka.Header{Key: HeaderCommandID, Value: []byte(id)})
		}
		if expires != "" {
			m.Headers = append(m.Headers, kafka.Header{Key: HeaderExpiresAt, Value: []byte(expires)})
		}
		cmd, err := ParseCommand(record(m))
		if cmd.ID != CommandID(record(m)) {
			t.Errorf("ID = %q, want %q", cmd.ID, CommandID(record(m)))
		}
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Rule == "" {
				t.Errorf("error %v (%T) is not an *InvalidError with a rule", err, err)
			}
			return
		}
		if !json.Valid(cmd.Body) {
			t.Fatalf("Body is not valid JSON: %q", cmd.Body)
		}
		body, ok := decodeJSON(t, cmd.Body).(map[string]any) // UseNumber: 1e400 is valid JSON
		if !ok {
			t.Fatalf("Body is not a JSON object: %s", cmd.Body)
		}
		if body["messaging_product"] != "whatsapp" {
			t.Errorf("messaging_product = %v, want whatsapp", body["messaging_product"])
		}
		if cmd.Type == "" {
			t.Error("Type is empty")
		}
		if cmd.Type != "status" {
			// Accepted means valid: the body passes the per-type rules.
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(cmd.Body, &obj); err != nil || Validate(obj) != nil {
				t.Errorf("accepted body fails Validate: %v %v", err, Validate(obj))
			}
		}
		if cmd.Type == "status" {
			if body["status"] != "read" || body["message_id"] == "" {
				t.Errorf("status body %s without status read and a message_id", cmd.Body)
			}
			return
		}
		if cmd.To == "" {
			t.Errorf("message body %s accepted without a recipient", cmd.Body)
		}
		if obj, ok := body[cmd.Type]; !ok || obj == nil {
			t.Errorf("message body %s accepted without its %q object", cmd.Body, cmd.Type)
		}
		cb, ok := body["biz_opaque_callback_data"].(string)
		if !ok || cb == "" || utf8.RuneCountInString(cb) > maxCallbackData {
			t.Errorf("biz_opaque_callback_data = %v, want a string of 1 to %d characters", body["biz_opaque_callback_data"], maxCallbackData)
		}
	})
}

// record is m as the worker has it: a fetched *kgo.Record.
func record(m kafka.Message) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Time}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}
