package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/infra/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "veil.db"), "local:cn")
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
