package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/internal/d360"
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
	parser, err := kong.New(&cli,
		kong.Name("wabridge"),
		kong.BindTo(ctx, (*context.Context)(nil)),
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
		return cliResult{stderr: err.Error(), code: 80, err: err}
	}
	err = kctx.Run(&Globals{Logger: slog.New(slog.DiscardHandler), Stdout: &stdout, Stderr: &stderr})
	res := cliResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
	var ec interface{ ExitCode() int }
	switch {
	case err == nil:
	case errors.As(err, &ec):
		res.code = ec.ExitCode()
	default:
		res.code = 1
	}
	return res
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

func TestParseSlot(t *testing.T) {
	tests := []struct {
		in      string
		want    slot
		notSlot bool
		err     string
	}{
		{in: "body.1", want: slot{comp: "body", pos: 1, given: true, raw: "body.1"}},
		{in: "body.first_name", want: slot{comp: "body", name: "first_name", given: true, raw: "body.first_name"}},
		{in: "body.2:currency", want: slot{comp: "body", pos: 2, typ: "currency", given: true, raw: "body.2:currency"}},
		{in: "header", want: slot{comp: "header", pos: 1, raw: "header"}},
		{in: "header:image", want: slot{comp: "header", pos: 1, typ: "image", raw: "header:image"}},
		{in: "button.0", want: slot{comp: "button", pos: 0, given: true, raw: "button.0"}},
		{in: "button.3:payload", want: slot{comp: "button", pos: 3, typ: "payload", given: true, raw: "button.3:payload"}},
		{in: "Jane", notSlot: true},
		{in: "price=9", notSlot: true},
		{in: "footer.1", notSlot: true},
		{in: "body.0", err: "numbered from 1"},
		{in: "header.2", err: "at most 1 parameter"},
		{in: "button", err: "needs the button's index"},
		{in: "button.x", err: "needs the button's index"},
		{in: "button.10", err: "0 to 9"},
		{in: "body.1:money", err: "unknown parameter type"},
		{in: "body.a_very_long_parameter_name_x", err: "at most 20"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok, err := parseSlot(tt.in)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseSlot(%q) error = %v, want one containing %q", tt.in, err, tt.err)
				}
			case tt.notSlot:
				if ok || err != nil {
					t.Fatalf("parseSlot(%q) = %v, %v, %v; want not a slot", tt.in, got, ok, err)
				}
			default:
				if err != nil || !ok || got != tt.want {
					t.Fatalf("parseSlot(%q) = %+v, %v, %v; want %+v", tt.in, got, ok, err, tt.want)
				}
			}
		})
	}
}

func orderUpdate() *d360.TemplateParams {
	var tmpl d360.Template
	b, _ := json.Marshal(d360test.DefaultTemplates()[1])
	if err := json.Unmarshal(b, &tmpl); err != nil {
		panic(err)
	}
	p := tmpl.Params()
	return &p
}

func TestSendParamsBuildTheTemplate(t *testing.T) {
	tests := []struct {
		name   string
		params []string
		spec   *d360.TemplateParams
		want   string // the template object
		err    string
	}{
		{
			name:   "bare values fill the body in order",
			params: []string{"Jane", "on its way"},
			want:   `{"components":[{"parameters":[{"text":"Jane","type":"text"},{"text":"on its way","type":"text"}],"type":"body"}],"language":{"code":"en_US"},"name":"t"}`,
		},
		{
			name:   "slots with the catalogue's types",
			params: []string{"header=42", "body.2=on its way", "body.1=Jane", "button.0=42"},
			spec:   orderUpdate(),
			want:   `{"components":[{"parameters":[{"text":"42","type":"text"}],"type":"header"},{"parameters":[{"text":"Jane","type":"text"},{"text":"on its way","type":"text"}],"type":"body"},{"index":"0","parameters":[{"text":"42","type":"text"}],"sub_type":"url","type":"button"}],"language":{"code":"en_US"},"name":"t"}`,
		},
		{
			name:   "named, currency, media and payload",
			params: []string{"header:image=https://example.com/a.jpg", "body.first_name=Jane", "body.price:currency=USD 19.99", "button.1:payload=STOP"},
			want:   `{"components":[{"parameters":[{"image":{"link":"https://example.com/a.jpg"},"type":"image"}],"type":"header"},{"parameters":[{"parameter_name":"first_name","text":"Jane","type":"text"},{"currency":{"amount_1000":19990,"code":"USD","fallback_value":"USD 19.99"},"parameter_name":"price","type":"currency"}],"type":"body"},{"index":"1","parameters":[{"payload":"STOP","type":"payload"}],"sub_type":"quick_reply","type":"button"}],"language":{"code":"en_US"},"name":"t"}`,
		},
		{name: "a value with = that is no slot", params: []string{"a=b"}, want: `{"components":[{"parameters":[{"text":"a=b","type":"text"}],"type":"body"}],"language":{"code":"en_US"},"name":"t"}`},
		{name: "gap", params: []string{"body.2=x"}, err: "body.1 is missing"},
		{name: "twice", params: []string{"body.1=x", "body.1=y"}, err: "given twice"},
		{name: "named and positional mixed", params: []string{"body.1=x", "body.name=y"}, err: "either named or positional"},
		{name: "button type unknown without catalogue", params: []string{"button.0=42"}, err: "say the button's parameter type"},
		{name: "body parameter cannot be media", params: []string{"body.1:image=x"}, err: "text, currency or date_time"},
		{name: "too few for the template", params: []string{"header=42", "Jane", "button.0=42"}, spec: orderUpdate(), err: "body takes 2 parameters, the send gives 1"},
		{name: "header missing for the template", params: []string{"Jane", "x", "button.0=42"}, spec: orderUpdate(), err: "header needs 1 parameter"},
		{name: "url button parameter missing", params: []string{"header=1", "Jane", "x"}, spec: orderUpdate(), err: "button 0 (url) needs 1 parameter"},
		{name: "bad money", params: []string{"body.1:currency=19.99"}, err: "CODE AMOUNT"},
		{name: "empty value", params: []string{"body.1="}, err: "empty value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shape, values, err := parseSendParams(tt.params, tt.spec)
			var body []byte
			if err == nil {
				body, err = shape.command("t", "en_US", "15550001111", func(i int) string { return values[i] })
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var msg map[string]any
			if err := json.Unmarshal(body, &msg); err != nil {
				t.Fatalf("command %s is not JSON: %v", body, err)
			}
			if got, _ := json.Marshal(msg["template"]); string(got) != tt.want { // map keys sorted
				t.Errorf("template =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in     string
		code   string
		amount int64
		bad    bool
	}{
		{"USD 19.99", "USD", 19990, false},
		{"19.99 EUR", "EUR", 19990, false},
		{"jpy 500", "JPY", 500000, false},
		{"USD 0.001", "USD", 1, false},
		{"USD 0", "", 0, true},
		{"USD 1.2345", "", 0, true},
		{"USD -3", "", 0, true},
		{"US 3", "", 0, true},
		{"19.99", "", 0, true},
		{"USD 1,000.00", "", 0, true},
	}
	for _, tt := range tests {
		code, amount, err := parseMoney(tt.in)
		if tt.bad != (err != nil) || code != tt.code || amount != tt.amount {
			t.Errorf("parseMoney(%q) = %q, %d, %v", tt.in, code, amount, err)
		}
	}
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
