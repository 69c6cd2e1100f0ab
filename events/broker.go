package events

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Publisher puts events on the bus. When Publish returns nil the events are
// durable: a crash cannot lose them. PublishTx stages them in the caller's
// transaction, so a state change and its event commit together or not at all.
type Publisher interface {
	Publish(ctx context.Context, es ...Event) error
	PublishTx(tx store.Tx, es ...Event) error
}

// Delivery mirrors Knative's DeliverySpec: Retry retries after the first
// attempt, with exponential backoff from BackoffDelay, then the dead-letter
// store.
type Delivery struct {
	Retry        int
	BackoffDelay time.Duration
	MaxBackoff   time.Duration
}

// DefaultDelivery matches the Triggers in infra/knative.
var DefaultDelivery = Delivery{Retry: 5, BackoffDelay: time.Second, MaxBackoff: 5 * time.Minute}

// Window is how long after a first failed attempt the last retry runs: the
// sum of the backoffs.
func (d Delivery) Window() time.Duration {
	var w time.Duration
	for n := 1; n <= d.Retry; n++ {
		w += d.Backoff(n)
	}
	return w
}

// Backoff is the wait before attempt n+1 after n failed attempts.
func (d Delivery) Backoff(n int) time.Duration {
	w := float64(d.BackoffDelay) * math.Pow(2, float64(n-1))
	if d.MaxBackoff > 0 && w > float64(d.MaxBackoff) {
		return d.MaxBackoff
	}
	return time.Duration(w)
}

var (
	deliveriesCollection = store.Collection{Name: "events_deliveries",
		Keys: []store.Key{{Name: "next", Kind: store.Int}}}
	deadLettersCollection = store.Collection{Name: "events_deadletters",
		Keys: []store.Key{{Name: "at", Kind: store.Int}, {Name: "type", Kind: store.String}}}
)

// pending is one event waiting for one subscriber.
type pending struct {
	ID         string          `json:"id"` // event id~subscriber
	Subscriber string          `json:"subscriber"`
	Event      json.RawMessage `json:"event"`
	Attempts   int             `json:"attempts"`
	Next       time.Time       `json:"next"` // Unix milliseconds in the index
	LastError  string          `json:"last_error,omitempty"`
}

// DeadLetter is an event that exhausted its retries.
type DeadLetter struct {
	ID         string          `json:"id"`
	Subscriber string          `json:"subscriber"`
	Type       string          `json:"type"`
	Event      json.RawMessage `json:"event"`
	Attempts   int             `json:"attempts"`
	Error      string          `json:"error"`
	At         time.Time       `json:"at"`
}

// Broker is the in-process broker: events are stored per subscriber in the
// document store (so they survive a crash) and delivered by a worker pool
// with Knative's retry, backoff and dead-letter semantics.
type Broker struct {
	router   *Router
	delivery Delivery
	log      zerolog.Logger
	workers  int
	queue    store.Repo[pending]
	dead     store.Repo[DeadLetter]

	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	inflight sync.Map // pending id → struct{}
}

// NewBroker builds an in-process broker delivering through router.
func NewBroker(ctx context.Context, b store.Backend, router *Router, d Delivery, log zerolog.Logger) (*Broker, error) {
	for _, c := range []store.Collection{deliveriesCollection, deadLettersCollection} {
		if err := b.Ensure(ctx, c); err != nil {
			return nil, err
		}
	}
	return &Broker{router: router, delivery: d, log: log, workers: 4,
		queue: store.Repo[pending]{B: b, C: deliveriesCollection, ID: func(p *pending) string { return p.ID },
			Keys: func(p *pending) map[string]any { return map[string]any{"next": p.Next.UnixMilli()} }},
		dead: store.Repo[DeadLetter]{B: b, C: deadLettersCollection, ID: func(d *DeadLetter) string { return d.ID },
			Keys: func(d *DeadLetter) map[string]any { return map[string]any{"at": store.Unix(d.At), "type": d.Type} }},
		wake: make(chan struct{}, 1), stop: make(chan struct{})}, nil
}

// Publish implements Publisher.
func (b *Broker) Publish(ctx context.Context, es ...Event) error {
	err := b.queue.B.Tx(ctx, func(tx store.Tx) error { return b.PublishTx(tx, es...) })
	if err == nil {
		b.kick()
	}
	return err
}

// PublishTx implements Publisher: one pending delivery per subscriber.
// Staging the same event twice is harmless (same ids).
func (b *Broker) PublishTx(tx store.Tx, es ...Event) error {
	ctx := txContext(tx)
	for _, e := range es {
		if err := b.router.Check(e); err != nil {
			return err
		}
		InjectTrace(ctx, &e)
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		for _, s := range b.router.Subscribers(e.Type()) {
			p := &pending{ID: e.ID() + "~" + s.Subscriber, Subscriber: s.Subscriber, Event: raw, Next: time.Now()}
			if err := b.queue.In(tx).Put(p); err != nil {
				return err
			}
		}
	}
	// The transaction may still fail; a spurious wake-up costs one query.
	b.kick()
	return nil
}

func (b *Broker) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Start runs the dispatcher until Close.
func (b *Broker) Start(ctx context.Context) {
	jobs := make(chan []delivery)
	for i := 0; i < b.workers; i++ {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for group := range jobs {
				b.attemptGroup(context.WithoutCancel(ctx), group)
				for _, d := range group {
					b.inflight.Delete(d.p.ID)
				}
			}
		}()
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer close(jobs)
		// A wake-up (something was published) reads on behind what was
		// last handed out, so deliveries still in flight are not read
		// and decoded again on every publish; the periodic pass starts
		// from the beginning and picks up retries that fell due and
		// anything committed behind the cursor.
		var cursor *store.Doc
		rescan := time.Now()
		for {
			if time.Since(rescan) >= rescanEvery {
				cursor, rescan = nil, time.Now()
			}
			var next time.Duration
			next, cursor = b.dispatch(ctx, jobs, cursor)
			timer := time.NewTimer(next)
			select {
			case <-b.stop:
				timer.Stop()
				return
			case <-b.wake:
			case <-timer.C:
				cursor, rescan = nil, time.Now()
			}
			timer.Stop()
		}
	}()
}

// Dispatch reads at most dueLimit due deliveries at a time and hands a
// subscriber with a batch handler up to maxBatch events of one type at once.
const (
	dueLimit    = 256
	maxBatch    = 64
	rescanEvery = 250 * time.Millisecond
)

// delivery is a pending delivery with its event decoded once, by the
// dispatcher; err is why it could not be decoded.
type delivery struct {
	p   *pending
	e   Event
	err error
}

// dispatch hands due deliveries behind after to the workers, grouped by
// subscriber and type where the subscriber takes batches, and says how
// long to sleep and where the next read may resume.
func (b *Broker) dispatch(ctx context.Context, jobs chan<- []delivery, after *store.Doc) (time.Duration, *store.Doc) {
	due, err := b.queue.Find(ctx, store.Query{Filters: []store.Filter{store.Where("next", store.LE, time.Now().UnixMilli())}, OrderBy: "next", After: after, Limit: dueLimit})
	if err != nil {
		b.log.Error().Err(err).Msg("broker: reading deliveries failed")
		return time.Second, nil
	}
	if len(due) > 0 {
		last := due[len(due)-1]
		after = &store.Doc{ID: last.ID, Keys: map[string]any{"next": last.Next.UnixMilli()}}
	}
	var groups [][]delivery
	open := map[string]int{} // subscriber~type → index in groups of its open batch
	for _, p := range due {
		if _, busy := b.inflight.LoadOrStore(p.ID, struct{}{}); busy {
			continue
		}
		d := delivery{p: p}
		d.err = json.Unmarshal(p.Event, &d.e)
		key := p.Subscriber + "~" + d.e.Type()
		if i, ok := open[key]; ok && d.err == nil && len(groups[i]) < maxBatch {
			groups[i] = append(groups[i], d)
			continue
		}
		groups = append(groups, []delivery{d})
		if sub := b.subscription(d.e.Type(), p.Subscriber); d.err == nil && sub != nil && sub.Batch != nil {
			open[key] = len(groups) - 1
		}
	}
	for i, g := range groups {
		select {
		case jobs <- g:
		case <-b.stop:
			for _, g := range groups[i:] {
				for _, d := range g {
					b.inflight.Delete(d.p.ID)
				}
			}
			return 0, nil
		}
	}
	if len(due) == dueLimit {
		return 0, after
	}
	return rescanEvery, after
}

func (b *Broker) subscription(typ, subscriber string) *Subscription {
	for _, s := range b.router.Subscribers(typ) {
		if s.Subscriber == subscriber {
			return &s
		}
	}
	return nil
}

// attemptGroup delivers a group of one subscriber and type in one handler
// call and clears it in one transaction. If the batch fails, each event is
// tried alone, so one bad event cannot hold the others back and retries
// and dead letters stay per event.
func (b *Broker) attemptGroup(ctx context.Context, group []delivery) {
	if len(group) > 1 {
		// The dispatcher groups only decoded events of one type for a
		// subscriber that takes batches.
		sub := b.subscription(group[0].e.Type(), group[0].p.Subscriber)
		if sub != nil && sub.Batch != nil {
			// The handler's writes, the record that it handled the events
			// and the deliveries' clearing commit together.
			err := b.queue.B.Tx(ctx, func(tx store.Tx) error {
				if err := b.router.handle(ctx, tx, *sub, eventsOf(group)); err != nil {
					return err
				}
				return b.clear(tx, *sub, group)
			})
			if err == nil {
				return
			}
			b.log.Debug().Err(err).Str("subscriber", sub.Subscriber).Int("events", len(group)).
				Msg("broker: batch failed; delivering its events one by one")
		}
	}
	for _, d := range group {
		b.attempt(ctx, d)
	}
}

func eventsOf(group []delivery) []Event {
	es := make([]Event, len(group))
	for i, d := range group {
		es[i] = d.e
	}
	return es
}

// complete records the events as handled and clears their deliveries, in
// one transaction. A crash before it commits redelivers them; handlers are
// idempotent on the event id.
func (b *Broker) complete(ctx context.Context, sub Subscription, group []delivery) error {
	return b.queue.B.Tx(ctx, func(tx store.Tx) error { return b.clear(tx, sub, group) })
}

// clear records, in tx, that sub handled group's events and deletes their
// deliveries.
func (b *Broker) clear(tx store.Tx, sub Subscription, group []delivery) error {
	if err := b.router.markTx(tx, sub, eventsOf(group)); err != nil {
		return err
	}
	for _, d := range group {
		if err := b.queue.In(tx).Delete(d.p.ID); err != nil {
			return err
		}
	}
	return nil
}

func (b *Broker) attempt(ctx context.Context, d delivery) {
	p, e, err := d.p, d.e, d.err
	sub := b.subscription(e.Type(), p.Subscriber)
	if err == nil && sub == nil {
		err = errors.New("no such subscriber any more")
	}
	if err == nil {
		err = b.router.handle(ctx, nil, *sub, []Event{e})
	}
	log := b.log.With().Str("event_id", e.ID()).Str("event_type", e.Type()).Str("subscriber", p.Subscriber).Int("attempt", p.Attempts+1).Logger()
	if err == nil {
		if err := b.complete(ctx, *sub, []delivery{d}); err != nil {
			log.Error().Err(err).Msg("broker: delivered but could not clear the delivery; it will be redelivered")
		}
		return
	}
	p.Attempts++
	p.LastError = err.Error()
	if p.Attempts > b.delivery.Retry || privacy.ErrorCode(err) == privacy.EINVALID {
		b.deadLetter(ctx, log, p, e)
		return
	}
	p.Next = time.Now().Add(b.delivery.Backoff(p.Attempts))
	log.Warn().Err(err).Time("retry_at", p.Next).Msg("event handler failed; will retry")
	if err := b.queue.Put(ctx, p); err != nil {
		log.Error().Err(err).Msg("broker: could not reschedule delivery")
	}
}

func (b *Broker) deadLetter(ctx context.Context, log zerolog.Logger, p *pending, e Event) {
	d := &DeadLetter{ID: p.ID, Subscriber: p.Subscriber, Type: e.Type(), Event: p.Event, Attempts: p.Attempts, Error: p.LastError, At: time.Now()}
	err := b.queue.B.Tx(ctx, func(tx store.Tx) error {
		if err := b.dead.In(tx).Put(d); err != nil {
			return err
		}
		if err := b.queue.In(tx).Delete(p.ID); err != nil {
			return err
		}
		// Tell operators through the bus too, but never about a dead
		// letter of a dead letter: that could loop forever.
		if e.Type() == EventDeadLettered {
			return nil
		}
		return b.PublishTx(tx, Must(EventDeadLettered, e.ID(), DeadLetterData{EventID: e.ID(), Type: e.Type(), Subscriber: p.Subscriber, Attempts: p.Attempts, Error: p.LastError}))
	})
	if err != nil {
		log.Error().Err(err).Msg("broker: could not dead-letter event; it stays queued")
		return
	}
	b.router.metrics.Event(e.Type(), p.Subscriber, "deadlettered")
	log.Error().Str("error", p.LastError).Msg("event dead-lettered after its retries")
}

// DeadLetters lists the dead-letter store, newest first.
func (b *Broker) DeadLetters(ctx context.Context, limit int) ([]*DeadLetter, error) {
	return b.dead.Find(ctx, store.Query{OrderBy: "at", Desc: true, Limit: limit})
}

// Redrive puts a dead letter back on the queue.
func (b *Broker) Redrive(ctx context.Context, id string) error {
	return b.queue.B.Tx(ctx, func(tx store.Tx) error {
		d, err := b.dead.In(tx).Get(id)
		if err != nil {
			return err
		}
		if err := b.dead.In(tx).Delete(id); err != nil {
			return err
		}
		return b.queue.In(tx).Put(&pending{ID: d.ID, Subscriber: d.Subscriber, Event: d.Event, Next: time.Now()})
	})
}

// Pending counts queued deliveries (due or waiting for a retry), up to
// limit: readiness, tests and the veil_events_pending gauge.
func (b *Broker) Pending(ctx context.Context, limit int) (int, error) {
	return store.Count(ctx, b.queue.B, deliveriesCollection.Name, store.Query{}, limit)
}

// Close stops taking new work and waits for in-flight handlers (drain), up
// to ctx's deadline. Undelivered events stay stored for the next start.
func (b *Broker) Close(ctx context.Context) error {
	b.stopOnce.Do(func() { close(b.stop) })
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
