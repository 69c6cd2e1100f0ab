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

// Deps returns cfg's dependencies on fresh SQLite files (documents and key
// ring apart, as in `veil serve`), logging nowhere, with an in-process
// broker that is not started: events published stay queued. Subscribe to
// router before publishing for the events to be staged for someone.
func Deps(t testing.TB, cfg config.Config) (functions.Deps, *events.Router) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "veil.db"), "cn-local")
	if err != nil {
		t.Fatal(err)
	}
	kdb, err := sqlite.Open(ctx, filepath.Join(dir, "keyring.db"), "cn-local")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); kdb.Close() })
	sdb, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.New(ctx, kdb, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(io.Discard)
	router, err := events.NewRouter(ctx, db, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	broker, err := events.NewBroker(ctx, db, router, events.DefaultDelivery, log)
	if err != nil {
		t.Fatal(err)
	}
	return functions.Deps{Config: cfg, Log: log, DB: sdb, Keys: ring, Bus: broker, Now: time.Now}, router
}
