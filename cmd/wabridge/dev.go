package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/devstack"
	"github.com/wabridge/wabridge/internal/kafkaio"
)

// DevCmd runs the bridge on the embedded default.
type DevCmd struct {
	BridgeFlags `embed:""`

	KafkaPort    int `env:"WABRIDGE_DEV_KAFKA_PORT" default:"9092" help:"Port of the in-process Kafka broker on 127.0.0.1 (when --brokers is empty)."`
	RegistryPort int `env:"WABRIDGE_DEV_REGISTRY_PORT" default:"8081" help:"Port of the in-process schema registry on 127.0.0.1 (when --registry-url is empty)."`
	StandInPort  int `name:"standin-port" env:"WABRIDGE_DEV_STANDIN_PORT" default:"8090" help:"Port of the 360dialog stand-in on 127.0.0.1 (when D360_API_KEY is empty)."`
}

// standInKey is the API key the stand-in expects in dev.
const standInKey = "dev-api-key"

// standInPhoneNumberID is the business number the stand-in reports.
const standInPhoneNumberID = "100000000000001"

// Run starts the embedded parts that are not configured, then the bridge.
func (c *DevCmd) Run(ctx context.Context, g *Globals) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	log := g.Logger
	warnInsecure(log, cfg.KafkaSecurity)
	cfg.Logger = log
	if cfg.Window.WindowMode == "" {
		// A newcomer's first message goes to a user who never wrote: warn,
		// do not reject (WABRIDGE_WINDOW_MODE=enforce to try the rule).
		cfg.Window.WindowMode = "warn"
	}
	// dev is a local playground: with the real API and no secret set,
	// webhooks are accepted unauthenticated (with a warning).
	cfg.WebhookInsecure = true
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }

	if len(cfg.Brokers) == 0 {
		k, err := devstack.StartKafka(c.KafkaPort)
		if err != nil {
			return fmt.Errorf("%w (is another broker on that port? set --kafka-port or --brokers)", err)
		}
		defer k.Close()
		if cfg.KafkaSecurity.TLSEnabled() || cfg.KafkaSecurity.SASLMechanism != "" {
			log.Warn("the in-process Kafka broker speaks plaintext: the --kafka-tls-* and --kafka-sasl-* settings apply with --brokers only")
		}
		cfg.Brokers = []string{k.Addr}
		cfg.KafkaSecurity = kafkaio.Security{}
		add("  Kafka (in-process, any client can connect): %s", k.Addr)
	} else {
		add("  Kafka: %s", strings.Join(cfg.Brokers, ","))
	}
	if cfg.RegistryURL == "" {
		r, err := devstack.Registry(c.RegistryPort, log)
		if err != nil {
			return fmt.Errorf("%w (set --registry-port or --registry-url)", err)
		}
		defer r.Close()
		cfg.RegistryURL = r.URL
		add("  Schema registry (in-process): %s", r.URL)
	} else {
		add("  Schema registry: %s", cfg.RegistryURL)
	}
	webhookURL := "http://" + localAddr(cfg.HTTPAddr) + cfg.WebhookPath
	standIn, generatedToken := cfg.APIKey == "", false
	if standIn {
		if cfg.WebhookToken == "" {
			cfg.WebhookToken, generatedToken = randomToken(), true
		}
		s, h, err := devstack.StandIn(c.StandInPort, d360test.Config{
			APIKey:         standInKey,
			Templates:      devTemplates(),
			WebhookURL:     webhookURL,
			WebhookHeaders: map[string]string{cfg.WebhookTokenHeader: cfg.WebhookToken},
			Logger:         log.With("component", "standin"),
		})
		if err != nil {
			return fmt.Errorf("%w (set --standin-port, or D360_API_KEY for the real API)", err)
		}
		defer s.Close()
		defer h.Close()
		cfg.APIKey = standInKey
		if cfg.Window.PhoneNumberID == "" {
			cfg.Window.PhoneNumberID = standInPhoneNumberID
		}
		cfg.APIBaseURL = h.URL
		add("  360dialog stand-in: %s (API key %s; templates hello_world, order_update, welcome, promo; sends sent/delivered/read webhooks)", h.URL, standInKey)
	} else {
		add("  360dialog API: %s", cfg.APIBaseURL)
	}

	env := []string{"KAFKA_BROKERS=" + strings.Join(cfg.Brokers, ","), "SCHEMA_REGISTRY_URL=" + cfg.RegistryURL}
	if standIn {
		env = append(env, "D360_API_KEY="+standInKey, "D360_BASE_URL="+cfg.APIBaseURL)
	}
	token := "$WEBHOOK_TOKEN" // the operator's own secret is not printed
	if generatedToken {
		token = cfg.WebhookToken
	}
	cfg.Started = func(httpAddr, adminAddr string) {
		printBanner(g.Stderr, banner{
			lines: lines, env: env, invocation: invocation(), topics: cfg.Topics.Results + " " + cfg.Topics.Statuses,
			messages:   cfg.Topics.Messages,
			webhookURL: "http://" + localAddr(httpAddr) + cfg.WebhookPath, tokenHeader: cfg.WebhookTokenHeader, token: token,
			adminURL: "http://" + localAddr(adminAddr), standIn: standIn,
		})
	}
	return runBridge(ctx, cfg)
}

// localAddr turns a listen address into one a local client can dial.
func localAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// banner is what dev prints once it is ready: where everything is, and
// commands to try that work as printed, with this binary and these ports.
type banner struct {
	lines       []string
	env         []string // the tools' environment variables
	invocation  string   // how to run this binary
	topics      string   // results and statuses
	messages    string
	webhookURL  string
	tokenHeader string
	token       string
	adminURL    string
	standIn     bool
}

// devWebhook is an inbound text message as 360dialog posts it (the Cloud
// API webhook format:
// https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples).
const devWebhook = `{"object":"whatsapp_business_account","entry":[{"id":"200000000000002","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"},"contacts":[{"profile":{"name":"Jane"},"wa_id":"15550001111"}],"messages":[{"from":"15550001111","id":"wamid.DEV1","timestamp":"1760000000","type":"text","text":{"body":"Hi"}}]}}]}]}`

func printBanner(w io.Writer, b banner) {
	fmt.Fprintln(w, "\nwabridge dev is running. Its state is in memory only: topics, schemas and the stand-in's templates are gone when it stops.")
	for _, l := range b.lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "  Webhooks: POST %s with header %s: %s\n", b.webhookURL, b.tokenHeader, b.token)
	fmt.Fprintf(w, "  Health and metrics: %s/readyz %s/metrics\n", b.adminURL, b.adminURL)
	fmt.Fprintln(w, "\nIn another terminal, point the tools at it:")
	fmt.Fprintf(w, "  export %s\n", strings.Join(b.env, " "))
	fmt.Fprintln(w, "Send a first message and wait for its result:")
	fmt.Fprintf(w, "  %s send --to 15550001111 --text \"Hello from wabridge\" --wait\n", b.invocation)
	fmt.Fprintln(w, "Watch the events (results, then statuses from the webhooks; -e stops at the end):")
	fmt.Fprintf(w, "  %s tail %s -e\n", b.invocation, b.topics)
	if b.standIn {
		fmt.Fprintln(w, "Send a template from the stand-in's catalogue:")
		fmt.Fprintf(w, "  %s templates list\n", b.invocation)
		fmt.Fprintf(w, "  %s send --to 15550001111 --template order_update --language en_US --param header=42 --param Jane --param \"on its way\" --param button.0=42 --wait\n", b.invocation)
	}
	fmt.Fprintln(w, "Post an inbound message as 360dialog would, then read it:")
	fmt.Fprintf(w, "  curl -sS %s -H '%s: %s' -H 'Content-Type: application/json' -d '%s'\n", b.webhookURL, b.tokenHeader, b.token, devWebhook)
	fmt.Fprintf(w, "  %s tail %s -e\n\n", b.invocation, b.messages)
}

// invocation is how the user ran this binary, for commands to copy: go run
// when it was built by go run, else the path as typed (a bare name was
// found on PATH).
func invocation() string {
	if exe, err := os.Executable(); err == nil && strings.Contains(exe, string(os.PathSeparator)+"go-build") {
		return "go run ./cmd/wabridge"
	}
	arg0 := os.Args[0]
	if strings.ContainsAny(arg0, " '\"$\\") {
		return "'" + strings.ReplaceAll(arg0, "'", `'\''`) + "'"
	}
	return arg0
}

// devTemplates is the stand-in's catalogue in dev: the default one, and
// templates the examples of --help and the README use (a named parameter,
// media and currency parameters).
func devTemplates() []map[string]any {
	return append(d360test.DefaultTemplates(),
		map[string]any{
			"id": "1000000000000003", "name": "welcome", "language": "en", "status": "approved",
			"category": "MARKETING", "parameter_format": "NAMED",
			"components": []any{
				map[string]any{"type": "BODY", "text": "Welcome, {{first_name}}!", "example": map[string]any{"body_text_named_params": []any{map[string]any{"param_name": "first_name", "example": "Jane"}}}},
			},
		},
		map[string]any{
			"id": "1000000000000004", "name": "promo", "language": "en", "status": "approved",
			"category": "MARKETING",
			"components": []any{
				map[string]any{"type": "HEADER", "format": "IMAGE", "example": map[string]any{"header_handle": []any{"https://example.com/banner.jpg"}}},
				map[string]any{"type": "BODY", "text": "Today only: {{1}}.", "example": map[string]any{"body_text": []any{[]any{"USD 19.99"}}}},
			},
		},
	)
}
