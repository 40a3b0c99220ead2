package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/wabridge/wabridge/schemas"
)

// Schema renders values of one Avro schema.
type Schema struct {
	root  any
	named map[string]any // full name → definition
}

// NewSchema parses the JSON text of an Avro schema
// (https://avro.apache.org/docs/1.11.1/specification/#schema-declaration).
func NewSchema(text string) (*Schema, error) {
	s := &Schema{named: map[string]any{}}
	if err := json.Unmarshal([]byte(text), &s.root); err != nil {
		return nil, fmt.Errorf("avro schema: %w", err)
	}
	s.collect(s.root, "")
	return s, nil
}

// collect registers every named type (record, enum, fixed) by its full name,
// so a reference by name resolves wherever the definition sits.
func (s *Schema) collect(node any, ns string) {
	switch x := node.(type) {
	case []any:
		for _, b := range x {
			s.collect(b, ns)
		}
	case map[string]any:
		typ, _ := x["type"].(string)
		switch typ {
		case "record", "error", "enum", "fixed":
			full := fullName(x, ns)
			s.named[full] = x
			if i := strings.LastIndexByte(full, '.'); i >= 0 {
				ns = full[:i]
			}
			fields, _ := x["fields"].([]any)
			for _, f := range fields {
				if fm, ok := f.(map[string]any); ok {
					s.collect(fm["type"], ns)
				}
			}
		case "array":
			s.collect(x["items"], ns)
		case "map":
			s.collect(x["values"], ns)
		default:
			if _, nested := x["type"].(string); !nested {
				s.collect(x["type"], ns)
			}
		}
	}
}

func fullName(def map[string]any, ns string) string {
	name, _ := def["name"].(string)
	if strings.Contains(name, ".") {
		return name
	}
	if n, ok := def["namespace"].(string); ok {
		ns = n
	}
	if ns == "" {
		return name
	}
	return ns + "." + name
}

// Value renders native, a value in goavro's native form
// (https://pkg.go.dev/github.com/linkedin/goavro/v2#readme-translating-from-avro-to-go-data):
// records become Objects in schema order, unions their branch's value,
// timestamps ISO 8601 strings.
func (s *Schema) Value(native any) any { return s.value(s.root, "", native) }

func (s *Schema) value(node any, ns string, v any) any {
	switch x := node.(type) {
	case string:
		if def, ok := s.resolve(x, ns); ok {
			return s.value(def, ns, v)
		}
		return Plain(v)
	case []any: // a union: goavro gives nil or {"branch name": value}
		m, ok := v.(map[string]any)
		if v == nil || !ok || len(m) != 1 {
			return Plain(v)
		}
		for name, inner := range m {
			for _, b := range x {
				if s.branchName(b, ns) == name {
					return s.value(b, ns, inner)
				}
			}
			return Plain(inner)
		}
	case map[string]any:
		typ, _ := x["type"].(string)
		switch typ {
		case "record", "error":
			m, ok := v.(map[string]any)
			if !ok {
				return Plain(v)
			}
			full := fullName(x, ns)
			if i := strings.LastIndexByte(full, '.'); i >= 0 {
				ns = full[:i]
			}
			fields, _ := x["fields"].([]any)
			o := make(Object, 0, len(fields))
			for _, f := range fields {
				fm, _ := f.(map[string]any)
				name, _ := fm["name"].(string)
				o = append(o, Field{name, s.value(fm["type"], ns, m[name])})
			}
			return o
		case "array":
			a, ok := v.([]any)
			if !ok {
				return Plain(v)
			}
			out := make([]any, len(a))
			for i, e := range a {
				out[i] = s.value(x["items"], ns, e)
			}
			return out
		case "map":
			m, ok := v.(map[string]any)
			if !ok {
				return Plain(v)
			}
			rendered := make(map[string]any, len(m))
			for k, e := range m {
				rendered[k] = s.value(x["values"], ns, e)
			}
			return Plain(rendered)
		case "":
			return s.value(x["type"], ns, v)
		}
	}
	return Plain(v)
}

func (s *Schema) resolve(name, ns string) (any, bool) {
	if def, ok := s.named[name]; ok {
		return def, true
	}
	def, ok := s.named[ns+"."+name]
	return def, ok
}

// branchName is the name goavro gives a union branch: the primitive's name,
// "array", "map", a named type's full name, or type.logicalType.
func (s *Schema) branchName(b any, ns string) string {
	switch x := b.(type) {
	case string:
		if _, ok := s.resolve(x, ns); ok && !strings.Contains(x, ".") && ns != "" {
			return ns + "." + x
		}
		return x
	case map[string]any:
		typ, _ := x["type"].(string)
		switch typ {
		case "record", "error", "enum", "fixed":
			return fullName(x, ns)
		}
		if lt, ok := x["logicalType"].(string); ok {
			return typ + "." + lt
		}
		return typ
	}
	return ""
}

// Decoder renders Confluent-framed Avro values, reading writer schemas
// through a schemas.Decoder and keeping each parsed one.
type Decoder struct {
	dec     *schemas.Decoder
	mu      sync.Mutex
	schemas map[int]*Schema
}

// NewDecoder returns a Decoder reading through dec.
func NewDecoder(dec *schemas.Decoder) *Decoder {
	return &Decoder{dec: dec, schemas: map[int]*Schema{}}
}

// Value decodes b and renders it.
func (d *Decoder) Value(ctx context.Context, b []byte) (any, error) {
	native, id, err := d.dec.Decode(ctx, b)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	s, ok := d.schemas[id]
	d.mu.Unlock()
	if !ok {
		text, err := d.dec.Schema(ctx, id)
		if err != nil {
			return nil, err
		}
		if s, err = NewSchema(text); err != nil {
			return nil, fmt.Errorf("schema id %d: %w", id, err)
		}
		d.mu.Lock()
		d.schemas[id] = s
		d.mu.Unlock()
	}
	return s.Value(native), nil
}

// RecordValue renders a Kafka record's value: Avro through the registry
// when it is Confluent-framed, JSON as read, else nil with ok false (the
// caller prints it as text). A framed value that cannot be decoded returns
// the error.
func (d *Decoder) RecordValue(ctx context.Context, b []byte) (v any, ok bool, err error) {
	v, err = d.Value(ctx, b)
	if err == nil {
		return v, true, nil
	}
	if j, jerr := JSON(b); jerr == nil {
		return j, true, nil
	}
	if errors.Is(err, schemas.ErrNotConfluent) {
		return nil, false, nil
	}
	return nil, false, err
}
