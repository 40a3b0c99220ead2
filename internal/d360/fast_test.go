package d360

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"
)

const secretKey = APIKey("s3cr3t-K3Y-value")

const fastAnswer = `{"messages":[{"id":"wamid.F"}]}`

// path names the way c's sends go now.
func (c *Client) path() string {
	switch c.http.Load() {
	case c.h1:
		return "fasthttp"
	case c.h2:
		return "net/http h2"
	}
	return "net/http"
}

// Which way Send goes, for each kind of API and configuration.
func TestSendPath(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, fastAnswer)
	})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	h1 := httptest.NewTLSServer(handler)
	t.Cleanup(h1.Close)
	h2 := httptest.NewUnstartedServer(handler)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	roots := x509.NewCertPool()
	roots.AddCert(h1.Certificate())
	roots.AddCert(h2.Certificate())
	withCreds := func(s string) string { return strings.Replace(s, "://", "://user:pass@", 1) }

	for _, tc := range []struct {
		name string
		base string
		cfg  Config
		env  map[string]string
		want string
	}{
		{"plain http", plain.URL, Config{}, nil, "fasthttp"},
		{"https speaking HTTP/1.1", h1.URL, Config{}, nil, "fasthttp"},
		{"https speaking HTTP/2", h2.URL, Config{}, nil, "net/http h2"},
		{"https speaking HTTP/2, HTTP/1.1 asked for", h2.URL, Config{HTTP1: true}, nil, "fasthttp"},
		{"HTTP/1.1 asked for, tracing on", h2.URL, Config{HTTP1: true}, map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "net/http h2"},
		{"credentials in the base URL", withCreds(plain.URL), Config{}, nil, "net/http"},
		{"the caller's http.Client", plain.URL, Config{HTTPClient: &http.Client{Timeout: 5 * time.Second}}, nil, "net/http"},
		{"tracing on", plain.URL, Config{}, map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "net/http"},
		{"tracing on, https speaking HTTP/1.1", h1.URL, Config{}, map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "net/http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg := tc.cfg
			cfg.BaseURL, cfg.APIKey, cfg.RootCAs = tc.base, "key", roots
			if cfg.HTTPClient != nil {
				cfg.HTTPClient.Transport = &http.Transport{TLSClientConfig: h1.Client().Transport.(*http.Transport).TLSClientConfig}
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The second send goes the way the first connection chose.
			for i := range 2 {
				if _, err := c.Send(context.Background(), []byte(`{}`)); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if got := c.path(); got != tc.want {
				t.Errorf("sends go by %s, want %s", got, tc.want)
			}
		})
	}
}

// A proxy named by the environment for the API's host keeps net/http,
// which sends through it; NO_PROXY and a host the proxy is not for do not.
func TestFastOKWithProxy(t *testing.T) {
	api, _ := url.Parse("http://waba.example:8080")
	tlsAPI, _ := url.Parse("https://waba.example")
	for _, tc := range []struct {
		name  string
		u     *url.URL
		proxy httpproxy.Config
		want  bool
	}{
		{"no proxy", api, httpproxy.Config{}, true},
		{"HTTP_PROXY for an http API", api, httpproxy.Config{HTTPProxy: "http://proxy.example:3128"}, false},
		{"HTTPS_PROXY only, http API", api, httpproxy.Config{HTTPSProxy: "http://proxy.example:3128"}, true},
		{"HTTPS_PROXY for an https API", tlsAPI, httpproxy.Config{HTTPSProxy: "http://proxy.example:3128"}, false},
		{"NO_PROXY names the API", tlsAPI, httpproxy.Config{HTTPSProxy: "http://proxy.example:3128", NoProxy: "waba.example"}, true},
		{"unparsable proxy", api, httpproxy.Config{HTTPProxy: "http://[::1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fastOK(tc.u, false, false, tc.proxy.ProxyFunc()); got != tc.want {
				t.Errorf("fastOK = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("HTTP_PROXY", "http://proxy.example:3128")
		t.Setenv("NO_PROXY", "")
		c, err := New(Config{BaseURL: api.String(), APIKey: "key"})
		if err != nil {
			t.Fatal(err)
		}
		if c.h1 != nil || c.path() != "net/http" {
			t.Errorf("with HTTP_PROXY set, sends go by %s (fasthttp pool %v), want net/http only", c.path(), c.h1 != nil)
		}
	})
}

// rawAPI serves each connection with serve on 127.0.0.1 and returns the
// base URL and a count of the connections accepted.
func rawAPI(t *testing.T, serve func(net.Conn, *bufio.Reader)) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conn.Close()
				serve(conn, bufio.NewReader(conn))
			}()
		}
	}()
	return "http://" + ln.Addr().String(), &conns
}

// readRequest reads one request from br; false at its end or on garbage.
func readRequest(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, req.Body)
	return err == nil
}

// answerOK writes a 200 with fastAnswer.
func answerOK(w io.Writer) {
	io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(fastAnswer))+"\r\n\r\n"+fastAnswer)
}

// clients returns a Client for base on each way of sending plain http.
func clients(t *testing.T, base string) map[string]*Client {
	t.Helper()
	out := map[string]*Client{}
	for name, hc := range map[string]*http.Client{"fasthttp": nil, "net/http": {Timeout: 15 * time.Second}} {
		c, err := New(Config{BaseURL: base, APIKey: secretKey, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		if c.path() != name {
			t.Fatalf("client for %s sends by %s", name, c.path())
		}
		out[name] = c
	}
	return out
}

// A server that reads the request and closes the connection may have
// acted on it: the outcome is unknown (Written). One that was never
// reached was not.
func TestSendWritten(t *testing.T) {
	closes, _ := rawAPI(t, func(conn net.Conn, br *bufio.Reader) { readRequest(br) })
	resets, _ := rawAPI(t, func(conn net.Conn, br *bufio.Reader) {
		readRequest(br)
		conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
	})
	halfBody, _ := rawAPI(t, func(conn net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"messages\"")
	})
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()
	for _, tc := range []struct {
		name       string
		base       string
		written    bool
		statusCode int
	}{
		{"closed after reading the request", closes, true, 0},
		{"reset after reading the request", resets, true, 0},
		{"200 with half its body, then closed", halfBody, true, 200},
		{"connection refused", refused.URL, false, 0},
	} {
		for path, c := range clients(t, tc.base) {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				_, err := c.Send(context.Background(), []byte(`{"to":"1"}`))
				var te *TransportError
				if !errors.As(err, &te) {
					t.Fatalf("Send error = %v (%T), want a *TransportError", err, err)
				}
				if te.Written != tc.written || te.StatusCode != tc.statusCode {
					t.Errorf("Written = %v, StatusCode = %d; want %v, %d (%v)", te.Written, te.StatusCode, tc.written, tc.statusCode, err)
				}
				if strings.Contains(err.Error(), string(secretKey)) {
					t.Errorf("error shows the API key: %v", err)
				}
			})
		}
	}
}

// The caller's cancel ends a send that waits for its answer, with ctx's
// error.
func TestSendCancel(t *testing.T) {
	read := make(chan struct{}, 4)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	base, _ := rawAPI(t, func(conn net.Conn, br *bufio.Reader) {
		if readRequest(br) {
			read <- struct{}{}
		}
		<-release
	})
	for path, c := range clients(t, base) {
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := c.Send(ctx, []byte(`{}`))
				done <- err
			}()
			<-read
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Send error = %v, want context.Canceled", err)
				}
			case <-time.After(30 * time.Second): // a hang guard, not a timing
				t.Fatal("Send still running 30 s after its ctx was cancelled")
			}
		})
	}
}

// A keep-alive connection the server closed while idle is not used: the
// next send dials anew rather than fail with an unknown outcome.
func TestSendSkipsConnectionClosedWhileIdle(t *testing.T) {
	base, conns := rawAPI(t, func(conn net.Conn, br *bufio.Reader) {
		if readRequest(br) {
			answerOK(conn) // keep-alive by default in HTTP/1.1; then closed
		}
	})
	c, err := New(Config{BaseURL: base, APIKey: "key"})
	if err != nil {
		t.Fatal(err)
	}
	if c.path() != "fasthttp" {
		t.Fatalf("sends go by %s, want fasthttp", c.path())
	}
	for i := range 2 {
		if i == 1 {
			// Only a connection idle for fastIdleCheck is checked.
			time.Sleep(fastIdleCheck + 100*time.Millisecond)
		}
		if _, err := c.Send(context.Background(), []byte(`{}`)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
}

// An https API speaking HTTP/1.1 is sent to by fasthttp with the
// configured roots, not the system's.
func TestSendFastOverTLS(t *testing.T) {
	c, srv, _ := h1TLSAPI(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, fastAnswer) }, func(*Client) {})
	// fasthttp with the system roots only refuses the server before
	// anything is written.
	u, _ := url.Parse(srv.URL)
	c.h1.fast = newFastHost(u, nil)
	_, err := c.Send(context.Background(), []byte(`{}`))
	var te *TransportError
	var ce *tls.CertificateVerificationError
	if !errors.As(err, &te) || !errors.As(err, &ce) {
		t.Fatalf("Send error = %v (%T), want a *TransportError from a certificate check", err, err)
	}
	if te.Written {
		t.Error("Written = true for a request refused at the handshake")
	}
}

// BenchmarkSend sends over HTTP/1.1 to a local server by each way of
// sending (allocations and CPU per send; the server's share included).
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, okBenchAnswer)
	}))
	b.Cleanup(srv.Close)
	body := []byte(`{"messaging_product":"whatsapp","to":"15550001111","type":"text","text":{"body":"hello"}}`)
	for path, hc := range map[string]*http.Client{"fasthttp": nil, "net/http": {Timeout: 15 * time.Second}} {
		b.Run(path, func(b *testing.B) {
			c, err := New(Config{BaseURL: srv.URL, APIKey: "key", HTTPClient: hc})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Send(ctx, body); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

const okBenchAnswer = `{"messaging_product":"whatsapp","contacts":[{"input":"15550001111","wa_id":"15550001111"}],"messages":[{"id":"wamid.HBgLMTU1NTAwMDExMTEVAgARGBI","message_status":"accepted"}]}`

// A send whose ctx has ended before it starts does not touch the
// connection the next send reuses: it writes nothing.
func TestSendEndedContextSendsNothing(t *testing.T) {
	for _, path := range []string{"fasthttp", "net/http"} {
		t.Run(path, func(t *testing.T) {
			var requests atomic.Int32
			base, conns := rawAPI(t, func(conn net.Conn, br *bufio.Reader) {
				for readRequest(br) {
					requests.Add(1)
					answerOK(conn)
				}
			})
			c := clients(t, base)[path]
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			for i, ctx := range []context.Context{context.Background(), ctx, context.Background()} {
				_, err := c.Send(ctx, []byte(`{}`))
				if want := ctx.Err(); !errors.Is(err, want) {
					t.Fatalf("send %d: error %v, want %v", i, err, want)
				}
			}
			// The kept-alive connection carried the two sends, nothing
			// between them.
			if n, r := conns.Load(), requests.Load(); n != 1 || r != 2 {
				t.Errorf("server accepted %d connections and read %d requests, want 1 and 2", n, r)
			}
		})
	}
}

// Over an https API speaking HTTP/1.1, the other requests (templates,
// media) keep net/http's connections alive beside fasthttp's.
func TestOtherRequestsKeepTheirConnections(t *testing.T) {
	list := func(c *Client) {
		if _, err := c.ListTemplates(context.Background()); err != nil {
			t.Fatalf("list: %v", err)
		}
	}
	_, _, opened := h1TLSAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, `{"waba_templates":[],"count":0,"total":0}`)
			return
		}
		io.WriteString(w, fastAnswer)
	}, list)
	// net/http's first connection (which learnt the protocol and then
	// carries the lists) and fasthttp's.
	if n := opened.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
}

// h1TLSAPI serves h over TLS with HTTP/1.1 only and returns a client
// trusting it that has sent three times, calling between(c) after each
// send, the server, and the count of connections it accepted.
func h1TLSAPI(t *testing.T, h http.HandlerFunc, between func(c *Client)) (*Client, *httptest.Server, *atomic.Int32) {
	t.Helper()
	var opened atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // a refused handshake is expected in some tests
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c, err := New(Config{BaseURL: srv.URL, APIKey: "key", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.Send(context.Background(), []byte(`{}`)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		between(c)
	}
	if c.path() != "fasthttp" {
		t.Fatalf("sends go by %s, want fasthttp", c.path())
	}
	return c, srv, &opened
}

// An answer whose header is larger than fasthttp's default read buffer
// (4 KiB) is read.
func TestSendLargeAnswerHeader(t *testing.T) {
	pad := strings.Repeat("p", fastReadBuffer-1024)
	base, _ := rawAPI(t, func(conn net.Conn, br *bufio.Reader) {
		if readRequest(br) {
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Padding: "+pad+"\r\nContent-Length: "+strconv.Itoa(len(fastAnswer))+"\r\n\r\n"+fastAnswer)
		}
	})
	for path, c := range clients(t, base) {
		if got, err := c.Send(context.Background(), []byte(`{}`)); err != nil || got.MessageID != "wamid.F" {
			t.Errorf("%s: Send = %+v, %v; want wamid.F", path, got, err)
		}
	}
}
