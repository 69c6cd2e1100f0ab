package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
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

// The indexes on a collection's table are the declared ones: a Composite
// key has none of its own, and an index left by an earlier declaration
// (a key dropped, as adrecords' "app" was) is dropped at start-up rather
// than written on every insert forever.
func TestIndexesFollowTheDeclaration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "veil.db")
	indexes := func() []string {
		raw, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		rows, err := raw.Query("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'c_recs' ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			out = append(out, n)
		}
		return out
	}
	ensure := func(c store.Collection) {
		db, err := sqlite.Open(ctx, path, "local:cn")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Ensure(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	ensure(store.Collection{Name: "recs",
		Keys:    []store.Key{{Name: "subject", Kind: store.String}, {Name: "at", Kind: store.Int}, {Name: "app", Kind: store.String}},
		Indexes: [][]string{{"subject", "at"}, {"app", "at"}}})
	if got := fmt.Sprint(indexes()); got != "[ix_recs_app ix_recs_app_at ix_recs_at ix_recs_subject ix_recs_subject_at sqlite_autoindex_c_recs_1]" {
		t.Fatalf("first declaration: %s", got)
	}
	ensure(store.Collection{Name: "recs",
		Keys:    []store.Key{{Name: "subject", Kind: store.String, Composite: true}, {Name: "at", Kind: store.Int}},
		Indexes: [][]string{{"subject", "at"}}})
	if got := fmt.Sprint(indexes()); got != "[ix_recs_at ix_recs_subject_at sqlite_autoindex_c_recs_1]" {
		t.Fatalf("after dropping app and making subject Composite: %s", got)
	}
}
