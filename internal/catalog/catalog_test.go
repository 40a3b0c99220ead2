package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/d360/d360test"
)

func templates(t *testing.T, js string) []d360.Template {
	t.Helper()
	var list []d360.Template
	if err := json.Unmarshal([]byte(js), &list); err != nil {
		t.Fatal(err)
	}
	return list
}

const catalogue = `[
 {"name":"order_update","language":"en_US","status":"APPROVED","category":"UTILITY","components":[
   {"type":"HEADER","format":"TEXT","text":"Order {{1}}"},
   {"type":"BODY","text":"Hi {{1}}, your order is {{2}}."},
   {"type":"BUTTONS","buttons":[{"type":"URL","text":"Track","url":"https://x/{{1}}"},{"type":"QUICK_REPLY","text":"Stop"},{"type":"PHONE_NUMBER","text":"Call","phone_number":"+1"}]}]},
 {"name":"order_update","language":"de","status":"approved","category":"UTILITY","components":[{"type":"BODY","text":"Hallo {{1}}"}]},
 {"name":"promo","language":"en","status":"PAUSED","category":"MARKETING","components":[{"type":"BODY","text":"Sale"}]},
 {"name":"welcome","language":"en","status":"approved","category":"MARKETING","parameter_format":"NAMED","components":[
   {"type":"HEADER","format":"IMAGE"},{"type":"BODY","text":"Hi {{first_name}}, code {{code}}"}]}
]`

func loaded(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.New(catalog.Config{Client: fakeLister{}})
	if err != nil {
		t.Fatal(err)
	}
	c.Set(templates(t, catalogue))
	return c
}

type fakeLister struct{}

func (fakeLister) ListTemplates(context.Context) ([]d360.Template, error) { return nil, nil }

func TestCheck(t *testing.T) {
	c := loaded(t)
	tests := []struct {
		name, lang string
		p          catalog.ParamCounts
		kind       error
		detail     string
	}{
		{name: "order_update", lang: "en_US", p: catalog.ParamCounts{Header: 1, HeaderType: "text", Body: 2, Buttons: map[int]int{0: 1}}},
		{name: "order_update", lang: "en_US", p: catalog.ParamCounts{Header: 1, HeaderType: "text", Body: 2, Buttons: map[int]int{0: 1, 1: 1}}}, // quick-reply payload may be given
		{name: "order_updat", lang: "en_US", kind: catalog.ErrUnknownName, detail: "did you mean order_update?"},
		{name: "nothing_like_it_at_all", lang: "en", kind: catalog.ErrUnknownName, detail: "no template of this name in the account"},
		{name: "order_update", lang: "fr", kind: catalog.ErrUnknownLanguage, detail: "exists in de, en_US"},
		{name: "promo", lang: "en", kind: catalog.ErrNotApproved, detail: "status is paused"},
		{name: "order_update", lang: "en_US", p: catalog.ParamCounts{Header: 1, Body: 1, Buttons: map[int]int{0: 1}}, kind: catalog.ErrParamMismatch, detail: "body takes 2 parameters, the send gives 1"},
		{name: "order_update", lang: "en_US", p: catalog.ParamCounts{Body: 2, Buttons: map[int]int{0: 1}}, kind: catalog.ErrParamMismatch, detail: "header needs 1 parameter"},
		{name: "order_update", lang: "en_US", p: catalog.ParamCounts{Header: 1, Body: 2}, kind: catalog.ErrParamMismatch, detail: "button 0 (url) needs 1 parameter"},
		{name: "order_update", lang: "en_US", p: catalog.ParamCounts{Header: 1, HeaderType: "image", Body: 2, Buttons: map[int]int{0: 1}}, kind: catalog.ErrParamMismatch, detail: "header is text; the send's header parameter is image"},
		{name: "order_update", lang: "en_US", p: catalog.ParamCounts{Header: 1, Body: 2, Buttons: map[int]int{0: 1, 2: 1}}, kind: catalog.ErrParamMismatch, detail: "button 2 (phone_number) takes no parameter"},
		{name: "order_update", lang: "en_US", p: catalog.ParamCounts{Header: 1, Body: 2, Buttons: map[int]int{0: 1, 5: 1}}, kind: catalog.ErrParamMismatch, detail: "button 5: the template has 3 buttons"},
		{name: "order_update", lang: "de", p: catalog.ParamCounts{Header: 1, Body: 1}, kind: catalog.ErrParamMismatch, detail: "the template has no header"},
		{name: "welcome", lang: "en", p: catalog.ParamCounts{Header: 1, HeaderType: "image", Body: 2, Names: []string{"code", "first_name"}}},
		{name: "welcome", lang: "en", p: catalog.ParamCounts{Header: 1, HeaderType: "image", Body: 2}, kind: catalog.ErrParamMismatch, detail: "have no parameter_name"},
		{name: "welcome", lang: "en", p: catalog.ParamCounts{Header: 1, HeaderType: "image", Body: 2, Names: []string{"first_name", "coupon"}}, kind: catalog.ErrParamMismatch, detail: "named parameters missing: code; named parameters the template does not have: coupon"},
		{name: "order_update", lang: "de", p: catalog.ParamCounts{Body: 1, Names: []string{"x"}}, kind: catalog.ErrParamMismatch, detail: "the template has positional parameters"},
	}
	for _, tt := range tests {
		err := c.Check(tt.name, tt.lang, tt.p)
		if tt.kind == nil {
			if err != nil {
				t.Errorf("Check(%s, %s, %+v) = %v", tt.name, tt.lang, tt.p, err)
			}
			continue
		}
		if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.detail) {
			t.Errorf("Check(%s, %s, %+v) = %v, want %v with %q", tt.name, tt.lang, tt.p, err, tt.kind, tt.detail)
		}
		for _, other := range []error{catalog.ErrUnknownName, catalog.ErrUnknownLanguage, catalog.ErrNotApproved, catalog.ErrParamMismatch} {
			if other != tt.kind && errors.Is(err, other) {
				t.Errorf("%v also matches %v", err, other)
			}
		}
		if catalog.Unknown(err) != (tt.kind == catalog.ErrUnknownName || tt.kind == catalog.ErrUnknownLanguage) {
			t.Errorf("Unknown(%v) wrong", err)
		}
	}
	if got := c.Category("welcome", "en"); got != "MARKETING" {
		t.Errorf("Category = %q", got)
	}
	if got := c.Category("nope", "en"); got != "" {
		t.Errorf("Category of an unknown template = %q", got)
	}
}

func TestCheckPassesEverythingBeforeTheFirstLoad(t *testing.T) {
	c, _ := catalog.New(catalog.Config{Client: fakeLister{}})
	if c.Loaded() {
		t.Fatal("loaded before any load")
	}
	if err := c.Check("anything", "xx", catalog.ParamCounts{Body: 9}); err != nil {
		t.Errorf("Check before the first load = %v, want nil (the API decides)", err)
	}
}

func TestCommandParams(t *testing.T) {
	body := []byte(`{"to":"1","type":"template","template":{"name":"welcome","language":{"code":"en"},"components":[
		{"type":"header","parameters":[{"type":"image","image":{"id":"1"}}]},
		{"type":"body","parameters":[{"type":"text","text":"J","parameter_name":"first_name"},{"type":"text","text":"X","parameter_name":"code"}]},
		{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"a"}]},
		{"type":"button","sub_type":"quick_reply","index":1,"parameters":[{"type":"payload","payload":"p"}]}]}}`)
	name, lang, p, ok := catalog.CommandParams(body)
	if !ok || name != "welcome" || lang != "en" || p.Header != 1 || p.HeaderType != "image" || p.Body != 2 ||
		strings.Join(p.Names, ",") != "first_name,code" || p.Buttons[0] != 1 || p.Buttons[1] != 1 {
		t.Fatalf("CommandParams = %q %q %+v %v", name, lang, p, ok)
	}
	for _, b := range []string{`{"type":"text","text":{"body":"x"}}`, `not json`, `{"type":"template"}`} {
		if _, _, _, ok := catalog.CommandParams([]byte(b)); ok {
			t.Errorf("CommandParams(%s) ok", b)
		}
	}
	c := loaded(t)
	if err := c.CheckCommand(body); !errors.Is(err, catalog.ErrParamMismatch) || !strings.Contains(err.Error(), "button 0: the template has 0 buttons") {
		t.Errorf("CheckCommand with buttons the template lacks = %v", err)
	}
	noButtons := []byte(`{"to":"1","type":"template","template":{"name":"welcome","language":{"code":"en"},"components":[
		{"type":"header","parameters":[{"type":"image","image":{"id":"1"}}]},
		{"type":"body","parameters":[{"type":"text","text":"J","parameter_name":"first_name"},{"type":"text","text":"X","parameter_name":"code"}]}]}}`)
	if err := c.CheckCommand(noButtons); err != nil {
		t.Errorf("CheckCommand = %v", err)
	}
	if err := c.CheckCommand([]byte(`{"type":"text","text":{"body":"x"}}`)); err != nil {
		t.Errorf("CheckCommand of a text = %v", err)
	}
}

// countingLister serves a catalogue that can change and counts loads.
type countingLister struct {
	mu    sync.Mutex
	list  []d360.Template
	err   error
	loads int
}

func (l *countingLister) ListTemplates(context.Context) ([]d360.Template, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loads++
	return l.list, l.err
}

func (l *countingLister) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loads
}

func TestRefreshOnAMissFindsANewTemplate(t *testing.T) {
	l := &countingLister{list: templates(t, catalogue)}
	c, _ := catalog.New(catalog.Config{Client: l, MinRefresh: time.Hour})
	ctx := context.Background()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.list = append(l.list, templates(t, `[{"name":"fresh","language":"en","status":"approved","components":[{"type":"BODY","text":"x"}]}]`)...)
	l.mu.Unlock()
	if err := c.Check("fresh", "en", catalog.ParamCounts{}); !catalog.Unknown(err) {
		t.Fatalf("Check = %v, want unknown before a refresh", err)
	}
	// MinRefresh has not passed: no second load.
	c.Refresh(ctx)
	if n := l.count(); n != 1 {
		t.Fatalf("%d loads, want 1 (MinRefresh)", n)
	}
	c2, _ := catalog.New(catalog.Config{Client: l, MinRefresh: time.Nanosecond})
	c2.Refresh(ctx)
	time.Sleep(time.Millisecond)
	c2.Refresh(ctx)
	if err := c2.Check("fresh", "en", catalog.ParamCounts{}); err != nil {
		t.Errorf("after refresh: %v", err)
	}
}

func TestRunKeepsTheLastGoodCopy(t *testing.T) {
	l := &countingLister{list: templates(t, catalogue)}
	c, _ := catalog.New(catalog.Config{Client: l, Refresh: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for l.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	l.mu.Lock()
	l.err = errors.New("API down")
	n := l.loads
	l.mu.Unlock()
	for l.count() < n+2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil at the end of its context", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if !c.Loaded() || c.Check("order_update", "en_US", catalog.ParamCounts{Header: 1, Body: 2, Buttons: map[int]int{0: 1}}) != nil {
		t.Errorf("the last good copy was not kept")
	}
}

// Against the stand-in's templates API through the real client.
func TestCatalogueFromTheStandIn(t *testing.T) {
	s := d360test.New(d360test.Config{APIKey: "k"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	defer s.Close()
	cl, _ := d360.New(d360.Config{BaseURL: srv.URL, APIKey: "k"})
	c, _ := catalog.New(catalog.Config{Client: cl})
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Templates()); got != 2 {
		t.Fatalf("%d templates, want the stand-in's 2", got)
	}
	if err := c.CheckCommand([]byte(`{"to":"1","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}`)); err != nil {
		t.Errorf("hello_world: %v", err)
	}
	if err := c.CheckCommand([]byte(`{"to":"1","type":"template","template":{"name":"order_update","language":{"code":"en_US"}}}`)); !errors.Is(err, catalog.ErrParamMismatch) {
		t.Errorf("order_update without parameters: %v", err)
	}
}
