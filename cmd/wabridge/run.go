package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/telemetry"
)

// BridgeFlags are the settings run and dev share.
type BridgeFlags struct {
	Brokers            string `env:"KAFKA_BROKERS" placeholder:"HOST:PORT,..." help:"Kafka bootstrap brokers. Required for run; dev starts an in-process broker when empty."`
	KafkaSecurityFlags `embed:""`
	RegistryURL        string `env:"SCHEMA_REGISTRY_URL" placeholder:"URL" help:"Confluent-compatible schema registry. Required for run; dev starts an in-process one when empty."`
	RegistryUser       string `env:"SCHEMA_REGISTRY_USER" help:"Schema registry basic-auth user."`
	RegistryPassword   string `env:"SCHEMA_REGISTRY_PASSWORD" help:"Schema registry basic-auth password."`
	RegistryCAFile     string `env:"SCHEMA_REGISTRY_CA_FILE" placeholder:"FILE" help:"PEM bundle to trust for an https schema registry (besides the system roots)."`

	APIKey     string            `env:"D360_API_KEY" help:"360dialog API key (D360-API-KEY). Required for run's outbound half; dev uses its stand-in when empty."`
	APIKeys    map[string]string `env:"D360_API_KEYS" mapsep:"," placeholder:"NUMBER=KEY,..." help:"API keys of further business numbers, selected by a command's business-number header."`
	APIBaseURL string            `env:"D360_BASE_URL" default:"https://waba-v2.360dialog.io" help:"360dialog API base URL (the sandbox is https://waba-sandbox.360dialog.io/v1)."`
	APITimeout time.Duration     `env:"D360_TIMEOUT" default:"15s" help:"Timeout of one API call."`
	APICAFile  string            `name:"api-ca-file" env:"D360_CA_FILE" placeholder:"FILE" help:"PEM bundle of further CA certificates to trust for the API, besides the system roots (a TLS-intercepting proxy, a test server)."`
	APIHTTP1   bool              `name:"api-http1" env:"D360_HTTP1" help:"Send messages over HTTP/1.1 even when the API offers HTTP/2: about a third less CPU per send, but a TLS connection per send in flight (up to --max-in-flight) instead of a few shared ones."`

	Only string `env:"WABRIDGE_ONLY" enum:"both,inbound,outbound" default:"both" help:"Which halves to run: both, or inbound or outbound only."`

	HTTPAddr              string        `env:"WABRIDGE_HTTP_ADDR" default:"${http_addr}" help:"Webhook listener address."`
	WebhookPath           string        `env:"WABRIDGE_WEBHOOK_PATH" default:"/webhook" help:"Path 360dialog posts webhooks to."`
	WebhookTokenHeader    string        `env:"WEBHOOK_TOKEN_HEADER" default:"X-Webhook-Token" help:"Header carrying the webhook secret (set the same header in 360dialog's webhook config)."`
	WebhookToken          string        `env:"WEBHOOK_TOKEN" help:"Webhook secret; requests without it are refused with 401. run refuses to start the inbound half without a token, a signature secret or a path secret unless --webhook-insecure."`
	WebhookInsecure       bool          `env:"WABRIDGE_WEBHOOK_INSECURE" help:"Accept unauthenticated webhooks (no token, signature or path secret): anyone who reaches the listener can then open windows and change consent. dev implies it (it listens on 127.0.0.1 and its stand-in sends a token)."`
	WebhookTokenPrev      string        `name:"webhook-token-previous" env:"WEBHOOK_TOKEN_PREVIOUS" help:"A second accepted webhook secret, while rotating."`
	WebhookPathSecret     string        `env:"WEBHOOK_PATH_SECRET" help:"Also accept webhooks at <webhook-path>/<secret> (the secret leaks into access logs: prefer the header)."`
	WebhookSigSecrets     []string      `name:"webhook-signature-secrets" env:"WEBHOOK_SIGNATURE_SECRETS" sep:"," help:"HMAC-SHA256 secrets (at most 2, for rotation) checked against x-360dialog-signature or X-Hub-Signature-256."`
	WebhookVerifyToken    string        `env:"WEBHOOK_VERIFY_TOKEN" help:"Answer Meta's GET verification handshake (hub.verify_token) for direct setups."`
	WebhookMaxInFlight    int           `env:"WABRIDGE_WEBHOOK_MAX_IN_FLIGHT" default:"256" help:"Webhooks handled at once; beyond it 503 with Retry-After."`
	WebhookDedupeIDs      int           `name:"webhook-dedupe-ids" env:"WABRIDGE_WEBHOOK_DEDUPE_IDS" default:"0" help:"Remember this many recent event ids and drop re-deliveries (about 150 B each; 0: off)."`
	WebhookMaxBody        int64         `env:"WABRIDGE_WEBHOOK_MAX_BODY" default:"4194304" help:"Largest webhook body in bytes (413 beyond)."`
	WebhookPublishTimeout time.Duration `env:"WABRIDGE_WEBHOOK_PUBLISH_TIMEOUT" default:"4s" help:"How long a webhook waits for Kafka before answering 503."`
	AdminAddr             string        `env:"WABRIDGE_ADMIN_ADDR" default:"${admin_addr}" help:"Address of /healthz, /readyz and /metrics, without authentication. A host-less address such as :9090 listens on all interfaces: keep it off public networks."`
	Pprof                 bool          `env:"WABRIDGE_PPROF" help:"Also serve Go's profiles (CPU, heap, goroutines, trace) at /debug/pprof/ on the admin address, which anyone reaching it can then read."`

	TopicCommands      string `env:"WABRIDGE_TOPIC_COMMANDS" default:"wabridge.commands" help:"Topic of send commands (JSON bodies of POST /messages)."`
	TopicResults       string `env:"WABRIDGE_TOPIC_RESULTS" default:"wabridge.results" help:"Topic of send results (Avro SendResult)."`
	TopicMessages      string `env:"WABRIDGE_TOPIC_MESSAGES" default:"wabridge.messages" help:"Topic of inbound messages (Avro InboundMessage)."`
	TopicStatuses      string `env:"WABRIDGE_TOPIC_STATUSES" default:"wabridge.statuses" help:"Topic of message statuses (Avro MessageStatus)."`
	TopicDeadLetter    string `env:"WABRIDGE_TOPIC_DLQ" default:"wabridge.dlq" help:"Dead-letter topic: original bytes and headers plus the reason."`
	TopicWebhookEvents string `env:"WABRIDGE_TOPIC_WEBHOOK_EVENTS" default:"wabridge.webhook-events" help:"Topic of webhook events: change-level errors, user preferences, template status updates, calls (typed, see docs/calls.md), unknown fields (Avro WebhookEvent)."`
	TopicLedger        string `env:"WABRIDGE_TOPIC_LEDGER" default:"wabridge.ledger" help:"Send ledger (compacted; as many partitions as the command topic; created at start)."`
	TopicPartitions    int32  `env:"WABRIDGE_TOPIC_PARTITIONS" default:"6" help:"Partitions of topics created at start."`
	TopicReplication   int16  `env:"WABRIDGE_TOPIC_REPLICATION" default:"-1" help:"Replication factor of topics created at start (-1: broker default)."`
	CreateTopics       bool   `env:"WABRIDGE_CREATE_TOPICS" default:"true" negatable:"" help:"Create missing topics at start."`
	AutoRegister       bool   `env:"WABRIDGE_AUTO_REGISTER" default:"true" negatable:"" help:"Register the Avro schemas at start; with --no-auto-register they must be registered already."`
	GroupID            string `env:"WABRIDGE_GROUP_ID" default:"wabridge-outbound" help:"Consumer group of the outbound half."`

	TopicWindows    string        `env:"WABRIDGE_TOPIC_WINDOWS" default:"wabridge.windows" help:"Compacted topic of customer service windows (last inbound message per user)."`
	TopicOptin      string        `env:"WABRIDGE_TOPIC_OPTIN" default:"wabridge.optin" help:"Compacted topic of the opt-in registry."`
	WindowMode      string        `env:"WABRIDGE_WINDOW_MODE" enum:",enforce,warn,off" default:"" help:"Customer service window: enforce (reject free-form messages outside it), warn, off. Default: enforce for run, warn for dev."`
	OptinMode       string        `env:"WABRIDGE_OPTIN_MODE" enum:"enforce,warn,off" default:"off" help:"Opt-in registry: enforce (reject templates to users without opt-in), warn, off. Marketing templates to opted-out users are rejected in every mode."`
	WindowGrace     time.Duration `env:"WABRIDGE_WINDOW_GRACE" default:"60s" help:"A window counts as closed this long before WhatsApp closes it (clock skew)."`
	WindowMaxWait   time.Duration `env:"WABRIDGE_WINDOW_MAX_WAIT" default:"30s" help:"Longest a command's window-wait header may wait for the window to open."`
	OptoutKeywords  string        `env:"WABRIDGE_OPTOUT_KEYWORDS" placeholder:"LANG=WORD,...;..." help:"Whole-message keywords that opt a user out, e.g. en=STOP,UNSUBSCRIBE;de=STOPP (default: built-in list)."`
	OptinKeywords   string        `env:"WABRIDGE_OPTIN_KEYWORDS" placeholder:"LANG=WORD,...;..." help:"Whole-message keywords that opt a user back in (default: START, UNSTOP, ALTA)."`
	PhoneNumberID   string        `env:"WABRIDGE_PHONE_NUMBER_ID" help:"phone_number_id of D360_API_KEY's business number (for the window check; a command's business-number header names one itself)."`
	InstanceID      string        `env:"WABRIDGE_INSTANCE_ID" help:"Unique name of this instance (e.g. the pod name): the outbound half's static consumer group member id (a restart takes its partitions back at once instead of waiting out the session) and the window clean-up's name. Empty: a dynamic member."`
	TemplateRefresh time.Duration `env:"WABRIDGE_TEMPLATE_REFRESH" default:"5m" help:"How often the template catalogue is reloaded from the templates API, to reject template commands that cannot match an approved template; 0 turns the check off."`
	MaxAttempts     int           `env:"WABRIDGE_MAX_ATTEMPTS" default:"5" help:"API calls per command before it fails."`
	MaxAge          time.Duration `env:"WABRIDGE_MAX_AGE" default:"24h" help:"A command older than this (record timestamp) fails instead of being sent late; negative disables."`
	MaxInFlight     int           `env:"WABRIDGE_MAX_IN_FLIGHT" default:"256" help:"Commands being sent at once (ledger intent and API call; waits for retries, the rate limit or the window do not count, nor does the result write after the API answered). Different recipients run in parallel; one recipient's in order."`
	MaxBuffered     int           `env:"WABRIDGE_MAX_BUFFERED" default:"0" help:"Commands read but not finished, running or queued behind their recipient's earlier command (0: 4 × max-in-flight)."`
	ResendUnknown   bool          `env:"WABRIDGE_RESEND_UNKNOWN" default:"true" negatable:"" help:"Send again a redelivered command whose earlier send has an unknown outcome (the process died between the API call and the ledger write); --no-resend-unknown fails it with reason unknown_outcome instead."`
	Rate            float64       `env:"WABRIDGE_RATE" default:"80" help:"Messages per second per business number (token bucket; WhatsApp allows 80 by default, up to 1000; negative: no limit, e.g. for benchmarks)."`
	BackoffMin      time.Duration `env:"WABRIDGE_BACKOFF_MIN" default:"500ms" help:"Smallest retry backoff."`
	BackoffMax      time.Duration `env:"WABRIDGE_BACKOFF_MAX" default:"30s" help:"Largest retry backoff."`
	ShutdownGrace   time.Duration `env:"WABRIDGE_SHUTDOWN_GRACE" default:"10s" help:"Time in-flight work may finish after SIGTERM."`
	ShutdownDrain   time.Duration `env:"WABRIDGE_SHUTDOWN_DRAIN" default:"0s" help:"After SIGTERM /readyz answers 503 at once; the webhook listener keeps taking webhooks this long before it closes, so load balancers stop sending first. The Kubernetes manifests use a preStop sleep instead."`
	StartupTimeout  time.Duration `env:"WABRIDGE_STARTUP_TIMEOUT" default:"15s" help:"Time to reach Kafka and the schema registry at start."`
	BatchTimeout    time.Duration `env:"WABRIDGE_KAFKA_BATCH_TIMEOUT" default:"1ms" help:"Longest a webhook record waits for its batch in the inbound Kafka writer."`
}

func (f *BridgeFlags) config() (app.Config, error) {
	v, c := buildVersion()
	cfg := app.Config{
		Version: v, Commit: c,
		RegistryURL: f.RegistryURL, RegistryUser: f.RegistryUser, RegistryPassword: f.RegistryPassword, RegistryCAFile: f.RegistryCAFile,
		AutoRegister: f.AutoRegister,
		APIBaseURL:   f.APIBaseURL, APIKey: d360.APIKey(f.APIKey), APITimeout: f.APITimeout, APICAFile: f.APICAFile, APIHTTP1: f.APIHTTP1,
		Only:     strings.TrimPrefix(f.Only, "both"),
		HTTPAddr: f.HTTPAddr, WebhookPath: f.WebhookPath, WebhookTokenHeader: f.WebhookTokenHeader, WebhookToken: f.WebhookToken,
		WebhookInsecure: f.WebhookInsecure,
		AdminAddr:       f.AdminAddr, Pprof: f.Pprof,
		Webhook: app.WebhookConfig{
			PreviousToken: f.WebhookTokenPrev, PathSecret: f.WebhookPathSecret, SignatureSecrets: f.WebhookSigSecrets,
			VerifyToken: f.WebhookVerifyToken, MaxInFlight: f.WebhookMaxInFlight, DedupeIDs: f.WebhookDedupeIDs,
			MaxBodyBytes: f.WebhookMaxBody, PublishTimeout: f.WebhookPublishTimeout,
		},
		Topics: app.Topics{
			Commands: f.TopicCommands, Results: f.TopicResults, Messages: f.TopicMessages,
			Statuses: f.TopicStatuses, DeadLetter: f.TopicDeadLetter, Ledger: f.TopicLedger, WebhookEvents: f.TopicWebhookEvents,
			Partitions: f.TopicPartitions, ReplicationFactor: f.TopicReplication, Create: f.CreateTopics,
		},
		GroupID: f.GroupID,
		Window: app.WindowConfig{
			WindowTopic: f.TopicWindows, OptinTopic: f.TopicOptin, WindowMode: f.WindowMode, OptInMode: f.OptinMode,
			Grace: f.WindowGrace, MaxWait: f.WindowMaxWait, OptOutKeywords: f.OptoutKeywords, OptInKeywords: f.OptinKeywords,
			PhoneNumberID: f.PhoneNumberID, InstanceID: f.InstanceID,
		},
		MaxAttempts: f.MaxAttempts, MaxAge: f.MaxAge, MaxInFlight: f.MaxInFlight, MaxBuffered: f.MaxBuffered, TemplateRefresh: f.TemplateRefresh, Rate: f.Rate, ResendUnknown: f.ResendUnknown, BackoffMin: f.BackoffMin, BackoffMax: f.BackoffMax,
		ShutdownGrace: f.ShutdownGrace, ShutdownDrain: f.ShutdownDrain, StartupTimeout: f.StartupTimeout, BatchTimeout: f.BatchTimeout,
	}
	if len(f.APIKeys) > 0 {
		cfg.APIKeys = map[string]d360.APIKey{}
		for n, k := range f.APIKeys {
			if n == "" || k == "" {
				return cfg, fmt.Errorf("D360_API_KEYS: want NUMBER=KEY pairs, got an empty number or key")
			}
			cfg.APIKeys[n] = d360.APIKey(k)
		}
	}
	if f.Rate == 0 || f.Rate > 1000 {
		return cfg, fmt.Errorf("--rate %g: want more than 0 and at most 1000 messages per second (negative: no limit)", f.Rate)
	}
	if f.MaxBuffered < 0 {
		return cfg, fmt.Errorf("--max-buffered %d: want 0 (4 × max-in-flight) or more", f.MaxBuffered)
	}
	if f.MaxInFlight < 1 {
		return cfg, fmt.Errorf("--max-in-flight %d: want at least 1", f.MaxInFlight)
	}
	if f.Brokers != "" {
		b, err := kafkaio.ParseBrokers(f.Brokers)
		if err != nil {
			return cfg, err
		}
		cfg.Brokers = b
	}
	sec, err := f.Security()
	if err != nil {
		return cfg, err
	}
	cfg.KafkaSecurity = sec
	return cfg, nil
}

// RunCmd runs against real infrastructure.
type RunCmd struct {
	BridgeFlags `embed:""`
}

// Run runs the bridge until SIGINT or SIGTERM.
func (c *RunCmd) Run(ctx context.Context, g *Globals) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	cfg.Logger = g.Logger
	warnInsecure(g.Logger, cfg.KafkaSecurity)
	if cfg.Window.WindowMode == "" {
		cfg.Window.WindowMode = "enforce"
	}
	return runBridge(ctx, cfg)
}

// runBridge runs the bridge with OpenTelemetry tracing as the standard
// OTEL_* variables configure it (off when unset), flushing its spans last.
func runBridge(ctx context.Context, cfg app.Config) error {
	shutdown, err := telemetry.Setup(ctx, cfg.Version)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			cfg.Logger.Warn("flushing traces", "err", err)
		}
	}()
	return app.Run(ctx, cfg)
}
