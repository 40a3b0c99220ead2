package inboundbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/inbound"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/internal/metrics"
	"github.com/wabridge/wabridge/schemas"
)

// The test binary plays three roles: the bridge (the test itself), the
// load generator and the kfake broker, each in its own process so that the
// bridge's peak RSS is its own.
const roleEnv = "WABRIDGE_BENCH_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "loadgen":
		os.Exit(runLoadgen())
	case "kfake":
		os.Exit(runKfake())
	}
	os.Exit(m.Run())
}

// runKfake serves a one-broker kfake cluster until stdin closes.
func runKfake() int {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		return net.Listen(network, "127.0.0.1:0")
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fmt.Println(strings.Join(c.ListenAddrs(), ","))
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// Load generator.

type loadSpec struct {
	URL         string
	Concurrency int
	Statuses    int // per POST
	Warmup      time.Duration
	Duration    time.Duration
	Seed        int // makes message ids unique across phases
	Headers     map[string]string
}

type loadResult struct {
	Requests  int
	All       int            // requests including warm-up
	CPU       float64        // seconds of CPU the load generator used
	Errors    int            // transport errors
	Codes     map[string]int // HTTP status counts
	Seconds   float64
	Latencies []int64 // microseconds, sorted, of counted requests

	serverCPU, brokerCPU float64 // seconds, measured by the parent
}

// merge adds o, a later run of the same phase, to r.
func (r *loadResult) merge(o loadResult) {
	if r.Codes == nil {
		r.Codes = map[string]int{}
	}
	r.Requests += o.Requests
	r.All += o.All
	r.Errors += o.Errors
	r.Seconds += o.Seconds
	r.CPU += o.CPU
	r.serverCPU += o.serverCPU
	r.brokerCPU += o.brokerCPU
	for k, v := range o.Codes {
		r.Codes[k] += v
	}
	r.Latencies = append(r.Latencies, o.Latencies...)
	slices.Sort(r.Latencies)
}

// perPOST is seconds of CPU as microseconds per POST sent.
func (r loadResult) perPOST(sec float64) float64 { return sec * 1e6 / float64(max(r.All, 1)) }

// statusBody renders a webhook carrying n delivered statuses, as 360dialog
// sends them (with conversation and pricing), for distinct message ids and
// recipients.
func statusBody(buf *bytes.Buffer, seed, worker, seq, n int) []byte {
	buf.Reset()
	buf.WriteString(`{"object":"whatsapp_business_account","entry":[{"id":"109876543210987","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"},"statuses":[`)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		user := (worker*7919 + seq*31 + i) % 100000
		fmt.Fprintf(buf, `{"id":"wamid.HBgLMTU1NTAwMDExMTEVAgARGBJCRU5DSC%d.%d.%d.%d","status":"delivered","timestamp":"1760000500","recipient_id":"4915%08d",`+
			`"biz_opaque_callback_data":"wabridge.commands/%d/%d","conversation":{"id":"c0ffee00c0ffee00c0ffee00c0ffee%02d","expiration_timestamp":"1760086900","origin":{"type":"service"}},`+
			`"pricing":{"billable":true,"pricing_model":"PMP","category":"service","type":"free_customer_service"}}`,
			seed, worker, seq, i, user, worker%6, seq, i%100)
	}
	buf.WriteString(`]}}]}]}`)
	return buf.Bytes()
}

func runLoadgen() int {
	var spec loadSpec
	if err := json.Unmarshal([]byte(os.Getenv("WABRIDGE_BENCH_SPEC")), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "spec:", err)
		return 1
	}
	tr := &http.Transport{MaxIdleConns: spec.Concurrency, MaxIdleConnsPerHost: spec.Concurrency, DisableCompression: true, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now()
	countFrom, stop := start.Add(spec.Warmup), start.Add(spec.Warmup+spec.Duration)
	var mu sync.Mutex
	res := loadResult{Codes: map[string]int{}}
	var wg sync.WaitGroup
	for w := range spec.Concurrency {
		wg.Go(func() {
			var buf bytes.Buffer
			var lat []int64
			codes := map[string]int{}
			errs := 0
			seq := 0
			for ; ; seq++ {
				body := statusBody(&buf, spec.Seed, w, seq, spec.Statuses)
				req, _ := http.NewRequest(http.MethodPost, spec.URL, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				for k, v := range spec.Headers {
					req.Header.Set(k, v)
				}
				t0 := time.Now()
				if t0.After(stop) {
					break
				}
				resp, err := client.Do(req)
				d := time.Since(t0)
				code := "error"
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = strconv.Itoa(resp.StatusCode)
				}
				if t0.Before(countFrom) || t0.Add(d).After(stop) {
					continue
				}
				if err != nil {
					errs++
				}
				codes[code]++
				lat = append(lat, d.Microseconds())
			}
			mu.Lock()
			res.All += seq
			res.Latencies = append(res.Latencies, lat...)
			res.Errors += errs
			for k, v := range codes {
				res.Codes[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(res.Latencies)
	res.Requests = len(res.Latencies)
	res.CPU = cpuSeconds(os.Getpid())
	res.Seconds = spec.Duration.Seconds()
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// load runs the load generator in a child process.
func load(t *testing.T, spec loadSpec) loadResult {
	t.Helper()
	b, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=loadgen", "WABRIDGE_BENCH_SPEC="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("load generator: %v", err)
	}
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("load generator output %q: %v", out, err)
	}
	return res
}

func (r loadResult) rate() float64 { return float64(r.Requests) / r.Seconds }

func (r loadResult) pct(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(r.Latencies)))
	if i >= len(r.Latencies) {
		i = len(r.Latencies) - 1
	}
	return time.Duration(r.Latencies[i]) * time.Microsecond
}

func (r loadResult) ok() int { return r.Codes["200"] }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// cpuSeconds is the user+system CPU time process pid has used (Linux).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// loadAverage is the 1/5/15-minute load average of the machine: other
// work on it takes CPU from the run.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// Peak RSS of this process (Linux): VmHWM, which clear_refs resets.

func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}

// The bridge under test.

type bridge struct {
	srv    *http.Server
	url    string
	writer publisher
	topics inbound.Topics
}

// publisher is a Kafka producer the bridge can use.
type publisher interface {
	inbound.Publisher
	Close() error
}

// publisherVariant builds the producer of one measured configuration:
// "kafkaio" is the writer wabridge uses (kafkaio.Conn.NewWriter); "batch<N>" and
// "batch<N>ms" change its BatchSize or BatchTimeout; "kgo" and "kgo<N>ms" are
// franz-go's producer (acks=all, idempotent, murmur2 like the Java client)
// with that linger, for comparison.
func publisherVariant(t *testing.T, name string, brokers []string) publisher {
	if rest, ok := strings.CutPrefix(name, "kgo"); ok {
		linger := time.Duration(0)
		if rest != "" {
			n, err := strconv.Atoi(strings.TrimSuffix(rest, "ms"))
			if err != nil {
				t.Fatalf("publisher variant %q", name)
			}
			linger = time.Duration(n) * time.Millisecond
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(linger))
		if err != nil {
			t.Fatal(err)
		}
		return kgoPublisher{cl}
	}
	w := kafkatest.Writer(t, brokers)
	switch {
	case name == "kafkaio":
	case strings.HasPrefix(name, "batch") && strings.HasSuffix(name, "ms"):
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "batch"), "ms"))
		w.BatchTimeout = time.Duration(n) * time.Millisecond
	case strings.HasPrefix(name, "batch"):
		n, _ := strconv.Atoi(strings.TrimPrefix(name, "batch"))
		w.BatchSize = n
	default:
		t.Fatalf("unknown publisher variant %q", name)
	}
	return w
}

// kgoPublisher produces kafka-go messages with franz-go.
type kgoPublisher struct{ cl *kgo.Client }

func (p kgoPublisher) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		hs := make([]kgo.RecordHeader, len(m.Headers))
		for j, h := range m.Headers {
			hs[j] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
		recs[i] = &kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: hs, Timestamp: m.Time}
	}
	return p.cl.ProduceSync(ctx, recs...).FirstErr()
}

func (p kgoPublisher) Close() error { p.cl.Close(); return nil }

func startBridge(t *testing.T, brokers []string, reg *sr.Client, topics inbound.Topics, writer publisher) *bridge {
	t.Helper()
	ctx := context.Background()
	encoders := map[schemas.Kind]inbound.Encoder{}
	for kind, topic := range map[schemas.Kind]string{schemas.InboundMessage: topics.Messages, schemas.MessageStatus: topics.Statuses, schemas.WebhookEvent: topics.Events} {
		enc, err := schemas.Resolve(ctx, reg, topic, kind, true)
		if err != nil {
			t.Fatal(err)
		}
		encoders[kind] = enc
	}
	h, err := inbound.New(inbound.Config{
		Topics: topics, Encoders: encoders, Publisher: writer, Token: "bench-token",
		Metrics: metrics.New(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux, "/webhook")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The timeouts wabridge recommends for the webhook listener.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	go srv.Serve(ln)
	return &bridge{srv: srv, url: "http://" + ln.Addr().String() + "/webhook", writer: writer, topics: topics}
}

func (b *bridge) close() {
	b.srv.Close()
	b.writer.Close()
}

func startBare(t *testing.T) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/webhook", func() { srv.Close() }
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return d
	}
	return def
}

func endOffsets(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

func TestWebhookLoad(t *testing.T) {
	if os.Getenv("WABRIDGE_BENCH") == "" {
		t.Skip("set WABRIDGE_BENCH=1 to run the webhook load benchmark")
	}
	warmup := envDuration(t, "WABRIDGE_BENCH_WARMUP", 2*time.Second)
	duration := envDuration(t, "WABRIDGE_BENCH_DURATION", 10*time.Second)
	partitions := int32(6)
	if v := os.Getenv("WABRIDGE_BENCH_PARTITIONS"); v != "" {
		n, _ := strconv.Atoi(v)
		partitions = int32(n)
	}

	brokerPID := 0 // for its CPU time
	if v := os.Getenv("WABRIDGE_BENCH_BROKER_PID"); v != "" {
		brokerPID, _ = strconv.Atoi(v)
	}
	gcNote := "GOGC default"
	if v := os.Getenv("WABRIDGE_BENCH_GOGC"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("WABRIDGE_BENCH_GOGC: %v", err)
		}
		debug.SetGCPercent(n)
		gcNote = "GOGC " + v
	}
	if v := os.Getenv("WABRIDGE_BENCH_GOMEMLIMIT_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("WABRIDGE_BENCH_GOMEMLIMIT_MIB: %v", err)
		}
		debug.SetMemoryLimit(int64(n) << 20)
		gcNote += ", GOMEMLIMIT " + v + "MiB"
	}
	var brokerWarmup time.Duration
	if os.Getenv("KAFKA_BROKERS") != "" {
		brokerWarmup = envDuration(t, "WABRIDGE_BENCH_BROKER_WARMUP", 20*time.Second)
	}
	backend := "kfake (separate process)"
	var brokers []string
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		brokers = strings.Split(v, ",")
		backend = "Apache Kafka at " + v
	} else {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), roleEnv+"=kfake")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		brokerPID = cmd.Process.Pid
		t.Cleanup(func() { stdin.Close(); cmd.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("kfake: %v", err)
		}
		brokers = strings.Split(strings.TrimSpace(line), ",")
	}
	reg := srfake.New()
	defer reg.Close()
	regClient, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}

	run := fmt.Sprintf("bench%d", time.Now().UnixNano())
	newTopics := func(variant string) inbound.Topics {
		tp := inbound.Topics{
			Messages: run + "." + variant + ".messages", Statuses: run + "." + variant + ".statuses",
			Events: run + "." + variant + ".events", DeadLetter: run + "." + variant + ".dlq",
		}
		cl, err := kafkaio.Conn{Brokers: brokers}.AdminClient()
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var specs []kafkaio.Topic
		for _, n := range []string{tp.Messages, tp.Statuses, tp.Events, tp.DeadLetter} {
			specs = append(specs, kafkaio.Topic{Name: n, Partitions: partitions, ReplicationFactor: -1})
		}
		if _, err := kafkaio.EnsureTopics(ctx, cl, specs); err != nil {
			t.Fatal(err)
		}
		return tp
	}

	var report strings.Builder
	fmt.Fprintf(&report, "\nwebhook load, %s, %d partitions, GOMAXPROCS %d, %d CPUs, bridge %s, warm-up %s, %s per phase, load average at start %s\n",
		backend, partitions, runtime.GOMAXPROCS(0), runtime.NumCPU(), gcNote, warmup, duration, loadAverage())
	defer func() { fmt.Printf("load average at the end: %s\n", loadAverage()) }()
	fmt.Fprintf(&report, "%-44s %8s %9s %9s %9s %9s %6s   %s\n", "phase", "POST/s", "p50", "p90", "p99", "max", "non-200",
		"CPU µs per POST: server / load generator / broker")
	line := func(name string, r loadResult) {
		fmt.Fprintf(&report, "%-44s %8.0f %9s %9s %9s %9s %6d   %.0f / %.0f / %.0f\n", name, r.rate(), ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)),
			ms(r.pct(100)), r.Requests-r.ok(), r.perPOST(r.serverCPU), r.perPOST(r.CPU), r.perPOST(r.brokerCPU))
	}
	seed := 0
	phase := func(url string, conc, statuses int, headers map[string]string) loadResult {
		seed++
		self, broker := cpuSeconds(os.Getpid()), cpuSeconds(brokerPID)
		r := load(t, loadSpec{URL: url, Concurrency: conc, Statuses: statuses, Warmup: warmup, Duration: duration, Seed: seed, Headers: headers})
		r.serverCPU = cpuSeconds(os.Getpid()) - self
		if brokerPID != 0 {
			r.brokerCPU = cpuSeconds(brokerPID) - broker
		}
		return r
	}
	auth := map[string]string{"X-Webhook-Token": "bench-token"}
	rounds := 3
	if v := os.Getenv("WABRIDGE_BENCH_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	fmt.Fprintf(&report, "(bare and bridge at 64 senders alternate in %d rounds, so that other load on the machine hits both alike)\n", rounds)

	bareURL, stopBare := startBare(t)
	defer stopBare()

	variants := strings.Split(os.Getenv("WABRIDGE_BENCH_WRITERS"), ",")
	if variants[0] == "" {
		variants = []string{"kafkaio"}
	}
	for vi, variant := range variants {
		tp := newTopics(variant)
		debug.FreeOSMemory() // what the previous variant left must not count
		resetPeakRSS()
		b := startBridge(t, brokers, regClient, tp, publisherVariant(t, variant, brokers))
		if brokerWarmup > 0 && vi == 0 {
			// A JVM broker is slow until its JIT compiler has seen the load.
			seed++
			r := load(t, loadSpec{URL: b.url, Concurrency: 64, Statuses: 1, Duration: brokerWarmup, Seed: seed, Headers: auth})
			line(fmt.Sprintf("(broker warm-up, not counted, %s)", brokerWarmup), r)
			resetPeakRSS()
		}
		var prof *os.File
		if p := os.Getenv("WABRIDGE_BENCH_CPUPROFILE"); p != "" && vi == 0 {
			prof, _ = os.Create(p)
		}
		var bare, main loadResult
		for range rounds {
			bare.merge(phase(bareURL, 64, 1, nil))
			if prof != nil {
				pprof.StartCPUProfile(prof)
			}
			main.merge(phase(b.url, 64, 1, auth))
			if prof != nil {
				pprof.StopCPUProfile()
				prof.Close()
				prof = nil
			}
		}
		line("bare net/http handler, 64 senders, 1 status", bare)
		line(fmt.Sprintf("bridge [%s], 64 senders, 1 status", variant), main)
		fmt.Fprintf(&report, "%-44s %7.0f%%\n", "  ... rate relative to bare", 100*main.rate()/bare.rate())
		var okTotal int64 = int64(main.ok())
		if vi == 0 {
			for _, c := range []int{1, 8} {
				r := phase(b.url, c, 100, auth)
				line(fmt.Sprintf("bridge [%s], %d sender(s), 100 statuses", variant, c), r)
				okTotal += int64(100 * r.ok())
			}
			sweep := os.Getenv("WABRIDGE_BENCH_SWEEP")
			if sweep == "" {
				sweep = "1,4,16,64,128,256"
			}
			if sweep != "off" {
				fmt.Fprintf(&report, "saturation sweep (1 status per POST):\n")
				for _, s := range strings.Split(sweep, ",") {
					c, _ := strconv.Atoi(s)
					r := phase(b.url, c, 1, auth)
					line(fmt.Sprintf("  bridge [%s], %d senders", variant, c), r)
					okTotal += int64(r.ok())
				}
			}
		}
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		fmt.Fprintf(&report, "%-44s %s (Go runtime now: %d MiB from the OS, heap %d MiB in use, stacks %d MiB; %d GCs)\n", "  peak RSS of the bridge process", peakRSS(),
			mem.Sys>>20, mem.HeapInuse>>20, mem.StackInuse>>20, mem.NumGC)
		b.close()
		// Every 200 is backed by records in Kafka (at least as many as the
		// counted 200s; warm-up requests add more).
		if got := endOffsets(t, brokers, tp.Statuses); got < okTotal {
			t.Errorf("%s: %d status records in Kafka for %d statuses answered 200", variant, got, okTotal)
		} else {
			fmt.Fprintf(&report, "%-44s %d records >= %d statuses answered 200 (counted phases)\n", "  check", got, okTotal)
		}
	}
	t.Log(report.String())
	fmt.Println(report.String())
}
