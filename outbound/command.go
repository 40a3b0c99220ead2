package outbound

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/jsonscan"
)

// Command headers a producer may set on a command record.
const (
	// HeaderCommandID names the command; results and statuses carry it.
	// Default: "<topic>/<partition>/<offset>", stable across redeliveries.
	HeaderCommandID = "command-id"
	// HeaderExpiresAt: RFC 3339 time or Unix milliseconds after which the
	// command must not be sent (it is rejected with reason "expired").
	HeaderExpiresAt = "expires-at"
	// HeaderBusinessNumber selects the business number (and so the API key)
	// when one deployment serves several; empty selects the default.
	HeaderBusinessNumber = "business-number"
)

// maxCallbackData is the length limit of biz_opaque_callback_data.
const maxCallbackData = 512

// MaxCommandBytes bounds a command's value: the largest valid body (a list
// or a template with every parameter at its limit) is far smaller.
const MaxCommandBytes = 64 << 10

// Command is a send command ready for the API.
type Command struct {
	ID string
	// Body is the request body: the command's JSON with messaging_product
	// filled in and biz_opaque_callback_data defaulted to ID.
	Body []byte
	// To is the recipient (to or recipient); empty for status bodies.
	To string
	// Type is the message type, or "status" for mark-as-read / typing bodies.
	Type      string
	ExpiresAt time.Time
}

// InvalidError says which field of a command broke which rule.
type InvalidError struct {
	Field string
	Rule  string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Rule
	}
	return e.Field + ": " + e.Rule
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// CommandID returns the command id of m: its command-id header, else a
// position-derived id.
func CommandID(m *kgo.Record) string {
	for _, h := range m.Headers {
		if h.Key == HeaderCommandID && len(h.Value) > 0 {
			return string(h.Value)
		}
	}
	return positionID(m.Topic, m.Partition, m.Offset)
}

// ParseCommand checks a command record and builds the request body. Unknown
// fields pass through untouched so new API features need no release.
func ParseCommand(m *kgo.Record) (Command, error) {
	cmd, err := commandHeaders(m)
	if err != nil {
		return cmd, err
	}
	if len(bytes.TrimSpace(m.Value)) == 0 {
		return cmd, invalid("", "value is empty; want the JSON body of POST /messages")
	}
	obj, ok := jsonscan.Object(m.Value)
	if !ok { // encoding/json says what is wrong
		if err := json.Unmarshal(m.Value, &obj); err != nil {
			return cmd, invalid("", "value is not a JSON object: %v", err)
		}
	}
	if obj == nil {
		return cmd, invalid("", "value is null; want a JSON object")
	}
	return commandFromObject(cmd, m.Value, obj)
}

// commandHeaders is the command of m as its headers and size say: its id,
// its expiry.
func commandHeaders(m *kgo.Record) (Command, error) {
	cmd := Command{ID: CommandID(m)}
	if !utf8.ValidString(cmd.ID) || len(cmd.ID) > 256 {
		return cmd, invalid("header "+HeaderCommandID, "must be valid UTF-8 of at most 256 bytes")
	}
	for _, h := range m.Headers {
		if h.Key == HeaderExpiresAt {
			t, err := parseTime(string(h.Value))
			if err != nil {
				return cmd, invalid("header "+HeaderExpiresAt, "%v", err)
			}
			cmd.ExpiresAt = t
		}
	}
	if len(m.Value) > MaxCommandBytes {
		return cmd, invalid("", "value is %d bytes; at most %d", len(m.Value), MaxCommandBytes)
	}
	return cmd, nil
}

// commandFromObject checks the JSON object obj (whose bytes are value) and
// completes cmd from it.
func commandFromObject(cmd Command, value []byte, obj map[string]json.RawMessage) (Command, error) {
	mp, err := optString(obj, "messaging_product")
	if err != nil {
		return cmd, err
	}
	var add []field // fields to add to the body
	switch mp {
	case "":
		add = append(add, field{"messaging_product", json.RawMessage(`"whatsapp"`)})
	case "whatsapp":
	default:
		return cmd, invalid("messaging_product", `must be "whatsapp", got %q`, mp)
	}

	if _, ok := obj["status"]; ok {
		st, err := optString(obj, "status")
		if err != nil {
			return cmd, err
		}
		if st != "read" {
			return cmd, invalid("status", `must be "read" (mark as read, optionally with typing_indicator), got %q`, st)
		}
		id, err := optString(obj, "message_id")
		if err != nil {
			return cmd, err
		}
		if id == "" {
			return cmd, invalid("message_id", "required with status")
		}
		cmd.Type = "status"
		cmd.Body, err = withFields(value, obj, add)
		return cmd, err
	}

	// Per-type rules of the API reference (validate.go), before any call.
	if err := validate(obj, true); err != nil { // obj's values were parsed: valid JSON
		return cmd, err
	}
	// Validate has checked the envelope: to or recipient (one of them),
	// type and its content object, the callback data's length. Its strings
	// read without error here.
	to, _ := optString(obj, "to")
	recipient, _ := optString(obj, "recipient")
	cmd.To = cmp.Or(to, recipient)
	typ, _ := optString(obj, "type")
	cmd.Type = cmp.Or(typ, "text") // the API's default
	if cb, _ := optString(obj, "biz_opaque_callback_data"); cb == "" && utf8.RuneCountInString(cmd.ID) <= maxCallbackData {
		q, _ := json.Marshal(cmd.ID)
		add = append(add, field{"biz_opaque_callback_data", q})
	}
	cmd.Body, err = withFields(value, obj, add)
	return cmd, err
}

type field struct {
	key   string
	value json.RawMessage
}

// withFields returns the command's body with add set. Fields that are absent
// are spliced in front of the original bytes, which stay as they are (key
// order, number spelling, escapes); a field present as null or "" is
// replaced by re-encoding the object.
func withFields(orig []byte, obj map[string]json.RawMessage, add []field) ([]byte, error) {
	if len(add) == 0 {
		return bytes.TrimSpace(orig), nil
	}
	for _, f := range add {
		if _, present := obj[f.key]; present {
			for _, f := range add {
				obj[f.key] = f.value
			}
			return json.Marshal(obj)
		}
	}
	trimmed := bytes.TrimSpace(orig) // a JSON object: starts with '{'
	out := make([]byte, 0, len(trimmed)+64)
	out = append(out, '{')
	for _, f := range add {
		k, _ := json.Marshal(f.key)
		out = append(out, k...)
		out = append(out, ':')
		out = append(out, f.value...)
		out = append(out, ',')
	}
	rest := bytes.TrimSpace(trimmed[1:])
	if len(rest) > 0 && rest[0] == '}' {
		out = out[:len(out)-1] // empty object: no comma
	}
	return append(out, rest...), nil
}

func optString(obj map[string]json.RawMessage, key string) (string, error) {
	raw, ok := obj[key]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	if s, ok := jsonscan.UnquoteFast(raw); ok {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(key, "must be a string")
	}
	return s, nil
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339 time or Unix milliseconds, got " + strconv.Quote(s))
	}
	return t, nil
}

// UserKey is the record key of a recipient: a phone number reduced to its
// digits (as WhatsApp's wa_id), or a business-scoped user id unchanged.
func UserKey(to string) string {
	digits := true
	for i := 0; i < len(to) && digits; i++ {
		digits = to[i] >= '0' && to[i] <= '9'
	}
	if digits {
		return to // nothing to drop (and nothing to copy)
	}
	return string(appendUserKey(make([]byte, 0, len(to)), to))
}

// appendUserKey appends UserKey(to) to dst.
func appendUserKey(dst []byte, to string) []byte {
	n := len(dst)
	for i := 0; i < len(to); i++ {
		switch c := to[i]; {
		case c >= '0' && c <= '9':
			dst = append(dst, c)
		case c == '+' || c == ' ' || c == '-' || c == '(' || c == ')':
		default:
			return append(dst[:n], to...) // not a phone number: e.g. a BSUID such as US.1234
		}
	}
	return dst
}
