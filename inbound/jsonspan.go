package inbound

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Walking JSON that is known to be valid (scanJSON said so), without
// decoding it: spans of values, members of objects (doc.members), elements
// of arrays (doc.elements). encoding/json would scan the bytes of a webhook
// item about a dozen times on its way down the envelope through
// json.RawMessage fields; these read them once more after scanJSON.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// jsonKind names the kind of the value v for messages: object, array,
// string, number, boolean or null.
func jsonKind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// unquote returns the contents of the JSON string s (with its quotes).
func unquote(s []byte) string {
	inner := s[1 : len(s)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var out string
	if err := json.Unmarshal(s, &out); err != nil {
		return string(inner)
	}
	return out
}

// stringField reads v as an optional JSON string: null counts as absent.
func stringField(name string, v []byte) (string, error) {
	switch {
	case v[0] == '"':
		return unquote(v), nil
	case v[0] == 'n':
		return "", nil
	}
	return "", fmt.Errorf("%s is %s, want a string", name, jsonKind(v))
}

// keyedString is stringField for the member named by the raw key k.
func keyedString(k, v []byte) (string, error) {
	if v[0] == '"' {
		return unquote(v), nil
	}
	return stringField(string(k), v)
}

// isNullSpan reports whether v is absent or the literal null.
func isNullSpan(v []byte) bool { return len(v) == 0 || v[0] == 'n' }
