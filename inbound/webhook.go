package inbound

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"

	"github.com/wabridge/wabridge/schemas"
)

// How Parse treats the traps of JSON and of encoding/json, on purpose:
//
//   - Invalid UTF-8 anywhere in the body: the body is not understood (it goes
//     to the dead-letter topic whole, with the offset). encoding/json would
//     silently replace the bytes with U+FFFD in typed fields while raw kept
//     them, and Avro strings must be UTF-8.
//   - Duplicate object keys (compared after unescaping and with the case
//     folding encoding/json uses to match struct fields): the body is not
//     understood. encoding/json keeps the last value while other parsers keep
//     the first, so typed fields and raw could disagree.
//   - Data after the top-level object: not understood.
//   - null: a null entry, change or change value is a dead letter with its
//     reason; a null array or object anywhere else counts as absent (WhatsApp
//     never sends one, and absent is what it would mean).
//   - A body that is not an object with an entry array, or whose object is
//     not whatsapp_business_account: not understood (ErrNotCloudAPI; the
//     legacy On-Premise shape is named as such).
//   - Wrong types in the envelope (entry, changes) or in the fields every
//     record needs (ids, timestamps, type): that entry, change or item is a
//     dead letter. Wrong types in a payload object (e.g. a string quantity
//     in an order) leave that typed field empty and say so in mapping_error;
//     the record is still written, raw holds the original. More than
//     MaxDeadItems such items in one body: the body is not understood
//     (ErrTooManyBadItems) and is one dead letter, not one per item.
//   - Keys of the envelope, messages and statuses match exactly ("ID" is not
//     "id"); payload objects are decoded with encoding/json, which also
//     accepts other cases. As case variants of one key in one object are
//     duplicates (above), no key can be read two ways.
//   - A lone escaped surrogate ("\ud800") is valid JSON and kept as it is in
//     raw; typed fields get U+FFFD, as encoding/json does.
//   - Numbers: ids WhatsApp sometimes sends as numbers (template ids,
//     catalog ids) are kept as their decimal text; prices are doubles, as
//     WhatsApp sends them (no rounding).
//
// Unknown keys of a change value (e.g. "message_echoes_summary", or "calls"
// outside a calls change) become webhook events, one per array element;
// unknown keys of a message or status are kept in its raw. Keys of the
// envelope and of an entry other than object, entry, id, time and changes
// are not kept (the Cloud API has none).

// Item is one record-to-be taken from a webhook: an inbound message, a
// status, a webhook event, or something wabridge cannot map, which goes to
// the dead-letter topic with its reason.
type Item struct {
	Kind schemas.Kind // InboundMessage, MessageStatus or WebhookEvent; "" for dead letters
	Key  string
	// EventID is the record's event_id; empty for dead letters.
	EventID string
	Native  map[string]any
	// Raw and Reason are set for dead letters.
	Raw    []byte
	Reason string
	// Path is where in the body the item is.
	Path Path

	// status is the record of a MessageStatus item, which the handler
	// encodes without Native.
	status *statusRecord
}

// raw returns the JSON of the webhook element a record was made of.
func (it *Item) raw() []byte {
	if it.status != nil {
		return it.status.raw
	}
	if s, ok := it.Native["raw"].(string); ok {
		return []byte(s)
	}
	return it.Raw
}

// ErrNotCloudAPI is returned for bodies that are valid JSON but no Cloud API
// webhook envelope (e.g. the legacy On-Premise format).
var ErrNotCloudAPI = errors.New("not a Cloud API webhook envelope")

// ErrAmbiguousJSON is returned for bodies whose meaning depends on the
// parser: invalid UTF-8 or duplicate object keys.
var ErrAmbiguousJSON = errors.New("ambiguous JSON")

// ErrTooManyBadItems is returned for bodies with more than MaxDeadItems
// items that fail alone: the body is then dead-lettered once, as a whole,
// instead of item by item (a 4 MiB body of empty entries would otherwise
// make over a million dead-letter records).
var ErrTooManyBadItems = errors.New("too many items not understood")

// MaxDeadItems is how many items of one body may fail alone; see
// ErrTooManyBadItems.
const MaxDeadItems = 100

// Parse splits a webhook body into items. An error means the body as a whole
// cannot be understood; items that fail alone come back as dead letters.
// Items come in body order: entries, their changes, and within a change its
// messages, statuses, errors, user preferences, then other keys by name.
func Parse(body []byte, receivedAt time.Time) ([]Item, error) {
	return parse(body, receivedAt, true)
}

// parse is Parse; without natives, status items carry no Native.
func parse(body []byte, receivedAt time.Time, natives bool) ([]Item, error) {
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrAmbiguousJSON, invalidUTF8At(body))
	}
	d, ok := scanJSON(body)
	if !ok {
		return nil, syntaxError(body)
	}
	if d.dup {
		return nil, fmt.Errorf("%w: duplicate key %q at byte %d", ErrAmbiguousJSON, d.dupKey, d.dupAt)
	}
	top := bytes.TrimSpace(body)
	if top[0] != '{' {
		return nil, fmt.Errorf("%w: unexpected JSON shape: the body is %s, want an object", ErrNotCloudAPI, jsonKind(top))
	}
	var entries, object []byte
	var legacy string
	d.members(top, func(k, v []byte) bool {
		switch string(k) {
		case "object":
			object = v
		case "entry":
			entries = v
		case "messages", "statuses":
			if legacy == "" {
				legacy = string(k)
			}
		}
		return true
	})
	// The Cloud API's object is whatsapp_business_account
	// (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components);
	// a webhook of another product (instagram, page) is not read as one.
	if !isNullSpan(object) && string(object) != `"whatsapp_business_account"` {
		return nil, fmt.Errorf("%w: object is %s, want \"whatsapp_business_account\"", ErrNotCloudAPI, object)
	}
	if isNullSpan(entries) {
		if legacy != "" {
			return nil, fmt.Errorf("%w: top-level %s without entry (legacy On-Premise format?)", ErrNotCloudAPI, legacy)
		}
		return nil, fmt.Errorf("%w: no entry array", ErrNotCloudAPI)
	}
	if entries[0] != '[' {
		return nil, fmt.Errorf("%w: unexpected JSON shape: entry is %s, want an array", ErrNotCloudAPI, jsonKind(entries))
	}
	p := parser{d: d, receivedAt: receivedAt.UTC(), natives: natives}
	for i, e := range d.elements(entries) {
		p.entry(i, e)
		if p.deadItems > MaxDeadItems {
			return nil, fmt.Errorf("%w: more than %d (the first: %s)", ErrTooManyBadItems, MaxDeadItems, p.firstDead)
		}
	}
	return p.items, nil
}

// syntaxError says why body, which is not valid JSON, is not.
func syntaxError(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("invalid JSON: empty body")
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return errors.New("invalid JSON: data after the top-level object")
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

type parser struct {
	d          *doc
	receivedAt time.Time
	natives    bool
	items      []Item
	deadItems  int
	firstDead  string
}

func (p *parser) dead(at Path, raw []byte, reason string) {
	if p.deadItems++; p.deadItems > MaxDeadItems {
		return
	}
	if p.firstDead == "" {
		p.firstDead = reason
	}
	p.items = append(p.items, Item{Raw: raw, Reason: reason, Path: at})
}

// add appends the item found at path at.
func (p *parser) add(at Path, it Item) {
	it.Path = at
	p.items = append(p.items, it)
}

// loc names where in the body an item is, for dead-letter reasons.
type loc struct{ entry, change int32 }

func (l loc) String() string {
	if l.change < 0 {
		return fmt.Sprintf("entry[%d]", l.entry)
	}
	return fmt.Sprintf("entry[%d].changes[%d]", l.entry, l.change)
}

// Path is where an item is in a webhook body, as the dead-letter record
// names it: entry[0], entry[0].changes[1], entry[0].changes[1].value,
// entry[0].changes[1].value.messages[3]. It is formatted only when needed.
type Path struct {
	loc
	// Key is the member of the change value ("" for the change or the
	// value itself, see value); Index the element of its array, or -1.
	Key   string
	Index int32
	// value marks the change value (Key "" ) or a member of it.
	value bool
}

// at returns the path of l itself.
func (l loc) at() Path { return Path{loc: l, Index: -1} }

// in returns the path of member key of l's change value, element i
// (i < 0: the member itself; key "": the value).
func (l loc) in(key string, i int) Path { return Path{loc: l, Key: key, Index: int32(i), value: true} }

func (p Path) String() string {
	s := p.loc.String()
	if p.value {
		s += ".value"
		if p.Key != "" {
			s += "." + p.Key
		}
	}
	if p.Index >= 0 {
		s += "[" + strconv.Itoa(int(p.Index)) + "]"
	}
	return s
}

func (p *parser) entry(i int, raw []byte) {
	where := loc{int32(i), -1}
	if raw[0] != '{' {
		p.dead(where.at(), raw, fmt.Sprintf("%s is %s, want an object", where, jsonKind(raw)))
		return
	}
	var ent entryInfo
	var changes []byte
	var err error
	p.d.members(raw, func(k, v []byte) bool {
		switch string(k) {
		case "id":
			ent.wabaID, err = stringField("id", v)
		case "time":
			if t, terr := flexUnixSeconds(v); terr == nil {
				ent.time = &t
			}
		case "changes":
			changes = v
		}
		return err == nil
	})
	switch {
	case err != nil:
		p.dead(where.at(), raw, where.String()+": "+err.Error())
		return
	case isNullSpan(changes):
		p.dead(where.at(), raw, where.String()+" has no changes")
		return
	case changes[0] != '[':
		p.dead(where.at(), raw, fmt.Sprintf("%s: changes is %s, want an array", where, jsonKind(changes)))
		return
	}
	for j, ch := range p.d.elements(changes) {
		p.change(loc{int32(i), int32(j)}, ent, ch)
	}
}

type entryInfo struct {
	wabaID string
	time   *time.Time
}

// changeCtx is what every record of one change shares.
type changeCtx struct {
	entryInfo
	d                  *doc
	field              string
	phoneNumberID      string
	displayPhoneNumber string
	contacts           []contact
	contactsErr        string
}

type contact struct {
	Profile struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"profile"`
	WAID         string `json:"wa_id"`
	UserID       string `json:"user_id"`
	ParentUserID string `json:"parent_user_id"`
}

func (c *changeCtx) contactFor(waID, userID string) *contact {
	for i := range c.contacts {
		k := &c.contacts[i]
		if (waID != "" && k.WAID == waID) || (userID != "" && k.UserID == userID) {
			return k
		}
	}
	return nil
}

func (p *parser) change(where loc, ent entryInfo, raw []byte) {
	if raw[0] != '{' {
		p.dead(where.at(), raw, fmt.Sprintf("%s is %s, want an object", where, jsonKind(raw)))
		return
	}
	c := &changeCtx{entryInfo: ent, d: p.d}
	var value []byte
	var err error
	p.d.members(raw, func(k, v []byte) bool {
		switch string(k) {
		case "field":
			c.field, err = stringField("field", v)
		case "value":
			value = v
		}
		return err == nil
	})
	switch {
	case err != nil:
		p.dead(where.at(), raw, where.String()+": "+err.Error())
		return
	case c.field == "":
		p.dead(where.at(), raw, where.String()+" has no field")
		return
	case value == nil:
		p.dead(where.at(), raw, where.String()+" has no value")
		return
	case isNullSpan(value):
		p.dead(where.at(), raw, where.String()+" value is null")
		return
	}
	switch c.field {
	case "messages", "user_preferences", "calls":
		p.value(where, c, value)
	case "message_template_status_update":
		p.add(where.in("", -1), templateEvent(c, value, p.receivedAt))
	default:
		p.add(where.in("", -1), genericEvent(c, "", value, p.receivedAt))
	}
}

// value maps a change value of the messages shape. Keys it neither maps
// nor joins into the records become webhook events.
func (p *parser) value(where loc, c *changeCtx, raw []byte) {
	if raw[0] != '{' {
		p.dead(where.in("", -1), raw, fmt.Sprintf("%s value is %s, want an object", where, jsonKind(raw)))
		return
	}
	type member struct {
		key string
		val []byte
	}
	var all []member
	var contacts, messagesV, statusesV, errorsV, prefsV []byte
	// noNumber is why messages and statuses without phoneNumberID are
	// dead letters.
	noNumber := "change value has no metadata.phone_number_id"
	p.d.members(raw, func(k, v []byte) bool {
		switch string(k) {
		case "metadata":
			if v[0] != '{' {
				if !isNullSpan(v) {
					noNumber = "metadata is " + jsonKind(v) + ", want an object"
				}
				break
			}
			p.d.members(v, func(k, v []byte) bool {
				switch string(k) {
				case "phone_number_id":
					var err error
					if c.phoneNumberID, err = stringField("metadata.phone_number_id", v); err != nil {
						noNumber = err.Error()
					}
				case "display_phone_number":
					c.displayPhoneNumber, _ = stringField("display_phone_number", v)
				}
				return true
			})
		case "contacts":
			contacts = v
		case "messages":
			messagesV = v
		case "statuses":
			statusesV = v
		case "errors":
			errorsV = v
		case "user_preferences":
			prefsV = v
		case "messaging_product":
		default:
			if !isNullSpan(v) {
				all = append(all, member{string(k), v})
			}
		}
		return true
	})
	if !isNullSpan(contacts) {
		if err := json.Unmarshal(contacts, &c.contacts); err != nil {
			c.contacts = nil
			c.contactsErr = "contacts: " + err.Error()
		}
	}
	list := func(key string, v []byte) [][]byte {
		if isNullSpan(v) {
			return nil
		}
		if v[0] != '[' {
			p.dead(where.in(key, -1), v, fmt.Sprintf("%s value: %s is %s, want an array", where, key, jsonKind(v)))
			return nil
		}
		return p.d.elements(v)
	}
	messages, statuses := list("messages", messagesV), list("statuses", statusesV)
	for i, m := range messages {
		at := where.in("messages", i)
		if c.phoneNumberID == "" {
			p.dead(at, m, "message: "+noNumber)
			continue
		}
		it, err := mapMessage(c, m, p.receivedAt)
		if err != nil {
			p.dead(at, m, "message: "+err.Error())
			continue
		}
		p.add(at, it)
	}
	for i, s := range statuses {
		at := where.in("statuses", i)
		if c.field == "calls" { // call statuses, see call.go
			p.add(at, callEvent(c, "statuses", s, p.receivedAt))
			continue
		}
		if c.phoneNumberID == "" {
			p.dead(at, s, "status: "+noNumber)
			continue
		}
		it, err := mapStatus(c, s, p.receivedAt)
		if err != nil {
			p.dead(at, s, "status: "+err.Error())
			continue
		}
		if p.natives && it.status != nil {
			it.Native = it.status.native()
		}
		p.add(at, it)
	}
	for i, e := range list("errors", errorsV) {
		p.add(where.in("errors", i), changeErrorEvent(c, e, p.receivedAt))
	}
	prefs := list("user_preferences", prefsV)
	for i, u := range prefs {
		p.add(where.in("user_preferences", i), userPreferenceEvent(c, u, p.receivedAt))
	}
	slices.SortStableFunc(all, func(a, b member) int { return strings.Compare(a.key, b.key) }) // same body, same order
	calls := 0
	for _, m := range all {
		if m.key == "calls" && c.field == "calls" {
			calls += p.calls(where, c, m.val) // see call.go
			continue
		}
		if m.val[0] == '[' {
			for i, e := range p.d.elements(m.val) {
				p.add(where.in(m.key, i), genericEvent(c, m.key, e, p.receivedAt))
			}
			continue
		}
		p.add(where.in(m.key, -1), genericEvent(c, m.key, m.val, p.receivedAt))
	}
	// Contacts are joined into the messages, statuses and user preferences
	// of their value; without any, they are the only thing the change says.
	if len(messages) == 0 && len(statuses) == 0 && len(prefs) == 0 && calls == 0 && !isNullSpan(contacts) {
		if contacts[0] != '[' {
			p.add(where.in("contacts", -1), genericEvent(c, "contacts", contacts, p.receivedAt))
		} else {
			for i, e := range p.d.elements(contacts) {
				p.add(where.in("contacts", i), genericEvent(c, "contacts", e, p.receivedAt))
			}
		}
	}
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

// flexUnixSeconds reads Unix seconds given as a JSON string or number.
func flexUnixSeconds(raw []byte) (time.Time, error) {
	var s flexString
	if err := s.UnmarshalJSON(bytes.TrimSpace(raw)); err != nil {
		return time.Time{}, err
	}
	return unixSeconds(string(s))
}

// flexString reads a JSON string, or the text of a JSON number (ids that
// WhatsApp sends as numbers in some payloads).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 1 && b[0] == '"' && b[len(b)-1] == '"' {
		*f = flexString(unquote(b))
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*f = flexString(n)
	return nil
}

// flexInt reads a JSON integer, or a string holding one.
type flexInt struct {
	v  int64
	ok bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return fmt.Errorf("want an integer, got %s", b)
	}
	*f = flexInt{n, true}
	return nil
}

// flexFloat reads a JSON number, or a string holding one.
type flexFloat struct {
	v  float64
	ok bool
}

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		return nil
	}
	n, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return fmt.Errorf("want a number, got %s", b)
	}
	*f = flexFloat{n, true}
	return nil
}

// Native values of optional Avro fields.

func optString(s string) any {
	if s == "" {
		return nil
	}
	return goavro.Union("string", s)
}

func optBool(b *bool) any {
	if b == nil {
		return nil
	}
	return goavro.Union("boolean", *b)
}

func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return goavro.Union("long.timestamp-millis", *t)
}

func optRecord(name string, fields map[string]any) any {
	return goavro.Union("io.wabridge.events."+name, fields)
}

// mappingErrors collects what could not be typed in one item.
type mappingErrors []string

func (m *mappingErrors) add(what string, err error) {
	*m = append(*m, what+": "+err.Error())
}

func (m mappingErrors) native() any { return optString(strings.Join(m, "; ")) }

// decodePart decodes the optional payload raw into v; it reports false when
// raw is absent or null, and records a mapping error when it does not fit.
func decodePart(raw []byte, what string, v any, errs *mappingErrors) bool {
	if isNullSpan(raw) {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		errs.add(what, err)
		return false
	}
	return true
}

type apiError struct {
	Code      flexInt `json:"code"`
	Title     string  `json:"title"`
	Message   string  `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
	Href string `json:"href"`
}

func (e *apiError) native() (map[string]any, error) {
	if !e.Code.ok {
		return nil, errors.New("error without a code")
	}
	if int64(int32(e.Code.v)) != e.Code.v {
		return nil, fmt.Errorf("error code %d out of range", e.Code.v)
	}
	return map[string]any{
		"code":    int32(e.Code.v),
		"title":   optString(e.Title),
		"message": optString(e.Message),
		"details": optString(e.ErrorData.Details),
		"href":    optString(e.Href),
	}, nil
}

// apiErrorList reads an errors array; on a shape it cannot read it returns
// none and records a mapping error.
func apiErrorList(raw []byte, errs *mappingErrors) []apiError {
	var list []apiError
	if !decodePart(raw, "errors", &list, errs) {
		return nil
	}
	for i := range list {
		if _, err := list[i].native(); err != nil {
			errs.add("errors", err)
			return nil
		}
	}
	return list
}

// apiErrors maps an errors array to its native form.
func apiErrors(raw []byte, errs *mappingErrors) []any {
	list := apiErrorList(raw, errs)
	out := make([]any, 0, len(list))
	for i := range list {
		n, _ := list[i].native()
		out = append(out, n)
	}
	return out
}

// Webhook events.

// eventID hashes what identifies a webhook event: where it comes from and
// its content. The content is compacted first, so whitespace does not count.
func eventID(c *changeCtx, valueKey string, raw []byte) string {
	h := sha256.New()
	var t string
	if c.time != nil {
		t = strconv.FormatInt(c.time.Unix(), 10)
	}
	for _, s := range []string{c.wabaID, t, c.phoneNumberID, c.field, valueKey} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) == nil {
		h.Write(compact.Bytes())
	} else {
		h.Write(raw)
	}
	var sum [sha256.Size]byte
	return "event:" + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

func baseEvent(c *changeCtx, eventType, valueKey string, raw []byte, receivedAt time.Time) map[string]any {
	return map[string]any{
		"event_id":             eventID(c, valueKey, raw),
		"received_at":          receivedAt,
		"event_type":           eventType,
		"field":                c.field,
		"value_key":            optString(valueKey),
		"waba_id":              optString(c.wabaID),
		"entry_time":           optTime(c.time),
		"phone_number_id":      optString(c.phoneNumberID),
		"display_phone_number": optString(c.displayPhoneNumber),
		"wa_id":                nil,
		"user_id":              nil,
		"profile_name":         nil,
		"timestamp":            nil,
		"error":                nil,
		"user_preference":      nil,
		"template_status":      nil,
		"mapping_error":        nil,
		"raw":                  string(raw),
		"call":                 nil,
	}
}

// firstNonEmpty returns the first of keys that is set: records are keyed by
// the user (wa_id, else the business-scoped user id) and, for the odd item
// that names no user, by the business number, so that they still land in
// one partition per number rather than anywhere.
func firstNonEmpty(keys ...string) string {
	for _, k := range keys {
		if k != "" {
			return k
		}
	}
	return ""
}

func eventItem(native map[string]any, waID, userID string, c *changeCtx) Item {
	key := firstNonEmpty(waID, userID, c.phoneNumberID, c.wabaID)
	return Item{Kind: schemas.WebhookEvent, Key: key, EventID: native["event_id"].(string), Native: native}
}

func genericEvent(c *changeCtx, valueKey string, raw []byte, receivedAt time.Time) Item {
	return eventItem(baseEvent(c, "other", valueKey, raw, receivedAt), "", "", c)
}

func changeErrorEvent(c *changeCtx, raw []byte, receivedAt time.Time) Item {
	n := baseEvent(c, "change_error", "errors", raw, receivedAt)
	var errs mappingErrors
	var e apiError
	if decodePart(raw, "error", &e, &errs) {
		if en, err := e.native(); err != nil {
			errs.add("error", err)
		} else {
			n["error"] = optRecord("ApiError", en)
		}
	}
	n["mapping_error"] = errs.native()
	return eventItem(n, "", "", c)
}

func userPreferenceEvent(c *changeCtx, raw []byte, receivedAt time.Time) Item {
	n := baseEvent(c, "user_preference", "user_preferences", raw, receivedAt)
	var errs mappingErrors
	var u struct {
		WAID      string          `json:"wa_id"`
		UserID    string          `json:"user_id"`
		Detail    string          `json:"detail"`
		Category  string          `json:"category"`
		Value     string          `json:"value"`
		Timestamp json.RawMessage `json:"timestamp"`
	}
	if decodePart(raw, "user_preference", &u, &errs) {
		n["wa_id"], n["user_id"] = optString(u.WAID), optString(u.UserID)
		if k := c.contactFor(u.WAID, u.UserID); k != nil {
			n["profile_name"] = optString(k.Profile.Name)
		}
		n["user_preference"] = optRecord("UserPreference", map[string]any{
			"category": optString(u.Category), "value": optString(u.Value), "detail": optString(u.Detail),
		})
		if !isNullSpan(u.Timestamp) {
			if t, err := flexUnixSeconds(u.Timestamp); err != nil {
				errs.add("timestamp", err)
			} else {
				n["timestamp"] = optTime(&t)
			}
		}
	}
	n["mapping_error"] = errs.native()
	return eventItem(n, u.WAID, u.UserID, c)
}

func templateEvent(c *changeCtx, raw []byte, receivedAt time.Time) Item {
	n := baseEvent(c, "template_status", "", raw, receivedAt)
	var errs mappingErrors
	var t struct {
		Event    string     `json:"event"`
		ID       flexString `json:"message_template_id"`
		Name     string     `json:"message_template_name"`
		Language string     `json:"message_template_language"`
		Reason   flexString `json:"reason"`
	}
	if decodePart(raw, "template_status", &t, &errs) {
		n["template_status"] = optRecord("TemplateStatus", map[string]any{
			"event": optString(t.Event), "message_template_id": optString(string(t.ID)),
			"message_template_name": optString(t.Name), "message_template_language": optString(t.Language),
			"reason": optString(string(t.Reason)),
		})
	}
	n["mapping_error"] = errs.native()
	return eventItem(n, "", "", c)
}

// Inbound messages.

// message is an inbound message: the fields every record needs, read
// strictly, and the spans of its optional parts, mapped leniently.
type message struct {
	From, FromUserID, FromParentUserID, ID, Timestamp, Type, GroupID string

	Context, Referral, Errors, Text, Image, Audio, Video, Document, Sticker, Location, Contacts,
	Interactive, Button, Reaction, Order, System, Unsupported, Revoke, Edit []byte
}

func (m *message) decode(d *doc, raw []byte) error {
	if isNullSpan(raw) {
		return nil
	}
	if raw[0] != '{' {
		return fmt.Errorf("message is %s, want an object", jsonKind(raw))
	}
	var err error
	d.members(raw, func(k, v []byte) bool {
		var dst *string
		switch string(k) {
		case "from":
			dst = &m.From
		case "from_user_id":
			dst = &m.FromUserID
		case "from_parent_user_id":
			dst = &m.FromParentUserID
		case "id":
			dst = &m.ID
		case "timestamp":
			dst = &m.Timestamp
		case "type":
			dst = &m.Type
		case "group_id":
			dst = &m.GroupID
		case "context":
			m.Context = v
		case "referral":
			m.Referral = v
		case "errors":
			m.Errors = v
		case "text":
			m.Text = v
		case "image":
			m.Image = v
		case "audio":
			m.Audio = v
		case "video":
			m.Video = v
		case "document":
			m.Document = v
		case "sticker":
			m.Sticker = v
		case "location":
			m.Location = v
		case "contacts":
			m.Contacts = v
		case "interactive":
			m.Interactive = v
		case "button":
			m.Button = v
		case "reaction":
			m.Reaction = v
		case "order":
			m.Order = v
		case "system":
			m.System = v
		case "unsupported":
			m.Unsupported = v
		case "revoke":
			m.Revoke = v
		case "edit":
			m.Edit = v
		}
		if dst != nil {
			*dst, err = keyedString(k, v)
		}
		return err == nil
	})
	return err
}

// messageTypes are the symbols of the MessageType enum but "other".
var messageTypes = map[string]bool{
	"text": true, "image": true, "audio": true, "video": true, "document": true, "sticker": true,
	"location": true, "contacts": true, "interactive": true, "button": true, "reaction": true,
	"order": true, "system": true, "request_welcome": true, "unsupported": true, "unknown": true,
	"revoke": true, "edit": true,
}

func mapMessage(c *changeCtx, raw []byte, receivedAt time.Time) (Item, error) {
	var m message
	if err := m.decode(c.d, raw); err != nil {
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
	var errs mappingErrors
	if c.contactsErr != "" {
		errs = append(errs, c.contactsErr)
	}
	var profile, username string
	if k := c.contactFor(m.From, m.FromUserID); k != nil {
		profile, username = k.Profile.Name, k.Profile.Username
	}
	msgType := "other"
	if messageTypes[m.Type] {
		msgType = m.Type
	}
	native := map[string]any{
		"event_id":             "message:" + c.phoneNumberID + ":" + m.ID,
		"received_at":          receivedAt,
		"phone_number_id":      c.phoneNumberID,
		"display_phone_number": optString(c.displayPhoneNumber),
		"waba_id":              optString(c.wabaID),
		"message_id":           m.ID,
		"timestamp":            ts,
		"wa_id":                optString(m.From),
		"user_id":              optString(m.FromUserID),
		"profile_name":         optString(profile),
		"type":                 m.Type,
		"text":                 nil,
		"media":                nil,
		"context":              nil,
		"raw":                  string(raw),
		"message_type":         msgType,
		"parent_user_id":       optString(m.FromParentUserID),
		"username":             optString(username),
		"group_id":             optString(m.GroupID),
		"location":             nil,
		"contacts":             nil,
		"interactive":          nil,
		"button":               nil,
		"reaction":             nil,
		"order":                nil,
		"system":               nil,
		"referral":             nil,
		"unsupported_type":     nil,
		"original_message_id":  nil,
	}

	if !isNullSpan(m.Text) {
		if m.Text[0] != '{' {
			errs = append(errs, "text is "+jsonKind(m.Text)+", want an object")
		} else {
			var body string
			var err error
			c.d.members(m.Text, func(k, v []byte) bool {
				if string(k) == "body" {
					body, err = stringField("text.body", v)
				}
				return err == nil
			})
			if err != nil {
				errs.add("text", err)
			} else {
				native["text"] = goavro.Union("string", body)
			}
		}
	}
	native["media"] = mapMedia(&m, &errs)
	native["context"] = mapContext(m.Context, &errs)

	var loc struct {
		Latitude  flexFloat `json:"latitude"`
		Longitude flexFloat `json:"longitude"`
		Name      string    `json:"name"`
		Address   string    `json:"address"`
		URL       string    `json:"url"`
	}
	if decodePart(m.Location, "location", &loc, &errs) {
		native["location"] = optRecord("Location", map[string]any{
			"latitude": optFloat(loc.Latitude), "longitude": optFloat(loc.Longitude),
			"name": optString(loc.Name), "address": optString(loc.Address), "url": optString(loc.URL),
		})
	}
	native["contacts"] = mapSharedContacts(m.Contacts, &errs)
	native["interactive"] = mapInteractive(m.Interactive, &errs)

	var button struct {
		Text    string `json:"text"`
		Payload string `json:"payload"`
	}
	if decodePart(m.Button, "button", &button, &errs) {
		native["button"] = optRecord("TemplateButtonReply", map[string]any{
			"text": optString(button.Text), "payload": optString(button.Payload),
		})
	}
	var reaction struct {
		MessageID string  `json:"message_id"`
		Emoji     *string `json:"emoji"`
	}
	if decodePart(m.Reaction, "reaction", &reaction, &errs) {
		emoji := ""
		if reaction.Emoji != nil {
			emoji = *reaction.Emoji
		}
		native["reaction"] = optRecord("Reaction", map[string]any{
			"message_id": optString(reaction.MessageID), "emoji": optString(emoji), "removed": emoji == "",
		})
	}
	native["order"] = mapOrder(m.Order, &errs)

	var system struct {
		Type     string `json:"type"`
		Body     string `json:"body"`
		WAID     string `json:"wa_id"`
		NewWAID  string `json:"new_wa_id"` // older name of wa_id
		UserID   string `json:"user_id"`
		Customer string `json:"customer"`
	}
	if decodePart(m.System, "system", &system, &errs) {
		waID := system.WAID
		if waID == "" {
			waID = system.NewWAID
		}
		native["system"] = optRecord("SystemChange", map[string]any{
			"type": optString(system.Type), "body": optString(system.Body), "wa_id": optString(waID),
			"user_id": optString(system.UserID), "customer": optString(system.Customer),
		})
	}
	native["referral"] = mapReferral(m.Referral, &errs)

	var unsupported struct {
		Type string `json:"type"`
	}
	if decodePart(m.Unsupported, "unsupported", &unsupported, &errs) {
		native["unsupported_type"] = optString(unsupported.Type)
	}
	var original struct {
		OriginalMessageID string `json:"original_message_id"`
	}
	if decodePart(m.Revoke, "revoke", &original, &errs) || decodePart(m.Edit, "edit", &original, &errs) {
		native["original_message_id"] = optString(original.OriginalMessageID)
	}
	native["errors"] = apiErrors(m.Errors, &errs)
	native["mapping_error"] = errs.native()

	key := firstNonEmpty(m.From, m.FromUserID, c.phoneNumberID)
	return Item{Kind: schemas.InboundMessage, Key: key, EventID: native["event_id"].(string), Native: native}, nil
}

func optFloat(f flexFloat) any {
	if !f.ok {
		return nil
	}
	return goavro.Union("double", f.v)
}

func optLong(f flexInt) any {
	if !f.ok {
		return nil
	}
	return goavro.Union("long", f.v)
}

type media struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	Voice    *bool  `json:"voice"`
	Animated *bool  `json:"animated"`
	URL      string `json:"url"`
}

// mapMedia maps the media object of the message's own type, else the first
// media object present.
func mapMedia(m *message, errs *mappingErrors) any {
	parts := []struct {
		name string
		raw  []byte
	}{{"image", m.Image}, {"audio", m.Audio}, {"video", m.Video}, {"document", m.Document}, {"sticker", m.Sticker}}
	slices.SortStableFunc(parts, func(a, b struct {
		name string
		raw  []byte
	}) int {
		switch {
		case a.name == m.Type && b.name != m.Type:
			return -1
		case b.name == m.Type && a.name != m.Type:
			return 1
		}
		return 0
	})
	for _, p := range parts {
		var md media
		if !decodePart(p.raw, p.name, &md, errs) {
			continue
		}
		return optRecord("Media", map[string]any{
			"id":        md.ID,
			"mime_type": optString(md.MimeType),
			"sha256":    optString(md.SHA256),
			"caption":   optString(md.Caption),
			"filename":  optString(md.Filename),
			"voice":     optBool(md.Voice),
			"animated":  optBool(md.Animated),
			"url":       optString(md.URL),
		})
	}
	return nil
}

func mapContext(raw []byte, errs *mappingErrors) any {
	var c struct {
		From                string `json:"from"`
		ID                  string `json:"id"`
		Forwarded           bool   `json:"forwarded"`
		FrequentlyForwarded bool   `json:"frequently_forwarded"`
		ReferredProduct     *struct {
			CatalogID         flexString `json:"catalog_id"`
			ProductRetailerID flexString `json:"product_retailer_id"`
		} `json:"referred_product"`
	}
	if !decodePart(raw, "context", &c, errs) {
		return nil
	}
	var product any
	if rp := c.ReferredProduct; rp != nil {
		product = optRecord("ReferredProduct", map[string]any{
			"catalog_id": optString(string(rp.CatalogID)), "product_retailer_id": optString(string(rp.ProductRetailerID)),
		})
	}
	return optRecord("MessageContext", map[string]any{
		"from":                 optString(c.From),
		"id":                   optString(c.ID),
		"forwarded":            c.Forwarded,
		"frequently_forwarded": c.FrequentlyForwarded,
		"referred_product":     product,
	})
}

func mapSharedContacts(raw []byte, errs *mappingErrors) any {
	type typed struct {
		Type string `json:"type"`
	}
	var list []struct {
		Name struct {
			FormattedName string `json:"formatted_name"`
			FirstName     string `json:"first_name"`
			LastName      string `json:"last_name"`
			MiddleName    string `json:"middle_name"`
			Suffix        string `json:"suffix"`
			Prefix        string `json:"prefix"`
		} `json:"name"`
		Birthday string `json:"birthday"`
		Org      struct {
			Company    string `json:"company"`
			Department string `json:"department"`
			Title      string `json:"title"`
		} `json:"org"`
		Phones []struct {
			Phone string `json:"phone"`
			WAID  string `json:"wa_id"`
			typed
		} `json:"phones"`
		Emails []struct {
			Email string `json:"email"`
			typed
		} `json:"emails"`
		URLs []struct {
			URL string `json:"url"`
			typed
		} `json:"urls"`
		Addresses []struct {
			Street      string `json:"street"`
			City        string `json:"city"`
			State       string `json:"state"`
			Zip         string `json:"zip"`
			Country     string `json:"country"`
			CountryCode string `json:"country_code"`
			typed
		} `json:"addresses"`
	}
	if !decodePart(raw, "contacts", &list, errs) {
		return nil
	}
	out := make([]any, 0, len(list))
	for _, c := range list {
		phones := make([]any, 0, len(c.Phones))
		for _, p := range c.Phones {
			phones = append(phones, map[string]any{"phone": optString(p.Phone), "wa_id": optString(p.WAID), "type": optString(p.Type)})
		}
		emails := make([]any, 0, len(c.Emails))
		for _, e := range c.Emails {
			emails = append(emails, map[string]any{"email": optString(e.Email), "type": optString(e.Type)})
		}
		urls := make([]any, 0, len(c.URLs))
		for _, u := range c.URLs {
			urls = append(urls, map[string]any{"url": optString(u.URL), "type": optString(u.Type)})
		}
		addrs := make([]any, 0, len(c.Addresses))
		for _, a := range c.Addresses {
			addrs = append(addrs, map[string]any{
				"street": optString(a.Street), "city": optString(a.City), "state": optString(a.State), "zip": optString(a.Zip),
				"country": optString(a.Country), "country_code": optString(a.CountryCode), "type": optString(a.Type),
			})
		}
		out = append(out, map[string]any{
			"formatted_name": optString(c.Name.FormattedName), "first_name": optString(c.Name.FirstName),
			"last_name": optString(c.Name.LastName), "middle_name": optString(c.Name.MiddleName),
			"name_prefix": optString(c.Name.Prefix), "name_suffix": optString(c.Name.Suffix),
			"birthday": optString(c.Birthday), "company": optString(c.Org.Company),
			"department": optString(c.Org.Department), "title": optString(c.Org.Title),
			"phones": phones, "emails": emails, "urls": urls, "addresses": addrs,
		})
	}
	return goavro.Union("array", out)
}

func mapInteractive(raw []byte, errs *mappingErrors) any {
	type reply struct {
		ID          string `json:"id"`
		Title       string `json:"title"`
		Description string `json:"description"`
	}
	var in struct {
		Type        string `json:"type"`
		ButtonReply *reply `json:"button_reply"`
		ListReply   *reply `json:"list_reply"`
		NfmReply    *struct {
			Name         string `json:"name"`
			Body         string `json:"body"`
			ResponseJSON string `json:"response_json"`
		} `json:"nfm_reply"`
		CallPermissionReply *struct {
			Response            string          `json:"response"`
			IsPermanent         *bool           `json:"is_permanent"`
			ExpirationTimestamp json.RawMessage `json:"expiration_timestamp"`
			ResponseSource      string          `json:"response_source"`
		} `json:"call_permission_reply"`
	}
	if !decodePart(raw, "interactive", &in, errs) {
		return nil
	}
	replyNative := func(r *reply) any {
		if r == nil {
			return nil
		}
		return optRecord("Reply", map[string]any{"id": optString(r.ID), "title": optString(r.Title), "description": optString(r.Description)})
	}
	var nfm, call any
	if r := in.NfmReply; r != nil {
		nfm = optRecord("NfmReply", map[string]any{"name": optString(r.Name), "body": optString(r.Body), "response_json": optString(r.ResponseJSON)})
	}
	if r := in.CallPermissionReply; r != nil {
		var exp any
		if !isNullSpan(r.ExpirationTimestamp) {
			if t, err := flexUnixSeconds(r.ExpirationTimestamp); err != nil {
				errs.add("interactive.call_permission_reply.expiration_timestamp", err)
			} else {
				exp = optTime(&t)
			}
		}
		call = optRecord("CallPermissionReply", map[string]any{
			"response": optString(r.Response), "is_permanent": optBool(r.IsPermanent),
			"expiration_timestamp": exp, "response_source": optString(r.ResponseSource),
		})
	}
	return optRecord("InteractiveReply", map[string]any{
		"type":                  in.Type,
		"button_reply":          replyNative(in.ButtonReply),
		"list_reply":            replyNative(in.ListReply),
		"nfm_reply":             nfm,
		"call_permission_reply": call,
	})
}

func mapOrder(raw []byte, errs *mappingErrors) any {
	var o struct {
		CatalogID    flexString `json:"catalog_id"`
		Text         string     `json:"text"`
		ProductItems []struct {
			ProductRetailerID flexString `json:"product_retailer_id"`
			Quantity          flexInt    `json:"quantity"`
			ItemPrice         flexFloat  `json:"item_price"`
			Currency          string     `json:"currency"`
		} `json:"product_items"`
	}
	if !decodePart(raw, "order", &o, errs) {
		return nil
	}
	items := make([]any, 0, len(o.ProductItems))
	for _, p := range o.ProductItems {
		items = append(items, map[string]any{
			"product_retailer_id": optString(string(p.ProductRetailerID)),
			"quantity":            optLong(p.Quantity),
			"item_price":          optFloat(p.ItemPrice),
			"currency":            optString(p.Currency),
		})
	}
	return optRecord("Order", map[string]any{
		"catalog_id": optString(string(o.CatalogID)), "text": optString(o.Text), "product_items": items,
	})
}

func mapReferral(raw []byte, errs *mappingErrors) any {
	var r struct {
		SourceURL      string `json:"source_url"`
		SourceID       string `json:"source_id"`
		SourceType     string `json:"source_type"`
		Headline       string `json:"headline"`
		Body           string `json:"body"`
		MediaType      string `json:"media_type"`
		ImageURL       string `json:"image_url"`
		VideoURL       string `json:"video_url"`
		ThumbnailURL   string `json:"thumbnail_url"`
		CtwaClid       string `json:"ctwa_clid"`
		WelcomeMessage *struct {
			Text string `json:"text"`
		} `json:"welcome_message"`
	}
	if !decodePart(raw, "referral", &r, errs) {
		return nil
	}
	var welcome string
	if r.WelcomeMessage != nil {
		welcome = r.WelcomeMessage.Text
	}
	return optRecord("Referral", map[string]any{
		"source_url": optString(r.SourceURL), "source_id": optString(r.SourceID), "source_type": optString(r.SourceType),
		"headline": optString(r.Headline), "body": optString(r.Body), "media_type": optString(r.MediaType),
		"image_url": optString(r.ImageURL), "video_url": optString(r.VideoURL), "thumbnail_url": optString(r.ThumbnailURL),
		"ctwa_clid": optString(r.CtwaClid), "welcome_message_text": optString(welcome),
	})
}
