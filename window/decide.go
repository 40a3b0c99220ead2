package window

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode says what a rule does with a message that breaks it.
type Mode string

const (
	// Enforce rejects the message without calling the API.
	Enforce Mode = "enforce"
	// Warn lets it go out and says why it would have been rejected.
	Warn Mode = "warn"
	// Off lets it go out.
	Off Mode = "off"
)

// ParseMode parses "enforce", "warn" or "off" (any case); empty gives def.
func ParseMode(s string, def Mode) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return def, nil
	case Enforce, Warn, Off:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want enforce, warn or off", s)
}

// Reasons of a rejection (the result event's error.reason).
const (
	// ReasonOutsideWindow: a free-form message to a user whose window is
	// closed or unknown.
	ReasonOutsideWindow = "outside_customer_service_window"
	// ReasonNoOptIn: a template to a user without a known opt-in, under
	// opt-in mode enforce.
	ReasonNoOptIn = "no_opt_in"
	// ReasonOptedOut: a template to a user who opted out of its category.
	// Marketing templates are rejected so in every mode.
	ReasonOptedOut = "opted_out"
)

// Command headers the outbound side reads for Check.
const (
	// HeaderWindowWait: how long a free-form command may wait for its window
	// to open before it is rejected (ParseWait).
	HeaderWindowWait = "window-wait"
	// HeaderTemplateCategory: the category of a template command (MARKETING,
	// UTILITY, AUTHENTICATION), until the template catalogue exists.
	HeaderTemplateCategory = "template-category"
)

// ParseWait parses a window-wait header: a Go duration ("5s", "1500ms") or
// a number of milliseconds ("1500"). Empty is 0.
func ParseWait(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(time.Hour/time.Millisecond) {
			return 0, fmt.Errorf("%s %q: want 0 to 3600000 ms", HeaderWindowWait, s)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > time.Hour {
		return 0, fmt.Errorf("%s %q: want a duration such as 5s (at most 1h) or milliseconds", HeaderWindowWait, s)
	}
	return d, nil
}

// DefaultGrace is how long before WhatsApp closes a window wabridge stops
// sending free-form messages into it.
const DefaultGrace = time.Minute

// Decision is what to do with one message.
type Decision struct {
	// Allow: send it.
	Allow bool
	// Reason is set when the message breaks a rule: with Allow false it is
	// the rejection reason; with Allow true (mode warn) it is the reason it
	// would have been rejected for.
	Reason string
	// Details say why in words, with the window's or the consent's state.
	Details string
	// Window is the window state the decision saw (free-form messages).
	Window State
	// Consent is the consent the decision saw (templates).
	Consent Consent
}

// Warned says whether the message goes out although it breaks a rule.
func (d Decision) Warned() bool { return d.Allow && d.Reason != "" }

// Decide applies the customer service window to one message: templates
// always pass; a free-form message passes when the window is open at now,
// counting it closed grace before WhatsApp does (see the package doc on
// clock skew). mode decides what happens otherwise; the empty mode is
// Enforce. The function is pure: state is what a Store returned.
func Decide(mode Mode, state State, isTemplate bool, now time.Time, grace time.Duration) Decision {
	state = state.at(now, grace)
	d := Decision{Allow: true, Window: state}
	if isTemplate || mode == Off || state.Status == Open {
		return d
	}
	d.Reason = ReasonOutsideWindow
	d.Details = "free-form message outside the 24-hour customer service window (only templates may be sent): " + state.String()
	if !state.LastInbound.IsZero() && state.ClosedAt.IsZero() && now.Before(state.ClosesAt) {
		d.Details += fmt.Sprintf(" (wabridge stops %s early for clock skew)", grace)
	}
	d.Allow = mode == Warn
	return d
}

// DecideOptIn applies the opt-in registry to one message. Free-form
// messages pass (they only go out in a window the user opened, and
// Decide rules on that). For a template of templateCategory:
//
//   - the user opted out of the category (or of everything) and it is
//     marketing: rejected with ReasonOptedOut whatever the mode;
//   - the user opted out of it, other categories: per mode, ReasonOptedOut;
//   - no opt-in known: per mode, ReasonNoOptIn;
//   - opted in: passes.
//
// templateCategory comes from the template catalogue; until it exists, from
// the command header "template-category". An empty category is not
// marketing. The empty mode is Off.
func DecideOptIn(mode Mode, c Consent, isTemplate bool, templateCategory string) Decision {
	if mode == "" {
		mode = Off
	}
	d := Decision{Allow: true, Consent: c}
	if !isTemplate {
		return d
	}
	family := Family(templateCategory)
	answer := c.For(family)
	if answer == OptedIn || mode == Off && !(answer == OptedOut && family == "marketing") {
		return d
	}
	switch answer {
	case OptedOut:
		d.Reason = ReasonOptedOut
		if family == "" {
			d.Details = "template to a user who opted out of business-initiated messages"
		} else {
			d.Details = fmt.Sprintf("%s template to a user who opted out of %s messages", family, family)
		}
		if family == "marketing" {
			d.Details += " (never sent, whatever the opt-in mode)"
			d.Allow = false
			return d
		}
	default:
		d.Reason = ReasonNoOptIn
		d.Details = "template to a user with no recorded opt-in for this business number"
	}
	if !c.At.IsZero() {
		d.Details += fmt.Sprintf("; last change %s", c.At.UTC().Format(time.RFC3339))
	}
	d.Allow = mode != Enforce
	return d
}
