// Package inbound receives 360dialog webhooks and publishes one Avro record
// per inbound message and per status to Kafka, answering 200 only after
// Kafka acknowledged every record (acks=all).
package inbound

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/metrics"
	"github.com/wabridge/wabridge/schemas"
)

// Publisher writes records and returns once Kafka acknowledged all of them.
// *kafka.Writer built by kafkaio.NewWriter is one.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Encoder encodes a native Avro record into the bytes of a record value.
type Encoder interface {
	Encode(native map[string]any) ([]byte, error)
}

// Topics names where records go.
type Topics struct {
	Messages   string
	Statuses   string
	DeadLetter string
}

// Config configures a Handler.
type Config struct {
	Topics    Topics
	Encoders  map[schemas.Kind]Encoder
	Publisher Publisher
	// TokenHeader and Token: when Token is set, each request must carry it in
	// TokenHeader (compared in constant time). Default header: X-Webhook-Token.
	TokenHeader string
	Token       string
	// MaxBodyBytes caps a request body. Default: 4 MiB (360dialog sends up to 3 MB).
	MaxBodyBytes int64
	// PublishTimeout bounds the wait for Kafka; past it the answer is 503 so
	// that 360dialog retries. Default: 4s (360dialog gives up after 5 s).
	PublishTimeout time.Duration
	Logger         *slog.Logger
	Metrics        *metrics.Metrics
	// Now returns the receive time. Default: time.Now.
	Now func() time.Time
}

// Handler is the webhook endpoint.
type Handler struct {
	cfg Config
}

var _ http.Handler = (*Handler)(nil)

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Topics.Messages == "" || cfg.Topics.Statuses == "" || cfg.Topics.DeadLetter == "" {
		return nil, errors.New("inbound: messages, statuses and dead-letter topics are required")
	}
	for _, k := range []schemas.Kind{schemas.InboundMessage, schemas.MessageStatus} {
		if cfg.Encoders[k] == nil {
			return nil, fmt.Errorf("inbound: no encoder for %s", k)
		}
	}
	if cfg.Publisher == nil {
		return nil, errors.New("inbound: no publisher")
	}
	if cfg.TokenHeader == "" {
		cfg.TokenHeader = "X-Webhook-Token"
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 4 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}, nil
}

// Header keys on every record wabridge writes.
const (
	HeaderEventKind   = "event-kind"
	HeaderContentType = "content-type"
	HeaderDLQReason   = "dlq-reason"
	HeaderDLQSource   = "dlq-source"
	ContentTypeAvro   = "application/vnd.confluent.avro"
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := h.serve(w, r)
	h.cfg.Metrics.WebhookRequests.WithLabelValues(strconv.Itoa(code)).Inc()
	h.cfg.Metrics.WebhookDuration.Observe(time.Since(start).Seconds())
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) int {
	if h.cfg.Token != "" {
		got := r.Header.Get(h.cfg.TokenHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.Token)) != 1 {
			h.cfg.Metrics.WebhookAuthFails.Inc()
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return http.StatusUnauthorized
		}
	}
	receivedAt := h.cfg.Now().UTC().Truncate(time.Millisecond)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			sum := sha256.Sum256(body)
			stub := fmt.Sprintf(`{"truncated_bytes_read":%d,"sha256_of_read_part":"%s"}`, len(body), hex.EncodeToString(sum[:]))
			reason := fmt.Sprintf("body larger than %d bytes", h.cfg.MaxBodyBytes)
			if err := h.deadLetter(r.Context(), []byte(stub), reason); err != nil {
				return h.unavailable(w, err)
			}
			http.Error(w, reason, http.StatusRequestEntityTooLarge)
			return http.StatusRequestEntityTooLarge
		}
		http.Error(w, "reading body failed", http.StatusBadRequest)
		return http.StatusBadRequest
	}

	items, err := Parse(body, receivedAt)
	if err != nil {
		// An authenticated sender's body we cannot understand: keep it, answer
		// 200 so it is not retried for days.
		h.cfg.Logger.Warn("webhook body not understood, dead-lettered", "err", err, "bytes", len(body))
		if err := h.deadLetter(r.Context(), body, err.Error()); err != nil {
			return h.unavailable(w, err)
		}
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	}

	msgs := make([]kafka.Message, 0, len(items))
	kinds := make([]schemas.Kind, 0, len(items))
	for _, it := range items {
		if it.Kind == "" {
			msgs = append(msgs, h.deadLetterMessage(it.Raw, it.Reason))
			kinds = append(kinds, "")
			continue
		}
		value, err := h.cfg.Encoders[it.Kind].Encode(it.Native)
		if err != nil {
			msgs = append(msgs, h.deadLetterMessage([]byte(it.Native["raw"].(string)), "encoding: "+err.Error()))
			kinds = append(kinds, "")
			continue
		}
		topic := h.cfg.Topics.Messages
		if it.Kind == schemas.MessageStatus {
			topic = h.cfg.Topics.Statuses
		}
		msgs = append(msgs, kafka.Message{
			Topic: topic, Key: []byte(it.Key), Value: value, Time: receivedAt,
			Headers: []kafka.Header{
				{Key: HeaderEventKind, Value: []byte(it.Kind)},
				{Key: HeaderContentType, Value: []byte(ContentTypeAvro)},
			},
		})
		kinds = append(kinds, it.Kind)
	}
	if len(msgs) > 0 {
		if err := h.publish(r.Context(), msgs...); err != nil {
			return h.unavailable(w, err)
		}
	}
	for _, k := range kinds {
		if k == "" {
			h.cfg.Metrics.DeadLetters.WithLabelValues("webhook").Inc()
			continue
		}
		h.cfg.Metrics.WebhookRecords.WithLabelValues(string(k)).Inc()
	}
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

func (h *Handler) publish(ctx context.Context, msgs ...kafka.Message) error {
	// The request context ends when 360dialog hangs up; finish the write
	// anyway (bounded), so what was sent is not half-written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	err := h.cfg.Publisher.WriteMessages(ctx, msgs...)
	h.cfg.Metrics.PublishDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("publishing %d records: %w", len(msgs), err)
	}
	return nil
}

func (h *Handler) deadLetterMessage(raw []byte, reason string) kafka.Message {
	return kafka.Message{
		Topic: h.cfg.Topics.DeadLetter, Value: raw,
		Headers: []kafka.Header{
			{Key: HeaderDLQReason, Value: []byte(reason)},
			{Key: HeaderDLQSource, Value: []byte("webhook")},
			{Key: HeaderContentType, Value: []byte("application/json")},
		},
	}
}

func (h *Handler) deadLetter(ctx context.Context, raw []byte, reason string) error {
	if err := h.publish(ctx, h.deadLetterMessage(raw, reason)); err != nil {
		return err
	}
	h.cfg.Metrics.DeadLetters.WithLabelValues("webhook").Inc()
	return nil
}

func (h *Handler) unavailable(w http.ResponseWriter, err error) int {
	h.cfg.Logger.Error("kafka did not take webhook records; answering 503 so 360dialog retries", "err", err)
	w.Header().Set("Retry-After", "1")
	http.Error(w, "kafka unavailable, retry later", http.StatusServiceUnavailable)
	return http.StatusServiceUnavailable
}
