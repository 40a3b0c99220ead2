package inbound

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wabridge/wabridge/schemas"
)

// Statuses are most of what 360dialog posts (three per message sent, plus
// the inbound messages), so their records are built as typed values that
// render either as goavro's native form (Item.Native, for Parse's callers
// and the tests) or straight into Avro binary, without the allocation of a
// map per union that the native form costs. TestStatusAvroMatchesCodec
// checks that both encode to the same bytes for every fixture, and
// FuzzMapping for arbitrary statuses.

// status is a message status as received: the fields every record needs,
// read strictly, and the spans of its optional parts, mapped leniently.
type status struct {
	ID, Status, Timestamp, RecipientID, RecipientUserID, ParentRecipientUserID,
	RecipientType, RecipientParticipantID, CallbackData string

	Conversation, Pricing, Errors []byte
}

// decode reads raw into s and reports whether it is the status of a call
// (type "call", see call.go) rather than of a message.
func (s *status) decode(d *doc, raw []byte) (call bool, err error) {
	if isNullSpan(raw) {
		return false, nil
	}
	if raw[0] != '{' {
		return false, fmt.Errorf("status is %s, want an object", jsonKind(raw))
	}
	d.members(raw, func(k, v []byte) bool {
		var dst *string
		switch string(k) {
		case "id":
			dst = &s.ID
		case "status":
			dst = &s.Status
		case "timestamp":
			dst = &s.Timestamp
		case "recipient_id":
			dst = &s.RecipientID
		case "recipient_user_id":
			dst = &s.RecipientUserID
		case "parent_recipient_user_id":
			dst = &s.ParentRecipientUserID
		case "recipient_type":
			dst = &s.RecipientType
		case "recipient_participant_id":
			dst = &s.RecipientParticipantID
		case "biz_opaque_callback_data":
			dst = &s.CallbackData
		case "type":
			t, _ := stringField("type", v) // read leniently: only "call" counts
			call = t == "call"
		case "conversation":
			s.Conversation = v
		case "pricing":
			s.Pricing = v
		case "errors":
			s.Errors = v
		}
		if dst != nil {
			*dst, err = keyedString(k, v)
		}
		return err == nil
	})
	return call, err
}

// statusKinds are the symbols of the StatusKind enum, in schema order.
var statusKinds = []string{"sent", "delivered", "read", "played", "failed", "deleted", "warning", "unknown"}

func statusKind(s string) int {
	for i, k := range statusKinds[:len(statusKinds)-1] {
		if k == s {
			return i
		}
	}
	return len(statusKinds) - 1
}

// statusRecord is one MessageStatus record.
type statusRecord struct {
	eventID                                   string
	receivedAt, timestamp                     time.Time
	phoneNumberID, displayPhoneNumber, wabaID string
	s                                         status
	errors                                    []apiError
	raw                                       []byte
	kind                                      int
	profileName, username                     string
	conversation                              *conversation
	pricing                                   *pricing
	mappingError                              string
}

type conversation struct {
	id, originType string
	expiration     *time.Time
}

type pricing struct {
	billable                     *bool
	model, category, pricingType string
}

func mapStatus(c *changeCtx, raw []byte, receivedAt time.Time) (Item, error) {
	r := &statusRecord{receivedAt: receivedAt, raw: raw}
	s := &r.s
	call, err := s.decode(c.d, raw)
	if err != nil {
		return Item{}, err
	}
	if call {
		return callEvent(c, "statuses", raw, receivedAt), nil // not a message's status
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
	r.timestamp = ts
	r.eventID = "status:" + s.ID + ":" + s.Status + ":" + s.Timestamp
	r.phoneNumberID, r.displayPhoneNumber, r.wabaID = c.phoneNumberID, c.displayPhoneNumber, c.wabaID
	r.kind = statusKind(s.Status)
	var errs mappingErrors
	if c.contactsErr != "" {
		errs = append(errs, c.contactsErr)
	}
	if k := c.contactFor(s.RecipientID, s.RecipientUserID); k != nil {
		r.profileName, r.username = k.Profile.Name, k.Profile.Username
	}
	r.conversation = mapConversation(c.d, s.Conversation, &errs)
	r.pricing = mapPricing(c.d, s.Pricing, &errs)
	r.errors = apiErrorList(s.Errors, &errs)
	r.mappingError = strings.Join(errs, "; ") // as mappingErrors.native joins them
	key := firstNonEmpty(s.RecipientID, s.RecipientUserID, c.phoneNumberID)
	return Item{Kind: schemas.MessageStatus, Key: key, EventID: r.eventID, status: r}, nil
}

// mapConversation maps statuses[].conversation.
func mapConversation(d *doc, raw []byte, errs *mappingErrors) *conversation {
	if isNullSpan(raw) {
		return nil
	}
	if raw[0] != '{' {
		errs.add("conversation", fmt.Errorf("is %s, want an object", jsonKind(raw)))
		return nil
	}
	var c conversation
	var err error
	d.members(raw, func(k, v []byte) bool {
		switch string(k) {
		case "id":
			var f flexString
			if err = f.UnmarshalJSON(v); err == nil {
				c.id = string(f)
			}
		case "expiration_timestamp":
			if !isNullSpan(v) {
				if t, terr := flexUnixSeconds(v); terr != nil {
					errs.add("conversation.expiration_timestamp", terr)
				} else {
					c.expiration = &t
				}
			}
		case "origin":
			if v[0] == '{' {
				d.members(v, func(k, v []byte) bool {
					if string(k) == "type" {
						c.originType, err = stringField("origin.type", v)
					}
					return err == nil
				})
			} else if !isNullSpan(v) {
				err = fmt.Errorf("origin is %s, want an object", jsonKind(v))
			}
		}
		return err == nil
	})
	if err != nil {
		errs.add("conversation", err)
		return nil
	}
	return &c
}

// mapPricing maps statuses[].pricing.
func mapPricing(d *doc, raw []byte, errs *mappingErrors) *pricing {
	if isNullSpan(raw) {
		return nil
	}
	if raw[0] != '{' {
		errs.add("pricing", fmt.Errorf("is %s, want an object", jsonKind(raw)))
		return nil
	}
	var p pricing
	var err error
	d.members(raw, func(k, v []byte) bool {
		switch string(k) {
		case "billable":
			switch v[0] {
			case 't', 'f':
				b := v[0] == 't'
				p.billable = &b
			case 'n':
			default:
				err = fmt.Errorf("billable is %s, want a boolean", jsonKind(v))
			}
		case "pricing_model":
			p.model, err = stringField("pricing_model", v)
		case "category":
			p.category, err = stringField("category", v)
		case "type":
			p.pricingType, err = stringField("type", v)
		}
		return err == nil
	})
	if err != nil {
		errs.add("pricing", err)
		return nil
	}
	return &p
}

// native renders r in goavro's native form.
func (r *statusRecord) native() map[string]any {
	s := &r.s
	errs := make([]any, 0, len(r.errors))
	for i := range r.errors {
		n, _ := r.errors[i].native()
		errs = append(errs, n)
	}
	var conv, price any
	if c := r.conversation; c != nil {
		conv = optRecord("Conversation", map[string]any{"id": optString(c.id), "expiration_timestamp": optTime(c.expiration), "origin_type": optString(c.originType)})
	}
	if p := r.pricing; p != nil {
		price = optRecord("Pricing", map[string]any{
			"billable": optBool(p.billable), "pricing_model": optString(p.model), "category": optString(p.category), "type": optString(p.pricingType),
		})
	}
	return map[string]any{
		"event_id":                 r.eventID,
		"received_at":              r.receivedAt,
		"phone_number_id":          r.phoneNumberID,
		"display_phone_number":     optString(r.displayPhoneNumber),
		"waba_id":                  optString(r.wabaID),
		"message_id":               s.ID,
		"status":                   s.Status,
		"timestamp":                r.timestamp,
		"recipient_id":             optString(s.RecipientID),
		"recipient_user_id":        optString(s.RecipientUserID),
		"biz_opaque_callback_data": optString(s.CallbackData),
		"command_id":               optString(s.CallbackData),
		"errors":                   errs,
		"raw":                      string(r.raw),
		"status_kind":              statusKinds[r.kind],
		"recipient_type":           optString(s.RecipientType),
		"recipient_participant_id": optString(s.RecipientParticipantID),
		"parent_recipient_user_id": optString(s.ParentRecipientUserID),
		"profile_name":             optString(r.profileName),
		"username":                 optString(r.username),
		"conversation":             conv,
		"pricing":                  price,
		"mapping_error":            optString(r.mappingError),
	}
}

// appendAvro appends r in Avro binary, fields in the order of
// message_status.avsc.
func (r *statusRecord) appendAvro(b []byte) []byte {
	s := &r.s
	b = schemas.AppendString(b, r.eventID)
	b = schemas.AppendTimeMillis(b, r.receivedAt)
	b = schemas.AppendString(b, r.phoneNumberID)
	b = schemas.AppendOptString(b, r.displayPhoneNumber)
	b = schemas.AppendOptString(b, r.wabaID)
	b = schemas.AppendString(b, s.ID)
	b = schemas.AppendString(b, s.Status)
	b = schemas.AppendTimeMillis(b, r.timestamp)
	b = schemas.AppendOptString(b, s.RecipientID)
	b = schemas.AppendOptString(b, s.RecipientUserID)
	b = schemas.AppendOptString(b, s.CallbackData)
	b = schemas.AppendOptString(b, s.CallbackData) // command_id
	if len(r.errors) > 0 {
		b = schemas.AppendLong(b, int64(len(r.errors)))
		for i := range r.errors {
			e := &r.errors[i]
			b = schemas.AppendLong(b, e.Code.v)
			b = schemas.AppendOptString(b, e.Title)
			b = schemas.AppendOptString(b, e.Message)
			b = schemas.AppendOptString(b, e.ErrorData.Details)
			b = schemas.AppendOptString(b, e.Href)
		}
	}
	b = schemas.AppendLong(b, 0) // end of the errors array
	b = schemas.AppendLong(b, int64(len(r.raw)))
	b = append(b, r.raw...)
	b = schemas.AppendLong(b, int64(r.kind))
	b = schemas.AppendOptString(b, s.RecipientType)
	b = schemas.AppendOptString(b, s.RecipientParticipantID)
	b = schemas.AppendOptString(b, s.ParentRecipientUserID)
	b = schemas.AppendOptString(b, r.profileName)
	b = schemas.AppendOptString(b, r.username)
	if c := r.conversation; c != nil {
		b = schemas.AppendLong(b, 1)
		b = schemas.AppendOptString(b, c.id)
		if c.expiration != nil {
			b = schemas.AppendLong(b, 1)
			b = schemas.AppendTimeMillis(b, *c.expiration)
		} else {
			b = schemas.AppendLong(b, 0)
		}
		b = schemas.AppendOptString(b, c.originType)
	} else {
		b = schemas.AppendLong(b, 0)
	}
	if p := r.pricing; p != nil {
		b = schemas.AppendLong(b, 1)
		if p.billable != nil {
			b = schemas.AppendLong(b, 1)
			b = schemas.AppendBool(b, *p.billable)
		} else {
			b = schemas.AppendLong(b, 0)
		}
		b = schemas.AppendOptString(b, p.model)
		b = schemas.AppendOptString(b, p.category)
		b = schemas.AppendOptString(b, p.pricingType)
	} else {
		b = schemas.AppendLong(b, 0)
	}
	return schemas.AppendOptString(b, r.mappingError)
}
