// Package outbound_bench measures the outbound half end to end: commands
// already on the command topic, the built wabridge binary (`run --only
// outbound`, rate limit lifted) sending them to a stand-in API that checks
// per-recipient order and counts duplicates, results on the results topic.
//
//	go test ./bench/outbound/ -run XXX -bench . -benchtime 1x
//	KAFKA_BROKERS=127.0.0.1:9092 go test ./bench/outbound/ -run XXX -bench . -benchtime 1x
//	go test ./bench/outbound/ -run XXX -bench 'Outbound/latency=100ms/inflight=1024/proto=h2' -benchtime 1x
//
// Every case runs twice, by the protocol of the stand-in: proto=h1 serves
// plain http, so each send in flight holds an HTTP/1.1 connection of the
// bridge; proto=h2 serves TLS offering HTTP/2 (as Go's client negotiates
// with any https endpoint that offers it; whether 360dialog's does is not
// known here), and the bridge (trusting the stand-in's certificate through
// D360_CA_FILE) sends over a few connections, up to 250 streams each (the
// Go server's limit).
//
// The lean case runs the bridge with GOGC=25 and a read-ahead of 2 x in
// flight, the README's setting for a slow API under a tight memory limit.
//
// WABRIDGE_BENCH_ENV adds environment to the bridge only, e.g.
// WABRIDGE_BENCH_ENV='GOMEMLIMIT=48MiB GOGC=50'.
//
// Throughput is commands over the span of the results' produced_at
// timestamps (start-up and group join excluded); the bridge's peak RSS is
// VmHWM of its process. The stand-in's bare rate (a load generator straight
// at it, over each protocol) is measured in the same run and logged (shown
// with -v), so the figures read as a fraction of what this machine can do
// at all.
package outbound_bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/schemas"
)

const (
	commands   = 50_000
	recipients = 1_000
)

// standIn is a lean 360dialog stand-in for load: it checks that each
// recipient's sequence numbers arrive in order and counts duplicates.
type standIn struct {
	latency time.Duration

	mu         sync.Mutex
	next       map[string]int
	violations int
	duplicates int
	seen       map[string]bool
	calls      atomic.Int64
}

func newStandIn(latency time.Duration) *standIn {
	return &standIn{latency: latency, next: map[string]int{}, seen: map[string]bool{}}
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b struct {
		To   string `json:"to"`
		Text struct {
			Body string `json:"body"`
		} `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	s.calls.Add(1)
	if b.To != "" { // bare-rate load carries no recipient
		var seq int
		fmt.Sscanf(b.Text.Body, "%d", &seq)
		s.mu.Lock()
		if s.seen[b.To+"/"+b.Text.Body] {
			s.duplicates++
		} else {
			s.seen[b.To+"/"+b.Text.Body] = true
			if seq != s.next[b.To] {
				s.violations++
			}
			s.next[b.To] = seq + 1
		}
		s.mu.Unlock()
	}
	if s.latency > 0 {
		time.Sleep(s.latency)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":"wamid.B%d"}]}`, b.To, b.To, s.calls.Load())
}

// protos are the ways the stand-in is served: h1 plain http, h2 TLS with
// HTTP/2.
var protos = []string{"h1", "h2"}

// serve serves h over proto and returns its base URL. For h2 it also
// returns the server's certificate as a PEM file (for D360_CA_FILE) and a
// pool trusting it (for a load generator); for h1 "" and nil.
func serve(b *testing.B, h http.Handler, proto string) (url, caFile string, roots *x509.CertPool) {
	if proto == "h1" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
		return "http://" + ln.Addr().String(), "", nil
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	caFile = filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		b.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv.URL, caFile, roots
}

// bareRate drives url with 256 concurrent clients for d; roots, if set, are
// trusted for an https url, over HTTP/2 when the server offers it.
func bareRate(url string, roots *x509.CertPool, d time.Duration) float64 {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, ForceAttemptHTTP2: true}
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	cl := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	body := []byte(`{"messaging_product":"whatsapp","type":"text","text":{"body":"0"}}`)
	for i := 0; i < 256; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "POST", url+"/messages", bytes.NewReader(body))
				resp, err := cl.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

var binary string

func build(b *testing.B) string {
	if binary != "" {
		return binary
	}
	dir, err := os.MkdirTemp("", "wabridge-bench")
	if err != nil {
		b.Fatal(err)
	}
	binary = filepath.Join(dir, "wabridge") // shared by every sub-benchmark; left for the OS to clean
	// Built as deploy/Dockerfile builds the image's binary: static, stripped.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", binary, "../../cmd/wabridge")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	return binary
}

func BenchmarkOutbound(b *testing.B) {
	for _, proto := range protos {
		url, _, roots := serve(b, newStandIn(0), proto)
		b.Logf("stand-in bare rate over %s (256 concurrent clients, 0 ms): %.0f requests/s", proto, bareRate(url, roots, 3*time.Second))
	}
	for _, tc := range []struct {
		latency  time.Duration
		inFlight int
		lean     bool
	}{
		{0, 64, false}, {0, 256, false}, {0, 1024, false},
		{100 * time.Millisecond, 256, false}, {100 * time.Millisecond, 512, false}, {100 * time.Millisecond, 768, false}, {100 * time.Millisecond, 1024, false},
		{100 * time.Millisecond, 768, true},
	} {
		for _, proto := range protos {
			name := fmt.Sprintf("latency=%s/inflight=%d/proto=%s", tc.latency, tc.inFlight, proto)
			if tc.lean {
				name += "/lean"
			}
			b.Run(name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					runOnce(b, tc.latency, tc.inFlight, proto, tc.lean)
				}
			})
		}
	}
}

// leanEnv is the memory-lean setting the README suggests for a slow API
// under a tight memory limit: the garbage collector run at a quarter of
// the heap's growth instead of all of it, and a read-ahead of 2 x in flight.
func leanEnv(inFlight int) []string {
	return []string{"GOGC=25", fmt.Sprintf("WABRIDGE_MAX_BUFFERED=%d", 2*inFlight)}
}

func runOnce(b *testing.B, latency time.Duration, inFlight int, proto string, lean bool) {
	bin := build(b)
	brokers := kafkatest.Brokers(b)
	reg := srfake.New()
	b.Cleanup(reg.Close)
	api := newStandIn(latency)
	apiURL, caFile, _ := serve(b, api, proto)

	topic := func(base string) string { return kafkatest.Topic(b, base) }
	cmdTopic, resTopic := topic("commands"), topic("results")
	kafkatest.CreateTopics(b, brokers, 6, cmdTopic, resTopic)
	msgs := make([]kafka.Message, 0, commands)
	for i := 0; i < commands; i++ {
		to := fmt.Sprintf("4917%08d", i%recipients)
		msgs = append(msgs, kafka.Message{Key: []byte(to), Value: []byte(fmt.Sprintf(`{"to":%q,"type":"text","text":{"body":"%d"}}`, to, i/recipients))})
	}
	kafkatest.Produce(b, brokers, cmdTopic, msgs...)

	// WABRIDGE_BENCH_ADMIN pins the bridge's admin address (with pprof on),
	// to watch /metrics and take profiles during a run.
	admin := os.Getenv("WABRIDGE_BENCH_ADMIN")
	pprof := admin != ""
	if admin == "" {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		admin = ln.Addr().String()
		ln.Close()
	}
	cmd := exec.Command(bin, "run", "--only", "outbound")
	cmd.Env = append(os.Environ(), strings.Fields(os.Getenv("WABRIDGE_BENCH_ENV"))...)
	if lean {
		cmd.Env = append(cmd.Env, leanEnv(inFlight)...)
	}
	cmd.Env = append(cmd.Env,
		"KAFKA_BROKERS="+strings.Join(brokers, ","), "SCHEMA_REGISTRY_URL="+reg.URL(),
		"D360_API_KEY=bench", "D360_BASE_URL="+apiURL, "D360_CA_FILE="+caFile,
		"WABRIDGE_TOPIC_COMMANDS="+cmdTopic, "WABRIDGE_TOPIC_RESULTS="+resTopic,
		"WABRIDGE_TOPIC_MESSAGES="+topic("m"), "WABRIDGE_TOPIC_STATUSES="+topic("s"),
		"WABRIDGE_TOPIC_DLQ="+topic("dlq"), "WABRIDGE_TOPIC_LEDGER="+topic("ledger"),
		"WABRIDGE_TOPIC_WINDOWS="+topic("windows"), "WABRIDGE_TOPIC_OPTIN="+topic("optin"), "WABRIDGE_WINDOW_MODE=off", "WABRIDGE_TEMPLATE_REFRESH=0", "WABRIDGE_TOPIC_WEBHOOK_EVENTS="+topic("events"),
		"WABRIDGE_GROUP_ID="+topic("group"), "WABRIDGE_ADMIN_ADDR="+admin,
		fmt.Sprintf("WABRIDGE_PPROF=%t", pprof), fmt.Sprintf("WABRIDGE_MAX_IN_FLIGHT=%d", inFlight), "WABRIDGE_RATE=-1", "WABRIDGE_LOG_LEVEL=warn",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	b.ResetTimer()

	// Results arrive; read them all (bounded).
	recs := kafkatest.ReadUpTo(b, brokers, resTopic, commands, 10*time.Minute)
	hwm := peakRSS(cmd.Process.Pid)
	cpu := cpuSeconds(cmd.Process.Pid)
	b.StopTimer()
	if len(recs) < commands {
		b.Fatalf("%d results within the time limit, want %d\n%s", len(recs), commands, out.String())
	}
	client, _ := sr.NewClient(sr.URLs(reg.URL()))
	dec := schemas.NewDecoder(client)
	var first, last time.Time
	accepted := 0
	for _, m := range recs {
		v, _, err := dec.Decode(context.Background(), m.Value)
		if err != nil {
			b.Fatal(err)
		}
		if v["outcome"] == "accepted" {
			accepted++
		}
		at := v["produced_at"].(time.Time)
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	span := last.Sub(first).Seconds()
	rate := float64(commands) / span
	api.mu.Lock()
	violations, dups := api.violations, api.duplicates
	api.mu.Unlock()
	b.ReportMetric(rate, "sends/s")
	b.ReportMetric(float64(violations), "order-violations")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
	b.ReportMetric(cpu/commands*1e6, "bridge-CPU-µs/send")
	if lean {
		proto += " lean (" + strings.Join(leanEnv(inFlight), " ") + ")"
	}
	b.Logf("latency %s, in flight %d, %s: %d accepted in %.2fs = %.0f sends/s; %d order violations, %d duplicates; bridge peak RSS %.1f MB, bridge CPU %.1fs (%.0f µs per send, start-up included)",
		latency, inFlight, proto, accepted, span, rate, violations, dups, float64(hwm)/1024, cpu, cpu/commands*1e6)
	if violations > 0 || dups > 0 || accepted != commands {
		b.Errorf("order violations %d, duplicates %d, accepted %d of %d", violations, dups, accepted, commands)
	}
}

// peakRSS is VmHWM of pid in KiB.
func peakRSS(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kb)
			return kb
		}
	}
	return 0
}

// cpuSeconds is the user+system CPU time pid has used.
func cpuSeconds(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses).
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	var utime, stime float64
	fmt.Sscanf(f[11], "%f", &utime)
	fmt.Sscanf(f[12], "%f", &stime)
	return (utime + stime) / 100 // USER_HZ
}
