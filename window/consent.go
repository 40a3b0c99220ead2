package window

import (
	"maps"
	"time"
)

// OptIn is a user's answer to business-initiated messages.
type OptIn int8

const (
	// NotKnown: no record says.
	NotKnown OptIn = iota
	// OptedIn: the user agreed.
	OptedIn
	// OptedOut: the user asked not to get them.
	OptedOut
)

func (o OptIn) String() string {
	switch o {
	case OptedIn:
		return "opted_in"
	case OptedOut:
		return "opted_out"
	}
	return "unknown"
}

// Consent is a user's opt-in state for one business number.
type Consent struct {
	// General applies to every template category not in Categories.
	General OptIn
	// Categories overrides General per category family (see Family): true
	// opted in, false opted out. Nil when there are none.
	Categories map[string]bool
	// Source of the last change (kept by LoadConsents; a Store does not keep
	// it in memory).
	Source string
	// At is when the user decided (whole seconds in a Store).
	At time.Time
}

// Known says whether any record exists.
func (c Consent) Known() bool { return c.General != NotKnown || len(c.Categories) > 0 }

// For returns the answer for templates of category (any spelling; see
// Family); an empty category gets General.
func (c Consent) For(category string) OptIn {
	if category != "" {
		if ok, found := c.Categories[Family(category)]; found {
			if ok {
				return OptedIn
			}
			return OptedOut
		}
	}
	return c.General
}

// Value is the record that stores c.
func (c Consent) Value() ConsentValue {
	v := ConsentValue{Source: c.Source}
	switch c.General {
	case OptedIn:
		t := true
		v.OptedIn = &t
	case OptedOut:
		f := false
		v.OptedIn = &f
	}
	if len(c.Categories) > 0 {
		v.Categories = maps.Clone(c.Categories)
	}
	if !c.At.IsZero() {
		v.At = c.At.UnixMilli()
	}
	return v
}

// Action is a change of consent.
type Action int8

const (
	// NoAction changes nothing.
	NoAction Action = iota
	// OptInAll: the user opted in to everything (a START keyword, a sign-up
	// form); per-category opt-outs are cleared.
	OptInAll
	// OptOutAll: the user opted out of everything (a STOP keyword);
	// per-category opt-ins are cleared.
	OptOutAll
	// StopCategory: the user opted out of one category only (Meta's
	// user_preferences "stop" of marketing messages); the rest stays.
	StopCategory
	// ResumeCategory: the user opted in to one category again (Meta's
	// "resume"); the rest stays.
	ResumeCategory
)

func (a Action) String() string {
	switch a {
	case OptInAll:
		return "opt_in"
	case OptOutAll:
		return "opt_out"
	case StopCategory:
		return "stop_category"
	case ResumeCategory:
		return "resume_category"
	}
	return "none"
}

// Change is one consent change of a user.
type Change struct {
	Action Action
	// Category of StopCategory and ResumeCategory, e.g. "marketing".
	Category string
	// Source, e.g. "keyword:STOP", "user_preferences", "cli", "web-form".
	Source string
	// At is when the user decided; zero means now.
	At time.Time
}

// Apply returns c changed by ch.
func (c Consent) Apply(ch Change) Consent {
	out := Consent{General: c.General, Categories: maps.Clone(c.Categories), Source: ch.Source, At: ch.At}
	switch ch.Action {
	case OptInAll:
		out.General, out.Categories = OptedIn, nil
	case OptOutAll:
		out.General, out.Categories = OptedOut, nil
	case StopCategory, ResumeCategory:
		f := Family(ch.Category)
		if f == "" {
			return c
		}
		if out.Categories == nil {
			out.Categories = map[string]bool{}
		}
		out.Categories[f] = ch.Action == ResumeCategory
	default:
		return c
	}
	return out
}

// UserPreference maps a user_preferences webhook item (Cloud API webhooks,
// https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components:
// category "marketing_messages", value "stop" / "resume" / "signup")
// to a change: stop → StopCategory marketing; resume and signup →
// ResumeCategory marketing. Anything else is NoAction.
func UserPreference(category, value string) Change {
	if Family(category) != "marketing" {
		return Change{}
	}
	switch value {
	case "stop":
		return Change{Action: StopCategory, Category: "marketing", Source: "user_preferences:stop"}
	case "resume", "signup":
		return Change{Action: ResumeCategory, Category: "marketing", Source: "user_preferences:" + value}
	}
	return Change{}
}

// packedConsent is a Consent in memory, in 8 bytes:
//
//	bits 0–30   at, seconds since epoch2020
//	bits 32–33  General
//	bits 34–35  marketing override: 0 none, 1 opted in, 2 opted out
//	bit  36     more categories in Store.otherCats
type packedConsent uint64

const otherCatsBit = packedConsent(1) << 36

func packConsent(c Consent) (packedConsent, map[string]bool) {
	p := packedConsent(packSec(c.At.UnixMilli())) | packedConsent(c.General)<<32
	if c.At.IsZero() {
		p = packedConsent(c.General) << 32
	}
	var other map[string]bool
	for f, ok := range c.Categories {
		if f == "marketing" {
			m := packedConsent(2)
			if ok {
				m = 1
			}
			p |= m << 34
			continue
		}
		if other == nil {
			other = map[string]bool{}
		}
		other[f] = ok
	}
	if other != nil {
		p |= otherCatsBit
	}
	return p, other
}

func (p packedConsent) unpack(other map[string]bool) Consent {
	c := Consent{General: OptIn(p >> 32 & 3), At: unpackSec(entry(p & secMask))}
	if m := p >> 34 & 3; m != 0 || len(other) > 0 {
		c.Categories = maps.Clone(other)
		if c.Categories == nil {
			c.Categories = map[string]bool{}
		}
		if m != 0 {
			c.Categories["marketing"] = m == 1
		}
	}
	return c
}
