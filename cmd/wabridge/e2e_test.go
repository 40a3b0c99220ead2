package main

// End-to-end tests drive the built wabridge binary as a user would: through
// its flags and environment, over TCP, with signals.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/devstack"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/schemas"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wabridge-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wabridge")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building wabridge:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// freeAddr is a free 127.0.0.1 address to listen on.
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// testRegistry starts an in-process schema registry for the test and
// returns its URL and a decoder that reads through it.
func testRegistry(t *testing.T) (string, *schemas.Decoder) {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	client, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return reg.URL(), schemas.NewDecoder(client)
}

// bridgeTopics are a test's own names for every topic of the bridge and
// for its consumer group, so tests can share a broker.
type bridgeTopics struct {
	commands, results, messages, statuses, dlq, ledger, events, windows, optin, group string
}

func newBridgeTopics(t *testing.T) bridgeTopics {
	topic := func(base string) string { return kafkatest.Topic(t, base) }
	return bridgeTopics{
		commands: topic("commands"), results: topic("results"), messages: topic("messages"), statuses: topic("statuses"),
		dlq: topic("dlq"), ledger: topic("ledger"), events: topic("events"), windows: topic("windows"), optin: topic("optin"),
		group: topic("group"),
	}
}

// env is the environment that points wabridge at the topics, created with
// partitions partitions each.
func (b bridgeTopics) env(partitions int) []string {
	return []string{
		"WABRIDGE_TOPIC_COMMANDS=" + b.commands, "WABRIDGE_TOPIC_RESULTS=" + b.results,
		"WABRIDGE_TOPIC_MESSAGES=" + b.messages, "WABRIDGE_TOPIC_STATUSES=" + b.statuses,
		"WABRIDGE_TOPIC_DLQ=" + b.dlq, "WABRIDGE_TOPIC_LEDGER=" + b.ledger, "WABRIDGE_TOPIC_WEBHOOK_EVENTS=" + b.events,
		"WABRIDGE_TOPIC_WINDOWS=" + b.windows, "WABRIDGE_TOPIC_OPTIN=" + b.optin,
		fmt.Sprintf("WABRIDGE_TOPIC_PARTITIONS=%d", partitions), "WABRIDGE_GROUP_ID=" + b.group,
	}
}

// proc is a running wabridge process.
type proc struct {
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{}
	waitErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the binary; the test's cleanup kills it if still running.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("wabridge %v output:\n%s", args, p.out)
		}
	})
	return p
}

// cleanEnv is the environment without wabridge's own variables, so a
// developer's shell cannot change what a test runs.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "WABRIDGE_") || strings.HasPrefix(k, "KAFKA_") || strings.HasPrefix(k, "SCHEMA_REGISTRY") ||
			strings.HasPrefix(k, "D360_") || strings.HasPrefix(k, "WEBHOOK_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("wabridge did not exit within 30s of SIGTERM")
	}
	if p.waitErr != nil {
		t.Fatalf("wabridge exited with %v after SIGTERM, want 0", p.waitErr)
	}
}

func waitReady(t *testing.T, p *proc, adminAddr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("wabridge exited before it was ready: %v", p.waitErr)
		default:
		}
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("wabridge not ready within 60s")
}

func union(v any) any {
	if m, ok := v.(map[string]any); ok {
		for _, x := range m {
			return x
		}
	}
	return v
}

// The whole loop through `wabridge run`: command in → API called with the
// right body and key → result event → status webhooks → status events that
// name the command.
func TestRunEndToEnd(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	registry, dec := testRegistry(t)

	httpAddr, admin := freeAddr(t), freeAddr(t)
	webhook := "http://" + httpAddr + "/hooks/wa"
	api := d360test.New(d360test.Config{
		APIKey: "key-123", WebhookURL: webhook, WebhookHeaders: map[string]string{"X-Hook-Secret": "tok"},
		StatusDelay: 20 * time.Millisecond,
	})
	apiSrv := httptest.NewServer(api)
	t.Cleanup(func() { apiSrv.Close(); api.Close() })

	topics := newBridgeTopics(t)
	commands, results, messages, statuses := topics.commands, topics.results, topics.messages, topics.statuses
	p := start(t, append(topics.env(3),
		"KAFKA_BROKERS="+strings.Join(brokers, ","),
		"SCHEMA_REGISTRY_URL="+registry,
		"D360_API_KEY=key-123",
		"D360_BASE_URL="+apiSrv.URL,
		"WEBHOOK_TOKEN=tok", "WEBHOOK_TOKEN_HEADER=X-Hook-Secret",
		"WABRIDGE_WEBHOOK_PATH=/hooks/wa",
		"WABRIDGE_HTTP_ADDR="+httpAddr,
		"WABRIDGE_ADMIN_ADDR="+admin,
		"WABRIDGE_PHONE_NUMBER_ID=100000000000001",
	), "run")
	waitReady(t, p, admin)

	// The user writes first (webhook): that opens the 24-hour window the
	// free-form reply below needs (run enforces it).
	inboundHook := `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{
	 "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"},
	 "contacts":[{"profile":{"name":"Jane"},"wa_id":"15550001111"}],
	 "messages":[{"from":"15550001111","id":"wamid.IN-E2E","timestamp":"` + fmt.Sprint(time.Now().Unix()) + `","type":"text","text":{"body":"hi, where is my order?"}}]}}]}]}`
	req, _ := http.NewRequest(http.MethodPost, webhook, strings.NewReader(inboundHook))
	req.Header.Set("X-Hook-Secret", "tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("inbound webhook: %v %v", err, resp)
	}
	resp.Body.Close()
	if m := kafkatest.ReadN(t, brokers, messages, 1, 30*time.Second); string(m[0].Key) != "15550001111" {
		t.Fatalf("inbound message key %q", m[0].Key)
	}

	kafkatest.Produce(t, brokers, commands, kafka.Message{
		Key:     []byte("15550001111"),
		Value:   []byte(`{"to":"15550001111","type":"text","text":{"body":"Hello"}}`),
		Headers: []kafka.Header{{Key: "command-id", Value: []byte("order-42")}},
	})

	ctx := context.Background()

	res := kafkatest.ReadN(t, brokers, results, 1, 60*time.Second)
	r, _, err := dec.Decode(ctx, res[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	wamid, _ := union(r["message_id"]).(string)
	if r["outcome"] != "accepted" || r["command_id"] != "order-42" || !strings.HasPrefix(wamid, "wamid.") {
		t.Fatalf("result = %v, want accepted for order-42 with a wamid", r)
	}

	reqs := api.Requests()
	if len(reqs) != 1 {
		t.Fatalf("API got %d requests, want 1", len(reqs))
	}
	var body map[string]any
	json.Unmarshal(reqs[0].Body, &body)
	if reqs[0].APIKey != "key-123" || body["messaging_product"] != "whatsapp" || body["to"] != "15550001111" ||
		body["biz_opaque_callback_data"] != "order-42" || body["text"].(map[string]any)["body"] != "Hello" {
		t.Errorf("API request key %q body %s", reqs[0].APIKey, reqs[0].Body)
	}

	sts := kafkatest.ReadN(t, brokers, statuses, 3, 60*time.Second)
	seen := map[string]bool{}
	for _, m := range sts {
		s, _, err := dec.Decode(ctx, m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if union(s["command_id"]) != "order-42" || s["message_id"] != wamid || string(m.Key) != "15550001111" {
			t.Errorf("status record %v key %q, want command order-42, message %s", s, m.Key, wamid)
		}
		seen[s["status"].(string)] = true
	}
	for _, want := range []string{"sent", "delivered", "read"} {
		if !seen[want] {
			t.Errorf("no %q status event", want)
		}
	}

	// /metrics is served and counts what happened.
	resp, err = http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(metrics.String(), "wabridge_windows_open 1\n") {
		t.Errorf("metrics lack the one open window:\n%s", grep(metrics.String(), "wabridge_windows"))
	}
	if !strings.Contains(metrics.String(), `wabridge_sends_total{code="",outcome="accepted",reason=""} 1`) {
		t.Errorf("metrics lack the accepted send:\n%s", grep(metrics.String(), "wabridge_sends_total"))
	}
	p.stop(t)
	if strings.Contains(p.out.String(), "key-123") {
		t.Errorf("the API key appears in the output")
	}
}

func grep(s, substr string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}

// `wabridge dev` starts everything in-process; `send` and `tail` drive it as
// the README tells a newcomer to.
func TestDevEmbeddedDefault(t *testing.T) {
	kafkaPort, regPort, standinPort, httpPort, adminPort := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	p := start(t, nil, "dev",
		fmt.Sprintf("--kafka-port=%d", kafkaPort), fmt.Sprintf("--registry-port=%d", regPort),
		fmt.Sprintf("--standin-port=%d", standinPort), fmt.Sprintf("--http-addr=127.0.0.1:%d", httpPort),
		"--admin-addr="+admin)
	waitReady(t, p, admin)
	if out := p.out.String(); !strings.Contains(out, binary+" send --to") || !strings.Contains(out, binary+" tail") || !strings.Contains(out, "export KAFKA_BROKERS=") {
		t.Errorf("dev did not print how to send and watch:\n%s", out)
	}
	brokers := fmt.Sprintf("--brokers=127.0.0.1:%d", kafkaPort)
	send := exec.Command(binary, "send", brokers, "--to=+1 555 000 2222", "--text=hi", "--command-id=first")
	send.Env = cleanEnv()
	if out, err := send.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "first" {
		t.Fatalf("send: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tail := exec.CommandContext(ctx, binary, "tail", brokers, fmt.Sprintf("--registry-url=http://127.0.0.1:%d", regPort),
		"--max=4", "--idle=30s", "wabridge.results", "wabridge.statuses")
	tail.Env = cleanEnv()
	out, err := tail.Output()
	if err != nil {
		t.Fatalf("tail: %v", err)
	}
	var accepted, statuses int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var l struct {
			Topic string         `json:"topic"`
			Value map[string]any `json:"value"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("tail line %q: %v", line, err)
		}
		switch l.Topic {
		case "wabridge.results":
			if l.Value["outcome"] == "accepted" && l.Value["command_id"] == "first" {
				accepted++
			}
		case "wabridge.statuses":
			if union(l.Value["command_id"]) == "first" {
				statuses++
			}
		}
	}
	if accepted != 1 || statuses != 3 {
		t.Errorf("tail saw %d accepted results and %d statuses for the command, want 1 and 3:\n%s", accepted, statuses, out)
	}
	p.stop(t)
}

// Bad configuration ends at once with one clear line and a non-zero exit.
func TestBadConfiguration(t *testing.T) {
	closed := freeAddr(t)
	base := []string{"SCHEMA_REGISTRY_URL=http://127.0.0.1:1", "D360_API_KEY=k", "WABRIDGE_PHONE_NUMBER_ID=100000000000001", "WABRIDGE_STARTUP_TIMEOUT=3s", "WEBHOOK_TOKEN=t",
		"WABRIDGE_HTTP_ADDR=127.0.0.1:0", "WABRIDGE_ADMIN_ADDR=127.0.0.1:0"}
	missingCA := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no brokers", base, []string{"run"}, "no Kafka brokers"},
		{"broker not host:port", append(base, "KAFKA_BROKERS=localhost"), []string{"run"}, `broker "localhost": want host:port`},
		{"unreachable brokers", append(base, "KAFKA_BROKERS="+closed), []string{"run"}, "not reachable"},
		{"no API key", []string{"KAFKA_BROKERS=" + closed, "SCHEMA_REGISTRY_URL=http://x:1"}, []string{"run"}, "no 360dialog API key"},
		{"malformed base URL", append(base, "KAFKA_BROKERS="+closed, "D360_BASE_URL=ftp//nope"), []string{"run"}, "360dialog base URL"},
		{"malformed registry URL", []string{"KAFKA_BROKERS=" + closed, "D360_API_KEY=k", "SCHEMA_REGISTRY_URL=registry:8081"}, []string{"run"}, "schema registry URL"},
		{"bad duration", append(base, "D360_TIMEOUT=soon"), []string{"run"}, "D360_TIMEOUT"},
		{"missing API CA file", append(base, "KAFKA_BROKERS="+closed, "D360_CA_FILE="+missingCA), []string{"run"}, "360dialog CA file " + missingCA + ": no such file or directory"},
		{"API CA file without certificates", append(base, "KAFKA_BROKERS="+closed), []string{"run", "--api-ca-file", notPEM}, "360dialog CA file " + notPEM + " holds no PEM certificate"},
		{"bad --only", base, []string{"run", "--only=half"}, "--only"},
		{"no webhook authentication", []string{"KAFKA_BROKERS=" + closed, "SCHEMA_REGISTRY_URL=http://x:1", "D360_API_KEY=k", "WABRIDGE_PHONE_NUMBER_ID=1"}, []string{"run"}, "no webhook authentication"},
		{"no business number for the window", []string{"KAFKA_BROKERS=" + closed, "SCHEMA_REGISTRY_URL=http://x:1", "D360_API_KEY=k"}, []string{"run"}, "WABRIDGE_PHONE_NUMBER_ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, tc.args...)
			cmd.Env = append(cleanEnv(), tc.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("still running after 60s")
			}
			if err == nil {
				t.Fatalf("exit 0, want an error")
			}
			msg := strings.TrimSpace(stderr.String())
			if !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q, want it to contain %q", msg, tc.want)
			}
			if strings.Count(msg, "\n") > 0 || strings.Contains(msg, "goroutine") {
				t.Errorf("want one line on stderr, got:\n%s", msg)
			}
		})
	}
}
