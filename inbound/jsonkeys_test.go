package inbound

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/jsonscan"
)

// findDuplicateKey reports the first repeated key of the valid JSON data
// and the byte offset of its repetition, as parse sees it.
func findDuplicateKey(data []byte) (key string, offset int, found bool) {
	d, ok := scanJSON(data)
	if !ok || !d.dup {
		return "", 0, false
	}
	return d.dupKey, d.dupAt, true
}

func TestFindDuplicateKey(t *testing.T) {
	many := func(n int, extra string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		b.WriteString(extra + `"end":0}`)
		return b.String()
	}
	for _, tc := range []struct {
		name, json string
		key        string // "" when there is none
		at         int
	}{
		{name: "none", json: `{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`},
		{name: "top level", json: `{"a":1,"a":2}`, key: "a", at: 7},
		{name: "nested", json: `{"x":{"a":1,"b":2,"a":3}}`, key: "a", at: 18},
		{name: "in an array element", json: `[{"a":1},{"b":1,"b":2}]`, key: "b", at: 16},
		{name: "case differs", json: `{"id":"x","ID":"y"}`, key: "ID", at: 10},
		{name: "Kelvin sign folds to k", json: "{\"k\":1,\"\u212a\":2}", key: "\u212a", at: 7},
		{name: "escaped", json: `{"ab":1,"\u0061b":2}`, key: "ab", at: 8},
		{name: "escaped quote in key", json: `{"a\"b":1,"a\"b":2}`, key: `a"b`, at: 10},
		{name: "key text inside a string value", json: `{"a":"\"a\":1","b":"a"}`},
		{name: "sibling objects may share keys", json: `{"a":{"x":1},"b":{"x":1}}`},
		{name: "after closing a nested object", json: `{"a":{"b":1},"b":2,"a":3}`, key: "a", at: 19},
		{name: "many keys, no duplicate", json: many(100, "")},
		{name: "many keys, duplicate late", json: many(100, `"K57":1,`), key: "K57", at: len(many(100, "")) - len(`"end":0}`)},
		{name: "scalars", json: `"a"`},
		{name: "whitespace everywhere", json: " { \"a\" : 1 ,\n\t\"a\" : 2 } ", key: "a", at: 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !json.Valid([]byte(tc.json)) {
				t.Fatalf("test input %s is not valid JSON", tc.json)
			}
			key, at, found := findDuplicateKey([]byte(tc.json))
			if found != (tc.key != "") || key != tc.key || (found && at != tc.at) {
				t.Errorf("findDuplicateKey(%s) = %q at %d (%v), want %q at %d", tc.json, key, at, found, tc.key, tc.at)
			}
		})
	}
}

// duplicateKeyReference is a slow, obviously correct findDuplicateKey on
// encoding/json's tokenizer.
func duplicateKeyReference(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // 1e1000 is valid JSON, but no float64
	type frame struct {
		object  bool
		keys    map[string]bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
				continue
			}
			k := foldKey([]byte(tok.(string)))
			if top.keys[k] {
				return tok.(string), true
			}
			top.keys[k] = true
			top.wantKey = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{':
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, wantKey: true})
			continue
		case '[':
			stack = append(stack, &frame{})
			continue
		case ']', '}':
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
		}
	}
}

// FuzzFindDuplicateKey compares the scanner with the reference on valid
// JSON.
func FuzzFindDuplicateKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":"d","C":1}]}}`, `[{"x":1},{"x":2}]`, `{"\u00e9":1,"\u00c9":2}`,
		`{"ſ":1,"s":2}`, `{"a\\b":1,"a\\B":2}`, `{"a":"}","b":"{\"a\":1"}`} {
		f.Add([]byte(s))
	}
	for _, path := range fixtureFiles(f) {
		if b, err := readFixture(path); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		key, at, found := findDuplicateKey(data)
		wantKey, want := duplicateKeyReference(data)
		if found != want || key != wantKey {
			t.Fatalf("findDuplicateKey(%q) = %q, %v; reference says %q, %v", data, key, found, wantKey, want)
		}
		if found && (at < 0 || at >= len(data) || data[at] != '"') {
			t.Errorf("offset %d does not point at a key", at)
		}
	})
}

func TestScanJSONAgreesWithEncodingJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, s := range []string{
		``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `-`, `01`, `1.`, `1.5e`, `1.5e+3`, `.5`, `+1`, `1e-7`, `-12.5E+07`,
		`true`, `tru`, `truex`, `nul`, `null `, ` null`, `"\u00e9"`, `"\u00g9"`, `"\x"`, `"a` + "\x01" + `b"`, `"a` + "\x7f" + `b"`,
		`{"a":}`, `{"a" 1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a":1}}`, `[1]]`, `{"a":[1,{"b":null}]}`, `{1:2}`,
		`"\/\b\f\n\r\t\\\""`, `{"a":1} {"b":2}`, "\t[\r\n1\t]\n", deep(maxDepth), deep(maxDepth + 1),
	} {
		_, got := scanJSON([]byte(s))
		if want := json.Valid([]byte(s)); got != want {
			t.Errorf("scanJSON(%.40q) valid = %v, json.Valid says %v", s, got, want)
		}
	}
}

// FuzzScanJSON checks the scanner against encoding/json: the same verdict
// on validity, and, on valid JSON, the ends of every container.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c"}],"d":-1.5e3}`, `[true,false,null]`, `"\u0041"`, `{"a":1,"a":2}`, `01`} {
		f.Add([]byte(s))
	}
	for _, path := range fixtureFiles(f) {
		if b, err := readFixture(path); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, valid := scanJSON(data)
		if want := json.Valid(data); valid != want {
			t.Fatalf("scanJSON(%q) valid = %v, json.Valid says %v", data, valid, want)
		}
		if !valid {
			return
		}
		for k, open := range d.opens {
			if got, want := int(d.ends[k]), jsonscan.ValueEnd(data, int(open)); got != want {
				t.Fatalf("container at %d of %q ends at %d, want %d", open, data, got, want)
			}
		}
	})
}
