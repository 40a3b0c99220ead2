package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/internal/devstack"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

var binary string

// mode is WABRIDGE_FAULTS: "" (skip), "short" (the CI subset) or "1".
var mode = os.Getenv("WABRIDGE_FAULTS")

func TestMain(m *testing.M) {
	if mode == "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "wabridge-faults")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wabridge")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/wabridge")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building wabridge:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// faultBroker skips t unless the suite is on (short: also in its short
// version) and returns the brokers of the local-kafka.sh broker it may
// kill. The test's cleanup brings the broker back if it left it down.
func faultBroker(t *testing.T, short bool) []string {
	t.Helper()
	switch {
	case mode == "":
		t.Skip("fault suite: set WABRIDGE_FAULTS=1 (see doc.go)")
	case mode == "short" && !short:
		t.Skip("not in the short fault suite (WABRIDGE_FAULTS=1 runs it)")
	case os.Getenv("KAFKA_BROKERS") == "" || os.Getenv("KAFKA_STATE_DIR") == "":
		t.Fatal("the fault suite needs KAFKA_BROKERS and KAFKA_STATE_DIR of a deploy/local-kafka.sh broker")
	}
	t.Cleanup(func() {
		if err := exec.Command("../../deploy/local-kafka.sh", "status").Run(); err != nil {
			localKafka(t, "resume")
			localKafka(t, "start")
		}
	})
	return strings.Split(os.Getenv("KAFKA_BROKERS"), ",")
}

// localKafka runs deploy/local-kafka.sh verb on the suite's broker. A
// broker holding many partitions takes a while to start: up to 3 minutes
// unless KAFKA_START_TIMEOUT says otherwise.
func localKafka(t *testing.T, verb string) {
	t.Helper()
	cmd := exec.Command("../../deploy/local-kafka.sh", verb)
	if os.Getenv("KAFKA_START_TIMEOUT") == "" {
		cmd.Env = append(os.Environ(), "KAFKA_START_TIMEOUT=180")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil && verb != "resume" {
		t.Fatalf("local-kafka.sh %s: %v\n%s", verb, err, stderr.String())
	}
}

// registry starts an in-process schema registry.
func registry(t *testing.T) string {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	return reg.URL()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// topics are a test's own topic names and consumer group.
type topics struct {
	commands, results, messages, statuses, dlq, ledger, events, windows, optin, group string
}

// newTopics names a test's topics and deletes them when the test ends:
// every partition a broker holds makes its restart slower.
func newTopics(t *testing.T) topics {
	var names []string
	n := func(base string) string {
		name := kafkatest.Topic(t, base)
		names = append(names, name)
		return name
	}
	tp := topics{commands: n("commands"), results: n("results"), messages: n("messages"), statuses: n("statuses"),
		dlq: n("dlq"), ledger: n("ledger"), events: n("events"), windows: n("windows"), optin: n("optin"), group: n("group")}
	t.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(os.Getenv("KAFKA_BROKERS"), ",")...))
		if err != nil {
			return
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		kadm.NewClient(cl).DeleteTopics(ctx, names...) // best effort; missing ones are fine
	})
	return tp
}

func (b topics) env(partitions int) []string {
	return []string{
		"WABRIDGE_TOPIC_COMMANDS=" + b.commands, "WABRIDGE_TOPIC_RESULTS=" + b.results,
		"WABRIDGE_TOPIC_MESSAGES=" + b.messages, "WABRIDGE_TOPIC_STATUSES=" + b.statuses,
		"WABRIDGE_TOPIC_DLQ=" + b.dlq, "WABRIDGE_TOPIC_LEDGER=" + b.ledger, "WABRIDGE_TOPIC_WEBHOOK_EVENTS=" + b.events,
		"WABRIDGE_TOPIC_WINDOWS=" + b.windows, "WABRIDGE_TOPIC_OPTIN=" + b.optin,
		fmt.Sprintf("WABRIDGE_TOPIC_PARTITIONS=%d", partitions), "WABRIDGE_GROUP_ID=" + b.group,
	}
}

// bridge is a running wabridge process.
type bridge struct {
	cmd   *exec.Cmd
	out   *syncBuffer
	done  chan struct{}
	err   error
	admin string
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

// startBridge runs `wabridge run` with env (plus an admin address of its
// own) and waits until /readyz answers 200. The test's cleanup kills it if
// it still runs, and logs its output if the test failed.
func startBridge(t *testing.T, env ...string) *bridge {
	t.Helper()
	b := &bridge{out: &syncBuffer{}, done: make(chan struct{}), admin: freeAddr(t)}
	b.cmd = exec.Command(binary, "run")
	b.cmd.Env = append(cleanEnv(), append(env, "WABRIDGE_ADMIN_ADDR="+b.admin, "WABRIDGE_PPROF=true")...)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			b.cmd.Process.Kill()
			<-b.done
		}
		if dir := os.Getenv("WABRIDGE_FAULTS_LOGS"); dir != "" {
			name := filepath.Join(dir, fmt.Sprintf("%s-%d.log", strings.ReplaceAll(t.Name(), "/", "_"), b.cmd.Process.Pid))
			if err := os.WriteFile(name, []byte(b.out.String()), 0o644); err != nil {
				t.Logf("keeping wabridge's output: %v", err)
			}
		}
		if t.Failed() {
			out := b.out.String()
			if len(out) > 20000 {
				out = "…" + out[len(out)-20000:]
			}
			t.Logf("wabridge (pid %d) output:\n%s", b.cmd.Process.Pid, out)
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-b.done:
			t.Fatalf("wabridge exited before it was ready: %v\n%s", b.err, b.out)
		default:
		}
		if b.ready() == http.StatusOK {
			return b
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("wabridge not ready within 90s")
	return nil
}

// ready is the status code of /readyz, 0 when it does not answer.
func (b *bridge) ready() int {
	code, _ := b.readyz()
	return code
}

// readyz is the answer of /readyz (code 0 when none).
func (b *bridge) readyz() (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + b.admin + "/readyz")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *bridge) signal(sig syscall.Signal) { b.cmd.Process.Signal(sig) }

// stop sends SIGTERM and waits (at most 60 s) for the exit.
func (b *bridge) stop(t *testing.T) {
	t.Helper()
	b.signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("wabridge did not exit within 60s of SIGTERM")
	}
	if b.err != nil {
		t.Errorf("wabridge exited with %v after SIGTERM, want 0", b.err)
	}
}

// cleanEnv is the environment without wabridge's own variables.
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

// readAll reads every record of topic with a consumer of its own (the
// suite's independent reader), for timeout.
func readAll(t *testing.T, brokers []string, topic string, timeout time.Duration) []kafka.Message {
	return kafkatest.ReadUpTo(t, brokers, topic, math.MaxInt, timeout)
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// durations summarises answer times.
type durations []time.Duration

func (d durations) quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (d durations) over(limit time.Duration) int {
	n := 0
	for _, x := range d {
		if x > limit {
			n++
		}
	}
	return n
}

// messageWebhook is a Cloud API webhook carrying one text message.
func messageWebhook(phoneNumberID, from, wamid string, at time.Time, text string) []byte {
	msg := map[string]any{"from": from, "id": wamid, "timestamp": fmt.Sprint(at.Unix()), "type": "text", "text": map[string]string{"body": text}}
	env := map[string]any{
		"object": "whatsapp_business_account",
		"entry": []map[string]any{{
			"id": "200000000000002",
			"changes": []map[string]any{{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]string{"display_phone_number": "15550009999", "phone_number_id": phoneNumberID},
					"contacts":          []any{map[string]any{"profile": map[string]string{"name": "F"}, "wa_id": from}},
					"messages":          []any{msg},
				},
			}},
		}},
	}
	b, _ := json.Marshal(env)
	return b
}

// lines counts the lines of b's output that contain s.
func (b *bridge) lines(s string) int {
	return strings.Count(b.out.String(), s)
}

// metric reads one sample of b's /metrics (0 when absent).
func (b *bridge) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + b.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
