// Command wabridge bridges Apache Kafka and the WhatsApp Business Platform
// (360dialog): send commands from a Kafka topic to POST /messages, and
// webhooks to Avro event topics.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wabridge/wabridge/internal/telemetry"
)

// Set by the build: -ldflags "-X main.version=... -X main.commit=...".
var (
	version = ""
	commit  = ""
)

// CLI is the command line; every flag also reads an environment variable.
type CLI struct {
	LogLevel  string `env:"WABRIDGE_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
	LogFormat string `env:"WABRIDGE_LOG_FORMAT" default:"auto" enum:"auto,json,text" help:"Log format: json, text, or auto (text for dev, json otherwise)."`

	// http_addr and admin_addr are the listeners' defaults: run listens on
	// every interface, dev (a playground that accepts unauthenticated
	// webhooks) on 127.0.0.1 unless told otherwise.
	Run         RunCmd         `cmd:"" set:"http_addr=:8080" set:"admin_addr=:9090" help:"Run the bridge against real Kafka, schema registry and 360dialog."`
	Dev         DevCmd         `cmd:"" set:"http_addr=127.0.0.1:8080" set:"admin_addr=127.0.0.1:9090" help:"Run the bridge on an embedded default: in-process Kafka, schema registry and a 360dialog stand-in (real ones where configured)."`
	Send        SendCmd        `cmd:"" help:"Produce one send command (text, template or a JSON body) to the command topic; --wait prints its outcome."`
	Bulk        BulkCmd        `cmd:"" help:"Send a template campaign to a CSV or JSONL contact list: validate every row, then produce one command per row, safe to re-run."`
	Templates   TemplatesCmd   `cmd:"" help:"List, show, create and delete message templates (360dialog templates API)."`
	Media       MediaCmd       `cmd:"" help:"Upload media for templates and messages; print the media id."`
	Tail        TailCmd        `cmd:"" help:"Print records of topics as JSON lines, decoding Avro through the schema registry; filter by user, kind, time or offset."`
	Topics      TopicsCmd      `cmd:"" help:"Describe (or --create) the bridge's topics and show the outbound consumer group's lag."`
	Optin       OptinCmd       `cmd:"" help:"Read and write the opt-in registry."`
	Schemas     SchemasCmd     `cmd:"" help:"List, show, register and check the Avro event schemas."`
	Dlq         DlqCmd         `cmd:"" help:"List, show and replay dead letters (webhook requests and commands wabridge could not map or send)."`
	Healthcheck HealthcheckCmd `cmd:"" help:"Exit 0 when the running wabridge answers /readyz (for container health checks without a shell)."`
	Version     VersionCmd     `cmd:"" help:"Print the version."`
}

// Globals are passed to every command's Run.
type Globals struct {
	// Args is the command line (without the program name): whether a bad
	// setting was given there (usage, exit 2) or by the environment
	// (configuration, exit 1).
	Args   []string
	Logger *slog.Logger
	Stdout io.Writer
	Stderr io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var cli CLI
	parser, err := newParser(ctx, &cli)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wabridge:", err)
		os.Exit(2)
	}
	kctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		msg, code := parseError(parser, os.Args[1:], err)
		parser.Errorf("%s", msg)
		os.Exit(code)
	}
	logger := newLogger(kctx.Command(), cli.LogLevel, cli.LogFormat, os.Stderr)
	err = kctx.Run(&Globals{Args: os.Args[1:], Logger: logger, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	if err != nil {
		parser.Errorf("%s", err)
		os.Exit(runExitCode(err))
	}
}

// Exit codes, the same for every command (README, "Exit codes"):
const (
	exitOK      = 0 // done; for send --wait, accepted
	exitFailure = 1 // runtime or configuration failure, or a rejected/failed outcome
	exitUsage   = 2 // the command line is wrong
)

// exitCodesHelp is the table --help shows.
const exitCodesHelp = `Exit codes (every command):
  0  done (send --wait: accepted; bulk: every row produced, and with --wait accepted)
  1  runtime or configuration failure: Kafka, registry or API unreachable, a bad environment variable, rejected rows, a rejected or failed outcome, no result in time
  2  usage: unknown command or flag, a bad flag value, flags that do not go together`

// exitError carries an exit code to kong (kong.ExitCoder).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// usageError is a mistake in the command line: exit code 2.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// parseError is the message and exit code of a command line that did not
// parse: a usage error (2), unless the bad value came from the environment,
// which is configuration (1): the flag the error names ("--log-level ...")
// was not on the command line and its environment variable is set; the
// message then names the variable.
func parseError(parser *kong.Kong, args []string, err error) (string, int) {
	msg := err.Error()
	if strings.Contains(msg, "(from envar ") { // kong names the variable in some errors
		return msg, exitFailure
	}
	name, ok := strings.CutPrefix(msg, "--")
	if !ok {
		return msg, exitUsage
	}
	name, _, _ = strings.Cut(name, " ")
	name = strings.TrimSuffix(name, ":")
	for _, a := range args {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return msg, exitUsage
		}
	}
	env := ""
	_ = kong.Visit(parser.Model, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok && f.Name == name {
			for _, e := range f.Envs {
				if v, set := os.LookupEnv(e); set && v != "" {
					env = e
				}
			}
		}
		return next(nil)
	})
	if env != "" {
		return msg + " (from the environment variable " + env + ")", exitFailure
	}
	return msg, exitUsage
}

// runExitCode is the exit code of a command that returned err: the code an
// error carries (usageError), else 1.
func runExitCode(err error) int {
	var ec interface{ ExitCode() int }
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ec):
		return ec.ExitCode()
	}
	return exitFailure
}

// newParser returns the command-line parser of cli; tests parse with the
// same one.
func newParser(ctx context.Context, cli *CLI, opts ...kong.Option) (*kong.Kong, error) {
	return kong.New(cli, append([]kong.Option{
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.Name("wabridge"),
		kong.Description("Kafka <-> WhatsApp Business Platform (360dialog) bridge. Every flag can also be set by the environment variable shown beside it.\n\n" + exitCodesHelp),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		// A flag's value may start with a hyphen: --offset -20, --max-rejects -1.
		kong.WithHyphenPrefixedParameters(true),
	}, opts...)...)
}

// newLogger builds the logger of command: with format auto, text for dev
// and JSON for run and the tools; always on stderr, so that stdout carries only what a
// command prints (a command id, JSON lines); dev's banner goes to stderr with the logs. Durations are
// logged as Go duration strings ("1.5s"), not nanoseconds; a record logged
// with a context that carries a span gets its trace_id and span_id.
func newLogger(command, level, format string, stderr io.Writer) *slog.Logger {
	if format == "auto" {
		format = "json"
		if command == "dev" {
			format = "text"
		}
	}
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.StringValue(a.Value.Duration().String())
		}
		return a
	}}
	if format == "text" {
		return slog.New(telemetry.LogHandler(slog.NewTextHandler(stderr, opts)))
	}
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(stderr, opts)))
}

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(g *Globals) error {
	v, c := buildVersion()
	fmt.Fprintf(g.Stdout, "wabridge %s (commit %s)\n", v, c)
	return nil
}

// buildVersion is the version and commit set by the build's -ldflags, else
// those Go recorded in the binary.
func buildVersion() (v, c string) {
	v, c = version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

// HealthcheckCmd asks a running wabridge whether it is ready.
type HealthcheckCmd struct {
	AdminAddr string        `env:"WABRIDGE_ADMIN_ADDR" default:":9090" help:"Admin address of the running wabridge."`
	Timeout   time.Duration `default:"3s" help:"How long to wait for the answer."`
}

// Run exits non-zero unless /readyz answers 200.
func (c *HealthcheckCmd) Run(ctx context.Context, g *Globals) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	url := "http://" + localAddr(c.AdminAddr) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("admin address %q: %w", c.AdminAddr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintln(g.Stdout, strings.TrimSpace(string(body)))
	return nil
}
