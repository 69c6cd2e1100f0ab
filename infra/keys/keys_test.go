package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/privacy"
)

func ring(t *testing.T, master []byte) *keys.Ring {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"), "cn-local")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, err := keys.New(context.Background(), db, master)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func master() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func TestSealOpenAndShred(t *testing.T) {
	ctx := context.Background()
	r := ring(t, master())
	ct, err := r.Seal(ctx, "subj-a", []byte("oaid-123"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("oaid-123")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	pt, err := r.Open(ctx, "subj-a", ct)
	if err != nil || string(pt) != "oaid-123" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	// A ciphertext is bound to its subject.
	if _, err := r.Seal(ctx, "subj-b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(ctx, "subj-b", ct); err == nil {
		t.Fatal("subject b's key opened subject a's data")
	}
	if err := r.Destroy(ctx, "subj-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(ctx, "subj-a", ct); privacy.ErrorCode(err) != privacy.EGONE {
		t.Fatalf("after Destroy: %v, want gone", err)
	}
	if has, _ := r.Has(ctx, "subj-a"); has {
		t.Fatal("destroyed key still present")
	}
}

func TestHashesAndPseudonyms(t *testing.T) {
	m := master()
	r1, r2, other := ring(t, m), ring(t, m), ring(t, master())
	if r1.Hash("device:oaid:x") != r2.Hash("device:oaid:x") {
		t.Fatal("the lookup hash must be stable under one master key")
	}
	if r1.Hash("device:oaid:x") == other.Hash("device:oaid:x") {
		t.Fatal("the lookup hash must depend on the master key")
	}
	if r1.Pseudonym("partner-a", "dev") == r1.Pseudonym("partner-b", "dev") {
		t.Fatal("two partners must not share a pseudonym for one device")
	}
	if r1.Pseudonym("partner-a", "dev") != r2.Pseudonym("partner-a", "dev") {
		t.Fatal("a partner's pseudonym must be stable")
	}
	if _, err := keys.New(context.Background(), nil, []byte("short")); err == nil {
		t.Fatal("short master key accepted")
	}
}

func TestWrongMasterKeyCannotOpen(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"), "cn-local")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, _ := keys.New(ctx, db, master())
	ct, err := a.Seal(ctx, "s", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := keys.New(ctx, db, master())
	if _, err := b.Open(ctx, "s", ct); err == nil {
		t.Fatal("data opened under another master key")
	}
}
