// Package functionstest gives a function's own tests and benchmarks the
// dependencies the suite would give it, on temporary embedded stores, so
// they can exercise one function alone.
package functionstest

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
)

// Stores are the embedded stores of one test: the documents and the key
// ring in files of their own, as in `veil serve`.
type Stores struct {
	Docs, KeyDB *sqlite.DB
	DB          *store.DB
	Keys        *keys.Ring
}

// OpenStores opens Stores in dir (veil.db, keyring.db) at location, the
// ring sealed by master (32 bytes); they are closed when t ends.
func OpenStores(t testing.TB, dir, location string, master []byte) Stores {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "veil.db"), location)
	if err != nil {
		t.Fatal(err)
	}
	kdb, err := sqlite.Open(ctx, filepath.Join(dir, "keyring.db"), location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); kdb.Close() })
	sdb, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.New(ctx, kdb, master)
	if err != nil {
		t.Fatal(err)
	}
	return Stores{Docs: db, KeyDB: kdb, DB: sdb, Keys: ring}
}

// QueuedBroker is an in-process broker on b that is never started, with a
// subscriber to every event type that does nothing: every event published
// stays queued, one delivery each, for a test to read.
func QueuedBroker(t testing.TB, b store.Backend, log zerolog.Logger) *events.Broker {
	t.Helper()
	ctx := context.Background()
	router, err := events.NewRouter(ctx, b, log, nil) // no metrics in unit tests
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range events.Types() {
		if err := router.Subscribe(events.Subscription{Subscriber: "probe", Type: typ, Handle: func(context.Context, events.Event) error { return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	broker, err := events.NewBroker(ctx, b, router, events.DefaultDelivery, log)
	if err != nil {
		t.Fatal(err)
	}
	return broker
}

// Deps returns cfg's dependencies on fresh SQLite files (documents and key
// ring apart, as in `veil serve`), logging nowhere, with an in-process
// broker that is not started: events published stay queued. Subscribe to
// router before publishing for the events to be staged for someone.
func Deps(t testing.TB, cfg config.Config) (functions.Deps, *events.Router) {
	t.Helper()
	ctx := context.Background()
	st := OpenStores(t, t.TempDir(), "cn-local", make([]byte, 32))
	log := zerolog.New(io.Discard)
	router, err := events.NewRouter(ctx, st.Docs, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	broker, err := events.NewBroker(ctx, st.Docs, router, events.DefaultDelivery, log)
	if err != nil {
		t.Fatal(err)
	}
	return functions.Deps{Config: cfg, Log: log, DB: st.DB, Keys: st.Keys, Bus: broker, Now: time.Now}, router
}
