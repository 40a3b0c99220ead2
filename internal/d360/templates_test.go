package d360_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/d360/d360test"
)

func templatesStandIn(t *testing.T, cfg d360test.Config) (*d360test.Server, *d360.Client, string) {
	t.Helper()
	cfg.APIKey = "tmpl-key"
	s := d360test.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	c, err := d360.New(d360.Config{BaseURL: srv.URL, APIKey: "tmpl-key"})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, srv.URL
}

func TestListTemplatesFollowsPages(t *testing.T) {
	var seed []map[string]any
	for i := range 2345 {
		seed = append(seed, map[string]any{"name": fmt.Sprintf("t%04d", i), "language": "en", "status": "approved", "category": "UTILITY",
			"components": []any{map[string]any{"type": "BODY", "text": "Hi {{1}}", "future_field": i}}})
	}
	_, c, _ := templatesStandIn(t, d360test.Config{Templates: seed})
	got, err := c.ListTemplates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2345 || got[0].Name != "t0000" || got[2344].Name != "t2344" {
		t.Fatalf("listed %d templates (first %q)", len(got), got[0].Name)
	}
	// Unknown fields are kept in Raw and written back by MarshalJSON.
	b, _ := json.Marshal(got[7])
	if !strings.Contains(string(b), `"future_field":7`) {
		t.Errorf("round trip lost an unknown field: %s", b)
	}
	if p := got[0].Params(); p.Body != 1 {
		t.Errorf("Params = %+v, want 1 body parameter", p)
	}
}

func TestCreateAndDeleteTemplate(t *testing.T) {
	s, c, _ := templatesStandIn(t, d360test.Config{CreatedStatus: "submitted"})
	ctx := context.Background()
	def := []byte(`{"name":"promo_spring","category":"MARKETING","language":"en_US","components":[{"type":"BODY","text":"Hi {{1}}","example":{"body_text":[["Jane"]]}}]}`)
	if probs := d360.CheckTemplate(def); len(probs) != 0 {
		t.Fatalf("CheckTemplate = %v", probs)
	}
	created, err := c.CreateTemplate(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Status != "submitted" {
		t.Errorf("created = %+v", created)
	}
	_, err = c.CreateTemplate(ctx, def)
	var apiErr *d360.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Details, "already exists") {
		t.Errorf("second create: %v", err)
	}
	if n := len(s.Templates()); n != 3 {
		t.Errorf("stand-in holds %d templates, want the 2 defaults + 1", n)
	}
	if err := c.DeleteTemplate(ctx, "promo_spring"); err != nil {
		t.Fatal(err)
	}
	err = c.DeleteTemplate(ctx, "promo_spring")
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("deleting again: %v, want a 404 APIError", err)
	}
}

func TestTemplatesWrongKey(t *testing.T) {
	_, _, url := templatesStandIn(t, d360test.Config{})
	c, _ := d360.New(d360.Config{BaseURL: url, APIKey: "wrong"})
	_, err := c.ListTemplates(context.Background())
	var apiErr *d360.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("err = %v, want a 401 that does not echo the key", err)
	}
}

func TestTemplatesPathUnderASandboxBase(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Method+" "+r.URL.Path)
		w.Write([]byte(`{"waba_templates":[],"total":0}`))
	}))
	defer srv.Close()
	for _, base := range []string{srv.URL, srv.URL + "/v1", srv.URL + "/v1/"} {
		c, _ := d360.New(d360.Config{BaseURL: base, APIKey: "k"})
		c.ListTemplates(context.Background())
		c.DeleteTemplate(context.Background(), "a_b")
	}
	want := "GET /v1/configs/templates,DELETE /v1/configs/templates/a_b"
	want = strings.Join([]string{want, want, want}, ",")
	if got := strings.Join(paths, ","); got != want {
		t.Errorf("paths = %s\nwant    %s", got, want)
	}
}

func TestCheckTemplate(t *testing.T) {
	long := strings.Repeat("a", 1025)
	tests := []struct {
		name string
		def  string
		want []string // substrings of the problems, in order; "warning:" for warnings
	}{
		{name: "fine", def: `{"name":"a_1","category":"UTILITY","language":"en_US","components":[{"type":"BODY","text":"Hi"}]}`},
		{name: "everything missing", def: `{"components":[]}`, want: []string{"name: required", "category: required", "language: required", "a BODY component is required"}},
		{name: "name", def: `{"name":"Promo-1","category":"UTILITY","language":"en","components":[{"type":"BODY","text":"x"}]}`, want: []string{"name: only lowercase"}},
		{name: "name too long", def: `{"name":"` + strings.Repeat("a", 513) + `","category":"UTILITY","language":"en","components":[{"type":"BODY","text":"x"}]}`, want: []string{"at most 512 characters"}},
		{name: "category case", def: `{"name":"a","category":"utility","language":"en","components":[{"type":"BODY","text":"x"}]}`, want: []string{"must be upper case: UTILITY"}},
		{name: "language", def: `{"name":"a","category":"UTILITY","language":"english","components":[{"type":"BODY","text":"x"}]}`, want: []string{"language: a language code"}},
		{name: "body too long", def: `{"name":"a","category":"UTILITY","language":"en","components":[{"type":"BODY","text":"` + long + `"}]}`, want: []string{"components[0].text: at most 1024 characters, got 1025"}},
		{name: "header and footer", def: `{"name":"a","category":"UTILITY","language":"en","components":[{"type":"HEADER","format":"TEXT","text":"{{1}} {{2}}"},{"type":"BODY","text":"x"},{"type":"FOOTER","text":"` + strings.Repeat("f", 61) + `"}]}`,
			want: []string{"components[0].text: a text header takes at most 1 variable, got 2", "components[2].text: at most 60 characters", "warning: components[0].example"}},
		{name: "two bodies", def: `{"name":"a","category":"UTILITY","language":"en","components":[{"type":"BODY","text":"x"},{"type":"BODY","text":"y"}]}`, want: []string{"at most one BODY component"}},
		{name: "variables with a gap", def: `{"name":"a","category":"UTILITY","language":"en","components":[{"type":"BODY","text":"{{1}} {{3}}","example":{"body_text":[["a","b"]]}}]}`, want: []string{"numbered {{1}} to {{2}} without gaps, got {{3}}"}},
		{name: "named without format", def: `{"name":"a","category":"UTILITY","language":"en","components":[{"type":"BODY","text":"Hi {{first_name}}"}]}`, want: []string{"set parameter_format NAMED", "warning:"}},
		{name: "named fine", def: `{"name":"a","category":"UTILITY","language":"en","parameter_format":"NAMED","components":[{"type":"BODY","text":"Hi {{first_name}}","example":{"body_text_named_params":[{"param_name":"first_name","example":"J"}]}}]}`},
		{name: "positional under NAMED", def: `{"name":"a","category":"UTILITY","language":"en","parameter_format":"NAMED","components":[{"type":"BODY","text":"Hi {{1}}","example":{}}]}`, want: []string{"positional but parameter_format is NAMED"}},
		{name: "buttons", def: `{"name":"a","category":"MARKETING","language":"en","components":[{"type":"BODY","text":"x"},{"type":"BUTTONS","buttons":[
			{"type":"URL","text":"a","url":"https://a"},{"type":"URL","text":"b","url":"https://b"},{"type":"URL","text":"c","url":"ftp://c"},
			{"type":"PHONE_NUMBER","text":"p","phone_number":"+1"},{"type":"PHONE_NUMBER","text":"q"},
			{"type":"QUICK_REPLY","text":"` + strings.Repeat("q", 26) + `"},{"type":"QUICK_REPLY"},{"type":""},{"type":"QUICK_REPLY","text":"x"},{"type":"QUICK_REPLY","text":"y"},{"type":"QUICK_REPLY","text":"z"}]}]}`,
			want: []string{"at most 10 buttons, got 11", "buttons[2]: at most 2 URL buttons", "buttons[2].url: must be an http(s) URL", "buttons[4]: at most 1 phone-number button", "buttons[4].phone_number: required",
				"buttons[5].text: at most 25 characters", "buttons[6].text: required", "buttons[7].type: required"}},
		{name: "authentication body without text", def: `{"name":"otp","category":"AUTHENTICATION","language":"en","components":[{"type":"BODY","add_security_recommendation":true},{"type":"BUTTONS","buttons":[{"type":"OTP","otp_type":"COPY_CODE"}]}]}`},
		{name: "media header wants an example", def: `{"name":"a","category":"MARKETING","language":"en","components":[{"type":"HEADER","format":"IMAGE"},{"type":"BODY","text":"x"}]}`, want: []string{"warning: components[0].example"}},
		{name: "not JSON", def: `{`, want: []string{"not a JSON template definition"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := d360.CheckTemplate([]byte(tt.def))
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant %d: %q", strings.Join(got, "\n"), len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
}

func TestTemplateParams(t *testing.T) {
	var tmpl d360.Template
	err := json.Unmarshal([]byte(`{"name":"x","language":"en","status":"APPROVED","category":"MARKETING","parameter_format":"NAMED","components":[
		{"type":"HEADER","format":"IMAGE"},
		{"type":"BODY","text":"Hi {{first_name}}, {{order}} and {{first_name}} again"},
		{"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Stop"},{"type":"URL","text":"Go","url":"https://x/{{1}}"},{"type":"URL","text":"Static","url":"https://x"},{"type":"COPY_CODE","example":"A"},{"type":"PHONE_NUMBER","text":"Call","phone_number":"+1"}]}]}`), &tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.Approved() {
		t.Error("APPROVED is approved")
	}
	p := tmpl.Params()
	got := fmt.Sprintf("%+v", p)
	want := "{Named:true HeaderFormat:IMAGE Header:1 HeaderNames:[] Body:2 BodyNames:[first_name order] Buttons:[{Type:QUICK_REPLY SubType:quick_reply Params:0 Optional:true} {Type:URL SubType:url Params:1 Optional:false} {Type:URL SubType:url Params:0 Optional:false} {Type:COPY_CODE SubType:copy_code Params:1 Optional:false} {Type:PHONE_NUMBER SubType:phone_number Params:0 Optional:false}]}"
	if got != want {
		t.Errorf("Params =\n%s\nwant\n%s", got, want)
	}
	if v := d360.Variables("{{ 1 }} {{2}} {{1}} {{}}"); fmt.Sprint(v) != "[1 2 ]" {
		t.Errorf("Variables = %q", v)
	}
}
