package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/d360/d360test"
)

// templatesEnv is the stand-in alone: the templates tools need no Kafka.
func templatesEnv(t *testing.T) (*d360test.Server, []string) {
	t.Helper()
	s := d360test.New(d360test.Config{APIKey: testKey})
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, []string{"--api-key=" + testKey, "--api-base-url=" + srv.URL}
}

func TestTemplatesListAndShow(t *testing.T) {
	_, api := templatesEnv(t)
	ctx := testCtx(t)
	r := runCLI(t, ctx, append([]string{"templates", "list"}, api...)...)
	if r.code != 0 {
		t.Fatalf("list: exit %d err %v", r.code, r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], "hello_world") ||
		!strings.Contains(lines[2], "order_update") || !strings.Contains(lines[2], "header text; body 2; button.0 url") {
		t.Errorf("list:\n%s", r.stdout)
	}
	r = runCLI(t, ctx, append([]string{"templates", "list", "--name=order", "-o", "json"}, api...)...)
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0]["namespace"] != "standin" {
		t.Errorf("list -o json: %v\n%s", err, r.stdout)
	}
	r = runCLI(t, ctx, append([]string{"templates", "list", "--status=rejected"}, api...)...)
	if strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stderr, "0 of 2 templates") {
		t.Errorf("list --status=rejected:\n%s%s", r.stdout, r.stderr)
	}

	r = runCLI(t, ctx, append([]string{"templates", "show", "order_update"}, api...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "body      Hi {{1}}, your order is {{2}}.") ||
		!strings.Contains(r.stdout, "--param header=VALUE --param body.1=VALUE --param body.2=VALUE --param button.0=VALUE") {
		t.Errorf("show: exit %d\n%s", r.code, r.stdout)
	}
	r = runCLI(t, ctx, append([]string{"templates", "show", "order_updte"}, api...)...)
	if r.code != 1 || !strings.Contains(r.err.Error(), "did you mean order_update") {
		t.Errorf("show of a typo: exit %d err %v", r.code, r.err)
	}
	if strings.Contains(r.stdout+r.stderr+r.err.Error(), testKey) {
		t.Error("the API key was printed")
	}
}

func TestTemplatesCreateChecksFirst(t *testing.T) {
	s, api := templatesEnv(t)
	ctx := testCtx(t)
	bad := []string{"templates", "create", "--name=Spring-Sale", "--category=promo", "--language=en_US",
		"--body=Hi {{1}} and {{3}}", "--footer=" + strings.Repeat("f", 61), "--button=URL:Shop:ftp://x"}
	r := runCLI(t, ctx, append(bad, api...)...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "nothing was submitted") {
		t.Fatalf("exit %d err %v", r.code, r.err)
	}
	for _, want := range []string{"error: name: only lowercase", "error: category: one of MARKETING, UTILITY, AUTHENTICATION", "without gaps, got {{3}}",
		"components[1].text: at most 60 characters", "buttons[0].url: must be an http(s) URL", "warning: components[0].example"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := len(s.Templates()); n != 2 {
		t.Errorf("stand-in has %d templates: something was submitted", n)
	}

	good := []string{"templates", "create", "--name=spring_sale", "--category=marketing", "--language=en_US",
		"--header=Sale {{1}}", "--header-example=now", "--body=Hi {{1}}, {{2}} off", "--body-example=Jane", "--body-example=25%",
		"--footer=Reply STOP to opt out", "--button=QUICK_REPLY:Stop", "--button=URL:Shop:https://example.com/s/{{1}}"}
	r = runCLI(t, ctx, append(append(good, "--dry-run"), api...)...)
	var def map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &def) != nil || def["category"] != "MARKETING" {
		t.Fatalf("dry run: exit %d err %v\n%s%s", r.code, r.err, r.stdout, r.stderr)
	}
	r = runCLI(t, ctx, append(good, api...)...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "created spring_sale (en_US) id=") || r.stderr != "" {
		t.Fatalf("create: exit %d err %v\n%s%s", r.code, r.err, r.stdout, r.stderr)
	}
	r = runCLI(t, ctx, append([]string{"templates", "show", "spring_sale", "--language=en_US", "-o", "json"}, api...)...)
	if !strings.Contains(r.stdout, `"text": "Hi {{1}}, {{2}} off"`) || !strings.Contains(r.stdout, `"body_text"`) {
		t.Errorf("show after create:\n%s", r.stdout)
	}

	// From a file, as the API takes it.
	dir := t.TempDir()
	file := writeFile(t, dir, "t.json", `{"name":"welcome_named","category":"UTILITY","language":"en","parameter_format":"NAMED",
		"components":[{"type":"BODY","text":"Hi {{first_name}}","example":{"body_text_named_params":[{"param_name":"first_name","example":"Jane"}]}}]}`)
	r = runCLI(t, ctx, append([]string{"templates", "create", "--file=" + file}, api...)...)
	if r.code != 0 {
		t.Fatalf("create --file: exit %d err %v %s", r.code, r.err, r.stderr)
	}
	r = runCLI(t, ctx, append([]string{"templates", "create", "--file=" + filepath.Join(dir, "t.json"), "--name=x"}, api...)...)
	if r.code != 2 {
		t.Errorf("--file with flags: exit %d", r.code)
	}
}

func TestTemplatesDelete(t *testing.T) {
	s, api := templatesEnv(t)
	ctx := testCtx(t)
	r := runCLI(t, ctx, append([]string{"templates", "delete", "order_update"}, api...)...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "repeat with --yes") {
		t.Fatalf("without --yes: exit %d err %v", r.code, r.err)
	}
	r = runCLI(t, ctx, append([]string{"templates", "delete", "order_update", "--yes"}, api...)...)
	if r.code != 0 || len(s.Templates()) != 1 {
		t.Fatalf("delete: exit %d err %v; %d left", r.code, r.err, len(s.Templates()))
	}
	r = runCLI(t, ctx, append([]string{"templates", "delete", "order_update", "--yes"}, api...)...)
	if r.code != 1 || !strings.Contains(r.err.Error(), "HTTP 404") {
		t.Errorf("deleting again: exit %d err %v", r.code, r.err)
	}
}

func TestTemplatesNeedAKey(t *testing.T) {
	_, api := templatesEnv(t)
	r := runCLI(t, testCtx(t), "templates", "list", "--api-key=", api[1])
	if r.code != 2 || !strings.Contains(r.err.Error(), "D360_API_KEY is not set") {
		t.Errorf("no key: exit %d err %v", r.code, r.err)
	}
	r = runCLI(t, testCtx(t), "templates", "list", "--api-key=wrong-key-77", api[1])
	if r.code != 1 || !strings.Contains(r.err.Error(), "HTTP 401") || strings.Contains(r.err.Error(), "wrong-key-77") {
		t.Errorf("wrong key: exit %d err %v", r.code, r.err)
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, cmd := range [][]string{{"send"}, {"bulk"}, {"templates"}, {"templates", "create"}, {"media"}, {"tail"}, {"topics"}} {
		r := runCLI(t, testCtx(t), append(cmd, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "wabridge "+cmd[0]) {
			t.Errorf("%v --help: exit %d\n%s", cmd, r.code, r.stdout)
		}
		if cmd[0] != "templates" || len(cmd) == 1 {
			if !strings.Contains(r.stdout, "Examples:") {
				t.Errorf("%v --help has no examples", cmd)
			}
		}
	}
}

// Every API client of the tools honours --api-ca-file (APIFlags).
func TestTemplatesOverTLSWithCAFile(t *testing.T) {
	s := d360test.New(d360test.Config{APIKey: testKey})
	srv := httptest.NewUnstartedServer(s)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); s.Close() })
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	api := []string{"templates", "list", "--api-key=" + testKey, "--api-base-url=" + srv.URL}
	if r := runCLI(t, ctx, append(api, "--api-ca-file="+caFile)...); r.code != 0 || !strings.Contains(r.stdout, "order_update") {
		t.Errorf("list with the CA file: exit %d err %v\n%s", r.code, r.err, r.stdout)
	}
	if r := runCLI(t, ctx, api...); r.code == 0 || !strings.Contains(r.err.Error(), "certificate") {
		t.Errorf("list without the CA file: exit %d err %v, want a certificate error", r.code, r.err)
	}
	if r := runCLI(t, ctx, append(api, "--api-ca-file="+filepath.Join(t.TempDir(), "missing.pem"))...); r.code != 2 || !strings.Contains(r.err.Error(), "360dialog CA file") {
		t.Errorf("list with a missing CA file: exit %d err %v, want exit 2 naming the CA file", r.code, r.err)
	}
}
