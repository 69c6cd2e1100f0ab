package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/veil-privacy/veil/privacy"
)

// Repo is a typed repository over one collection: documents are T encoded as
// JSON, with the document id and indexed keys computed from T.
type Repo[T any] struct {
	B    Backend
	C    Collection
	ID   func(*T) string
	Keys func(*T) map[string]any
}

func (r Repo[T]) encode(v *T) (*Doc, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s: %w", r.C.Name, err)
	}
	d := &Doc{ID: r.ID(v), Data: data}
	if r.Keys != nil {
		d.Keys = r.Keys(v)
	}
	if d.ID == "" {
		return nil, privacy.Errorf(privacy.EINTERNAL, "store: %s document without id", r.C.Name)
	}
	return d, nil
}

func (r Repo[T]) decode(d *Doc) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(d.Data, v); err != nil {
		return nil, fmt.Errorf("store: decode %s/%s: %w", r.C.Name, d.ID, err)
	}
	return v, nil
}

// Get returns the document with id, or an ENOTFOUND error.
func (r Repo[T]) Get(ctx context.Context, id string) (*T, error) {
	d, err := r.B.Get(ctx, r.C.Name, id)
	if err != nil {
		return nil, err
	}
	return r.decode(d)
}

// GetAll reads the documents with ids in one round trip: out[i] is
// ids[i]'s, nil if there is none.
func (r Repo[T]) GetAll(ctx context.Context, ids []string) ([]*T, error) {
	docs, err := r.B.GetAll(ctx, r.C.Name, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*T, len(docs))
	for i, d := range docs {
		if d == nil {
			continue
		}
		if out[i], err = r.decode(d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Create stores v; ECONFLICT if its id exists.
func (r Repo[T]) Create(ctx context.Context, v *T) error {
	return r.B.Tx(ctx, func(tx Tx) error { return r.In(tx).Create(v) })
}

// Put stores v, replacing any document with its id.
func (r Repo[T]) Put(ctx context.Context, v *T) error {
	return r.B.Tx(ctx, func(tx Tx) error { return r.In(tx).Put(v) })
}

// Update runs fn on the current document inside a transaction and stores
// the result; fn's error aborts it. fn may run more than once.
func (r Repo[T]) Update(ctx context.Context, id string, fn func(*T) error) (*T, error) {
	var out *T
	err := r.B.Tx(ctx, func(tx Tx) error {
		v, err := r.In(tx).Get(id)
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
		out = v
		return r.In(tx).Put(v)
	})
	return out, err
}

// Delete removes the document (no error if absent).
func (r Repo[T]) Delete(ctx context.Context, id string) error {
	return r.B.Tx(ctx, func(tx Tx) error { return r.In(tx).Delete(id) })
}

// Find returns one page of documents matching q.
func (r Repo[T]) Find(ctx context.Context, q Query) ([]*T, error) {
	q, err := r.C.CheckQuery(q)
	if err != nil {
		return nil, err
	}
	docs, err := r.B.Query(ctx, r.C.Name, q)
	if err != nil {
		return nil, err
	}
	return r.decodeAll(docs)
}

// Each calls fn for every document matching q, a page at a time, so memory
// stays bounded however many match. fn must not change the order key of
// documents not yet visited.
func (r Repo[T]) Each(ctx context.Context, q Query, fn func(*T) error) error {
	q, err := r.C.CheckQuery(q)
	if err != nil {
		return err
	}
	for {
		docs, err := r.B.Query(ctx, r.C.Name, q)
		if err != nil {
			return err
		}
		for _, d := range docs {
			v, err := r.decode(d)
			if err != nil {
				return err
			}
			if err := fn(v); err != nil {
				return err
			}
		}
		if len(docs) < q.Limit {
			return nil
		}
		q.After = docs[len(docs)-1]
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (r Repo[T]) decodeAll(docs []*Doc) ([]*T, error) {
	out := make([]*T, 0, len(docs))
	for _, d := range docs {
		v, err := r.decode(d)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// In binds the repository to a transaction.
func (r Repo[T]) In(tx Tx) TxRepo[T] { return TxRepo[T]{r: r, tx: tx} }

// TxRepo is a Repo inside a transaction.
type TxRepo[T any] struct {
	r  Repo[T]
	tx Tx
}

// Get reads inside the transaction.
func (t TxRepo[T]) Get(id string) (*T, error) {
	d, err := t.tx.Get(t.r.C.Name, id)
	if err != nil {
		return nil, err
	}
	return t.r.decode(d)
}

// Find queries inside the transaction.
func (t TxRepo[T]) Find(q Query) ([]*T, error) {
	q, err := t.r.C.CheckQuery(q)
	if err != nil {
		return nil, err
	}
	docs, err := t.tx.Query(t.r.C.Name, q)
	if err != nil {
		return nil, err
	}
	return t.r.decodeAll(docs)
}

// Create writes a new document.
func (t TxRepo[T]) Create(v *T) error {
	d, err := t.r.encode(v)
	if err != nil {
		return err
	}
	return t.tx.Create(t.r.C.Name, d)
}

// Put writes v, replacing any previous version.
func (t TxRepo[T]) Put(v *T) error {
	d, err := t.r.encode(v)
	if err != nil {
		return err
	}
	return t.tx.Set(t.r.C.Name, d)
}

// Delete removes a document.
func (t TxRepo[T]) Delete(id string) error { return t.tx.Delete(t.r.C.Name, id) }

// Count counts the documents of coll that q selects, up to limit, a page
// at a time and without decoding them (gauges, the broker's backlog).
func Count(ctx context.Context, b Backend, coll string, q Query, limit int) (int, error) {
	n := 0
	q.After = nil
	for n < limit {
		q.Limit = min(MaxLimit, limit-n)
		docs, err := b.Query(ctx, coll, q)
		if err != nil {
			return n, err
		}
		n += len(docs)
		if len(docs) < q.Limit {
			break
		}
		q.After = docs[len(docs)-1]
	}
	return n, nil
}
