package events

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// Trace context travels on events in the CloudEvents distributed-tracing
// extension (traceparent, tracestate), so one request can be followed from
// an HTTP call through the broker to every handler it causes.
const (
	extTraceParent = "traceparent"
	extTraceState  = "tracestate"
)

// eventCarrier adapts an event's extensions to the propagation API.
type eventCarrier struct{ e *Event }

func (c eventCarrier) Get(key string) string {
	if v, ok := c.e.Extensions()[key]; ok {
		if s, ok := v.(string); ok {
			return s
		}
	}
	return ""
}

func (c eventCarrier) Set(key, value string) {
	if key == extTraceParent || key == extTraceState {
		c.e.SetExtension(key, value)
	}
}

func (c eventCarrier) Keys() []string { return []string{extTraceParent, extTraceState} }

// InjectTrace stamps ctx's span context on e unless e already carries one
// (an event re-published keeps the trace it was born in).
func InjectTrace(ctx context.Context, e *Event) {
	if _, ok := e.Extensions()[extTraceParent]; ok {
		return
	}
	propagation.TraceContext{}.Inject(ctx, eventCarrier{e})
}

// ExtractTrace returns ctx carrying e's remote span context, if any.
func ExtractTrace(ctx context.Context, e *Event) context.Context {
	return propagation.TraceContext{}.Extract(ctx, eventCarrier{e})
}

// txContext returns the context a store transaction runs under, when the
// backend exposes it, so events staged in a transaction join the trace of
// the request that made them.
func txContext(tx any) context.Context {
	if c, ok := tx.(interface{ Context() context.Context }); ok {
		return c.Context()
	}
	return context.Background()
}
