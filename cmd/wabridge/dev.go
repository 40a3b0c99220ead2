package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/devstack"
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
	cfg.Logger = log
	if cfg.Window.WindowMode == "" {
		// A newcomer's first message goes to a user who never wrote: warn,
		// do not reject (WABRIDGE_WINDOW_MODE=enforce to try the rule).
		cfg.Window.WindowMode = "warn"
	}
	if c.HTTPAddr == ":8080" {
		cfg.HTTPAddr = "127.0.0.1:8080"
	}
	if c.AdminAddr == ":9090" {
		cfg.AdminAddr = "127.0.0.1:9090"
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
		cfg.Brokers = []string{k.Addr}
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
	if cfg.APIKey == "" {
		if cfg.WebhookToken == "" {
			cfg.WebhookToken = randomToken()
		}
		s, h, err := devstack.StandIn(c.StandInPort, d360test.Config{
			APIKey:         standInKey,
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
		add("  360dialog stand-in: %s (sends sent/delivered/read webhooks to %s)", h.URL, webhookURL)
	} else {
		add("  360dialog API: %s", cfg.APIBaseURL)
	}

	brokers := strings.Join(cfg.Brokers, ",")
	cfg.Started = func(httpAddr, adminAddr string) {
		w := g.Stderr
		fmt.Fprintln(w, "\nwabridge dev is running.")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintf(w, "  Webhooks: POST http://%s%s   Health and metrics: http://%s/metrics\n", localAddr(httpAddr), cfg.WebhookPath, localAddr(adminAddr))
		fmt.Fprintln(w, "\nSend a first message:")
		fmt.Fprintf(w, "  go run ./cmd/wabridge send --brokers %s --to 15550001111 --text \"Hello from wabridge\" --wait\n", brokers)
		fmt.Fprintf(w, "  echo '{\"to\":\"15550001111\",\"type\":\"text\",\"text\":{\"body\":\"Hello from wabridge\"}}' | kcat -P -b %s -t %s -k 15550001111\n", brokers, cfg.Topics.Commands)
		fmt.Fprintln(w, "Watch the events (results, then statuses from the webhooks):")
		fmt.Fprintf(w, "  go run ./cmd/wabridge tail --brokers %s --registry-url %s %s %s\n", brokers, cfg.RegistryURL, cfg.Topics.Results, cfg.Topics.Statuses)
		fmt.Fprintf(w, "  kcat -C -b %s -t %s -s value=avro -r %s\n\n", brokers, cfg.Topics.Results, cfg.RegistryURL)
	}
	return app.Run(ctx, cfg)
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
