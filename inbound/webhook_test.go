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

func readFixture(path string) ([]byte, error) { return os.ReadFile(path) }

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
	Kind    schemas.Kind    `json:"kind"`
	Key     string          `json:"key"`
	EventID string          `json:"event_id,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Path    string          `json:"path,omitempty"` // dead letters: the failed part
	Raw     json.RawMessage `json:"raw,omitempty"`  // dead letters: what goes to the dead-letter topic
	// Record is the record as a consumer decodes it: every field, defaults
	// included.
	Record any    `json:"record,omitempty"`
	Error  string `json:"encoding_error,omitempty"`
}

// decodeRecord encodes it with the real codec of its kind and decodes it
// again, as a consumer would read it.
func decodeRecord(it Item) (any, error) {
	s, err := schemas.Lookup(it.Kind)
	if err != nil {
		return nil, err
	}
	bin, err := s.Codec.BinaryFromNative(nil, it.Native)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	back, rest, err := s.Codec.NativeFromBinary(bin)
	if err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes left after decoding", len(rest))
	}
	return back, nil
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
		r := renderedItem{Kind: it.Kind, Key: it.Key, EventID: it.EventID, Reason: it.Reason}
		if it.Kind == "" {
			r.Path = it.Path.String()
			if json.Valid(it.Raw) {
				var c bytes.Buffer
				json.Compact(&c, it.Raw)
				r.Raw = c.Bytes()
			} else {
				r.Raw, _ = json.Marshal(string(it.Raw))
			}
		} else if rec, err := decodeRecord(it); err != nil {
			r.Error = err.Error()
		} else {
			r.Record = normalizeNative(rec)
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

// directMatchesCodec checks that the direct Avro encoding of a status gives
// exactly the bytes goavro gives for its native form.
func directMatchesCodec(it Item) error {
	s, err := schemas.Lookup(schemas.MessageStatus)
	if err != nil {
		return err
	}
	want, err := s.Codec.BinaryFromNative(nil, it.status.native())
	if err != nil {
		return fmt.Errorf("goavro encoding: %w", err)
	}
	if got := it.status.appendAvro(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("direct Avro encoding differs from goavro's:\n got %x\nwant %x", got, want)
	}
	return nil
}

func TestStatusAvroMatchesCodec(t *testing.T) {
	n := 0
	for _, path := range fixtureFiles(t) {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		items, _ := parse(body, goldenReceivedAt, false)
		for i, it := range items {
			if it.status == nil {
				continue
			}
			n++
			if it.Native != nil {
				t.Errorf("%s item %d: parse without natives built one", path, i)
			}
			if err := directMatchesCodec(it); err != nil {
				t.Errorf("%s item %d: %v", path, i, err)
			}
		}
	}
	if n < 15 {
		t.Errorf("only %d statuses in the fixtures", n)
	}
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

// wantKey is the key an item must have: the user's wa_id, else the
// business-scoped user id; items without a user fall back to the phone
// number id, then (events of a whole WABA) the WABA id.
func wantKey(it Item) string {
	var fields []string
	switch it.Kind {
	case schemas.InboundMessage:
		fields = []string{"wa_id", "user_id", "phone_number_id"}
	case schemas.MessageStatus:
		fields = []string{"recipient_id", "recipient_user_id", "phone_number_id"}
	case schemas.WebhookEvent:
		fields = []string{"wa_id", "user_id", "phone_number_id", "waba_id"}
	}
	for _, f := range fields {
		k, _ := it.Native[f].(string) // phone_number_id is required in messages and statuses
		if k == "" {
			k = unionString(it.Native[f])
		}
		if k != "" {
			return k
		}
	}
	return ""
}

// checkItem checks what every record must satisfy: it survives the Avro
// round trip, is keyed by its user, carries its event id, and its raw is
// the element exactly as received.
func checkItem(t *testing.T, i int, it Item, body []byte) {
	t.Helper()
	if err := avroRoundTrip(it); err != nil {
		t.Errorf("item %d (%s): %v", i, it.Kind, err)
	}
	if it.status != nil {
		if err := directMatchesCodec(it); err != nil {
			t.Errorf("item %d: %v", i, err)
		}
	}
	if k := wantKey(it); it.Key != k || (it.Key == "" && it.Kind != schemas.WebhookEvent) {
		t.Errorf("item %d (%s): key %q, want %q", i, it.Kind, it.Key, k)
	}
	if id, _ := it.Native["event_id"].(string); id == "" || id != it.EventID {
		t.Errorf("item %d (%s): event_id %q, EventID %q", i, it.Kind, it.Native["event_id"], it.EventID)
	}
	if raw, _ := it.Native["raw"].(string); !json.Valid([]byte(raw)) || !bytes.Contains(body, []byte(raw)) {
		t.Errorf("item %d: raw %q is not the element exactly as received", i, raw)
	}
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
				case schemas.InboundMessage, schemas.MessageStatus, schemas.WebhookEvent:
				default:
					t.Errorf("item %d: kind %q, want a message, a status, an event or a dead letter", i, it.Kind)
					continue
				}
				checkItem(t, i, it, body)
			}
		})
	}
}

// TestParseShapes pins what each fixture must give, independent of the
// goldens: the sequence of item kinds (m: message, s: status, e: webhook
// event, d: dead letter) and their keys, or the error.
func TestParseShapes(t *testing.T) {
	const jane = "15550001111"
	for _, tc := range []struct {
		fixture  string
		kinds    string
		keys     []string // of non-dead-letter items, in order
		errIs    error
		errMatch string
	}{
		{fixture: "text_with_profile", kinds: "m", keys: []string{jane}},
		{fixture: "image_caption", kinds: "m", keys: []string{jane}},
		{fixture: "audio_voice", kinds: "m", keys: []string{jane}},
		{fixture: "audio_file_with_url", kinds: "m", keys: []string{jane}},
		{fixture: "video_caption", kinds: "m", keys: []string{jane}},
		{fixture: "document_filename", kinds: "m", keys: []string{jane}},
		{fixture: "sticker", kinds: "m", keys: []string{jane}},
		{fixture: "sticker_animated", kinds: "m", keys: []string{jane}},
		{fixture: "location", kinds: "m", keys: []string{jane}},
		{fixture: "contacts_card", kinds: "m", keys: []string{jane}},
		{fixture: "interactive_button_reply", kinds: "m", keys: []string{jane}},
		{fixture: "interactive_list_reply", kinds: "m", keys: []string{jane}},
		{fixture: "interactive_nfm_reply_flow", kinds: "m", keys: []string{jane}},
		{fixture: "interactive_call_permission_reply", kinds: "m", keys: []string{jane}},
		{fixture: "interactive_errors_only", kinds: "m", keys: []string{jane}},
		{fixture: "button_quick_reply", kinds: "m", keys: []string{jane}},
		{fixture: "reaction", kinds: "m", keys: []string{jane}},
		{fixture: "reaction_removed", kinds: "mm", keys: []string{jane, jane}},
		{fixture: "order", kinds: "m", keys: []string{jane}},
		{fixture: "order_bad_quantity", kinds: "m", keys: []string{jane}},
		{fixture: "system_user_changed_number", kinds: "m", keys: []string{jane}},
		{fixture: "system_user_changed_user_id", kinds: "m", keys: []string{"US.13491208655302741918"}},
		{fixture: "system_identity_changed", kinds: "m", keys: []string{jane}},
		{fixture: "request_welcome", kinds: "m", keys: []string{jane}},
		{fixture: "referral_ad", kinds: "m", keys: []string{jane}},
		{fixture: "referred_product_context", kinds: "m", keys: []string{jane}},
		{fixture: "unsupported", kinds: "m", keys: []string{jane}},
		{fixture: "unknown_legacy", kinds: "m", keys: []string{jane}},
		{fixture: "unknown_type_hologram", kinds: "m", keys: []string{jane}},
		{fixture: "revoke", kinds: "m", keys: []string{jane}},
		{fixture: "edit", kinds: "m", keys: []string{jane}},
		{fixture: "group_message", kinds: "m", keys: []string{jane}},
		{fixture: "username_profile", kinds: "m", keys: []string{jane}},
		{fixture: "reply_context", kinds: "m", keys: []string{jane}},
		{fixture: "forwarded_context", kinds: "mm", keys: []string{jane, jane}},
		{fixture: "batch_entries_changes", kinds: "mmssmssm",
			keys: []string{jane, "919800012345", jane, "919800012345", jane, jane, "4915112345678", "4915112345678"}},
		{fixture: "status_sent", kinds: "s", keys: []string{jane}},
		{fixture: "status_delivered", kinds: "s", keys: []string{jane}},
		{fixture: "status_read", kinds: "s", keys: []string{jane}},
		{fixture: "status_read_with_contact", kinds: "s", keys: []string{jane}},
		{fixture: "status_played", kinds: "s", keys: []string{jane}},
		{fixture: "status_failed", kinds: "s", keys: []string{jane}},
		{fixture: "status_deleted", kinds: "s", keys: []string{jane}},
		{fixture: "status_warning_future", kinds: "ss", keys: []string{jane, jane}},
		{fixture: "status_group", kinds: "s", keys: []string{"120363012345678901"}},
		{fixture: "status_bad_pricing", kinds: "s", keys: []string{jane}},
		{fixture: "status_callback_data", kinds: "s", keys: []string{jane}},
		{fixture: "status_bsuid_recipient", kinds: "s", keys: []string{"US.13491208655302741918"}},
		{fixture: "bsuid_only", kinds: "m", keys: []string{"US.13491208655302741918"}},
		{fixture: "change_errors", kinds: "e", keys: []string{"100000000000001"}},
		{fixture: "change_unmapped_fields", kinds: "mee", keys: []string{jane, "100000000000001", jane}},
		{fixture: "user_preferences_field", kinds: "ee", keys: []string{jane, jane}},
		{fixture: "template_status_update", kinds: "e", keys: []string{"109876543210987"}},
		{fixture: "change_field_unknown", kinds: "ee", keys: []string{"109876543210987", "109876543210987"}},
		{fixture: "value_unknown_key", kinds: "eee", keys: []string{"100000000000001", "100000000000001", "100000000000001"}},
		{fixture: "contacts_only", kinds: "e", keys: []string{"100000000000001"}},
		{fixture: "call_user_connect", kinds: "e", keys: []string{jane}},
		{fixture: "call_user_connect_no_direction", kinds: "e", keys: []string{jane}},
		{fixture: "call_user_terminate", kinds: "e", keys: []string{jane}},
		{fixture: "call_business_connect", kinds: "e", keys: []string{"15550002222"}},
		{fixture: "call_business_terminate_failed", kinds: "e", keys: []string{"15550002222"}},
		{fixture: "call_statuses", kinds: "eee", keys: []string{"15550002222", "15550002222", "US.13491208655302741918"}},
		{fixture: "call_status_under_messages", kinds: "es", keys: []string{"15550002222", jane}},
		{fixture: "call_bsuid_only", kinds: "e", keys: []string{"US.13491208655302741918"}},
		{fixture: "call_bad_shapes", kinds: "eeeeeeeede",
			keys: []string{"100000000000001", "100000000000001", "100000000000001", jane, jane, jane, "100000000000001", jane, jane}},
		{fixture: "change_value_null", kinds: "ddm", keys: []string{jane}},
		{fixture: "change_value_not_object", kinds: "d"},
		{fixture: "entry_nulls", kinds: "dddd"},
		{fixture: "status_bad_timestamp", kinds: "ds", keys: []string{jane}},
		{fixture: "message_no_id", kinds: "dm", keys: []string{jane}},
		{fixture: "message_timestamp_out_of_range", kinds: "d"},
		{fixture: "message_no_id_no_from", kinds: "mddm", keys: []string{jane, "15550002222"}},
		{fixture: "metadata_missing", kinds: "ds", keys: []string{jane}},
		{fixture: "numbers_for_strings", kinds: "d"},
		{fixture: "object_instagram", errIs: ErrNotCloudAPI, errMatch: `object is "instagram"`},
		{fixture: "empty_entry", kinds: ""},
		{fixture: "legacy_onpremise", errIs: ErrNotCloudAPI, errMatch: "legacy On-Premise"},
		{fixture: "legacy_onpremise_statuses", errIs: ErrNotCloudAPI, errMatch: "legacy On-Premise"},
		{fixture: "no_entry", errIs: ErrNotCloudAPI, errMatch: "no entry"},
		{fixture: "invalid_json", errMatch: "invalid JSON"},
		{fixture: "invalid_utf8", errIs: ErrAmbiguousJSON, errMatch: "invalid UTF-8 at byte"},
		{fixture: "duplicate_keys", errIs: ErrAmbiguousJSON, errMatch: `duplicate key "text"`},
		{fixture: "duplicate_keys_case", errIs: ErrAmbiguousJSON, errMatch: `duplicate key "Status"`},
		{fixture: "duplicate_keys_escaped", errIs: ErrAmbiguousJSON, errMatch: `duplicate key "status"`},
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
				case schemas.WebhookEvent:
					kinds.WriteByte('e')
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

// TestEveryFixtureIsPinned keeps TestParseShapes complete.
func TestEveryFixtureIsPinned(t *testing.T) {
	src, err := os.ReadFile("webhook_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range fixtureFiles(t) {
		if !bytes.Contains(src, []byte(`{fixture: "`+fixtureName(path)+`"`)) {
			t.Errorf("fixture %s has no row in TestParseShapes", path)
		}
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

func TestWebhookEventIDsSurviveRebatching(t *testing.T) {
	// The same item, delivered again inside another body (other position,
	// other whitespace, other neighbours), keeps its event id; the same
	// content from another number or another field does not share it.
	const errItem = `{"code":130429,"title":"Rate limit hit","message":"Rate limit hit"}`
	body := func(pn, field string, items ...string) []byte {
		return []byte(`{"entry":[{"id":"W","changes":[{"field":"` + field + `","value":{"metadata":{"phone_number_id":"` + pn +
			`"},"errors":[` + strings.Join(items, ",") + `]}}]}]}`)
	}
	idOf := func(b []byte, i int) string {
		t.Helper()
		items, err := Parse(b, goldenReceivedAt)
		if err != nil || len(items) <= i || items[i].Kind != schemas.WebhookEvent {
			t.Fatalf("Parse(%s) = %+v, %v", b, items, err)
		}
		return items[i].EventID
	}
	alone := idOf(body("PN1", "messages", errItem), 0)
	spaced := strings.NewReplacer(",", ",\n   ", ":", ": ").Replace(errItem)
	if got := idOf(body("PN1", "messages", `{"code":1}`, spaced), 1); got != alone {
		t.Errorf("same error, second in another body with other spacing: %s, want %s", got, alone)
	}
	if got := idOf(body("PN2", "messages", errItem), 0); got == alone {
		t.Errorf("same error of another number shares the id %s", got)
	}
	if got := idOf(body("PN1", "user_preferences", errItem), 0); got == alone {
		t.Errorf("same error under another field shares the id %s", got)
	}
}

func TestParseMapsFields(t *testing.T) {
	// Spot checks of the mapping the goldens render, stated as facts from the
	// reference so that an -update cannot silently bless a regression.
	parseOne := func(t *testing.T, fixture string, index int) map[string]any {
		t.Helper()
		items := parseFixture(t, fixture)
		if len(items) <= index {
			t.Fatalf("Parse(%s) = %d items", fixture, len(items))
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
	// rec returns the record in the union field of n (nil when null).
	rec := func(t *testing.T, n map[string]any, field, name string) map[string]any {
		t.Helper()
		u, ok := n[field].(map[string]any)
		if !ok {
			t.Fatalf("%s = %v, want a %s", field, n[field], name)
		}
		return u["io.wabridge.events."+name].(map[string]any)
	}
	unix := func(v any) int64 {
		switch x := v.(type) {
		case time.Time:
			return x.Unix()
		case map[string]any:
			return x["long.timestamp-millis"].(time.Time).Unix()
		}
		return -1
	}
	t.Run("video caption", func(t *testing.T) {
		n := parseOne(t, "video_caption", 0)
		check(t, "message_type", n["message_type"], "video")
		check(t, "caption", unionString(media(n)["caption"]), "unboxing")
	})
	t.Run("animated sticker", func(t *testing.T) {
		check(t, "animated", media(parseOne(t, "sticker_animated", 0))["animated"], map[string]any{"boolean": true})
	})
	t.Run("audio file with url", func(t *testing.T) {
		m := media(parseOne(t, "audio_file_with_url", 0))
		check(t, "voice", m["voice"], map[string]any{"boolean": false})
		if !strings.HasPrefix(unionString(m["url"]), "https://lookaside.fbsbx.com/") {
			t.Errorf("url = %v", m["url"])
		}
	})
	t.Run("location", func(t *testing.T) {
		l := rec(t, parseOne(t, "location", 0), "location", "Location")
		check(t, "latitude", l["latitude"], map[string]any{"double": 52.516275})
		check(t, "longitude", l["longitude"], map[string]any{"double": 13.377704})
		check(t, "name", unionString(l["name"]), "Brandenburger Tor")
	})
	t.Run("contacts card", func(t *testing.T) {
		cards := parseOne(t, "contacts_card", 0)["contacts"].(map[string]any)["array"].([]any)
		if len(cards) != 2 {
			t.Fatalf("contacts = %v, want 2 cards", cards)
		}
		c := cards[0].(map[string]any)
		check(t, "formatted_name", unionString(c["formatted_name"]), "Dr. Max Mustermann Jr.")
		check(t, "company", unionString(c["company"]), "Muster GmbH")
		phones := c["phones"].([]any)
		check(t, "phones", len(phones), 2)
		check(t, "phone wa_id", unionString(phones[0].(map[string]any)["wa_id"]), "4915112345678")
		check(t, "address city", unionString(c["addresses"].([]any)[0].(map[string]any)["city"]), "Berlin")
	})
	t.Run("interactive replies", func(t *testing.T) {
		b := rec(t, rec(t, parseOne(t, "interactive_button_reply", 0), "interactive", "InteractiveReply"), "button_reply", "Reply")
		check(t, "button_reply.id", unionString(b["id"]), "confirm-42")
		check(t, "button_reply.title", unionString(b["title"]), "Yes, confirm")
		l := rec(t, rec(t, parseOne(t, "interactive_list_reply", 0), "interactive", "InteractiveReply"), "list_reply", "Reply")
		check(t, "list_reply.description", unionString(l["description"]), "Tuesday morning slot")
		f := rec(t, rec(t, parseOne(t, "interactive_nfm_reply_flow", 0), "interactive", "InteractiveReply"), "nfm_reply", "NfmReply")
		check(t, "nfm_reply.name", unionString(f["name"]), "flow")
		var resp map[string]any
		if err := json.Unmarshal([]byte(unionString(f["response_json"])), &resp); err != nil || resp["flow_token"] != "ft-7781" {
			t.Errorf("response_json = %v (%v), want the flow's JSON with its token", f["response_json"], err)
		}
		i := rec(t, parseOne(t, "interactive_call_permission_reply", 0), "interactive", "InteractiveReply")
		check(t, "interactive.type", i["type"], "call_permission_reply")
		c := rec(t, i, "call_permission_reply", "CallPermissionReply")
		check(t, "response", unionString(c["response"]), "accept")
		check(t, "expiration", unix(c["expiration_timestamp"]), 1760606870)
		check(t, "is_permanent", c["is_permanent"], map[string]any{"boolean": false})
	})
	t.Run("interactive with only errors", func(t *testing.T) {
		n := parseOne(t, "interactive_errors_only", 0)
		check(t, "interactive", n["interactive"], nil)
		check(t, "error code", n["errors"].([]any)[0].(map[string]any)["code"], int32(131000))
	})
	t.Run("template quick reply", func(t *testing.T) {
		n := parseOne(t, "button_quick_reply", 0)
		b := rec(t, n, "button", "TemplateButtonReply")
		check(t, "payload", unionString(b["payload"]), "TRACK_ORDER_42")
		check(t, "context.id", unionString(context(n)["id"]), "wamid.OUTBOUND.TEMPLATE.1")
	})
	t.Run("reaction and its removal", func(t *testing.T) {
		r := rec(t, parseOne(t, "reaction", 0), "reaction", "Reaction")
		check(t, "emoji", unionString(r["emoji"]), "😮")
		check(t, "removed", r["removed"], false)
		for i := range 2 {
			r := rec(t, parseOne(t, "reaction_removed", i), "reaction", "Reaction")
			check(t, "removed", r["removed"], true)
			check(t, "emoji", r["emoji"], nil)
		}
	})
	t.Run("order", func(t *testing.T) {
		o := rec(t, parseOne(t, "order", 0), "order", "Order")
		check(t, "catalog_id", unionString(o["catalog_id"]), "321987654321987")
		items := o["product_items"].([]any)
		check(t, "items", len(items), 2)
		first := items[0].(map[string]any)
		check(t, "quantity", first["quantity"], map[string]any{"long": int64(2)})
		check(t, "item_price", first["item_price"], map[string]any{"double": 19.99})
		check(t, "currency", unionString(first["currency"]), "EUR")
	})
	t.Run("order with a bad quantity keeps the record", func(t *testing.T) {
		n := parseOne(t, "order_bad_quantity", 0)
		check(t, "order", n["order"], nil)
		if !strings.Contains(unionString(n["mapping_error"]), "order") {
			t.Errorf("mapping_error = %v, want it to name the order", n["mapping_error"])
		}
	})
	t.Run("system changes", func(t *testing.T) {
		s := rec(t, parseOne(t, "system_user_changed_number", 0), "system", "SystemChange")
		check(t, "type", unionString(s["type"]), "user_changed_number")
		check(t, "new wa_id", unionString(s["wa_id"]), "15550002222")
		s = rec(t, parseOne(t, "system_user_changed_user_id", 0), "system", "SystemChange")
		check(t, "new user_id", unionString(s["user_id"]), "US.55512345678901234567")
		check(t, "message_type", parseOne(t, "system_identity_changed", 0)["message_type"], "system")
	})
	t.Run("request welcome", func(t *testing.T) {
		n := parseOne(t, "request_welcome", 0)
		check(t, "message_type", n["message_type"], "request_welcome")
	})
	t.Run("referral", func(t *testing.T) {
		r := rec(t, parseOne(t, "referral_ad", 0), "referral", "Referral")
		check(t, "source_type", unionString(r["source_type"]), "ad")
		check(t, "source_id", unionString(r["source_id"]), "120210000000000001")
		check(t, "welcome", unionString(r["welcome_message_text"]), "Hi! How can we help?")
		if unionString(r["ctwa_clid"]) == "" {
			t.Error("ctwa_clid missing")
		}
	})
	t.Run("referred product", func(t *testing.T) {
		p := rec(t, context(parseOne(t, "referred_product_context", 0)), "referred_product", "ReferredProduct")
		check(t, "product_retailer_id", unionString(p["product_retailer_id"]), "SKU-RED-M")
	})
	t.Run("unsupported and unknown", func(t *testing.T) {
		n := parseOne(t, "unsupported", 0)
		check(t, "message_type", n["message_type"], "unsupported")
		check(t, "unsupported_type", unionString(n["unsupported_type"]), "poll")
		check(t, "error code", n["errors"].([]any)[0].(map[string]any)["code"], int32(131051))
		n = parseOne(t, "unknown_legacy", 0)
		check(t, "message_type", n["message_type"], "unknown")
		check(t, "errors", len(n["errors"].([]any)), 1)
	})
	t.Run("types newer than the schema keep only raw", func(t *testing.T) {
		n := parseOne(t, "unknown_type_hologram", 0)
		check(t, "type", n["type"], "hologram")
		check(t, "message_type", n["message_type"], "other")
		if !strings.Contains(n["raw"].(string), `"projection": "cylindrical"`) {
			t.Errorf("raw = %s", n["raw"])
		}
	})
	t.Run("revoke and edit", func(t *testing.T) {
		check(t, "revoke", unionString(parseOne(t, "revoke", 0)["original_message_id"]), "wamid.INBOUND.ORIGINAL.1")
		check(t, "edit", unionString(parseOne(t, "edit", 0)["original_message_id"]), "wamid.INBOUND.ORIGINAL.2")
	})
	t.Run("group message", func(t *testing.T) {
		check(t, "group_id", unionString(parseOne(t, "group_message", 0)["group_id"]), "120363012345678901")
	})
	t.Run("username and parent ids", func(t *testing.T) {
		n := parseOne(t, "username_profile", 0)
		check(t, "username", unionString(n["username"]), "jane.d")
		n = parseOne(t, "bsuid_only", 0)
		check(t, "parent_user_id", unionString(n["parent_user_id"]), "US.ENT.99887766554433221100")
		check(t, "username", unionString(n["username"]), "sam.builds")
		n = parseOne(t, "status_bsuid_recipient", 0)
		check(t, "parent_recipient_user_id", unionString(n["parent_recipient_user_id"]), "US.ENT.99887766554433221100")
	})
	t.Run("status conversation and pricing", func(t *testing.T) {
		n := parseOne(t, "status_sent", 0)
		c := rec(t, n, "conversation", "Conversation")
		check(t, "conversation.id", unionString(c["id"]), "c0ffee00c0ffee00c0ffee00c0ffee00")
		check(t, "expiration", unix(c["expiration_timestamp"]), 1760086900)
		check(t, "origin_type", unionString(c["origin_type"]), "service")
		p := rec(t, n, "pricing", "Pricing")
		check(t, "billable", p["billable"], map[string]any{"boolean": true})
		check(t, "pricing_model", unionString(p["pricing_model"]), "PMP")
		check(t, "category", unionString(p["category"]), "service")
		check(t, "type", unionString(p["type"]), "free_customer_service")
	})
	t.Run("status kinds", func(t *testing.T) {
		for fixture, want := range map[string]string{"status_sent": "sent", "status_delivered": "delivered", "status_read": "read",
			"status_played": "played", "status_failed": "failed", "status_deleted": "deleted"} {
			check(t, fixture, parseOne(t, fixture, 0)["status_kind"], want)
		}
		check(t, "warning", parseOne(t, "status_warning_future", 0)["status_kind"], "warning")
		n := parseOne(t, "status_warning_future", 1)
		check(t, "future status", n["status"], "held_for_review")
		check(t, "future status kind", n["status_kind"], "unknown")
	})
	t.Run("group status", func(t *testing.T) {
		n := parseOne(t, "status_group", 0)
		check(t, "recipient_type", unionString(n["recipient_type"]), "group")
		check(t, "participant", unionString(n["recipient_participant_id"]), "15550001111")
	})
	t.Run("status with contact", func(t *testing.T) {
		n := parseOne(t, "status_read_with_contact", 0)
		check(t, "profile_name", unionString(n["profile_name"]), "Jane Doe")
		check(t, "username", unionString(n["username"]), "jane.d")
	})
	t.Run("change-level error", func(t *testing.T) {
		n := parseOne(t, "change_errors", 0)
		check(t, "event_type", n["event_type"], "change_error")
		e := rec(t, n, "error", "ApiError")
		check(t, "code", e["code"], int32(130429))
		check(t, "href", unionString(e["href"]), "/documentation/business-messaging/whatsapp/support/error-codes")
		check(t, "phone_number_id", unionString(n["phone_number_id"]), "100000000000001")
	})
	t.Run("user preferences", func(t *testing.T) {
		n := parseOne(t, "user_preferences_field", 1)
		check(t, "event_type", n["event_type"], "user_preference")
		check(t, "wa_id", unionString(n["wa_id"]), "15550001111")
		check(t, "value", unionString(rec(t, n, "user_preference", "UserPreference")["value"]), "resume")
		check(t, "timestamp", unix(n["timestamp"]), 1760002460)
		n = parseOne(t, "change_unmapped_fields", 2)
		check(t, "inside messages", n["event_type"], "user_preference")
	})
	t.Run("template status", func(t *testing.T) {
		n := parseOne(t, "template_status_update", 0)
		check(t, "event_type", n["event_type"], "template_status")
		ts := rec(t, n, "template_status", "TemplateStatus")
		check(t, "event", unionString(ts["event"]), "APPROVED")
		check(t, "id (a JSON number)", unionString(ts["message_template_id"]), "987654321098765")
		check(t, "entry_time", unix(n["entry_time"]), 1760001200)
	})
	t.Run("unknown fields and keys", func(t *testing.T) {
		n := parseOne(t, "change_field_unknown", 1)
		check(t, "field", n["field"], "phone_number_quality_update")
		check(t, "value_key", n["value_key"], nil)
		n = parseOne(t, "value_unknown_key", 1)
		check(t, "value_key", unionString(n["value_key"]), "calls")
		if !strings.Contains(n["raw"].(string), `"terminate"`) {
			t.Errorf("raw = %s, want the second call", n["raw"])
		}
	})
}

func TestParseEdgeCases(t *testing.T) {
	const meta = `"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"}`
	wrap := func(value string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{` + value + `}}]}]}`
	}
	for _, tc := range []struct {
		name        string
		body        string
		wantErr     string
		wantReason  string // of the first dead letter, if any
		wantMapping string // mapping_error of the first record, if any
		wantItems   int
	}{
		{name: "empty body", body: ``, wantErr: "invalid JSON"},
		{name: "JSON null", body: `null`, wantErr: "the body is null"},
		{name: "entry null", body: `{"entry":null}`, wantErr: "no entry"},
		{name: "JSON array", body: `[]`, wantErr: "unexpected JSON shape"},
		{name: "JSON string", body: `"entry"`, wantErr: "unexpected JSON shape"},
		{name: "entry is an object", body: `{"entry":{}}`, wantErr: "unexpected JSON shape"},
		{name: "invalid UTF-8 in a key", body: "{\"entr\xffy\":[]}", wantErr: "invalid UTF-8 at byte 6"},
		{name: "duplicate entry", body: `{"entry":[],"entry":[]}`, wantErr: `duplicate key "entry" at byte 12`},
		{name: "same key in different objects is fine", body: `{"entry":[{"id":"1","changes":[]},{"id":"2","changes":[]}]}`, wantItems: 0},
		{name: "trailing bracket", body: `{"entry":[]}]`, wantErr: "data after the top-level object"},
		{name: "trailing garbage", body: `{"entry":[]} x`, wantErr: "data after the top-level object"},
		{name: "trailing whitespace is fine", body: "{\"entry\":[]}\n\t ", wantItems: 0},
		{name: "no metadata", body: wrap(`"messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"text","text":{"body":"x"}}]`),
			wantReason: "no metadata.phone_number_id", wantItems: 1},
		{name: "phone_number_id a number", body: wrap(`"metadata":{"phone_number_id":100000000000001},"statuses":[{"id":"wamid.A","status":"read","timestamp":"1","recipient_id":"1"}]`),
			wantReason: "status: metadata.phone_number_id is a number, want a string", wantItems: 1},
		{name: "metadata not an object", body: wrap(`"metadata":"100000000000001","messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"text","text":{"body":"x"}}]`),
			wantReason: "message: metadata is a string, want an object", wantItems: 1},
		{name: "messages is not an array", body: wrap(meta + `,"messages":{"id":"x"}`), wantReason: "value: messages", wantItems: 1},
		{name: "null messages are absent", body: wrap(meta + `,"messages":null,"statuses":null,"errors":null`), wantItems: 0},
		{name: "null message", body: wrap(meta + `,"messages":[null]`), wantReason: "message: no id", wantItems: 1},
		{name: "null payload object is absent", body: wrap(meta + `,"messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"text","text":null}]`), wantItems: 1},
		{name: "message is not an object", body: wrap(meta + `,"messages":[42]`), wantReason: "message:", wantItems: 1},
		{name: "message without type", body: wrap(meta + `,"messages":[{"from":"1","id":"wamid.A","timestamp":"1"}]`), wantReason: "no type", wantItems: 1},
		{name: "message timestamp as a number", body: wrap(meta + `,"messages":[{"from":"1","id":"wamid.A","timestamp":1760000000,"type":"text"}]`),
			wantReason: "message:", wantItems: 1},
		{name: "negative timestamp", body: wrap(meta + `,"statuses":[{"id":"wamid.A","status":"sent","timestamp":"-5","recipient_id":"1"}]`),
			wantReason: "timestamp", wantItems: 1},
		{name: "status without status", body: wrap(meta + `,"statuses":[{"id":"wamid.A","timestamp":"1","recipient_id":"1"}]`), wantReason: "no status", wantItems: 1},
		{name: "status without id", body: wrap(meta + `,"statuses":[{"status":"sent","timestamp":"1","recipient_id":"1"}]`), wantReason: "no id", wantItems: 1},
		{name: "status error code not a number is a mapping error", body: wrap(meta + `,"statuses":[{"id":"wamid.A","status":"failed","timestamp":"1","recipient_id":"1","errors":[{"code":"x"}]}]`),
			wantMapping: "errors: want an integer", wantItems: 1},
		{name: "status error code as a string is read", body: wrap(meta + `,"statuses":[{"id":"wamid.A","status":"failed","timestamp":"1","recipient_id":"1","errors":[{"code":"131026"}]}]`),
			wantItems: 1},
		{name: "error code beyond int32 is a mapping error", body: wrap(meta + `,"statuses":[{"id":"wamid.A","status":"failed","timestamp":"1","recipient_id":"1","errors":[{"code":4294967296}]}]`),
			wantMapping: "out of range", wantItems: 1},
		{name: "message status as a number", body: wrap(meta + `,"statuses":[{"id":"wamid.A","status":3,"timestamp":"1","recipient_id":"1"}]`),
			wantReason: "status: status is a number, want a string", wantItems: 1},
		{name: "location given as strings", body: wrap(meta + `,"messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"location","location":{"latitude":"52.5","longitude":"13.4"}}]`),
			wantItems: 1},
		{name: "location not an object", body: wrap(meta + `,"messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"location","location":"Berlin"}]`),
			wantMapping: "location: json", wantItems: 1},
		{name: "contacts of the value unreadable", body: wrap(meta + `,"contacts":{"wa_id":"1"},"messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"text","text":{"body":"x"}}]`),
			wantMapping: "contacts: json", wantItems: 1},
		{name: "change error without code", body: wrap(meta + `,"errors":[{"title":"x"}]`), wantMapping: "error without a code", wantItems: 1},
		{name: "user preference timestamp as a string", body: wrap(meta + `,"user_preferences":[{"wa_id":"1","value":"stop","timestamp":"1760000000"}]`), wantItems: 1},
		{name: "user preference with a bad timestamp", body: wrap(meta + `,"user_preferences":[{"wa_id":"1","value":"stop","timestamp":"yesterday"}]`),
			wantMapping: "timestamp", wantItems: 1},
		{name: "unknown value key, not an array", body: wrap(meta + `,"history":{"phase":1}`), wantItems: 1},
		{name: "change without field", body: `{"entry":[{"id":"1","changes":[{"value":{}}]}]}`, wantReason: "has no field", wantItems: 1},
		{name: "change with an empty field", body: `{"entry":[{"id":"1","changes":[{"field":"","value":{}}]}]}`, wantReason: "has no field", wantItems: 1},
		{name: "change field not a string", body: `{"entry":[{"id":"1","changes":[{"field":7,"value":{}}]}]}`, wantReason: "changes[0]: field is a number", wantItems: 1},
		{name: "change value missing", body: `{"entry":[{"id":"1","changes":[{"field":"messages"}]}]}`, wantReason: "has no value", wantItems: 1},
		{name: "change value null", body: `{"entry":[{"id":"1","changes":[{"field":"account_update","value":null}]}]}`, wantReason: "value is null", wantItems: 1},
		{name: "changes not an array", body: `{"entry":[{"id":"1","changes":{}}]}`, wantReason: "entry[0]: changes is an object, want an array", wantItems: 1},
		{name: "entry id a number", body: `{"entry":[{"id":1,"changes":[]}]}`, wantReason: "entry[0]: id is a number, want a string", wantItems: 1},
		{name: "entry a string", body: `{"entry":["x"]}`, wantReason: "entry[0] is a string, want an object", wantItems: 1},
		{name: "change an array", body: `{"entry":[{"id":"1","changes":[[]]}]}`, wantReason: "changes[0] is an array, want an object", wantItems: 1},
		{name: "message an array", body: wrap(meta + `,"messages":[[1]]`), wantReason: "message: message is an array", wantItems: 1},
		{name: "status text not an object", body: wrap(meta + `,"messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"text","text":"hi"}]`), wantMapping: "text is a string", wantItems: 1},
		{name: "escaped keys are read", body: wrap(meta + `,"statuses":[{"\u0069d":"wamid.A","status":"read","timestamp":"1","recipient_id":"1"}]`), wantItems: 1},
		{name: "keys match exactly", body: wrap(meta + `,"statuses":[{"ID":"wamid.A","status":"read","timestamp":"1","recipient_id":"1"}]`), wantReason: "no id", wantItems: 1},
		{name: "entry time unreadable is ignored", body: `{"entry":[{"id":"1","time":"noon","changes":[{"field":"account_update","value":{"event":"X"}}]}]}`, wantItems: 1},
		{name: "unknown status passes through", body: wrap(meta + `,"statuses":[{"id":"wamid.A","status":"deleted","timestamp":"1","recipient_id":"1"}]`), wantItems: 1},
		{name: "other field is an event", body: `{"entry":[{"id":"1","changes":[{"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}}]}]}`,
			wantItems: 1},
		{name: "other field with a scalar value is an event", body: `{"entry":[{"id":"1","changes":[{"field":"ping","value":42}]}]}`,
			wantItems: 1},
		{name: "template status with a bad shape", body: `{"entry":[{"id":"1","changes":[{"field":"message_template_status_update","value":{"event":["APPROVED"]}}]}]}`,
			wantMapping: "template_status: json", wantItems: 1},
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
			var reason, mapping string
			for _, it := range items {
				if it.Kind == "" {
					if reason == "" {
						reason = it.Reason
					}
					continue
				}
				checkItem(t, 0, it, []byte(tc.body))
				if mapping == "" {
					mapping = unionString(it.Native["mapping_error"])
				}
			}
			if tc.wantReason == "" && reason != "" {
				t.Errorf("unexpected dead letter: %s", reason)
			}
			if !strings.Contains(reason, tc.wantReason) {
				t.Errorf("dead-letter reason = %q, want one containing %q", reason, tc.wantReason)
			}
			if tc.wantMapping == "" && mapping != "" {
				t.Errorf("unexpected mapping error: %s", mapping)
			}
			if !strings.Contains(mapping, tc.wantMapping) {
				t.Errorf("mapping_error = %q, want one containing %q", mapping, tc.wantMapping)
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
		checkParsed(t, body, items)
	})
}

// checkParsed checks the invariants of every Parse result: dead letters
// have a reason and raw bytes of the body; records survive Avro, are keyed
// by their user, carry an event id and their raw element; and one body
// never yields the same event id twice, but for webhook events whose raw
// content is the same.
func checkParsed(t *testing.T, body []byte, items []Item) {
	t.Helper()
	ids := map[string]string{}
	for i, it := range items {
		switch it.Kind {
		case "":
			if it.Reason == "" {
				t.Errorf("item %d: dead letter without a reason", i)
			}
			if !bytes.Contains(body, it.Raw) {
				t.Errorf("item %d: dead letter %q is not part of the body", i, it.Raw)
			}
			continue
		case schemas.InboundMessage, schemas.MessageStatus, schemas.WebhookEvent:
			checkItem(t, i, it, body)
		default:
			t.Errorf("item %d: unknown kind %q", i, it.Kind)
			continue
		}
		raw := it.Native["raw"].(string)
		if prev, ok := ids[it.EventID]; ok && (it.Kind != schemas.WebhookEvent || !jsonEqual(prev, raw)) {
			t.Errorf("item %d: event_id %s repeats within one body", i, it.EventID)
		}
		ids[it.EventID] = raw
	}
}

func jsonEqual(a, b string) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, []byte(a)) == nil && json.Compact(&cb, []byte(b)) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

// FuzzMapping fuzzes one message or status object inside a valid envelope,
// so that the fuzzer spends its time in the mapping rather than in the
// envelope.
func FuzzMapping(f *testing.F) {
	for _, path := range fixtureFiles(f) {
		body, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		var env struct {
			Entry []struct {
				Changes []struct {
					Value struct {
						Messages []json.RawMessage `json:"messages"`
						Statuses []json.RawMessage `json:"statuses"`
					} `json:"value"`
				} `json:"changes"`
			} `json:"entry"`
		}
		if json.Unmarshal(body, &env) != nil {
			continue
		}
		for _, e := range env.Entry {
			for _, c := range e.Changes {
				for _, m := range c.Value.Messages {
					f.Add(false, []byte(m))
				}
				for _, s := range c.Value.Statuses {
					f.Add(true, []byte(s))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, isStatus bool, item []byte) {
		key := "messages"
		if isStatus {
			key = "statuses"
		}
		parseOneItem(t, "messages", key, item)
	})
}
