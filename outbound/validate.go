package outbound

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wabridge/wabridge/internal/jsonscan"
)

// Limits a send command is checked against before any call, from the API
// reference (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages,
// https://docs.360dialog.com/docs/waba-messaging/messaging) and the checks of
// whatsapp-api-js (https://github.com/Secreto31126/whatsapp-api-js). Lengths are in characters
// (Unicode code points), not bytes.
const (
	minPhoneDigits = 8  // practical minimum; the reference marks it unconfirmed
	maxPhoneDigits = 15 // E.164

	maxTextBody       = 4096
	maxCaption        = 1024
	maxInteractive    = 1024 // interactive body.text
	maxHeaderText     = 60   // interactive header.text, template header text parameter
	maxFooterText     = 60
	maxReplyButtons   = 3
	maxButtonTitle    = 20
	maxButtonID       = 256
	maxListButton     = 20
	maxSections       = 10 // list and product_list
	maxListRows       = 10 // in total, across all sections
	maxSectionTitle   = 24
	maxRowTitle       = 24
	maxRowDescription = 72
	maxRowID          = 200
	maxCTAText        = 20 // cta_url display_text, flow flow_cta
	maxProducts       = 30 // product_list, in total

	maxTemplateName    = 512
	maxBodyParam       = 1024  // body text parameter when the template has other components
	maxBodyOnlyParam   = 32768 // body text parameter when the body is the only component
	maxParameterName   = 20
	maxTemplateButtons = 10
	maxButtonIndex     = 9
	maxURLSuffix       = 2000 // url button parameter; the reference marks it unconfirmed

	maxEmojiRunes = 10 // the longest emoji sequences (kiss with skin tones) have 10
)

// messageTypes are the content types the validator knows, in the order in
// which a stray content object is reported.
var messageTypes = []string{
	"text", "image", "audio", "video", "document", "sticker",
	"location", "contacts", "interactive", "template", "reaction",
}

// envelopeFields are top-level keys that are not content objects, so they
// can never be a message type, known or not.
var envelopeFields = []string{
	"messaging_product", "recipient_type", "to", "recipient", "type", "context",
	"biz_opaque_callback_data", "recipient_identity_key_hash",
	"status", "message_id", "typing_indicator",
}

// contentChecks validates the content object of each known type but
// contacts, whose content is an array (validateContacts).
var contentChecks = map[string]func(jsonObj) error{
	"text":        validateText,
	"image":       func(o jsonObj) error { return validateMedia(o, "image", false) },
	"audio":       func(o jsonObj) error { return validateMedia(o, "audio", false) },
	"video":       func(o jsonObj) error { return validateMedia(o, "video", false) },
	"document":    func(o jsonObj) error { return validateMedia(o, "document", false) },
	"sticker":     func(o jsonObj) error { return validateMedia(o, "sticker", false) },
	"location":    validateLocation,
	"interactive": validateInteractive,
	"template":    validateTemplate,
	"reaction":    validateReaction,
}

// Validate checks the top-level JSON object of a send command (not of a
// mark-as-read or typing body) against the rules of the API reference, so a
// command the API would refuse is rejected before any call. It returns nil or
// an *InvalidError whose Field is a JSON path such as
// interactive.action.buttons[2].reply.title.
//
// Only the first violation is reported, and always the same one for the same
// body: first the envelope (messaging_product, recipient_type, to or
// recipient, type, context, biz_opaque_callback_data,
// recipient_identity_key_hash), then the content object named by type, then
// stray content objects of other known types (in the order text, image,
// audio, video, document, sticker, location, contacts, interactive,
// template, reaction), then the fields of the content object in the order of
// the reference's examples (§3), arrays element by element.
//
// JSON null counts as absent, as it does in ParseCommand. Fields the
// validator does not know pass through unchecked, and so does the content
// object of an unknown type (a new API feature) as long as it is an object.
func Validate(body map[string]json.RawMessage) error { return validate(body, false) }

// validate is Validate; valid says the values of body are known to be valid
// JSON (members of a parsed object), so they are not checked again.
func validate(body map[string]json.RawMessage, valid bool) error {
	root := jsonObj{raw: body, valid: valid}
	typ, err := validateEnvelope(root)
	if err != nil {
		return err
	}
	v, ok := root.get(typ)
	if !ok {
		if typ == "contacts" {
			return invalid(typ, "array required for type %q", typ)
		}
		return invalid(typ, "object required for type %q", typ)
	}
	var content jsonObj
	if typ != "contacts" {
		if content, err = asObject(typ, v); err != nil {
			return err
		}
	}
	for _, t := range messageTypes {
		if t != typ && root.has(t) {
			return invalid(t, "not allowed with type %q: a message carries exactly one content object", typ)
		}
	}
	if typ == "contacts" {
		return validateContacts(v)
	}
	if check, ok := contentChecks[typ]; ok {
		return check(content)
	}
	return nil
}

// validateEnvelope checks the fields shared by all message types and
// returns the message type ("text" when type is absent or empty, as in the
// API).
func validateEnvelope(root jsonObj) (string, error) {
	if _, err := root.oneOf("messaging_product", false, "whatsapp"); err != nil {
		return "", err
	}
	rt, err := root.oneOf("recipient_type", false, "individual", "group")
	if err != nil {
		return "", err
	}
	// Empty strings count as absent, as in ParseCommand.
	to, _, err := root.str("to")
	if err != nil {
		return "", err
	}
	recipient, _, err := root.str("recipient")
	if err != nil {
		return "", err
	}
	switch {
	case to == "" && recipient == "":
		return "", invalid("to", "required (or recipient, a business-scoped user id)")
	case to != "" && recipient != "":
		return "", invalid("to", "set either to or recipient, not both")
	case recipient != "":
		if rt == "group" {
			return "", invalid("recipient", `not allowed with recipient_type "group"; put the group id in to`)
		}
		if strings.IndexFunc(recipient, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return "", invalid("recipient", "must be a business-scoped user id such as US.13491208655302741918 without spaces, got %s", quoteShort(recipient))
		}
	case rt == "group":
		// A group id: any non-empty string.
	default:
		if err := checkPhone(to); err != nil {
			return "", err
		}
	}

	typ, _, err := root.str("type")
	if err != nil {
		return "", err
	}
	if typ == "" {
		typ = "text"
	}
	if err := checkMessageType(typ); err != nil {
		return "", err
	}

	if ctx, ok, err := root.object("context", false); err != nil {
		return "", err
	} else if ok {
		if _, err := ctx.text("message_id", 1, 0); err != nil {
			return "", err
		}
	}
	if _, err := root.text("biz_opaque_callback_data", 0, maxCallbackData); err != nil {
		return "", err
	}
	if _, _, err := root.str("recipient_identity_key_hash"); err != nil {
		return "", err
	}
	return typ, nil
}

// checkPhone checks a phone number: digits with country code, optionally
// written with + ( ) - and spaces, which the API strips.
func checkPhone(to string) error {
	digits := 0
	for _, r := range to {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' || r == '(' || r == ')' || r == '-' || r == ' ':
		default:
			hint := ""
			if strings.Contains(to, ".") {
				hint = " (a business-scoped user id goes in recipient)"
			}
			return invalid("to", "must be a phone number of digits with country code, optionally with + ( ) - and spaces, got %s%s", quoteShort(to), hint)
		}
	}
	if digits < minPhoneDigits || digits > maxPhoneDigits {
		return invalid("to", "must have %d to %d digits (country code and number), got %d", minPhoneDigits, maxPhoneDigits, digits)
	}
	return nil
}

// checkMessageType accepts a known type, or an unknown one that looks like
// an API type name so that new message types pass through.
func checkMessageType(typ string) error {
	if slices.Contains(messageTypes, typ) {
		return nil
	}
	if slices.Contains(envelopeFields, typ) {
		return invalid("type", "%q is an envelope field, not a message type", typ)
	}
	if lower := strings.ToLower(typ); slices.Contains(messageTypes, lower) {
		return invalid("type", "must be lowercase: %q, got %q", lower, typ)
	}
	if !isAPIName(typ, 64) {
		return invalid("type", "unknown type %s is not an API type name (lowercase a-z, 0-9 and _); known types: %s", quoteShort(typ), strings.Join(messageTypes, ", "))
	}
	return nil
}

// isAPIName reports whether s is a snake_case name of at most max bytes
// starting with a letter, as the API's type names are.
func isAPIName(s string, max int) bool {
	if s == "" || len(s) > max || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// validateText checks a text message (§3.1).
func validateText(o jsonObj) error {
	if _, err := o.text("body", 1, maxTextBody); err != nil {
		return err
	}
	return o.boolean("preview_url")
}

// validateMedia checks a media object (§3.2): exactly one of id and link, a
// link by https, a caption only on image, video and document (never in an
// interactive header), a filename only on a document.
func validateMedia(o jsonObj, kind string, inHeader bool) error {
	id, hasID, err := o.str("id")
	if err != nil {
		return err
	}
	link, hasLink, err := o.str("link")
	if err != nil {
		return err
	}
	switch {
	case hasID && hasLink:
		return invalid(o.at("id"), "set either id or link, not both")
	case !hasID && !hasLink:
		return invalid(o.at("id"), "required (or link, a public https URL)")
	case hasID && id == "":
		return invalid(o.at("id"), "must not be empty")
	case hasLink:
		if err := checkURL(o.at("link"), link, true); err != nil {
			return err
		}
	}
	if o.has("caption") {
		switch {
		case inHeader:
			return invalid(o.at("caption"), "not allowed on header media")
		case kind != "image" && kind != "video" && kind != "document":
			return invalid(o.at("caption"), "not allowed on %s; only image, video and document take a caption", kind)
		}
		if _, err := o.text("caption", 0, maxCaption); err != nil {
			return err
		}
	}
	if o.has("filename") {
		if kind != "document" {
			return invalid(o.at("filename"), "not allowed on %s; only a document takes a filename", kind)
		}
		if _, _, err := o.str("filename"); err != nil {
			return err
		}
	}
	return nil
}

// checkURL checks s is an absolute URL with a host, by https or, unless
// httpsOnly, by http.
func checkURL(path, s string, httpsOnly bool) error {
	want := "an absolute http or https URL"
	if httpsOnly {
		want = "an absolute https URL"
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return invalid(path, "must be %s, got %s", want, quoteShort(s))
	}
	if u.Scheme != "https" && (httpsOnly || u.Scheme != "http") {
		return invalid(path, "must be %s, got scheme %s", want, quoteShort(u.Scheme))
	}
	return nil
}

// validateLocation checks a location (§3.3), also used for template header
// location parameters.
func validateLocation(o jsonObj) error {
	if err := o.coordinate("latitude", 90); err != nil {
		return err
	}
	if err := o.coordinate("longitude", 180); err != nil {
		return err
	}
	if _, _, err := o.str("name"); err != nil {
		return err
	}
	_, _, err := o.str("address")
	return err
}

// contactLists are the arrays of a contact and the string fields of their
// elements, in the order they are checked.
var contactLists = []struct {
	key    string
	fields []string
}{
	{"phones", []string{"phone", "type", "wa_id"}},
	{"emails", []string{"email", "type"}},
	{"urls", []string{"url", "type"}},
	{"addresses", []string{"street", "city", "state", "zip", "country", "country_code", "type"}},
}

// otherNameFields are the name fields of which a contact needs at least one
// besides formatted_name.
var otherNameFields = []string{"first_name", "last_name", "middle_name", "suffix", "prefix"}

// validateContacts checks a contacts message (§3.4), each contact in the
// order name, org, phones, emails, urls, addresses, birthday.
func validateContacts(v any) error {
	items, ok := v.([]any)
	if !ok {
		return typeError("contacts", "an array", v)
	}
	if len(items) == 0 {
		return invalid("contacts", "must hold at least one contact")
	}
	for i, v := range items {
		c, err := asObject(elemPath("contacts", i), v)
		if err != nil {
			return err
		}
		name, _, err := c.object("name", true)
		if err != nil {
			return err
		}
		if _, err := name.text("formatted_name", 1, 0); err != nil {
			return err
		}
		other := false
		for _, k := range otherNameFields {
			s, _, err := name.str(k)
			if err != nil {
				return err
			}
			other = other || s != ""
		}
		if !other {
			return invalid(name.path, "needs one of %s besides formatted_name", strings.Join(otherNameFields, ", "))
		}
		if err := validateOrg(c); err != nil {
			return err
		}
		for _, l := range contactLists {
			elems, _, err := c.array(l.key, false)
			if err != nil {
				return err
			}
			for j, v := range elems {
				e, err := asObject(elemPath(c.at(l.key), j), v)
				if err != nil {
					return err
				}
				for _, f := range l.fields {
					if _, _, err := e.str(f); err != nil {
						return err
					}
				}
			}
		}
		if b, ok, err := c.str("birthday"); err != nil {
			return err
		} else if ok {
			if _, err := time.Parse(time.DateOnly, b); err != nil {
				return invalid(c.at("birthday"), "must be a date YYYY-MM-DD, got %s", quoteShort(b))
			}
		}
	}
	return nil
}

func validateOrg(c jsonObj) error {
	org, ok, err := c.object("org", false)
	if err != nil || !ok {
		return err
	}
	for _, f := range []string{"company", "department", "title"} {
		if _, _, err := org.str(f); err != nil {
			return err
		}
	}
	return nil
}

// interactiveRules are the rules of one interactive type (§3.5, §4).
type interactiveRules struct {
	headers        []string // header types allowed; none: no header
	headerRequired bool
	bodyOptional   bool
	noFooter       bool
	action         func(jsonObj) error
}

var (
	anyHeader  = []string{"text", "image", "video", "document"}
	textHeader = []string{"text"}
)

// interactiveTypes holds the known interactive types. Header rules follow
// the reference and whatsapp-api-js: no header on location requests, single
// products and catalog messages.
var interactiveTypes = map[string]interactiveRules{
	"button":                   {headers: anyHeader, action: validateButtonAction},
	"list":                     {headers: textHeader, action: validateListAction},
	"cta_url":                  {headers: anyHeader, action: validateCTAAction},
	"flow":                     {headers: textHeader, action: validateFlowAction},
	"location_request_message": {noFooter: true, action: validateLocationRequestAction},
	"product":                  {bodyOptional: true, action: validateProductAction},
	"product_list":             {headers: textHeader, headerRequired: true, action: validateProductListAction},
	"catalog_message":          {action: validateCatalogAction},
}

// interactiveNames lists the known interactive types for error messages.
const interactiveNames = "button, list, cta_url, flow, location_request_message, product, product_list, catalog_message"

// validateInteractive checks an interactive message (§3.5): type, header,
// body, footer, action. An unknown type passes through with only its body
// checked.
func validateInteractive(o jsonObj) error {
	typ, ok, err := o.str("type")
	if err != nil {
		return err
	}
	if !ok || typ == "" {
		return invalid(o.at("type"), "required: one of %s, or a newer API type", interactiveNames)
	}
	rules, known := interactiveTypes[typ]
	if !known {
		if _, ok := interactiveTypes[strings.ToLower(typ)]; ok {
			return invalid(o.at("type"), "must be lowercase: %q, got %q", strings.ToLower(typ), typ)
		}
		return validateInteractiveBody(o, false)
	}

	h, ok, err := o.object("header", rules.headerRequired)
	if err != nil {
		return err
	}
	if ok {
		if len(rules.headers) == 0 {
			return invalid(h.path, "not allowed on interactive type %q", typ)
		}
		if err := validateInteractiveHeader(h, typ, rules.headers); err != nil {
			return err
		}
	}
	if err := validateInteractiveBody(o, !rules.bodyOptional); err != nil {
		return err
	}
	if rules.noFooter && o.has("footer") {
		return invalid(o.at("footer"), "not allowed on interactive type %q", typ)
	}
	if f, ok, err := o.object("footer", false); err != nil {
		return err
	} else if ok {
		if _, err := f.text("text", 1, maxFooterText); err != nil {
			return err
		}
	}
	a, _, err := o.object("action", true)
	if err != nil {
		return err
	}
	return rules.action(a)
}

func validateInteractiveBody(o jsonObj, required bool) error {
	b, ok, err := o.object("body", required)
	if err != nil || !ok {
		return err
	}
	_, err = b.text("text", 1, maxInteractive)
	return err
}

func validateInteractiveHeader(h jsonObj, typ string, allowed []string) error {
	ht, err := h.text("type", 1, 0)
	if err != nil {
		return err
	}
	if !slices.Contains(allowed, ht) {
		return invalid(h.at("type"), "must be %s on interactive type %q, got %s", strings.Join(allowed, ", "), typ, quoteShort(ht))
	}
	if ht == "text" {
		_, err := h.text("text", 1, maxHeaderText)
		return err
	}
	m, _, err := h.object(ht, true)
	if err != nil {
		return err
	}
	return validateMedia(m, ht, true)
}

// validateButtonAction checks reply buttons: 1–3, ids and titles unique.
func validateButtonAction(a jsonObj) error {
	buttons, _, err := a.array("buttons", true)
	if err != nil {
		return err
	}
	if n := len(buttons); n < 1 || n > maxReplyButtons {
		return invalid(a.at("buttons"), "must hold 1 to %d reply buttons, got %d", maxReplyButtons, n)
	}
	ids := make(map[string]int)
	titles := make(map[string]int)
	for i, v := range buttons {
		b, err := asObject(elemPath(a.at("buttons"), i), v)
		if err != nil {
			return err
		}
		if _, err := b.oneOf("type", true, "reply"); err != nil {
			return err
		}
		r, _, err := b.object("reply", true)
		if err != nil {
			return err
		}
		id, err := r.text("id", 1, maxButtonID)
		if err != nil {
			return err
		}
		if strings.TrimSpace(id) != id {
			return invalid(r.at("id"), "must not begin or end with a space")
		}
		if j, dup := ids[id]; dup {
			return invalid(r.at("id"), "must be unique; buttons[%d] has the same id", j)
		}
		ids[id] = i
		title, err := r.text("title", 1, maxButtonTitle)
		if err != nil {
			return err
		}
		if j, dup := titles[title]; dup {
			return invalid(r.at("title"), "must be unique; buttons[%d] has the same title", j)
		}
		titles[title] = i
	}
	return nil
}

// validateListAction checks a list: button text, 1–10 sections, at most 10
// rows in total (Meta's count; whatsapp-api-js counts per section), row ids
// unique across sections.
func validateListAction(a jsonObj) error {
	if _, err := a.text("button", 1, maxListButton); err != nil {
		return err
	}
	sections, err := a.sections()
	if err != nil {
		return err
	}
	ids := make(map[string]string)
	return eachSectionItem(a, sections, "rows", "row", "a list holds at most %d rows in total across its sections", maxListRows,
		func(row jsonObj, path string) error {
			id, err := row.text("id", 1, maxRowID)
			if err != nil {
				return err
			}
			if prev, dup := ids[id]; dup {
				return invalid(row.at("id"), "must be unique; %s has the same id", prev)
			}
			ids[id] = strings.TrimPrefix(path, a.path+".")
			if _, err := row.text("title", 1, maxRowTitle); err != nil {
				return err
			}
			_, err = row.text("description", 0, maxRowDescription)
			return err
		})
}

// eachSectionItem checks the sections of a list or product list (titles,
// at least one item each) and calls fn for every item of key, counting
// them against limit across all sections.
func eachSectionItem(a jsonObj, sections []any, key, noun, tooMany string, limit int, fn func(item jsonObj, path string) error) error {
	n := 0
	for i, v := range sections {
		s, err := asObject(elemPath(a.at("sections"), i), v)
		if err != nil {
			return err
		}
		if err := s.sectionTitle(len(sections)); err != nil {
			return err
		}
		items, _, err := s.array(key, true)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return invalid(s.at(key), "must hold at least one %s", noun)
		}
		for j, v := range items {
			path := elemPath(s.at(key), j)
			if n++; n > limit {
				return invalid(path, tooMany, limit)
			}
			item, err := asObject(path, v)
			if err != nil {
				return err
			}
			if err := fn(item, path); err != nil {
				return err
			}
		}
	}
	return nil
}

// sections returns the 1–10 sections of a list or product list.
func (o jsonObj) sections() ([]any, error) {
	sections, _, err := o.array("sections", true)
	if err != nil {
		return nil, err
	}
	if n := len(sections); n < 1 || n > maxSections {
		return nil, invalid(o.at("sections"), "must hold 1 to %d sections, got %d", maxSections, n)
	}
	return sections, nil
}

// sectionTitle checks the title of a section: required when there is more
// than one section.
func (o jsonObj) sectionTitle(sections int) error {
	title, ok, err := o.str("title")
	if err != nil {
		return err
	}
	if sections > 1 && title == "" {
		return invalid(o.at("title"), "required when there is more than one section")
	}
	return checkLen(o.at("title"), title, ok, 0, maxSectionTitle)
}

func validateCTAAction(a jsonObj) error {
	if _, err := a.oneOf("name", true, "cta_url"); err != nil {
		return err
	}
	p, _, err := a.object("parameters", true)
	if err != nil {
		return err
	}
	if _, err := p.text("display_text", 1, maxCTAText); err != nil {
		return err
	}
	u, err := p.text("url", 1, 0)
	if err != nil {
		return err
	}
	return checkURL(p.at("url"), u, false)
}

func validateFlowAction(a jsonObj) error {
	if _, err := a.oneOf("name", true, "flow"); err != nil {
		return err
	}
	p, _, err := a.object("parameters", true)
	if err != nil {
		return err
	}
	if _, err := p.text("flow_message_version", 1, 0); err != nil {
		return err
	}
	id, hasID, err := p.str("flow_id")
	if err != nil {
		return err
	}
	name, hasName, err := p.str("flow_name")
	if err != nil {
		return err
	}
	switch {
	case hasID && hasName:
		return invalid(p.at("flow_id"), "set either flow_id or flow_name, not both")
	case !hasID && !hasName:
		return invalid(p.at("flow_id"), "required (or flow_name)")
	case hasID && id == "":
		return invalid(p.at("flow_id"), "must not be empty")
	case hasName && name == "":
		return invalid(p.at("flow_name"), "must not be empty")
	}
	if _, _, err := p.str("flow_token"); err != nil {
		return err
	}
	cta, err := p.text("flow_cta", 1, maxCTAText)
	if err != nil {
		return err
	}
	if strings.IndexFunc(cta, isEmojiPart) >= 0 {
		return invalid(p.at("flow_cta"), "must not contain emoji")
	}
	if _, err := p.oneOf("mode", false, "draft", "published"); err != nil {
		return err
	}
	action, err := p.oneOf("flow_action", false, "navigate", "data_exchange")
	if err != nil {
		return err
	}
	payload, ok, err := p.object("flow_action_payload", false)
	if err != nil {
		return err
	}
	if !ok {
		if action == "navigate" {
			return invalid(p.at("flow_action_payload"), "required when flow_action is navigate")
		}
		return nil
	}
	if _, err := payload.text("screen", 1, 0); err != nil {
		return err
	}
	if data, ok, err := payload.object("data", false); err != nil {
		return err
	} else if ok && len(data.m) == 0 {
		return invalid(data.path, "must not be an empty object; leave it out instead")
	}
	return nil
}

func validateLocationRequestAction(a jsonObj) error {
	_, err := a.oneOf("name", true, "send_location")
	return err
}

func validateProductAction(a jsonObj) error {
	if _, err := a.text("catalog_id", 1, 0); err != nil {
		return err
	}
	_, err := a.text("product_retailer_id", 1, 0)
	return err
}

// validateProductListAction checks a multi-product message: 1–10 sections,
// at most 30 products in total.
func validateProductListAction(a jsonObj) error {
	if _, err := a.text("catalog_id", 1, 0); err != nil {
		return err
	}
	sections, err := a.sections()
	if err != nil {
		return err
	}
	return eachSectionItem(a, sections, "product_items", "product", "a product list holds at most %d products in total across its sections", maxProducts,
		func(item jsonObj, _ string) error {
			_, err := item.text("product_retailer_id", 1, 0)
			return err
		})
}

func validateCatalogAction(a jsonObj) error {
	if _, err := a.oneOf("name", true, "catalog_message"); err != nil {
		return err
	}
	p, ok, err := a.object("parameters", false)
	if err != nil || !ok {
		return err
	}
	_, _, err = p.str("thumbnail_product_retailer_id")
	return err
}

// validateTemplate checks a template message (§3.6): name, language, then
// components in order. Component types and button sub_types must be
// lowercase, as the API documents them. Header, body and button components
// are checked; other types (footer, carousel, limited_time_offer, …) pass
// through.
func validateTemplate(o jsonObj) error {
	name, err := o.text("name", 1, maxTemplateName)
	if err != nil {
		return err
	}
	if strings.IndexFunc(name, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_'
	}) >= 0 {
		return invalid(o.at("name"), "must hold only lowercase letters a-z, digits and _, got %s", quoteShort(name))
	}
	lang, _, err := o.object("language", true)
	if err != nil {
		return err
	}
	code, err := lang.text("code", 1, 0)
	if err != nil {
		return err
	}
	if strings.IndexFunc(code, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-'
	}) >= 0 {
		return invalid(lang.at("code"), "must be a language code such as en or en_US (letters, digits, _ and -), got %s", quoteShort(code))
	}
	if _, err := lang.oneOf("policy", false, "deterministic"); err != nil {
		return err
	}

	comps, _, err := o.array("components", false)
	if err != nil {
		return err
	}
	t := templateState{
		once:       make(map[string]int),
		buttons:    make(map[int]int),
		bodyMax:    maxBodyParam,
		components: o.at("components"),
	}
	if len(comps) == 1 {
		t.bodyMax = maxBodyOnlyParam // only matters if it is the body
	}
	nButtons := 0
	for i, v := range comps {
		c, err := asObject(elemPath(t.components, i), v)
		if err != nil {
			return err
		}
		typ, err := c.text("type", 1, 0)
		if err != nil {
			return err
		}
		if lower := strings.ToLower(typ); lower != typ {
			return invalid(c.at("type"), "must be lowercase: %s, got %s", quoteShort(lower), quoteShort(typ))
		}
		switch typ {
		case "header", "body":
			if j, dup := t.once[typ]; dup {
				return invalid(c.at("type"), "at most one %s component; components[%d] is one", typ, j)
			}
			t.once[typ] = i
			if err := t.validateParams(c, typ); err != nil {
				return err
			}
		case "button":
			if nButtons++; nButtons > maxTemplateButtons {
				return invalid(c.path, "a template takes at most %d button components", maxTemplateButtons)
			}
			if err := t.validateButton(c, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// templateState carries what one component's check needs to know about the
// others.
type templateState struct {
	components string         // path of the components array
	once       map[string]int // header/body → index of the component
	buttons    map[int]int    // button index → index of its component
	bodyMax    int            // limit of a body text parameter
	// firstParam is the path of the first text, currency or date_time
	// parameter; named tells whether it had a parameter_name.
	firstParam string
	named      bool
}

var (
	headerParamTypes = []string{"text", "currency", "date_time", "image", "video", "document", "location"}
	bodyParamTypes   = []string{"text", "currency", "date_time"}
)

// validateParams checks the parameters of a header or body component. A
// header takes at most one. Header parameters may also be currency or
// date_time, as whatsapp-api-js allows.
func (t *templateState) validateParams(c jsonObj, comp string) error {
	params, _, err := c.array("parameters", false)
	if err != nil {
		return err
	}
	allowed, textMax := bodyParamTypes, t.bodyMax
	if comp == "header" {
		allowed, textMax = headerParamTypes, maxHeaderText
		if len(params) > 1 {
			return invalid(c.at("parameters"), "a header takes at most 1 parameter, got %d", len(params))
		}
	}
	for i, v := range params {
		p, err := asObject(elemPath(c.at("parameters"), i), v)
		if err != nil {
			return err
		}
		pt, err := p.oneOf("type", true, allowed...)
		if err != nil {
			return err
		}
		switch pt {
		case "text":
			_, err = p.text("text", 1, textMax)
		case "currency":
			err = validateCurrency(p)
		case "date_time":
			var dt jsonObj
			if dt, _, err = p.object("date_time", true); err == nil {
				_, err = dt.text("fallback_value", 1, 0)
			}
		case "image", "video", "document":
			var m jsonObj
			if m, _, err = p.object(pt, true); err == nil {
				err = validateMedia(m, pt, false)
			}
		case "location":
			var l jsonObj
			if l, _, err = p.object("location", true); err == nil {
				err = validateLocation(l)
			}
		}
		if err != nil {
			return err
		}
		if pt == "text" || pt == "currency" || pt == "date_time" {
			if err := t.checkNaming(p); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateCurrency(p jsonObj) error {
	cur, _, err := p.object("currency", true)
	if err != nil {
		return err
	}
	if _, err := cur.text("fallback_value", 1, 0); err != nil {
		return err
	}
	code, err := cur.text("code", 1, 0)
	if err != nil {
		return err
	}
	if len(code) != 3 || strings.IndexFunc(code, func(r rune) bool {
		return (r < 'A' || r > 'Z') && (r < 'a' || r > 'z')
	}) >= 0 {
		return invalid(cur.at("code"), "must be an ISO 4217 code of 3 letters such as USD, got %s", quoteShort(code))
	}
	lit, _, err := cur.number("amount_1000", true)
	if err != nil {
		return err
	}
	if n, err := strconv.ParseInt(lit, 10, 64); err != nil || n <= 0 {
		return invalid(cur.at("amount_1000"), "must be a whole number greater than 0 (the amount × 1000), got %s", cutLiteral(lit))
	}
	return nil
}

// checkNaming checks parameter_name (lowercase a-z, digits and _, at most
// 20 characters) and that named and positional parameters are not mixed.
func (t *templateState) checkNaming(p jsonObj) error {
	name, named, err := p.str("parameter_name")
	if err != nil {
		return err
	}
	if named {
		if err := checkLen(p.at("parameter_name"), name, true, 1, maxParameterName); err != nil {
			return err
		}
		if strings.IndexFunc(name, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_'
		}) >= 0 {
			return invalid(p.at("parameter_name"), "must hold only lowercase letters a-z, digits and _, got %s", quoteShort(name))
		}
	}
	rel := strings.TrimPrefix(p.path, t.components)
	switch {
	case t.firstParam == "":
		t.firstParam, t.named = "components"+rel, named
	case named && !t.named:
		return invalid(p.at("parameter_name"), "positional and named parameters must not be mixed; %s has no parameter_name", t.firstParam)
	case !named && t.named:
		return invalid(p.at("parameter_name"), "required: positional and named parameters must not be mixed; %s is named", t.firstParam)
	}
	return nil
}

// buttonParam is the one parameter type of a button sub_type that takes
// exactly one parameter; its value sits under the key of the same name.
var buttonParam = map[string]struct {
	typ, key string
	max      int
}{
	"quick_reply": {"payload", "payload", 0},
	"url":         {"text", "text", maxURLSuffix},
	"copy_code":   {"coupon_code", "coupon_code", 0},
}

// validateButton checks a button component at components[i]: sub_type,
// index 0–9 (a number or a numeric string) used once, and the parameter of
// quick_reply, url and copy_code buttons. Other sub_types (flow, catalog,
// mpm, voice_call, or newer ones) only need parameters that are objects with
// a type.
func (t *templateState) validateButton(c jsonObj, i int) error {
	sub, err := c.text("sub_type", 1, 0)
	if err != nil {
		return err
	}
	if lower := strings.ToLower(sub); lower != sub {
		return invalid(c.at("sub_type"), "must be lowercase: %s, got %s", quoteShort(lower), quoteShort(sub))
	}
	idx, err := buttonIndex(c)
	if err != nil {
		return err
	}
	if j, dup := t.buttons[idx]; dup {
		return invalid(c.at("index"), "button %d already has a component: components[%d]", idx, j)
	}
	t.buttons[idx] = i

	params, _, err := c.array("parameters", false)
	if err != nil {
		return err
	}
	want, one := buttonParam[sub]
	if one && len(params) != 1 {
		return invalid(c.at("parameters"), "a %s button takes exactly 1 parameter, got %d", sub, len(params))
	}
	for j, v := range params {
		p, err := asObject(elemPath(c.at("parameters"), j), v)
		if err != nil {
			return err
		}
		if !one {
			if _, err := p.text("type", 1, 0); err != nil {
				return err
			}
			continue
		}
		if _, err := p.oneOf("type", true, want.typ); err != nil {
			return err
		}
		if _, err := p.text(want.key, 1, want.max); err != nil {
			return err
		}
	}
	return nil
}

// buttonIndex returns the index of a button component: a number or a
// numeric string from 0 to 9.
func buttonIndex(c jsonObj) (int, error) {
	v, ok := c.get("index")
	if !ok {
		return 0, invalid(c.at("index"), "required: the button's position in the template, 0 to %d", maxButtonIndex)
	}
	var lit string
	switch v := v.(type) {
	case json.Number:
		lit = string(v)
	case string:
		lit = v
	default:
		return 0, typeError(c.at("index"), "a number or a numeric string", v)
	}
	n, err := strconv.Atoi(lit)
	if err != nil || strconv.Itoa(n) != lit || n < 0 || n > maxButtonIndex {
		return 0, invalid(c.at("index"), "must be a whole number from 0 to %d, got %s", maxButtonIndex, cutLiteral(lit))
	}
	return n, nil
}

// validateReaction checks a reaction (§3.7): the emoji is one emoji, or ""
// to remove the reaction.
func validateReaction(o jsonObj) error {
	if _, err := o.text("message_id", 1, 0); err != nil {
		return err
	}
	emoji, ok, err := o.str("emoji")
	if err != nil {
		return err
	}
	if !ok {
		return invalid(o.at("emoji"), `required: one emoji, or "" to remove the reaction`)
	}
	if emoji != "" && !isOneEmoji(emoji) {
		return invalid(o.at("emoji"), `must be one emoji, or "" to remove the reaction, got %s`, quoteShort(emoji))
	}
	return nil
}

// isOneEmoji approximates "s is one emoji" without Unicode's segmentation
// tables: at most 10 code points forming either a flag (two regional
// indicators) or elements joined by ZWJ, each element a pictograph (or a
// keycap base 0-9 # *) followed by optional variation selectors, skin-tone
// modifiers, a keycap mark and a tag sequence. So "👍", "👍🏽", "❤️", "1️⃣",
// "🇩🇪", "👩‍❤️‍👨" and "🏴󠁧󠁢󠁳󠁣󠁴󠁿" pass; "👍👍", "ok", ":)" and " 👍" do not.
func isOneEmoji(s string) bool {
	rs := []rune(s)
	if len(rs) == 0 || len(rs) > maxEmojiRunes {
		return false
	}
	if isRegional(rs[0]) {
		return len(rs) == 2 && isRegional(rs[1])
	}
	i := 0
	for {
		if i == len(rs) {
			return false // empty element: nothing after a ZWJ
		}
		switch r := rs[i]; {
		case r == '#' || r == '*' || (r >= '0' && r <= '9'):
			i++
			if i < len(rs) && rs[i] == 0xFE0F {
				i++
			}
			if i == len(rs) || rs[i] != 0x20E3 {
				return false // a bare digit or sign is not an emoji
			}
			i++
		case unicode.Is(pictographic, r) || isSkinTone(r):
			i++
			for i < len(rs) && (rs[i] == 0xFE0F || rs[i] == 0xFE0E || rs[i] == 0x20E3 || isSkinTone(rs[i])) {
				i++
			}
			if i < len(rs) && isTag(rs[i]) {
				for i < len(rs) && isTag(rs[i]) && rs[i] != 0xE007F {
					i++
				}
				if i == len(rs) {
					return false // a tag sequence ends with CANCEL TAG
				}
				i++
			}
		default:
			return false
		}
		if i == len(rs) {
			return true
		}
		if rs[i] != 0x200D {
			return false // two emoji, or an emoji and something else
		}
		i++
	}
}

// isEmojiPart reports whether r is a pictograph or a code point used only
// in emoji sequences.
func isEmojiPart(r rune) bool {
	return unicode.Is(pictographic, r) || isRegional(r) || isSkinTone(r) || r == 0xFE0F || r == 0x20E3
}

func isRegional(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }
func isSkinTone(r rune) bool { return r >= 0x1F3FB && r <= 0x1F3FF }
func isTag(r rune) bool      { return r >= 0xE0020 && r <= 0xE007F }

// pictographic approximates Unicode's Extended_Pictographic property:
// exact enough below U+2600, and whole blocks above it (Miscellaneous
// Symbols, Dingbats, the emoji planes but regional indicators and skin
// tones).
var pictographic = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x00A9, Hi: 0x00A9, Stride: 1},
		{Lo: 0x00AE, Hi: 0x00AE, Stride: 1},
		{Lo: 0x203C, Hi: 0x203C, Stride: 1},
		{Lo: 0x2049, Hi: 0x2049, Stride: 1},
		{Lo: 0x2122, Hi: 0x2122, Stride: 1},
		{Lo: 0x2139, Hi: 0x2139, Stride: 1},
		{Lo: 0x2194, Hi: 0x2199, Stride: 1},
		{Lo: 0x21A9, Hi: 0x21AA, Stride: 1},
		{Lo: 0x231A, Hi: 0x231B, Stride: 1},
		{Lo: 0x2328, Hi: 0x2328, Stride: 1},
		{Lo: 0x2388, Hi: 0x2388, Stride: 1},
		{Lo: 0x23CF, Hi: 0x23CF, Stride: 1},
		{Lo: 0x23E9, Hi: 0x23F3, Stride: 1},
		{Lo: 0x23F8, Hi: 0x23FA, Stride: 1},
		{Lo: 0x24C2, Hi: 0x24C2, Stride: 1},
		{Lo: 0x25AA, Hi: 0x25AB, Stride: 1},
		{Lo: 0x25B6, Hi: 0x25B6, Stride: 1},
		{Lo: 0x25C0, Hi: 0x25C0, Stride: 1},
		{Lo: 0x25FB, Hi: 0x25FE, Stride: 1},
		{Lo: 0x2600, Hi: 0x27BF, Stride: 1},
		{Lo: 0x2934, Hi: 0x2935, Stride: 1},
		{Lo: 0x2B05, Hi: 0x2B07, Stride: 1},
		{Lo: 0x2B1B, Hi: 0x2B1C, Stride: 1},
		{Lo: 0x2B50, Hi: 0x2B50, Stride: 1},
		{Lo: 0x2B55, Hi: 0x2B55, Stride: 1},
		{Lo: 0x3030, Hi: 0x3030, Stride: 1},
		{Lo: 0x303D, Hi: 0x303D, Stride: 1},
		{Lo: 0x3297, Hi: 0x3297, Stride: 1},
		{Lo: 0x3299, Hi: 0x3299, Stride: 1},
	},
	R32: []unicode.Range32{
		{Lo: 0x1F000, Hi: 0x1F1E5, Stride: 1},
		{Lo: 0x1F200, Hi: 0x1F3FA, Stride: 1},
		{Lo: 0x1F400, Hi: 0x1FFFD, Stride: 1},
	},
}

// jsonObj is a JSON object under validation and its path from the body's
// root ("" for the root). Below the root, values are decoded once (numbers
// as json.Number, so literals stay exact) and walked without re-parsing.
type jsonObj struct {
	path string
	m    map[string]any
	// raw is the body's root as ParseCommand decodes it; its values are
	// decoded when asked for.
	raw map[string]json.RawMessage
	// valid: raw's values are valid JSON.
	valid bool
}

// badJSON stands for a root value that is not valid JSON (only possible
// when Validate is handed a map built by hand).
type badJSON struct{}

// at returns the path of key in o.
func (o jsonObj) at(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// elemPath returns the path of element i of the array at path.
func elemPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// get returns the value of key; absent and null are both not ok.
func (o jsonObj) get(key string) (any, bool) {
	if o.raw != nil {
		raw, ok := o.raw[key]
		if !ok {
			return nil, false
		}
		v := decodeValue(raw, o.valid)
		return v, v != nil
	}
	v, ok := o.m[key]
	return v, ok && v != nil
}

// has reports whether key is present and not null, without decoding a
// root value.
func (o jsonObj) has(key string) bool {
	if o.raw != nil {
		raw, ok := o.raw[key]
		return ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
	}
	_, ok := o.get(key)
	return ok
}

func decodeValue(raw json.RawMessage, valid bool) any {
	if s, ok := jsonscan.UnquoteFast(raw); ok { // most root values
		return s
	}
	if !valid && !json.Valid(raw) {
		return badJSON{}
	}
	v, ok := jsonscan.Decode(raw)
	if !ok {
		return badJSON{}
	}
	return v
}

// kindOf names the JSON type of v, with its article, for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return "invalid JSON"
}

func typeError(path, want string, v any) error {
	return invalid(path, "must be %s, got %s", want, kindOf(v))
}

func asObject(path string, v any) (jsonObj, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return jsonObj{}, typeError(path, "an object", v)
	}
	return jsonObj{path: path, m: m}, nil
}

// object returns the object at key; ok is false when it is absent, which
// is an error if required.
func (o jsonObj) object(key string, required bool) (obj jsonObj, ok bool, err error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return jsonObj{}, false, invalid(o.at(key), "required")
		}
		return jsonObj{}, false, nil
	}
	obj, err = asObject(o.at(key), v)
	return obj, err == nil, err
}

// array returns the array at key; ok is false when it is absent, which is
// an error if required.
func (o jsonObj) array(key string, required bool) (elems []any, ok bool, err error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return nil, false, invalid(o.at(key), "required")
		}
		return nil, false, nil
	}
	elems, ok = v.([]any)
	if !ok {
		return nil, false, typeError(o.at(key), "an array", v)
	}
	return elems, true, nil
}

// str returns the string at key; ok is false when it is absent.
func (o jsonObj) str(key string) (s string, ok bool, err error) {
	v, ok := o.get(key)
	if !ok {
		return "", false, nil
	}
	s, ok = v.(string)
	if !ok {
		return "", false, typeError(o.at(key), "a string", v)
	}
	return s, true, nil
}

// text returns the string at key checked against a length in characters:
// min > 0 makes it required and non-empty, max 0 means no limit.
func (o jsonObj) text(key string, min, max int) (string, error) {
	s, ok, err := o.str(key)
	if err != nil {
		return "", err
	}
	return s, checkLen(o.at(key), s, ok, min, max)
}

func checkLen(path, s string, present bool, min, max int) error {
	if !present {
		if min > 0 {
			return invalid(path, "required")
		}
		return nil
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0 && min > 0:
		return invalid(path, "must not be empty")
	case n < min:
		return invalid(path, "at least %d characters, got %d", min, n)
	case max > 0 && n > max:
		return invalid(path, "at most %d characters, got %d", max, n)
	}
	return nil
}

// oneOf returns the string at key, which must be one of allowed.
func (o jsonObj) oneOf(key string, required bool, allowed ...string) (string, error) {
	s, ok, err := o.str(key)
	if err != nil {
		return "", err
	}
	want := strconv.Quote(allowed[0])
	if len(allowed) > 1 {
		want = "one of " + strings.Join(allowed, ", ")
	}
	switch {
	case !ok && required:
		return "", invalid(o.at(key), "required: %s", want)
	case ok && !slices.Contains(allowed, s):
		return "", invalid(o.at(key), "must be %s, got %s", want, quoteShort(s))
	}
	return s, nil
}

// boolean checks the optional value at key is true or false.
func (o jsonObj) boolean(key string) error {
	if v, ok := o.get(key); ok {
		if _, ok := v.(bool); !ok {
			return typeError(o.at(key), "a boolean", v)
		}
	}
	return nil
}

// number returns the literal of the number at key.
func (o jsonObj) number(key string, required bool) (lit string, ok bool, err error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return "", false, invalid(o.at(key), "required")
		}
		return "", false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return "", false, typeError(o.at(key), "a number", v)
	}
	return string(n), true, nil
}

// coordinate checks the required number at key is within ±limit degrees.
func (o jsonObj) coordinate(key string, limit float64) error {
	lit, _, err := o.number(key, true)
	if err != nil {
		return err
	}
	// A literal out of float64 range parses as ±Inf and fails the check.
	if f, _ := strconv.ParseFloat(lit, 64); !(f >= -limit && f <= limit) {
		return invalid(o.at(key), "must be from %g to %g degrees, got %s", -limit, limit, cutLiteral(lit))
	}
	return nil
}

// quoteShort quotes a value for an error message, cut to 40 characters.
func quoteShort(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return strconv.Quote(s)
	}
	n := 0
	for i := range s {
		if n == max {
			return strconv.Quote(s[:i]) + "…"
		}
		n++
	}
	return strconv.Quote(s)
}

// cutLiteral cuts a JSON literal (a number) for an error message.
func cutLiteral(lit string) string {
	if len(lit) > 40 {
		return lit[:40] + "…"
	}
	return lit
}
