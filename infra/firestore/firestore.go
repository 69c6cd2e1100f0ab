// Package firestore is the production document store (store.Backend) on
// Cloud Firestore. A store.Doc becomes one Firestore document in the
// collection of the same name: its JSON in the field "data" (bytes) and one
// top-level field per declared key (string, int64 or bool, native), so
// Firestore's own indexes serve the queries. Composite indexes are not
// created at run time: they are deployed from firestore.indexes.json, which
// IndexesJSON generates from the collection declarations.
package firestore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	gfs "cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// dataField holds a document's JSON. Ensure refuses a key of that name so
// a key can never overwrite the data.
const dataField = "data"

// DB is a store.Backend on one Firestore database.
type DB struct {
	c        *gfs.Client
	location string

	mu    sync.RWMutex
	colls map[string]store.Collection
}

// Open connects to databaseID ("" or "(default)" for the default database)
// of projectID. location is what the backend declares for residency checks
// (R6), e.g. "asia-east2" or a mainland-China region; it must match where
// the database was created, which the client cannot check. Credentials come
// from Application Default Credentials unless opts say otherwise; with
// FIRESTORE_EMULATOR_HOST set, the client talks to the emulator instead.
func Open(ctx context.Context, projectID, databaseID, location string, opts ...option.ClientOption) (*DB, error) {
	if projectID == "" {
		return nil, errors.New("firestore: project id is required")
	}
	if location == "" {
		return nil, errors.New("firestore: location is required (R6: every backend declares where data lives)")
	}
	var (
		c   *gfs.Client
		err error
	)
	if databaseID == "" || databaseID == gfs.DefaultDatabaseID {
		c, err = gfs.NewClient(ctx, projectID, opts...)
	} else {
		c, err = gfs.NewClientWithDatabase(ctx, projectID, databaseID, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("firestore: connect to %s/%s: %w", projectID, databaseID, err)
	}
	return &DB{c: c, location: location, colls: map[string]store.Collection{}}, nil
}

// Location implements store.Backend.
func (db *DB) Location() string { return db.location }

// Close implements store.Backend.
func (db *DB) Close() error { return db.c.Close() }

// Client is the underlying client, for operations tooling.
func (db *DB) Client() *gfs.Client { return db.c }

// Ensure implements store.Backend. Firestore needs no schema, but the
// declaration is kept: reads fill in absent keys and writes convert values
// by the declared kinds, and an undeclared collection fails here as it does
// in SQLite instead of first in production.
func (db *DB) Ensure(ctx context.Context, c store.Collection) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, k := range c.Keys {
		if k.Name == dataField {
			return fmt.Errorf("firestore: collection %s declares a key named %q, which is where the document's JSON is stored", c.Name, dataField)
		}
	}
	db.mu.Lock()
	db.colls[c.Name] = c
	db.mu.Unlock()
	return nil
}

// Purge implements store.Purger. A Firestore delete is final for every
// reader; earlier versions survive only in point-in-time recovery (at most
// seven days, if enabled) and in backups, which crypto-shredding covers
// (R12). There is nothing to compact.
func (db *DB) Purge(ctx context.Context) error { return nil }

func (db *DB) collection(name string) (store.Collection, error) {
	db.mu.RLock()
	c, ok := db.colls[name]
	db.mu.RUnlock()
	if !ok {
		return c, fmt.Errorf("firestore: collection %q was never ensured", name)
	}
	return c, nil
}

// Get implements store.Backend.
func (db *DB) Get(ctx context.Context, coll, id string) (*store.Doc, error) {
	c, err := db.collection(coll)
	if err != nil {
		return nil, err
	}
	snap, err := db.c.Collection(coll).Doc(encodeID(id)).Get(ctx)
	if err != nil {
		return nil, mapErr(err, coll, id)
	}
	return decode(c, snap)
}

// GetAll implements store.Backend with one BatchGetDocuments call.
func (db *DB) GetAll(ctx context.Context, coll string, ids []string) ([]*store.Doc, error) {
	if err := store.CheckGetAll(ids); err != nil {
		return nil, err
	}
	out := make([]*store.Doc, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	c, err := db.collection(coll)
	if err != nil {
		return nil, err
	}
	refs := make([]*gfs.DocumentRef, len(ids))
	for i, id := range ids {
		refs[i] = db.c.Collection(coll).Doc(encodeID(id))
	}
	snaps, err := db.c.GetAll(ctx, refs)
	if err != nil {
		return nil, mapErr(err, coll, "")
	}
	for i, snap := range snaps {
		if !snap.Exists() {
			continue
		}
		if out[i], err = decode(c, snap); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Query implements store.Backend.
func (db *DB) Query(ctx context.Context, coll string, q store.Query) ([]*store.Doc, error) {
	c, fq, err := db.query(coll, q)
	if err != nil {
		return nil, err
	}
	return collect(c, fq.Documents(ctx))
}

// query translates q. The document id is always the last ordering, in the
// same direction as the key, so that pages are stable and After can resume
// from (key value, id) exactly as SQLite's row-value comparison does.
func (db *DB) query(coll string, q store.Query) (store.Collection, gfs.Query, error) {
	c, err := db.collection(coll)
	if err != nil {
		return c, gfs.Query{}, err
	}
	if q, err = c.CheckQuery(q); err != nil {
		return c, gfs.Query{}, err
	}
	fq := db.c.Collection(coll).Query
	for _, f := range q.Filters {
		k, _ := c.Key(f.Key)
		v, err := keyValue(k, f.Value)
		if err != nil {
			return c, gfs.Query{}, err
		}
		fq = fq.Where(f.Key, string(f.Op), v)
	}
	dir := gfs.Asc
	if q.Desc {
		dir = gfs.Desc
	}
	if q.OrderBy != "" {
		fq = fq.OrderBy(q.OrderBy, dir)
	}
	fq = fq.OrderBy(gfs.DocumentID, dir)
	if q.After != nil {
		if q.OrderBy != "" {
			k, _ := c.Key(q.OrderBy)
			v, err := keyValue(k, q.After.Keys[q.OrderBy])
			if err != nil {
				return c, gfs.Query{}, err
			}
			fq = fq.StartAfter(v, encodeID(q.After.ID))
		} else {
			fq = fq.StartAfter(encodeID(q.After.ID))
		}
	}
	return c, fq.Limit(q.Limit), nil
}

func collect(c store.Collection, it *gfs.DocumentIterator) ([]*store.Doc, error) {
	defer it.Stop()
	var out []*store.Doc
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, mapErr(err, c.Name, "")
		}
		d, err := decode(c, snap)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
}

// Tx implements store.Backend with RunTransaction: the client retries fn
// when a commit is aborted by contention (five attempts with backoff, then
// EUNAVAILABLE), and refuses reads after writes, which surfaces here as an
// error from Tx even if fn ignored the failed read.
func (db *DB) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	err := db.c.RunTransaction(ctx, func(ctx context.Context, t *gfs.Transaction) error {
		return fn(&tx{db: db, ctx: ctx, t: t})
	})
	return mapErr(err, "", "")
}

type tx struct {
	db  *DB
	ctx context.Context
	t   *gfs.Transaction
}

// Context is the transaction's context, so that events staged in the
// transaction carry its trace (as the SQLite backend's does).
func (t *tx) Context() context.Context { return t.ctx }

func (t *tx) Get(coll, id string) (*store.Doc, error) {
	c, err := t.db.collection(coll)
	if err != nil {
		return nil, err
	}
	snap, err := t.t.Get(t.db.c.Collection(coll).Doc(encodeID(id)))
	if err != nil {
		return nil, mapErr(err, coll, id)
	}
	return decode(c, snap)
}

func (t *tx) Query(coll string, q store.Query) ([]*store.Doc, error) {
	c, fq, err := t.db.query(coll, q)
	if err != nil {
		return nil, err
	}
	return collect(c, t.t.Documents(fq))
}

func (t *tx) Create(coll string, d *store.Doc) error {
	ref, fields, err := t.db.encode(coll, d)
	if err != nil {
		return err
	}
	return mapErr(t.t.Create(ref, fields), coll, d.ID)
}

func (t *tx) Set(coll string, d *store.Doc) error {
	ref, fields, err := t.db.encode(coll, d)
	if err != nil {
		return err
	}
	// A Set without merge replaces the whole document, so a key the new
	// version no longer has cannot keep matching queries.
	return mapErr(t.t.Set(ref, fields), coll, d.ID)
}

func (t *tx) Delete(coll, id string) error {
	if _, err := t.db.collection(coll); err != nil {
		return err
	}
	return mapErr(t.t.Delete(t.db.c.Collection(coll).Doc(encodeID(id))), coll, id)
}

// DeleteWhere implements store.Tx: the query, reading ids only, then one
// delete per document in the transaction, at most store.MaxLimit of them
// (Firestore's writes per transaction). The documents read are part of the
// transaction, so one written meanwhile makes it retry, not survive.
func (t *tx) DeleteWhere(coll string, q store.Query) (int, error) {
	c, err := t.db.collection(coll)
	if err != nil {
		return 0, err
	}
	if q, err = c.CheckDelete(q, store.MaxLimit); err != nil {
		return 0, err
	}
	_, fq, err := t.db.query(coll, q)
	if err != nil {
		return 0, err
	}
	it := t.t.Documents(fq.Select())
	defer it.Stop()
	var refs []*gfs.DocumentRef
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return 0, mapErr(err, coll, "")
		}
		refs = append(refs, snap.Ref)
	}
	for _, ref := range refs {
		if err := t.t.Delete(ref); err != nil {
			return 0, mapErr(err, coll, "")
		}
	}
	return len(refs), nil
}

// encode builds the stored fields. Every declared key is written, with
// its kind's zero value when the document has none, as SQLite stores them:
// Firestore leaves documents without a field out of queries on it, which
// would make the two backends disagree.
func (db *DB) encode(coll string, d *store.Doc) (*gfs.DocumentRef, map[string]any, error) {
	c, err := db.collection(coll)
	if err != nil {
		return nil, nil, err
	}
	if d.ID == "" {
		return nil, nil, privacy.Errorf(privacy.EINTERNAL, "firestore: %s document without id", coll)
	}
	fields := make(map[string]any, len(c.Keys)+1)
	fields[dataField] = d.Data
	for _, k := range c.Keys {
		v, err := keyValue(k, d.Keys[k.Name])
		if err != nil {
			return nil, nil, err
		}
		fields[k.Name] = v
	}
	return db.c.Collection(coll).Doc(encodeID(d.ID)), fields, nil
}

func decode(c store.Collection, snap *gfs.DocumentSnapshot) (*store.Doc, error) {
	id, err := decodeID(snap.Ref.ID)
	if err != nil {
		return nil, err
	}
	m := snap.Data()
	data, ok := m[dataField].([]byte)
	if !ok {
		return nil, fmt.Errorf("firestore: %s/%s has no %q bytes field", c.Name, id, dataField)
	}
	d := &store.Doc{ID: id, Data: data, Keys: make(map[string]any, len(c.Keys))}
	for _, k := range c.Keys {
		// A document written before the key was declared reads as the
		// zero value, as a NULL column does in SQLite.
		v, err := keyValue(k, m[k.Name])
		if err != nil {
			return nil, fmt.Errorf("firestore: %s/%s: %w", c.Name, id, err)
		}
		d.Keys[k.Name] = v
	}
	return d, nil
}

// keyValue converts v to the Go type Firestore stores for k's kind.
// Mismatched types are refused rather than stored: Firestore orders values
// of different types apart, so a string in an int key would silently drop
// out of range queries.
func keyValue(k store.Key, v any) (any, error) {
	switch k.Kind {
	case store.String:
		switch x := v.(type) {
		case nil:
			return "", nil
		case string:
			return x, nil
		}
	case store.Int:
		switch x := v.(type) {
		case nil:
			return int64(0), nil
		case int:
			return int64(x), nil
		case int8:
			return int64(x), nil
		case int16:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case int64:
			return x, nil
		case uint8:
			return int64(x), nil
		case uint16:
			return int64(x), nil
		case uint32:
			return int64(x), nil
		}
	case store.Bool:
		switch x := v.(type) {
		case nil:
			return false, nil
		case bool:
			return x, nil
		}
	}
	return nil, fmt.Errorf("firestore: key %s is %s, got %T", k.Name, k.Kind, v)
}

// encodeID makes any store id a valid Firestore document id. Firestore
// forbids "/" (a path separator), the ids "." and "..", and ids of the form
// __x__; subject keys can contain "/" (it is legal in an email's local
// part). Percent-escaping "%" and "/" everywhere, and the first character
// of a reserved id, is injective and leaves ordinary ids untouched.
func encodeID(id string) string {
	if !strings.ContainsAny(id, "%/") && id != "." && id != ".." && !(strings.HasPrefix(id, "__") && strings.HasSuffix(id, "__")) {
		return id
	}
	e := strings.NewReplacer("%", "%25", "/", "%2F").Replace(id)
	switch {
	case e == "." || e == "..":
		e = "%2E" + e[1:]
	case strings.HasPrefix(e, "__") && strings.HasSuffix(e, "__"):
		e = "%5F" + e[1:]
	}
	return e
}

func decodeID(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	id, err := url.PathUnescape(s)
	if err != nil {
		return "", fmt.Errorf("firestore: bad stored document id %q: %w", s, err)
	}
	return id, nil
}

// mapErr turns Firestore's gRPC codes into domain errors. Errors that are
// already domain errors, and fn's own errors from Tx, pass through
// unchanged. Messages name the collection and id, as SQLite's do, but never
// echo the server's text, which can carry a full document path.
func mapErr(err error, coll, id string) error {
	if err == nil {
		return nil
	}
	var pe *privacy.Error
	if errors.As(err, &pe) {
		return err
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch s.Code() {
	case codes.NotFound:
		return privacy.Errorf(privacy.ENOTFOUND, "%s %s not found", coll, id)
	case codes.AlreadyExists:
		if coll == "" {
			return privacy.Errorf(privacy.ECONFLICT, "document already exists")
		}
		return privacy.Errorf(privacy.ECONFLICT, "%s %s already exists", coll, id)
	case codes.Aborted, codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
		// Wrapped, not replaced: the gRPC status stays in the chain for the
		// logs, and an Aborted read inside RunTransaction is still seen as
		// retryable by the client.
		return fmt.Errorf("%w: %w", privacy.Errorf(privacy.EUNAVAILABLE, "document store busy or unreachable, retry later"), err)
	}
	return err
}
