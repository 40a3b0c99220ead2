package d360

// The templates API (reference §14): GET and POST {base}/v1/configs/templates,
// DELETE {base}/v1/configs/templates/{name}; plus what a template definition
// tells about the parameters a send must carry (reference §3.6, §4).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Template is one language of one template of the account, as the templates
// API lists it. Raw keeps the API's JSON, unknown fields included.
type Template struct {
	ID              string              `json:"id,omitempty"`
	Name            string              `json:"name"`
	Language        string              `json:"language"`
	Status          string              `json:"status,omitempty"`
	Category        string              `json:"category"`
	ParameterFormat string              `json:"parameter_format,omitempty"`
	RejectedReason  string              `json:"rejected_reason,omitempty"`
	Components      []TemplateComponent `json:"components"`

	Raw json.RawMessage `json:"-"`
}

// TemplateComponent is a HEADER, BODY, FOOTER or BUTTONS component of a
// template definition (Meta's spelling: upper case). Other component types
// (CAROUSEL, LIMITED_TIME_OFFER, …) are kept in Template.Raw.
type TemplateComponent struct {
	Type    string           `json:"type"`
	Format  string           `json:"format,omitempty"`
	Text    string           `json:"text,omitempty"`
	Buttons []TemplateButton `json:"buttons,omitempty"`
}

// TemplateButton is a button of a BUTTONS component.
type TemplateButton struct {
	Type        string `json:"type"`
	Text        string `json:"text,omitempty"`
	URL         string `json:"url,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	OTPType     string `json:"otp_type,omitempty"`
}

// UnmarshalJSON keeps the raw JSON beside the typed fields.
func (t *Template) UnmarshalJSON(b []byte) error {
	type plain Template
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = Template(p)
	t.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// MarshalJSON writes Raw when the template came from JSON, so unknown fields
// survive a round trip.
func (t Template) MarshalJSON() ([]byte, error) {
	if len(t.Raw) > 0 {
		return t.Raw, nil
	}
	type plain Template
	return json.Marshal(plain(t))
}

// Approved reports whether the template can be sent (status APPROVED, in
// whatever case the API spells it).
func (t Template) Approved() bool { return strings.EqualFold(t.Status, "approved") }

// templatesURL is {base}/v1/configs/templates; a base that already ends in
// /v1 (the sandbox) gets no second /v1.
func (c *Client) templatesURL(elem ...string) string {
	base := c.baseURL()
	if !strings.HasSuffix(strings.TrimSuffix(base.Path, "/"), "/v1") {
		base = base.JoinPath("v1")
	}
	return base.JoinPath(append([]string{"configs", "templates"}, elem...)...).String()
}

// baseURL is the base URL the client was built with: New stores
// {base}/messages.
func (c *Client) baseURL() *url.URL {
	u, _ := url.Parse(strings.TrimSuffix(c.messagesURL, "/messages"))
	return u
}

// maxListLimit is the page size of ListTemplates; an account has at most 250
// templates, each in a few languages.
const maxListLimit = 1000

// ListTemplates returns every template of the account (all languages and
// statuses), following the API's pages.
func (c *Client) ListTemplates(ctx context.Context) ([]Template, error) {
	var out []Template
	for offset := 0; ; {
		q := url.Values{"limit": {strconv.Itoa(maxListLimit)}, "offset": {strconv.Itoa(offset)}}
		raw, err := c.call(ctx, http.MethodGet, c.templatesURL()+"?"+q.Encode(), nil, "")
		if err != nil {
			return nil, fmt.Errorf("listing templates: %w", err)
		}
		var page struct {
			Templates []Template `json:"waba_templates"`
			Count     *int       `json:"count"`
			Total     *int       `json:"total"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("listing templates: unreadable answer: %w", err)
		}
		out = append(out, page.Templates...)
		offset += len(page.Templates)
		if len(page.Templates) == 0 || page.Total == nil || offset >= *page.Total {
			return out, nil
		}
	}
}

// CreatedTemplate is the API's answer to a create.
type CreatedTemplate struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Category string `json:"category"`
	// Raw is the whole answer.
	Raw json.RawMessage `json:"-"`
}

// CreateTemplate submits a template definition (the JSON body of POST
// /v1/configs/templates) as it is. Check it with CheckTemplate first.
func (c *Client) CreateTemplate(ctx context.Context, definition []byte) (CreatedTemplate, error) {
	raw, err := c.call(ctx, http.MethodPost, c.templatesURL(), bytes.NewReader(definition), "application/json")
	if err != nil {
		return CreatedTemplate{}, fmt.Errorf("creating template: %w", err)
	}
	var ct CreatedTemplate
	_ = json.Unmarshal(raw, &ct) // the answer's shape varies; Raw has it all
	ct.Raw = raw
	return ct, nil
}

// DeleteTemplate deletes every language of the template name.
func (c *Client) DeleteTemplate(ctx context.Context, name string) error {
	if name == "" {
		return fmt.Errorf("deleting template: empty name")
	}
	if _, err := c.call(ctx, http.MethodDelete, c.templatesURL(name), nil, ""); err != nil {
		return fmt.Errorf("deleting template %q: %w", name, err)
	}
	return nil
}

// call sends one request and returns the answer's body; a non-2xx answer is
// an *APIError, a transport failure a *TransportError.
func (c *Client) call(ctx context.Context, method, u string, body io.Reader, contentType string) ([]byte, error) {
	cl, err := c.request(ctx, method, u, body, contentType)
	if err != nil {
		return nil, err
	}
	_, raw, err := c.exchange(cl, nil, 16<<20)
	return raw, err
}

// Limits of a template definition (reference §4); lengths in characters.
const (
	MaxTemplateName       = 512
	MaxTemplateBody       = 1024
	MaxTemplateHeaderText = 60
	MaxTemplateFooter     = 60
	MaxTemplateButtons    = 10
	MaxTemplateURLButtons = 2
	MaxTemplatePhone      = 1
	MaxTemplateButtonText = 25
	MaxTemplateButtonURL  = 2000
	MaxParameterName      = 20
)

// TemplateCategories are the categories a template is created in.
var TemplateCategories = []string{"MARKETING", "UTILITY", "AUTHENTICATION"}

var (
	placeholder   = regexp.MustCompile(`\{\{\s*([^{}\s]*)\s*\}\}`)
	languageCode  = regexp.MustCompile(`^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*$`)
	headerFormats = []string{"TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"}
)

// Variables returns the placeholders of a template text in order of first
// appearance: "1", "2" for {{1}} {{2}}, or names for {{first_name}}.
func Variables(text string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// TemplateProblem is one finding of CheckTemplate: Field is a JSON path
// such as components[2].buttons[0].text.
type TemplateProblem struct {
	Field   string
	Rule    string
	Warning bool // the API may accept it; worth a look
}

func (p TemplateProblem) String() string {
	kind := "error"
	if p.Warning {
		kind = "warning"
	}
	if p.Field == "" {
		return kind + ": " + p.Rule
	}
	return kind + ": " + p.Field + ": " + p.Rule
}

// CheckTemplate checks a template definition (the JSON body of a create)
// against the documented limits, so a definition the API would refuse is
// caught before the call: name ≤ 512 of a-z, 0-9 and _; category; language
// code; at most one header, body, footer and buttons component; body ≤ 1024,
// header text and footer ≤ 60, text header ≤ 1 variable; ≤ 10 buttons, ≤ 2
// URL, ≤ 1 phone number, button text ≤ 25, URL ≤ 2000; variables numbered
// 1..n without gaps, or named (a-z, 0-9, _, ≤ 20) with parameter_format
// NAMED, never mixed. Missing examples for variables are warnings (Meta's
// review asks for them). It returns every problem found, errors first.
func CheckTemplate(definition []byte) []TemplateProblem {
	var errs, warns []TemplateProblem
	fail := func(field, format string, args ...any) {
		errs = append(errs, TemplateProblem{Field: field, Rule: fmt.Sprintf(format, args...)})
	}
	warn := func(field, format string, args ...any) {
		warns = append(warns, TemplateProblem{Field: field, Rule: fmt.Sprintf(format, args...), Warning: true})
	}
	var t Template
	if err := json.Unmarshal(definition, &t); err != nil {
		return []TemplateProblem{{Rule: "not a JSON template definition: " + err.Error()}}
	}
	var rawComps struct {
		Components []map[string]json.RawMessage `json:"components"`
	}
	_ = json.Unmarshal(definition, &rawComps)

	switch {
	case t.Name == "":
		fail("name", "required")
	case utf8.RuneCountInString(t.Name) > MaxTemplateName:
		fail("name", "at most %d characters, got %d", MaxTemplateName, utf8.RuneCountInString(t.Name))
	case strings.IndexFunc(t.Name, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' }) >= 0:
		fail("name", "only lowercase letters a-z, digits and _, got %q", t.Name)
	}
	switch {
	case t.Category == "":
		fail("category", "required: one of %s", strings.Join(TemplateCategories, ", "))
	case !slices.Contains(TemplateCategories, t.Category):
		if slices.Contains(TemplateCategories, strings.ToUpper(t.Category)) {
			fail("category", "must be upper case: %s", strings.ToUpper(t.Category))
		} else {
			fail("category", "one of %s, got %q", strings.Join(TemplateCategories, ", "), t.Category)
		}
	}
	switch {
	case t.Language == "":
		fail("language", "required, e.g. en_US")
	case !languageCode.MatchString(t.Language):
		fail("language", "a language code such as en, en_US or pt_BR, got %q", t.Language)
	}
	named := strings.EqualFold(t.ParameterFormat, "NAMED")
	if t.ParameterFormat != "" && !named && !strings.EqualFold(t.ParameterFormat, "POSITIONAL") {
		fail("parameter_format", "NAMED or POSITIONAL, got %q", t.ParameterFormat)
	}

	seen := map[string]int{}
	hasBody := false
	for i, c := range t.Components {
		path := fmt.Sprintf("components[%d]", i)
		typ := strings.ToUpper(c.Type)
		if c.Type == "" {
			fail(path+".type", "required: HEADER, BODY, FOOTER or BUTTONS")
			continue
		}
		if j, dup := seen[typ]; dup && slices.Contains([]string{"HEADER", "BODY", "FOOTER", "BUTTONS"}, typ) {
			fail(path+".type", "at most one %s component; components[%d] is one", typ, j)
			continue
		}
		seen[typ] = i
		hasExample := i < len(rawComps.Components) && len(rawComps.Components[i]["example"]) > 0
		switch typ {
		case "HEADER":
			format := strings.ToUpper(c.Format)
			if format == "" {
				format = "TEXT"
			}
			if !slices.Contains(headerFormats, format) {
				fail(path+".format", "one of %s, got %q", strings.Join(headerFormats, ", "), c.Format)
				break
			}
			if format != "TEXT" {
				if !hasExample && format != "LOCATION" {
					warn(path+".example", "a %s header needs an example (header_handle) for review", format)
				}
				break
			}
			checkText(fail, path+".text", c.Text, MaxTemplateHeaderText, true)
			vars := Variables(c.Text)
			if len(vars) > 1 {
				fail(path+".text", "a text header takes at most 1 variable, got %d", len(vars))
			}
			checkVariables(fail, path+".text", vars, named)
			if len(vars) > 0 && !hasExample {
				warn(path+".example", "variables need an example (header_text) for review")
			}
		case "BODY":
			hasBody = true
			if c.Text == "" && strings.EqualFold(t.Category, "AUTHENTICATION") {
				break // Meta fills in authentication bodies
			}
			checkText(fail, path+".text", c.Text, MaxTemplateBody, true)
			vars := Variables(c.Text)
			checkVariables(fail, path+".text", vars, named)
			if len(vars) > 0 && !hasExample {
				warn(path+".example", "variables need an example (body_text) for review")
			}
		case "FOOTER":
			if c.Text == "" && strings.EqualFold(t.Category, "AUTHENTICATION") {
				break
			}
			checkText(fail, path+".text", c.Text, MaxTemplateFooter, true)
		case "BUTTONS":
			checkButtons(fail, warn, path, c.Buttons)
		}
	}
	if !hasBody && !strings.EqualFold(t.Category, "AUTHENTICATION") {
		fail("components", "a BODY component is required")
	}
	return append(errs, warns...)
}

func checkText(fail func(string, string, ...any), path, s string, max int, required bool) {
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0 && required:
		fail(path, "required")
	case n > max:
		fail(path, "at most %d characters, got %d", max, n)
	}
}

// checkVariables: positional variables are 1..n without gaps; named ones
// are a-z, 0-9 and _ of at most 20 characters; the two are never mixed.
func checkVariables(fail func(string, string, ...any), path string, vars []string, named bool) {
	if len(vars) == 0 {
		return
	}
	var nums []int
	for _, v := range vars {
		n, err := strconv.Atoi(v)
		switch {
		case err == nil && named:
			fail(path, "{{%s}} is positional but parameter_format is NAMED", v)
			return
		case err == nil:
			nums = append(nums, n)
		case !named:
			fail(path, "{{%s}} is a named variable: set parameter_format NAMED, or number the variables {{1}}, {{2}}, …", v)
			return
		case v == "" || len(v) > MaxParameterName || strings.IndexFunc(v, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' }) >= 0:
			fail(path, "variable name {{%s}}: lowercase a-z, digits and _, at most %d characters", v, MaxParameterName)
			return
		}
	}
	slices.Sort(nums)
	for i, n := range nums {
		if n != i+1 {
			fail(path, "variables must be numbered {{1}} to {{%d}} without gaps, got {{%d}}", len(nums), n)
			return
		}
	}
}

func checkButtons(fail, warn func(string, string, ...any), path string, buttons []TemplateButton) {
	if len(buttons) == 0 {
		fail(path+".buttons", "at least 1 button in a BUTTONS component")
		return
	}
	if len(buttons) > MaxTemplateButtons {
		fail(path+".buttons", "at most %d buttons, got %d", MaxTemplateButtons, len(buttons))
	}
	urls, phones := 0, 0
	for i, b := range buttons {
		bp := fmt.Sprintf("%s.buttons[%d]", path, i)
		typ := strings.ToUpper(b.Type)
		switch typ {
		case "URL":
			if urls++; urls == MaxTemplateURLButtons+1 {
				fail(bp, "at most %d URL buttons", MaxTemplateURLButtons)
			}
			switch u := b.URL; {
			case u == "":
				fail(bp+".url", "required")
			case utf8.RuneCountInString(u) > MaxTemplateButtonURL:
				fail(bp+".url", "at most %d characters", MaxTemplateButtonURL)
			case !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://"):
				fail(bp+".url", "must be an http(s) URL, got %q", u)
			case len(Variables(u)) > 1:
				fail(bp+".url", "takes at most 1 variable (a suffix)")
			}
		case "PHONE_NUMBER":
			if phones++; phones == MaxTemplatePhone+1 {
				fail(bp, "at most %d phone-number button", MaxTemplatePhone)
			}
			if b.PhoneNumber == "" {
				fail(bp+".phone_number", "required")
			}
		case "":
			fail(bp+".type", "required: QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP, FLOW, …")
			continue
		}
		if typ == "QUICK_REPLY" || typ == "URL" || typ == "PHONE_NUMBER" {
			checkText(fail, bp+".text", b.Text, MaxTemplateButtonText, true)
		} else if utf8.RuneCountInString(b.Text) > MaxTemplateButtonText {
			fail(bp+".text", "at most %d characters", MaxTemplateButtonText)
		}
	}
}

// TemplateParams is what a send of a template must carry, derived from its
// definition (reference §3.6).
type TemplateParams struct {
	// Named: the template uses named variables (parameter_format NAMED).
	Named bool
	// HeaderFormat is TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION; empty
	// without a header.
	HeaderFormat string
	// Header is the number of header parameters: 1 for a media or location
	// header or a text header with a variable, else 0.
	Header int
	// HeaderNames are the named variables of a text header.
	HeaderNames []string
	// Body is the number of body parameters; BodyNames their names when
	// Named.
	Body      int
	BodyNames []string
	// Buttons lists the buttons in template order (the send's index).
	Buttons []ButtonParams
}

// ButtonParams says what a button needs at send time.
type ButtonParams struct {
	Type string // QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP, FLOW, …
	// SubType is the sub_type a send uses for it (quick_reply, url,
	// copy_code, flow, …).
	SubType string
	// Params is how many parameters a send must give (0 or 1); Optional
	// tells that a parameter may also be given (a quick-reply payload, a
	// flow token).
	Params   int
	Optional bool
}

// Params derives what a send of t must carry.
func (t Template) Params() TemplateParams {
	p := TemplateParams{Named: strings.EqualFold(t.ParameterFormat, "NAMED")}
	for _, c := range t.Components {
		switch strings.ToUpper(c.Type) {
		case "HEADER":
			p.HeaderFormat = strings.ToUpper(c.Format)
			if p.HeaderFormat == "" {
				p.HeaderFormat = "TEXT"
			}
			if p.HeaderFormat != "TEXT" {
				p.Header = 1
				break
			}
			vars := Variables(c.Text)
			p.Header = min(len(vars), 1)
			if p.Named {
				p.HeaderNames = vars
			}
		case "BODY":
			vars := Variables(c.Text)
			p.Body = len(vars)
			if p.Named {
				p.BodyNames = vars
			}
		case "BUTTONS":
			for _, b := range c.Buttons {
				bp := ButtonParams{Type: strings.ToUpper(b.Type)}
				switch bp.Type {
				case "URL":
					bp.SubType = "url"
					if len(Variables(b.URL)) > 0 {
						bp.Params = 1
					}
				case "QUICK_REPLY":
					bp.SubType, bp.Optional = "quick_reply", true
				case "COPY_CODE":
					bp.SubType, bp.Params = "copy_code", 1
				case "OTP":
					// Authentication templates: the code goes in as the
					// url parameter of the button (one-tap and copy-code).
					bp.SubType, bp.Optional = "url", true
				case "FLOW":
					bp.SubType, bp.Optional = "flow", true
				case "PHONE_NUMBER":
					bp.SubType = "phone_number"
				default:
					bp.SubType, bp.Optional = strings.ToLower(bp.Type), true
				}
				p.Buttons = append(p.Buttons, bp)
			}
		}
	}
	return p
}
