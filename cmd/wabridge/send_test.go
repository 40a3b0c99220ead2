package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

// cliResult is what one in-process run of the CLI printed and returned.
type cliResult struct {
	stdout, stderr string
	code           int
	err            error
}

// runCLI runs the wabridge command line in-process, as main does, and
// returns its output and exit code. Flags are passed explicitly: kong also
// reads the environment, so tests name every setting they rely on.
func runCLI(t *testing.T, ctx context.Context, args ...string) cliResult {
	t.Helper()
	var cli CLI
	var stdout, stderr syncBuffer
	exit := -1
	parser, err := newParser(ctx, &cli,
		kong.Writers(&stdout, &stderr),
		kong.Exit(func(code int) { exit = code }),
	)
	if err != nil {
		t.Fatalf("kong: %v", err)
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 { // --help printed and "exited" (parsing goes on here)
		return cliResult{stdout: stdout.String(), code: exit}
	}
	if err != nil {
		msg, code := parseError(parser, args, err)
		return cliResult{stderr: msg, code: code, err: err}
	}
	err = kctx.Run(&Globals{Args: args, Logger: slog.New(slog.DiscardHandler), Stdout: &stdout, Stderr: &stderr})
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), err: err, code: runExitCode(err)}
}

// env is a bridge environment: Kafka (kafkatest), a schema registry
// (srfake), the 360dialog stand-in and, when started, `wabridge run --only
// outbound` on its own topics.
type env struct {
	bridgeTopics
	brokers  string
	registry string
	api      *d360test.Server
	apiURL   string
}

const testKey = "test-key-3c1f9e"

func newEnv(t *testing.T, api d360test.Config) *env {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	api.APIKey = testKey
	s := d360test.New(api)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	e := &env{bridgeTopics: newBridgeTopics(t), brokers: strings.Join(brokers, ","), registry: reg.URL(), api: s, apiURL: srv.URL}
	kafkatest.CreateTopics(t, brokers, 3, e.commands, e.results, e.dlq)
	return e
}

// startBridge runs the outbound half on the env's topics.
func (e *env) startBridge(t *testing.T) {
	t.Helper()
	admin := freeAddr(t)
	p := start(t, append(e.env(3),
		"KAFKA_BROKERS="+e.brokers, "SCHEMA_REGISTRY_URL="+e.registry,
		"D360_API_KEY="+testKey, "D360_BASE_URL="+e.apiURL,
		"WABRIDGE_ADMIN_ADDR="+admin, "WABRIDGE_HTTP_ADDR=127.0.0.1:0", "WABRIDGE_WINDOW_MODE=off",
		"WABRIDGE_RATE=-1", "WABRIDGE_BACKOFF_MIN=10ms", "WABRIDGE_BACKOFF_MAX=50ms",
	), "run", "--only", "outbound")
	waitReady(t, p, admin)
	// Stopped by start's cleanup: the tools are under test here, not the
	// bridge's shutdown (e2e_test.go checks that).
}

// kafkaFlags are the command cmd with the flags that point it at the env.
func (e *env) kafkaFlags(cmd string) []string {
	return []string{cmd, "--brokers=" + e.brokers, "--topic=" + e.commands, "--results-topic=" + e.results, "--registry-url=" + e.registry}
}

// apiFlags point a tool at the stand-in; no key when key is empty.
func (e *env) apiFlags(key string) []string {
	return []string{"--api-key=" + key, "--api-base-url=" + e.apiURL, "--api-timeout=10s"}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestSendUsageErrorsExitTwo(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"to":"15550001111","type":"text","text":{"body":""}}`), 0o644)
	brokers := "--brokers=127.0.0.1:1" // never reached: usage errors come first
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"send", brokers, "--text=hi"}, "--to is required"},
		{[]string{"send", brokers}, "say what to send"},
		{[]string{"send", brokers, "--to=15550001111", "--text=hi", "--template=x"}, "use one of"},
		{[]string{"send", brokers, "--to=123", "--text=hi"}, "must have 8 to 15 digits"},
		{[]string{"send", brokers, "--to=15550001111", "--template=order_update"}, "--language is required"},
		{[]string{"send", brokers, "--to=15550001111", "--text=hi", "--param=x"}, "--param goes with --template"},
		{[]string{"send", brokers, "--json=" + bad}, "text.body"},
		{[]string{"send", brokers, "--json=" + filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"send", "--brokers=nohost", "--to=15550001111", "--text=hi"}, "want host:port"},
		{[]string{"send", brokers, "--to=15550001111", "--text=hi", "--expires-in=-1h"}, "--expires-in"},
		{[]string{"send", brokers, "--to=15550001111", "--text=hi", "--wait", "--timeout=0s"}, "--timeout"},
	}
	for _, tt := range tests {
		r := runCLI(t, ctx, append(tt.args, "--api-key=")...)
		if r.code != 2 || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("%v: exit %d, error %v; want 2 and %q", tt.args, r.code, r.err, tt.want)
		}
	}
}

func TestSendWaitPrintsTheOutcome(t *testing.T) {
	e := newEnv(t, d360test.Config{Reply: func(r d360test.Request) *d360test.Reply {
		if bytes.Contains(r.Body, []byte("15550009999")) {
			return &d360test.Reply{Status: 400, Body: `{"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026,"error_data":{"details":"recipient cannot be reached"}}}`}
		}
		return nil
	}})
	e.startBridge(t)
	ctx := testCtx(t)

	r := runCLI(t, ctx, append(e.kafkaFlags("send"), "--api-key=", "--to=+1 555 000 1111", "--text=hello", "--command-id=c-ok", "--wait", "--timeout=60s")...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "accepted c-ok message_id=wamid.STANDIN") || !strings.Contains(r.stdout, "wa_id=15550001111") {
		t.Fatalf("accepted send: exit %d, stdout %q, err %v", r.code, r.stdout, r.err)
	}

	r = runCLI(t, ctx, append(e.kafkaFlags("send"), "--api-key=", "--to=15550009999", "--template=hello_world", "--language=en_US", "--command-id=c-fail", "--wait", "-o", "json")...)
	if r.code != 1 {
		t.Fatalf("failed send: exit %d, want 1; stdout %q err %v", r.code, r.stdout, r.err)
	}
	// The same rendering as tail's: schema order, ISO 8601 UTC times.
	if !regexp.MustCompile(`^\{"event_id":"result:c-fail","command_id":"c-fail","outcome":"failed","produced_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","to":"15550009999",`).MatchString(r.stdout) {
		t.Errorf("-o json printed %s", r.stdout)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("-o json printed %q: %v", r.stdout, err)
	}
	errObj, _ := res["error"].(map[string]any)
	if res["outcome"] != "failed" || res["command_id"] != "c-fail" || errObj["code"] != float64(131026) || errObj["details"] != "recipient cannot be reached" {
		t.Errorf("result = %v, want failed c-fail with code 131026 and the API's details", res)
	}

	// The body the API got is the template the flags describe.
	var sent map[string]any
	for _, req := range e.api.Requests() {
		if bytes.Contains(req.Body, []byte("15550009999")) {
			json.Unmarshal(req.Body, &sent)
		}
	}
	if tmpl, _ := sent["template"].(map[string]any); tmpl["name"] != "hello_world" || sent["biz_opaque_callback_data"] != "c-fail" {
		t.Errorf("API got %v", sent)
	}
}

func TestSendWaitTimesOutWithoutABridge(t *testing.T) {
	e := newEnv(t, d360test.Config{})
	r := runCLI(t, testCtx(t), append(e.kafkaFlags("send"), "--api-key=", "--to=15550001111", "--text=hi", "--wait", "--timeout=1s")...)
	if r.code != 1 || !strings.Contains(r.err.Error(), "no result for command") {
		t.Fatalf("exit %d, err %v; want 1 and no result", r.code, r.err)
	}
	// The command is on the topic all the same.
	got := kafkatest.ReadN(t, strings.Split(e.brokers, ","), e.commands, 1, 30*time.Second)
	if string(got[0].Key) != "15550001111" {
		t.Errorf("command key = %q, want the recipient's digits", got[0].Key)
	}
}

// --to takes a business-scoped user id for text as for templates: it goes
// in recipient, and the command is keyed by it.
func TestSendTextToABusinessScopedUserID(t *testing.T) {
	e := newEnv(t, d360test.Config{})
	const bsuid = "US.13491208655302741918"
	r := runCLI(t, testCtx(t), append(e.kafkaFlags("send"), "--api-key=", "--to="+bsuid, "--text=hi")...)
	if r.code != 0 {
		t.Fatalf("exit %d, err %v", r.code, r.err)
	}
	got := kafkatest.ReadN(t, strings.Split(e.brokers, ","), e.commands, 1, 30*time.Second)
	var body map[string]any
	if err := json.Unmarshal(got[0].Value, &body); err != nil {
		t.Fatal(err)
	}
	if string(got[0].Key) != bsuid || body["recipient"] != bsuid || body["to"] != nil {
		t.Errorf("command key %q body %s, want recipient %s", got[0].Key, got[0].Value, bsuid)
	}
}

func TestSendChecksTemplatesAgainstTheCatalogue(t *testing.T) {
	e := newEnv(t, d360test.Config{})
	ctx := testCtx(t)
	base := append(e.kafkaFlags("send"), "--to=15550001111")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--template=order_updat", "--language=en_US", "--param=x"}, "did you mean order_update"},
		{[]string{"--template=order_update", "--language=de", "--param=x"}, "exists in en_US"},
		{[]string{"--template=order_update", "--language=en_US", "--param=header=1", "--param=Jane", "--param=button.0=1"}, "body takes 2 parameters, the send gives 1"},
	}
	for _, tt := range tests {
		r := runCLI(t, ctx, append(append(append([]string{}, base...), e.apiFlags(testKey)...), tt.args...)...)
		if r.code != 2 || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("%v: exit %d err %v, want 2 and %q", tt.args, r.code, r.err, tt.want)
		}
	}
	// A matching send goes out; the catalogue gave the button its type.
	r := runCLI(t, ctx, append(append(append([]string{}, base...), e.apiFlags(testKey)...),
		"--template=order_update", "--language=en_US", "--param=header=42", "--param=Jane", "--param=on its way", "--param=button.0=42", "--command-id=tmpl-1")...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "tmpl-1" {
		t.Fatalf("exit %d stdout %q err %v", r.code, r.stdout, r.err)
	}
	got := kafkatest.ReadN(t, strings.Split(e.brokers, ","), e.commands, 1, 30*time.Second)
	if !bytes.Contains(got[0].Value, []byte(`"sub_type":"url"`)) {
		t.Errorf("command %s lacks the url button", got[0].Value)
	}
	if strings.Contains(r.stdout+r.stderr, testKey) {
		t.Errorf("the API key was printed")
	}
}
