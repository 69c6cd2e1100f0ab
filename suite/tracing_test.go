package suite_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// An HTTP call that stages an event in a transaction, and the handler that
// consumes the event, are one trace: the trace context rides the event's
// traceparent extension through the broker.
func TestTraceFollowsRequestThroughBroker(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	handled := make(chan string, 1)
	fn := func(ctx context.Context, d functions.Deps) (*functions.Function, error) {
		return &functions.Function{Name: "tracer",
			Routes: map[string]http.Handler{"POST /probe": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				err := d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
					return d.Bus.PublishTx(tx, events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: "trace"}))
				})
				if err != nil {
					w.WriteHeader(500)
					return
				}
				w.WriteHeader(202)
			})},
			Events: map[string]events.Handler{events.ScheduleTicked: func(ctx context.Context, e events.Event) error {
				handled <- e.ID()
				return nil
			}}}, nil
	}
	s := veiltest.Start(t, map[string]string{"VEIL_FUNCTIONS": "ingest"}, suite.WithFunction(fn), suite.WithTracerProvider(tp))
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if r := s.Do("POST", "/probe", "{}", "traceparent", parent); r.Status != 202 {
		t.Fatalf("probe: %d", r.Status)
	}
	var id string
	select {
	case id = <-handled:
	case <-time.After(5 * time.Second):
		t.Fatal("event not handled")
	}
	var httpSpan, eventSpan sdktrace.ReadOnlySpan
	s.Eventually(2*time.Second, "spans ended", func() bool {
		for _, sp := range rec.Ended() {
			switch sp.Name() {
			case "POST /probe":
				httpSpan = sp
			case "event " + events.ScheduleTicked:
				eventSpan = sp
			}
		}
		return httpSpan != nil && eventSpan != nil
	})
	want := "4bf92f3577b34da6a3ce929d0e0e4736"
	if httpSpan.SpanContext().TraceID().String() != want || eventSpan.SpanContext().TraceID().String() != want {
		t.Fatalf("trace ids: http %s, event %s; want both %s", httpSpan.SpanContext().TraceID(), eventSpan.SpanContext().TraceID(), want)
	}
	if eventSpan.Parent().SpanID() != httpSpan.SpanContext().SpanID() {
		t.Fatal("the handler's span is not a child of the request's span")
	}
	if !strings.Contains(s.Logs.String(), `"trace_id":"`+want+`"`) || !strings.Contains(s.Logs.String(), id) {
		t.Fatal("log lines carry the trace id")
	}
}

// The case: one trace id from an ingest call to the handlers that
// consumed the event it emitted.
func TestTraceFromIngestToConsumers(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	s := veiltest.Start(t, nil, suite.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))
	var app struct {
		AppKey string `json:"app_key"`
	}
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "T", "platform": "ios", "developer_email": "d@example.com", "discloses_sdk": true}), 201, &app)
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	body := `{"sdk":{"platform":"ios","version":"1"},"app":{"name":"T","version":"1"},"consent":{"personalized_ads":true,"location":false},"device":{"ids":{"idfa":"6d9e1a52-0000-4000-8000-000000000001"},"model":"iPhone"}}`
	if r := s.Do("POST", "/v1/ad-requests", body, "X-Veil-App-Key", app.AppKey, "traceparent", tp); r.Status != 200 {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}
	s.Idle(10 * time.Second)
	consumers := map[string]bool{}
	for _, sp := range rec.Ended() {
		if sp.Name() == "event "+events.AdRequestReceived && sp.SpanContext().TraceID().String() == "0af7651916cd43dd8448eb211c80319c" {
			for _, a := range sp.Attributes() {
				if a.Key == "veil.subscriber" {
					consumers[a.Value.AsString()] = true
				}
			}
		}
	}
	if len(consumers) == 0 {
		t.Fatal("no handler of com.veil.adrequest.received.v1 ran in the ingest call's trace")
	}
	if !consumers["audit"] {
		t.Errorf("audit consumed the event outside the trace: %v", consumers)
	}
}
