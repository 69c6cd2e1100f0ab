package keys_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/veil-privacy/veil/infra/keys"
)

func TestBatchMatchesRing(t *testing.T) {
	ctx := context.Background()
	r := ring(t, bytes.Repeat([]byte{3}, 32))
	if _, err := r.Batch(ctx, "s1", false); err != keys.ErrShredded {
		t.Fatalf("opening batch for a subject without key: %v, want ErrShredded", err)
	}
	byRing, err := r.Seal(ctx, "s1", []byte("from the ring"))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := r.Batch(ctx, "s1", false)
	if err != nil {
		t.Fatal(err)
	}
	byBatch, err := batch.Seal([]byte("from the batch"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		open  func() ([]byte, error)
		plain string
	}{
		{"batch opens ring's", func() ([]byte, error) { return batch.Open(byRing) }, "from the ring"},
		{"ring opens batch's", func() ([]byte, error) { return r.Open(ctx, "s1", byBatch) }, "from the batch"},
	}
	for _, c := range cases {
		got, err := c.open()
		if err != nil || string(got) != c.plain {
			t.Errorf("%s: %q, %v", c.name, got, err)
		}
	}
	other, err := r.Batch(ctx, "s2", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(byRing); err == nil {
		t.Error("another subject's batch opened s1's ciphertext")
	}
}
