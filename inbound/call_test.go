package inbound

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/schemas"
)

// parseFixture parses testdata/<fixture>.json, which must parse.
func parseFixture(t *testing.T, fixture string) []Item {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", fixture+".json"))
	if err != nil {
		t.Fatal(err)
	}
	items, err := Parse(body, goldenReceivedAt)
	if err != nil {
		t.Fatalf("Parse(%s): %v", fixture, err)
	}
	return items
}

// callOf parses fixture and returns item i, which must be a call event,
// with its CallEvent record (nil when the call field is empty).
func callOf(t *testing.T, fixture string, i int) (Item, map[string]any) {
	t.Helper()
	items := parseFixture(t, fixture)
	if len(items) <= i {
		t.Fatalf("Parse(%s) = %d items, want item %d", fixture, len(items), i)
	}
	it := items[i]
	if it.Kind != schemas.WebhookEvent || it.Native["event_type"] != "call" || it.Native["field"] != "calls" {
		t.Fatalf("%s item %d: kind %q, event_type %v, field %v; want a call webhook event", fixture, i, it.Kind, it.Native["event_type"], it.Native["field"])
	}
	return it, unionRec(it.Native["call"])
}

func TestCallMapping(t *testing.T) {
	// Facts from Meta's Calling reference about each fixture, stated here so
	// that an -update of the goldens cannot bless a regression.
	const jane, bob, sam = "15550001111", "15550002222", "US.13491208655302741918"
	for _, tc := range []struct {
		fixture      string
		item         int
		event        string
		direction    string
		opens        bool
		key          string
		waID, userID string
		profile      string
		status       string
		at           int64 // the call's timestamp; 0: none
		mapping      string
	}{
		{fixture: "call_user_connect", event: "connect", direction: "user_initiated", opens: true, key: jane, waID: jane, profile: "Jane", at: 1760003000},
		{fixture: "call_user_connect_no_direction", event: "connect", direction: "user_initiated", opens: true, key: jane, waID: jane, at: 1760003010},
		{fixture: "call_user_terminate", event: "terminate", direction: "user_initiated", key: jane, waID: jane, profile: "Jane", status: "COMPLETED", at: 1760003095},
		{fixture: "call_business_connect", event: "connect", direction: "business_initiated", key: bob, waID: bob, at: 1760003200},
		{fixture: "call_business_terminate_failed", event: "terminate", direction: "business_initiated", key: bob, waID: bob, status: "FAILED", at: 1760003230},
		{fixture: "call_statuses", item: 0, event: "status", direction: "business_initiated", key: bob, waID: bob, status: "RINGING", at: 1760003205},
		{fixture: "call_statuses", item: 1, event: "status", direction: "business_initiated", key: bob, waID: bob, status: "ACCEPTED", at: 1760003212},
		{fixture: "call_statuses", item: 2, event: "status", direction: "business_initiated", key: sam, userID: sam, status: "REJECTED", at: 1760003300},
		{fixture: "call_bsuid_only", event: "connect", direction: "user_initiated", opens: true, key: sam, userID: sam, profile: "Sam", at: 1760003400},
		{fixture: "call_bad_shapes", item: 3, event: "connect", direction: "user_initiated", key: jane, waID: jane, mapping: `timestamp "noon"`},
		{fixture: "call_bad_shapes", item: 4, event: "connect", direction: "user_initiated", key: jane, waID: jane, mapping: "no timestamp"},
		{fixture: "call_bad_shapes", item: 5, event: "other", direction: "user_initiated", key: jane, waID: jane, at: 1760003502},
		{fixture: "call_bad_shapes", item: 6, event: "connect", direction: "unknown", key: "100000000000001", at: 1760003503},
		{fixture: "call_bad_shapes", item: 7, event: "terminate", direction: "user_initiated", key: jane, waID: jane, status: "COMPLETED", at: 1760003504, mapping: "start_time"},
		// No business number: the call is typed but cannot open a window.
		{fixture: "call_bad_shapes", item: 9, event: "connect", direction: "user_initiated", key: jane, waID: jane, at: 1760003505},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			it, call := callOf(t, tc.fixture, tc.item)
			n := it.Native
			if call == nil {
				t.Fatalf("no call record; mapping_error %q", unionStr(n["mapping_error"]))
			}
			check(t, "event", call["event"], tc.event)
			check(t, "direction", call["direction"], tc.direction)
			check(t, "opens_window", call["opens_window"], tc.opens)
			check(t, "key", it.Key, tc.key)
			check(t, "wa_id", unionStr(n["wa_id"]), tc.waID)
			check(t, "user_id", unionStr(n["user_id"]), tc.userID)
			check(t, "profile_name", unionStr(n["profile_name"]), tc.profile)
			check(t, "status", unionStr(call["status"]), tc.status)
			if at, ok := unionVal(n["timestamp"]).(time.Time); ok != (tc.at != 0) || (ok && at.Unix() != tc.at) {
				t.Errorf("timestamp = %v, want Unix %d", n["timestamp"], tc.at)
			}
			if m := unionStr(n["mapping_error"]); (tc.mapping == "") != (m == "") || !strings.Contains(m, tc.mapping) {
				t.Errorf("mapping_error = %q, want one containing %q", m, tc.mapping)
			}
			if !strings.HasPrefix(unionStr(call["call_id"]), "wacid.") {
				t.Errorf("call_id = %v, want the wacid", call["call_id"])
			}
		})
	}

	t.Run("terminate carries the call's times and outcome", func(t *testing.T) {
		_, call := callOf(t, "call_user_terminate", 0)
		check(t, "duration_seconds", unionVal(call["duration_seconds"]), int64(91))
		check(t, "start_time", unionVal(call["start_time"]), time.Unix(1760003004, 0).UTC())
		check(t, "end_time", unionVal(call["end_time"]), time.Unix(1760003095, 0).UTC())
		_, call = callOf(t, "call_business_terminate_failed", 0)
		errs, _ := call["errors"].([]any)
		if len(errs) != 1 || errs[0].(map[string]any)["code"] != int32(131000) {
			t.Errorf("errors = %v, want the 131000 error", call["errors"])
		}
		check(t, "biz_opaque_callback_data", unionStr(call["biz_opaque_callback_data"]), "crm/ticket/4711")
	})
	t.Run("connect carries the session", func(t *testing.T) {
		_, call := callOf(t, "call_user_connect", 0)
		check(t, "sdp_type", unionStr(call["sdp_type"]), "offer")
		if !strings.HasPrefix(unionStr(call["sdp"]), "v=0\r\n") {
			t.Errorf("sdp = %q, want the SDP offer", unionStr(call["sdp"]))
		}
		_, call = callOf(t, "call_bsuid_only", 0)
		check(t, "parent_user_id", unionStr(call["parent_user_id"]), "US.ENT.99887766554433221100")
	})
	t.Run("items that are no call keep raw and say why", func(t *testing.T) {
		for i, want := range []string{"call is null", "call: no id", "cannot unmarshal number"} {
			it, call := callOf(t, "call_bad_shapes", i)
			if call != nil || !strings.Contains(unionStr(it.Native["mapping_error"]), want) {
				t.Errorf("item %d: call %v, mapping_error %q; want no call and %q", i, call, unionStr(it.Native["mapping_error"]), want)
			}
		}
	})
	t.Run("a call status under field messages is no message status", func(t *testing.T) {
		items := parseFixture(t, "call_status_under_messages")
		if len(items) != 2 {
			t.Fatalf("Parse = %d items, want 2", len(items))
		}
		call := unionRec(items[0].Native["call"])
		if items[0].Kind != schemas.WebhookEvent || call["event"] != "status" || unionStr(call["status"]) != "RINGING" {
			t.Errorf("item 0: kind %s, call %v; want a call status event", items[0].Kind, call)
		}
		if items[1].Kind != schemas.MessageStatus {
			t.Errorf("item 1: kind %s, want the message status", items[1].Kind)
		}
	})
}

func check(t *testing.T, what string, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestCallWindow(t *testing.T) {
	it, _ := callOf(t, "call_user_connect", 0)
	m, ok := callWindow(it.Native)
	if !ok || m.Number != "100000000000001" || m.Users[0] != "15550001111" || !m.At.Equal(time.Unix(1760003000, 0)) || m.Text != "" {
		t.Errorf("callWindow(user-initiated connect) = %+v, %v", m, ok)
	}
	it, _ = callOf(t, "call_bsuid_only", 0)
	if m, ok := callWindow(it.Native); !ok || m.Users[1] != "US.13491208655302741918" {
		t.Errorf("callWindow(user-initiated connect of a business-scoped user) = %+v, %v", m, ok)
	}
	for _, tc := range []struct {
		fixture string
		item    int
	}{
		{"call_user_terminate", 0},            // the call was placed at connect
		{"call_business_connect", 0},          // the business called
		{"call_statuses", 1},                  // ACCEPTED: the business called
		{"call_bad_shapes", 3},                // no usable timestamp
		{"call_bad_shapes", 6},                // direction unknown
		{"call_bad_shapes", 9},                // no business number
		{"call_bad_shapes", 1},                // no call record
		{"call_user_connect_no_direction", 0}, // opens: direction inferred (checked below)
	} {
		it, _ := callOf(t, tc.fixture, tc.item)
		_, ok := callWindow(it.Native)
		if want := tc.fixture == "call_user_connect_no_direction"; ok != want {
			t.Errorf("%s item %d: callWindow opens = %v, want %v", tc.fixture, tc.item, ok, want)
		}
	}
}

func TestCallDirection(t *testing.T) {
	c := &changeCtx{displayPhoneNumber: "+1 (555) 000-9999"}
	for _, tc := range []struct {
		j    callJSON
		want string
	}{
		{callJSON{Direction: "USER_INITIATED", From: "15550009999"}, userInitiated}, // the field wins
		{callJSON{Direction: "business_initiated"}, businessInitiated},
		{callJSON{Direction: "SIDEWAYS", To: "15550009999"}, directionUnknown},
		{callJSON{From: "15550001111", To: "15550009999"}, userInitiated},
		{callJSON{From: "15550009999", To: "15550001111"}, businessInitiated},
		{callJSON{From: "15550009999", To: "15550009999"}, directionUnknown},
		{callJSON{From: "15550001111", To: "15550002222"}, directionUnknown},
		{callJSON{FromUserID: "US.1"}, directionUnknown},
	} {
		if got := callDirection(c, &tc.j); got != tc.want {
			t.Errorf("callDirection(%+v) = %s, want %s", tc.j, got, tc.want)
		}
	}
	if got := callDirection(&changeCtx{}, &callJSON{From: "1", To: "2"}); got != directionUnknown {
		t.Errorf("without a business number: %s, want unknown", got)
	}
}

// FuzzCallMapping fuzzes one calls[] element or call status inside a
// valid calls change: every result satisfies checkParsed, nothing is a
// message or a message status, a call opens a
// window only as the connect of a user-initiated call with a timestamp, and
// a typed call is keyed by its user.
func FuzzCallMapping(f *testing.F) {
	// Seeds: the items of the call fixtures, as the mapping saw them.
	for _, path := range fixtureFiles(f) {
		if !strings.HasPrefix(filepath.Base(path), "call_") {
			continue
		}
		body, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		items, err := Parse(body, goldenReceivedAt)
		if err != nil {
			f.Fatal(err)
		}
		for _, it := range items {
			if it.Kind == schemas.WebhookEvent && it.Native["event_type"] == "call" {
				f.Add(unionStr(it.Native["value_key"]) == "statuses", it.raw())
			}
		}
	}
	f.Add(false, []byte(`{"id":"wacid.1","from":"1","to":"15550009999","event":"connect","timestamp":1760003000}`))
	f.Fuzz(func(t *testing.T, isStatus bool, item []byte) {
		key := "calls"
		if isStatus {
			key = "statuses"
		}
		_, items, ok := parseOneItem(t, "calls", key, item)
		if !ok {
			return
		}
		for _, it := range items {
			if it.Kind == "" {
				continue
			}
			if it.Kind == schemas.MessageStatus || it.Kind == schemas.InboundMessage {
				t.Fatalf("a calls change gave a %s", it.Kind)
			}
			if it.Native["event_type"] != "call" {
				continue // e.g. the contacts of a change without calls
			}
			call := unionRec(it.Native["call"])
			if call == nil {
				if unionStr(it.Native["mapping_error"]) == "" {
					t.Errorf("no call record and no mapping_error: %s", item)
				}
				continue
			}
			_, opens := callWindow(it.Native)
			if opens && (isStatus || call["direction"] != userInitiated || call["event"] != callConnect) {
				t.Errorf("%v opens a window", call)
			}
			if user := firstNonEmpty(unionStr(it.Native["wa_id"]), unionStr(it.Native["user_id"])); user != "" && it.Key != user {
				t.Errorf("key %q, want the user %q", it.Key, user)
			}
		}
	})
}

// parseOneItem parses item as the one element of value[key] in a valid
// change of field (business number "15550009999", contact wa_id "1") and
// checks the invariants of checkParsed. ok is false when item was not one
// JSON value, which is the envelope parser's business.
func parseOneItem(t *testing.T, field, key string, item []byte) (body []byte, items []Item, ok bool) {
	t.Helper()
	body = []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"` + field + `","value":{` +
		`"metadata":{"phone_number_id":"PN","display_phone_number":"15550009999"},"contacts":[{"profile":{"name":"N"},"wa_id":"1"}],"` +
		key + `":[` + string(item) + `]}}]}]}`)
	items, err := Parse(body, goldenReceivedAt)
	if err != nil {
		return body, nil, false
	}
	checkParsed(t, body, items)
	return body, items, true
}

// BenchmarkParseCall parses a user's call webhook (connect with an SDP
// offer and a contact): go test ./inbound -run XXX -bench ParseCall.
func BenchmarkParseCall(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "call_user_connect.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse(body, goldenReceivedAt); err != nil {
			b.Fatal(err)
		}
	}
}
