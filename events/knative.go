package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/infra/store"
)

var outboxCollection = store.Collection{Name: "events_outbox", Keys: []store.Key{{Name: "next", Kind: store.Int}}}

// Sink publishes to the Knative broker at K_SINK (injected by a
// SinkBinding). Events are first written to an outbox in the document store
// — in the caller's transaction when there is one — and a relay posts them
// in binary mode, retrying with backoff until the broker accepts them, so a
// crash between a state change and its event loses nothing.
type Sink struct {
	url    string
	client *http.Client
	log    zerolog.Logger
	box    store.Repo[pending]
	retry  Delivery

	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	check    func(Event) error
}

// NewSink builds the Knative publisher. check validates events before they
// are staged (the router's Check).
func NewSink(ctx context.Context, b store.Backend, url string, client *http.Client, check func(Event) error, log zerolog.Logger) (*Sink, error) {
	if err := b.Ensure(ctx, outboxCollection); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Sink{url: url, client: client, log: log, check: check, retry: DefaultDelivery,
		box: store.Repo[pending]{B: b, C: outboxCollection, ID: func(p *pending) string { return p.ID },
			Keys: func(p *pending) map[string]any { return map[string]any{"next": p.Next.UnixMilli()} }},
		wake: make(chan struct{}, 1), stop: make(chan struct{})}, nil
}

// Publish implements Publisher.
func (s *Sink) Publish(ctx context.Context, es ...Event) error {
	return s.box.B.Tx(ctx, func(tx store.Tx) error { return s.PublishTx(tx, es...) })
}

// PublishTx implements Publisher.
func (s *Sink) PublishTx(tx store.Tx, es ...Event) error {
	ctx := txContext(tx)
	for _, e := range es {
		if err := s.check(e); err != nil {
			return err
		}
		InjectTrace(ctx, &e)
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := s.box.In(tx).Put(&pending{ID: e.ID(), Event: raw, Next: time.Now()}); err != nil {
			return err
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Start runs the relay until Close.
func (s *Sink) Start(ctx context.Context) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			wait := s.relay(context.WithoutCancel(ctx))
			t := time.NewTimer(wait)
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-s.wake:
			case <-t.C:
			}
			t.Stop()
		}
	}()
}

func (s *Sink) relay(ctx context.Context) time.Duration {
	due, err := s.box.Find(ctx, store.Query{Filters: []store.Filter{store.Where("next", store.LE, time.Now().UnixMilli())}, OrderBy: "next", Limit: 64})
	if err != nil {
		s.log.Error().Err(err).Msg("sink: reading outbox failed")
		return time.Second
	}
	for _, p := range due {
		var e Event
		if err := json.Unmarshal(p.Event, &e); err != nil {
			s.log.Error().Err(err).Str("event_id", p.ID).Msg("sink: unreadable outbox entry dropped")
			_ = s.box.Delete(ctx, p.ID)
			continue
		}
		if err := s.send(ctx, e); err != nil {
			p.Attempts++
			p.LastError = err.Error()
			p.Next = time.Now().Add(s.retry.Backoff(p.Attempts))
			s.log.Warn().Err(err).Str("event_id", e.ID()).Str("event_type", e.Type()).Int("attempt", p.Attempts).Msg("sink: broker refused event; will retry")
			_ = s.box.Put(ctx, p)
			continue
		}
		if err := s.box.Delete(ctx, p.ID); err != nil {
			s.log.Error().Err(err).Str("event_id", e.ID()).Msg("sink: sent but not cleared; the broker may see it twice")
		}
	}
	if len(due) == 64 {
		return 0
	}
	return time.Second
}

// send posts one event in binary mode.
func (s *Sink) send(ctx context.Context, e Event) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(e.Data()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ce-Specversion", e.SpecVersion())
	req.Header.Set("Ce-Id", e.ID())
	req.Header.Set("Ce-Type", e.Type())
	req.Header.Set("Ce-Source", e.Source())
	req.Header.Set("Ce-Time", e.Time().UTC().Format(time.RFC3339Nano))
	if sub := e.Subject(); sub != "" {
		req.Header.Set("Ce-Subject", sub)
	}
	for k, v := range e.Extensions() {
		req.Header.Set("Ce-"+k, fmt.Sprint(v))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("broker answered %s", resp.Status)
	}
	return nil
}

// Close stops the relay; unsent events stay in the outbox.
func (s *Sink) Close(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
