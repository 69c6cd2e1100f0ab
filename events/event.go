package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"github.com/veil-privacy/veil/infra/store"
)

// Event is a CloudEvent.
type Event = event.Event

// Source is the CloudEvents source of everything Veil emits.
const Source = "/veil"

// New builds an event of type t carrying data as JSON. subject, when set, is
// the CloudEvents subject (a request or record id — never personal data).
func New(t, subject string, data any) (Event, error) {
	if !Known(t) {
		return Event{}, fmt.Errorf("events: unknown type %q", t)
	}
	e := event.New()
	e.SetID(uuid.NewString())
	e.SetType(t)
	e.SetSource(Source)
	e.SetTime(time.Now().UTC())
	if subject != "" {
		e.SetSubject(subject)
	}
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		return Event{}, fmt.Errorf("events: encode %s: %w", t, err)
	}
	return e, nil
}

// Must is New for payloads that cannot fail to encode (typed structs of
// this package); it panics on a programming error.
func Must(t, subject string, data any) Event {
	e, err := New(t, subject, data)
	if err != nil {
		panic(err)
	}
	return e
}

// Decode reads an event's data into T.
func Decode[T any](e Event) (T, error) {
	var v T
	if err := json.Unmarshal(e.Data(), &v); err != nil {
		return v, fmt.Errorf("events: decode %s %s: %w", e.Type(), e.ID(), err)
	}
	return v, nil
}

// Handler handles one event. It must be idempotent on the event id: every
// broker delivers at least once.
type Handler func(ctx context.Context, e Event) error

// BatchHandler handles several events of one type at once, all or
// nothing, writing in tx: the in-process broker's transaction, which also
// records the events as handled and clears their deliveries, so the work
// and its bookkeeping commit together (one commit instead of two, and no
// redelivery of work already done). It must read before it writes (the
// broker writes after it) and be idempotent on every event id, like
// Handler. Only a function whose documents live in the broker's store
// (every function of `veil serve`) may have one.
type BatchHandler func(ctx context.Context, tx store.Tx, es []Event) error

// Subscription routes a type to a function's handler (a Knative Trigger).
// Batch, when set, is used by the in-process broker when several events of
// the type are due for the subscriber at once: one transaction for many
// events instead of one each. On Knative every event arrives alone and goes
// to Handle.
type Subscription struct {
	Subscriber string // the function name
	Type       string
	Handle     Handler
	Batch      BatchHandler
}
