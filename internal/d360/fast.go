package d360

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
)

// fastIdleTimeout closes a keep-alive connection that has been idle this
// long. A server closes idle connections on its own clock (nginx after
// 75 s, AWS load balancers after 60 s, Node.js after 5 s); a request
// written onto a connection the server is closing at that moment gets no
// answer, an unknown outcome. Closing first, well before the common
// timeouts, and checking a connection idle for more than fastIdleCheck
// before use (closedByPeer) keeps that rare.
const (
	fastIdleTimeout = 30 * time.Second
	fastIdleCheck   = time.Second
)

// fastReadBuffer bounds the header of an answer read by fasthttp.
const fastReadBuffer = 8 << 10

// newFastHost returns a fasthttp client for the API at u (an http or https
// base URL), which sends each request on its caller's goroutine: no
// goroutines per connection, request and response objects and buffers
// pooled (https://pkg.go.dev/github.com/valyala/fasthttp#HostClient).
// Only its connection pool (HostClient.AcquireConn, ReleaseConn,
// CloseConn: the pieces fasthttp exports for transports of one's own),
// dialing and HTTP/1.1 framing are used: exchangeFast writes and reads
// itself, so that it knows whether the request was written in full before
// a failure, and nothing is ever retried by the library.
func newFastHost(u *url.URL, roots *x509.CertPool) *fasthttp.HostClient {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	hc := &fasthttp.HostClient{
		Addr:  net.JoinHostPort(u.Hostname(), port),
		IsTLS: u.Scheme == "https",
		// Go's own dialer, as net/http's transport uses (both IP
		// families, the system resolver); TLS (IsTLS) is fasthttp's
		// tls.Client, its handshake on the first write, under the
		// request's deadline.
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			return (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).Dial("tcp", addr)
		},
		// A connection per send in flight, never ErrNoFreeConns.
		MaxConns:            math.MaxInt32,
		MaxIdleConnDuration: fastIdleTimeout,
		// An answer's header must fit the read buffer (fasthttp fails
		// with ErrSmallBuffer past it, after the request was sent). Its
		// default, 4 KiB, is tight beside a CDN's headers; a buffer is
		// held only by a send in flight (the pool's are shared).
		ReadBufferSize: fastReadBuffer,
		// HostClient.Do is not used, but were it used, a POST must not
		// be sent again by the library (RFC 9110, section 9.2.2): one
		// attempt, and RetryIfErr says never.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		DisablePathNormalizing:    true,
	}
	if hc.IsTLS {
		// HTTP/1.1 only: this pool is used when the API did not offer
		// HTTP/2. MinVersion stays crypto/tls's default.
		hc.TLSConfig = &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}}
	}
	return hc
}

// aLongTimeAgo is a deadline that has passed: set on a connection, it ends
// a blocked read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// exchangeFast sends req with hc and reads the answer into resp, up to
// limit bytes of body, all before deadline; ctx's end ends it too.
// written reports whether the request was written in full, so the API may
// have acted on it (every failure after that point); status is the
// answer's status when its header was read.
func exchangeFast(ctx context.Context, hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, limit int) (written bool, status int, err error) {
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return false, 0, fasthttp.ErrTimeout
	}
	cc, err := acquire(ctx, hc, (*fasthttp.HostClient).AcquireConn, (*fasthttp.HostClient).ReleaseConn, timeout)
	for err == nil {
		if err = cc.Conn().SetDeadline(deadline); err != nil {
			hc.CloseConn(cc)
			return false, 0, err
		}
		if last := cc.LastUseTime(); last.IsZero() || time.Since(last) < fastIdleCheck || !closedByPeer(cc.Conn()) {
			break
		}
		hc.CloseConn(cc)
		cc, err = acquire(ctx, hc, (*fasthttp.HostClient).AcquireConn, (*fasthttp.HostClient).ReleaseConn, time.Until(deadline))
	}
	if err != nil {
		return false, 0, err
	}
	conn := cc.Conn()
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	}
	reuse := false
	defer func() {
		// A connection whose deadline the ctx watcher may have set is
		// closed, not pooled.
		if stop() && reuse {
			hc.ReleaseConn(cc)
		} else {
			hc.CloseConn(cc)
		}
	}()
	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		return false, 0, err
	}
	br := hc.AcquireReader(conn)
	defer hc.ReleaseReader(br)
	status, err = readFast(br, resp, limit)
	if err != nil {
		return true, status, err
	}
	reuse = !resp.ConnectionClose() && status != http.StatusSwitchingProtocols
	return true, status, nil
}

// acquire gets a connection of hc with get (HostClient.AcquireConn): an
// idle one, or else one it dials, which fasthttp does on the caller's
// goroutine without a context. When none is idle, get runs on a goroutine
// of its own so that ctx's end ends the wait; a connection that comes up
// after that joins the pool (put, HostClient.ReleaseConn).
func acquire[C any](ctx context.Context, hc *fasthttp.HostClient, get func(*fasthttp.HostClient, time.Duration, bool) (C, error), put func(*fasthttp.HostClient, C), timeout time.Duration) (C, error) {
	if ctx.Done() == nil || hc.IdleConnsCount() > 0 {
		return get(hc, timeout, false)
	}
	type got struct {
		cc  C
		err error
	}
	ch := make(chan got, 1)
	go func() {
		cc, err := get(hc, timeout, false)
		ch <- got{cc, err}
	}()
	select {
	case g := <-ch:
		return g.cc, g.err
	case <-ctx.Done():
		go func() {
			if g := <-ch; g.err == nil {
				put(hc, g.cc)
			}
		}()
		var zero C
		return zero, ctx.Err()
	}
}

// readFast reads an answer as fasthttp's Response.ReadLimitBody does,
// reporting the status once the header is read: interim (1xx) answers are
// skipped (RFC 9110, section 15.2); 204 and 304 carry no body (RFC 9112,
// section 6.3).
func readFast(br *bufio.Reader, resp *fasthttp.Response, limit int) (int, error) {
	for n := 0; ; n++ {
		if err := resp.Header.Read(br); err != nil {
			return 0, err
		}
		if s := resp.StatusCode(); s >= 200 || s == http.StatusSwitchingProtocols {
			break
		}
		if n == 10 {
			return 0, errors.New("more than 10 interim (1xx) answers")
		}
	}
	status := resp.StatusCode()
	if status == http.StatusNoContent || status == http.StatusNotModified {
		return status, nil
	}
	if err := resp.ReadBody(br, limit); err != nil {
		return status, err
	}
	if resp.Header.ContentLength() == -1 { // chunked: trailers follow
		if err := resp.Header.ReadTrailer(br); err != nil {
			return status, err
		}
	}
	return status, nil
}

// userAgent is the User-Agent net/http sends, so that both ways of sending
// look alike to the API.
const userAgent = "Go-http-client/1.1"

// sendFast posts body to the messages endpoint with hc and reads the
// answer, as Send does with net/http: a non-2xx answer is an *APIError, a
// transport failure (its timeout included) a *TransportError, the end of
// ctx its error.
func (c *Client) sendFast(ctx context.Context, hc *fasthttp.HostClient, body []byte) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, err // not sent
	}
	deadline := time.Now().Add(c.timeout)
	ctxDeadline, hasDeadline := ctx.Deadline()
	if hasDeadline && ctxDeadline.Before(deadline) {
		deadline = ctxDeadline
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.messagesURL)
	// The path is sent as url.URL escaped it, as net/http sends it.
	req.URI().DisablePathNormalizing = true
	req.Header.SetMethod(http.MethodPost)
	req.Header.SetContentType(contentTypeJSON[0])
	req.Header.Set("Accept", acceptJSON[0])
	req.Header.Set("D360-API-KEY", string(c.key))
	req.Header.SetUserAgent(userAgent)
	req.SetBodyRaw(body)
	written, status, err := exchangeFast(ctx, hc, req, resp, deadline, answerLimit)
	if err != nil && status != 0 {
		// The answer's header came, its body did not.
		if status < 200 || status > 299 {
			return Response{}, parseAPIError(status, fastHeader(resp), resp.Body()) // refused, whatever the rest said
		}
		return Response{}, &TransportError{Err: fmt.Errorf("reading answer (HTTP %d): %w", status, err), Written: true, StatusCode: status}
	}
	if err != nil {
		if err := ctx.Err(); err != nil {
			return Response{}, err
		}
		timedOut := isTimeout(err)
		if timedOut && hasDeadline && !ctxDeadline.After(deadline) {
			// ctx's deadline, set on the connection, passed a moment
			// before ctx reports it.
			return Response{}, context.DeadlineExceeded
		}
		if timedOut {
			err = fmt.Errorf("no answer within %s: %w", c.timeout, err)
		}
		return Response{}, &TransportError{Err: &url.Error{Op: "Post", URL: c.messagesURL, Err: err}, Written: written}
	}
	if status < 200 || status > 299 {
		return Response{}, parseAPIError(status, fastHeader(resp), resp.Body())
	}
	return readAnswer(status, resp.Body())
}

// isTimeout reports whether err is a deadline passing (net.Error's
// Timeout, fasthttp.ErrTimeout).
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// fastHeader returns resp's header as net/http's.
func fastHeader(resp *fasthttp.Response) http.Header {
	h := make(http.Header)
	for k, v := range resp.Header.All() {
		h.Add(string(k), string(v))
	}
	return h
}
