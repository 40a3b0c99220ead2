// Package inbound receives 360dialog webhooks and publishes one Avro record
// per inbound message, per status and per other webhook event to Kafka,
// answering 200 only after Kafka acknowledged every record (acks=all).
package inbound

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/wabridge/wabridge/internal/metrics"
	"github.com/wabridge/wabridge/schemas"
)

// Publisher writes records and returns once Kafka acknowledged all of them,
// with kafkaio.Publisher's contract (too large records, ctx, brokers down),
// which its test checks against every implementation: the *kafka.Writer
// built by kafkaio.Conn.NewWriter and kafkaio.TracingWriter.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Encoder encodes a native Avro record into the bytes of a record value.
type Encoder interface {
	Encode(native map[string]any) ([]byte, error)
}

// Topics names where records go.
type Topics struct {
	Messages string
	Statuses string
	// Events receives the WebhookEvent records: calls (event_type call),
	// change-level errors, user preferences, template status updates and
	// unknown change fields. Default: none, and those items go to the
	// dead-letter topic with a reason. Suggested: wabridge.webhook-events.
	Events     string
	DeadLetter string
}

// Config configures a Handler. Every authentication option that is set
// must pass; with none set, every request is accepted (log a warning).
type Config struct {
	Topics Topics
	// Encoders by event kind: InboundMessage and MessageStatus are
	// required, WebhookEvent when Topics.Events is set.
	Encoders  map[schemas.Kind]Encoder
	Publisher Publisher
	// TokenHeader and Token: when Token is set, each request must carry it in
	// TokenHeader (compared in constant time). Default header: X-Webhook-Token.
	TokenHeader string
	Token       string
	// PreviousToken, when set, is accepted in TokenHeader as well as Token,
	// so the secret can be rotated on 360dialog without refusing webhooks
	// (including retries of ones sent before the change). Default: none.
	PreviousToken string
	// PathSecret, when set, must be the last segment of the request path
	// (POST /webhook/<PathSecret>; compared in constant time). Use Register
	// to mount the handler so both paths reach it. Secrets in URLs end up in
	// access logs of proxies: prefer Token. Default: none.
	PathSecret string
	// SignatureSecrets, when set (one, or two while rotating), require each
	// POST to carry an HMAC-SHA256 of its raw body under one of them, hex
	// encoded, in x-360dialog-signature (optionally "sha256="-prefixed) or in
	// Meta's X-Hub-Signature-256 ("sha256=<hex>"). Default: none.
	SignatureSecrets []string
	// VerifyToken, when set, makes GET answer Meta's subscription handshake:
	// hub.mode=subscribe with hub.verify_token equal to it echoes
	// hub.challenge; anything else is 403. Default: none (GET is 405).
	VerifyToken string
	// MaxBodyBytes caps a request body. Default: 4 MiB (360dialog sends up to 3 MB).
	MaxBodyBytes int64
	// MaxInFlight caps the requests doing Kafka work at once; beyond it a
	// request is answered 503 with Retry-After at once rather than queued.
	// A request takes its slot once its body is read and authenticated:
	// reading holds memory only for the bytes that arrived (the server's
	// ReadTimeout bounds how long), so senders that never finish a body
	// cannot starve real webhooks. Default: 256. Negative: no cap.
	MaxInFlight int
	// PublishTimeout bounds the wait for Kafka, window records included;
	// past it the answer is 503 so that 360dialog retries. Default: 4s
	// (360dialog gives up after 5 s).
	PublishTimeout time.Duration
	// DedupeIDs, when positive, keeps the event ids of the last DedupeIDs
	// records Kafka acknowledged in memory and drops records whose id is
	// among them (a webhook retried after a lost 200). Best effort: per
	// process, not across restarts or replicas; consumers still drop
	// duplicates by event_id. About 150 bytes per id. Default: 0 (off).
	DedupeIDs int
	// Window, when set, records what inbound messages, user-initiated
	// calls, failed statuses and user_preferences mean for the customer
	// service window and opt-in, before the request's records are published.
	Window WindowRecorder
	// DeadLetterChunkBytes splits dead letters larger than this into
	// several records (headers dlq-chunk "i/n", dlq-sha256, dlq-size; same
	// key, so one partition, in order), because Kafka refuses records over
	// its message.max.bytes (1 MiB by default) and a refused dead letter
	// would turn into a 503 that 360dialog retries for days.
	// Default: 512 KiB.
	DeadLetterChunkBytes int
	Logger               *slog.Logger
	Metrics              *metrics.Metrics
	// Now returns the receive time. Default: time.Now.
	Now func() time.Time
}

// Handler is the webhook endpoint.
type Handler struct {
	cfg Config
	// statusSchemaID is the registry id of the status schema when statuses
	// are encoded directly; -1 when they go through the Encoder.
	statusSchemaID int
	inFlight       chan struct{}
	recent         *recentIDs
	tokens         [][sha256.Size]byte
	path           *[sha256.Size]byte
	verify         *[sha256.Size]byte
	secrets        [][]byte
	// outageLog throttles the log of 503 answers.
	outageLog everySecond
}

// everySecond lets one event a second through and counts the others.
type everySecond struct {
	mu    sync.Mutex
	last  time.Time
	count int
}

// allow reports whether to log now, with the number of events since the
// last log, this one included.
func (e *everySecond) allow(now time.Time) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count++
	if now.Sub(e.last) < time.Second {
		return 0, false
	}
	n := e.count
	e.last, e.count = now, 0
	return n, true
}

var _ http.Handler = (*Handler)(nil)

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Topics.Messages == "" || cfg.Topics.Statuses == "" || cfg.Topics.DeadLetter == "" {
		return nil, errors.New("inbound: messages, statuses and dead-letter topics are required")
	}
	kinds := []schemas.Kind{schemas.InboundMessage, schemas.MessageStatus}
	if cfg.Topics.Events != "" {
		kinds = append(kinds, schemas.WebhookEvent)
	}
	for _, k := range kinds {
		if cfg.Encoders[k] == nil {
			return nil, fmt.Errorf("inbound: no encoder for %s", k)
		}
	}
	if cfg.Publisher == nil {
		return nil, errors.New("inbound: no publisher")
	}
	if len(cfg.SignatureSecrets) > 2 {
		return nil, errors.New("inbound: at most two signature secrets (the current one and, while rotating, the previous one)")
	}
	h := &Handler{statusSchemaID: -1}
	// With the schema registry's encoder, statuses are encoded directly
	// (see status.go); any other Encoder gets the native form.
	if enc, ok := cfg.Encoders[schemas.MessageStatus].(*schemas.Encoder); ok && enc.Kind == schemas.MessageStatus {
		h.statusSchemaID = enc.ID
	}
	for _, s := range cfg.SignatureSecrets {
		if s == "" {
			return nil, errors.New("inbound: empty signature secret")
		}
		h.secrets = append(h.secrets, []byte(s))
	}
	if cfg.TokenHeader == "" {
		cfg.TokenHeader = "X-Webhook-Token"
	}
	if cfg.PreviousToken != "" && cfg.Token == "" {
		return nil, errors.New("inbound: a previous token without a current token")
	}
	for _, t := range []string{cfg.Token, cfg.PreviousToken} {
		if t != "" {
			h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
		}
	}
	if cfg.PathSecret != "" {
		if strings.Contains(cfg.PathSecret, "/") {
			return nil, errors.New("inbound: the path secret must be one path segment (no /)")
		}
		sum := sha256.Sum256([]byte(cfg.PathSecret))
		h.path = &sum
	}
	if cfg.VerifyToken != "" {
		sum := sha256.Sum256([]byte(cfg.VerifyToken))
		h.verify = &sum
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.MaxInFlight > 0 {
		h.inFlight = make(chan struct{}, cfg.MaxInFlight)
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 4 * time.Second
	}
	if cfg.DedupeIDs > 0 {
		h.recent = newRecentIDs(cfg.DedupeIDs)
	}
	if cfg.DeadLetterChunkBytes <= 0 {
		cfg.DeadLetterChunkBytes = 512 << 10
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
	h.cfg = cfg
	return h, nil
}

// Register mounts the handler on mux under path: POST path, and GET path
// for Meta's handshake when VerifyToken is set; with a PathSecret also
// path/{secret} (requests without it are answered 401, not 404).
func (h *Handler) Register(mux *http.ServeMux, path string) {
	paths := []string{path}
	if h.path != nil {
		paths = append(paths, strings.TrimSuffix(path, "/")+"/{secret}")
	}
	for _, p := range paths {
		mux.Handle("POST "+p, h)
		if h.verify != nil {
			mux.Handle("GET "+p, h)
		}
	}
}

// Header keys on every record wabridge writes.
const (
	HeaderEventKind   = "event-kind"
	HeaderEventID     = "event-id"
	HeaderContentType = "content-type"
	HeaderDLQReason   = "dlq-reason"
	HeaderDLQSource   = "dlq-source"
	// Dead letters split into chunks (see Config.DeadLetterChunkBytes).
	HeaderDLQChunk  = "dlq-chunk"  // "i/n", from 1
	HeaderDLQSHA256 = "dlq-sha256" // hex SHA-256 of the whole dead letter
	HeaderDLQSize   = "dlq-size"   // bytes of the whole dead letter
	ContentTypeAvro = "application/vnd.confluent.avro"
)

// Header values shared by every record (kafka-go only reads them).
var (
	avroHeader = []byte(ContentTypeAvro)
	kindHeader = map[schemas.Kind][]byte{
		schemas.InboundMessage: []byte(schemas.InboundMessage),
		schemas.MessageStatus:  []byte(schemas.MessageStatus),
		schemas.WebhookEvent:   []byte(schemas.WebhookEvent),
	}
)

// retryAfter is the Retry-After of 503 answers, in seconds.
const retryAfter = "1"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := h.serve(w, r)
	h.cfg.Metrics.WebhookRequests.WithLabelValues(strconv.Itoa(code)).Inc()
	h.cfg.Metrics.WebhookDuration.Observe(time.Since(start).Seconds())
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) int {
	switch r.Method {
	case http.MethodPost:
	case http.MethodGet, http.MethodHead:
		return h.handshake(w, r)
	default:
		w.Header().Set("Allow", h.allow())
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	// What needs no body is checked first: an unauthenticated request reads
	// no body. With signature-only authentication a request must at least
	// carry a well-formed signature header before its body is read.
	if !h.pathOK(r) || !h.tokenOK(r) || len(h.secrets) > 0 && len(signatures(r)) == 0 {
		return h.unauthorized(w)
	}
	receivedAt := h.cfg.Now().UTC().Truncate(time.Millisecond)
	// The body is read before a MaxInFlight slot is taken, into a buffer
	// that grows as bytes arrive: a sender that declares a large body and
	// sends nothing holds no slot and little memory (ReadTimeout ends it).
	body, err := h.readBody(w, r)
	var mbe *http.MaxBytesError
	if err != nil && !errors.As(err, &mbe) {
		code := http.StatusBadRequest
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			code = http.StatusRequestTimeout
		}
		http.Error(w, "reading body failed", code)
		return code
	}
	if err == nil && !h.signatureOK(r, body) {
		return h.unauthorized(w)
	}
	// The Kafka work of the request takes one of MaxInFlight slots.
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			w.Header().Set("Retry-After", retryAfter)
			http.Error(w, "too many webhooks at once, retry later", http.StatusServiceUnavailable)
			return http.StatusServiceUnavailable
		}
	}
	// The Kafka work of the request (window records, then its records or
	// dead letters) has one deadline, PublishTimeout. It goes on when
	// 360dialog hangs up, so that what was sent is not half-written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.PublishTimeout)
	defer cancel()
	if err != nil {
		return h.tooLarge(ctx, w, r, body)
	}

	req := request{body: body, header: r.Header, at: receivedAt}
	items, err := parse(body, receivedAt, h.statusSchemaID < 0)
	if err != nil {
		// An authenticated sender's body we cannot understand: keep it, answer
		// 200 so it is not retried for days.
		h.cfg.Logger.Warn("webhook body not understood, dead-lettered", "err", err, "bytes", len(body))
		req.failures = []schemas.Failure{{Reason: err.Error()}}
		msgs := h.deadLetterMessages(&req)
		if err := h.publish(ctx, msgs...); err != nil {
			return h.unavailable(w, err)
		}
		h.cfg.Metrics.DeadLetters.WithLabelValues("webhook").Add(float64(len(msgs)))
		return h.ok(w, &req)
	}
	if err := h.recordWindows(ctx, items); err != nil {
		return h.unavailable(w, err)
	}
	traceCommandIDs(ctx, items)
	msgs, ids := h.records(items, &req)
	if len(msgs) > 0 || len(req.failures) > 0 {
		if msgs, err = h.publishRecords(ctx, msgs, &req); err != nil {
			return h.unavailable(w, err)
		}
	}
	if h.recent != nil {
		h.recent.add(ids)
	}
	for _, m := range msgs {
		if it, ok := m.WriterData.(*Item); ok {
			h.cfg.Metrics.WebhookRecords.WithLabelValues(string(it.Kind)).Inc()
		} else {
			h.cfg.Metrics.DeadLetters.WithLabelValues("webhook").Inc()
		}
	}
	if len(req.failures) > 0 {
		h.cfg.Logger.Warn("webhook parts not published, dead-lettered with the request",
			"failed_parts", req.failed, "first", req.failures[0].String(), "dead_letter", req.eventID)
	}
	return h.ok(w, &req)
}

// Response headers of a 200 whose request was dead-lettered (in whole or
// in part), for `wabridge dlq replay` and other senders that want to know;
// 360dialog ignores them.
const (
	HeaderDeadLetter  = "Wabridge-Dead-Letter"  // the dead letter's event_id
	HeaderFailedParts = "Wabridge-Failed-Parts" // how many parts were not published
)

// ok answers 200, naming the request's dead letter if it has one.
func (h *Handler) ok(w http.ResponseWriter, req *request) int {
	if req.eventID != "" {
		w.Header().Set(HeaderDeadLetter, req.eventID)
		w.Header().Set(HeaderFailedParts, strconv.Itoa(req.failed))
	}
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// request is what a webhook's dead letter keeps of its request.
type request struct {
	body   []byte
	header http.Header
	at     time.Time
	// failures are the parts not published, in body order, at most
	// MaxDeadItems of them and a last one saying how many more; failed
	// counts them all.
	failures []schemas.Failure
	failed   int
	// eventID is the dead letter's event_id once it is built.
	eventID string
	// summary: body is not the request's body but a summary of a body
	// refused as too large (tooLarge).
	summary bool
}

// fail records that the part at path was not published.
func (r *request) fail(path, reason string) {
	r.failed++
	switch {
	case r.failed <= MaxDeadItems:
		r.failures = append(r.failures, schemas.Failure{Path: path, Reason: reason})
	case r.failed == MaxDeadItems+1:
		r.failures = append(r.failures, schemas.Failure{})
		fallthrough
	default:
		r.failures[MaxDeadItems].Reason = fmt.Sprintf("%d more parts not published", r.failed-MaxDeadItems)
	}
}

// reason is the dead letter's reason: the first failure, and how many
// more there are.
func (r *request) reason() string {
	if len(r.failures) == 0 {
		return ""
	}
	s := r.failures[0].String()
	if r.failed > 1 {
		s += fmt.Sprintf(" (and %d more parts)", r.failed-1)
	}
	return s
}

// records turns items into Kafka records, and returns the event ids to
// remember once Kafka has them. Each record carries its item in
// WriterData. Items that cannot be published are added to req's failures
// (the request's dead letter is built once they are all known). With the
// recent-ids filter on, records it has seen (or that repeat within items)
// are left out.
func (h *Handler) records(items []Item, req *request) (msgs []kafka.Message, ids []string) {
	msgs = make([]kafka.Message, 0, len(items))
	var seen map[string]bool
	dropped := 0
	for i := range items {
		it := &items[i]
		if it.Kind == schemas.WebhookEvent && h.cfg.Topics.Events == "" {
			req.fail(it.Path.String(), fmt.Sprintf("webhook event (field %q) not published: no webhook-events topic configured", it.Native["field"]))
			continue
		}
		if it.Kind == "" {
			req.fail(it.Path.String(), it.Reason)
			continue
		}
		if h.recent != nil {
			if seen[it.EventID] || h.recent.has(it.EventID) {
				dropped++
				continue
			}
			if seen == nil {
				seen = make(map[string]bool, len(items))
			}
			seen[it.EventID] = true
			ids = append(ids, it.EventID)
		}
		value, err := h.encode(it)
		if err != nil {
			req.fail(it.Path.String(), "encoding: "+err.Error())
			continue
		}
		msgs = append(msgs, kafka.Message{
			Topic: h.topic(it.Kind), Key: []byte(it.Key), Value: value, Time: req.at,
			Headers: []kafka.Header{
				{Key: HeaderEventKind, Value: kindHeader[it.Kind]},
				{Key: HeaderEventID, Value: []byte(it.EventID)},
				{Key: HeaderContentType, Value: avroHeader},
			},
			WriterData: it,
		})
	}
	if dropped > 0 {
		h.cfg.Logger.Debug("left out records already acknowledged", "records", dropped)
	}
	return msgs, ids
}

// encode returns the record value of it: Confluent framing and Avro.
func (h *Handler) encode(it *Item) ([]byte, error) {
	if it.status != nil && h.statusSchemaID >= 0 {
		b := make([]byte, 5, 5+len(it.status.raw)+256)
		binary.BigEndian.PutUint32(b[1:], uint32(h.statusSchemaID)) // b[0] is the magic byte 0
		return it.status.appendAvro(b), nil
	}
	if it.Native == nil && it.status != nil {
		it.Native = it.status.native()
	}
	return h.cfg.Encoders[it.Kind].Encode(it.Native)
}

func (h *Handler) topic(k schemas.Kind) string {
	switch k {
	case schemas.InboundMessage:
		return h.cfg.Topics.Messages
	case schemas.MessageStatus:
		return h.cfg.Topics.Statuses
	}
	return h.cfg.Topics.Events
}

func (h *Handler) allow() string {
	if h.verify != nil {
		return "GET, POST"
	}
	return "POST"
}

// readBody reads the whole body, up to MaxBodyBytes. A body declared larger
// is not read at all; the error is then an *http.MaxBytesError too. The
// buffer grows with what arrives, whatever Content-Length says.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := h.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	size := int64(16 << 10)
	if r.ContentLength >= 0 {
		size = min(size, r.ContentLength+1) // +1: room to see EOF without growing
	}
	buf := make([]byte, 0, size)
	rd := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// tooLarge answers 413. The refusal is recorded in the dead-letter topic as
// a stub (sizes and the hash of what was read) unless the sender could only
// be authenticated by a body signature it never completed: unauthenticated
// requests store nothing.
func (h *Handler) tooLarge(ctx context.Context, w http.ResponseWriter, r *http.Request, partial []byte) int {
	reason := fmt.Sprintf("body larger than %d bytes", h.cfg.MaxBodyBytes)
	authenticated := len(h.secrets) == 0 || len(h.tokens) > 0 || h.path != nil
	if authenticated {
		sum := sha256.Sum256(partial)
		stub, _ := json.Marshal(map[string]any{
			"refused":              reason,
			"content_length":       r.ContentLength,
			"truncated_bytes_read": len(partial),
			"sha256_of_read_part":  hex.EncodeToString(sum[:]),
		})
		req := request{body: stub, header: r.Header, at: h.cfg.Now().UTC().Truncate(time.Millisecond), summary: true}
		req.fail("", reason)
		msgs := h.deadLetterMessages(&req)
		if err := h.publish(ctx, msgs...); err != nil {
			return h.unavailable(w, err)
		}
		h.cfg.Metrics.DeadLetters.WithLabelValues("webhook").Add(float64(len(msgs)))
	}
	http.Error(w, reason, http.StatusRequestEntityTooLarge)
	return http.StatusRequestEntityTooLarge
}

// Authentication. Secrets are compared as SHA-256 digests so that the
// comparison takes the same time whatever the length of the guess.

func secretEqual(got string, want *[sha256.Size]byte) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

func (h *Handler) tokenOK(r *http.Request) bool {
	if len(h.tokens) == 0 {
		return true
	}
	sum := sha256.Sum256([]byte(r.Header.Get(h.cfg.TokenHeader)))
	ok := 0
	for i := range h.tokens {
		ok |= subtle.ConstantTimeCompare(sum[:], h.tokens[i][:])
	}
	return ok == 1
}

func (h *Handler) pathOK(r *http.Request) bool {
	if h.path == nil {
		return true
	}
	p := r.URL.Path
	return secretEqual(p[strings.LastIndexByte(p, '/')+1:], h.path)
}

// Signature headers.
const (
	Header360Signature = "X-360dialog-Signature"
	HeaderHubSignature = "X-Hub-Signature-256"
	signaturePrefix    = "sha256="
)

// signatures returns the well-formed signatures r carries.
func signatures(r *http.Request) [][]byte {
	var sigs [][]byte
	for _, name := range []string{Header360Signature, HeaderHubSignature} {
		v := strings.TrimSpace(r.Header.Get(name))
		if len(v) > len(signaturePrefix) && strings.EqualFold(v[:len(signaturePrefix)], signaturePrefix) {
			v = v[len(signaturePrefix):]
		} else if name == HeaderHubSignature {
			continue // Meta always sends the prefix
		}
		if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
			sigs = append(sigs, sig)
		}
	}
	return sigs
}

func (h *Handler) signatureOK(r *http.Request, body []byte) bool {
	if len(h.secrets) == 0 {
		return true
	}
	sigs := signatures(r)
	if len(sigs) == 0 {
		return false
	}
	ok := false
	for _, secret := range h.secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				ok = true
			}
		}
	}
	return ok
}

func (h *Handler) unauthorized(w http.ResponseWriter) int {
	h.cfg.Metrics.WebhookAuthFails.Inc()
	http.Error(w, "unauthorized", http.StatusUnauthorized)
	return http.StatusUnauthorized
}

// handshake answers Meta's GET subscription check.
func (h *Handler) handshake(w http.ResponseWriter, r *http.Request) int {
	if h.verify == nil {
		w.Header().Set("Allow", h.allow())
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	if !h.pathOK(r) {
		return h.unauthorized(w)
	}
	q := r.URL.Query()
	if q.Get("hub.mode") != "subscribe" || !secretEqual(q.Get("hub.verify_token"), h.verify) {
		h.cfg.Metrics.WebhookAuthFails.Inc()
		http.Error(w, "forbidden", http.StatusForbidden)
		return http.StatusForbidden
	}
	challenge := q.Get("hub.challenge")
	if !plainChallenge(challenge) {
		http.Error(w, "hub.challenge missing or not plain", http.StatusBadRequest)
		return http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, challenge)
	return http.StatusOK
}

// plainChallenge accepts what Meta sends (digits) and a little more, but
// nothing that could be markup when echoed.
func plainChallenge(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Kafka.

// publish writes msgs within ctx, the request's Kafka deadline (see serve).
func (h *Handler) publish(ctx context.Context, msgs ...kafka.Message) error {
	start := time.Now()
	err := h.cfg.Publisher.WriteMessages(ctx, msgs...)
	h.cfg.Metrics.PublishDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("publishing %d records: %w", len(msgs), err)
	}
	return nil
}

// publishRecords publishes the records of a webhook, with the request's
// dead letter when some parts failed, and returns what it published. A
// record too large for Kafka would be refused on every retry of the
// webhook, with all its other records, and 360dialog retries for days: such
// a record becomes one more failed part of the request's dead letter (which
// is chunked) and the rest is published. Too large means larger than the
// kafka-go writer takes (1 MiB by default, Kafka's default
// message.max.bytes; refused before anything is written), or refused by the
// broker with MESSAGE_TOO_LARGE (a topic's smaller max.message.bytes; see
// refusedTooLarge).
func (h *Handler) publishRecords(ctx context.Context, msgs []kafka.Message, req *request) ([]kafka.Message, error) {
	all := msgs
	if len(req.failures) > 0 {
		all = append(msgs[:len(msgs):len(msgs)], h.deadLetterMessages(req)...)
	}
	for {
		err := h.publish(ctx, all...)
		var tooLarge kafka.MessageTooLargeError
		if errors.As(err, &tooLarge) {
			it, ok := tooLarge.Message.WriterData.(*Item)
			if !ok {
				return all, err // a dead letter: its chunks are too large
			}
			req.fail(it.Path.String(), fmt.Sprintf("%s record of %d bytes is larger than the Kafka writer takes", it.Kind, len(tooLarge.Message.Value)))
			msgs = make([]kafka.Message, 0, len(tooLarge.Remaining))
			for _, m := range tooLarge.Remaining {
				if _, ok := m.WriterData.(*Item); ok {
					msgs = append(msgs, m) // the request's old dead letter is rebuilt below
				}
			}
			all = append(msgs, h.deadLetterMessages(req)...)
			continue
		}
		var werr kafka.WriteErrors
		if errors.As(err, &werr) && len(werr) == len(all) && werr.Count() > 0 {
			return h.refusedTooLarge(ctx, all, werr, err, req)
		}
		return all, err
	}
}

// refusedTooLarge handles a write that the broker refused, message by
// message in werr. Unless every refusal is MESSAGE_TOO_LARGE it returns
// err (503; a retry rewrites what was written, with the same event ids).
// The broker refuses a whole record batch, so each refused record is
// written again alone: a record still refused alone becomes a failed part
// of the request's dead letter. The dead letter is written again, whole,
// when it gained a part or any of its chunks was refused (a chunk written
// twice carries the same event id).
func (h *Handler) refusedTooLarge(ctx context.Context, all []kafka.Message, werr kafka.WriteErrors, err error, req *request) ([]kafka.Message, error) {
	for _, e := range werr {
		if e != nil && !errors.Is(e, kafka.MessageSizeTooLarge) {
			return all, err
		}
	}
	before, deadLetterRefused := len(req.failures), false
	out := make([]kafka.Message, 0, len(all))
	for i, m := range all {
		it, isItem := m.WriterData.(*Item)
		if werr[i] == nil {
			out = append(out, m)
			continue
		}
		if !isItem {
			deadLetterRefused = true // a chunk of the request's dead letter: written whole below
			continue
		}
		err := h.publish(ctx, m)
		if err == nil {
			out = append(out, m)
			continue
		}
		var alone kafka.WriteErrors
		if !errors.As(err, &alone) || len(alone) != 1 || !errors.Is(alone[0], kafka.MessageSizeTooLarge) {
			return out, err
		}
		req.fail(it.Path.String(), fmt.Sprintf("%s record of %d bytes refused by Kafka as too large (the topic's max.message.bytes)", it.Kind, len(m.Value)))
	}
	if len(req.failures) > before || deadLetterRefused {
		dl := h.deadLetterMessages(req)
		if err := h.publish(ctx, dl...); err != nil {
			return out, err
		}
		out = append(out, dl...)
	}
	return out, nil
}

// deadLetterMessages returns the dead letter of req: one record, or chunks
// of at most DeadLetterChunkBytes of the body, all with the request's key
// (the body's hash), so in one partition and in order. It sets
// req.eventID.
func (h *Handler) deadLetterMessages(req *request) []kafka.Message {
	raw := req.body
	ct := "application/json"
	if !json.Valid(raw) {
		ct = "application/octet-stream"
	}
	kind := schemas.OriginalRequestBody
	if req.summary {
		kind = schemas.OriginalRequestSummary
	}
	reason := req.reason()
	sum := sha256.Sum256(raw)
	sumHex := hex.EncodeToString(sum[:])
	key := []byte(sumHex[:32])
	base := schemas.DeadLetterRecord{Source: "webhook", Reason: reason, At: req.at, ContentType: ct,
		SHA256: sumHex, Size: int64(len(raw)), OriginalKind: kind, Failures: req.failures,
		Headers: RequestHeaders(req.header, h.cfg.TokenHeader)}
	req.eventID = base.EventID()
	headers := func(valueType string, extra ...kafka.Header) []kafka.Header {
		return append([]kafka.Header{
			{Key: HeaderDLQReason, Value: []byte(reason)},
			{Key: HeaderDLQSource, Value: []byte("webhook")},
			{Key: HeaderContentType, Value: []byte(valueType)},
			{Key: HeaderEventID, Value: []byte(req.eventID)},
		}, extra...)
	}
	size := h.cfg.DeadLetterChunkBytes
	if len(raw) <= size {
		d := base
		d.Original = raw
		value, vt, extra := h.wrapDeadLetter(d)
		return []kafka.Message{{Topic: h.cfg.Topics.DeadLetter, Key: key, Value: value, Time: req.at, Headers: headers(vt, extra...)}}
	}
	n := (len(raw) + size - 1) / size
	out := make([]kafka.Message, 0, n)
	for i := range n {
		d := base
		d.Original = raw[i*size : min((i+1)*size, len(raw))]
		d.ChunkNumber, d.ChunkCount = i+1, n
		value, vt, extra := h.wrapDeadLetter(d)
		out = append(out, kafka.Message{
			Topic: h.cfg.Topics.DeadLetter, Key: key, Value: value, Time: req.at,
			Headers: headers(vt, append([]kafka.Header{
				{Key: HeaderDLQChunk, Value: []byte(fmt.Sprintf("%d/%d", i+1, n))},
				{Key: HeaderDLQSHA256, Value: []byte(sumHex)},
				{Key: HeaderDLQSize, Value: []byte(strconv.Itoa(len(raw)))},
			}, extra...)...),
		})
	}
	return out
}

// wrapDeadLetter encodes d as a DeadLetter record when an encoder for it is
// configured; else (or if encoding fails) the value is the original alone.
// It returns the value, its content type and extra headers.
func (h *Handler) wrapDeadLetter(d schemas.DeadLetterRecord) ([]byte, string, []kafka.Header) {
	enc := h.cfg.Encoders[schemas.DeadLetter]
	if enc == nil {
		return d.Original, d.ContentType, nil
	}
	b, err := enc.Encode(d.Native())
	if err != nil {
		h.cfg.Logger.Error("encoding the dead-letter record; keeping the original bytes alone", "err", err)
		return d.Original, d.ContentType, nil
	}
	return b, ContentTypeAvro, []kafka.Header{{Key: HeaderEventKind, Value: []byte(schemas.DeadLetter)}}
}

func (h *Handler) unavailable(w http.ResponseWriter, err error) int {
	// During an outage every request ends here: one line a second, with the
	// number of answers it stands for.
	if n, ok := h.outageLog.allow(time.Now()); ok {
		h.cfg.Logger.Error("kafka did not take webhook records; answering 503 so 360dialog retries", "err", err, "answers_503", n)
	}
	w.Header().Set("Retry-After", retryAfter)
	http.Error(w, "kafka unavailable, retry later", http.StatusServiceUnavailable)
	return http.StatusServiceUnavailable
}

// traceCommandIDs puts the command ids the request's statuses carry
// (biz_opaque_callback_data, which wabridge sets to the command id) on the
// request's span as wabridge.command_ids: a status is found with the span of
// its command's send, which has wabridge.command_id. Nothing is done when
// the span is not recorded (tracing off).
func traceCommandIDs(ctx context.Context, items []Item) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	var ids []string
	for _, it := range items {
		if it.status != nil && it.status.s.CallbackData != "" {
			ids = append(ids, it.status.s.CallbackData)
		}
	}
	if len(ids) > 0 {
		span.SetAttributes(attribute.StringSlice("wabridge.command_ids", ids))
	}
}
