// Package blobtest is the conformance suite every blob.Store passes. Each
// backend's tests call Run with a constructor for a fresh, empty store.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/privacy"
)

// bigSize is over one S3 part (8 MiB) and not a multiple of it, so a
// backend that streams in parts sends a full part and a short last one.
const bigSize = 9<<20 + 12345

// Run runs the suite. open returns a fresh store.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	ctx := context.Background()

	t.Run("LargeRoundTrip", func(t *testing.T) {
		s := open(t)
		want := sha256.New()
		// A reader without Seek or Len, as an export streaming a ZIP is.
		src := onlyReader{io.TeeReader(io.LimitReader(pseudoRandom(1), bigSize), want)}
		must(t, s.Put(ctx, "exports/req-1/bundle.zip", src, "application/zip"))
		got := sha256.New()
		n := copyOut(t, s, "exports/req-1/bundle.zip", got)
		if n != bigSize || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatalf("read back %d bytes, want %d, same content %v", n, bigSize, bytes.Equal(got.Sum(nil), want.Sum(nil)))
		}
	})

	t.Run("SmallAndEmpty", func(t *testing.T) {
		s := open(t)
		cases := []struct{ key, body string }{
			{"a.json", `{"x":1}`},
			{"empty.bin", ""},
			{"d1/d2/d3/deep.csv", "a,b\n1,2\n"},
		}
		for _, c := range cases {
			must(t, s.Put(ctx, c.key, strings.NewReader(c.body), "text/plain"))
			if got := readAll(t, s, c.key); got != c.body {
				t.Errorf("%s: read %q, want %q", c.key, got, c.body)
			}
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := open(t)
		must(t, s.Put(ctx, "k.txt", strings.NewReader("first version, longer"), "text/plain"))
		must(t, s.Put(ctx, "k.txt", strings.NewReader("second"), "text/plain"))
		if got := readAll(t, s, "k.txt"); got != "second" {
			t.Fatalf("after overwrite: %q", got)
		}
	})

	t.Run("DeleteAndMissing", func(t *testing.T) {
		s := open(t)
		must(t, s.Put(ctx, "gone.txt", strings.NewReader("x"), "text/plain"))
		must(t, s.Delete(ctx, "gone.txt"))
		must(t, s.Delete(ctx, "gone.txt")) // deleting an absent blob is fine
		for _, key := range []string{"gone.txt", "never-written", "no/such/dir/file"} {
			rc, err := s.Open(ctx, key)
			if err == nil {
				rc.Close()
			}
			if !privacy.IsNotFound(err) {
				t.Errorf("Open(%q): want not_found, got %v", key, err)
			}
		}
	})

	t.Run("BadKeysRefused", func(t *testing.T) {
		s := open(t)
		bad := []string{"", "../x", "/abs", "a/../../b", "Upper", "a//b", ".hidden", "a/.b", "a\\b", "a b", "a/b/c/d/e", strings.Repeat("x", 129)}
		for _, key := range bad {
			body := &tripwire{}
			if err := s.Put(ctx, key, body, "text/plain"); privacy.ErrorCode(err) != privacy.EINVALID {
				t.Errorf("Put(%q): want invalid, got %v", key, err)
			}
			if body.read {
				t.Errorf("Put(%q) read the body before refusing the key", key)
			}
			if rc, err := s.Open(ctx, key); privacy.ErrorCode(err) != privacy.EINVALID {
				if err == nil {
					rc.Close()
				}
				t.Errorf("Open(%q): want invalid, got %v", key, err)
			}
			if err := s.Delete(ctx, key); privacy.ErrorCode(err) != privacy.EINVALID {
				t.Errorf("Delete(%q): want invalid, got %v", key, err)
			}
			if u, err := s.URL(ctx, key, time.Hour); privacy.ErrorCode(err) != privacy.EINVALID {
				t.Errorf("URL(%q) = %q, %v: want invalid", key, u, err)
			}
		}
	})

	t.Run("URL", func(t *testing.T) {
		s := open(t)
		keys := []string{"exports/a/bundle.zip", "exports/b/bundle.zip"}
		urls := map[string]bool{}
		for _, key := range keys {
			must(t, s.Put(ctx, key, strings.NewReader(key), "application/zip"))
			u, err := s.URL(ctx, key, 15*time.Minute)
			if err != nil {
				t.Fatalf("URL(%q): %v", key, err)
			}
			if u == "" || urls[u] {
				t.Fatalf("URL(%q) = %q: want a distinct, non-empty link per key", key, u)
			}
			urls[u] = true
		}
	})

	t.Run("Location", func(t *testing.T) {
		if open(t).Location() == "" {
			t.Fatal("every backend must declare its location (R6)")
		}
	})
}

// onlyReader hides every method but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// tripwire records whether anyone read it.
type tripwire struct{ read bool }

func (t *tripwire) Read(p []byte) (int, error) { t.read = true; return 0, io.EOF }

// pseudoRandom is incompressible and reproducible, so a failure can be
// replayed and a backend that compresses or dedupes cannot shortcut it.
func pseudoRandom(seed uint64) io.Reader {
	return readerFunc(rand.New(rand.NewPCG(seed, seed)).Uint64)
}

type readerFunc func() uint64

func (f readerFunc) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f())
	}
	return len(p), nil
}

func copyOut(t *testing.T, s blob.Store, key string, w io.Writer) int64 {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	n, err := io.Copy(w, rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return n
}

func readAll(t *testing.T, s blob.Store, key string) string {
	t.Helper()
	var b strings.Builder
	copyOut(t, s, key, &b)
	return b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
