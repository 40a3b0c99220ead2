package d360_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/wabridge/wabridge/internal/d360"
)

// metaErr is a Meta error as 360dialog passes it through on /messages: the
// HTTP status Meta documents for the code (reference §5.3) and the code.
func metaErr(status, code int, title string) *d360.APIError {
	return &d360.APIError{StatusCode: status, Code: code, Title: title}
}

// ownErr is one of 360dialog's own errors (reference §5.2): no Meta code.
func ownErr(status int, title string) *d360.APIError {
	return &d360.APIError{StatusCode: status, Title: title}
}

func transportErr() error {
	return &d360.TransportError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
}

// policyCases covers every policy class of reference §5.3 and §5.2.
var policyCases = []struct {
	name      string
	err       error
	wantClass d360.Class
	wantAlert bool
}{
	// Meta codes: retry, temporary.
	{"code 1 API unknown is retried", metaErr(400, 1, "API Unknown"), d360.Transient, false},
	{"code 2 API service down is retried", metaErr(503, 2, "API Service"), d360.Transient, false},
	{"code 131000 something went wrong is retried", metaErr(500, 131000, "Something went wrong"), d360.Transient, false},
	{"code 131016 service unavailable is retried", metaErr(503, 131016, "Service unavailable"), d360.Transient, false},
	{"code 131057 maintenance mode is retried", metaErr(500, 131057, "Account in maintenance mode"), d360.Transient, false},
	// Meta codes: slow the number down.
	{"code 4 app rate limit slows down", metaErr(400, 4, "Too many calls"), d360.SlowDown, false},
	{"code 80007 WABA rate limit slows down", metaErr(400, 80007, "Rate limit issues"), d360.SlowDown, false},
	{"code 130429 throughput exceeded slows down", metaErr(400, 130429, "Rate limit hit"), d360.SlowDown, false},
	{"code 130429 sent as HTTP 429 still slows down", metaErr(429, 130429, "Rate limit hit"), d360.SlowDown, false},
	// Meta codes: back off one recipient.
	{"code 131056 pair rate limit backs off the recipient", metaErr(400, 131056, "Pair rate limit hit"), d360.RecipientBackoff, false},
	// Meta codes: permanent, no alert.
	{"code 131047 re-engagement is permanent", metaErr(400, 131047, "Re-engagement message"), d360.Permanent, false},
	{"code 131026 undeliverable is permanent", metaErr(400, 131026, "Message undeliverable"), d360.Permanent, false},
	{"code 132000 template parameter count is permanent", metaErr(400, 132000, "Number of parameters does not match"), d360.Permanent, false},
	{"code 100 invalid parameter is permanent", metaErr(400, 100, "Invalid parameter"), d360.Permanent, false},
	{"code 131048 spam rate limit is not hammered", metaErr(400, 131048, "Spam rate limit hit"), d360.Permanent, false},
	{"unknown future code is permanent", metaErr(400, 999999, "Something new"), d360.Permanent, false},
	{"code 131000 sent with HTTP 400 is still retried", metaErr(400, 131000, "Something went wrong"), d360.Transient, false},
	{"code 100 sent with HTTP 500 is still permanent", metaErr(500, 100, "Invalid parameter"), d360.Permanent, false},
	// Meta codes: permanent, alert.
	{"code 0 auth exception alerts", metaErr(401, 0, "AuthException"), d360.Permanent, true},
	{"code 190 token expired alerts", metaErr(401, 190, "Access token has expired"), d360.Permanent, true},
	{"code 368 policy block alerts", metaErr(403, 368, "Temporarily blocked for policy violations"), d360.Permanent, true},
	{"code 10 permission denied alerts", metaErr(403, 10, "Permission denied"), d360.Permanent, true},
	{"code 200 API permission alerts", metaErr(403, 200, "Permission error"), d360.Permanent, true},
	{"code 299 API permission alerts", metaErr(403, 299, "Permission error"), d360.Permanent, true},
	{"code 131031 account locked alerts", metaErr(403, 131031, "Account has been locked"), d360.Permanent, true},
	{"code 131042 payment issue alerts", metaErr(400, 131042, "Business eligibility payment issue"), d360.Permanent, true},
	{"code 131045 certificate error alerts", metaErr(400, 131045, "Incorrect certificate"), d360.Permanent, true},
	{"code 133010 number not registered alerts", metaErr(400, 133010, "Phone number not registered"), d360.Permanent, true},
	// 360dialog's own errors, no Meta code.
	{"360dialog 401 invalid key alerts and is permanent", ownErr(401, "Invalid api_key or token expired"), d360.Permanent, true},
	{"360dialog 403 blocked endpoint alerts", ownErr(403, "Forbidden"), d360.Permanent, true},
	{"360dialog 429 slows down", ownErr(429, "Too Many Requests"), d360.SlowDown, false},
	{"360dialog 500 is retried", ownErr(500, "Internal Server Error"), d360.Transient, false},
	{"360dialog 502 WhatsApp not available is retried", ownErr(502, "Bad Gateway"), d360.Transient, false},
	{"360dialog 503 without body is retried", ownErr(503, "Service Unavailable"), d360.Transient, false},
	{"360dialog 400 endpoint rate limit is retried", ownErr(400, "You have exceeded the endpoint rate limit"), d360.Transient, false},
	{"360dialog 400 endpoint rate limit found in the body is retried",
		&d360.APIError{StatusCode: 400, Title: "Bad Request", Body: `{"meta":{"developer_message":"You have exceeded the endpoint Rate Limit"}}`}, d360.Transient, false},
	{"360dialog other 400 is permanent", ownErr(400, "Bad Request"), d360.Permanent, false},
	// Not API answers.
	{"transport error is retried", transportErr(), d360.Transient, false},
	{"wrapped transport error is retried", fmt.Errorf("sending: %w", transportErr()), d360.Transient, false},
	{"deadline exceeded is retried", context.DeadlineExceeded, d360.Transient, false},
	{"wrapped deadline exceeded is retried", fmt.Errorf("sending: %w", context.DeadlineExceeded), d360.Transient, false},
	{"wrapped API error is classified by its code", fmt.Errorf("sending: %w", metaErr(400, 130429, "Rate limit hit")), d360.SlowDown, false},
	{"wrapped API error alerts", fmt.Errorf("sending: %w", ownErr(401, "Unauthorized")), d360.Permanent, true},
	{"cancelled context is not retried", context.Canceled, d360.Permanent, false},
	{"unrelated error is permanent", errors.New("boom"), d360.Permanent, false},
	{"nil error", nil, d360.Permanent, false},
}

func TestClassify(t *testing.T) {
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := d360.Classify(tc.err); got != tc.wantClass {
				t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.wantClass)
			}
		})
	}
}

func TestNeedsAlert(t *testing.T) {
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := d360.NeedsAlert(tc.err); got != tc.wantAlert {
				t.Errorf("NeedsAlert(%v) = %v, want %v", tc.err, got, tc.wantAlert)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	for _, tc := range []struct {
		c    d360.Class
		want string
	}{
		{d360.Permanent, "permanent"},
		{d360.Transient, "transient"},
		{d360.SlowDown, "slow_down"},
		{d360.RecipientBackoff, "recipient_backoff"},
		{d360.Class(42), "unknown"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("Class(%d).String() = %q, want %q", int(tc.c), got, tc.want)
		}
	}
}
