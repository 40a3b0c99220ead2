package inbound

import (
	"context"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/schemas"
	"github.com/wabridge/wabridge/window"
)

// WindowRecorder keeps the customer service window and opt-in state that
// the outbound side enforces; *window.Store is one.
type WindowRecorder interface {
	// Inbound records a user message: it opens the user's window and applies
	// opt-in/opt-out keywords.
	Inbound(ctx context.Context, m window.Inbound) error
	// Closed records that WhatsApp refused a free-form message as outside
	// the window (131047 in a failed status).
	Closed(ctx context.Context, number, user string, at time.Time) error
	// ChangeConsent records a consent change (user_preferences events).
	ChangeConsent(ctx context.Context, number, user string, ch window.Change) error
}

// recordWindows writes what the request's items mean for windows and
// consent (messages and user-initiated calls open windows), before the
// items are published: a reply command produced by
// someone who read the message event then always finds the window open.
// An error fails the request (503), so 360dialog retries it. ctx carries
// the request's Kafka deadline, which the publishing shares.
func (h *Handler) recordWindows(ctx context.Context, items []Item) error {
	if h.cfg.Window == nil {
		return nil
	}
	for i := range items {
		it := &items[i]
		switch it.Kind {
		case schemas.InboundMessage:
			n := it.Native
			if typ, _ := n["type"].(string); typ == "system" {
				continue // a number change is not the user writing
			}
			at, _ := n["timestamp"].(time.Time)
			text := unionStr(n["text"])
			if b := unionRec(n["button"]); b != nil && text == "" {
				text = unionStr(b["text"])
			}
			m := window.Inbound{
				Number: strOf(n["phone_number_id"]),
				Users:  []string{unionStr(n["wa_id"]), unionStr(n["user_id"])},
				At:     at, Text: text,
			}
			if err := h.cfg.Window.Inbound(ctx, m); err != nil {
				return fmt.Errorf("recording the window of message %s: %w", strOf(n["message_id"]), err)
			}
		case schemas.MessageStatus:
			r := it.status
			if r == nil || r.s.Status != "failed" {
				continue
			}
			for _, e := range r.errors {
				if e.Code.v != 131047 {
					continue
				}
				user := r.s.RecipientID
				if user == "" {
					user = r.s.RecipientUserID
				}
				if err := h.cfg.Window.Closed(ctx, r.phoneNumberID, user, r.timestamp); err != nil {
					return fmt.Errorf("recording the closed window of %s: %w", r.s.ID, err)
				}
				break
			}
		case schemas.WebhookEvent:
			n := it.Native
			if m, ok := callWindow(n); ok { // a user's call, see call.go
				if err := h.cfg.Window.Inbound(ctx, m); err != nil {
					return fmt.Errorf("recording the window of call %s: %w", unionStr(unionRec(n["call"])["call_id"]), err)
				}
				continue
			}
			up := unionRec(n["user_preference"])
			if up == nil {
				continue
			}
			ch := window.UserPreference(unionStr(up["category"]), unionStr(up["value"]))
			if ch.Action == window.NoAction {
				continue
			}
			if at, ok := unionVal(n["timestamp"]).(time.Time); ok {
				ch.At = at
			}
			user := unionStr(n["wa_id"])
			if user == "" {
				user = unionStr(n["user_id"])
			}
			if err := h.cfg.Window.ChangeConsent(ctx, unionStr(n["phone_number_id"]), user, ch); err != nil {
				return fmt.Errorf("recording a consent change: %w", err)
			}
		}
	}
	return nil
}

// unionValue is the value of a goavro union (map with one branch), or v.
func unionVal(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, x := range m {
			return x
		}
	}
	return v
}

func unionStr(v any) string { s, _ := unionVal(v).(string); return s }

func unionRec(v any) map[string]any { m, _ := unionVal(v).(map[string]any); return m }

func strOf(v any) string { s, _ := v.(string); return s }
