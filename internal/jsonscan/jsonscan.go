// Package jsonscan decodes JSON on paths that run once per message,
// without encoding/json's reflection: an object split into its members'
// raw bytes (slices of the input, not copies), strings without escapes
// taken as they are, a value decoded to the same tree json.Decoder with
// UseNumber gives. Each function gives what encoding/json gives for the
// same input (the fuzz tests compare them), or declines.
package jsonscan

import (
	"encoding/json"
	"unicode/utf8"
)

// Object returns the members of v when v is a valid JSON object whose
// names are all different, as json.Unmarshal into a
// map[string]json.RawMessage does; ok is false for anything else, which
// encoding/json then reads (and reports).
func Object(v []byte) (obj map[string]json.RawMessage, ok bool) {
	if !json.Valid(v) {
		return nil, false
	}
	obj = make(map[string]json.RawMessage, 8)
	ok = Members(v, func(name string, value []byte) bool {
		if _, repeated := obj[name]; repeated {
			return false
		}
		obj[name] = value
		return true
	})
	if !ok {
		return nil, false
	}
	return obj, true
}

// Unquote returns the string a JSON string literal stands for.
func Unquote(lit []byte) (string, bool) {
	if s, ok := UnquoteFast(lit); ok {
		return s, true
	}
	var s string
	if json.Unmarshal(lit, &s) != nil {
		return "", false
	}
	return s, true
}

// UnquoteFast returns the string of a string literal without escapes
// whose bytes are valid UTF-8 (which encoding/json takes as they are);
// ok is false for any other literal.
func UnquoteFast(lit []byte) (string, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", false
	}
	in := lit[1 : len(lit)-1]
	for _, c := range in {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// Decode decodes valid JSON v to nil, bool, string, json.Number,
// []any or map[string]any, as json.Decoder with UseNumber does.
func Decode(v []byte) (any, bool) {
	i := SkipSpace(v, 0)
	if i >= len(v) {
		return nil, false
	}
	v = v[i:ValueEnd(v, i)]
	switch v[0] {
	case '{':
		m := map[string]any{}
		ok := Members(v, func(name string, value []byte) bool {
			var ok bool
			m[name], ok = Decode(value)
			return ok
		})
		return m, ok
	case '[':
		a := []any{}
		ok := Elements(v, func(elem []byte) bool {
			e, ok := Decode(elem)
			a = append(a, e)
			return ok
		})
		return a, ok
	case '"':
		return Unquote(v)
	case 't':
		return true, true
	case 'f':
		return false, true
	case 'n':
		return nil, true
	default:
		return json.Number(v), true
	}
}

// SkipSpace returns the index of the first byte at or after v[i] that is
// no JSON whitespace (len(v) when none is).
func SkipSpace(v []byte, i int) int {
	for i < len(v) {
		switch v[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// ValueEnd returns the index just past the valid JSON value starting at
// v[i] (len(v) when it runs to the end).
func ValueEnd(v []byte, i int) int {
	switch v[i] {
	case '"':
		for j := i + 1; j < len(v); j++ {
			switch v[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(v)
	case '{', '[':
		depth := 0
		for j := i; j < len(v); j++ {
			switch v[j] {
			case '"':
				j = ValueEnd(v, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(v)
	default: // a number, true, false or null
		for j := i; j < len(v); j++ {
			switch v[j] {
			case ' ', '\t', '\n', '\r', ',', ']', '}':
				return j
			}
		}
		return len(v)
	}
}

// knownNames are the member names of the bodies read once per message
// (the Cloud API's message objects and its answers, per
// https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages):
// Members gives these names as shared strings rather than a copy each.
var knownNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"messaging_product", "recipient_type", "to", "recipient", "type", "context", "message_id",
		"biz_opaque_callback_data", "status", "typing_indicator",
		"text", "body", "preview_url", "image", "audio", "video", "document", "sticker",
		"id", "link", "caption", "filename", "location", "latitude", "longitude", "name", "address",
		"contacts", "reaction", "emoji", "interactive", "header", "footer", "action", "button",
		"buttons", "reply", "title", "sections", "rows", "description", "parameters",
		"template", "language", "code", "policy", "components", "sub_type", "index", "payload",
		"currency", "date_time", "fallback_value", "amount_1000",
		"messages", "message_status", "input", "wa_id",
	} {
		m[n] = n
	}
	return m
}()

// knownName is the name of the string literal lit when it is one of
// knownNames, written without escapes.
func knownName(lit []byte) (string, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", false
	}
	name, ok := knownNames[string(lit[1:len(lit)-1])]
	return name, ok
}

// Members calls fn with the name and the raw value of each member of the
// valid JSON (json.Valid) object v, in order, until fn returns false; it
// returns false when v is no object, a name cannot be read, or fn said so.
// Nothing is copied, and nothing is kept: a repeated name comes twice.
func Members(v []byte, fn func(name string, value []byte) bool) bool {
	i := SkipSpace(v, 0)
	if i >= len(v) || v[i] != '{' {
		return false
	}
	i = SkipSpace(v, i+1)
	if v[i] == '}' {
		return true
	}
	for {
		end := ValueEnd(v, i)
		name, ok := knownName(v[i:end])
		if !ok {
			name, ok = Unquote(v[i:end])
		}
		if !ok {
			return false
		}
		i = SkipSpace(v, SkipSpace(v, end)+1)
		end = ValueEnd(v, i)
		if !fn(name, v[i:end:end]) {
			return false
		}
		i = SkipSpace(v, end)
		if v[i] == '}' {
			return true
		}
		i = SkipSpace(v, i+1)
	}
}

// Elements calls fn with each element of the valid JSON array v, in order,
// until fn returns false; it returns false when v is no array or fn said so.
func Elements(v []byte, fn func(elem []byte) bool) bool {
	i := SkipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return false
	}
	i = SkipSpace(v, i+1)
	if v[i] == ']' {
		return true
	}
	for {
		end := ValueEnd(v, i)
		if !fn(v[i:end:end]) {
			return false
		}
		i = SkipSpace(v, end)
		if v[i] == ']' {
			return true
		}
		i = SkipSpace(v, i+1)
	}
}
