// Package d360 is a client for 360dialog's WhatsApp Business API
// (Cloud API format): POST {base}/messages with the D360-API-KEY header.
package d360

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/net/http/httpproxy"

	"github.com/wabridge/wabridge/internal/jsonscan"
	"github.com/wabridge/wabridge/internal/telemetry"
)

// DefaultBaseURL is 360dialog's production Cloud API.
const DefaultBaseURL = "https://waba-v2.360dialog.io"

// APIKey is a 360dialog API key. It never prints its value.
type APIKey string

// String redacts the key.
func (k APIKey) String() string {
	if k == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue redacts the key in slog output.
func (k APIKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalText redacts the key when a struct holding it is encoded, e.g. a
// Config logged by slog's JSON handler, which uses encoding/json.
func (k APIKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Config configures a Client.
type Config struct {
	// BaseURL of the API, e.g. https://waba-v2.360dialog.io. Default: DefaultBaseURL.
	BaseURL string
	// APIKey sent as D360-API-KEY. Required.
	APIKey APIKey
	// HTTPClient to use for every request. Default: net/http clients with
	// Timeout, and fasthttp for Send when the API speaks HTTP/1.1
	// (fast.go).
	HTTPClient *http.Client
	// Timeout of one request when HTTPClient is nil. Default: 15s.
	Timeout time.Duration
	// RootCAs are the certificates trusted for an https BaseURL when
	// HTTPClient is nil, e.g. from RootCAs(file). Default: the system roots.
	RootCAs *x509.CertPool
	// HTTP1 sends messages over HTTP/1.1 (fasthttp) to an https API even
	// when it offers HTTP/2: about a third less CPU per send, at the cost
	// of a TLS connection per send in flight instead of a few shared ones.
	// It has no effect where net/http must send (see fastOK).
	HTTP1 bool
}

// RootCAs returns the system roots plus the certificates of the PEM file
// caFile (a TLS-intercepting proxy's CA, a test server's certificate), or
// nil, meaning the system roots, when caFile is empty. Its errors name the
// file; callers add whose CA file it is.
func RootCAs(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named below
		}
		return nil, fmt.Errorf("CA file %s: %w", caFile, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// Client calls the messages endpoint.
type Client struct {
	messagesURL string
	key         APIKey
	keyHeader   []string // the D360-API-KEY header's value
	// timeout bounds each request (answer and body) when the pools send
	// with their transport (pool.rt); 0 with Config.HTTPClient.
	timeout time.Duration
	// http is the client in use; h2 takes over once the API turns out to
	// speak HTTP/2: the same transport, but at most h2MaxConns
	// connections. Without a limit, every send that finds the connections'
	// streams all taken dials one of its own, and hundreds of TLS
	// handshakes follow at start-up; with it, sends wait for a connection
	// and share it. (Over HTTP/1.1 each send in flight needs a connection,
	// so the limit cannot apply from the start.) h2 is nil when
	// Config.HTTPClient was given.
	http atomic.Pointer[pool]
	h2   *pool
	// h1 sends with fasthttp (fast.go) when the API speaks HTTP/1.1 and
	// nothing needs net/http (see fastOK); it is the first pool for a
	// plain http base URL, and takes over an https one once the first
	// connection negotiated HTTP/1.1. nil when net/http must send.
	h1 *pool
	// std is the net/http pool the requests other than Send use while
	// h1 sends the messages (they are few, some are multipart uploads).
	std *pool
}

// pool is an HTTP client and its cold start: until a first connection
// stands, sends wait for the one that dials it (cold holds the one turn).
// Hundreds of sends starting together would otherwise each dial and
// handshake a connection of their own, all but one of them wasted when the
// server speaks HTTP/2 (at 512 in flight that start-up burst was the
// process's peak memory).
type pool struct {
	hc *http.Client
	// rt, when set, is hc's transport, which sends the requests itself:
	// http.Client's redirect handling and header copies cost a fifth of a
	// send, and the API answers POST /messages itself (a 3xx is an
	// *APIError). The requests carry their timeout (Client.timeout).
	rt http.RoundTripper
	// fast, when set, sends instead of hc (Client.sendFast).
	fast *fasthttp.HostClient
	warm atomic.Bool
	cold chan struct{}
}

func newPool(hc *http.Client) *pool { return &pool{hc: hc, cold: make(chan struct{}, 1)} }

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.APIKey == "" {
		return nil, errors.New("360dialog API key is empty")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	hc, h2 := cfg.HTTPClient, (*pool)(nil)
	if hc == nil {
		// Keep connections for every concurrent send: the default transport
		// keeps 2 idle connections per host, so hundreds of sends in flight
		// would open a new connection (and TLS handshake) per request.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 0
		tr.MaxIdleConnsPerHost = 1024
		// Over https the API and the transport agree on HTTP/2 (ALPN), and
		// many sends share a few connections. A TLSClientConfig of our own
		// turns that off unless HTTP/2 is asked for.
		tr.ForceAttemptHTTP2 = true
		if cfg.RootCAs != nil {
			tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs}
		}
		// Each HTTP/1.1 connection holds a read and a write buffer (4 KiB
		// each by default). Answers and most request bodies are far smaller,
		// and with hundreds of sends in flight over plain http there is a
		// connection per send: 2 KiB halves that memory.
		tr.ReadBufferSize = 2048
		tr.WriteBufferSize = 2048
		// Answers are a few hundred bytes of JSON: asking for gzip (the
		// transport's default) would only cost a header per request.
		tr.DisableCompression = true
		// With tracing on, every call is an OpenTelemetry client span, a
		// child of the span in its context (a command's send), and carries
		// traceparent.
		var rt, h2rt http.RoundTripper = tr, nil
		h2tr := tr.Clone()
		h2tr.MaxConnsPerHost = h2MaxConns
		h2rt = h2tr
		if telemetry.Enabled(os.Getenv) {
			rt, h2rt = otelhttp.NewTransport(tr), otelhttp.NewTransport(h2tr)
		}
		hc = &http.Client{Timeout: cfg.Timeout, Transport: rt}
		h2 = newPool(&http.Client{Timeout: cfg.Timeout, Transport: h2rt})
	}
	c := &Client{messagesURL: u.JoinPath("messages").String(), key: cfg.APIKey, keyHeader: []string{string(cfg.APIKey)}, h2: h2}
	first := newPool(hc)
	// A base URL with credentials needs http.Client (it turns them into
	// an Authorization header); so does a client of the caller's.
	if cfg.HTTPClient == nil && u.User == nil {
		first.rt, h2.rt, c.timeout = hc.Transport, h2.hc.Transport, cfg.Timeout
	}
	c.std = first
	c.http.Store(first)
	if fastOK(u, cfg.HTTPClient != nil, telemetry.Enabled(os.Getenv), httpproxy.FromEnvironment().ProxyFunc()) {
		c.h1 = newPool(nil)
		c.h1.fast = newFastHost(u, cfg.RootCAs)
		c.h1.warm.Store(true) // a connection per send in flight: nothing to share
		if u.Scheme == "http" || cfg.HTTP1 {
			c.http.Store(c.h1)
		}
	}
	return c, nil
}

// fastOK reports whether Send may use fasthttp (fast.go) for the base URL
// u: not when a caller's http.Client (callerClient) must carry the
// requests, nor for a URL with credentials (net/http turns them into an
// Authorization header), nor with tracing on (otelhttp's transport makes
// the spans), nor when the environment routes u through a proxy (proxy,
// as net/http's ProxyFromEnvironment reads HTTP_PROXY, HTTPS_PROXY and
// NO_PROXY). Whether an https API speaks HTTP/2, for which net/http stays,
// shows only on the first connection (Client.spoke).
func fastOK(u *url.URL, callerClient, tracing bool, proxy func(*url.URL) (*url.URL, error)) bool {
	if callerClient || tracing || u.User != nil {
		return false
	}
	p, err := proxy(u)
	return err == nil && p == nil
}

// h2MaxConns bounds the HTTP/2 connections to the API: at the usual 100 to
// 250 streams per connection, 1,600 sends and more in flight.
const h2MaxConns = 16

// spoke records the protocol of a connection the API answered on.
func (c *Client) spoke(conn net.Conn) {
	tc, ok := conn.(*tls.Conn)
	switch {
	case !ok:
	case tc.ConnectionState().NegotiatedProtocol == "h2":
		if c.h2 != nil {
			c.http.Store(c.h2)
		}
	case c.h1 != nil:
		c.http.Store(c.h1)
	}
}

// do sends req with p (the current pool when nil); a pool replaced
// meanwhile (by h2) gives up its idle connections, except std while h1
// sends the messages (it carries the other requests then).
func (c *Client) do(req *http.Request, p *pool) (*http.Response, error) {
	if p == nil {
		if p = c.http.Load(); p.fast != nil {
			p = c.std
		}
	}
	var resp *http.Response
	var err error
	if p.rt != nil {
		resp, err = p.rt.RoundTrip(req)
	} else {
		resp, err = p.hc.Do(req)
	}
	if err == nil {
		p.warm.Store(true) // also for transports that report no GotConn
	}
	if cur := c.http.Load(); cur != p && (cur.fast == nil || p != c.std) {
		p.hc.CloseIdleConnections() // std stays in use beside fasthttp
	}
	return resp, err
}

// ParseBaseURL checks that s is an absolute http(s) URL without query.
func ParseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("360dialog base URL %q: %w", s, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("360dialog base URL %q: want an absolute http or https URL such as %s", s, DefaultBaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("360dialog base URL %q: must not carry a query or fragment", s)
	}
	return u, nil
}

// Response is what the API returned for an accepted request.
type Response struct {
	// WAID is contacts[0].wa_id, the canonical id of the recipient.
	WAID string
	// MessageID is messages[0].id (wamid...). Empty for status bodies
	// (mark-as-read, typing indicator), which answer {"success": true}.
	MessageID string
	// MessageStatus is messages[0].message_status, if the API gave one.
	MessageStatus string
	// StatusCode is the HTTP status.
	StatusCode int
}

type successBody struct {
	Contacts []answerContact `json:"contacts"`
	Messages []answerMessage `json:"messages"`
	Success  *bool           `json:"success"`
}

type answerContact struct {
	Input string `json:"input"`
	WAID  string `json:"wa_id"`
}

type answerMessage struct {
	ID            string `json:"id"`
	MessageStatus string `json:"message_status"`
}

// readSuccess reads an answer as json.Unmarshal into a successBody does,
// without its reflection (an answer is read for every send), when the
// answer has the shape the API gives; ok is false for any other, which
// json.Unmarshal then reads. Names encoding/json would match to a field
// although spelled otherwise (it ignores case), and fields given twice,
// are left to it.
func readSuccess(raw []byte) (sb successBody, ok bool) {
	if !json.Valid(raw) {
		return sb, false
	}
	var seen [3]bool
	ok = jsonscan.Members(raw, func(name string, v []byte) bool {
		switch name {
		case "contacts":
			seen[0] = !seen[0]
			return seen[0] && eachPair(v, "input", "wa_id", func(input, waID string) {
				sb.Contacts = append(sb.Contacts, answerContact{Input: input, WAID: waID})
			})
		case "messages":
			seen[1] = !seen[1]
			return seen[1] && eachPair(v, "id", "message_status", func(id, status string) {
				sb.Messages = append(sb.Messages, answerMessage{ID: id, MessageStatus: status})
			})
		case "success":
			seen[2] = !seen[2]
			switch string(v) {
			case "true", "false":
				b := string(v) == "true"
				sb.Success = &b
			case "null":
			default:
				return false
			}
			return seen[2]
		}
		return !foldsTo(name, "contacts", "messages", "success")
	})
	return sb, ok
}

// eachPair calls fn with the string fields n1 and n2 of each element of
// the array v (empty for null or absent); false when v is neither an
// array of objects (or nulls) nor null, or a field is neither a string nor
// null, or a name would match n1 or n2 only ignoring case.
func eachPair(v []byte, n1, n2 string, fn func(s1, s2 string)) bool {
	if string(v) == "null" {
		return true
	}
	return jsonscan.Elements(v, func(e []byte) bool {
		var s [2]string
		if string(e) != "null" && !jsonscan.Members(e, func(name string, v []byte) bool {
			k := 0
			switch name {
			case n1:
			case n2:
				k = 1
			default:
				return !foldsTo(name, n1, n2)
			}
			if string(v) == "null" {
				return true
			}
			var ok bool
			s[k], ok = jsonscan.Unquote(v)
			return ok && v[0] == '"'
		}) {
			return false
		}
		fn(s[0], s[1])
		return true
	})
}

func foldsTo(name string, fields ...string) bool {
	for _, f := range fields {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// turn picks the pool for a send and waits, while no connection of it
// stands yet, for the send that dials the first one, at most coldWait; the
// returned ctx reports the connection, and done ends the turn (when the
// connection was never got: dialing failed, and the next send tries).
func (c *Client) turn(ctx context.Context) (context.Context, *pool, func(), error) {
	var t *time.Timer
	for {
		p := c.http.Load()
		if p.warm.Load() {
			if c.http.Load() != p {
				continue // replaced by the HTTP/2 pool just now
			}
			return ctx, p, noop, nil
		}
		if t == nil {
			t = time.NewTimer(coldWait)
			defer t.Stop()
		}
		select {
		case p.cold <- struct{}{}:
		case <-t.C:
			// The first dial is slow (or the API unreachable): go on
			// without the turn rather than wait behind it.
			return ctx, p, noop, nil
		case <-ctx.Done():
			return ctx, p, nil, ctx.Err()
		}
		if c.http.Load() != p || p.warm.Load() {
			<-p.cold // warmed or replaced while this one waited: look again
			continue
		}
		var once sync.Once
		open := func() { once.Do(func() { <-p.cold }) }
		return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			c.spoke(info.Conn)
			p.warm.Store(true)
			open()
		}}), p, open, nil
	}
}

func noop() {}

// coldWait is the longest a send waits for a first connection that
// another send is dialing.
const coldWait = 2 * time.Second

// Send posts body (a complete messages request) and returns the API's answer.
// A non-2xx answer is an *APIError; a transport failure is a *TransportError.
func (c *Client) Send(ctx context.Context, body []byte) (Response, error) {
	ctx, p, done, err := c.turn(ctx)
	if err != nil {
		return Response{}, err
	}
	defer done()
	if p.fast != nil {
		return c.sendFast(ctx, p.fast, body)
	}
	cl, err := c.request(ctx, http.MethodPost, c.messagesURL, bytes.NewReader(body), "application/json")
	if err != nil {
		return Response{}, err
	}
	status, raw, err := c.exchange(cl, p, answerLimit)
	if err != nil {
		return Response{}, err
	}
	return readAnswer(status, raw)
}

// answerLimit bounds the body of an answer to Send.
const answerLimit = 1 << 20

// readAnswer reads a 2xx answer to Send. raw is not kept.
func readAnswer(status int, raw []byte) (Response, error) {
	sb, ok := readSuccess(raw)
	if !ok {
		if err := json.Unmarshal(raw, &sb); err != nil {
			return Response{}, &APIError{StatusCode: status, Title: "unreadable success answer", Details: err.Error(), Body: truncate(raw)}
		}
	}
	out := Response{StatusCode: status}
	if len(sb.Contacts) > 0 {
		out.WAID = sb.Contacts[0].WAID
	}
	if len(sb.Messages) > 0 {
		out.MessageID = sb.Messages[0].ID
		out.MessageStatus = sb.Messages[0].MessageStatus
	}
	if out.MessageID == "" && (sb.Success == nil || !*sb.Success) {
		return Response{}, &APIError{StatusCode: status, Title: "answer carries neither a message id nor success", Body: truncate(raw)}
	}
	return out, nil
}

// Header values every request shares (a request's header map is its own;
// the transport and otelhttp only replace values, never change them).
var (
	acceptJSON      = []string{"application/json"}
	contentTypeJSON = []string{"application/json"}
)

// call is one request to the API.
type call struct {
	req *http.Request
	// wrote reports, once the request was sent, whether it was written in
	// full (httptrace's WroteRequest).
	wrote atomic.Bool
	// caller is the caller's context: its end is no transport failure.
	caller context.Context
	// cancel ends the request's timeout (Client.timeout).
	cancel context.CancelFunc
}

// request builds a request to the API: its key, and JSON answers asked
// for.
func (c *Client) request(ctx context.Context, method, u string, body io.Reader, contentType string) (*call, error) {
	cl := &call{caller: ctx, cancel: noop}
	if c.timeout > 0 {
		ctx, cl.cancel = context.WithTimeout(ctx, c.timeout)
	}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { cl.wrote.Store(i.Err == nil) },
	})
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		cl.cancel()
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header = http.Header{"Accept": acceptJSON, "D360-Api-Key": c.keyHeader}
	switch contentType {
	case "":
	case contentTypeJSON[0]:
		req.Header["Content-Type"] = contentTypeJSON
	default:
		req.Header["Content-Type"] = []string{contentType}
	}
	cl.req = req
	return cl, nil
}

// exchange sends cl's request with p (the current pool when nil) and
// returns the answer's status and body, read up to limit bytes; a non-2xx
// answer is an *APIError, a transport failure (its timeout included) a
// *TransportError.
func (c *Client) exchange(cl *call, p *pool, limit int64) (int, []byte, error) {
	defer cl.cancel()
	resp, err := c.do(cl.req, p)
	if err != nil {
		if err := cl.caller.Err(); err != nil {
			return 0, nil, err
		}
		if errors.Is(err, context.DeadlineExceeded) && c.timeout > 0 {
			err = fmt.Errorf("no answer within %s: %w", c.timeout, err)
		}
		if ue := (*url.Error)(nil); !errors.As(err, &ue) { // as http.Client says it
			err = &url.Error{Op: cl.req.Method, URL: cl.req.URL.Redacted(), Err: err}
		}
		return 0, nil, &TransportError{Err: err, Written: cl.wrote.Load()}
	}
	defer resp.Body.Close()
	raw, err := readBody(resp, limit)
	if err != nil {
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return 0, nil, parseAPIError(resp.StatusCode, resp.Header, raw) // refused, whatever the rest said
		}
		return 0, nil, &TransportError{Err: fmt.Errorf("reading answer (HTTP %d): %w", resp.StatusCode, err), Written: true, StatusCode: resp.StatusCode}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, nil, parseAPIError(resp.StatusCode, resp.Header, raw)
	}
	return resp.StatusCode, raw, nil
}

// readBody reads resp's body, up to limit bytes: into a buffer of its
// length when the answer gave one (an answer is small; io.ReadAll would
// start at 512 bytes).
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= limit {
		b := make([]byte, n)
		// The last read of a body of known length reports io.EOF, which
		// lets the transport reuse the connection.
		k, err := io.ReadFull(resp.Body, b)
		return b[:k], err
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}

// TransportError is a failure to get an answer (connection refused, reset,
// timeout). The request may or may not have reached the API: see Written.
type TransportError struct {
	Err error
	// Written: the request was written in full before the failure, so the
	// API may have acted on it (the outcome is unknown).
	Written bool
	// StatusCode of an answer whose body could not be read; 0 when no
	// answer came.
	StatusCode int
}

func (e *TransportError) Error() string { return "calling 360dialog: " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// APIError is a non-2xx answer.
type APIError struct {
	StatusCode int
	// Code is the Meta error code (error.code), or 0 when the answer had none
	// (360dialog's own errors).
	Code       int
	Title      string
	Details    string
	RetryAfter time.Duration
	// Body is the answer, truncated to 2 KiB.
	Body string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "360dialog answered HTTP %d", e.StatusCode)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Title != "" {
		fmt.Fprintf(&b, ": %s", e.Title)
	}
	if e.Details != "" {
		fmt.Fprintf(&b, " (%s)", e.Details)
	}
	return b.String()
}

type metaErrorBody struct {
	Error json.RawMessage `json:"error"`
	Meta  *struct {
		Success          *bool  `json:"success"`
		HTTPCode         int    `json:"http_code"`
		HTTPCodeCamel    int    `json:"httpCode"`
		DeveloperMessage string `json:"developer_message"`
		DevMessageCamel  string `json:"developerMessage"`
	} `json:"meta"`
}

type metaError struct {
	Message   string `json:"message"`
	Type      string `json:"type"`
	Code      int    `json:"code"`
	Title     string `json:"title"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

func parseAPIError(status int, h http.Header, raw []byte) *APIError {
	e := &APIError{StatusCode: status, Body: truncate(raw), RetryAfter: retryAfter(h.Get("Retry-After"))}
	var body metaErrorBody
	if err := json.Unmarshal(raw, &body); err != nil {
		e.Title = http.StatusText(status)
		return e
	}
	if len(body.Error) > 0 {
		var me metaError
		if json.Unmarshal(body.Error, &me) == nil {
			e.Code = me.Code
			e.Title = me.Title
			if e.Title == "" {
				e.Title = me.Message
			}
			e.Details = me.ErrorData.Details
		} else {
			var s string
			if json.Unmarshal(body.Error, &s) == nil {
				e.Title = s
			}
		}
	}
	if body.Meta != nil {
		msg := body.Meta.DeveloperMessage
		if msg == "" {
			msg = body.Meta.DevMessageCamel
		}
		if e.Title == "" {
			e.Title = msg
		}
	}
	if e.Title == "" {
		e.Title = http.StatusText(status)
	}
	return e
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func truncate(b []byte) string {
	const max = 2048
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
