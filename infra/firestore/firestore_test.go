package firestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/infra/storetest"
	"github.com/veil-privacy/veil/privacy"
)

// emulator returns the emulator address, skipping the test when there is
// none — except under CI, which must never pass without having exercised
// the production store.
func emulator(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if addr == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("FIRESTORE_EMULATOR_HOST is not set under CI: start the emulator (scripts/emulators.sh start) and source .emulators/env")
		}
		t.Skip("FIRESTORE_EMULATOR_HOST not set; run scripts/emulators.sh start && . .emulators/env")
	}
	return addr
}

// openFresh opens a store in a project of its own: the emulator keeps one
// namespace per project id, so tests and concurrent runs cannot see each
// other's documents.
func openFresh(t *testing.T) *DB {
	t.Helper()
	emulator(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), "demo-test-"+hex.EncodeToString(b[:]), "", "emulator:cn")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) {
	emulator(t)
	storetest.Run(t, func(t *testing.T) store.Backend { return openFresh(t) })
}

var odd = store.Collection{Name: "odd_ids", Keys: []store.Key{{Name: "n", Kind: store.Int}}}

// TestIDsFirestoreForbids stores ids that are not valid Firestore document
// ids as they are (subject keys can hold any of these).
func TestIDsFirestoreForbids(t *testing.T) {
	db := openFresh(t)
	defer db.Close()
	ctx := context.Background()
	if err := db.Ensure(ctx, odd); err != nil {
		t.Fatal(err)
	}
	ids := []string{"account:a/b@example.com", ".", "..", "__x__", "100%", "%2F", "plain"}
	for i, id := range ids {
		err := db.Tx(ctx, func(tx store.Tx) error {
			return tx.Create(odd.Name, &store.Doc{ID: id, Data: []byte(`{}`), Keys: map[string]any{"n": i}})
		})
		if err != nil {
			t.Fatalf("create %q: %v", id, err)
		}
	}
	for _, id := range ids {
		d, err := db.Get(ctx, odd.Name, id)
		if err != nil || d.ID != id {
			t.Errorf("Get(%q) = %+v, %v", id, d, err)
		}
	}
	docs, err := db.Query(ctx, odd.Name, store.Query{OrderBy: "n"})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range docs {
		if d.ID != ids[i] {
			t.Errorf("query[%d] = %q, want %q", i, d.ID, ids[i])
		}
	}
}

// TestMissingKeysReadAsZero matches SQLite, where an absent key is stored
// as its kind's zero value and still matches equality on it.
func TestMissingKeysReadAsZero(t *testing.T) {
	db := openFresh(t)
	defer db.Close()
	ctx := context.Background()
	c := store.Collection{Name: "sparse", Keys: []store.Key{{Name: "s", Kind: store.String}, {Name: "n", Kind: store.Int}, {Name: "b", Kind: store.Bool}}}
	if err := db.Ensure(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := db.Tx(ctx, func(tx store.Tx) error { return tx.Set(c.Name, &store.Doc{ID: "x", Data: []byte(`{}`)}) }); err != nil {
		t.Fatal(err)
	}
	d, err := db.Get(ctx, c.Name, "x")
	if err != nil {
		t.Fatal(err)
	}
	if d.Keys["s"] != "" || d.Keys["n"] != int64(0) || d.Keys["b"] != false {
		t.Fatalf("keys = %#v", d.Keys)
	}
	got, err := db.Query(ctx, c.Name, store.Query{Filters: []store.Filter{store.Where("b", store.EQ, false)}})
	if err != nil || len(got) != 1 {
		t.Fatalf("query on a zero key: %d docs, %v", len(got), err)
	}
}

func TestEnsureRefusesDataKey(t *testing.T) {
	db := openFresh(t)
	defer db.Close()
	c := store.Collection{Name: "clash", Keys: []store.Key{{Name: "data", Kind: store.String}}}
	if err := db.Ensure(context.Background(), c); err == nil {
		t.Fatal("a key named data would overwrite the document JSON")
	}
	if _, err := db.Get(context.Background(), "never_ensured", "x"); err == nil {
		t.Fatal("an undeclared collection must fail as it does in SQLite")
	}
}

func TestEncodeID(t *testing.T) {
	cases := []struct{ id, want string }{
		{"req_123", "req_123"},
		{"account:alice@example.com", "account:alice@example.com"},
		{"account:a/b@example.com", "account:a%2Fb@example.com"},
		{"50%", "50%25"},
		{".", "%2E"},
		{"..", "%2E."},
		{"__x__", "%5F_x__"},
		{"__x", "__x"},
		{"%2F", "%252F"},
	}
	for _, c := range cases {
		got := encodeID(c.id)
		if got != c.want {
			t.Errorf("encodeID(%q) = %q, want %q", c.id, got, c.want)
		}
		back, err := decodeID(got)
		if err != nil || back != c.id {
			t.Errorf("decodeID(%q) = %q, %v; want %q", got, back, err, c.id)
		}
	}
}

func TestKeyValue(t *testing.T) {
	cases := []struct {
		kind store.KeyKind
		in   any
		want any
		bad  bool
	}{
		{store.Int, 3, int64(3), false},
		{store.Int, int64(-4), int64(-4), false},
		{store.Int, nil, int64(0), false},
		{store.Int, "3", nil, true},
		{store.String, "s", "s", false},
		{store.String, nil, "", false},
		{store.String, 1, nil, true},
		{store.Bool, true, true, false},
		{store.Bool, nil, false, false},
		{store.Bool, 1, nil, true},
	}
	for _, c := range cases {
		got, err := keyValue(store.Key{Name: "k", Kind: c.kind}, c.in)
		if (err != nil) != c.bad || (!c.bad && got != c.want) {
			t.Errorf("keyValue(%s, %#v) = %#v, %v", c.kind, c.in, got, err)
		}
	}
}

func TestMapErr(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		in   error
		code string
		same bool
	}{
		{status.Error(codes.NotFound, "projects/p/databases/(default)/documents/c/secret"), privacy.ENOTFOUND, false},
		{status.Error(codes.AlreadyExists, "x"), privacy.ECONFLICT, false},
		{status.Error(codes.Aborted, "x"), privacy.EUNAVAILABLE, false},
		{status.Error(codes.Unavailable, "x"), privacy.EUNAVAILABLE, false},
		{status.Error(codes.PermissionDenied, "x"), privacy.EINTERNAL, true},
		{boom, privacy.EINTERNAL, true},
		{privacy.Errorf(privacy.ECONFLICT, "mine"), privacy.ECONFLICT, true},
	}
	for _, c := range cases {
		got := mapErr(c.in, "c", "id")
		if privacy.ErrorCode(got) != c.code {
			t.Errorf("mapErr(%v) code = %s, want %s", c.in, privacy.ErrorCode(got), c.code)
		}
		if c.same && got != c.in {
			t.Errorf("mapErr(%v) = %v, want it unchanged", c.in, got)
		}
		if privacy.ErrorCode(got) != privacy.EINTERNAL && privacy.ErrorMessage(got) != "" && !c.same {
			if msg := privacy.ErrorMessage(got); strings.Contains(msg, "secret") {
				t.Errorf("message leaks the server's text: %q", msg)
			}
		}
	}
	// Aborted stays visible to the client's retry logic through the wrap.
	if status.Code(mapErr(status.Error(codes.Aborted, "x"), "", "")) != codes.Aborted {
		t.Error("the gRPC status must stay in the chain")
	}
}
