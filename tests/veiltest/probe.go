package veiltest

import (
	"context"
	"sync"
	"testing"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
)

// Probe is a test function standing in for the subscribers of Types: it
// records every event of those types it is sent. Add it to a suite with
// suite.WithFunction(p.Function).
type Probe struct {
	Types []string

	mu   sync.Mutex
	seen []events.Event
}

// Function is the probe's constructor.
func (p *Probe) Function(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	record := func(ctx context.Context, e events.Event) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.seen = append(p.seen, e)
		return nil
	}
	hs := map[string]events.Handler{}
	for _, t := range p.Types {
		hs[t] = record
	}
	return &functions.Function{Name: "probe", Events: hs}, nil
}

// Events returns the events recorded so far of type typ (every type when
// typ is ""), in arrival order; with subject set, only those about it
// (the event's subject).
func (p *Probe) Events(typ, subject string) []events.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []events.Event
	for _, e := range p.seen {
		if (typ == "" || e.Type() == typ) && (subject == "" || e.Subject() == subject) {
			out = append(out, e)
		}
	}
	return out
}

// Seen decodes the events p recorded of type typ (and subject, if set).
func Seen[T any](t testing.TB, p *Probe, typ, subject string) []T {
	t.Helper()
	var out []T
	for _, e := range p.Events(typ, subject) {
		v, err := events.Decode[T](e)
		if err != nil {
			t.Fatalf("%s %s: %v", typ, e.ID(), err)
		}
		out = append(out, v)
	}
	return out
}
