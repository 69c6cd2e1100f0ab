package sqlite_test

import (
	"context"
	"os"
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

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a#b?c%d")
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "veil.db"), "cn-local")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(filepath.Join(dir, "veil.db")); err != nil {
		t.Fatalf("the database was not created where asked: %v", err)
	}
}
