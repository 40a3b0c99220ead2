package inbound_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/wabridge/wabridge/internal/kafkaio"
)

// A webhook is a server span (otelhttp, as internal/app serves it), a child
// of its traceparent when it has one, and every record it produces carries
// the trace in its headers (kafkaio.TracingWriter, as internal/app writes);
// the span names the commands its statuses are about.
func TestWebhookTraceReachesEveryRecord(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	twoItems := strings.Replace(textWebhook, `"messages":[`,
		`"statuses":[{"id":"wamid.OUT1","status":"delivered","timestamp":"1760000001","recipient_id":"15550001111","biz_opaque_callback_data":"cmd-42"}],"messages":[`, 1)

	for _, tc := range []struct {
		name        string
		traceparent string
	}{
		{"with traceparent", "00-" + traceID + "-b7ad6b7169203331-01"},
		{"without traceparent", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &recordingPublisher{}
			h := otelhttp.NewHandler(newUnitHandler(t, kafkaio.TracingWriter{Next: p}, nil), "webhook")
			hdr := map[string]string{}
			if tc.traceparent != "" {
				hdr["traceparent"] = tc.traceparent
			}
			if rec := post(h, twoItems, hdr); rec.Code != 200 {
				t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
			}
			recs := p.all()
			if len(recs) != 2 {
				t.Fatalf("%d records, want a message and a status", len(recs))
			}
			first := header(recs[0], "traceparent")
			for _, m := range recs {
				got := header(m, "traceparent")
				if len(got) != 55 || got[3:35] != first[3:35] {
					t.Errorf("%s record has traceparent %q, want the request's trace (%q)", m.Topic, got, first)
				}
				if tc.traceparent != "" && !strings.Contains(got, traceID) {
					t.Errorf("%s record has traceparent %q, want trace %s", m.Topic, got, traceID)
				}
			}
			// The webhook's span names the command its status is about.
			var named bool
			for _, sp := range spans.Ended() {
				for _, a := range sp.Attributes() {
					if a.Key == "wabridge.command_ids" && len(a.Value.AsStringSlice()) == 1 && a.Value.AsStringSlice()[0] == "cmd-42" &&
						sp.SpanContext().TraceID().String() == first[3:35] {
						named = true
					}
				}
			}
			if !named {
				t.Errorf("no span of the webhook's trace has wabridge.command_ids=[cmd-42]")
			}
		})
	}
}
