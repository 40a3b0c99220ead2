// Package schemas holds the Avro contracts of the events wabridge writes and
// the Confluent wire format they travel in (magic byte 0, 4-byte schema id,
// Avro binary), with schema ids taken from a schema registry under the
// topic-name strategy ("<topic>-value").
package schemas

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

//go:embed *.avsc
var files embed.FS

// Kind names one kind of event. It travels in the "event-kind" record header.
type Kind string

// The event kinds wabridge writes.
const (
	InboundMessage Kind = "inbound_message"
	MessageStatus  Kind = "message_status"
	SendResult     Kind = "send_result"
	// WebhookEvent is every webhook item that is neither a message nor a
	// status: change-level errors, user preferences, template status
	// updates and change fields wabridge does not know.
	WebhookEvent Kind = "webhook_event"
	// SendCommand is the typed alternative to a JSON command body.
	SendCommand Kind = "send_command"
	// DeadLetter wraps what could not be sent or mapped, with the reason.
	DeadLetter Kind = "dead_letter"
)

var kindFiles = map[Kind]string{
	InboundMessage: "inbound_message.avsc",
	MessageStatus:  "message_status.avsc",
	SendResult:     "send_result.avsc",
	WebhookEvent:   "webhook_event.avsc",
	SendCommand:    "send_command.avsc",
	DeadLetter:     "dead_letter.avsc",
}

// Schema is one embedded Avro schema with its compiled codec.
// A Codec is safe for concurrent use.
type Schema struct {
	Kind  Kind
	Text  string
	Codec *goavro.Codec
}

var compiled = sync.OnceValues(func() (map[Kind]Schema, error) {
	out := make(map[Kind]Schema, len(kindFiles))
	for kind, name := range kindFiles {
		text, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading schema %s: %w", name, err)
		}
		codec, err := goavro.NewCodec(string(text))
		if err != nil {
			return nil, fmt.Errorf("compiling schema %s: %w", name, err)
		}
		out[kind] = Schema{Kind: kind, Text: string(text), Codec: codec}
	}
	return out, nil
})

// Lookup returns the compiled schema of kind.
func Lookup(kind Kind) (Schema, error) {
	all, err := compiled()
	if err != nil {
		return Schema{}, err
	}
	s, ok := all[kind]
	if !ok {
		return Schema{}, fmt.Errorf("no schema for event kind %q", kind)
	}
	return s, nil
}

// All returns every schema, ordered by kind.
func All() ([]Schema, error) {
	all, err := compiled()
	if err != nil {
		return nil, err
	}
	out := make([]Schema, 0, len(all))
	for _, s := range all {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out, nil
}

// Subject is the registry subject of a topic's values (topic-name strategy).
func Subject(topic string) string { return topic + "-value" }

// Encoder turns native Avro values (goavro's map form) into Confluent-framed
// bytes for one registered schema.
type Encoder struct {
	Kind  Kind
	ID    int
	codec *goavro.Codec
}

var confluent sr.ConfluentHeader

// Encode encodes native and prefixes the Confluent header.
func (e *Encoder) Encode(native map[string]any) ([]byte, error) {
	b, err := confluent.AppendEncode(make([]byte, 0, 512), e.ID, nil)
	if err != nil {
		return nil, err
	}
	b, err = e.codec.BinaryFromNative(b, native)
	if err != nil {
		return nil, fmt.Errorf("encoding %s event: %w", e.Kind, err)
	}
	return b, nil
}

// Resolve finds the schema id of kind under the subject of topic: it
// registers the schema when autoRegister is set (a no-op when already
// registered), else looks it up and fails when a platform team has not
// registered it.
func Resolve(ctx context.Context, client *sr.Client, topic string, kind Kind, autoRegister bool) (*Encoder, error) {
	s, err := Lookup(kind)
	if err != nil {
		return nil, err
	}
	subject := Subject(topic)
	schema := sr.Schema{Schema: s.Text, Type: sr.TypeAvro}
	var ss sr.SubjectSchema
	if autoRegister {
		ss, err = client.CreateSchema(ctx, subject, schema)
		if err != nil {
			return nil, fmt.Errorf("registering %s schema under subject %q: %w", kind, subject, err)
		}
	} else {
		ss, err = client.LookupSchema(ctx, subject, schema)
		if err != nil {
			return nil, fmt.Errorf("looking up %s schema under subject %q (auto-register is off, so it must be registered already): %w", kind, subject, err)
		}
	}
	return &Encoder{Kind: kind, ID: ss.ID, codec: s.Codec}, nil
}

// Decoder decodes Confluent-framed Avro values, fetching writer schemas from
// the registry by id and caching them.
type Decoder struct {
	client *sr.Client
	mu     sync.Mutex
	codecs map[int]*goavro.Codec
}

// NewDecoder returns a Decoder that reads schemas through client.
func NewDecoder(client *sr.Client) *Decoder {
	return &Decoder{client: client, codecs: make(map[int]*goavro.Codec)}
}

// ErrNotConfluent is returned for values without the Confluent header.
var ErrNotConfluent = errors.New("value is not in Confluent Avro framing")

// ErrRegistryUnavailable: the schema registry could not be asked for a
// schema (unreachable, 5xx, refused credentials, a 404 that is not the
// registry's own, e.g. from a proxy in front of it), so nothing is known yet
// about the value; unlike a schema id the registry does not have.
var ErrRegistryUnavailable = errors.New("schema registry unavailable")

// errSchemaNotFound is the registry's error_code for a schema id it does
// not have (Confluent's REST API; HTTP 404).
const errSchemaNotFound = 40403

// Decode returns the native form of b and the schema id it was written with.
func (d *Decoder) Decode(ctx context.Context, b []byte) (map[string]any, int, error) {
	id, rest, err := confluent.DecodeID(b)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrNotConfluent, err)
	}
	codec, err := d.codec(ctx, id)
	if err != nil {
		return nil, id, err
	}
	native, _, err := codec.NativeFromBinary(rest)
	if err != nil {
		return nil, id, fmt.Errorf("decoding value with schema id %d: %w", id, err)
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, id, fmt.Errorf("schema id %d is not a record schema", id)
	}
	return m, id, nil
}

// JSON returns the Avro JSON encoding of b's value (unions tagged by type).
func (d *Decoder) JSON(ctx context.Context, b []byte) ([]byte, error) {
	id, rest, err := confluent.DecodeID(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotConfluent, err)
	}
	codec, err := d.codec(ctx, id)
	if err != nil {
		return nil, err
	}
	native, _, err := codec.NativeFromBinary(rest)
	if err != nil {
		return nil, fmt.Errorf("decoding value with schema id %d: %w", id, err)
	}
	return codec.TextualFromNative(nil, native)
}

// Schema returns the JSON text of the writer schema with id, as the
// registry holds it (fields in their declared order).
func (d *Decoder) Schema(ctx context.Context, id int) (string, error) {
	c, err := d.codec(ctx, id)
	if err != nil {
		return "", err
	}
	return c.Schema(), nil
}

func (d *Decoder) codec(ctx context.Context, id int) (*goavro.Codec, error) {
	d.mu.Lock()
	c, ok := d.codecs[id]
	d.mu.Unlock()
	if ok {
		return c, nil
	}
	s, err := d.client.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == errSchemaNotFound {
			return nil, fmt.Errorf("schema id %d is not registered: %w", id, err)
		}
		return nil, fmt.Errorf("fetching schema id %d: %w: %w", id, ErrRegistryUnavailable, err)
	}
	c, err = goavro.NewCodec(s.Schema)
	if err != nil {
		return nil, fmt.Errorf("compiling schema id %d: %w", id, err)
	}
	d.mu.Lock()
	d.codecs[id] = c
	d.mu.Unlock()
	return c, nil
}

// Optional wraps v as the non-null branch of a ["null", T] union, or returns
// nil when v is the zero value of a string or a nil pointer.
func Optional(avroType string, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
	case *string:
		if x == nil {
			return nil
		}
		v = *x
	case *int:
		if x == nil {
			return nil
		}
		v = int32(*x)
	case *bool:
		if x == nil {
			return nil
		}
		v = *x
	}
	return goavro.Union(avroType, v)
}
