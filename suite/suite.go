// Package suite is Veil's composition root: it opens the backends the
// configuration selects, builds the enabled functions with their
// dependencies, wires their event subscriptions to a broker and their
// routes to one HTTP handler. The root package's Handle (Knative) and
// `veil serve` both run a Suite.
package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/notify"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/metrics"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/privacy/calendar"
)

// Version is set at build time (-ldflags "-X .../suite.Version=...").
var Version = "dev"

// Suite is a running set of functions.
type Suite struct {
	Deps      functions.Deps
	Functions []*functions.Function
	Router    *events.Router
	Broker    *events.Broker // in-process broker; nil on Knative
	Sink      *events.Sink   // Knative publisher; nil in-process

	handler   http.Handler
	ownRoutes []string
	closers   []func() error
	stopOnce  sync.Once
	cancel    context.CancelFunc
	ticker    *ticker
}

// Option adjusts a suite under construction (tests add functions).
type Option func(*options)

type options struct {
	extra    []functions.Constructor
	delivery *events.Delivery
	out      io.Writer
	now      func() time.Time
	wrapMail func(mail.Sender) mail.Sender
	tracer   trace.TracerProvider
}

// WithMailWrapper wraps the configured mail sender (tests record what went
// through SES so they can find it in the stand-in's store).
func WithMailWrapper(wrap func(mail.Sender) mail.Sender) Option {
	return func(o *options) { o.wrapMail = wrap }
}

// WithFunction adds a function beyond the registry (tests).
func WithFunction(c functions.Constructor) Option {
	return func(o *options) { o.extra = append(o.extra, c) }
}

// WithDelivery overrides retry and backoff (tests make them fast).
func WithDelivery(d events.Delivery) Option { return func(o *options) { o.delivery = &d } }

// WithLogOutput sends logs somewhere other than stdout.
func WithLogOutput(w io.Writer) Option { return func(o *options) { o.out = w } }

// WithClock replaces time.Now (deadline tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New builds a suite from cfg. Close releases it.
func New(ctx context.Context, cfg config.Config, opts ...Option) (s *Suite, err error) {
	o := options{out: os.Stdout, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	lvl, _ := zerolog.ParseLevel(cfg.LogLevel)
	log := zerolog.New(o.out).Level(lvl).With().Timestamp().Str("service", "veil").Logger()

	registry := Registry()
	for _, name := range cfg.Functions {
		if _, ok := registry[name]; !ok {
			return nil, &config.Error{Var: "VEIL_FUNCTIONS", Msg: fmt.Sprintf("unknown function %q (known: %s)", name, strings.Join(Names(), ", "))}
		}
	}

	built := &Suite{}
	s = built
	defer func() {
		if err != nil {
			built.closeBackends()
		}
	}()
	if err := checkResidency(cfg, log); err != nil {
		return nil, err
	}
	b, err := s.openBackends(ctx, &cfg, log)
	if err != nil {
		return nil, err
	}
	if o.wrapMail != nil {
		s.Deps.Mail = o.wrapMail(s.Deps.Mail)
	}
	s.Deps.Config, s.Deps.Log, s.Deps.Now, s.Deps.Calendar = cfg, log, o.now, calendar.New()
	s.Deps.DB, err = store.Open(ctx, b)
	if err != nil {
		return nil, err
	}
	s.Deps.Metrics = metrics.New()
	if s.Router, err = events.NewRouter(ctx, b, log, s.Deps.Metrics); err != nil {
		return nil, err
	}
	tracer := tracerProvider(&o).Tracer("github.com/veil-privacy/veil")
	s.Router.UseTracer(tracer)
	delivery := events.Delivery{Retry: cfg.EventRetry, BackoffDelay: cfg.EventBackoff, MaxBackoff: 5 * time.Minute}
	// A send interrupted by a crash holds its notification for
	// notify.LeaseTime; retries that all run before it expires end in the
	// dead-letter store instead of a mail.
	if w := delivery.Window(); cfg.Broker != "knative" && delivery.Retry > 0 && w <= notify.LeaseTime {
		return nil, fmt.Errorf("suite: VEIL_EVENT_RETRY=%d with VEIL_EVENT_BACKOFF=%s retries for %s in all, not longer than a notification's lease (%s): "+
			"a mail interrupted by a crash would be dead-lettered; allow more retries or a longer backoff", delivery.Retry, delivery.BackoffDelay, w, notify.LeaseTime)
	}
	if o.delivery != nil {
		delivery = *o.delivery
	}
	if cfg.Broker == "knative" {
		if s.Sink, err = events.NewSink(ctx, b, cfg.Sink, nil, s.Router.Check, log); err != nil {
			return nil, err
		}
		s.Deps.Bus = s.Sink
	} else {
		if s.Broker, err = events.NewBroker(ctx, b, s.Router, delivery, log); err != nil {
			return nil, err
		}
		s.Deps.Bus = s.Broker
	}

	var ctors []functions.Constructor
	for _, name := range Names() {
		if cfg.Enabled(name) {
			ctors = append(ctors, registry[name])
		}
	}
	ctors = append(ctors, o.extra...)
	mux := http.NewServeMux()
	for _, c := range ctors {
		f, err := c(ctx, s.Deps)
		if err != nil {
			return nil, err
		}
		for _, coll := range f.Collections {
			if err := b.Ensure(ctx, coll); err != nil {
				return nil, err
			}
		}
		for pattern, h := range f.Routes {
			mux.Handle(pattern, h)
		}
		types := make([]string, 0, len(f.Events))
		for t := range f.Events {
			types = append(types, t)
		}
		sort.Strings(types)
		for t := range f.Batch {
			if f.Events[t] == nil {
				return nil, fmt.Errorf("suite: %s has a batch handler for %s but no handler for one event", f.Name, t)
			}
		}
		for _, t := range types {
			if err := s.Router.Subscribe(events.Subscription{Subscriber: f.Name, Type: t, Handle: f.Events[t], Batch: f.Batch[t]}); err != nil {
				return nil, err
			}
		}
		s.Functions = append(s.Functions, f)
	}
	s.routeOps(mux)
	s.gauges()
	s.handler = traced(tracer, httpx.Middleware(log, s.Deps.Metrics.ObserveHTTP, s.dispatch(mux)))
	return s, nil
}

// Handler is the HTTP entry point: CloudEvents by type, everything else by
// path.
func (s *Suite) Handler() http.Handler { return s.handler }

// dispatch sends CloudEvents (binary or structured mode, any path) to the
// router and plain HTTP to mux.
func (s *Suite) dispatch(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !events.IsCloudEvent(r) {
			mux.ServeHTTP(w, r)
			return
		}
		r.Pattern = "POST / (cloudevent)"
		e, err := events.FromHTTP(w, r)
		if err == nil {
			err = s.Router.Check(*e)
		}
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		subs := s.Router.Subscribers(e.Type())
		if len(subs) == 0 {
			// A Trigger pointing at a service that does not handle the
			// type is a deployment error, not the sender's: refuse
			// without retry.
			httpx.Error(w, r, privacy.Errorf(privacy.EINVALID, "no function here consumes %s", e.Type()))
			return
		}
		for _, sub := range subs {
			if err := s.Router.Deliver(r.Context(), sub, *e); err != nil {
				// 5xx makes the Knative broker retry; subscribers that
				// already succeeded skip the event by its id.
				httpx.Error(w, r, fmt.Errorf("%s: %w", sub.Subscriber, asRetryable(err)))
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// asRetryable keeps domain errors that mean "bad event" (4xx, no retry) and
// turns everything else into a 5xx.
func asRetryable(err error) error {
	if c := privacy.ErrorCode(err); c == privacy.EINVALID || c == privacy.EUNAVAILABLE {
		return err
	}
	return privacy.Errorf(privacy.EUNAVAILABLE, "handler failed; retry")
}

// Start begins background work: the broker or sink, function loops, and in
// `veil serve` the schedule ticks that PingSources send on Knative.
func (s *Suite) Start(ctx context.Context, schedules map[string]time.Duration) {
	ctx, s.cancel = context.WithCancel(ctx)
	if s.Broker != nil {
		s.Broker.Start(ctx)
	}
	if s.Sink != nil {
		s.Sink.Start(ctx)
	}
	for _, f := range s.Functions {
		if f.Start != nil {
			f.Start(ctx)
		}
	}
	if len(schedules) > 0 {
		s.ticker = startTicker(ctx, s.Deps.Bus, s.Deps.Log, schedules)
	}
}

// Close drains in-flight events (up to ctx's deadline) and closes backends.
func (s *Suite) Close(ctx context.Context) error {
	var errs []error
	s.stopOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		if s.ticker != nil {
			s.ticker.wait()
		}
		if s.Broker != nil {
			errs = append(errs, s.Broker.Close(ctx))
		}
		if s.Sink != nil {
			errs = append(errs, s.Sink.Close(ctx))
		}
		errs = append(errs, s.closeBackends())
	})
	return errors.Join(errs...)
}

func (s *Suite) closeBackends() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// Ready reports whether the suite can serve: the store answers.
func (s *Suite) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := s.Deps.DB.Apps.Find(ctx, store.Query{Limit: 1})
	return err
}

// routeOps adds the suite's own endpoints: health, readiness, version, the
// dead-letter store and manual schedule ticks.
func (s *Suite) routeOps(m *http.ServeMux) {
	token := s.Deps.Config.OpsToken
	mux := ownMux{m, s}
	mux.HandleFunc("GET /openapi.json", s.serveOpenAPI)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ready(r.Context()); err != nil {
			httpx.Error(w, r, privacy.Errorf(privacy.EUNAVAILABLE, "store not ready"))
			return
		}
		httpx.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", httpx.RequireOps(token, s.Deps.Metrics.Handler()))
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"version": Version})
	})
	mux.Handle("GET /v1/dead-letters", httpx.RequireOps(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Broker == nil {
			httpx.Error(w, r, privacy.Errorf(privacy.ENOTFOUND, "on Knative the dead-letter sink is the broker's; see the runbook"))
			return
		}
		dl, err := s.Broker.DeadLetters(r.Context(), 100)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		if dl == nil {
			dl = []*events.DeadLetter{}
		}
		httpx.JSON(w, http.StatusOK, map[string]any{"dead_letters": dl})
	})))
	mux.Handle("POST /v1/dead-letters/{id}/redrive", httpx.RequireOps(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Broker == nil {
			httpx.Error(w, r, privacy.Errorf(privacy.ENOTFOUND, "no in-process broker"))
			return
		}
		if err := s.Broker.Redrive(r.Context(), r.PathValue("id")); err != nil {
			httpx.Error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})))
	mux.Handle("POST /v1/schedules/{job}", httpx.RequireOps(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		job := r.PathValue("job")
		if !jobName.MatchString(job) {
			httpx.Error(w, r, privacy.FieldError("job", "a job is a lower-case name"))
			return
		}
		e := events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: job})
		if err := s.Deps.Bus.Publish(r.Context(), e); err != nil {
			httpx.Error(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusAccepted, map[string]string{"event_id": e.ID()})
	})))
}

// ownMux records the suite's own routes for Routes and the OpenAPI test.
type ownMux struct {
	m *http.ServeMux
	s *Suite
}

func (o ownMux) Handle(pattern string, h http.Handler) {
	o.s.ownRoutes = append(o.s.ownRoutes, pattern)
	o.m.Handle(pattern, h)
}

func (o ownMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	o.Handle(pattern, http.HandlerFunc(h))
}
