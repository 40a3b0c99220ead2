package d360

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The body of POST /messages for a template message, as typed values:
// https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
// and the parameter objects of
// https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#parameter-object

// TemplateMessage is a template send to one recipient.
type TemplateMessage struct {
	Type string `json:"type"` // always "template"
	// To is a phone number; Recipient a business-scoped user id
	// (US.1349...). One of them is set.
	To        string       `json:"to,omitempty"`
	Recipient string       `json:"recipient,omitempty"`
	Template  TemplateSend `json:"template"`
}

// TemplateSend names the template and fills its parameters.
type TemplateSend struct {
	Name       string      `json:"name"`
	Language   Language    `json:"language"`
	Components []Component `json:"components,omitempty"`
}

// Language is the template's language code (en_US).
type Language struct {
	Code string `json:"code"`
}

// Component fills the parameters of the header, the body or one button.
type Component struct {
	Type string `json:"type"` // header, body, button
	// SubType and Index are a button's: url, quick_reply or copy_code, and
	// its position from "0".
	SubType    string      `json:"sub_type,omitempty"`
	Index      string      `json:"index,omitempty"`
	Parameters []Parameter `json:"parameters"`
}

// Parameter is one parameter; the field named by Type is set.
type Parameter struct {
	Type          string    `json:"type"`
	ParameterName string    `json:"parameter_name,omitempty"`
	Text          string    `json:"text,omitempty"`
	Payload       string    `json:"payload,omitempty"`
	CouponCode    string    `json:"coupon_code,omitempty"`
	DateTime      *DateTime `json:"date_time,omitempty"`
	Currency      *Currency `json:"currency,omitempty"`
	Image         *MediaRef `json:"image,omitempty"`
	Video         *MediaRef `json:"video,omitempty"`
	Document      *MediaRef `json:"document,omitempty"`
	Location      *Location `json:"location,omitempty"`
}

// DateTime is a date_time parameter: WhatsApp shows the fallback value.
type DateTime struct {
	FallbackValue string `json:"fallback_value"`
}

// Currency is a currency parameter: an ISO 4217 code and the amount × 1000.
type Currency struct {
	FallbackValue string `json:"fallback_value"`
	Code          string `json:"code"`
	Amount1000    int64  `json:"amount_1000"`
}

// MediaRef is an uploaded media id or a link.
type MediaRef struct {
	ID   string `json:"id,omitempty"`
	Link string `json:"link,omitempty"`
}

// Location is a location header parameter.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

// ParameterTypes are the types NewParameter takes: the API's, and url for
// a URL button's suffix (sent as text).
var ParameterTypes = []string{"text", "currency", "date_time", "image", "video", "document", "location", "payload", "url", "coupon_code"}

// NewParameter builds a parameter of type typ (named when name is set)
// from a value as a person writes it: "USD 19.99" for a currency,
// "LATITUDE,LONGITUDE[,NAME[,ADDRESS]]" for a location, a media id or an
// https link for media.
func NewParameter(typ, name, v string) (Parameter, error) {
	if strings.TrimSpace(v) == "" {
		return Parameter{}, errors.New("empty value")
	}
	p := Parameter{Type: typ, ParameterName: name}
	switch typ {
	case "text":
		p.Text = v
	case "url":
		p.Type, p.Text = "text", v // a url button's parameter is the text of the URL's suffix
	case "payload":
		p.Payload = v
	case "coupon_code":
		p.CouponCode = v
	case "date_time":
		p.DateTime = &DateTime{FallbackValue: v}
	case "currency":
		code, amount, err := ParseMoney(v)
		if err != nil {
			return Parameter{}, err
		}
		p.Currency = &Currency{FallbackValue: v, Code: code, Amount1000: amount}
	case "image", "video", "document":
		ref := &MediaRef{ID: strings.TrimSpace(v)}
		if strings.Contains(v, "://") {
			ref = &MediaRef{Link: strings.TrimSpace(v)}
		}
		switch typ {
		case "image":
			p.Image = ref
		case "video":
			p.Video = ref
		default:
			p.Document = ref
		}
	case "location":
		loc, err := parseLocation(v)
		if err != nil {
			return Parameter{}, err
		}
		p.Location = loc
	default:
		return Parameter{}, fmt.Errorf("unknown parameter type %q", typ)
	}
	return p, nil
}

func parseLocation(v string) (*Location, error) {
	parts := strings.SplitN(v, ",", 4)
	if len(parts) < 2 {
		return nil, fmt.Errorf("location %q: want LATITUDE,LONGITUDE[,NAME[,ADDRESS]]", v)
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
	lng, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("location %q: want LATITUDE,LONGITUDE[,NAME[,ADDRESS]] with numbers", v)
	}
	loc := &Location{Latitude: lat, Longitude: lng}
	if len(parts) > 2 {
		loc.Name = strings.TrimSpace(parts[2])
	}
	if len(parts) > 3 {
		loc.Address = strings.TrimSpace(parts[3])
	}
	return loc, nil
}

// ParseMoney reads "USD 19.99" or "19.99 USD" into the ISO 4217 code and
// the amount × 1000.
func ParseMoney(v string) (string, int64, error) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return "", 0, fmt.Errorf("currency %q: want CODE AMOUNT such as USD 19.99", v)
	}
	code, amount := f[0], f[1]
	if len(amount) == 3 && !strings.ContainsAny(amount, "0123456789") {
		code, amount = amount, code
	}
	if len(code) != 3 || strings.ContainsAny(code, "0123456789.,") {
		return "", 0, fmt.Errorf("currency %q: want an ISO 4217 code of 3 letters and an amount, such as USD 19.99", v)
	}
	whole, frac, _ := strings.Cut(amount, ".")
	if len(frac) > 3 || whole == "" || strings.Trim(whole+frac, "0123456789") != "" {
		return "", 0, fmt.Errorf("currency %q: amount %q is not a number with at most 3 decimals", v, amount)
	}
	n, err := strconv.ParseInt(whole+(frac + "000")[:3], 10, 64)
	if err != nil || n <= 0 {
		return "", 0, fmt.Errorf("currency %q: amount must be greater than 0", v)
	}
	return strings.ToUpper(code), n, nil
}

// IsBSUID tells a business-scoped user id (US.1349...) from a phone number.
// A BSUID is a two-letter country code, a dot, and digits, with ENT. before
// the digits for a parent BSUID: US.13491208655302741918, US.ENT.1349...
// (https://whatsapp-docs.kap.so/documentation/whatsapp/business-scoped-user-ids).
// Anything else, "abc" included, is not one and is checked as a phone number.
func IsBSUID(to string) bool {
	cc, rest, ok := strings.Cut(to, ".")
	if !ok || len(cc) != 2 || !isUpper(cc) {
		return false
	}
	rest = strings.TrimPrefix(rest, "ENT.")
	return rest != "" && strings.Trim(rest, "0123456789") == ""
}

func isUpper(s string) bool {
	return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

// NewTemplateMessage addresses a template message to to: a phone number
// or a business-scoped user id.
func NewTemplateMessage(to, name, language string, components []Component) TemplateMessage {
	m := TemplateMessage{Type: "template", Template: TemplateSend{Name: name, Language: Language{Code: language}, Components: components}}
	if IsBSUID(to) {
		m.Recipient = to
	} else {
		m.To = to
	}
	return m
}

// Body is the JSON body of the message. HTML characters stay as they are
// (a URL's & is not written \u0026).
func (m TemplateMessage) Body() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
