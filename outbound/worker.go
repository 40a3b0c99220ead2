// Package outbound reads send commands from Kafka, calls 360dialog's
// POST /messages, and writes exactly one result event per command (plus a
// dead-letter record for what cannot be sent) before committing its offset.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/metrics"
	"github.com/wabridge/wabridge/schemas"
)

// Sender calls the messages endpoint. *d360.Client is one.
type Sender interface {
	Send(ctx context.Context, body []byte) (d360.Response, error)
}

// Publisher writes records and returns once Kafka acknowledged them.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Encoder encodes a native Avro record.
type Encoder interface {
	Encode(native map[string]any) ([]byte, error)
}

// Config configures a Worker.
type Config struct {
	Brokers         []string
	GroupID         string
	CommandTopic    string
	ResultTopic     string
	DeadLetterTopic string

	Sender        Sender
	Publisher     Publisher
	ResultEncoder Encoder

	// MaxAttempts of one command against the API. Default: 5.
	MaxAttempts int
	// BackoffMin and BackoffMax bound the exponential backoff with full
	// jitter between attempts. Defaults: 500ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// ShutdownGrace is how long an in-flight command may finish after Run's
	// context ends. Default: 10s.
	ShutdownGrace time.Duration

	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Worker is the outbound half.
type Worker struct {
	cfg Config
}

// New checks cfg and returns a Worker.
func New(cfg Config) (*Worker, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("outbound: no brokers")
	case cfg.GroupID == "":
		return nil, errors.New("outbound: consumer group id is empty")
	case cfg.CommandTopic == "" || cfg.ResultTopic == "" || cfg.DeadLetterTopic == "":
		return nil, errors.New("outbound: command, result and dead-letter topics are required")
	case cfg.Sender == nil || cfg.Publisher == nil || cfg.ResultEncoder == nil:
		return nil, errors.New("outbound: sender, publisher and result encoder are required")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 500 * time.Millisecond
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(30*time.Second, cfg.BackoffMin)
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	return &Worker{cfg: cfg}, nil
}

// Run consumes commands until ctx ends. Each command is finished (result
// written, acknowledged by Kafka) before its offset is committed, so a crash
// redelivers it rather than losing it. After ctx ends, the command in flight
// has ShutdownGrace to finish; Run then commits and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           w.cfg.Brokers,
		GroupID:           w.cfg.GroupID,
		Topic:             w.cfg.CommandTopic,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           250 * time.Millisecond,
		CommitInterval:    0, // synchronous commits, only of finished commands
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		ErrorLogger:       kafkaio.ErrorLogger(w.cfg.Logger),
	})
	defer r.Close()

	// Work in flight survives ctx for ShutdownGrace.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(w.cfg.ShutdownGrace, cancelWork) })
	defer stop()

	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("fetching from %q: %w", w.cfg.CommandTopic, err)
		}
		w.cfg.Metrics.CommandsRead.Inc()
		if err := w.handle(workCtx, m); err != nil {
			if workCtx.Err() != nil {
				w.cfg.Logger.Warn("shutdown grace ended with a command in flight; it will be redelivered",
					"topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
				return nil
			}
			return err
		}
		if err := r.CommitMessages(workCtx, m); err != nil {
			return fmt.Errorf("committing %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
		}
	}
}

// outcome of one command.
type outcome struct {
	status   string // accepted, rejected, failed
	resp     d360.Response
	reason   string
	apiErr   *d360.APIError
	details  string
	attempts int
}

func (w *Worker) handle(ctx context.Context, m kafka.Message) error {
	start := time.Now()
	w.cfg.Metrics.InFlight.Inc()
	defer w.cfg.Metrics.InFlight.Dec()

	cmd, err := ParseCommand(m)
	var out outcome
	switch {
	case err != nil:
		out = outcome{status: "rejected", reason: "invalid_command", details: err.Error()}
	case !cmd.ExpiresAt.IsZero() && time.Now().After(cmd.ExpiresAt):
		out = outcome{status: "rejected", reason: "expired", details: "expires-at " + cmd.ExpiresAt.UTC().Format(time.RFC3339Nano) + " has passed"}
	default:
		out, err = w.send(ctx, cmd)
		if err != nil {
			return err // context ended: no result, no commit; redelivered
		}
	}
	log := w.cfg.Logger.With("command_id", cmd.ID, "topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
	result, err := w.result(m, cmd, out, time.Since(start))
	if err != nil {
		return err
	}
	msgs := []kafka.Message{result}
	if out.status != "accepted" {
		msgs = append(msgs, deadLetter(w.cfg.DeadLetterTopic, m, out))
	}
	if err := w.cfg.Publisher.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("writing result of command %s: %w", cmd.ID, err)
	}
	code := ""
	if out.apiErr != nil && out.apiErr.Code != 0 {
		code = strconv.Itoa(out.apiErr.Code)
	}
	w.cfg.Metrics.Sends.WithLabelValues(out.status, code).Inc()
	if out.status != "accepted" {
		w.cfg.Metrics.DeadLetters.WithLabelValues("command").Inc()
		log.Warn("command not sent", "outcome", out.status, "reason", out.reason, "details", out.details)
	} else {
		log.Debug("command sent", "message_id", out.resp.MessageID, "attempts", out.attempts)
	}
	return nil
}

// send calls the API until it accepts, refuses for good, or attempts run
// out. It returns an error only when ctx ended.
func (w *Worker) send(ctx context.Context, cmd Command) (outcome, error) {
	var lastErr error
	for attempt := 1; attempt <= w.cfg.MaxAttempts; attempt++ {
		t0 := time.Now()
		resp, err := w.cfg.Sender.Send(ctx, cmd.Body)
		w.cfg.Metrics.APILatency.Observe(time.Since(t0).Seconds())
		if err == nil {
			return outcome{status: "accepted", resp: resp, attempts: attempt}, nil
		}
		if ctx.Err() != nil {
			return outcome{}, ctx.Err()
		}
		lastErr = err
		var apiErr *d360.APIError
		errors.As(err, &apiErr)
		if d360.NeedsAlert(err) {
			w.cfg.Metrics.APIAlerts.WithLabelValues(strconv.Itoa(apiErr.Code)).Inc()
		}
		class := d360.Classify(err)
		if class == d360.Permanent {
			return outcome{status: "failed", reason: "api_error", apiErr: apiErr, details: err.Error(), attempts: attempt}, nil
		}
		if attempt == w.cfg.MaxAttempts {
			break
		}
		w.cfg.Metrics.SendRetries.WithLabelValues(class.String()).Inc()
		wait := w.backoff(attempt, class)
		if apiErr != nil && apiErr.RetryAfter > wait {
			wait = apiErr.RetryAfter
		}
		w.cfg.Logger.Info("retrying send", "command_id", cmd.ID, "attempt", attempt, "class", class.String(), "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return outcome{}, ctx.Err()
		case <-time.After(wait):
		}
	}
	var apiErr *d360.APIError
	errors.As(lastErr, &apiErr)
	return outcome{status: "failed", reason: "retries_exhausted", apiErr: apiErr, details: lastErr.Error(), attempts: w.cfg.MaxAttempts}, nil
}

// backoff is exponential with full jitter; the pair rate limit (131056)
// waits at least 6 s.
func (w *Worker) backoff(attempt int, class d360.Class) time.Duration {
	ceil := w.cfg.BackoffMin << min(attempt-1, 20)
	if ceil > w.cfg.BackoffMax || ceil <= 0 {
		ceil = w.cfg.BackoffMax
	}
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	if class == d360.RecipientBackoff {
		d = max(d, 6*time.Second*time.Duration(attempt))
	}
	return d
}

func (w *Worker) result(m kafka.Message, cmd Command, out outcome, latency time.Duration) (kafka.Message, error) {
	native := map[string]any{
		"event_id":         "result:" + cmd.ID,
		"command_id":       cmd.ID,
		"outcome":          out.status,
		"produced_at":      time.Now().UTC().Truncate(time.Millisecond),
		"to":               schemas.Optional("string", cmd.To),
		"wa_id":            schemas.Optional("string", out.resp.WAID),
		"message_id":       schemas.Optional("string", out.resp.MessageID),
		"message_status":   schemas.Optional("string", out.resp.MessageStatus),
		"attempts":         int32(out.attempts),
		"latency_ms":       latency.Milliseconds(),
		"error":            nil,
		"source_topic":     m.Topic,
		"source_partition": int32(m.Partition),
		"source_offset":    m.Offset,
	}
	if out.status != "accepted" {
		e := map[string]any{"reason": out.reason, "code": nil, "http_status": nil, "title": nil, "details": schemas.Optional("string", out.details)}
		if out.apiErr != nil {
			if out.apiErr.Code != 0 {
				e["code"] = schemas.Optional("int", &out.apiErr.Code)
			}
			e["http_status"] = schemas.Optional("int", &out.apiErr.StatusCode)
			e["title"] = schemas.Optional("string", out.apiErr.Title)
			e["details"] = schemas.Optional("string", out.apiErr.Details)
			if out.apiErr.Details == "" {
				e["details"] = schemas.Optional("string", out.details)
			}
		}
		native["error"] = schemas.Optional("io.wabridge.events.SendError", e)
	}
	value, err := w.cfg.ResultEncoder.Encode(native)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("encoding result of command %s: %w", cmd.ID, err)
	}
	// Key results like the webhook events of the same user (digits only), so
	// a user's results and statuses share a partition.
	key := m.Key
	if cmd.To != "" {
		key = []byte(UserKey(cmd.To))
	}
	return kafka.Message{
		Topic: w.cfg.ResultTopic, Key: key, Value: value,
		Headers: []kafka.Header{
			{Key: "event-kind", Value: []byte(schemas.SendResult)},
			{Key: "content-type", Value: []byte("application/vnd.confluent.avro")},
			{Key: HeaderCommandID, Value: []byte(cmd.ID)},
		},
	}, nil
}

// deadLetter keeps the original record bytes and headers, with the reason.
func deadLetter(topic string, m kafka.Message, out outcome) kafka.Message {
	headers := append([]kafka.Header(nil), m.Headers...)
	headers = append(headers,
		kafka.Header{Key: "dlq-reason", Value: []byte(out.reason + ": " + out.details)},
		kafka.Header{Key: "dlq-source", Value: []byte("command")},
		kafka.Header{Key: "dlq-source-topic", Value: []byte(m.Topic)},
		kafka.Header{Key: "dlq-source-partition", Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: "dlq-source-offset", Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	return kafka.Message{Topic: topic, Key: m.Key, Value: m.Value, Headers: headers}
}
