package firestore_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"testing"

	"github.com/veil-privacy/veil/infra/firestore"
	"github.com/veil-privacy/veil/suite"
)

// update regenerates the committed file: go generate ./infra/firestore
var update = flag.Bool("update", false, "rewrite firestore.indexes.json from every collection the suite declares")

const committed = "firestore.indexes.json"

// The deployed indexes must cover every collection of every function, not
// just the shared ones: the emulator runs queries without indexes, real
// Firestore refuses them.
func TestIndexesJSONCommitted(t *testing.T) {
	colls, err := suite.Collections(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got, err := firestore.IndexesJSON(colls)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(committed, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `go generate ./infra/firestore` and commit it\n--- generated:\n%s", committed, got)
	}
}
