// Package store is Veil's document-store contract: collections of JSON
// documents with a few indexed keys, read-write transactions, and typed
// repositories on top. infra/sqlite (embedded default) and infra/firestore
// (production) implement Backend; infra/storetest is the one conformance
// suite both must pass, so every feature behaves alike on both.
package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
)

// Doc is one stored document. Data is its JSON; Keys are the indexed values
// queries can filter and order on (string, int64 or bool only, so both
// backends compare them the same way — times are stored as Unix seconds).
type Doc struct {
	ID   string
	Data []byte
	Keys map[string]any
}

// Op is a comparison in a filter.
type Op string

const (
	EQ Op = "=="
	LT Op = "<"
	LE Op = "<="
	GT Op = ">"
	GE Op = ">="
)

// Filter compares an indexed key with a value.
type Filter struct {
	Key   string
	Op    Op
	Value any
}

// Query selects documents of one collection. Results are ordered by OrderBy
// (then by ID, so pages are stable); with OrderBy empty, by the key of the
// first range filter (Firestore must order by it first, and SQLite then
// walks that key's index instead of scanning the table), else by ID alone.
// After resumes behind a document of a previous page.
type Query struct {
	Filters []Filter
	OrderBy string
	Desc    bool
	After   *Doc
	Limit   int // 0 means DefaultLimit; never unbounded
}

// Where is shorthand for an equality filter.
func Where(key string, op Op, v any) Filter { return Filter{Key: key, Op: op, Value: v} }

// Limits that keep one call bounded on either backend.
const (
	DefaultLimit = 100
	MaxLimit     = 500 // Firestore writes at most 500 documents per transaction
)

// Backend is a document store.
type Backend interface {
	// Location is where the data physically lives ("cn-north-1",
	// "local:cn"); residency checks (R6) compare it with a subject's region.
	Location() string
	// Ensure prepares a collection (tables and indexes in SQLite; nothing in
	// Firestore, whose indexes are deployed from firestore.indexes.json).
	Ensure(ctx context.Context, c Collection) error
	Get(ctx context.Context, coll, id string) (*Doc, error)
	// GetAll reads the documents with ids (at most MaxLimit) in one round
	// trip; out[i] is ids[i]'s document, nil if there is none.
	GetAll(ctx context.Context, coll string, ids []string) ([]*Doc, error)
	Query(ctx context.Context, coll string, q Query) ([]*Doc, error)
	// Tx runs fn in a read-write transaction. fn may be run more than once
	// (Firestore retries on contention), so it must not have side effects
	// outside tx. All reads must come before the first write.
	Tx(ctx context.Context, fn func(tx Tx) error) error
	Close() error
}

// Tx is the view of a transaction. Get returns an ENOTFOUND domain error for
// a missing document; Create an ECONFLICT one for an existing document.
type Tx interface {
	Get(coll, id string) (*Doc, error)
	Query(coll string, q Query) ([]*Doc, error)
	Create(coll string, d *Doc) error
	Set(coll string, d *Doc) error
	Delete(coll, id string) error
	// DeleteWhere deletes the documents q selects — its filters, in its
	// order (as Query orders them), at most q.Limit — and returns how many
	// it deleted: one statement in SQLite instead of a read and a write per
	// document. q.After must be nil (deleted documents are no place to
	// resume from). It reads before it writes, so in a transaction it comes
	// after every read and before every other write, and at most once.
	// A backend may delete fewer than q.Limit in one call (Firestore: at
	// most MaxLimit, its writes per transaction) but never none while any
	// match: a caller deleting everything repeats it until it returns 0.
	DeleteWhere(coll string, q Query) (int, error)
}

// KeyKind is the type of an indexed key.
type KeyKind string

const (
	String KeyKind = "string"
	Int    KeyKind = "int"
	Bool   KeyKind = "bool"
)

// Key declares an indexed key of a collection.
type Key struct {
	Name string
	Kind KeyKind
	// Composite says the key has no index of its own: it is filtered on
	// only by equality at the head of a declared composite index, ordered
	// by that index's next key (by the first such index's when a query
	// names no order); Firestore: a single-field index exemption.
	// Each index is written on every document and walked again for every
	// deletion; one a collection's queries never need is pure cost.
	Composite bool
}

// Collection declares a collection: its name, its indexed keys, and the
// composite indexes its queries need (equality keys first, then the order
// or range key), which Firestore must have declared.
type Collection struct {
	Name    string
	Keys    []Key
	Indexes [][]string
}

var identifier = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Validate checks names, because SQLite builds identifiers from them.
func (c Collection) Validate() error {
	if !identifier.MatchString(c.Name) {
		return fmt.Errorf("store: bad collection name %q", c.Name)
	}
	for _, k := range c.Keys {
		// "data" and "id" hold the document itself on every backend.
		if k.Name == "data" || k.Name == "id" {
			return fmt.Errorf("store: key name %q is reserved (in %s)", k.Name, c.Name)
		}
		if !identifier.MatchString(k.Name) {
			return fmt.Errorf("store: bad key name %q in %s", k.Name, c.Name)
		}
		switch k.Kind {
		case String, Int, Bool:
		default:
			return fmt.Errorf("store: key %s.%s has unknown kind %q", c.Name, k.Name, k.Kind)
		}
	}
	for _, ix := range c.Indexes {
		for _, name := range ix {
			if _, ok := c.Key(name); !ok {
				return fmt.Errorf("store: index on %s names unknown key %q", c.Name, name)
			}
		}
	}
	for _, k := range c.Keys {
		if k.Composite && len(c.orders(k.Name)) == 0 {
			return fmt.Errorf("store: key %s.%s is indexed only in composites, and no composite index starts with it", c.Name, k.Name)
		}
	}
	return nil
}

// orders lists the keys a query with an equality on the Composite key
// name can be ordered by: the second key of each declared index that
// starts with it.
func (c Collection) orders(name string) []string {
	var out []string
	for _, ix := range c.Indexes {
		if len(ix) >= 2 && ix[0] == name {
			out = append(out, ix[1])
		}
	}
	return out
}

// Key returns the declared key named name.
func (c Collection) Key(name string) (Key, bool) {
	for _, k := range c.Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// CheckQuery rejects queries on undeclared keys and unbounded limits, so a
// query that works on one backend cannot fail on the other.
func (c Collection) CheckQuery(q Query) (Query, error) {
	for _, f := range q.Filters {
		if _, ok := c.Key(f.Key); !ok {
			return q, fmt.Errorf("store: %s has no indexed key %q", c.Name, f.Key)
		}
		switch f.Op {
		case EQ, LT, LE, GT, GE:
		default:
			return q, fmt.Errorf("store: bad operator %q", f.Op)
		}
	}
	if q.OrderBy == "" {
		for _, f := range q.Filters {
			if f.Op != EQ {
				q.OrderBy = f.Key
				break
			}
		}
	}
	if q.OrderBy == "" {
		// An equality on a Composite key is served by its index, in
		// that index's order.
		for _, f := range q.Filters {
			if k, _ := c.Key(f.Key); k.Composite {
				q.OrderBy = c.orders(k.Name)[0]
				break
			}
		}
	}
	if q.OrderBy != "" {
		if _, ok := c.Key(q.OrderBy); !ok {
			return q, fmt.Errorf("store: %s has no indexed key %q to order by", c.Name, q.OrderBy)
		}
	}
	for _, f := range q.Filters {
		if k, _ := c.Key(f.Key); k.Composite {
			if f.Op != EQ || !slices.Contains(c.orders(k.Name), q.OrderBy) {
				return q, fmt.Errorf("store: %s.%s has no index of its own: filter on it by equality and order by one of %v", c.Name, k.Name, c.orders(k.Name))
			}
		}
	}
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit > MaxLimit {
		q.Limit = MaxLimit
	}
	return q, nil
}

// CheckGetAll bounds a GetAll.
func CheckGetAll(ids []string) error {
	if len(ids) > MaxLimit {
		return fmt.Errorf("store: GetAll of %d documents; at most %d at a time", len(ids), MaxLimit)
	}
	return nil
}

// MaxDeleteLimit bounds one DeleteWhere on a backend without Firestore's
// cap. It is larger than MaxLimit because a deletion's cost in SQLite is
// mostly index pages rewritten once per transaction: fewer, larger
// transactions rewrite each far fewer times (docs/performance.md, "Export
// and deletion").
const MaxDeleteLimit = 10_000

// CheckDelete is CheckQuery for Tx.DeleteWhere: the same checks and
// order, no After, and a limit of at most max (the backend's cap per call,
// MaxLimit or MaxDeleteLimit) instead of MaxLimit.
func (c Collection) CheckDelete(q Query, max int) (Query, error) {
	if q.After != nil {
		return q, fmt.Errorf("store: DeleteWhere on %s with After: it deletes from the start of the order", c.Name)
	}
	limit := q.Limit
	q, err := c.CheckQuery(q)
	if err != nil {
		return q, err
	}
	switch {
	case limit <= 0:
		q.Limit = DefaultLimit
	case limit > max:
		q.Limit = max
	default:
		q.Limit = limit
	}
	return q, nil
}

// Purger is implemented by backends whose files can keep deleted content
// (SQLite's WAL); erasure calls it after deleting a subject.
type Purger interface {
	Purge(ctx context.Context) error
}
