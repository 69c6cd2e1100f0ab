package events

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/veil-privacy/veil/infra/metrics"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// processed remembers which subscriber handled which event, so redelivery
// (at-least-once) is harmless.
var processedCollection = store.Collection{Name: "events_processed", Keys: []store.Key{{Name: "at", Kind: store.Int}}}

type processed struct {
	ID string    `json:"id"` // subscriber~event id
	At time.Time `json:"at"`
}

// Router validates events and delivers them to subscriptions, once per
// subscriber and event id.
type Router struct {
	subs      map[string][]Subscription
	validator *Validator
	done      store.Repo[processed]
	log       zerolog.Logger
	metrics   *metrics.Metrics
	tracer    trace.Tracer
}

// UseTracer sets the tracer handler spans are started with (start-up only).
func (r *Router) UseTracer(t trace.Tracer) { r.tracer = t }

// NewRouter builds a router; Subscribe adds the subscriptions before any
// event flows. m may be nil.
func NewRouter(ctx context.Context, b store.Backend, log zerolog.Logger, m *metrics.Metrics) (*Router, error) {
	v, err := NewValidator()
	if err != nil {
		return nil, err
	}
	if err := b.Ensure(ctx, processedCollection); err != nil {
		return nil, err
	}
	r := &Router{subs: map[string][]Subscription{}, validator: v, log: log, metrics: m, tracer: noop.NewTracerProvider().Tracer("veil"),
		done: store.Repo[processed]{B: b, C: processedCollection,
			ID:   func(p *processed) string { return p.ID },
			Keys: func(p *processed) map[string]any { return map[string]any{"at": store.Unix(p.At)} }}}
	return r, nil
}

// Subscribe adds subscriptions. It is for start-up only: the router is not
// safe to change while events flow.
func (r *Router) Subscribe(subs ...Subscription) error {
	for _, s := range subs {
		if !Known(s.Type) {
			return fmt.Errorf("events: %s subscribes to unknown type %q", s.Subscriber, s.Type)
		}
		for _, have := range r.subs[s.Type] {
			if have.Subscriber == s.Subscriber {
				return fmt.Errorf("events: %s subscribes to %s twice", s.Subscriber, s.Type)
			}
		}
		r.subs[s.Type] = append(r.subs[s.Type], s)
	}
	return nil
}

// Subscribers returns the subscriptions for type t.
func (r *Router) Subscribers(t string) []Subscription { return r.subs[t] }

// Subscriptions returns every subscription.
func (r *Router) Subscriptions() []Subscription {
	var out []Subscription
	for _, t := range Types() {
		out = append(out, r.subs[t]...)
	}
	return out
}

// Check validates an event's envelope and payload. It returns an EINVALID
// domain error (→ 400) so a bad event is refused, never retried.
func (r *Router) Check(e Event) error {
	if err := e.Validate(); err != nil {
		return privacy.Errorf(privacy.EINVALID, "invalid CloudEvent: %v", err)
	}
	if !Known(e.Type()) {
		return privacy.Errorf(privacy.EINVALID, "unknown event type %q", e.Type())
	}
	if ct := e.DataContentType(); ct != "" && ct != "application/json" && ct != "application/json; charset=utf-8" {
		return privacy.Errorf(privacy.EINVALID, "event data must be application/json, not %q", ct)
	}
	if err := r.validator.Validate(e.Type(), e.Data()); err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	return nil
}

// Deliver runs one subscriber's handler for e unless that subscriber has
// already handled this event id, and records that it has.
func (r *Router) Deliver(ctx context.Context, s Subscription, e Event) error {
	if err := r.handle(ctx, nil, s, []Event{e}); err != nil {
		return err
	}
	return r.done.Put(ctx, r.processed(s, e))
}

func (r *Router) processed(s Subscription, e Event) *processed {
	return &processed{ID: s.Subscriber + "~" + e.ID(), At: time.Now()}
}

// markTx records, in tx, that s handled es (the broker does this in the
// transaction that clears the deliveries).
func (r *Router) markTx(tx store.Tx, s Subscription, es []Event) error {
	for _, e := range es {
		if err := r.done.In(tx).Put(r.processed(s, e)); err != nil {
			return err
		}
	}
	return nil
}

// handle runs s for the events of es it has not handled yet: through
// s.Batch in tx when tx is set (the broker's transaction), else one by one
// through s.Handle. It does not record them as handled.
func (r *Router) handle(ctx context.Context, tx store.Tx, s Subscription, es []Event) error {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = s.Subscriber + "~" + e.ID()
	}
	// One read for the batch (a broker batch is at most 64 events).
	done, err := r.done.GetAll(ctx, ids)
	if err != nil {
		return err
	}
	todo := es[:0:0]
	for i, e := range es {
		if done[i] != nil {
			r.metrics.Event(e.Type(), s.Subscriber, "skipped")
			r.log.Debug().Str("event_id", e.ID()).Str("subscriber", s.Subscriber).Msg("event already handled; skipped")
			continue
		}
		todo = append(todo, e)
	}
	if len(todo) == 0 {
		return nil
	}
	// One span per event, each in its own trace, so a request can still
	// be followed through a batch.
	spans := make([]trace.Span, len(todo))
	var ctx0 context.Context
	for i := range todo {
		c, span := r.tracer.Start(ExtractTrace(ctx, &todo[i]), "event "+todo[i].Type(),
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("cloudevents.event_id", todo[i].ID()), attribute.String("cloudevents.event_type", todo[i].Type()),
				attribute.String("veil.subscriber", s.Subscriber), attribute.Int("veil.batch", len(todo))))
		spans[i] = span
		if i == 0 {
			ctx0 = c
		}
	}
	l := r.log.With().Str("event_id", todo[0].ID()).Str("event_type", todo[0].Type()).Str("subscriber", s.Subscriber).
		Str("trace_id", spans[0].SpanContext().TraceID().String()).Logger()
	if len(todo) > 1 {
		l = l.With().Int("batch", len(todo)).Logger()
	}
	ctx0 = l.WithContext(ctx0)
	if tx != nil && s.Batch != nil {
		err = safely(ctx0, func(ctx context.Context, _ Event) error { return s.Batch(ctx, tx, todo) }, todo[0])
	} else {
		for _, e := range todo {
			if err = safely(ctx0, s.Handle, e); err != nil {
				break
			}
		}
	}
	outcome := "handled"
	if err != nil {
		outcome = "failed"
	}
	for i, e := range todo {
		r.metrics.Event(e.Type(), s.Subscriber, outcome)
		if err != nil {
			spans[i].SetStatus(codes.Error, err.Error())
		}
		spans[i].End()
	}
	if err != nil {
		return err
	}
	l.Debug().Msg("event handled")
	return nil
}

// safely turns a handler panic into an error so one bad event cannot take
// the process down; the broker then retries and dead-letters it.
func safely(ctx context.Context, h Handler, e Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return h(ctx, e)
}

// Forget deletes idempotency records older than before (kept long enough
// to outlive every redelivery window).
func (r *Router) Forget(ctx context.Context, before time.Time) (int, error) {
	n := 0
	for {
		old, err := r.done.Find(ctx, store.Query{Filters: []store.Filter{store.Where("at", store.LT, store.Unix(before))}, Limit: store.MaxLimit})
		if err != nil || len(old) == 0 {
			return n, err
		}
		err = r.done.B.Tx(ctx, func(tx store.Tx) error {
			for _, p := range old {
				if err := r.done.In(tx).Delete(p.ID); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(old)
	}
}
