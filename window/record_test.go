package window

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestDecodeWindow(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    WindowValue
		wantErr bool
	}{
		{name: "as written", in: `{"last_inbound_at":1760000000000,"closed_at":1760000050000,"by":"wb-3f9a1c2e"}`, want: WindowValue{1760000000000, 1760000050000, "wb-3f9a1c2e"}},
		{name: "only last", in: `{"last_inbound_at":1760000000000}`, want: WindowValue{LastInboundAt: 1760000000000}},
		{name: "only closed", in: `{"closed_at":1760000000000,"by":"x"}`, want: WindowValue{ClosedAt: 1760000000000, By: "x"}},
		{name: "other order and spaces", in: ` { "by" : "x", "closed_at": 2, "last_inbound_at" : 1 } `, want: WindowValue{1, 2, "x"}},
		{name: "unknown fields", in: `{"last_inbound_at":1,"v":2,"extra":{"a":[1]}}`, want: WindowValue{LastInboundAt: 1}},
		{name: "escaped by", in: `{"last_inbound_at":1,"by":"a\"b"}`, want: WindowValue{LastInboundAt: 1, By: `a"b`}},
		{name: "empty object", in: `{}`, wantErr: true},
		{name: "negative", in: `{"last_inbound_at":-1}`, wantErr: true},
		{name: "too late", in: `{"last_inbound_at":9999999999999}`, wantErr: true},
		{name: "float", in: `{"last_inbound_at":1.5}`, wantErr: true},
		{name: "string time", in: `{"last_inbound_at":"1760000000000"}`, wantErr: true},
		{name: "array", in: `[1]`, wantErr: true},
		{name: "null", in: `null`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
		{name: "trailing garbage", in: `{"last_inbound_at":1}x`, wantErr: true},
		{name: "leading zero", in: `{"last_inbound_at":01}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWindow([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("DecodeWindow(%s) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestWindowValueEncode(t *testing.T) {
	for _, v := range []WindowValue{
		{LastInboundAt: 1760000000000, ClosedAt: 1760000050000, By: "wb-3f9a1c2e"},
		{LastInboundAt: 1},
		{ClosedAt: 7, By: "x"},
		{LastInboundAt: 1, By: `quo"te\ é`},
	} {
		b := v.Encode()
		var std WindowValue
		if err := json.Unmarshal(b, &std); err != nil || std != v {
			t.Fatalf("Encode(%+v) = %s: encoding/json reads %+v, %v", v, b, std, err)
		}
		if got, err := DecodeWindow(b); err != nil || got != v {
			t.Fatalf("DecodeWindow(Encode(%+v)) = %+v, %v", v, got, err)
		}
	}
	if _, ok := decodeWindowFast(WindowValue{LastInboundAt: 1760000000000, ClosedAt: 1, By: "wb-1"}.Encode()); !ok {
		t.Fatal("the fast path does not read what Encode writes")
	}
}

func TestDecodeConsent(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name    string
		in      string
		want    ConsentValue
		wantErr bool
	}{
		{name: "opted in", in: `{"opted_in":true,"source":"web-form","at":1760000000000}`, want: ConsentValue{OptedIn: &yes, Source: "web-form", At: 1760000000000}},
		{name: "opted out", in: `{"opted_in":false}`, want: ConsentValue{OptedIn: &no}},
		{name: "categories folded", in: `{"categories":{"MARKETING":false,"utility":true}}`, want: ConsentValue{Categories: map[string]bool{"marketing": false, "utility": true}}},
		{name: "null opted_in", in: `{"opted_in":null,"categories":{"marketing":true}}`, want: ConsentValue{Categories: map[string]bool{"marketing": true}}},
		{name: "unknown fields", in: `{"opted_in":true,"crm_id":42}`, want: ConsentValue{OptedIn: &yes}},
		{name: "empty object: nothing known", in: `{}`, want: ConsentValue{}},
		{name: "string bool", in: `{"opted_in":"yes"}`, wantErr: true},
		{name: "negative at", in: `{"at":-1}`, wantErr: true},
		{name: "empty category", in: `{"categories":{" ":true}}`, wantErr: true},
		{name: "categories a list", in: `{"categories":["marketing"]}`, wantErr: true},
		{name: "not an object", in: `"STOP"`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeConsent([]byte(tt.in))
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DecodeConsent(%s) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	c, _ := DecodeConsent([]byte(`{"opted_in":false}`))
	recTime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := c.Consent(recTime); got.General != OptedOut || !got.At.Equal(recTime) {
		t.Fatalf("a record without at takes the record's time: %+v", got)
	}
}

// The documented examples of the package doc decode as documented.
func TestDocumentedExamples(t *testing.T) {
	for _, name := range []string{"window_record.json", "optin_record.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var err error
			if name == "window_record.json" {
				_, err = DecodeWindow(line)
			} else {
				_, err = DecodeConsent(line)
			}
			if err != nil {
				t.Errorf("%s: %s: %v", name, line, err)
			}
		}
	}
}

func FuzzDecodeWindow(f *testing.F) {
	for _, s := range []string{
		`{"last_inbound_at":1760000000000,"closed_at":1760000050000,"by":"wb-3f9a1c2e"}`,
		`{"last_inbound_at":1}`, `{"closed_at":1,"by":"x"}`, `{"by":"x"}`, `{}`, `{"last_inbound_at":01}`,
		` { "by" : "x", "last_inbound_at" : 1 } `, `{"last_inbound_at":1,"last_inbound_at":2}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeWindow(b)
		if err != nil {
			return
		}
		if v.LastInboundAt < 0 || v.ClosedAt < 0 || v.LastInboundAt > maxMs || v.ClosedAt > maxMs || v.LastInboundAt == 0 && v.ClosedAt == 0 {
			t.Fatalf("accepted %+v from %q", v, b)
		}
		// The fast path agrees with encoding/json wherever it answers.
		if fast, ok := decodeWindowFast(b); ok {
			var std WindowValue
			if err := json.Unmarshal(b, &std); err != nil || std != fast {
				t.Fatalf("fast path read %q as %+v; encoding/json: %+v, %v", b, fast, std, err)
			}
		}
		// What is accepted survives a round trip.
		if again, err := DecodeWindow(v.Encode()); err != nil || again != v {
			t.Fatalf("round trip of %+v: %+v, %v", v, again, err)
		}
	})
}

func FuzzDecodeConsent(f *testing.F) {
	for _, s := range []string{
		`{"opted_in":true,"categories":{"marketing":false},"source":"web-form","at":1760000000000}`,
		`{"opted_in":false}`, `{"categories":{"MARKETING":true}}`, `{}`, `{"at":-1}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeConsent(b)
		if err != nil {
			return
		}
		c := v.Consent(time.Time{})
		again, err := DecodeConsent(v.Encode())
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", v, err)
		}
		c2 := again.Consent(time.Time{})
		for _, cat := range []string{"", "marketing", "utility", "authentication"} {
			if c.For(cat) != c2.For(cat) {
				t.Fatalf("round trip of %q changed the answer for %q", b, cat)
			}
		}
		p, other := packConsent(c)
		if got := p.unpack(other); got.For("marketing") != c.For("marketing") || got.General != c.General {
			t.Fatalf("packing %+v gave %+v", c, got)
		}
	})
}
