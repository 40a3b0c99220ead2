package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/schemas"
)

var updateGolden = flag.Bool("update", false, "rewrite inbound/testdata/*.golden from the current Parse output")

// goldenReceivedAt is the receive time used for every fixture.
var goldenReceivedAt = time.Date(2026, 10, 9, 8, 55, 30, 123_000_000, time.UTC)

func fixtureFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in testdata (err %v)", err)
	}
	return files
}

func fixtureName(path string) string { return strings.TrimSuffix(filepath.Base(path), ".json") }

// normalizeNative turns a goavro native value into something encoding/json
// renders faithfully: time.Time becomes an RFC 3339 string.
func normalizeNative(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeNative(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeNative(e)
		}
		return out
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}

func marshalIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type renderedItem struct {
	Kind   schemas.Kind    `json:"kind"`
	Key    string          `json:"key"`
	Reason string          `json:"reason,omitempty"`
	Raw    json.RawMessage `json:"raw,omitempty"` // dead letters: what goes to the dead-letter topic
	Native any             `json:"native,omitempty"`
}

// renderParse renders what Parse returned as the golden text.
func renderParse(t *testing.T, items []Item, err error) []byte {
	t.Helper()
	out := struct {
		Error string         `json:"error,omitempty"`
		Items []renderedItem `json:"items"`
	}{Items: []renderedItem{}}
	if err != nil {
		out.Error = err.Error()
	}
	for _, it := range items {
		r := renderedItem{Kind: it.Kind, Key: it.Key, Reason: it.Reason}
		if it.Kind == "" {
			if json.Valid(it.Raw) {
				var c bytes.Buffer
				json.Compact(&c, it.Raw)
				r.Raw = c.Bytes()
			} else {
				r.Raw, _ = json.Marshal(string(it.Raw))
			}
		} else {
			r.Native = normalizeNative(it.Native)
		}
		out.Items = append(out.Items, r)
	}
	b, err := marshalIndent(out)
	if err != nil {
		t.Fatalf("rendering items: %v", err)
	}
	return b
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return "no line differs"
}

// avroRoundTrip encodes it with the real codec of its kind, decodes it
// again, and reports any difference.
func avroRoundTrip(it Item) error {
	s, err := schemas.Lookup(it.Kind)
	if err != nil {
		return err
	}
	bin, err := s.Codec.BinaryFromNative(nil, it.Native)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	back, rest, err := s.Codec.NativeFromBinary(bin)
	if err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes left after decoding", len(rest))
	}
	want, err := json.Marshal(normalizeNative(it.Native))
	if err != nil {
		return fmt.Errorf("rendering native: %w", err)
	}
	got, err := json.Marshal(normalizeNative(back))
	if err != nil {
		return fmt.Errorf("rendering decoded: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("round trip changed the record:\n got: %s\nwant: %s", got, want)
	}
	return nil
}

// unionString returns the string in a ["null","string"] union value.
func unionString(v any) string {
	if u, ok := v.(map[string]any); ok {
		if s, ok := u["string"].(string); ok {
			return s
		}
	}
	return ""
}

func TestParseGolden(t *testing.T) {
	for _, path := range fixtureFiles(t) {
		name := fixtureName(path)
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			items, perr := Parse(body, goldenReceivedAt)
			got := renderParse(t, items, perr)
			golden := filepath.Join("testdata", name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./inbound -run TestParseGolden -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("Parse(%s) differs from %s (rerun with -update if the change is intended)\n%s", path, golden, firstDiff(got, want))
				}
			}

			for i, it := range items {
				switch it.Kind {
				case "":
					if it.Reason == "" {
						t.Errorf("item %d: dead letter without a reason", i)
					}
					continue
				case schemas.InboundMessage, schemas.MessageStatus:
				default:
					t.Errorf("item %d: kind %q, want a message, a status or a dead letter", i, it.Kind)
					continue
				}
				if err := avroRoundTrip(it); err != nil {
					t.Errorf("item %d (%s): %v", i, it.Kind, err)
				}
				// Records are keyed by the user: wa_id, else the business-scoped id.
				idField, userField := "wa_id", "user_id"
				if it.Kind == schemas.MessageStatus {
					idField, userField = "recipient_id", "recipient_user_id"
				}
				wantKey := unionString(it.Native[idField])
				if wantKey == "" {
					wantKey = unionString(it.Native[userField])
				}
				if it.Key == "" || it.Key != wantKey {
					t.Errorf("item %d: key %q, want %s or %s (%q)", i, it.Key, idField, userField, wantKey)
				}
				if raw, _ := it.Native["raw"].(string); !json.Valid([]byte(raw)) || !bytes.Contains(body, []byte(raw)) {
					t.Errorf("item %d: raw %q is not the element exactly as received", i, raw)
				}
			}
		})
	}
}

// TestParseShapes pins what each fixture must give, independent of the
// goldens: the sequence of item kinds (m: message, s: status, d: dead letter)
// and their keys, or the error.
func TestParseShapes(t *testing.T) {
	for _, tc := range []struct {
		fixture  string
		kinds    string
		keys     []string // of non-dead-letter items, in order
		errIs    error
		errMatch string
	}{
		{fixture: "text_with_profile", kinds: "m", keys: []string{"15550001111"}},
		{fixture: "image_caption", kinds: "m", keys: []string{"15550001111"}},
		{fixture: "audio_voice", kinds: "m", keys: []string{"15550001111"}},
		{fixture: "document_filename", kinds: "m", keys: []string{"15550001111"}},
		{fixture: "sticker", kinds: "m", keys: []string{"15550001111"}},
		{fixture: "location", kinds: "m", keys: []string{"15550001111"}},
		{fixture: "reply_context", kinds: "m", keys: []string{"15550001111"}},
		{fixture: "forwarded_context", kinds: "mm", keys: []string{"15550001111", "15550001111"}},
		{fixture: "batch_entries_changes", kinds: "mmssmssm",
			keys: []string{"15550001111", "919800012345", "15550001111", "919800012345", "15550001111", "15550001111", "4915112345678", "4915112345678"}},
		{fixture: "status_sent", kinds: "s", keys: []string{"15550001111"}},
		{fixture: "status_delivered", kinds: "s", keys: []string{"15550001111"}},
		{fixture: "status_read", kinds: "s", keys: []string{"15550001111"}},
		{fixture: "status_played", kinds: "s", keys: []string{"15550001111"}},
		{fixture: "status_failed", kinds: "s", keys: []string{"15550001111"}},
		{fixture: "status_callback_data", kinds: "s", keys: []string{"15550001111"}},
		{fixture: "status_bsuid_recipient", kinds: "s", keys: []string{"US.13491208655302741918"}},
		{fixture: "bsuid_only", kinds: "m", keys: []string{"US.13491208655302741918"}},
		{fixture: "unknown_type_hologram", kinds: "m", keys: []string{"15550001111"}},
		{fixture: "change_errors", kinds: "d"},
		{fixture: "change_unmapped_fields", kinds: "ddm", keys: []string{"15550001111"}},
		{fixture: "template_status_update", kinds: "d"},
		{fixture: "status_bad_timestamp", kinds: "ds", keys: []string{"15550001111"}},
		{fixture: "message_no_id", kinds: "dm", keys: []string{"15550001111"}},
		{fixture: "message_timestamp_out_of_range", kinds: "d"},
		{fixture: "empty_entry", kinds: ""},
		{fixture: "legacy_onpremise", errIs: ErrNotCloudAPI, errMatch: "legacy On-Premise"},
		{fixture: "legacy_onpremise_statuses", errIs: ErrNotCloudAPI, errMatch: "legacy On-Premise"},
		{fixture: "no_entry", errIs: ErrNotCloudAPI, errMatch: "no entry"},
		{fixture: "invalid_json", errMatch: "invalid JSON"},
		{fixture: "trailing_data", errMatch: "data after the top-level object"},
		{fixture: "trailing_brace", errMatch: "data after the top-level object"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.fixture+".json"))
			if err != nil {
				t.Fatal(err)
			}
			items, err := Parse(body, goldenReceivedAt)
			if tc.errMatch != "" || tc.errIs != nil {
				if err == nil || !strings.Contains(err.Error(), tc.errMatch) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tc.errMatch)
				}
				if tc.errIs != nil && !errors.Is(err, tc.errIs) {
					t.Errorf("Parse error = %v, want errors.Is %v", err, tc.errIs)
				}
				if items != nil {
					t.Errorf("Parse returned %d items with an error, want none", len(items))
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var kinds strings.Builder
			var keys []string
			for _, it := range items {
				switch it.Kind {
				case schemas.InboundMessage:
					kinds.WriteByte('m')
				case schemas.MessageStatus:
					kinds.WriteByte('s')
				default:
					kinds.WriteByte('d')
					continue
				}
				keys = append(keys, it.Key)
			}
			if kinds.String() != tc.kinds {
				t.Errorf("kinds = %q, want %q", kinds.String(), tc.kinds)
			}
			if strings.Join(keys, ",") != strings.Join(tc.keys, ",") {
				t.Errorf("keys = %q, want %q", keys, tc.keys)
			}
		})
	}
}

func TestParseEventIDsAreDeterministic(t *testing.T) {
	// 360dialog redelivers the same body; the event ids must not change.
	later := goldenReceivedAt.Add(36 * time.Hour)
	for _, path := range fixtureFiles(t) {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		first, err1 := Parse(body, goldenReceivedAt)
		again, err2 := Parse(body, later)
		if (err1 == nil) != (err2 == nil) || len(first) != len(again) {
			t.Fatalf("%s: Parse gave different results on redelivery", path)
		}
		seen := map[string]bool{}
		for i := range first {
			if first[i].Kind == "" {
				continue
			}
			id1, id2 := first[i].Native["event_id"], again[i].Native["event_id"]
			if id1 != id2 {
				t.Errorf("%s item %d: event_id %v, then %v on redelivery", path, i, id1, id2)
			}
			if seen[id1.(string)] {
				t.Errorf("%s item %d: event_id %v repeats within one body", path, i, id1)
			}
			seen[id1.(string)] = true
			if !again[i].Native["received_at"].(time.Time).Equal(later) {
				t.Errorf("%s item %d: received_at = %v, want the receive time", path, i, again[i].Native["received_at"])
			}
		}
	}
}

func TestParseMapsFields(t *testing.T) {
	// Spot checks of the mapping the goldens render, stated as facts from the
	// reference so that an -update cannot silently bless a regression.
	parseOne := func(t *testing.T, fixture string, index int) map[string]any {
		t.Helper()
		body, err := os.ReadFile(filepath.Join("testdata", fixture+".json"))
		if err != nil {
			t.Fatal(err)
		}
		items, err := Parse(body, goldenReceivedAt)
		if err != nil || len(items) <= index {
			t.Fatalf("Parse(%s) = %d items, %v", fixture, len(items), err)
		}
		return items[index].Native
	}
	media := func(n map[string]any) map[string]any {
		return n["media"].(map[string]any)["io.wabridge.events.Media"].(map[string]any)
	}
	context := func(n map[string]any) map[string]any {
		return n["context"].(map[string]any)["io.wabridge.events.MessageContext"].(map[string]any)
	}
	check := func(t *testing.T, what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}

	t.Run("text with profile", func(t *testing.T) {
		n := parseOne(t, "text_with_profile", 0)
		check(t, "text", unionString(n["text"]), "Hello, is my order ready? 📦")
		check(t, "profile_name", unionString(n["profile_name"]), "Jane Doe")
		check(t, "wa_id", unionString(n["wa_id"]), "15550001111")
		check(t, "waba_id", unionString(n["waba_id"]), "109876543210987")
		check(t, "phone_number_id", n["phone_number_id"], "100000000000001")
		check(t, "display_phone_number", unionString(n["display_phone_number"]), "15550009999")
		check(t, "timestamp", n["timestamp"].(time.Time).Unix(), 1760000000)
		check(t, "event_id", n["event_id"], "message:100000000000001:wamid.HBgLMTU1NTAwMDExMTEVAgASGBQzRUIwMUExQjJDM0Q0RTVGNjA3OAA=")
	})
	t.Run("image caption", func(t *testing.T) {
		m := media(parseOne(t, "image_caption", 0))
		check(t, "caption", unionString(m["caption"]), "The box arrived like this")
		check(t, "id", m["id"], "1234567890123456")
		check(t, "mime_type", unionString(m["mime_type"]), "image/jpeg")
	})
	t.Run("voice note", func(t *testing.T) {
		m := media(parseOne(t, "audio_voice", 0))
		check(t, "voice", m["voice"], map[string]any{"boolean": true})
	})
	t.Run("document filename", func(t *testing.T) {
		m := media(parseOne(t, "document_filename", 0))
		check(t, "filename", unionString(m["filename"]), "contract-2026-017.pdf")
	})
	t.Run("sticker not animated", func(t *testing.T) {
		m := media(parseOne(t, "sticker", 0))
		check(t, "animated", m["animated"], map[string]any{"boolean": false})
	})
	t.Run("location keeps the raw object", func(t *testing.T) {
		n := parseOne(t, "location", 0)
		check(t, "type", n["type"], "location")
		if !strings.Contains(n["raw"].(string), `"latitude": 52.516275`) {
			t.Errorf("raw = %s, want the location object", n["raw"])
		}
	})
	t.Run("reply context", func(t *testing.T) {
		c := context(parseOne(t, "reply_context", 0))
		check(t, "context.id", unionString(c["id"]), "wamid.HBgLMTU1NTAwMDExMTEVAgARGBJBQkNERUYwMTIzNDU2Nzg5AA==")
		check(t, "context.from", unionString(c["from"]), "15550009999")
		check(t, "context.forwarded", c["forwarded"], false)
	})
	t.Run("forwarded context", func(t *testing.T) {
		check(t, "forwarded", context(parseOne(t, "forwarded_context", 0))["forwarded"], true)
		check(t, "frequently_forwarded", context(parseOne(t, "forwarded_context", 1))["frequently_forwarded"], true)
	})
	t.Run("BSUID only", func(t *testing.T) {
		n := parseOne(t, "bsuid_only", 0)
		check(t, "wa_id", n["wa_id"], nil)
		check(t, "user_id", unionString(n["user_id"]), "US.13491208655302741918")
		check(t, "profile_name", unionString(n["profile_name"]), "Sam")
	})
	t.Run("failed status errors", func(t *testing.T) {
		n := parseOne(t, "status_failed", 0)
		errs := n["errors"].([]any)
		if len(errs) != 1 {
			t.Fatalf("errors = %v, want one", errs)
		}
		e := errs[0].(map[string]any)
		check(t, "code", e["code"], int32(131026))
		check(t, "title", unionString(e["title"]), "Message undeliverable")
		check(t, "details", unionString(e["details"]), "Message Undeliverable.")
	})
	t.Run("callback data is the command id", func(t *testing.T) {
		n := parseOne(t, "status_callback_data", 0)
		check(t, "biz_opaque_callback_data", unionString(n["biz_opaque_callback_data"]), "wa.commands/2/1042")
		check(t, "command_id", unionString(n["command_id"]), "wa.commands/2/1042")
		check(t, "event_id", n["event_id"], "status:wamid.HBgLMTU1NTAwMDExMTEVAgARGBJDQUxMQkFDSzAwMDAwMDAxAA==:delivered:1760000700")
	})
	t.Run("statuses of other numbers keep their metadata", func(t *testing.T) {
		n := parseOne(t, "batch_entries_changes", 6)
		check(t, "phone_number_id", n["phone_number_id"], "100000000000002")
		check(t, "waba_id", unionString(n["waba_id"]), "109876543210988")
	})
}

func TestParseEdgeCases(t *testing.T) {
	const meta = `"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"}`
	wrap := func(value string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{` + value + `}}]}]}`
	}
	for _, tc := range []struct {
		name       string
		body       string
		wantErr    string
		wantReason string // of the first dead letter, if any
		wantItems  int
	}{
		{name: "empty body", body: ``, wantErr: "invalid JSON"},
		{name: "JSON null", body: `null`, wantErr: "no entry"},
		{name: "JSON array", body: `[]`, wantErr: "invalid JSON"},
		{name: "JSON string", body: `"entry"`, wantErr: "invalid JSON"},
		{name: "entry is an object", body: `{"entry":{}}`, wantErr: "invalid JSON"},
		{name: "trailing bracket", body: `{"entry":[]}]`, wantErr: "data after the top-level object"},
		{name: "trailing garbage", body: `{"entry":[]} x`, wantErr: "data after the top-level object"},
		{name: "trailing whitespace is fine", body: "{\"entry\":[]}\n\t ", wantItems: 0},
		{name: "no metadata", body: wrap(`"messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"text","text":{"body":"x"}}]`),
			wantReason: "no metadata.phone_number_id", wantItems: 1},
		{name: "messages is not an array", body: wrap(meta + `,"messages":{"id":"x"}`), wantReason: "change value", wantItems: 1},
		{name: "message is not an object", body: wrap(meta + `,"messages":[42]`), wantReason: "message:", wantItems: 1},
		{name: "message without type", body: wrap(meta + `,"messages":[{"from":"1","id":"wamid.A","timestamp":"1"}]`), wantReason: "no type", wantItems: 1},
		{name: "message timestamp as a number", body: wrap(meta + `,"messages":[{"from":"1","id":"wamid.A","timestamp":1760000000,"type":"text"}]`),
			wantReason: "message:", wantItems: 1},
		{name: "negative timestamp", body: wrap(meta + `,"statuses":[{"id":"wamid.A","status":"sent","timestamp":"-5","recipient_id":"1"}]`),
			wantReason: "timestamp", wantItems: 1},
		{name: "status without status", body: wrap(meta + `,"statuses":[{"id":"wamid.A","timestamp":"1","recipient_id":"1"}]`), wantReason: "no status", wantItems: 1},
		{name: "status without id", body: wrap(meta + `,"statuses":[{"status":"sent","timestamp":"1","recipient_id":"1"}]`), wantReason: "no id", wantItems: 1},
		{name: "status error code not a number", body: wrap(meta + `,"statuses":[{"id":"wamid.A","status":"failed","timestamp":"1","recipient_id":"1","errors":[{"code":"x"}]}]`),
			wantReason: "status:", wantItems: 1},
		{name: "unknown status passes through", body: wrap(meta + `,"statuses":[{"id":"wamid.A","status":"deleted","timestamp":"1","recipient_id":"1"}]`), wantItems: 1},
		{name: "other field", body: `{"entry":[{"id":"1","changes":[{"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}}]}]}`,
			wantReason: `change field "account_update"`, wantItems: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := Parse([]byte(tc.body), goldenReceivedAt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(items) != tc.wantItems {
				t.Fatalf("Parse gave %d items, want %d: %+v", len(items), tc.wantItems, items)
			}
			var reason string
			for _, it := range items {
				if it.Kind == "" {
					reason = it.Reason
					break
				}
				if err := avroRoundTrip(it); err != nil {
					t.Errorf("%s: %v", it.Kind, err)
				}
			}
			if tc.wantReason == "" && reason != "" {
				t.Errorf("unexpected dead letter: %s", reason)
			}
			if !strings.Contains(reason, tc.wantReason) {
				t.Errorf("dead-letter reason = %q, want one containing %q", reason, tc.wantReason)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, path := range fixtureFiles(f) {
		body, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := Parse(body, goldenReceivedAt)
		if err != nil {
			if items != nil {
				t.Errorf("Parse returned %d items and error %v", len(items), err)
			}
			return
		}
		for i, it := range items {
			switch it.Kind {
			case "":
				if it.Reason == "" {
					t.Errorf("item %d: dead letter without a reason", i)
				}
			case schemas.InboundMessage, schemas.MessageStatus:
				if err := avroRoundTrip(it); err != nil {
					t.Errorf("item %d (%s): %v", i, it.Kind, err)
				}
			default:
				t.Errorf("item %d: unknown kind %q", i, it.Kind)
			}
		}
	})
}
