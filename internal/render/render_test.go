package render_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/internal/render"
	"github.com/wabridge/wabridge/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", name, got, want)
	}
}

// Every kind of event, decoded from the schema compatibility fixtures
// (schemas/testdata/v2), renders with unions unwrapped, fields in schema
// order and ISO 8601 times.
func TestAvroEventsGolden(t *testing.T) {
	for _, kind := range []string{"send_result", "message_status", "inbound_message", "webhook_event", "dead_letter", "send_command"} {
		t.Run(kind, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("..", "..", "schemas", "testdata", "v2", kind+".avsc"))
			if err != nil {
				t.Fatal(err)
			}
			bin, err := os.ReadFile(filepath.Join("..", "..", "schemas", "testdata", "v2", kind+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			codec, err := goavro.NewCodec(string(text))
			if err != nil {
				t.Fatal(err)
			}
			native, _, err := codec.NativeFromBinary(bin)
			if err != nil {
				t.Fatal(err)
			}
			s, err := render.NewSchema(codec.Schema())
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := render.NewPrinter(&out, render.Options{}).Print(s.Value(native)); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), `{"string":`) || strings.Contains(out.String(), `"io.wabridge.`) {
				t.Errorf("a union is still wrapped: %s", out.String())
			}
			golden(t, kind+".golden", out.Bytes())
		})
	}
}

// A result read from Kafka's framing through a registry, printed pretty
// and with field selection.
func TestDecoderPrettyAndFields(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	client, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := schemas.Resolve(ctx, client, "results", schemas.SendResult, true)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 123e6, time.UTC)
	value, err := enc.Encode(map[string]any{
		"event_id": "result:c1", "command_id": "c1", "outcome": "failed", "produced_at": at,
		"to": schemas.Optional("string", "15550001111"), "wa_id": nil, "message_id": nil, "message_status": nil,
		"attempts": int32(3), "latency_ms": int64(1200),
		"error": map[string]any{"io.wabridge.events.SendError": map[string]any{
			"reason": "api_error", "code": map[string]any{"int": int32(131047)}, "http_status": map[string]any{"int": int32(400)},
			"title": schemas.Optional("string", "Re-engagement message"), "details": schemas.Optional("string", "a & b <c>"),
		}},
		"source_topic": "commands", "source_partition": int32(0), "source_offset": int64(7),
	})
	if err != nil {
		t.Fatal(err)
	}
	dec := render.NewDecoder(schemas.NewDecoder(client))
	v, err := dec.Value(ctx, value)
	if err != nil {
		t.Fatal(err)
	}
	line := render.Object{{"topic", "results"}, {"offset", 7}, {"value", v}}
	var out bytes.Buffer
	if err := render.NewPrinter(&out, render.Options{Pretty: true}).Print(line); err != nil {
		t.Fatal(err)
	}
	golden(t, "result_pretty.golden", out.Bytes())

	out.Reset()
	if err := render.NewPrinter(&out, render.Options{Fields: []string{"offset", "command_id", "error.code", "nope"}}).Print(line); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), `{"offset":7,"command_id":"c1","error.code":131047,"nope":null}`+"\n"; got != want {
		t.Errorf("--fields: got %s want %s", got, want)
	}
}

// JSON values keep their members' order and their numbers as written.
func TestJSONKeepsOrder(t *testing.T) {
	in := `{"z":1,"a":{"y":2.50,"b":[true,null,"x&y"]},"m":12345678901234567890}`
	v, err := render.JSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := render.NewPrinter(&out, render.Options{}).Print(v); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != in {
		t.Errorf("got %s want %s", got, in)
	}
	for _, bad := range []string{`{"a":1} x`, `{"a":`, `[1,]`, ``} {
		if _, err := render.JSON([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"event_id,status,command_id", "[event_id status command_id]", true},
		{" offset , error.reason ", "[offset error.reason]", true},
		{"", "[]", true},
		{"a,,b", "", false},
		{"a.", "", false},
		{".a", "", false},
		{"a..b", "", false},
	}
	for _, tc := range tests {
		got, err := render.ParseFields(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if tc.ok && strings.Join(strings.Fields(strings.Trim(strings.ReplaceAll(tc.want, " ", ","), "[]")), "") != strings.Join(got, ",") {
			t.Errorf("%q: got %v want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzJSON(f *testing.F) {
	f.Add(`{"a":[1,{"b":null}]}`)
	f.Add(`"x"`)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := render.JSON([]byte(s))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := render.NewPrinter(&out, render.Options{}).Print(v); err != nil {
			t.Fatalf("%q: printing what was read: %v", s, err)
		}
		if _, err := render.JSON(bytes.TrimSpace(out.Bytes())); err != nil {
			t.Fatalf("%q: output %q does not read back: %v", s, out.String(), err)
		}
	})
}
