package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var jsonSeeds = []string{
	`{"messaging_product":"whatsapp","recipient_type":"individual","to":"+49 151 2345","type":"text","text":{"preview_url":false,"body":"seq=1 \u00e9\n"}}`,
	` { "a" : [ 1 , -2.5e10 , true , false , null , "x\"y" , { } , [ ] ] , "a" : "again" } `,
	`{"k\u0041y":"v","":"","é":"\ud83d\ude00","bad":"` + "\xff" + `"}`,
	`[1,2]`, `"s"`, `null`, `12`, `{`, `{"a":}`, `{"a":1,}`, `{} x`, ``,
}

// Decode gives what json.Decoder with UseNumber gives for valid JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("valid JSON %q: %v", b, err)
		}
		if got, ok := Decode(b); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(%q) = %#v, %v; want %#v", b, got, ok, want)
		}
	})
}

// Object gives what json.Unmarshal into map[string]json.RawMessage gives
// for an object, and declines anything else.
func FuzzObject(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want map[string]json.RawMessage
		err := json.Unmarshal(b, &want)
		got, ok := Object(b)
		if !ok {
			return // encoding/json reads it
		}
		if err != nil {
			t.Fatalf("Object(%q) read %q where json.Unmarshal fails: %v", b, got, err)
		}
		if len(got) != len(want) {
			t.Fatalf("Object(%q) = %q, want %q", b, got, want)
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Errorf("Object(%q)[%q] = %q, want %q", b, k, got[k], v)
			}
		}
	})
}

// Object takes the objects a command or an API answer is, and declines
// what it leaves to encoding/json.
func TestObjectTakesOrdinaryObjects(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // its names; nil: declined
	}{
		{jsonSeeds[0], []string{"messaging_product", "recipient_type", "to", "type", "text"}},
		{` {"a\u0041":{"x":[1,{"y":null}]},"é":true} `, []string{"aA", "é"}},
		{`{}`, []string{}},
		{`{"a":1,"a":2}`, nil}, // repeated name
		{`[1]`, nil},
		{`null`, nil},
		{`{"a":1`, nil},
	} {
		got, ok := Object([]byte(tc.in))
		if ok != (tc.want != nil) || len(got) != len(tc.want) {
			t.Errorf("Object(%s) = %q, %v; want the names %q", tc.in, got, ok, tc.want)
			continue
		}
		for _, k := range tc.want {
			if _, ok := got[k]; !ok {
				t.Errorf("Object(%s) has no %q: %q", tc.in, k, got)
			}
		}
	}
}

// Members and Elements walk what encoding/json reads of a valid object or
// array: the same names and values, in order.
func FuzzMembersAndElements(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var want any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		switch want := want.(type) {
		case map[string]any:
			got := map[string]any{}
			if !Members(b, func(name string, v []byte) bool { got[name], _ = Decode(v); return true }) || !reflect.DeepEqual(got, want) {
				t.Errorf("Members(%q) read %#v, want %#v", b, got, want)
			}
		case []any:
			got := []any{}
			if !Elements(b, func(v []byte) bool { e, _ := Decode(v); got = append(got, e); return true }) || !reflect.DeepEqual(got, want) {
				t.Errorf("Elements(%q) read %#v, want %#v", b, got, want)
			}
		default:
			if Members(b, func(string, []byte) bool { return true }) || Elements(b, func([]byte) bool { return true }) {
				t.Errorf("%q walked as an object or array", b)
			}
		}
	})
}

// The member names of the message bodies come without a copy each; other
// names, and names written with escapes, are read as encoding/json reads
// them.
func TestMembersShareKnownNames(t *testing.T) {
	body := []byte(`{"messaging_product":"whatsapp","to":"15550001111","type":"text","text":{"body":"hi"}}`)
	if n := testing.AllocsPerRun(100, func() {
		Members(body, func(string, []byte) bool { return true })
	}); n != 0 {
		t.Errorf("Members of a text message: %v allocations, want 0", n)
	}
	var names []string
	Members([]byte(`{"t\u006f":1,"tó":2,"to":3,"x":4}`), func(name string, _ []byte) bool {
		names = append(names, name)
		return true
	})
	if got, want := strings.Join(names, ","), "to,tó,to,x"; got != want {
		t.Errorf("names = %s, want %s", got, want)
	}
}
