package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/window"
)

// runOptin parses args as the binary would (the optin command alone) and
// runs them, returning stdout.
func runOptin(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var cli struct {
		Optin OptinCmd `cmd:""`
	}
	parser, err := kong.New(&cli, kong.Name("wabridge"), kong.Exit(func(int) { t.Fatalf("kong exited on %q", args) }))
	if err != nil {
		t.Fatalf("kong: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kctx, err := parser.Parse(args)
	if err != nil {
		return "", err
	}
	var out, errOut bytes.Buffer
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run(&Globals{Args: args, Logger: slog.New(slog.DiscardHandler), Stdout: &out, Stderr: &errOut})
	return out.String(), err
}

func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		res = append(res, m)
	}
	return res
}

func TestOptinCommands(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	optin, windows := kafkatest.Topic(t, "optin"), kafkatest.Topic(t, "windows")
	kafkatest.CreateTopics(t, brokers, 3, optin, windows)
	at := []string{"--brokers", strings.Join(brokers, ","), "--topic", optin}
	const n = "100000000000001"

	out, err := runOptin(t, append([]string{"optin", "add", "--number", n, "--source", "web-form", "--at", "2026-03-01T09:00:00Z", "+1 555 000 1111", "15550002222"}, at...)...)
	if err != nil {
		t.Fatal(err)
	}
	got := lines(t, out)
	if len(got) != 2 || got[0]["user"] != "15550001111" || got[0]["opted_in"] != true || got[0]["source"] != "web-form" || got[0]["at"] != "2026-03-01T09:00:00.000Z" {
		t.Fatalf("add printed %s", out)
	}

	out, err = runOptin(t, append([]string{"optin", "remove", "--number", n, "--category", "MARKETING", "15550001111"}, at...)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(t, out); len(got) != 1 || got[0]["opted_in"] != true || got[0]["categories"].(map[string]any)["marketing"] != false {
		t.Fatalf("remove --category marketing (keeps the opt-in) printed %s", out)
	}
	if _, err := runOptin(t, append([]string{"optin", "remove", "--number", n, "15550002222"}, at...)...); err != nil {
		t.Fatal(err)
	}

	out, err = runOptin(t, append([]string{"optin", "list"}, at...)...)
	if err != nil {
		t.Fatal(err)
	}
	got = lines(t, out)
	if len(got) != 2 || got[0]["user"] != "15550001111" || got[1]["user"] != "15550002222" || got[1]["opted_in"] != false || got[1]["source"] != "cli" {
		t.Fatalf("list printed %s", out)
	}
	out, err = runOptin(t, append([]string{"optin", "list", "--number", n, "--user", "+1 (555) 000-2222"}, at...)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(t, out); len(got) != 1 || got[0]["user"] != "15550002222" {
		t.Fatalf("list --user printed %s", out)
	}
	if out, err := runOptin(t, append([]string{"optin", "list", "--number", "100000000000002"}, at...)...); err != nil || out != "" {
		t.Fatalf("list of another number: %q, %v", out, err)
	}

	// A bridge instance honours what the CLI wrote.
	s, err := window.New(window.Config{Brokers: brokers, WindowTopic: windows, OptinTopic: optin})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if d, err := s.Check(wctx, window.Message{Number: n, User: "15550001111", Template: true, Category: "marketing"}); err != nil || d.Allow || d.Reason != window.ReasonOptedOut {
		t.Fatalf("marketing after optin remove --category marketing: %+v, %v", d, err)
	}
	if d, err := s.Check(wctx, window.Message{Number: n, User: "15550001111", Template: true, Category: "utility"}); err != nil || !d.Allow {
		t.Fatalf("utility: %+v, %v", d, err)
	}
}

func TestOptinCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{"optin", "add", "--number", "1", "--at", "yesterday", "15550001111", "--brokers", "127.0.0.1:1"},
		{"optin", "add", "--number", "1|2", "15550001111", "--brokers", "127.0.0.1:1"},
		{"optin", "add", "--number", "1", "a|b", "--brokers", "127.0.0.1:1"},
		{"optin", "add", "--number", "1", "15550001111", "--brokers", "nonsense"},
		{"optin", "add", "15550001111"},         // --number is required
		{"optin", "remove", "--number", "1"},    // users are required
		{"optin", "list", "--brokers", "a:b:c"}, // not host:port
		{"optin", "remove", "--number", "1", "--category", "marketting", "15550001111", "--brokers", "127.0.0.1:1"},
		{"optin", "add", "--number", "1", "12", "--brokers", "127.0.0.1:1"}, // too few digits
		{"optin", "add", "--number", "1", "+1 555 000 1111", "1234567890123456", "--brokers", "127.0.0.1:1"},
	} {
		_, err := runOptin(t, args...)
		if err == nil {
			t.Errorf("%q did not fail", args)
			continue
		}
		// A mistake in the command line exits 2, whether kong or the
		// command finds it.
		var pe *kong.ParseError
		var ec interface{ ExitCode() int }
		if !errors.As(err, &pe) && (!errors.As(err, &ec) || ec.ExitCode() != 2) {
			t.Errorf("%q: %v, want a usage error (exit 2)", args, err)
		}
	}
}

// --number reads WABRIDGE_PHONE_NUMBER_ID, as run does; the user is checked
// as a send's recipient.
func TestOptinNumberFromTheEnvironment(t *testing.T) {
	t.Setenv("WABRIDGE_PHONE_NUMBER_ID", "100000000000001")
	_, err := runOptin(t, "optin", "add", "12", "--brokers", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), `user "12": must have 8 to 15 digits`) {
		t.Fatalf("optin add 12 with the number from the environment: %v", err)
	}
}
