package inbound

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wabridge/wabridge/internal/jsonscan"
)

// scanJSON checks data in one pass: that it is one valid JSON value (what
// json.Valid accepts, including its nesting limit; FuzzScanJSON compares
// the two), the first object key that repeats within its object, and where
// every object and array ends, so that walking the document later (doc)
// never scans a value twice.
//
// Keys are compared after unescaping and under Unicode simple case folding,
// which is how encoding/json matches keys to struct fields:
// {"id":"a","ID":"b"} is a duplicate for it. The comparison is linear in the
// number of keys, also for objects with many of them.
func scanJSON(data []byte) (d *doc, valid bool) {
	n := len(data)/48 + 8 // about one container per 48 bytes in webhooks
	s := scanner{data: data, keys: make([][]byte, 0, 32), doc: &doc{body: data, opens: make([]int32, 0, n), ends: make([]int32, 0, n)}}
	s.skipSpace()
	s.value()
	s.skipSpace()
	if s.bad || s.pos != len(data) {
		return nil, false
	}
	return s.doc, true
}

// maxDepth is encoding/json's limit on nested objects and arrays.
const maxDepth = 10000

// smallObject is the number of keys up to which an object's keys are
// compared pairwise; larger objects use a set of folded keys.
const smallObject = 16

type scanner struct {
	data  []byte
	pos   int
	depth int
	bad   bool
	keys  [][]byte // keys of the open objects, innermost last
	doc   *doc
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
}

func (s *scanner) fail() { s.bad = true }

func (s *scanner) value() {
	if s.bad || s.pos >= len(s.data) {
		s.fail()
		return
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		s.object()
	case c == '[':
		s.array()
	case c == '"':
		s.str()
	case c == '-' || '0' <= c && c <= '9':
		s.number()
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	default:
		s.fail()
	}
}

func (s *scanner) literal(lit string) {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		s.fail()
		return
	}
	s.pos += len(lit)
}

func (s *scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

func (s *scanner) number() {
	if s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case s.digits() == 0:
		s.fail()
		return
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			s.fail()
			return
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			s.fail()
		}
	}
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// str scans the string at s.pos and returns its raw contents (between the
// quotes) and whether it holds escapes.
func (s *scanner) str() (raw []byte, escaped bool) {
	start := s.pos + 1
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.pos = i + 1
			return s.data[start:i], escaped
		case c == '\\':
			escaped = true
			i++
			if i >= len(s.data) {
				s.fail()
				return nil, false
			}
			switch s.data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.data) || !isHex(s.data[i+1]) || !isHex(s.data[i+2]) || !isHex(s.data[i+3]) || !isHex(s.data[i+4]) {
					s.fail()
					return nil, false
				}
				i += 4
			default:
				s.fail()
				return nil, false
			}
		case c < 0x20:
			s.fail()
			return nil, false
		}
	}
	s.fail()
	return nil, false
}

// open records a container starting at s.pos; close records its end.
func (s *scanner) open() (slot int) {
	s.depth++
	if s.depth > maxDepth {
		s.fail()
	}
	s.doc.opens = append(s.doc.opens, int32(s.pos))
	s.doc.ends = append(s.doc.ends, 0)
	s.pos++
	return len(s.doc.ends) - 1
}

func (s *scanner) close(slot int) {
	s.depth--
	s.pos++
	s.doc.ends[slot] = int32(s.pos)
}

func (s *scanner) array() {
	slot := s.open()
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.close(slot)
		return
	}
	for !s.bad {
		s.value()
		if !s.more(slot, ']') {
			return
		}
	}
}

// more reads what follows a member or element of the container in slot:
// a comma (true), or its closing byte, which closes it (false).
func (s *scanner) more(slot int, closing byte) bool {
	s.skipSpace()
	if s.pos >= len(s.data) {
		s.fail()
		return false
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		s.skipSpace()
		return true
	case closing:
		s.close(slot)
		return false
	}
	s.fail()
	return false
}

func (s *scanner) object() {
	slot := s.open()
	first := len(s.keys)
	defer func() { s.keys = s.keys[:first] }()
	var set map[string]struct{}
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.close(slot)
		return
	}
	for !s.bad {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			s.fail()
			return
		}
		at := s.pos
		key, escaped := s.str()
		if s.bad {
			return
		}
		if !s.doc.dup {
			if escaped {
				var k string
				if json.Unmarshal(s.data[at:s.pos], &k) == nil {
					key = []byte(k)
				}
			}
			open := s.keys[first:]
			if set == nil && len(open) >= smallObject {
				set = make(map[string]struct{}, 2*smallObject)
				for _, k := range open {
					set[foldKey(k)] = struct{}{}
				}
			}
			dup := false
			if set != nil {
				f := foldKey(key)
				_, dup = set[f]
				set[f] = struct{}{}
			} else {
				for _, k := range open {
					if bytes.EqualFold(k, key) {
						dup = true
						break
					}
				}
			}
			if dup {
				s.doc.dup, s.doc.dupKey, s.doc.dupAt = true, string(key), at
			} else {
				s.keys = append(s.keys, key)
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			s.fail()
			return
		}
		s.pos++
		s.skipSpace()
		s.value()
		if !s.more(slot, '}') {
			return
		}
	}
}

// foldKey maps key to one representative of its case-folding class, so
// that keys equal under bytes.EqualFold map to the same string.
func foldKey(key []byte) string {
	var b strings.Builder
	b.Grow(len(key))
	for len(key) > 0 {
		r, n := utf8.DecodeRune(key)
		key = key[n:]
		// The smallest rune of r's folding orbit.
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}

// doc is a scanned JSON document: where its containers end, and its first
// duplicate key.
type doc struct {
	body        []byte
	opens, ends []int32 // containers in order of their opening bracket
	dup         bool
	dupKey      string
	dupAt       int
}

// end returns the index just past the value that starts at data[i], where
// data is a subslice of d.body (or any JSON, when d is nil).
func (d *doc) end(data []byte, i int) int {
	if c := data[i]; d != nil && (c == '{' || c == '[') {
		off := cap(d.body) - cap(data) // data is d.body[off:...]
		at := int32(off + i)
		if k := sort.Search(len(d.opens), func(k int) bool { return d.opens[k] >= at }); k < len(d.opens) && d.opens[k] == at {
			return int(d.ends[k]) - off
		}
	}
	return jsonscan.ValueEnd(data, i)
}

// members calls fn with the (unescaped) key and the value span of each
// member of the object obj, in order, until fn returns false.
func (d *doc) members(obj []byte, fn func(key, val []byte) bool) {
	i := jsonscan.SkipSpace(obj, 1)
	for i < len(obj) && obj[i] != '}' {
		if obj[i] == ',' {
			i = jsonscan.SkipSpace(obj, i+1)
			continue
		}
		kEnd := jsonscan.ValueEnd(obj, i)
		key := obj[i+1 : kEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(unquote(obj[i:kEnd]))
		}
		i = jsonscan.SkipSpace(obj, kEnd)
		i = jsonscan.SkipSpace(obj, i+1) // ':'
		vEnd := d.end(obj, i)
		if !fn(key, obj[i:vEnd]) {
			return
		}
		i = jsonscan.SkipSpace(obj, vEnd)
	}
}

// elements returns the value spans of the array arr.
func (d *doc) elements(arr []byte) [][]byte {
	var out [][]byte
	i := jsonscan.SkipSpace(arr, 1)
	for i < len(arr) && arr[i] != ']' {
		if arr[i] == ',' {
			i = jsonscan.SkipSpace(arr, i+1)
			continue
		}
		end := d.end(arr, i)
		out = append(out, arr[i:end])
		i = jsonscan.SkipSpace(arr, end)
	}
	return out
}
