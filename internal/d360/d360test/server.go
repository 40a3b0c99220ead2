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
	"crypto/sha256"
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
	// Templates seeds the template catalogue served by the templates API
	// (GET/POST /v1/configs/templates, DELETE /v1/configs/templates/{name}),
	// each a template as the API lists it (name, language, status,
	// category, components, ...). Nil seeds DefaultTemplates; an empty
	// non-nil slice seeds none.
	Templates []map[string]any
	// CreatedStatus is the status given to created templates. The stand-in
	// has no review, so the default is "approved".
	CreatedStatus string
	// CheckTemplates makes POST /messages answer template sends like the
	// API does when they do not match the catalogue: 132001 for an unknown
	// name or language or a template that is not approved, 132000 when the
	// number of body parameters differs.
	CheckTemplates bool
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

	mu        sync.Mutex
	requests  []Request
	closed    bool // set by Close; no deliveries start after it
	templates []map[string]any
	media     map[string]Upload
	uploads   int // media ids handed out

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
	if cfg.CreatedStatus == "" {
		cfg.CreatedStatus = "approved"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, mux: http.NewServeMux(), client: &http.Client{Timeout: 5 * time.Second}, ctx: ctx, cancel: cancel}
	seed := cfg.Templates
	if seed == nil {
		seed = DefaultTemplates()
	}
	for _, t := range seed {
		s.templates = append(s.templates, cloneJSON(t))
	}
	s.media = map[string]Upload{}
	s.mux.HandleFunc("POST /messages", s.handleMessages)
	s.mux.HandleFunc("POST /v1/messages", s.handleMessages) // sandbox path
	s.mux.HandleFunc("GET /v1/configs/templates", s.handleListTemplates)
	s.mux.HandleFunc("POST /v1/configs/templates", s.handleCreateTemplate)
	s.mux.HandleFunc("DELETE /v1/configs/templates/{name}", s.handleDeleteTemplate)
	s.mux.HandleFunc("POST /media", s.handleUpload)
	s.mux.HandleFunc("GET /{mediaID}", s.handleMediaInfo)
	s.mux.HandleFunc("DELETE /{mediaID}", s.handleMediaDelete)
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

	if !s.authorized(w, r) {
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
	if sb.Type == "template" && s.cfg.CheckTemplates {
		if code, title, details := s.checkTemplateSend(content["template"]); code != 0 {
			writeMetaError(w, 400, code, title, details)
			return
		}
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

// DefaultTemplates is the catalogue a stand-in starts with: hello_world
// (en_US, no parameters, as every new WhatsApp account has it) and
// order_update (en_US, a text header with 1 variable, 2 body variables and a
// URL button with a variable), both approved.
func DefaultTemplates() []map[string]any {
	return []map[string]any{
		{
			"id": "1000000000000001", "name": "hello_world", "language": "en_US", "status": "approved",
			"category": "UTILITY", "namespace": "standin", "rejected_reason": "NONE",
			"components": []any{
				map[string]any{"type": "HEADER", "format": "TEXT", "text": "Hello World"},
				map[string]any{"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API."},
				map[string]any{"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
			},
		},
		{
			"id": "1000000000000002", "name": "order_update", "language": "en_US", "status": "approved",
			"category": "UTILITY", "namespace": "standin", "rejected_reason": "NONE",
			"components": []any{
				map[string]any{"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": map[string]any{"header_text": []any{"42"}}},
				map[string]any{"type": "BODY", "text": "Hi {{1}}, your order is {{2}}.", "example": map[string]any{"body_text": []any{[]any{"Jane", "on its way"}}}},
				map[string]any{"type": "BUTTONS", "buttons": []any{
					map[string]any{"type": "URL", "text": "Track", "url": "https://example.com/track/{{1}}", "example": []any{"https://example.com/track/42"}},
					map[string]any{"type": "QUICK_REPLY", "text": "Stop updates"},
				}},
			},
		},
	}
}

// Templates returns a copy of the catalogue.
func (s *Server) Templates() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.templates))
	for _, t := range s.templates {
		out = append(out, cloneJSON(t))
	}
	return out
}

// authorized answers 401 like the API when the key is wrong.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("D360-API-KEY")), []byte(s.cfg.APIKey)) == 1 {
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	io.WriteString(w, `{"meta":{"success":false,"http_code":401,"developer_message":"Invalid api_key or token expired"}}`)
	return false
}

func (s *Server) handleListTemplates(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	limit, offset := 1000, 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeMetaError(w, 400, 100, "Invalid parameter", "limit must be a positive number")
			return
		}
		limit = n
	}
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeMetaError(w, 400, 100, "Invalid parameter", "offset must be a number >= 0")
			return
		}
		offset = n
	}
	all := s.Templates()
	page := []map[string]any{}
	if offset < len(all) {
		page = all[offset:min(len(all), offset+limit)]
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"count": len(page), "filters": map[string]any{}, "limit": limit, "offset": offset,
		"sort": []string{"id"}, "total": len(all), "waba_templates": page,
	})
}

func (s *Server) handleCreateTemplate(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var t map[string]any
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil || t == nil {
		writeMetaError(w, 400, 100, "Invalid parameter", "body is not a JSON object")
		return
	}
	name, _ := t["name"].(string)
	lang, _ := t["language"].(string)
	category, _ := t["category"].(string)
	comps, _ := t["components"].([]any)
	switch {
	case name == "" || lang == "" || category == "":
		writeMetaError(w, 400, 100, "Invalid parameter", "name, language and category are required")
		return
	case len(comps) == 0:
		writeMetaError(w, 400, 100, "Invalid parameter", "components are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.templates {
		if have["name"] == name && have["language"] == lang {
			writeMetaError(w, 400, 100, "Invalid parameter", fmt.Sprintf("message template %q already exists in language %s", name, lang))
			return
		}
	}
	id := fmt.Sprintf("%d", 2000000000000000+len(s.templates))
	t["id"], t["status"], t["rejected_reason"], t["namespace"] = id, s.cfg.CreatedStatus, "NONE", "standin"
	s.templates = append(s.templates, t)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "status": s.cfg.CreatedStatus, "category": category, "name": name, "language": lang})
}

func (s *Server) handleDeleteTemplate(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.templates[:0]
	for _, t := range s.templates {
		if t["name"] != name {
			kept = append(kept, t)
		}
	}
	if len(kept) == len(s.templates) {
		writeMetaError(w, 404, 100, "Invalid parameter", fmt.Sprintf("message template %q does not exist", name))
		return
	}
	s.templates = kept
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"success":true}`)
}

// checkTemplateSend checks a template object of a send against the
// catalogue; code 0 means it matches.
func (s *Server) checkTemplateSend(raw json.RawMessage) (code int, title, details string) {
	var tmpl struct {
		Name     string `json:"name"`
		Language struct {
			Code string `json:"code"`
		} `json:"language"`
		Components []struct {
			Type       string            `json:"type"`
			Parameters []json.RawMessage `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return 100, "Invalid parameter", "template is not an object"
	}
	var found map[string]any
	for _, t := range s.Templates() {
		if t["name"] == tmpl.Name && t["language"] == tmpl.Language.Code {
			found = t
		}
	}
	if found == nil || !strings.EqualFold(fmt.Sprint(found["status"]), "approved") {
		return 132001, "Template name does not exist in the translation", fmt.Sprintf("template name (%s) does not exist in %s", tmpl.Name, tmpl.Language.Code)
	}
	want := 0
	comps, _ := found["components"].([]any)
	for _, c := range comps {
		if m, ok := c.(map[string]any); ok && strings.EqualFold(fmt.Sprint(m["type"]), "BODY") {
			text, _ := m["text"].(string)
			seen := map[string]bool{}
			for _, v := range placeholders(text) {
				seen[v] = true
			}
			want = len(seen)
		}
	}
	got := 0
	for _, c := range tmpl.Components {
		if c.Type == "body" {
			got = len(c.Parameters)
		}
	}
	if got != want {
		return 132000, "Number of parameters does not match the expected number of params", fmt.Sprintf("body: number of localizable_params (%d) does not match the expected number of params (%d)", got, want)
	}
	return 0, "", ""
}

func placeholders(text string) []string {
	var out []string
	for {
		i := strings.Index(text, "{{")
		if i < 0 {
			return out
		}
		j := strings.Index(text[i:], "}}")
		if j < 0 {
			return out
		}
		out = append(out, strings.TrimSpace(text[i+2:i+j]))
		text = text[i+j+2:]
	}
}

// Upload is a file uploaded to POST /media.
type Upload struct {
	ID       string
	Filename string
	MIME     string
	Size     int64
	SHA256   string
}

// Uploads returns the files uploaded so far.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Upload, 0, len(s.media))
	for _, u := range s.media {
		out = append(out, u)
	}
	return out
}

// uploadTypes are the MIME types POST /media takes, with the largest size
// (reference §13; MB read as MiB).
var uploadTypes = map[string]int64{
	"audio/aac": 16 << 20, "audio/amr": 16 << 20, "audio/mpeg": 16 << 20, "audio/mp4": 16 << 20, "audio/ogg": 16 << 20,
	"text/plain": 100 << 20, "application/pdf": 100 << 20, "application/msword": 100 << 20,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 << 20,
	"application/vnd.ms-excel": 100 << 20,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         100 << 20,
	"application/vnd.ms-powerpoint":                                             100 << 20,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 << 20,
	"image/jpeg": 5 << 20, "image/png": 5 << 20, "video/mp4": 16 << 20, "video/3gpp": 16 << 20,
	"image/webp": 500 << 10,
}

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		writeMetaError(w, 400, 100, "Invalid parameter", "want a multipart/form-data body: "+err.Error())
		return
	}
	var product string
	var up Upload
	haveFile := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeMetaError(w, 400, 100, "Invalid parameter", "reading multipart body: "+err.Error())
			return
		}
		switch part.FormName() {
		case "messaging_product":
			b, _ := io.ReadAll(io.LimitReader(part, 64))
			product = string(b)
		case "file":
			haveFile = true
			up.Filename = part.FileName()
			up.MIME = part.Header.Get("Content-Type")
			h := sha256.New()
			n, err := io.Copy(h, io.LimitReader(part, 101<<20))
			if err != nil {
				writeMetaError(w, 400, 131053, "Media upload error", "reading file: "+err.Error())
				return
			}
			up.Size, up.SHA256 = n, hex.EncodeToString(h.Sum(nil))
		default:
			io.Copy(io.Discard, part)
		}
	}
	max, known := uploadTypes[up.MIME]
	switch {
	case product != "whatsapp":
		writeMetaError(w, 400, 100, "Invalid parameter", `messaging_product must be "whatsapp"`)
		return
	case !haveFile:
		writeMetaError(w, 400, 100, "Invalid parameter", "file is required")
		return
	case !known:
		writeMetaError(w, 400, 131053, "Media upload error", fmt.Sprintf("unsupported file type %q", up.MIME))
		return
	case up.Size > max:
		writeMetaError(w, 400, 131053, "Media upload error", fmt.Sprintf("file of %d bytes is over the %d bytes allowed for %s", up.Size, max, up.MIME))
		return
	}
	s.mu.Lock()
	s.uploads++
	up.ID = fmt.Sprintf("%d", 3000000000000000+s.uploads)
	s.media[up.ID] = up
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"id": up.ID})
}

func (s *Server) handleMediaInfo(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.mu.Lock()
	up, ok := s.media[r.PathValue("mediaID")]
	s.mu.Unlock()
	if !ok {
		writeMetaError(w, 404, 100, "Invalid parameter", "unknown media id")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"messaging_product": "whatsapp", "id": up.ID, "mime_type": up.MIME, "sha256": up.SHA256, "file_size": up.Size,
		"url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=" + up.ID + "&ext=0&hash=standin",
	})
}

func (s *Server) handleMediaDelete(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	id := r.PathValue("mediaID")
	s.mu.Lock()
	_, ok := s.media[id]
	delete(s.media, id)
	s.mu.Unlock()
	if !ok {
		writeMetaError(w, 404, 100, "Invalid parameter", "unknown media id")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"success":true}`)
}

// cloneJSON deep-copies a JSON-shaped map.
func cloneJSON(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}
