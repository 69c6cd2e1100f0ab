package events_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
)

// newRouter opens a fresh SQLite store and a router on it.
func newRouter(t *testing.T) (*sqlite.DB, *events.Router) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "veil.db"), "cn-local")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	router, err := events.NewRouter(context.Background(), db, zerolog.New(io.Discard), nil)
	if err != nil {
		t.Fatal(err)
	}
	return db, router
}

// Events due together reach a subscriber with a batch handler in batches;
// when a batch fails because of one event, the others are still delivered
// (each alone) exactly once, and only the bad one is retried and
// dead-lettered. A batch writes in the broker's transaction: what a failed
// batch wrote is gone with it, what a good one wrote is there.
func TestBatchDeliveryIsolatesAFailingEvent(t *testing.T) {
	ctx := context.Background()
	db, router := newRouter(t)
	log := zerolog.New(io.Discard)
	var (
		mu      sync.Mutex
		handled = map[string]int{} // job → deliveries that succeeded
		batches []int
		tries   int // attempts at the poison event
	)
	bad := func(e events.Event) bool {
		d, _ := events.Decode[events.ScheduleTickedData](e)
		return d.Job == "poison"
	}
	one := func(_ context.Context, e events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if bad(e) {
			tries++
			return errors.New("cannot handle this one")
		}
		d, _ := events.Decode[events.ScheduleTickedData](e)
		handled[d.Job]++
		return nil
	}
	notes := store.Collection{Name: "notes"}
	if err := db.Ensure(ctx, notes); err != nil {
		t.Fatal(err)
	}
	inBatch := map[string]bool{} // jobs handled by a batch that succeeded
	batch := func(_ context.Context, tx store.Tx, es []events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, len(es))
		for _, e := range es {
			d, _ := events.Decode[events.ScheduleTickedData](e)
			if err := tx.Create(notes.Name, &store.Doc{ID: d.Job, Data: []byte(`{}`)}); err != nil {
				return err
			}
			if bad(e) {
				return errors.New("a bad event in the batch")
			}
		}
		for _, e := range es {
			d, _ := events.Decode[events.ScheduleTickedData](e)
			handled[d.Job]++
			inBatch[d.Job] = true
		}
		return nil
	}
	if err := router.Subscribe(events.Subscription{Subscriber: "probe", Type: events.ScheduleTicked, Handle: one, Batch: batch}); err != nil {
		t.Fatal(err)
	}
	broker, err := events.NewBroker(ctx, db, router, events.Delivery{Retry: 2, BackoffDelay: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	// Published before the broker starts, so they are all due at once.
	var es []events.Event
	for i := range 30 {
		job := "job-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if i == 17 {
			job = "poison"
		}
		es = append(es, events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: job}))
	}
	if err := broker.Publish(ctx, es...); err != nil {
		t.Fatal(err)
	}
	broker.Start(ctx)
	defer broker.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := broker.Pending(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deliveries still pending after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 29 {
		t.Fatalf("%d good events handled, want 29", len(handled))
	}
	for job, n := range handled {
		if n != 1 {
			t.Errorf("%s handled %d times", job, n)
		}
	}
	grouped := false
	for _, n := range batches {
		grouped = grouped || n > 1
	}
	if !grouped {
		t.Errorf("no batch of more than one event: %v", batches)
	}
	if tries != 3 {
		t.Errorf("the bad event was tried alone %d times, want 3 (1 + 2 retries)", tries)
	}
	dead, err := broker.DeadLetters(ctx, 10)
	if err != nil || len(dead) != 1 || dead[0].ID != es[17].ID()+"~probe" {
		t.Fatalf("dead letters: %+v, %v", dead, err)
	}
	written, err := db.Query(ctx, notes.Name, store.Query{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != len(inBatch) {
		t.Errorf("%d notes written by batches, want %d (one per event of a batch that succeeded; a failed batch's are rolled back)", len(written), len(inBatch))
	}
	for _, d := range written {
		if !inBatch[d.ID] {
			t.Errorf("note %s outlived the failed batch that wrote it", d.ID)
		}
	}
}

// Pending counts every queued delivery (one per subscriber), past a page,
// and stops at its limit.
func TestPendingCountsQueuedDeliveries(t *testing.T) {
	ctx := context.Background()
	db, router := newRouter(t)
	for _, sub := range []string{"a", "b"} {
		if err := router.Subscribe(events.Subscription{Subscriber: sub, Type: events.ScheduleTicked, Handle: func(context.Context, events.Event) error { return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	broker, err := events.NewBroker(ctx, db, router, events.DefaultDelivery, zerolog.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	var es []events.Event
	for range 300 {
		es = append(es, events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: "x"}))
	}
	if err := broker.Publish(ctx, es...); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ limit, want int }{{10000, 600}, {550, 550}, {4, 4}} {
		if n, err := broker.Pending(ctx, c.limit); err != nil || n != c.want {
			t.Errorf("Pending(%d) = %d, %v; want %d", c.limit, n, err, c.want)
		}
	}
}
