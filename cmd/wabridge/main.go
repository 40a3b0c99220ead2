// Command wabridge bridges Apache Kafka and the WhatsApp Business Platform
// (360dialog): send commands from a Kafka topic to POST /messages, and
// webhooks to Avro event topics.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/alecthomas/kong"
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

	Run     RunCmd     `cmd:"" help:"Run the bridge against real Kafka, schema registry and 360dialog."`
	Dev     DevCmd     `cmd:"" help:"Run the bridge on an embedded default: in-process Kafka, schema registry and a 360dialog stand-in (real ones where configured)."`
	Send    SendCmd    `cmd:"" help:"Produce one send command to the command topic and print its id."`
	Tail    TailCmd    `cmd:"" help:"Print records of topics as JSON lines, decoding Avro through the schema registry."`
	Version VersionCmd `cmd:"" help:"Print the version."`
}

// Globals are passed to every command's Run.
type Globals struct {
	Logger *slog.Logger
	Stdout io.Writer
	Stderr io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var cli CLI
	kctx := kong.Parse(&cli,
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.Name("wabridge"),
		kong.Description("Kafka <-> WhatsApp Business Platform (360dialog) bridge. Every flag can also be set by the environment variable shown beside it."),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	format := cli.LogFormat
	if format == "auto" {
		format = "json"
		if kctx.Command() == "dev" {
			format = "text"
		}
	}
	logger := newLogger(os.Stderr, cli.LogLevel, format)
	if format == "json" {
		logger = newLogger(os.Stdout, cli.LogLevel, format)
	}
	err := kctx.Run(&Globals{Logger: logger, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	kctx.FatalIfErrorf(err)
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(g *Globals) error {
	v, c := version, commit
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
	fmt.Fprintf(g.Stdout, "wabridge %s (commit %s)\n", v, c)
	return nil
}
