package schemas

import (
	"encoding/binary"
	"time"
)

// Avro's binary encoding of the types wabridge's hand-written encoders use
// (https://avro.apache.org/docs/1.11.1/specification/#binary-encoding):
// ints and longs are zig-zag varints, a string is its length and its
// bytes, a union the index of its branch and the branch's value.

// AppendLong appends an Avro int or long.
func AppendLong(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// AppendString appends an Avro string.
func AppendString(b []byte, s string) []byte {
	return append(binary.AppendVarint(b, int64(len(s))), s...)
}

// AppendOptString appends a ["null","string"] union: "" is null.
func AppendOptString(b []byte, s string) []byte {
	if s == "" {
		return binary.AppendVarint(b, 0)
	}
	return AppendString(binary.AppendVarint(b, 1), s)
}

// AppendOptInt appends a ["null","int"] union: nil is null.
func AppendOptInt(b []byte, p *int32) []byte {
	if p == nil {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(binary.AppendVarint(b, 1), int64(*p))
}

// AppendTimeMillis appends a timestamp-millis long, as goavro writes it.
func AppendTimeMillis(b []byte, t time.Time) []byte {
	return binary.AppendVarint(b, t.Unix()*1e3+int64(t.Nanosecond()/1e6))
}

// AppendBool appends an Avro boolean.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}
