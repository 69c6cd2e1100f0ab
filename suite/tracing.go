package suite

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// WithTracerProvider sets where spans go. Without it the suite still makes
// spans (so trace ids propagate through events and appear in every log
// line) but exports none; production plugs an exporter in here.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

func tracerProvider(o *options) trace.TracerProvider {
	if o.tracer != nil {
		return o.tracer
	}
	return sdktrace.NewTracerProvider()
}

// traced starts a server span per request, continuing a W3C traceparent
// sent by the caller; httpx.Middleware names it after the route pattern
// once the mux has matched it.
func traced(tr trace.Tracer, h http.Handler) http.Handler {
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tr.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method)))
		defer span.End()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}
