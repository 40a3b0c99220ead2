// Package app wires wabridge's halves to Kafka, the schema registry and the
// 360dialog API, and runs them until the context ends, shutting down in
// order: stop taking work, finish what is in flight, commit, flush.
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"

	"github.com/wabridge/wabridge/inbound"
	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/metrics"
	"github.com/wabridge/wabridge/internal/telemetry"
	"github.com/wabridge/wabridge/outbound"
	"github.com/wabridge/wabridge/schemas"
	"github.com/wabridge/wabridge/window"
)

// Topics are the bridge's topic names and how to create them.
type Topics struct {
	Commands, Results, Messages, Statuses, DeadLetter, Ledger string
	// WebhookEvents receives change-level errors, user preferences,
	// template status updates and unknown webhook fields.
	WebhookEvents string
	// Partitions and ReplicationFactor for topics created at start
	// (-1: the broker's default replication factor).
	Partitions        int32
	ReplicationFactor int16
	// Create missing topics at start.
	Create bool
}

// Config is everything Run needs.
type Config struct {
	// Version and Commit of the build, for wabridge_build_info.
	Version, Commit string

	Brokers []string
	// KafkaSecurity is TLS and SASL for every Kafka client; zero: plaintext.
	KafkaSecurity kafkaio.Security

	RegistryURL      string
	RegistryUser     string
	RegistryPassword string
	// RegistryCAFile is a PEM bundle to trust for an https registry.
	RegistryCAFile string
	// AutoRegister registers the schemas at start; else they must exist.
	AutoRegister bool

	APIBaseURL string
	APIKey     d360.APIKey
	// APIKeys maps business numbers (the business-number command header) to
	// their API keys, when one deployment serves several numbers.
	APIKeys    map[string]d360.APIKey
	APITimeout time.Duration
	// APICAFile is a PEM bundle trusted for the API besides the system
	// roots (a TLS-intercepting proxy, a test server); empty: none.
	APICAFile string
	// APIHTTP1 sends messages over HTTP/1.1 even to an API offering
	// HTTP/2 (d360.Config.HTTP1).
	APIHTTP1 bool

	// Only runs one half: "outbound" or "inbound"; empty runs both.
	Only string

	// HTTPAddr serves the webhook listener (POST WebhookPath).
	HTTPAddr    string
	WebhookPath string
	// WebhookTokenHeader and WebhookToken authenticate webhooks.
	WebhookTokenHeader string
	WebhookToken       string
	// WebhookInsecure lets the inbound half start with no webhook
	// authentication (no token, path secret or signature secret); without
	// it, Check refuses such a configuration: anyone who can reach the
	// listener could then open windows and change consent.
	WebhookInsecure bool
	// Webhook holds the further webhook options.
	Webhook WebhookConfig
	// AdminAddr serves /healthz, /readyz and /metrics.
	AdminAddr string
	// Pprof also serves Go's profiles at /debug/pprof/ on AdminAddr.
	Pprof bool

	Topics  Topics
	GroupID string

	// Window configures the customer service window and opt-in rules.
	Window WindowConfig

	MaxAttempts            int
	BackoffMin, BackoffMax time.Duration
	MaxAge                 time.Duration
	MaxInFlight            int
	MaxBuffered            int
	// TemplateRefresh is how often each number's template catalogue is
	// reloaded; 0 turns the catalogue check off.
	TemplateRefresh time.Duration
	Rate            float64
	ResendUnknown   bool
	ShutdownGrace   time.Duration
	// ShutdownDrain is how long the webhook listener keeps taking webhooks
	// after SIGTERM while /readyz already answers 503, so that load
	// balancers stop sending before the listener closes. 0: close at once.
	ShutdownDrain  time.Duration
	StartupTimeout time.Duration
	// BatchTimeout of the Kafka writer.
	BatchTimeout time.Duration

	Logger *slog.Logger
	// Started, if set, is called once everything listens, with the bound
	// addresses (useful when HTTPAddr or AdminAddr ask for port 0).
	Started func(httpAddr, adminAddr string)
}

// WebhookConfig holds the webhook listener's further options (inbound.Config).
type WebhookConfig struct {
	PreviousToken    string
	PathSecret       string
	SignatureSecrets []string
	VerifyToken      string
	MaxInFlight      int
	DedupeIDs        int
	MaxBodyBytes     int64
	PublishTimeout   time.Duration
}

// WindowConfig configures the window and opt-in state (package window).
type WindowConfig struct {
	WindowTopic, OptinTopic string
	// Modes: enforce, warn or off.
	WindowMode, OptInMode string
	Grace, MaxWait        time.Duration
	// Keyword lists, "en=STOP,UNSUBSCRIBE;de=STOPP"; empty: the defaults.
	OptOutKeywords, OptInKeywords string
	// PhoneNumberID of the default API key's business number.
	PhoneNumberID string
	InstanceID    string
}

// webhookUnauthenticated tells whether no webhook authentication is set: no
// token, no path secret, no signature secret (Check refuses it unless
// WebhookInsecure).
func (c *Config) webhookUnauthenticated() bool {
	return c.WebhookToken == "" && c.Webhook.PathSecret == "" && len(c.Webhook.SignatureSecrets) == 0
}

func (c *Config) runs(half string) bool { return c.Only == "" || c.Only == half }

// topology is every topic of the configuration.
func (c *Config) topology() kafkaio.Topology {
	t := c.Topics
	return kafkaio.Topology{
		Names: kafkaio.TopicNames{
			Commands: t.Commands, Results: t.Results, Messages: t.Messages, Statuses: t.Statuses,
			WebhookEvents: t.WebhookEvents, DeadLetter: t.DeadLetter, Ledger: t.Ledger,
			Windows: c.Window.WindowTopic, Optin: c.Window.OptinTopic,
		},
		Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor,
	}
}

// Check reports the first configuration error, in words a user can act on.
func (c *Config) Check() error {
	if c.Only != "" && c.Only != "inbound" && c.Only != "outbound" {
		return fmt.Errorf("--only %q: want inbound or outbound", c.Only)
	}
	if len(c.Brokers) == 0 {
		return errors.New("no Kafka brokers: set --brokers or KAFKA_BROKERS")
	}
	if c.RegistryURL == "" {
		return errors.New("no schema registry: set --registry-url or SCHEMA_REGISTRY_URL")
	}
	if _, err := d360.ParseBaseURL(c.RegistryURL); err != nil {
		return fmt.Errorf("schema registry URL %q: want an absolute http or https URL", c.RegistryURL)
	}
	if c.runs("outbound") {
		if c.APIKey == "" && len(c.APIKeys) == 0 {
			return errors.New("no 360dialog API key: set D360_API_KEY (or --api-key), or run only the inbound half with --only inbound")
		}
		if _, err := d360.ParseBaseURL(c.APIBaseURL); err != nil {
			return err
		}
		if c.APIKey != "" && c.Window.PhoneNumberID == "" && c.Window.WindowMode == "enforce" {
			return errors.New("no business number for the window check: set WABRIDGE_PHONE_NUMBER_ID to the phone_number_id of D360_API_KEY's number (or WABRIDGE_WINDOW_MODE=off)")
		}
	}
	if c.runs("inbound") && !strings.HasPrefix(c.WebhookPath, "/") {
		return fmt.Errorf("webhook path %q must start with /", c.WebhookPath)
	}
	if c.runs("inbound") && !c.WebhookInsecure && c.webhookUnauthenticated() {
		return errors.New("no webhook authentication: set WEBHOOK_TOKEN (and the same header on 360dialog's webhook), WEBHOOK_SIGNATURE_SECRETS or WEBHOOK_PATH_SECRET; --webhook-insecure accepts unauthenticated webhooks, which lets anyone who reaches the listener open windows and change consent")
	}
	return c.topology().Check()
}

// Run starts the configured halves and blocks until ctx ends or a half
// fails. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	// Read the API's CA file before anything connects, so a bad one stops
	// the start at once; every API client shares the pool.
	var apiRoots *x509.CertPool
	if cfg.runs("outbound") {
		roots, err := d360.RootCAs(cfg.APICAFile)
		if err != nil {
			return fmt.Errorf("360dialog %w", err)
		}
		apiRoots = roots
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tracing := telemetry.Enabled(os.Getenv)
	m := metrics.New()
	m.SetBuildInfo(cfg.Version, cfg.Commit, runtime.Version())
	for _, code := range d360.AlertCodes() {
		m.APIAlerts.WithLabelValues(strconv.Itoa(code))
	}

	// Kafka: reachable, topics present.
	// The long-lived clients' own metrics (kprom) on the same registry.
	kafkaMetrics := kafkaio.NewClientMetrics(m.Registry)
	conn := kafkaio.Conn{Brokers: cfg.Brokers, Security: cfg.KafkaSecurity, Logger: log, Metrics: kafkaMetrics}
	adm, err := conn.Named("admin").AdminClient()
	if err != nil {
		return err
	}
	defer adm.Close()
	startCtx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	if err := kafkaio.Ping(startCtx, adm); err != nil {
		if startCtx.Err() != nil {
			return fmt.Errorf("kafka at %s not reachable within %s (--startup-timeout): %w", strings.Join(cfg.Brokers, ","), cfg.StartupTimeout, err)
		}
		return fmt.Errorf("kafka at %s not reachable: %w", strings.Join(cfg.Brokers, ","), err)
	}
	if cfg.Topics.Create {
		// Every topic of the topology; the ledger only with the outbound
		// half, which needs it (and checks its size again at start).
		roles := kafkaio.Roles
		if !cfg.runs("outbound") {
			roles = slices.DeleteFunc(slices.Clone(roles), func(r kafkaio.Role) bool { return r == kafkaio.RoleLedger })
		}
		created, err := cfg.topology().Ensure(startCtx, adm, roles...)
		if err != nil {
			return err
		}
		if len(created) > 0 {
			log.Info("created topics", "topics", created, "partitions", cfg.Topics.Partitions, "replication_factor", cfg.Topics.ReplicationFactor)
		}
	}

	// Schema registry: ids of our schemas under the topics' subjects.
	reg, err := schemas.NewRegistryClient(schemas.RegistryConfig{
		URL: cfg.RegistryURL, User: cfg.RegistryUser, Password: cfg.RegistryPassword, CAFile: cfg.RegistryCAFile,
	})
	if err != nil {
		return err
	}
	resolve := func(topic string, kind schemas.Kind) (*schemas.Encoder, error) {
		enc, err := schemas.Resolve(startCtx, reg, topic, kind, cfg.AutoRegister)
		if err != nil {
			return nil, fmt.Errorf("schema registry at %s: %w", cfg.RegistryURL, err)
		}
		return enc, nil
	}

	// Dead letters of both halves are DeadLetter records.
	dlqEnc, err := resolve(cfg.Topics.DeadLetter, schemas.DeadLetter)
	if err != nil {
		return err
	}

	store, err := newWindowStore(cfg, log, kafkaMetrics)
	if err != nil {
		return err
	}
	defer store.Close()
	m.WatchWindow(func() metrics.WindowStats {
		st := store.Stats()
		return metrics.WindowStats{Windows: st.Windows, Consents: st.Consents, Records: st.Records, Invalid: st.Invalid, RestoreSeconds: st.RestoreTime.Seconds()}
	})
	if cfg.Topics.Create {
		if err := store.EnsureTopics(startCtx); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	var kafkaOK atomic.Bool

	var webhookSrv *http.Server
	var httpLn net.Listener
	if cfg.runs("inbound") {
		// The inbound half writes with kafka-go (acks=all); the outbound half
		// has its own franz-go client.
		writer, err := conn.NewWriter(cfg.BatchTimeout)
		if err != nil {
			return err
		}
		defer func() { // after the webhook listener has shut down (g.Wait below)
			if err := writer.Close(); err != nil {
				log.Error("closing kafka writer", "err", err)
			}
		}()
		msgEnc, err := resolve(cfg.Topics.Messages, schemas.InboundMessage)
		if err != nil {
			return err
		}
		stEnc, err := resolve(cfg.Topics.Statuses, schemas.MessageStatus)
		if err != nil {
			return err
		}
		evEnc, err := resolve(cfg.Topics.WebhookEvents, schemas.WebhookEvent)
		if err != nil {
			return err
		}
		var publisher inbound.Publisher = writer
		if tracing {
			publisher = kafkaio.TracingWriter{Next: writer}
		}
		wh := cfg.Webhook
		h, err := inbound.New(inbound.Config{
			Topics: inbound.Topics{Messages: cfg.Topics.Messages, Statuses: cfg.Topics.Statuses, Events: cfg.Topics.WebhookEvents, DeadLetter: cfg.Topics.DeadLetter},
			Encoders: map[schemas.Kind]inbound.Encoder{
				schemas.InboundMessage: msgEnc, schemas.MessageStatus: stEnc, schemas.WebhookEvent: evEnc,
				schemas.DeadLetter: dlqEnc,
			},
			Publisher: publisher, TokenHeader: cfg.WebhookTokenHeader, Token: cfg.WebhookToken,
			PreviousToken: wh.PreviousToken, PathSecret: wh.PathSecret, SignatureSecrets: wh.SignatureSecrets,
			VerifyToken: wh.VerifyToken, MaxInFlight: wh.MaxInFlight, DedupeIDs: wh.DedupeIDs,
			MaxBodyBytes: wh.MaxBodyBytes, PublishTimeout: wh.PublishTimeout,
			Window: store,
			Logger: log.With("component", "inbound"), Metrics: m,
		})
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		h.Register(mux, cfg.WebhookPath)
		// With tracing on, each webhook is a server span, a child of the
		// request's traceparent when it has one, and its records carry the
		// trace (TracingWriter, kotel for the window's records).
		var webhookHandler http.Handler = mux
		if tracing {
			webhookHandler = otelhttp.NewHandler(mux, "webhook")
		}
		// 360dialog gives up after 5 s: reading a body may not take longer.
		webhookSrv = &http.Server{
			Handler: webhookHandler, ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second,
			WriteTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10,
		}
		httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("webhook listener on %s: %w", cfg.HTTPAddr, err)
		}
		defer httpLn.Close() // for the returns below; Shutdown closes it too
		if cfg.webhookUnauthenticated() {
			log.Warn("webhooks are not authenticated (--webhook-insecure): anyone who reaches the listener can open windows and change consent")
		}
	}

	var worker *outbound.Worker
	var templateCatalogs map[string]*catalog.Catalog
	if cfg.runs("outbound") {
		resEnc, err := resolve(cfg.Topics.Results, schemas.SendResult)
		if err != nil {
			return err
		}
		var def outbound.Sender
		senders := map[string]outbound.Sender{}
		templateCatalogs = map[string]*catalog.Catalog{}
		addCatalog := func(number string, client *d360.Client) error {
			if cfg.TemplateRefresh <= 0 {
				return nil
			}
			cat, err := catalog.New(catalog.Config{Client: client, Refresh: cfg.TemplateRefresh, Logger: log.With("component", "catalog", "business_number", number)})
			if err != nil {
				return err
			}
			templateCatalogs[number] = cat
			return nil
		}
		if cfg.APIKey != "" {
			client, err := d360.New(d360.Config{BaseURL: cfg.APIBaseURL, APIKey: cfg.APIKey, Timeout: cfg.APITimeout, RootCAs: apiRoots, HTTP1: cfg.APIHTTP1})
			if err != nil {
				return err
			}
			def = client
			if err := addCatalog("", client); err != nil {
				return err
			}
		}
		for number, key := range cfg.APIKeys {
			client, err := d360.New(d360.Config{BaseURL: cfg.APIBaseURL, APIKey: key, Timeout: cfg.APITimeout, RootCAs: apiRoots, HTTP1: cfg.APIHTTP1})
			if err != nil {
				return fmt.Errorf("API key of business number %s: %w", number, err)
			}
			senders[number] = client
			if err := addCatalog(number, client); err != nil {
				return err
			}
		}
		worker, err = outbound.New(outbound.Config{
			Brokers: cfg.Brokers, Security: cfg.KafkaSecurity, KafkaMetrics: kafkaMetrics, GroupID: cfg.GroupID, InstanceID: cfg.Window.InstanceID,
			CommandTopic: cfg.Topics.Commands, ResultTopic: cfg.Topics.Results, DeadLetterTopic: cfg.Topics.DeadLetter,
			LedgerTopic: cfg.Topics.Ledger,
			Sender:      def, Senders: senders, ResultEncoder: resEnc,
			MaxInFlight: cfg.MaxInFlight, MaxBuffered: cfg.MaxBuffered, Rate: cfg.Rate, MaxAge: cfg.MaxAge, ResendUnknown: cfg.ResendUnknown,
			MaxAttempts: cfg.MaxAttempts, BackoffMin: cfg.BackoffMin, BackoffMax: cfg.BackoffMax,
			ShutdownGrace: cfg.ShutdownGrace, Logger: log.With("component", "outbound"), Metrics: m,
			Window: store, PhoneNumberID: cfg.Window.PhoneNumberID, Templates: templateCatalogs,
			CommandDecoder: schemas.NewDecoder(reg), DeadLetterEncoder: dlqEnc,
		})
		if err != nil {
			return err
		}
	}

	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("admin listener on %s: %w", cfg.AdminAddr, err)
	}
	adminMux := http.NewServeMux()
	adminMux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	var draining atomic.Bool
	adminMux.Handle("GET /readyz", readyz(&kafkaOK, &draining, store))
	adminMux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		adminMux.HandleFunc("GET /debug/pprof/", pprof.Index)
		adminMux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		adminMux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	adminSrv := adminServer(adminMux)

	// Every goroutine below ends when gctx ends (the window store once the
	// halves that use it are done).
	if webhookSrv != nil {
		g.Go(func() error {
			if err := webhookSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("webhook listener: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		if err := adminSrv.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("admin listener: %w", err)
		}
		return nil
	})
	// The window store follows its topics until the halves that use it are
	// done: the outbound worker sends for its shutdown grace after gctx
	// ends, and webhooks in flight still write windows.
	storeCtx, stopStore := context.WithCancel(context.Background())
	defer stopStore()
	var users sync.WaitGroup
	if worker != nil {
		users.Add(1)
		g.Go(func() error { defer users.Done(); return worker.Run(gctx) })
	}
	for _, cat := range templateCatalogs {
		g.Go(func() error { return cat.Run(gctx) })
	}
	g.Go(func() error { watchKafka(gctx, adm, &kafkaOK, log); return nil })
	g.Go(func() error { return store.Run(storeCtx) })
	g.Go(func() error {
		<-gctx.Done()
		// Not ready from now on; keep taking webhooks for the drain, then
		// stop taking them while in-flight ones finish publishing.
		draining.Store(true)
		if webhookSrv != nil && cfg.ShutdownDrain > 0 {
			log.Info("draining: /readyz answers 503, webhooks are still taken", "for", cfg.ShutdownDrain.String())
			time.Sleep(cfg.ShutdownDrain)
		}
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		if webhookSrv != nil {
			if err := webhookSrv.Shutdown(sctx); err != nil {
				log.Error("webhook listener shutdown", "err", err)
			}
		}
		users.Wait()
		stopStore()
		return adminSrv.Shutdown(sctx)
	})

	kafkaOK.Store(true)
	httpAddr := ""
	if httpLn != nil {
		httpAddr = httpLn.Addr().String()
	}
	log.Info("wabridge started", "version", cfg.Version, "commit", cfg.Commit, "only", cfg.Only, "brokers", cfg.Brokers, "kafka_security", cfg.KafkaSecurity, "webhook_addr", httpAddr,
		"admin_addr", adminLn.Addr().String(), "api_base_url", cfg.APIBaseURL, "api_key", cfg.APIKey)
	if cfg.Started != nil {
		cfg.Started(httpAddr, adminLn.Addr().String())
	}
	if err = g.Wait(); err != nil {
		log.Error("wabridge stopped", "err", err)
		return err
	}
	log.Info("wabridge stopped")
	return nil
}

// adminServer serves the admin listener. A CPU profile or trace streams
// for ?seconds= (30 by default; net/http/pprof refuses durations past the
// write timeout): the write timeout leaves room for that, and no more, so
// a client that stops reading cannot hold a connection for ever.
func adminServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 2 * time.Minute, IdleTimeout: 90 * time.Second}
}

// readyz answers 503 until the window and opt-in state is restored, then
// 200, and 503 again from SIGTERM on (draining). It stays 200 while Kafka is unreachable, saying so in its body:
// every instance shares the cluster, so an outage would take every pod out
// of the Service at once, and 360dialog would get connection errors or a
// proxy's bare 502/503 instead of wabridge's own quick 503 with
// Retry-After; an instance answers each webhook within the publish timeout
// either way (docs/faults.md). Alert on the outage from the logs and the
// webhook metrics (wabridge_webhook_requests_total{code="503"}), not
// through the load balancer.
func readyz(kafkaOK, draining *atomic.Bool, store interface{ Ready() bool }) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if !store.Ready() {
			http.Error(w, "restoring the window and opt-in state", http.StatusServiceUnavailable)
			return
		}
		if !kafkaOK.Load() {
			fmt.Fprintln(w, "ready; kafka unreachable: webhooks are answered 503 with Retry-After until it is back")
			return
		}
		fmt.Fprintln(w, "ready")
	}
}

// watchKafka keeps ok in step with Kafka's reachability and logs changes.
func watchKafka(ctx context.Context, adm *kadm.Client, ready *atomic.Bool, log *slog.Logger) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		err := reachKafka(pctx, adm)
		cancel()
		if ctx.Err() != nil {
			return // shutting down: the answer says nothing about Kafka
		}
		if was := ready.Swap(err == nil); was != (err == nil) {
			if err != nil {
				log.Error("kafka unreachable; webhooks are answered 503 and commands wait until it is back", "err", err)
			} else {
				log.Info("kafka reachable again")
			}
		}
	}
}

// reachKafka asks every known broker for its API versions and returns nil
// if one answers. (A metadata request would not do: kadm answers it from
// the client's cache, whatever the brokers' state.)
func reachKafka(ctx context.Context, adm *kadm.Client) error {
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return err
	}
	err = errors.New("no broker known")
	for _, v := range vs {
		if v.Err == nil {
			return nil
		}
		err = fmt.Errorf("broker %d: %w", v.NodeID, v.Err)
	}
	return err
}

func newWindowStore(cfg Config, log *slog.Logger, km *kafkaio.ClientMetrics) (*window.Store, error) {
	wc := cfg.Window
	kw := window.DefaultKeywords()
	var err error
	if wc.OptOutKeywords != "" {
		if kw.OptOut, err = window.ParseKeywordList(wc.OptOutKeywords); err != nil {
			return nil, fmt.Errorf("opt-out keywords %q: %w", wc.OptOutKeywords, err)
		}
	}
	if wc.OptInKeywords != "" {
		if kw.OptIn, err = window.ParseKeywordList(wc.OptInKeywords); err != nil {
			return nil, fmt.Errorf("opt-in keywords %q: %w", wc.OptInKeywords, err)
		}
	}
	matcher, err := window.NewMatcher(kw)
	if err != nil {
		return nil, fmt.Errorf("keywords: %w", err)
	}
	return window.New(window.Config{
		Brokers: cfg.Brokers, Security: cfg.KafkaSecurity, KafkaMetrics: km, WindowTopic: wc.WindowTopic, OptinTopic: wc.OptinTopic,
		Partitions: cfg.Topics.Partitions, ReplicationFactor: cfg.Topics.ReplicationFactor,
		WindowMode: window.Mode(wc.WindowMode), OptInMode: window.Mode(wc.OptInMode),
		Grace: wc.Grace, MaxWait: wc.MaxWait, Keywords: matcher, InstanceID: wc.InstanceID,
		Logger: log, // window.New adds component=window
	})
}
