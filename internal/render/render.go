// Package render is the one JSON rendering of the wabridge tools: every tool
// that prints records or events (tail, send --wait, bulk --wait) prints them
// through it, so they agree on the shape:
//
//   - Avro unions are unwrapped: {"wa_id":"155..."} rather than the Avro
//     JSON encoding's {"wa_id":{"string":"155..."}}
//     (https://avro.apache.org/docs/1.11.1/specification/#json-encoding);
//   - record fields come in the order the schema declares them, other
//     objects keep the order they were read in;
//   - timestamps are ISO 8601 in UTC with milliseconds
//     (2026-03-01T09:00:00.000Z), not epoch milliseconds;
//   - one value per line, or indented with --pretty; --fields keeps the named
//     fields only.
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// TimeLayout is how times are printed: ISO 8601, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time formats t with TimeLayout in UTC.
func Time(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Field is one member of an Object.
type Field struct {
	Key   string
	Value any
}

// Object is a JSON object whose members keep their order.
type Object []Field

// Get returns the value of key.
func (o Object) Get(key string) (any, bool) {
	for _, f := range o {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// MarshalJSON writes the members in order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := encode(&b, f.Key); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := encode(&b, f.Value); err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Key, err)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// encode writes v as compact JSON without HTML escaping (a URL's & stays &).
func encode(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// Plain turns a decoded value into its rendered form: times become ISO 8601
// strings, maps become Objects sorted by key, byte slices become strings
// when they are UTF-8. Values already rendered pass through.
func Plain(v any) any {
	switch x := v.(type) {
	case time.Time:
		return Time(x)
	case *time.Time:
		if x == nil {
			return nil
		}
		return Time(*x)
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		o := make(Object, 0, len(x))
		for _, k := range keys {
			o = append(o, Field{k, Plain(x[k])})
		}
		return o
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return Plain(m)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Plain(e)
		}
		return out
	case Object:
		out := make(Object, len(x))
		for i, f := range x {
			out[i] = Field{f.Key, Plain(f.Value)}
		}
		return out
	}
	return v
}

// JSON reads a JSON document keeping the order of object members (as
// Objects); numbers stay json.Number so they print as they were written.
func JSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := readValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the value")
	}
	return v, nil
}

func readValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := Object{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			o = append(o, Field{k.(string), v})
		}
		_, err := dec.Token() // }
		return o, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token() // ]
		return a, err
	}
	return tok, nil
}

// Options says how a Printer prints.
type Options struct {
	// Pretty indents each value over several lines.
	Pretty bool
	// Fields keeps only these fields, in this order (see Select).
	Fields []string
}

// ParseFields reads a comma-separated list of field paths
// (event_id,status,error.reason).
func ParseFields(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") || strings.Contains(f, "..") {
			return nil, fmt.Errorf("field list %q: want names separated by commas, such as event_id,status,error.reason", s)
		}
		out = append(out, f)
	}
	return out, nil
}

// Printer writes JSON values to a writer, one per line.
type Printer struct {
	w   io.Writer
	opt Options
}

// NewPrinter returns a Printer writing to w.
func NewPrinter(w io.Writer, opt Options) *Printer { return &Printer{w: w, opt: opt} }

// Print writes v (after Plain, and Select when fields are set).
func (p *Printer) Print(v any) error {
	v = Plain(v)
	if len(p.opt.Fields) > 0 {
		v = Select(v, p.opt.Fields)
	}
	var b bytes.Buffer
	if err := encode(&b, v); err != nil {
		return err
	}
	if p.opt.Pretty {
		var out bytes.Buffer
		if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
			return err
		}
		b = out
	}
	b.WriteByte('\n')
	_, err := p.w.Write(b.Bytes())
	return err
}

// Select returns an Object with one member per path, named by the path: the
// value at the dotted path in v (error.reason), null when there is none. A
// path not found at the top of v is looked up in v's "value" member, so
// `tail --fields offset,status` reaches into the record's value.
func Select(v any, paths []string) Object {
	out := make(Object, 0, len(paths))
	for _, p := range paths {
		got, ok := lookup(v, p)
		if !ok {
			if inner, has := lookup(v, "value"); has {
				got, _ = lookup(inner, p)
			}
		}
		out = append(out, Field{p, got})
	}
	return out
}

func lookup(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(Object)
		if !ok {
			return nil, false
		}
		if v, ok = o.Get(k); !ok {
			return nil, false
		}
	}
	return v, true
}
