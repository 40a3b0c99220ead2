package d360

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// Class says what a sender should do after an error. Errors are classified
// here and nowhere else (reference §5.3): on the Meta error code, not on the
// HTTP status, which Meta and 360dialog use inconsistently.
type Class int

const (
	// Permanent: do not retry; the command fails.
	Permanent Class = iota
	// Transient: retry with backoff (network errors, 5xx, temporary codes).
	Transient
	// SlowDown: retry, and lower the sending rate of the business number
	// (130429 throughput, 4 app rate limit, 80007 WABA rate limit).
	SlowDown
	// RecipientBackoff: retry this recipient only, after a growing pause of
	// at least 6 s (131056 pair rate limit); other recipients are unaffected.
	RecipientBackoff
)

func (c Class) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case SlowDown:
		return "slow_down"
	case RecipientBackoff:
		return "recipient_backoff"
	}
	return "unknown"
}

var codeClass = map[int]Class{
	// Retry, temporary.
	1:      Transient, // API unknown
	2:      Transient, // API service temporarily down
	131000: Transient, // something went wrong
	131016: Transient, // service unavailable
	131057: Transient, // account in maintenance mode
	// Slow down globally.
	4:      SlowDown, // app API call rate limit
	80007:  SlowDown, // WABA rate limit
	130429: SlowDown, // Cloud API throughput exceeded
	// Back off one recipient.
	131056: RecipientBackoff, // pair rate limit
}

// alertCodes are permanent errors that mean the deployment itself is broken
// (key, account, payment), not one message. Meta's code 0 (AuthException) is
// not listed: APIError.Code 0 also means "no Meta code" (360dialog's own
// errors, e.g. 429 or 502), and Meta sends code 0 with HTTP 401, which
// NeedsAlert catches by status.
var alertCodes = map[int]bool{
	10: true, 190: true, 368: true, 131031: true, 131042: true, 131045: true, 133010: true,
}

// AlertCodes lists the Meta error codes NeedsAlert reports by code, with 0
// for the key refused by status (401, 403), in ascending order. (Codes 200
// to 299, permission errors, are reported too but not listed.)
func AlertCodes() []int {
	codes := []int{0}
	for c := range alertCodes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}

// Classify decides what to do after err.
func Classify(err error) Class {
	if err == nil {
		return Permanent
	}
	var te *TransportError
	if errors.As(err, &te) {
		return Transient
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Transient
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return Permanent
	}
	if ae.Code != 0 {
		if c, ok := codeClass[ae.Code]; ok {
			return c
		}
		return Permanent
	}
	// 360dialog's own errors carry no Meta code.
	switch {
	case ae.StatusCode == 429:
		return SlowDown
	case ae.StatusCode >= 500:
		return Transient
	case ae.StatusCode == 400 && strings.Contains(strings.ToLower(ae.Title+" "+ae.Body), "rate limit"):
		return Transient
	}
	return Permanent
}

// Accepted reports whether err still says the API accepted the request: a
// 2xx answer whose body could not be read or understood. HTTP 2xx means
// the message was taken (RFC 9110, section 15.3), so it must not be sent
// again.
func Accepted(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return te.StatusCode >= 200 && te.StatusCode <= 299
	}
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode >= 200 && ae.StatusCode <= 299
}

// Ambiguous reports whether err leaves the outcome of a send unknown: the
// request was written in full and no answer came (a reset, a timeout). A
// retry could send the message twice.
func Ambiguous(err error) bool {
	var te *TransportError
	return errors.As(err, &te) && te.Written && te.StatusCode == 0
}

// NeedsAlert reports whether err says the deployment (key, account,
// payment) is broken rather than one message.
func NeedsAlert(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.StatusCode == 401 || ae.StatusCode == 403 {
		return true
	}
	if ae.Code >= 200 && ae.Code <= 299 {
		return true
	}
	return alertCodes[ae.Code]
}
