package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/wabridge/wabridge/schemas"
)

// envelope is the Cloud API webhook body as 360dialog relays it.
type envelope struct {
	Object string  `json:"object"`
	Entry  []entry `json:"entry"`
}

type entry struct {
	ID      string   `json:"id"`
	Changes []change `json:"changes"`
}

type change struct {
	Field string          `json:"field"`
	Value json.RawMessage `json:"value"`
}

type changeValue struct {
	MessagingProduct string `json:"messaging_product"`
	Metadata         struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []contact         `json:"contacts"`
	Messages []json.RawMessage `json:"messages"`
	Statuses []json.RawMessage `json:"statuses"`
}

type contact struct {
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	WAID   string `json:"wa_id"`
	UserID string `json:"user_id"`
}

type message struct {
	From       string `json:"from"`
	FromUserID string `json:"from_user_id"`
	ID         string `json:"id"`
	Timestamp  string `json:"timestamp"`
	Type       string `json:"type"`
	Text       *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *media `json:"image"`
	Audio    *media `json:"audio"`
	Video    *media `json:"video"`
	Document *media `json:"document"`
	Sticker  *media `json:"sticker"`
	Context  *struct {
		From                string `json:"from"`
		ID                  string `json:"id"`
		Forwarded           bool   `json:"forwarded"`
		FrequentlyForwarded bool   `json:"frequently_forwarded"`
	} `json:"context"`
}

type media struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	Voice    *bool  `json:"voice"`
	Animated *bool  `json:"animated"`
}

type status struct {
	ID              string `json:"id"`
	Status          string `json:"status"`
	Timestamp       string `json:"timestamp"`
	RecipientID     string `json:"recipient_id"`
	RecipientUserID string `json:"recipient_user_id"`
	CallbackData    string `json:"biz_opaque_callback_data"`
	Errors          []struct {
		Code      int    `json:"code"`
		Title     string `json:"title"`
		Message   string `json:"message"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"errors"`
}

// Item is one record-to-be taken from a webhook: an inbound message, a
// status, or something wabridge cannot map, which goes to the dead-letter
// topic with its reason.
type Item struct {
	Kind   schemas.Kind // InboundMessage or MessageStatus; "" for dead letters
	Key    string
	Native map[string]any
	// Raw and Reason are set for dead letters.
	Raw    []byte
	Reason string
}

// ErrNotCloudAPI is returned for bodies that are valid JSON but no Cloud API
// webhook envelope (e.g. the legacy On-Premise format).
var ErrNotCloudAPI = errors.New("not a Cloud API webhook envelope")

// Parse splits a webhook body into items. An error means the body as a whole
// cannot be understood; items that fail alone come back as dead letters.
func Parse(body []byte, receivedAt time.Time) ([]Item, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var env envelope
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	// Not dec.More, which is false before a stray '}' or ']'.
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the top-level object")
	}
	if env.Entry == nil {
		var flat map[string]json.RawMessage
		if json.Unmarshal(body, &flat) == nil {
			if _, ok := flat["messages"]; ok {
				return nil, fmt.Errorf("%w: top-level messages without entry (legacy On-Premise format?)", ErrNotCloudAPI)
			}
			if _, ok := flat["statuses"]; ok {
				return nil, fmt.Errorf("%w: top-level statuses without entry (legacy On-Premise format?)", ErrNotCloudAPI)
			}
		}
		return nil, fmt.Errorf("%w: no entry array", ErrNotCloudAPI)
	}
	var items []Item
	for _, e := range env.Entry {
		for _, ch := range e.Changes {
			items = append(items, parseChange(e.ID, ch, receivedAt)...)
		}
	}
	return items, nil
}

func parseChange(wabaID string, ch change, receivedAt time.Time) []Item {
	dead := func(raw []byte, reason string) Item { return Item{Raw: raw, Reason: reason} }
	if ch.Field != "messages" {
		return []Item{dead(ch.Value, fmt.Sprintf("change field %q is not mapped to an event topic yet", ch.Field))}
	}
	var v changeValue
	if err := json.Unmarshal(ch.Value, &v); err != nil {
		return []Item{dead(ch.Value, "change value: "+err.Error())}
	}
	var all map[string]json.RawMessage
	_ = json.Unmarshal(ch.Value, &all)
	var items []Item
	for _, k := range slices.Sorted(maps.Keys(all)) { // sorted: same body, same order
		switch k {
		case "messaging_product", "metadata", "contacts", "messages", "statuses":
		default:
			items = append(items, dead(ch.Value, fmt.Sprintf("change value field %q is not mapped to an event topic yet", k)))
		}
	}
	if v.Metadata.PhoneNumberID == "" && (len(v.Messages) > 0 || len(v.Statuses) > 0) {
		return append(items, dead(ch.Value, "change value has no metadata.phone_number_id"))
	}
	for _, raw := range v.Messages {
		it, err := mapMessage(wabaID, &v, raw, receivedAt)
		if err != nil {
			items = append(items, dead(raw, "message: "+err.Error()))
			continue
		}
		items = append(items, it)
	}
	for _, raw := range v.Statuses {
		it, err := mapStatus(wabaID, &v, raw, receivedAt)
		if err != nil {
			items = append(items, dead(raw, "status: "+err.Error()))
			continue
		}
		items = append(items, it)
	}
	return items
}

// maxUnixSeconds is 9999-12-31T23:59:59Z. Larger values overflow the
// timestamp-millis encoding and would be written as a wrong time.
const maxUnixSeconds = 253402300799

func unixSeconds(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not Unix seconds", s)
	}
	if n < 0 || n > maxUnixSeconds {
		return time.Time{}, fmt.Errorf("timestamp %q is out of range", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

func mapMessage(wabaID string, v *changeValue, raw json.RawMessage, receivedAt time.Time) (Item, error) {
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		return Item{}, err
	}
	if m.ID == "" {
		return Item{}, errors.New("no id")
	}
	if m.Type == "" {
		return Item{}, errors.New("no type")
	}
	ts, err := unixSeconds(m.Timestamp)
	if err != nil {
		return Item{}, err
	}
	var profile string
	for _, c := range v.Contacts {
		if (m.From != "" && c.WAID == m.From) || (m.FromUserID != "" && c.UserID == m.FromUserID) {
			profile = c.Profile.Name
			break
		}
	}
	native := map[string]any{
		"event_id":             "message:" + v.Metadata.PhoneNumberID + ":" + m.ID,
		"received_at":          receivedAt,
		"phone_number_id":      v.Metadata.PhoneNumberID,
		"display_phone_number": schemas.Optional("string", v.Metadata.DisplayPhoneNumber),
		"waba_id":              schemas.Optional("string", wabaID),
		"message_id":           m.ID,
		"timestamp":            ts,
		"wa_id":                schemas.Optional("string", m.From),
		"user_id":              schemas.Optional("string", m.FromUserID),
		"profile_name":         schemas.Optional("string", profile),
		"type":                 m.Type,
		"text":                 nil,
		"media":                nil,
		"context":              nil,
		"raw":                  string(raw),
	}
	if m.Text != nil {
		native["text"] = goavro.Union("string", m.Text.Body)
	}
	for _, md := range []*media{m.Image, m.Audio, m.Video, m.Document, m.Sticker} {
		if md == nil {
			continue
		}
		native["media"] = goavro.Union("io.wabridge.events.Media", map[string]any{
			"id":        md.ID,
			"mime_type": schemas.Optional("string", md.MimeType),
			"sha256":    schemas.Optional("string", md.SHA256),
			"caption":   schemas.Optional("string", md.Caption),
			"filename":  schemas.Optional("string", md.Filename),
			"voice":     schemas.Optional("boolean", md.Voice),
			"animated":  schemas.Optional("boolean", md.Animated),
		})
		break
	}
	if c := m.Context; c != nil {
		native["context"] = goavro.Union("io.wabridge.events.MessageContext", map[string]any{
			"from":                 schemas.Optional("string", c.From),
			"id":                   schemas.Optional("string", c.ID),
			"forwarded":            c.Forwarded,
			"frequently_forwarded": c.FrequentlyForwarded,
		})
	}
	key := m.From
	if key == "" {
		key = m.FromUserID
	}
	return Item{Kind: schemas.InboundMessage, Key: key, Native: native}, nil
}

func mapStatus(wabaID string, v *changeValue, raw json.RawMessage, receivedAt time.Time) (Item, error) {
	var s status
	if err := json.Unmarshal(raw, &s); err != nil {
		return Item{}, err
	}
	if s.ID == "" {
		return Item{}, errors.New("no id")
	}
	if s.Status == "" {
		return Item{}, errors.New("no status")
	}
	ts, err := unixSeconds(s.Timestamp)
	if err != nil {
		return Item{}, err
	}
	errs := make([]any, 0, len(s.Errors))
	for _, e := range s.Errors {
		errs = append(errs, map[string]any{
			"code":    int32(e.Code),
			"title":   schemas.Optional("string", e.Title),
			"message": schemas.Optional("string", e.Message),
			"details": schemas.Optional("string", e.ErrorData.Details),
		})
	}
	native := map[string]any{
		"event_id":                 "status:" + s.ID + ":" + s.Status + ":" + s.Timestamp,
		"received_at":              receivedAt,
		"phone_number_id":          v.Metadata.PhoneNumberID,
		"display_phone_number":     schemas.Optional("string", v.Metadata.DisplayPhoneNumber),
		"waba_id":                  schemas.Optional("string", wabaID),
		"message_id":               s.ID,
		"status":                   s.Status,
		"timestamp":                ts,
		"recipient_id":             schemas.Optional("string", s.RecipientID),
		"recipient_user_id":        schemas.Optional("string", s.RecipientUserID),
		"biz_opaque_callback_data": schemas.Optional("string", s.CallbackData),
		"command_id":               schemas.Optional("string", s.CallbackData),
		"errors":                   errs,
		"raw":                      string(raw),
	}
	key := s.RecipientID
	if key == "" {
		key = s.RecipientUserID
	}
	return Item{Kind: schemas.MessageStatus, Key: key, Native: native}, nil
}
