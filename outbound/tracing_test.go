package outbound_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/wabridge/wabridge/internal/kafkatest"
)

// recordSpans turns tracing on and installs an SDK tracer provider that
// keeps every span, and the W3C propagator, for the test.
func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	// The standard variables turn tracing on (telemetry.Enabled): the
	// worker then starts spans and the Kafka clients get kotel's hooks.
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
	return rec
}

// A command's traceparent starts the span of its send; the API call is a
// child span whose request carries the trace; the result and the dead
// letter carry it in their headers.
func TestWorkerTracesACommandFromItsTraceparent(t *testing.T) {
	rec := recordSpans(t)
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	traceparent := "00-" + traceID + "-" + spanID + "-01"
	var mu sync.Mutex
	var apiTraceparents []string
	f := newFixtureWrapped(t, nil, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			apiTraceparents = append(apiTraceparents, r.Header.Get("traceparent"))
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	})
	traced := func(m kafka.Message) kafka.Message {
		m.Headers = append(m.Headers, kafka.Header{Key: "traceparent", Value: []byte(traceparent)})
		return m
	}
	kafkatest.Produce(t, f.brokers, f.commands,
		traced(cmd("c-traced", `{"to":"15550001111","type":"text","text":{"body":"hi"}}`)),
		traced(cmd("c-bad", `not json`)),
	)
	f.start(t)

	for _, m := range append(kafkatest.ReadN(t, f.brokers, f.results, 2, 30*time.Second), kafkatest.ReadN(t, f.brokers, f.dlq, 1, 30*time.Second)...) {
		if got := headerValue(m, "traceparent"); !strings.Contains(got, traceID) {
			t.Errorf("%s record of %s has traceparent %q, want trace %s", m.Topic, headerValue(m, "command-id"), got, traceID)
		}
	}
	mu.Lock()
	if len(apiTraceparents) != 1 || !strings.Contains(apiTraceparents[0], traceID) {
		t.Errorf("the API call carried traceparent %q, want trace %s", apiTraceparents, traceID)
	}
	mu.Unlock()

	var send, call sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && (send == nil || call == nil); time.Sleep(50 * time.Millisecond) {
		for _, s := range rec.Ended() {
			switch {
			case s.Name() == "send "+f.commands && hasAttr(s, "wabridge.command_id", "c-traced"):
				send = s
			case s.SpanKind() == trace.SpanKindClient && strings.Contains(s.Name(), "POST"):
				call = s
			}
		}
	}
	if send == nil || call == nil {
		t.Fatalf("spans ended: send %v, API call %v; want both", send != nil, call != nil)
	}
	if send.SpanContext().TraceID().String() != traceID || send.Parent().SpanID().String() != spanID {
		t.Errorf("send span in trace %s under %s, want trace %s under the command's span %s",
			send.SpanContext().TraceID(), send.Parent().SpanID(), traceID, spanID)
	}
	if call.Parent().SpanID() != send.SpanContext().SpanID() {
		t.Errorf("the API call's parent is %s, want the send span %s", call.Parent().SpanID(), send.SpanContext().SpanID())
	}
	if !hasAttr(send, "wabridge.outcome", "accepted") {
		t.Errorf("send span attributes %v lack wabridge.outcome=accepted", send.Attributes())
	}
}

func hasAttr(s sdktrace.ReadOnlySpan, key, value string) bool {
	for _, a := range s.Attributes() {
		if string(a.Key) == key && a.Value.Emit() == value {
			return true
		}
	}
	return false
}
