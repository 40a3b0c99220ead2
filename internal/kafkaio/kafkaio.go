// Package kafkaio is wabridge's one Kafka layer: it builds every client
// (Conn: TLS and SASL settings, slog adapters, the long-lived clients'
// metrics), knows every topic (Topology), reads partition ranges
// (RangeReader, ReadRanges, ReadTopic) and writes with kafka-go behind the
// Publisher interface (the writer with safe settings: acks=all, short batch
// wait, murmur2 keys), whose contract its test checks against every
// implementation.
package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel"

	"github.com/wabridge/wabridge/internal/telemetry"
)

// ParseBrokers splits a comma-separated broker list and checks each entry is
// host:port.
func ParseBrokers(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("broker %q: want host:port", b)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("no Kafka brokers given")
	}
	return out, nil
}

// NewWriter returns a kafka-go Writer for c, for records that carry their
// own topic.
// kafka-go's defaults are unsafe for us: it would wait for no acknowledgement
// and hold every batch for a second. This writer waits for all in-sync
// replicas (acks=all), flushes after batchTimeout, and partitions by key with
// murmur2, like the Java client, so a user's events share a partition with
// what Java producers write for the same key.
func (c Conn) NewWriter(batchTimeout time.Duration) (*kafka.Writer, error) {
	if batchTimeout <= 0 {
		batchTimeout = time.Millisecond
	}
	// A transport of its own: kafka-go's shared DefaultTransport caches
	// cluster metadata for 6 s, so a writer would not see a topic created
	// after another writer in the process cached the metadata.
	tr := &kafka.Transport{DialTimeout: 5 * time.Second, MetadataTTL: 6 * time.Second, ClientID: "wabridge"}
	if err := c.Security.ApplyKafkaGo(tr); err != nil {
		return nil, err
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: batchTimeout,
		// kafka-go allocates room for BatchSize messages per batch: 100 cut
		// CPU per webhook by a sixth and peak RSS from 58 to 40 MB (bench/inbound).
		BatchSize:              100,
		MaxAttempts:            5,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		AllowAutoTopicCreation: false,
		ErrorLogger:            ErrorLogger(c.logger()),
		Transport:              tr,
	}, nil
}

// ErrorLogger adapts slog to kafka-go's error logger.
func ErrorLogger(logger *slog.Logger) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) {
		logger.Warn(fmt.Sprintf(msg, args...), "client", "kafka-go")
	})
}

// Topic is a topic wabridge needs (Topology lists them all).
type Topic struct {
	Name              string
	Role              Role
	Partitions        int32
	ReplicationFactor int16
	// Configs such as cleanup.policy; nil for broker defaults.
	Configs map[string]*string
}

// Conn is how every Kafka client of wabridge reaches the cluster: the seed
// brokers, TLS and SASL, and the logger the client's own logs go to.
type Conn struct {
	Brokers  []string
	Security Security
	// Logger gets the client's warnings and errors once it has connected
	// (ClientLogs). Default: discarded.
	Logger *slog.Logger
	// Metrics, when set, gets the metrics of the clients made with a name
	// (Named); nil: no client metrics.
	Metrics *ClientMetrics
	// Name of the client (Named); empty for a short-lived client.
	Name string
}

// Named returns c for a long-lived client called name ("outbound",
// "window-consumer"): its client.id is "wabridge-" + name, which the
// brokers log and quotas match, and with c.Metrics set its metrics carry
// that id as their client_id label.
func (c Conn) Named(name string) Conn {
	c.Name = name
	return c
}

func (c Conn) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// NewClient returns a franz-go client for c, with opts applied after c's
// seed brokers, security and logger, and, when c is Named, its client id
// and metrics. Close it when done.
func (c Conn) NewClient(opts ...kgo.Opt) (cl *kgo.Client, err error) {
	sec, err := c.Security.Options()
	if err != nil {
		return nil, err
	}
	base := append([]kgo.Opt{
		kgo.SeedBrokers(c.Brokers...), kgo.DialTimeout(5 * time.Second),
		// No KIP-714 client metrics pushed to brokers that subscribe to them
		// (kfake does, as do brokers with a telemetry plugin): the same
		// figures are on wabridge's /metrics (ClientMetrics), and kgo
		// compresses each push anew, with lz4 when the broker takes it,
		// whose 4 MiB blocks cost every client 8 MiB of heap per push
		// (at start, a quarter of the outbound half's peak memory).
		kgo.DisableClientMetrics(),
	}, sec...)
	base = append(base, ClientLogs(c.logger())...)
	switch {
	case c.Name != "" && c.Metrics != nil:
		id, opts := c.Metrics.options("wabridge-" + c.Name)
		base = append(base, opts...)
		defer func() {
			if cl == nil { // no client, no OnClientClosed: free the id here
				c.Metrics.release(id)
			}
		}()
	case c.Name != "":
		base = append(base, kgo.ClientID("wabridge-"+c.Name))
	default:
		base = append(base, kgo.ClientID("wabridge"))
	}
	// With tracing on (the OTEL_* variables), trace context in and out of
	// every record (W3C headers), with the global OpenTelemetry provider.
	// Off, no hook: kotel's spans cost about a quarter of the send rate
	// even with a no-op provider.
	if telemetry.Enabled(os.Getenv) {
		base = append(base, kgo.WithHooks(kotel.NewKotel(kotel.WithTracer(kotel.NewTracer())).Hooks()...))
	}
	cl, err = kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", c.Brokers, err)
	}
	return cl, nil
}

// AdminClient returns a franz-go admin client for c. Close it when done.
func (c Conn) AdminClient() (*kadm.Client, error) {
	cl, err := c.NewClient(
		// Short: WaitForTopics must see topics created a moment ago.
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RequestRetries(2),
	)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// EnsureTopics creates the topics that are missing; existing topics are left
// as they are. It fails when the brokers cannot be reached before ctx ends.
func EnsureTopics(ctx context.Context, adm *kadm.Client, topics []Topic) ([]string, error) {
	names := make([]string, 0, len(topics))
	for _, t := range topics {
		names = append(names, t.Name)
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	var created []string
	for _, t := range topics {
		if d, ok := details[t.Name]; ok && d.Err == nil {
			continue
		}
		resp, err := adm.CreateTopic(ctx, t.Partitions, t.ReplicationFactor, t.Configs, t.Name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return created, fmt.Errorf("creating topic %q (%d partitions, replication factor %d): %w", t.Name, t.Partitions, t.ReplicationFactor, err)
		}
		if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			msg := resp.ErrMessage
			return created, fmt.Errorf("creating topic %q (%d partitions, replication factor %d): %w %s", t.Name, t.Partitions, t.ReplicationFactor, resp.Err, msg)
		}
		created = append(created, t.Name)
	}
	if len(created) > 0 {
		if err := WaitForTopics(ctx, adm, created...); err != nil {
			return created, err
		}
	}
	return created, nil
}

// WaitForTopics waits until every partition of topics has a leader: a
// created topic is not usable at once on a real cluster, and kafka-go's
// writer does not retry "unknown topic or partition".
func WaitForTopics(ctx context.Context, adm *kadm.Client, topics ...string) error {
	for {
		details, err := adm.ListTopics(ctx, topics...)
		if err == nil {
			missing := ""
			for _, t := range topics {
				d, ok := details[t]
				if !ok || d.Err != nil || len(d.Partitions) == 0 {
					missing = t
					break
				}
				for _, p := range d.Partitions {
					if p.Err != nil || p.Leader < 0 {
						missing = t
					}
				}
			}
			if missing == "" {
				return nil
			}
			err = fmt.Errorf("topic %q has no leader yet", missing)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for topics %v: %w (last: %v)", topics, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Ping asks the cluster for its metadata; it fails when no broker answers.
func Ping(ctx context.Context, adm *kadm.Client) error {
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if len(m.Brokers) == 0 {
		return errors.New("cluster reported no brokers")
	}
	return nil
}

// KgoLogger adapts slog to franz-go's logger (warnings and errors).
func KgoLogger(l *slog.Logger) kgo.Logger { return kgoLogger{l} }

type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelWarn:
		lvl = slog.LevelWarn
	case kgo.LogLevelInfo:
		lvl = slog.LevelInfo
	}
	k.l.Log(context.Background(), lvl, msg, append(keyvals, "client", "franz-go")...)
}

// Header returns the value of the first header named key.
func Header(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// TracingWriter is a kafka-go writer that puts the trace context of the
// context it is given (W3C traceparent and tracestate, through the global
// OpenTelemetry propagator) into the headers of every record it writes. It
// is how a webhook's trace reaches every record it produces; franz-go
// clients get the same from kotel's hooks (Conn.NewClient).
type TracingWriter struct {
	// Next writes the records: the *kafka.Writer of Conn.NewWriter.
	Next Publisher
}

// WriteMessages sets the trace headers of msgs from ctx and writes them.
func (w TracingWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	prop := otel.GetTextMapPropagator()
	for i := range msgs {
		prop.Inject(ctx, messageCarrier{&msgs[i]})
	}
	return w.Next.WriteMessages(ctx, msgs...)
}

// messageCarrier adapts a kafka-go message's headers to OpenTelemetry's
// propagation.TextMapCarrier.
type messageCarrier struct{ m *kafka.Message }

func (c messageCarrier) Get(key string) string {
	for _, h := range c.m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c messageCarrier) Set(key, val string) {
	for i, h := range c.m.Headers {
		if h.Key == key {
			c.m.Headers[i].Value = []byte(val)
			return
		}
	}
	c.m.Headers = append(c.m.Headers, kafka.Header{Key: key, Value: []byte(val)})
}

func (c messageCarrier) Keys() []string {
	keys := make([]string, len(c.m.Headers))
	for i, h := range c.m.Headers {
		keys[i] = h.Key
	}
	return keys
}
