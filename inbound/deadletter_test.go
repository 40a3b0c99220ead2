package inbound_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/inbound"
	"github.com/wabridge/wabridge/schemas"
)

// receivedAt is the receive time given to Parse.
var receivedAt = time.Date(2026, 10, 9, 8, 55, 30, 0, time.UTC)

// codecEncoder encodes dead letters with the DeadLetter schema alone (no
// registry framing), so that tests can read every field back.
type codecEncoder struct{ codec *goavro.Codec }

func (c codecEncoder) Encode(native map[string]any) ([]byte, error) {
	return c.codec.BinaryFromNative(nil, native)
}

func deadLetterCodec(t *testing.T) *goavro.Codec {
	t.Helper()
	s, err := schemas.Lookup(schemas.DeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	return s.Codec
}

// dlqHandler is a unit handler whose dead letters are DeadLetter records.
func dlqHandler(t *testing.T, p inbound.Publisher, configure func(*inbound.Config)) *inbound.Handler {
	t.Helper()
	codec := deadLetterCodec(t)
	return newUnitHandler(t, p, func(c *inbound.Config) {
		c.Encoders[schemas.DeadLetter] = codecEncoder{codec}
		if configure != nil {
			configure(c)
		}
	})
}

// published splits what a handler published into event ids (records) and
// decoded dead letters.
func published(t *testing.T, msgs []kafka.Message) (ids []string, dead []map[string]any) {
	t.Helper()
	codec := deadLetterCodec(t)
	for _, m := range msgs {
		if m.Topic != "dlq" {
			ids = append(ids, header(m, inbound.HeaderEventID))
			continue
		}
		native, rest, err := codec.NativeFromBinary(m.Value)
		if err != nil || len(rest) > 0 {
			t.Fatalf("dead letter is not a DeadLetter record: %v", err)
		}
		dead = append(dead, native.(map[string]any))
	}
	slices.Sort(ids)
	return ids, dead
}

func failurePaths(d map[string]any) []string {
	var out []string
	for _, f := range d["failures"].([]any) {
		out = append(out, f.(map[string]any)["path"].(string))
	}
	return out
}

// newRecordsWhenFixed is, for every malformed fixture of testdata, how
// many more records its corrected body (testdata/fixed/) gives than the
// fixture did. Bodies that are no WhatsApp Cloud API webhook at all have no
// correction: replayed, they are dead-lettered again, alike.
var newRecordsWhenFixed = map[string]int{
	"call_bad_shapes":                1,
	"change_value_not_object":        1,
	"change_value_null":              1,
	"duplicate_keys":                 1,
	"duplicate_keys_case":            1,
	"duplicate_keys_escaped":         1,
	"entry_nulls":                    1,
	"invalid_json":                   1,
	"invalid_utf8":                   1,
	"message_no_id":                  1,
	"message_no_id_no_from":          2,
	"message_timestamp_out_of_range": 1,
	"metadata_missing":               1,
	"numbers_for_strings":            1,
	"status_bad_timestamp":           1,
	"trailing_brace":                 1,
	"trailing_data":                  1,

	"legacy_onpremise":          -1,
	"legacy_onpremise_statuses": -1,
	"no_entry":                  -1,
	"object_instagram":          -1,
}

// Every malformed fixture becomes exactly one dead letter holding the body
// byte for byte with the path of each failed part; POSTing that body again
// gives the same records (same event ids) and the same dead letter; POSTing
// the corrected body gives the records published the first time, with the
// same event ids, plus the ones that failed, and no dead letter.
func TestEveryMalformedFixtureReplays(t *testing.T) {
	seen := map[string]bool{}
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata (err %v)", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		items, perr := inbound.Parse(body, receivedAt)
		var deadPaths []string
		for _, it := range items {
			if it.Kind == "" {
				deadPaths = append(deadPaths, it.Path.String())
			}
		}
		if perr == nil && len(deadPaths) == 0 {
			continue
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, listed := newRecordsWhenFixed[name]
			if !listed {
				t.Fatalf("malformed fixture %s has no entry in newRecordsWhenFixed (and no testdata/fixed/%s.json?)", name, name)
			}
			if perr != nil {
				deadPaths = []string{""}
			}
			post := func(b []byte) ([]string, []map[string]any, *http.Response) {
				t.Helper()
				p := &recordingPublisher{}
				rec := post(dlqHandler(t, p, nil), string(b), nil)
				if rec.Code != http.StatusOK {
					t.Fatalf("HTTP %d %s, want 200", rec.Code, rec.Body)
				}
				ids, dead := published(t, p.all())
				return ids, dead, rec.Result()
			}
			firstIDs, dead, resp := post(body)
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want 1 for the request", len(dead))
			}
			d := dead[0]
			if !bytes.Equal(d["original"].([]byte), body) {
				t.Errorf("original is not the body byte for byte:\n%q\nwant\n%q", d["original"], body)
			}
			if got := failurePaths(d); !slices.Equal(got, deadPaths) {
				t.Errorf("failure paths %q, want %q", got, deadPaths)
			}
			if k := d["original_kind"]; unionString(k) != schemas.OriginalRequestBody {
				t.Errorf("original_kind %v, want %s", k, schemas.OriginalRequestBody)
			}
			if resp.Header.Get(inbound.HeaderDeadLetter) != d["event_id"] {
				t.Errorf("response header %s = %q, want the dead letter's event id %q", inbound.HeaderDeadLetter, resp.Header.Get(inbound.HeaderDeadLetter), d["event_id"])
			}

			// Replayed unchanged: the same records, the same dead letter.
			againIDs, againDead, _ := post(d["original"].([]byte))
			if !slices.Equal(againIDs, firstIDs) || len(againDead) != 1 || againDead[0]["event_id"] != d["event_id"] {
				t.Errorf("replay of the dead letter gave records %q and %d dead letters, want %q and the same dead letter", againIDs, len(againDead), firstIDs)
			}

			fixed, err := os.ReadFile(filepath.Join("testdata", "fixed", name+".json"))
			if want < 0 {
				if err == nil {
					t.Fatalf("testdata/fixed/%s.json exists but %s is listed as not correctable", name, name)
				}
				return
			}
			if err != nil {
				t.Fatalf("corrected body: %v", err)
			}
			fixedIDs, fixedDead, _ := post(fixed)
			if len(fixedDead) != 0 {
				t.Fatalf("corrected body still dead-lettered: %v", fixedDead[0]["reason"])
			}
			for _, id := range firstIDs {
				if !slices.Contains(fixedIDs, id) {
					t.Errorf("record %s of the first delivery is missing from the corrected replay (or its event id changed)", id)
				}
			}
			if got := len(fixedIDs) - len(firstIDs); got != want {
				t.Errorf("corrected replay gave %d new records, want %d (records %q, first %q)", got, want, fixedIDs, firstIDs)
			}
		})
	}
	for name := range newRecordsWhenFixed {
		if !seen[name] {
			t.Errorf("newRecordsWhenFixed lists %s, which is not a malformed fixture", name)
		}
	}
}

// A mapping fixed after the fact: webhook events dead-lettered while no
// webhook-events topic was configured are published by replaying the
// request once it is.
func TestReplayAfterTheMappingIsFixed(t *testing.T) {
	body := fixture(t, "change_unmapped_fields")
	p := &recordingPublisher{}
	h := dlqHandler(t, p, func(c *inbound.Config) { c.Topics.Events = "" })
	if rec := post(h, body, nil); rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d", rec.Code)
	}
	firstIDs, dead := published(t, p.all())
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	items, err := inbound.Parse([]byte(body), receivedAt)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, it := range items {
		if it.Kind == schemas.WebhookEvent {
			events = append(events, it.Path.String())
		}
	}
	if got := failurePaths(dead[0]); len(events) == 0 || !slices.Equal(got, events) {
		t.Fatalf("failure paths %q, want the events' %q", got, events)
	}

	p = &recordingPublisher{}
	h = dlqHandler(t, p, nil)
	if rec := post(h, string(dead[0]["original"].([]byte)), nil); rec.Code != http.StatusOK || rec.Header().Get(inbound.HeaderDeadLetter) != "" {
		t.Fatalf("replay: HTTP %d, dead letter %q", rec.Code, rec.Header().Get(inbound.HeaderDeadLetter))
	}
	ids, deadAgain := published(t, p.all())
	if len(deadAgain) != 0 || len(ids) != len(firstIDs)+len(events) {
		t.Fatalf("replay gave %d records and %d dead letters, want %d records", len(ids), len(deadAgain), len(firstIDs)+len(events))
	}
	for _, id := range firstIDs {
		if !slices.Contains(ids, id) {
			t.Errorf("record %s of the first delivery came out with another event id", id)
		}
	}
}

// No secret of the request reaches the dead-letter topic: not the token
// (under a custom header name), not the signatures, Authorization, cookies
// or anything named like a credential, nor the path secret; other headers
// are kept.
func TestDeadLetterKeepsNoSecret(t *testing.T) {
	const (
		token      = "tok-9f1c0a77e2"
		prevToken  = "tok-old-51d2b0"
		sigSecret  = "sig-secret-0c41"
		pathSecret = "path-secret-7e21"
	)
	body := fixture(t, "message_no_id")
	sig := sign(sigSecret, body)
	secrets := []string{token, prevToken, sigSecret, pathSecret, sig, "Bearer abc.def.ghi", "sid=s3ss10n", "pk-live-1234", "hunter2"}
	for _, tokenHeader := range []string{"X-Acme-Hook", "X-Webhook-Token"} {
		t.Run(tokenHeader, func(t *testing.T) {
			p := &recordingPublisher{}
			h := dlqHandler(t, p, func(c *inbound.Config) {
				c.TokenHeader, c.Token, c.PreviousToken = tokenHeader, token, prevToken
				c.SignatureSecrets = []string{sigSecret}
				c.PathSecret = pathSecret
			})
			mux := http.NewServeMux()
			h.Register(mux, "/webhook")
			rec := postTo(mux, "/webhook/"+pathSecret, body, map[string]string{
				tokenHeader:                  token,
				inbound.Header360Signature:   sig,
				inbound.HeaderHubSignature:   "sha256=" + sig,
				"Authorization":              "Bearer abc.def.ghi",
				"Proxy-Authorization":        "Basic aHVudGVyMg==",
				"Cookie":                     "sid=s3ss10n",
				"X-Api-Key":                  "pk-live-1234",
				"X-Client-Secret":            "hunter2",
				"User-Agent":                 "360dialog-webhooks/1.0",
				"X-Request-Id":               "req-42",
				"Content-Type":               "application/json",
				"X-Forwarded-For":            "203.0.113.7",
				"X-360dialog-Partner-Client": "client-1",
			})
			if rec.Code != http.StatusOK {
				t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
			}
			_, dead := published(t, p.all())
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dead))
			}
			for _, m := range p.all() {
				if m.Topic != "dlq" {
					continue
				}
				all := append(append([]byte(nil), m.Key...), m.Value...)
				for _, hd := range m.Headers {
					all = append(append(all, hd.Key...), hd.Value...)
				}
				for _, s := range secrets {
					if bytes.Contains(all, []byte(s)) {
						t.Errorf("dead-letter record holds the secret %q", s)
					}
				}
			}
			kept := map[string]string{}
			for _, hd := range dead[0]["headers"].([]any) {
				x := hd.(map[string]any)
				kept[x["key"].(string)] = string(x["value"].([]byte))
			}
			want := map[string]string{"User-Agent": "360dialog-webhooks/1.0", "X-Request-Id": "req-42", "Content-Type": "application/json",
				"X-Forwarded-For": "203.0.113.7", "X-360dialog-Partner-Client": "client-1"}
			for k, v := range want {
				if kept[k] != v {
					t.Errorf("header %s = %q, want %q kept (kept: %v)", k, kept[k], v, kept)
				}
			}
			if len(kept) != len(want) {
				t.Errorf("kept headers %v, want only %v", kept, want)
			}
		})
	}
}

func TestIsSecretHeader(t *testing.T) {
	for name, secret := range map[string]bool{
		"Authorization": true, "authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true,
		"X-Hub-Signature-256": true, "X-Hub-Signature": true, "x-360dialog-signature": true, "X-Webhook-Token": true,
		"D360-API-KEY": true, "X-Api-Key": true, "X-Auth-Token": true, "X-Client-Secret": true, "X-Session-Id": true,
		"User-Agent": false, "Content-Type": false, "X-Request-Id": false, "X-Forwarded-For": false, "Accept-Encoding": false,
	} {
		if got := inbound.IsSecretHeader(name); got != secret {
			t.Errorf("IsSecretHeader(%q) = %v, want %v", name, got, secret)
		}
	}
}

// A request with more failed parts than MaxDeadItems (without failing the
// whole body: webhook events without their topic) keeps MaxDeadItems
// failures and a last one counting the rest, in one dead letter.
func TestDeadLetterBoundsItsFailures(t *testing.T) {
	n := inbound.MaxDeadItems + 50
	var changes []string
	for range n {
		changes = append(changes, `{"field":"account_update","value":{"event":"x"}}`)
	}
	body := `{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[` + strings.Join(changes, ",") + `]}]}`
	p := &recordingPublisher{}
	h := dlqHandler(t, p, func(c *inbound.Config) { c.Topics.Events = "" })
	rec := post(h, body, nil)
	if rec.Code != http.StatusOK || rec.Header().Get(inbound.HeaderFailedParts) != strconv.Itoa(n) {
		t.Fatalf("HTTP %d, %s %q, want 200 and %d", rec.Code, inbound.HeaderFailedParts, rec.Header().Get(inbound.HeaderFailedParts), n)
	}
	_, dead := published(t, p.all())
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	f := dead[0]["failures"].([]any)
	if len(f) != inbound.MaxDeadItems+1 {
		t.Fatalf("%d failures, want %d", len(f), inbound.MaxDeadItems+1)
	}
	if last := f[inbound.MaxDeadItems].(map[string]any)["reason"]; last != "50 more parts not published" {
		t.Errorf("last failure %q", last)
	}
	if !strings.Contains(dead[0]["reason"].(string), "and 149 more parts") {
		t.Errorf("reason %q", dead[0]["reason"])
	}
}
