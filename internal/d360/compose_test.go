package d360_test

import (
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
