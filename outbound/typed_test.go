package outbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
	"github.com/wabridge/wabridge/schemas"
)

// typedEncoder encodes SendCommand records for f's command topic.
func typedEncoder(t *testing.T, f *fixture) func(native map[string]any) []byte {
	t.Helper()
	enc, err := schemas.Resolve(context.Background(), f.registry, f.commands, schemas.SendCommand, true)
	if err != nil {
		t.Fatal(err)
	}
	return func(native map[string]any) []byte {
		t.Helper()
		b, err := enc.Encode(native)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// A typed command (Avro SendCommand) is sent like its JSON form; a broken
// one is rejected with a reason and dead-lettered with its original bytes.
func TestWorkerSendsTypedAvroCommands(t *testing.T) {
	f := newFixture(t, nil)
	encode := typedEncoder(t, f)
	text := encode(map[string]any{
		"command_id": goavro.Union("string", "typed-text"), "to": goavro.Union("string", "4917000000001"),
		"type": goavro.Union("string", "text"),
		"text": goavro.Union("io.wabridge.commands.Text", map[string]any{"body": "typed hello", "preview_url": true}),
	})
	image := encode(map[string]any{
		"command_id": goavro.Union("string", "typed-image"), "to": goavro.Union("string", "4917000000002"),
		"type": goavro.Union("string", "image"), "content_json": goavro.Union("string", `{"link":"https://cdn.example.com/a.jpg","caption":"look"}`),
		"context_message_id": goavro.Union("string", "wamid.Q1"),
	})
	expired := encode(map[string]any{
		"command_id": goavro.Union("string", "typed-expired"), "to": goavro.Union("string", "4917000000003"),
		"type": goavro.Union("string", "text"), "text": goavro.Union("io.wabridge.commands.Text", map[string]any{"body": "code 1234", "preview_url": false}),
		"expires_at": goavro.Union("long.timestamp-millis", time.Now().Add(-time.Minute)),
	})
	twoContents := encode(map[string]any{
		"command_id": goavro.Union("string", "typed-bad"), "to": goavro.Union("string", "4917000000004"),
		"type": goavro.Union("string", "text"), "text": goavro.Union("io.wabridge.commands.Text", map[string]any{"body": "x", "preview_url": false}),
		"content_json": goavro.Union("string", `{"body":"y"}`),
	})
	kafkatest.Produce(t, f.brokers, f.commands,
		kafka.Message{Value: text}, kafka.Message{Value: image}, kafka.Message{Value: expired}, kafka.Message{Value: twoContents},
		kafka.Message{Value: []byte{0, 0, 0, 0, 99, 1, 2}, Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte("unknown-schema")}}},
	)
	f.startWith(t, func(c *outbound.Config) { c.CommandDecoder = f.decoder })
	res := f.readResults(t, 5)
	for id, want := range map[string]string{"typed-text": "accepted", "typed-image": "accepted", "typed-expired": "rejected", "typed-bad": "rejected", "unknown-schema": "rejected"} {
		if res[id]["outcome"] != want {
			t.Errorf("%s: %v %v, want %s", id, res[id]["outcome"], res[id]["error"], want)
		}
	}
	bodies := map[string]map[string]any{}
	for _, r := range f.api.Requests() {
		var b map[string]any
		json.Unmarshal(r.Body, &b)
		bodies[b["type"].(string)] = b
	}
	if txt, _ := bodies["text"]["text"].(map[string]any); txt["body"] != "typed hello" || txt["preview_url"] != true || bodies["text"]["biz_opaque_callback_data"] != "typed-text" {
		t.Errorf("text body %v", bodies["text"])
	}
	if img, _ := bodies["image"]["image"].(map[string]any); img["caption"] != "look" || bodies["image"]["context"].(map[string]any)["message_id"] != "wamid.Q1" {
		t.Errorf("image body %v", bodies["image"])
	}
	if len(f.api.Requests()) != 2 {
		t.Errorf("API got %d sends, want 2", len(f.api.Requests()))
	}
}

// flakyRegistry fails the first n decodes as if the registry were down.
type flakyRegistry struct {
	outbound.CommandDecoder
	n atomic.Int32
}

func (f *flakyRegistry) Decode(ctx context.Context, b []byte) (map[string]any, int, error) {
	if f.n.Add(-1) >= 0 {
		return nil, 0, fmt.Errorf("fetching schema id 1: %w: connection refused", schemas.ErrRegistryUnavailable)
	}
	return f.CommandDecoder.Decode(ctx, b)
}

// A registry that cannot be reached says nothing about a typed command: it
// waits for the registry instead of being rejected as undecodable.
func TestWorkerTypedCommandWaitsForAnUnavailableRegistry(t *testing.T) {
	f := newFixture(t, nil)
	v := typedEncoder(t, f)(map[string]any{
		"command_id": goavro.Union("string", "typed-waits"), "to": goavro.Union("string", "4917000000009"),
		"type": goavro.Union("string", "text"), "text": goavro.Union("io.wabridge.commands.Text", map[string]any{"body": "later", "preview_url": false}),
	})
	kafkatest.Produce(t, f.brokers, f.commands, kafka.Message{Value: v})
	dec := &flakyRegistry{CommandDecoder: f.decoder}
	dec.n.Store(2)
	f.startWith(t, func(c *outbound.Config) { c.CommandDecoder = dec })
	res := f.readResults(t, 1)
	if got := res["typed-waits"]["outcome"]; got != "accepted" {
		t.Errorf("outcome %v (%v), want accepted once the registry answers", got, res["typed-waits"]["error"])
	}
	if dec.n.Load() > -1 {
		t.Errorf("decoder asked %d times, want 3 (two failures, then the answer)", 2-dec.n.Load())
	}
}

// A typed command's business_number picks the API key it is sent with, as
// the business-number header of a JSON command does.
func TestWorkerTypedCommandSendsFromItsBusinessNumber(t *testing.T) {
	f := newFixture(t, nil)
	value := typedEncoder(t, f)(map[string]any{
		"command_id": goavro.Union("string", "typed-number"), "to": goavro.Union("string", "4917000000005"),
		"type": goavro.Union("string", "text"), "business_number": goavro.Union("string", "222"),
		"text": goavro.Union("io.wabridge.commands.Text", map[string]any{"body": "from 222", "preview_url": false}),
	})
	kafkatest.Produce(t, f.brokers, f.commands, kafka.Message{Value: value})
	client, err := d360.New(d360.Config{BaseURL: f.apiURL, APIKey: "test-key"})
	if err != nil {
		t.Fatal(err)
	}
	f.startWith(t, func(c *outbound.Config) {
		c.CommandDecoder = f.decoder
		c.Sender, c.Senders = nil, map[string]outbound.Sender{"222": client}
	})
	if r := f.readResults(t, 1)["typed-number"]; r["outcome"] != "accepted" {
		t.Errorf("typed-number: %v %v, want accepted (sent with number 222's key)", r["outcome"], r["error"])
	}
}

// A registry that refuses the credentials (401/403) is no outage: the typed
// command fails with its reason at once, and the JSON commands behind it are
// not held up.
func TestWorkerTypedCommandFailsWhenTheRegistryRefusesCredentials(t *testing.T) {
	f := newFixture(t, nil)
	v := typedEncoder(t, f)(map[string]any{
		"command_id": goavro.Union("string", "typed-refused"), "to": goavro.Union("string", "4917000000009"),
		"type": goavro.Union("string", "text"), "text": goavro.Union("io.wabridge.commands.Text", map[string]any{"body": "x", "preview_url": false}),
	})
	locked := srfake.New(srfake.WithAuth("Basic c29tZW9uZTplbHNl"))
	t.Cleanup(locked.Close)
	cl, err := sr.NewClient(sr.URLs(locked.URL()))
	if err != nil {
		t.Fatal(err)
	}
	msgs := []kafka.Message{{Key: []byte("k"), Value: v}}
	for i := range 5 {
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(fmt.Sprintf(`{"to":"4917000000010","type":"text","text":{"body":"json %d"}}`, i)),
			Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte(fmt.Sprintf("json-%d", i))}}})
	}
	kafkatest.Produce(t, f.brokers, f.commands, msgs...)
	f.startWith(t, func(c *outbound.Config) { c.CommandDecoder = schemas.NewDecoder(cl) })
	res := f.readResults(t, len(msgs))
	var typed map[string]any // its id is its position: it could not be decoded
	for id, r := range res {
		if !strings.HasPrefix(id, "json-") {
			typed = r
		}
	}
	if e, _ := union(typed["error"]).(map[string]any); typed["outcome"] != "failed" || e["reason"] != "schema_registry_refused" {
		t.Errorf("typed command: %v %v, want failed with reason schema_registry_refused", typed["outcome"], typed["error"])
	}
	for i := range 5 {
		if id := fmt.Sprintf("json-%d", i); res[id]["outcome"] != "accepted" {
			t.Errorf("%s: %v, want accepted", id, res[id]["outcome"])
		}
	}
}
