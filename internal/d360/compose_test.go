package d360_test

import (
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/d360"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in     string
		code   string
		amount int64
		bad    bool
	}{
		{"USD 19.99", "USD", 19990, false},
		{"19.99 EUR", "EUR", 19990, false},
		{"jpy 500", "JPY", 500000, false},
		{"USD 0.001", "USD", 1, false},
		{"USD 0", "", 0, true},
		{"USD 1.2345", "", 0, true},
		{"USD -3", "", 0, true},
		{"US 3", "", 0, true},
		{"19.99", "", 0, true},
		{"USD 1,000.00", "", 0, true},
	}
	for _, tt := range tests {
		code, amount, err := d360.ParseMoney(tt.in)
		if tt.bad != (err != nil) || code != tt.code || amount != tt.amount {
			t.Errorf("d360.ParseMoney(%q) = %q, %d, %v", tt.in, code, amount, err)
		}
	}
}

func TestNewParameterAndBody(t *testing.T) {
	tests := []struct {
		typ, name, value string
		want             string
		err              string
	}{
		{typ: "text", value: "a & <b>", want: `{"type":"text","text":"a & <b>"}`},
		{typ: "text", name: "first_name", value: "Jane", want: `{"type":"text","parameter_name":"first_name","text":"Jane"}`},
		{typ: "url", value: "42?x=1&y=2", want: `{"type":"text","text":"42?x=1&y=2"}`},
		{typ: "payload", value: "STOP", want: `{"type":"payload","payload":"STOP"}`},
		{typ: "coupon_code", value: "SAVE10", want: `{"type":"coupon_code","coupon_code":"SAVE10"}`},
		{typ: "date_time", value: "March 1", want: `{"type":"date_time","date_time":{"fallback_value":"March 1"}}`},
		{typ: "currency", value: "USD 19.99", want: `{"type":"currency","currency":{"fallback_value":"USD 19.99","code":"USD","amount_1000":19990}}`},
		{typ: "image", value: " 1234 ", want: `{"type":"image","image":{"id":"1234"}}`},
		{typ: "document", value: "https://example.com/a.pdf", want: `{"type":"document","document":{"link":"https://example.com/a.pdf"}}`},
		{typ: "location", value: "52.52, 13.40, Office, Main St 1", want: `{"type":"location","location":{"latitude":52.52,"longitude":13.4,"name":"Office","address":"Main St 1"}}`},
		{typ: "location", value: "52.52", err: "LATITUDE,LONGITUDE"},
		{typ: "location", value: "north,east", err: "with numbers"},
		{typ: "text", value: "  ", err: "empty value"},
		{typ: "sticker", value: "x", err: "unknown parameter type"},
	}
	for _, tt := range tests {
		p, err := d360.NewParameter(tt.typ, tt.name, tt.value)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %q: error %v, want %q", tt.typ, tt.value, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q: %v", tt.typ, tt.value, err)
			continue
		}
		m := d360.NewTemplateMessage("15550001111", "t", "en", []d360.Component{{Type: "body", Parameters: []d360.Parameter{p}}})
		b, err := m.Body()
		if err != nil {
			t.Fatal(err)
		}
		want := `{"type":"template","to":"15550001111","template":{"name":"t","language":{"code":"en"},"components":[{"type":"body","parameters":[` + tt.want + `]}]}}`
		if string(b) != want {
			t.Errorf("%s %q:\n got %s\nwant %s", tt.typ, tt.value, b, want)
		}
	}
	// A business-scoped user id goes in recipient.
	b, _ := d360.NewTemplateMessage("US.13491208655302741918", "hello_world", "en_US", nil).Body()
	if string(b) != `{"type":"template","recipient":"US.13491208655302741918","template":{"name":"hello_world","language":{"code":"en_US"}}}` {
		t.Errorf("BSUID: %s", b)
	}
}

func TestIsBSUID(t *testing.T) {
	for _, tc := range []struct {
		to   string
		want bool
	}{
		{"US.13491208655302741918", true},
		{"US.ENT.13491208655302741918", true},
		{"BR.1", true},
		{"+49 170 1234567", false},
		{"491701234567", false},
		{"abc", false},
		{"us.1349", false},
		{"USA.1349", false},
		{"US.", false},
		{"US.ENT.", false},
		{"US.12a4", false},
		{"US 1349", false},
		{"", false},
	} {
		if got := d360.IsBSUID(tc.to); got != tc.want {
			t.Errorf("IsBSUID(%q) = %v, want %v", tc.to, got, tc.want)
		}
	}
}
