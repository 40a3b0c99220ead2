package schemas_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/wabridge/wabridge/schemas"
)

// resolvedDeadLetter reads data written with writerText through readerText.
func resolvedDeadLetter(t *testing.T, writerText, readerText string, data []byte) map[string]any {
	t.Helper()
	writer, err := avro.ParseWithCache(writerText, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := avro.ParseWithCache(readerText, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	compat := avro.NewSchemaCompatibility()
	if err := compat.Compatible(reader, writer); err != nil {
		t.Fatalf("reader cannot read the writer's data: %v", err)
	}
	resolved, err := compat.Resolve(reader, writer)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := avro.Unmarshal(resolved, data, &got); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return got
}

// The webhook fields of the dead letter (original_kind, failures) came with
// defaults: the current schema reads version 2's records with them empty,
// and version 2 reads a current webhook dead letter (a consumer not yet
// upgraded) with its original, reason and headers intact.
func TestDeadLetterEvolution(t *testing.T) {
	current, err := schemas.Lookup(schemas.DeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := os.ReadFile("testdata/v2/dead_letter.avsc")
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile("testdata/v2/dead_letter.bin")
	if err != nil {
		t.Fatal(err)
	}
	got := resolvedDeadLetter(t, string(v2), current.Text, old)
	if f, ok := got["failures"].([]any); !ok || len(f) != 0 {
		t.Errorf("failures of a v2 record = %#v, want the default []", got["failures"])
	}
	if got["original_kind"] != nil {
		t.Errorf("original_kind of a v2 record = %#v, want the default null", got["original_kind"])
	}

	body := []byte(`{"object":"whatsapp_business_account","entry":[null]}`)
	d := schemas.DeadLetterRecord{Source: "webhook", Reason: "entry[0] is null, want an object", At: time.UnixMilli(1760000000456).UTC(),
		ContentType: "application/json", Original: body, OriginalKind: schemas.OriginalRequestBody,
		Headers:  [][2][]byte{{[]byte("User-Agent"), []byte("360dialog")}},
		Failures: []schemas.Failure{{Path: "entry[0]", Reason: "entry[0] is null, want an object"}}}
	data, err := current.Codec.BinaryFromNative(nil, d.Native())
	if err != nil {
		t.Fatal(err)
	}
	back := resolvedDeadLetter(t, current.Text, string(v2), data)
	if !bytes.Equal(back["original"].([]byte), body) || back["reason"] != d.Reason || back["event_id"] != d.EventID() {
		t.Errorf("v2 reads the current dead letter as %v", back)
	}
	if h := back["headers"].([]any); len(h) != 1 {
		t.Errorf("v2 reads headers %v", h)
	}
}

func TestFailureString(t *testing.T) {
	for _, tc := range []struct {
		f    schemas.Failure
		want string
	}{
		{schemas.Failure{Reason: "invalid JSON: empty body"}, "invalid JSON: empty body"},
		{schemas.Failure{Path: "entry[1]", Reason: "entry[1] has no changes"}, "entry[1] has no changes"},
		{schemas.Failure{Path: "entry[0].changes[0].value.messages[3]", Reason: "message: no id"}, "entry[0].changes[0].value.messages[3]: message: no id"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}
