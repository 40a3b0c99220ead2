// Package campaign sends a template to many recipients: how template
// parameters are named on a command line or in a mapping (slots), how a
// row of a CSV or JSONL contact list becomes a send command (the plan), the
// two passes over the file (validate, then produce), the progress file that
// makes a campaign safe to run again, and the summary of its results.
// `wabridge send --template` uses the slots for its one recipient.
package campaign

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
)

// Slot names where a template parameter goes: body.1, body.first_name,
// header, button.0, each optionally with :TYPE.
type Slot struct {
	comp  string // header, body, button
	pos   int    // positional body/header parameter (from 1); button index (from 0)
	name  string // parameter_name of a named parameter
	typ   string // explicit parameter type; "" to derive
	raw   string
	given bool // pos or name was written
}

var slotRE = regexp.MustCompile(`^(body|header|button)(?:\.([a-z0-9_]+))?(?::([a-z_]+))?$`)

// ParseSlot parses a slot; ok is false when s does not look like one.
func ParseSlot(s string) (Slot, bool, error) {
	m := slotRE.FindStringSubmatch(s)
	if m == nil {
		return Slot{}, false, nil
	}
	sl := Slot{comp: m[1], typ: m[3], raw: s}
	if sl.typ != "" && !slices.Contains(d360.ParameterTypes, sl.typ) {
		return sl, true, fmt.Errorf("%s: unknown parameter type %q; want one of %s", s, sl.typ, strings.Join(d360.ParameterTypes, ", "))
	}
	if m[2] != "" {
		sl.given = true
		if n, err := strconv.Atoi(m[2]); err == nil {
			sl.pos = n
		} else {
			sl.name = m[2]
		}
	}
	switch {
	case sl.comp == "button" && (!sl.given || sl.name != ""):
		return sl, true, fmt.Errorf("%s: a button slot needs the button's index, e.g. button.0", s)
	case sl.comp == "button" && sl.pos > 9:
		return sl, true, fmt.Errorf("%s: button index is 0 to 9", s)
	case sl.comp != "button" && sl.given && sl.name == "" && sl.pos < 1:
		return sl, true, fmt.Errorf("%s: parameters are numbered from 1", s)
	case sl.comp == "header" && sl.pos > 1:
		return sl, true, fmt.Errorf("%s: a header takes at most 1 parameter", s)
	case sl.name != "" && len(sl.name) > 20:
		return sl, true, fmt.Errorf("%s: a parameter name has at most 20 characters", s)
	}
	if sl.comp == "header" && !sl.given {
		sl.pos = 1
	}
	return sl, true, nil
}

// ParseSendParams reads send's --param values: "VALUE" fills the next body
// parameter, "SLOT=VALUE" the slot.
func ParseSendParams(params []string, spec *d360.TemplateParams) (*Shape, []string, error) {
	var slots []Slot
	var values []string
	next := 1
	for _, p := range params {
		if k, v, ok := strings.Cut(p, "="); ok {
			sl, isSlot, err := ParseSlot(k)
			if err != nil {
				return nil, nil, fmt.Errorf("--param %s", err)
			}
			if isSlot {
				if sl.comp == "body" && !sl.given {
					sl.pos, sl.given = next, true
				}
				if sl.comp == "body" && sl.pos >= next {
					next = sl.pos + 1
				}
				slots, values = append(slots, sl), append(values, v)
				continue
			}
		}
		slots = append(slots, Slot{comp: "body", pos: next, given: true, raw: fmt.Sprintf("body.%d", next)})
		values = append(values, p)
		next++
	}
	shape, err := NewShape(slots, spec)
	return shape, values, err
}

// Shape is the layout of a template send: which parameter goes
// where, with what type. Parameter i is filled with value(i).
type Shape struct {
	slots  []Slot
	header int   // index into slots, or -1
	body   []int // indexes, in send order
	// buttons: button index → slot index, ascending by button index
	buttons    [][2]int
	buttonSubs map[int]string
}

// NewShape checks slots against each other and, when spec is known,
// against the template, and resolves each parameter's type.
func NewShape(slots []Slot, spec *d360.TemplateParams) (*Shape, error) {
	s := &Shape{slots: slots, header: -1, buttonSubs: map[int]string{}}
	seen := map[string]bool{}
	named, positional := "", ""
	for i := range s.slots {
		sl := &s.slots[i]
		id := sl.comp + "." + sl.name + strconv.Itoa(sl.pos)
		if seen[id] {
			return nil, fmt.Errorf("%s is given twice", sl.raw)
		}
		seen[id] = true
		switch sl.comp {
		case "header":
			s.header = i
			if sl.typ == "" {
				sl.typ = "text"
				if spec != nil && spec.HeaderFormat != "" {
					sl.typ = strings.ToLower(spec.HeaderFormat)
				}
			}
			if !slices.Contains([]string{"text", "currency", "date_time", "image", "video", "document", "location"}, sl.typ) {
				return nil, fmt.Errorf("%s: a header parameter cannot be %s", sl.raw, sl.typ)
			}
		case "body":
			s.body = append(s.body, i)
			if sl.typ == "" {
				sl.typ = "text"
			}
			if !slices.Contains([]string{"text", "currency", "date_time"}, sl.typ) {
				return nil, fmt.Errorf("%s: a body parameter is text, currency or date_time, not %s", sl.raw, sl.typ)
			}
		case "button":
			sub := ""
			if spec != nil && sl.pos < len(spec.Buttons) {
				sub = spec.Buttons[sl.pos].SubType
			}
			switch sl.typ {
			case "":
				switch sub {
				case "url":
					sl.typ = "url"
				case "quick_reply":
					sl.typ = "payload"
				case "copy_code":
					sl.typ = "coupon_code"
				case "":
					return nil, fmt.Errorf("%s: say the button's parameter type (%s:url, :payload or :coupon_code), or set D360_API_KEY so the template catalogue tells it", sl.raw, sl.raw)
				default:
					return nil, fmt.Errorf("%s: the template's button %d is %s, which takes no parameter from here", sl.raw, sl.pos, sub)
				}
			case "url", "text":
				sl.typ, sub = "url", "url"
			case "payload":
				sub = "quick_reply"
			case "coupon_code":
				sub = "copy_code"
			default:
				return nil, fmt.Errorf("%s: a button parameter is url, payload or coupon_code, not %s", sl.raw, sl.typ)
			}
			if sub == "" {
				sub = map[string]string{"url": "url", "payload": "quick_reply", "coupon_code": "copy_code"}[sl.typ]
			}
			s.buttonSubs[sl.pos] = sub
			s.buttons = append(s.buttons, [2]int{sl.pos, i})
		}
		// Text-like header and body parameters are all named or all
		// positional; media and button parameters are neither.
		if sl.comp != "button" && slices.Contains([]string{"text", "currency", "date_time"}, sl.typ) {
			if sl.name != "" {
				named = sl.raw
			} else {
				positional = sl.raw
			}
		}
	}
	if named != "" && positional != "" {
		return nil, fmt.Errorf("%s is named and %s positional: a template's parameters are either named or positional", named, positional)
	}
	// Positional body parameters go out in order and must be 1..n.
	slices.SortStableFunc(s.body, func(a, b int) int { return s.slots[a].pos - s.slots[b].pos })
	if named == "" {
		for k, i := range s.body {
			if s.slots[i].pos != k+1 {
				return nil, fmt.Errorf("body parameters must be numbered 1 to %d without gaps; body.%d is missing", len(s.body), k+1)
			}
		}
	}
	slices.SortFunc(s.buttons, func(a, b [2]int) int { return a[0] - b[0] })
	if spec != nil {
		got := catalog.ParamCounts{Body: len(s.body), Buttons: map[int]int{}}
		if s.header >= 0 {
			got.Header, got.HeaderType = 1, s.slots[s.header].typ
		}
		for _, i := range append(append([]int{}, s.body...), s.header) {
			if i >= 0 && s.slots[i].name != "" {
				got.Names = append(got.Names, s.slots[i].name)
			}
		}
		for _, b := range s.buttons {
			got.Buttons[b[0]] = 1
		}
		if d := catalog.Mismatch(*spec, got); d != "" {
			return nil, errors.New(d)
		}
	}
	return s, nil
}

// Command renders the send command of a template message to to; slot i
// is filled with value(i).
func (s *Shape) Command(name, language, to string, value func(i int) string) ([]byte, error) {
	var comps []d360.Component
	param := func(i int) (d360.Parameter, error) {
		sl := s.slots[i]
		p, err := d360.NewParameter(sl.typ, sl.name, value(i))
		if err != nil {
			return p, fmt.Errorf("%s: %w", sl.raw, err)
		}
		return p, nil
	}
	if s.header >= 0 {
		p, err := param(s.header)
		if err != nil {
			return nil, err
		}
		comps = append(comps, d360.Component{Type: "header", Parameters: []d360.Parameter{p}})
	}
	if len(s.body) > 0 {
		c := d360.Component{Type: "body", Parameters: make([]d360.Parameter, 0, len(s.body))}
		for _, i := range s.body {
			p, err := param(i)
			if err != nil {
				return nil, err
			}
			c.Parameters = append(c.Parameters, p)
		}
		comps = append(comps, c)
	}
	for _, btn := range s.buttons {
		p, err := param(btn[1])
		if err != nil {
			return nil, err
		}
		comps = append(comps, d360.Component{Type: "button", SubType: s.buttonSubs[btn[0]], Index: strconv.Itoa(btn[0]), Parameters: []d360.Parameter{p}})
	}
	return d360.NewTemplateMessage(to, name, language, comps).Body()
}

// CheckValue checks value as slot i's value (a constant of a mapping).
func (s *Shape) CheckValue(i int, value string) error {
	_, err := d360.NewParameter(s.slots[i].typ, "", value)
	return err
}

// UsageError is an error in what the user asked for (a mapping that does
// not fit, a file that cannot be read as a contact list), as opposed to a
// failure while running.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageError(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}
