package window

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key is the record key of a user of a business number in both topics:
// "<phone_number_id>|<user>". A user that looks like a phone number is
// reduced to its digits ("+1 555-000 1111" → "15550001111", what webhooks
// carry as wa_id); anything else (a business-scoped user id such as
// "US.13491208655302741918") is kept as it is.
func Key(number, user string) string { return number + "|" + NormalizeUser(user) }

// NormalizeUser reduces a phone number to its digits, as outbound.UserKey
// does, and leaves other ids alone.
func NormalizeUser(user string) string {
	if !punctuatedPhone(user) {
		return user
	}
	b := make([]byte, 0, len(user))
	for i := 0; i < len(user); i++ {
		if c := user[i]; c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	return string(b)
}

// punctuatedPhone says whether user is a phone number written with more
// than digits ("+1 555-000 1111"), which NormalizeUser reduces.
func punctuatedPhone[T ~string | ~[]byte](user T) bool {
	punct := false
	for i := 0; i < len(user); i++ {
		switch c := user[i]; {
		case c >= '0' && c <= '9':
		case c == '+' || c == ' ' || c == '-' || c == '(' || c == ')':
			punct = true
		default:
			return false // not a phone number
		}
	}
	return punct
}

// SplitKey splits a record key into business number and user.
func SplitKey(key []byte) (number, user string, ok bool) {
	i := bytes.IndexByte(key, '|')
	if i <= 0 || i == len(key)-1 {
		return "", "", false
	}
	return string(key[:i]), string(key[i+1:]), true
}

// checkKey says what is wrong with a record key, without allocating when
// nothing is: it must be "<phone_number_id>|<user>" with the user as Key
// writes it. Lookups reduce a phone number to its digits, so a record
// under "<number>|+1 555 000 1111" would never be found: an opt-out
// written so would be ignored without a word.
func checkKey(key []byte) error {
	i := bytes.IndexByte(key, '|')
	if i <= 0 || i == len(key)-1 {
		return errKeyShape
	}
	if user := key[i+1:]; punctuatedPhone(user) {
		return fmt.Errorf("key %q: the user's phone number must be digits only, as in the key %q", key, Key(string(key[:i]), string(user)))
	}
	return nil
}

var errKeyShape = errors.New("key is not <phone_number_id>|<user>")

// WindowValue is the JSON value of a window record:
//
//	{"last_inbound_at":1760000000000,"closed_at":1760000050000,"by":"wb-3f9a1c2e"}
//
// last_inbound_at and closed_at are Unix milliseconds (0 or absent: none);
// by names the writing instance (it decides which instance writes the
// tombstone when the window has expired). Unknown fields are ignored.
type WindowValue struct {
	LastInboundAt int64  `json:"last_inbound_at,omitempty"`
	ClosedAt      int64  `json:"closed_at,omitempty"`
	By            string `json:"by,omitempty"`
}

// maxMs bounds the times a record may carry (year 2200); records beyond are
// invalid rather than silently clamped.
const maxMs = 7258118400000

var errNotObject = errors.New("value is not a JSON object")

// DecodeWindow parses a window record value. A nil value (tombstone) is an
// error: callers handle tombstones before decoding.
func DecodeWindow(b []byte) (WindowValue, error) {
	if v, ok := decodeWindowFast(b); ok {
		return v, nil
	}
	var v WindowValue
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return v, errNotObject
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return WindowValue{}, fmt.Errorf("window value: %w", err)
	}
	if err := v.check(); err != nil {
		return WindowValue{}, err
	}
	return v, nil
}

func (v WindowValue) check() error {
	switch {
	case v.LastInboundAt < 0 || v.LastInboundAt > maxMs:
		return fmt.Errorf("window value: last_inbound_at %d out of range", v.LastInboundAt)
	case v.ClosedAt < 0 || v.ClosedAt > maxMs:
		return fmt.Errorf("window value: closed_at %d out of range", v.ClosedAt)
	case v.LastInboundAt == 0 && v.ClosedAt == 0:
		return errors.New("window value: neither last_inbound_at nor closed_at")
	}
	return nil
}

// Encode returns the JSON of v, in the order decodeWindowFast reads fastest.
func (v WindowValue) Encode() []byte {
	b := make([]byte, 0, 80)
	b = append(b, '{')
	if v.LastInboundAt != 0 {
		b = append(b, `"last_inbound_at":`...)
		b = appendInt(b, v.LastInboundAt)
	}
	if v.ClosedAt != 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"closed_at":`...)
		b = appendInt(b, v.ClosedAt)
	}
	if v.By != "" {
		if len(b) > 1 {
			b = append(b, ',')
		}
		by, _ := json.Marshal(v.By)
		b = append(b, `"by":`...)
		b = append(b, by...)
	}
	return append(b, '}')
}

func appendInt(b []byte, n int64) []byte {
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return append(b, buf[i:]...)
}

// decodeWindowFast parses exactly what Encode writes (fields in its order,
// no whitespace, a "by" without escapes), ten times faster than
// encoding/json; anything else returns false and goes the general way. A
// restore of a million records spends most of its CPU here.
func decodeWindowFast(b []byte) (WindowValue, bool) {
	var v WindowValue
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return v, false
	}
	b = b[1 : len(b)-1]
	field := func(name string) bool {
		if len(b) > len(name)+3 && b[0] == '"' && string(b[1:1+len(name)]) == name && b[1+len(name)] == '"' && b[2+len(name)] == ':' {
			b = b[3+len(name):]
			return true
		}
		return false
	}
	number := func() (int64, bool) {
		var n int64
		i := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i == 15 { // > 10^15 ms is past maxMs anyway
				return 0, false
			}
			n = n*10 + int64(b[i]-'0')
			i++
		}
		if i == 0 || (b[0] == '0' && i > 1) {
			return 0, false
		}
		b = b[i:]
		return n, true
	}
	comma := func() bool { // a separator with a field after it, or the end
		if len(b) > 1 && b[0] == ',' {
			b = b[1:]
			return true
		}
		return len(b) == 0
	}
	var ok bool
	if field("last_inbound_at") {
		if v.LastInboundAt, ok = number(); !ok || !comma() {
			return v, false
		}
	}
	if field("closed_at") {
		if v.ClosedAt, ok = number(); !ok || !comma() {
			return v, false
		}
	}
	if field("by") {
		if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
			return v, false
		}
		s := b[1 : len(b)-1]
		for _, c := range s {
			if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				return v, false
			}
		}
		v.By = string(s)
		b = nil
	}
	if len(b) != 0 || v.check() != nil {
		return v, false
	}
	return v, true
}

// ConsentValue is the JSON value of an opt-in record (see the package doc):
//
//	{"opted_in":true,"categories":{"marketing":false},"source":"web-form","at":1760000000000}
//
// opted_in: true (the user agreed to business-initiated messages from this
// number), false (the user opted out), absent (not known). categories
// overrides opted_in for template categories ("marketing", "utility",
// "authentication"; lower case). source says where the decision came from.
// at is when the user decided, Unix milliseconds (absent: the record's
// timestamp). A record replaces the previous one of its key: write the
// whole state. Unknown fields are ignored.
type ConsentValue struct {
	OptedIn    *bool           `json:"opted_in,omitempty"`
	Categories map[string]bool `json:"categories,omitempty"`
	Source     string          `json:"source,omitempty"`
	At         int64           `json:"at,omitempty"`
}

// maxCategories bounds the categories of one record.
const maxCategories = 16

// DecodeConsent parses an opt-in record value.
func DecodeConsent(b []byte) (ConsentValue, error) {
	var v ConsentValue
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return v, errNotObject
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return ConsentValue{}, fmt.Errorf("opt-in value: %w", err)
	}
	if v.At < 0 || v.At > maxMs {
		return ConsentValue{}, fmt.Errorf("opt-in value: at %d out of range", v.At)
	}
	if len(v.Categories) > maxCategories {
		return ConsentValue{}, fmt.Errorf("opt-in value: %d categories, at most %d", len(v.Categories), maxCategories)
	}
	if len(v.Categories) > 0 {
		cats := make(map[string]bool, len(v.Categories))
		for c, ok := range v.Categories {
			f := Family(c)
			if f == "" {
				return ConsentValue{}, errors.New("opt-in value: empty category")
			}
			cats[f] = ok
		}
		v.Categories = cats
	}
	return v, nil
}

// Encode returns the JSON of v.
func (v ConsentValue) Encode() []byte {
	b, _ := json.Marshal(v)
	return b
}

// Consent returns the state v describes; recordTime stands in for a
// missing at.
func (v ConsentValue) Consent(recordTime time.Time) Consent {
	c := Consent{Source: v.Source, Categories: v.Categories}
	if v.OptedIn != nil {
		c.General = OptedOut
		if *v.OptedIn {
			c.General = OptedIn
		}
	}
	if v.At > 0 {
		c.At = time.UnixMilli(v.At).UTC()
	} else if !recordTime.IsZero() {
		c.At = recordTime.UTC()
	}
	return c
}

// Family reduces a template category to the family consent is kept for:
// every kind of marketing ("MARKETING", "marketing_lite", "group_marketing")
// is "marketing"; utility kinds are "utility"; authentication kinds
// "authentication"; anything else is itself in lower case.
func Family(category string) string {
	c := strings.ToLower(strings.TrimSpace(category))
	switch {
	case strings.Contains(c, "marketing"):
		return "marketing"
	case strings.Contains(c, "utility"):
		return "utility"
	case strings.HasPrefix(c, "authentication"):
		return "authentication"
	}
	return c
}
