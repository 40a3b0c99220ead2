package inbound

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// benchBody is a webhook with n delivered statuses, as 360dialog sends them.
func benchBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"object":"whatsapp_business_account","entry":[{"id":"109876543210987","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"},"statuses":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"wamid.HBgLMTU1NTAwMDExMTEVAgARGBJCRU5DSC.%d","status":"delivered","timestamp":"1760000500","recipient_id":"4915%08d",`+
			`"biz_opaque_callback_data":"wabridge.commands/3/%d","conversation":{"id":"c0ffee00c0ffee00c0ffee00c0ffee00","expiration_timestamp":"1760086900","origin":{"type":"service"}},`+
			`"pricing":{"billable":true,"pricing_model":"PMP","category":"service","type":"free_customer_service"}}`, i, i, i)
	}
	b.WriteString(`]}}]}]}`)
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	at := time.Unix(1760000000, 0)
	for _, n := range []int{1, 100} {
		body := benchBody(n)
		b.Run(fmt.Sprintf("statuses=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(body, at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	text := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"109876543210987","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"},"contacts":[{"profile":{"name":"Jane Doe"},"wa_id":"15550001111"}],"messages":[{"from":"15550001111","id":"wamid.HBgLMTU1NTAwMDExMTEVAgASGBQzRUIwMUExQjJDM0Q0RTVGNjA3OAA=","timestamp":"1760000000","type":"text","text":{"body":"Hello, is my order ready?"}}]}}]}]}`)
	b.Run("text message", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(text, at); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseForHandler(b *testing.B) {
	at := time.Unix(1760000000, 0)
	for _, n := range []int{1, 100} {
		body := benchBody(n)
		b.Run(fmt.Sprintf("statuses=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				items, err := parse(body, at, false)
				if err != nil {
					b.Fatal(err)
				}
				for _, it := range items {
					buf = it.status.appendAvro(buf[:0])
				}
			}
		})
	}
}
