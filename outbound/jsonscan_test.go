package outbound

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

var jsonSeeds = []string{
	`{"messaging_product":"whatsapp","recipient_type":"individual","to":"+49 151 2345","type":"text","text":{"preview_url":false,"body":"seq=1 \u00e9\n"}}`,
	` { "a" : [ 1 , -2.5e10 , true , false , null , "x\"y" , { } , [ ] ] , "a" : "again" } `,
	`{"k\u0041y":"v","":"","é":"\ud83d\ude00","bad":"` + "\xff" + `"}`,
	`[1,2]`, `"s"`, `null`, `12`, `{`, `{"a":}`, `{"a":1,}`, `{} x`, ``,
}

// decodeValue gives what json.Decoder with UseNumber gives, or badJSON.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want any = badJSON{}
		if json.Valid(b) {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("valid JSON %q: %v", b, err)
			}
			want = v
		}
		if got := decodeValue(b); !reflect.DeepEqual(got, want) {
			t.Errorf("decodeValue(%q) = %#v, want %#v", b, got, want)
		}
	})
}

// rootObject gives what json.Unmarshal into map[string]json.RawMessage
// gives for an object, and declines anything else.
func FuzzRootObject(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want map[string]json.RawMessage
		err := json.Unmarshal(b, &want)
		got, ok := rootObject(b)
		if !ok {
			if err == nil && want != nil {
				t.Errorf("rootObject(%q) declined an object json.Unmarshal reads as %q", b, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("rootObject(%q) read %q where json.Unmarshal fails: %v", b, got, err)
		}
		if len(got) != len(want) {
			t.Fatalf("rootObject(%q) = %q, want %q", b, got, want)
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Errorf("rootObject(%q)[%q] = %q, want %q", b, k, got[k], v)
			}
		}
	})
}
