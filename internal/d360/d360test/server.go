// Package d360test is a local stand-in for 360dialog's messages API: it
// answers POST /messages like the real API, records every request, and then
// sends the status webhooks (sent, delivered, read) the real platform would,
// echoing biz_opaque_callback_data. Tests serve it with httptest; `wabridge
// dev` serves it on a local port.
package d360test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Server.
type Config struct {
	// APIKey the server expects in D360-API-KEY. Required.
	APIKey string
	// WebhookURL receives status webhooks. Empty: none are sent.
	WebhookURL string
	// WebhookHeaders are added to every webhook POST (360dialog lets users
	// configure such headers, e.g. a shared secret).
	WebhookHeaders map[string]string
	// Statuses sent for each accepted message, in order.
	// Default: sent, delivered, read.
	Statuses []string
	// StatusDelay between two status webhooks of one message. Default: 50ms.
	StatusDelay time.Duration
	// PhoneNumberID and DisplayPhoneNumber go into webhook metadata.
	// Defaults: 100000000000001 and 15550009999.
	PhoneNumberID      string
	DisplayPhoneNumber string
	// Reply, when set, may override the answer to a request; returning nil
	// gives the normal answer. Tests use it to script API errors.
	Reply func(Request) *Reply
	// Logger; default: discard.
	Logger *slog.Logger
}

// Request is one recorded call of POST /messages.
type Request struct {
	At     time.Time
	APIKey string
	Body   []byte
}

// Reply is a scripted answer.
type Reply struct {
	Status  int
	Body    string
	Headers map[string]string
	// Delay before answering.
	Delay time.Duration
}

// Server is the stand-in. It implements http.Handler.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	client *http.Client

	mu       sync.Mutex
	requests []Request
	closed   bool // set by Close; no deliveries start after it

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ http.Handler = (*Server)(nil)

// New returns a Server. Close stops its webhook deliveries.
func New(cfg Config) *Server {
	if cfg.Statuses == nil {
		cfg.Statuses = []string{"sent", "delivered", "read"}
	}
	if cfg.StatusDelay <= 0 {
		cfg.StatusDelay = 50 * time.Millisecond
	}
	if cfg.PhoneNumberID == "" {
		cfg.PhoneNumberID = "100000000000001"
	}
	if cfg.DisplayPhoneNumber == "" {
		cfg.DisplayPhoneNumber = "15550009999"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, mux: http.NewServeMux(), client: &http.Client{Timeout: 5 * time.Second}, ctx: ctx, cancel: cancel}
	s.mux.HandleFunc("POST /messages", s.handleMessages)
	s.mux.HandleFunc("POST /v1/messages", s.handleMessages) // sandbox path
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops pending webhook deliveries and waits for them to end. A
// delivery already in flight is allowed to finish (bounded by the 5 s webhook
// timeout), so that no webhook reaches the receiver after Close returns.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Requests returns a copy of the recorded requests.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

type sendBody struct {
	MessagingProduct string `json:"messaging_product"`
	To               string `json:"to"`
	Recipient        string `json:"recipient"`
	Type             string `json:"type"`
	Status           string `json:"status"`
	MessageID        string `json:"message_id"`
	CallbackData     string `json:"biz_opaque_callback_data"`
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		writeMetaError(w, 400, 100, "Invalid parameter", "reading body: "+err.Error())
		return
	}
	key := r.Header.Get("D360-API-KEY")
	rec := Request{At: time.Now(), APIKey: key, Body: body}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	if subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"meta":{"success":false,"http_code":401,"developer_message":"Invalid api_key or token expired"}}`)
		return
	}
	if s.cfg.Reply != nil {
		if rep := s.cfg.Reply(rec); rep != nil {
			if rep.Delay > 0 {
				select {
				case <-time.After(rep.Delay):
				case <-r.Context().Done():
					return
				}
			}
			for k, v := range rep.Headers {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rep.Status)
			io.WriteString(w, rep.Body)
			return
		}
	}
	var sb sendBody
	if err := json.Unmarshal(body, &sb); err != nil {
		writeMetaError(w, 400, 100, "Invalid parameter", "body is not a JSON object: "+err.Error())
		return
	}
	if sb.MessagingProduct != "whatsapp" {
		writeMetaError(w, 400, 100, "Invalid parameter", `messaging_product must be "whatsapp"`)
		return
	}
	if sb.Status != "" {
		if sb.Status != "read" || sb.MessageID == "" {
			writeMetaError(w, 400, 100, "Invalid parameter", `status bodies need status "read" and message_id`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"success":true}`)
		return
	}
	if sb.To == "" && sb.Recipient == "" {
		writeMetaError(w, 400, 131008, "Required parameter is missing", "to or recipient is required")
		return
	}
	if sb.Type == "" {
		sb.Type = "text"
	}
	var content map[string]json.RawMessage
	_ = json.Unmarshal(body, &content)
	if _, ok := content[sb.Type]; !ok {
		writeMetaError(w, 400, 131008, "Required parameter is missing", fmt.Sprintf("object %q for type %q is missing", sb.Type, sb.Type))
		return
	}
	// A phone number answers with its canonical wa_id; a business-scoped
	// user id (recipient) with user_id and no wa_id (reference §3.9, §11).
	var waID, userID string
	contact := map[string]string{}
	if sb.To != "" {
		waID = digits(sb.To)
		contact["input"], contact["wa_id"] = sb.To, waID
	} else {
		userID = sb.Recipient
		contact["input"], contact["user_id"] = sb.Recipient, userID
	}
	wamid := "wamid.STANDIN" + randomHex(12)
	resp := map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{contact},
		"messages":          []map[string]string{{"id": wamid}},
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)

	if s.cfg.WebhookURL != "" && len(s.cfg.Statuses) > 0 {
		s.mu.Lock()
		if !s.closed { // wg.Add must not race Close's wg.Wait
			s.wg.Add(1)
			go s.sendStatuses(wamid, waID, userID, sb.CallbackData)
		}
		s.mu.Unlock()
	}
}

func (s *Server) sendStatuses(wamid, waID, userID, callbackData string) {
	defer s.wg.Done()
	for _, status := range s.cfg.Statuses {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(s.cfg.StatusDelay):
		}
		body := StatusWebhook(StatusEvent{
			PhoneNumberID: s.cfg.PhoneNumberID, DisplayPhoneNumber: s.cfg.DisplayPhoneNumber,
			MessageID: wamid, RecipientID: waID, RecipientUserID: userID, Status: status, CallbackData: callbackData, At: time.Now(),
		})
		s.deliver(body)
	}
}

// deliver posts a webhook until it is answered 200, like 360dialog (which
// retries for days; the stand-in gives up after 8 tries).
func (s *Server) deliver(body []byte) {
	backoff := 100 * time.Millisecond
	for attempt := 1; attempt <= 8; attempt++ {
		// Not s.ctx: a cancelled request may still reach the receiver after
		// Close returned. The client's timeout bounds the attempt instead.
		req, err := http.NewRequest(http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
		if err != nil {
			s.cfg.Logger.Error("building webhook request", "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range s.cfg.WebhookHeaders {
			req.Header.Set(k, v)
		}
		resp, err := s.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		s.cfg.Logger.Warn("status webhook not accepted, retrying", "attempt", attempt, "err", err)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	s.cfg.Logger.Error("status webhook given up after 8 attempts")
}

// StatusEvent describes one status webhook.
type StatusEvent struct {
	WABAID             string
	PhoneNumberID      string
	DisplayPhoneNumber string
	MessageID          string
	RecipientID        string // wa_id; omitted from the webhook when empty
	RecipientUserID    string // business-scoped user id, if the send named one
	Status             string
	CallbackData       string
	At                 time.Time
}

// StatusWebhook renders a Cloud API webhook envelope carrying one status.
func StatusWebhook(e StatusEvent) []byte {
	if e.WABAID == "" {
		e.WABAID = "200000000000002"
	}
	st := map[string]any{
		"id":        e.MessageID,
		"status":    e.Status,
		"timestamp": strconv.FormatInt(e.At.Unix(), 10),
	}
	if e.RecipientID != "" {
		st["recipient_id"] = e.RecipientID
	}
	if e.RecipientUserID != "" {
		st["recipient_user_id"] = e.RecipientUserID
	}
	if e.CallbackData != "" {
		st["biz_opaque_callback_data"] = e.CallbackData
	}
	if e.Status != "failed" {
		st["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
	} else {
		st["errors"] = []map[string]any{{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
			"error_data": map[string]string{"details": "stand-in failure"}}}
	}
	env := map[string]any{
		"object": "whatsapp_business_account",
		"entry": []map[string]any{{
			"id": e.WABAID,
			"changes": []map[string]any{{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]string{"display_phone_number": e.DisplayPhoneNumber, "phone_number_id": e.PhoneNumberID},
					"statuses":          []any{st},
				},
			}},
		}},
	}
	b, _ := json.Marshal(env)
	return b
}

func writeMetaError(w http.ResponseWriter, status, code int, title, details string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": fmt.Sprintf("(#%d) %s", code, title), "type": "OAuthException", "code": code,
		"error_data": map[string]string{"messaging_product": "whatsapp", "details": details},
		"fbtrace_id": "STANDIN",
	}})
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return s
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}
