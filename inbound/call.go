package inbound

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/wabridge/wabridge/window"
)

// Calls: the Calling API's webhooks, changes[].field "calls". 360dialog
// passes the Cloud API webhook through unchanged
// (https://docs.360dialog.com/docs/whatsapp-api/the-basics, "Receiving
// Messages"); the shapes are Meta's:
//
//   - value.calls[]: {id "wacid…", from, to, event "connect"|"terminate",
//     timestamp (Unix seconds as a string), direction "USER_INITIATED"|
//     "BUSINESS_INITIATED", session {sdp_type, sdp} on connect, status
//     ("COMPLETED"|"FAILED"), start_time, end_time and duration on terminate,
//     biz_opaque_callback_data, from_user_id / to_user_id and their parent
//     ids for business-scoped users}; value.contacts[] names the user.
//     https://developers.facebook.com/documentation/business-messaging/whatsapp/calling/reference/
//     https://developers.facebook.com/documentation/business-messaging/whatsapp/calling/user-initiated-calls
//   - value.statuses[] with type "call": the status of a business-initiated
//     call (RINGING, ACCEPTED, REJECTED), with recipient_id.
//     https://developers.facebook.com/documentation/business-messaging/whatsapp/calling/business-initiated-calls/
//
// Each becomes a WebhookEvent of event_type "call" with the CallEvent
// record in its call field, keyed by the user as the user's messages are
// (wa_id, else the business-scoped user id), so that a conversation's calls
// and messages share a partition number on topics of equal partition count.
// A call status is never a MessageStatus: it has no message, and its
// statuses are no message statuses.
//
// The connect event of a user-initiated call opens the user's customer
// service window, as a message does ("When a WhatsApp user sends a message
// or places a call, a 24-hour timer called a customer service window
// starts", https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#customer-service-windows);
// see callWindow.

// callJSON is a calls[] or call statuses[] element. Payload objects are
// decoded with encoding/json (see the comment at the top of webhook.go).
type callJSON struct {
	ID               string     `json:"id"`
	Event            string     `json:"event"`
	Direction        string     `json:"direction"`
	From             string     `json:"from"`
	FromUserID       string     `json:"from_user_id"`
	FromParentUserID string     `json:"from_parent_user_id"`
	To               string     `json:"to"`
	ToUserID         string     `json:"to_user_id"`
	ToParentUserID   string     `json:"to_parent_user_id"`
	Timestamp        flexString `json:"timestamp"`
	StartTime        flexString `json:"start_time"`
	EndTime          flexString `json:"end_time"`
	Duration         flexInt    `json:"duration"`
	Status           string     `json:"status"`
	Callback         string     `json:"biz_opaque_callback_data"`
	Session          *struct {
		SDPType string `json:"sdp_type"`
		SDP     string `json:"sdp"`
	} `json:"session"`
	Errors json.RawMessage `json:"errors"`

	// Call statuses.
	RecipientID           string `json:"recipient_id"`
	RecipientUserID       string `json:"recipient_user_id"`
	ParentRecipientUserID string `json:"parent_recipient_user_id"`
}

// Symbols of the CallEventKind and CallDirection enums.
const (
	callConnect   = "connect"
	callTerminate = "terminate"
	callStatus    = "status"
	callOther     = "other"

	userInitiated     = "user_initiated"
	businessInitiated = "business_initiated"
	directionUnknown  = "unknown"
)

// calls maps value.calls of a calls change and returns how many records it
// made.
func (p *parser) calls(where loc, c *changeCtx, v []byte) int {
	if v[0] != '[' {
		p.dead(where.in("calls", -1), v, fmt.Sprintf("%s value: calls is %s, want an array", where, jsonKind(v)))
		return 0
	}
	elems := p.d.elements(v)
	for i, e := range elems {
		p.add(where.in("calls", i), callEvent(c, "calls", e, p.receivedAt))
	}
	return len(elems)
}

// callEvent maps one element of calls[] (valueKey "calls") or a call status
// (valueKey "statuses"). What does not fit leaves the call field empty and
// says why in mapping_error; raw keeps the element.
func callEvent(c *changeCtx, valueKey string, raw []byte, receivedAt time.Time) Item {
	n := baseEvent(c, "call", valueKey, raw, receivedAt)
	var errs mappingErrors
	if c.contactsErr != "" {
		errs = append(errs, c.contactsErr)
	}
	var j callJSON
	var waID, userID string
	switch {
	case isNullSpan(raw):
		errs = append(errs, "call is null")
	case decodePart(raw, "call", &j, &errs):
		if j.ID == "" {
			errs = append(errs, "call: no id")
			break
		}
		var call map[string]any
		call, waID, userID = mapCall(c, &j, valueKey == "statuses", &errs)
		n["wa_id"], n["user_id"] = optString(waID), optString(userID)
		if k := c.contactFor(waID, userID); k != nil {
			n["profile_name"] = optString(k.Profile.Name)
		}
		if j.Timestamp == "" {
			errs = append(errs, "call: no timestamp")
		}
		if ts, ok := callTime(j.Timestamp, "timestamp", &errs); ok {
			n["timestamp"] = optTime(&ts)
			call["opens_window"] = call["direction"] == userInitiated && call["event"] == callConnect &&
				c.phoneNumberID != "" && (waID != "" || userID != "")
		}
		n["call"] = optRecord("CallEvent", call)
	}
	n["mapping_error"] = errs.native()
	return eventItem(n, waID, userID, c)
}

// mapCall returns the CallEvent record of j (opens_window false) and the
// user's wa_id and business-scoped user id.
func mapCall(c *changeCtx, j *callJSON, status bool, errs *mappingErrors) (call map[string]any, waID, userID string) {
	event, direction := callOther, callDirection(c, j)
	var parent string
	switch {
	case status:
		event, direction = callStatus, businessInitiated
		waID, userID, parent = j.RecipientID, j.RecipientUserID, j.ParentRecipientUserID
	case strings.EqualFold(j.Event, callConnect):
		event = callConnect
	case strings.EqualFold(j.Event, callTerminate):
		event = callTerminate
	}
	switch {
	case status:
	case direction == userInitiated:
		waID, userID, parent = j.From, j.FromUserID, j.FromParentUserID
	case direction == businessInitiated:
		waID, userID, parent = j.To, j.ToUserID, j.ToParentUserID
	}
	var sdpType, sdp string
	if j.Session != nil {
		sdpType, sdp = j.Session.SDPType, j.Session.SDP
	}
	call = map[string]any{
		"call_id":                  j.ID,
		"event":                    event,
		"direction":                direction,
		"opens_window":             false,
		"from":                     optString(j.From),
		"to":                       optString(j.To),
		"parent_user_id":           optString(parent),
		"status":                   optString(j.Status),
		"start_time":               nil,
		"end_time":                 nil,
		"duration_seconds":         optLong(j.Duration),
		"sdp_type":                 optString(sdpType),
		"sdp":                      optString(sdp),
		"biz_opaque_callback_data": optString(j.Callback),
		"errors":                   apiErrors(j.Errors, errs),
	}
	if t, ok := callTime(j.StartTime, "start_time", errs); ok {
		call["start_time"] = goavro.Union("long.timestamp-millis", t)
	}
	if t, ok := callTime(j.EndTime, "end_time", errs); ok {
		call["end_time"] = goavro.Union("long.timestamp-millis", t)
	}
	return call, waID, userID
}

// callDirection reads calls[].direction. Without one, the business number
// tells: it is the callee of a user-initiated call and the caller of a
// business-initiated one.
func callDirection(c *changeCtx, j *callJSON) string {
	switch {
	case strings.EqualFold(j.Direction, "USER_INITIATED"):
		return userInitiated
	case strings.EqualFold(j.Direction, "BUSINESS_INITIATED"):
		return businessInitiated
	case j.Direction != "":
		return directionUnknown
	}
	business := digits(c.displayPhoneNumber)
	switch {
	case business == "":
	case digits(j.To) == business && digits(j.From) != business:
		return userInitiated
	case digits(j.From) == business && digits(j.To) != business:
		return businessInitiated
	}
	return directionUnknown
}

// digits returns the decimal digits of a phone number ("+1 555-000" is
// "1555000").
func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if '0' <= r && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// callTime reads optional Unix seconds; a value that is not is recorded in
// errs.
func callTime(s flexString, what string, errs *mappingErrors) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := unixSeconds(string(s))
	if err != nil {
		errs.add(what, err)
		return time.Time{}, false
	}
	return t, true
}

// callWindow returns the window record a webhook event stands for: the
// connect event of a user-initiated call opens the caller's window from
// the call's timestamp, as a message does. Business-initiated calls open
// nothing: the window is the user's to open, by writing or by calling.
func callWindow(n map[string]any) (window.Inbound, bool) {
	call := unionRec(n["call"])
	if open, _ := call["opens_window"].(bool); !open {
		return window.Inbound{}, false
	}
	at, ok := unionVal(n["timestamp"]).(time.Time)
	if !ok {
		return window.Inbound{}, false
	}
	return window.Inbound{
		Number: unionStr(n["phone_number_id"]),
		Users:  []string{unionStr(n["wa_id"]), unionStr(n["user_id"])},
		At:     at,
	}, true
}
