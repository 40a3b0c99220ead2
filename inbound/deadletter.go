package inbound

import (
	"net/http"
	"slices"
	"strings"
)

// secretHeaders are request headers a dead letter never keeps: they
// authenticate the sender (HTTP authentication, RFC 9110 section 11; cookies,
// RFC 6265; the webhook signatures of 360dialog and Meta). The configured
// token header is dropped as well, whatever its name.
var secretHeaders = map[string]bool{
	"Authorization":       true,
	"Proxy-Authorization": true,
	"Cookie":              true,
	"Set-Cookie":          true,
	"X-Webhook-Token":     true,
	"X-Hub-Signature":     true,
	"X-Hub-Signature-256": true,
	Header360Signature:    true,
	"D360-Api-Key":        true,
}

// secretWords are parts of header names that mark a credential: a header
// whose name contains one is dropped too, whatever else it is.
var secretWords = []string{"token", "secret", "signature", "password", "passwd", "api-key", "apikey", "auth", "cookie", "session", "credential"}

// RequestHeaders returns the headers of a webhook request that its dead
// letter keeps, sorted by name (one pair per value): every header except
// secrets (see secretHeaders and secretWords) and tokenHeader, the header
// carrying the webhook token.
func RequestHeaders(h http.Header, tokenHeader string) [][2][]byte {
	token := http.CanonicalHeaderKey(tokenHeader)
	names := make([]string, 0, len(h))
	for name := range h {
		if IsSecretHeader(name) || http.CanonicalHeaderKey(name) == token {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var out [][2][]byte
	for _, name := range names {
		for _, v := range h[name] {
			out = append(out, [2][]byte{[]byte(name), []byte(v)})
		}
	}
	return out
}

// IsSecretHeader reports whether a header of that name may carry a secret.
func IsSecretHeader(name string) bool {
	if secretHeaders[http.CanonicalHeaderKey(name)] {
		return true
	}
	lower := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}
