// Package sqlite is the embedded document store (store.Backend) on one
// SQLite file, in pure Go (modernc.org/sqlite): WAL for concurrent readers,
// one writer connection whose transactions start with BEGIN IMMEDIATE, and
// secure_delete so erased documents do not linger in free pages.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// DB is a store.Backend on a SQLite file.
type DB struct {
	w, r     *sql.DB // writer (one connection) and readers
	cp       *sql.DB // the background checkpoint's connection
	path     string
	location string

	mu    sync.RWMutex
	colls map[string]store.Collection

	// Prepared statements, one cache per pool: preparing was 12–20 % of
	// every store call. The SQL of a call depends only on the collection
	// and the query's shape (values are parameters), so the set is small.
	ws, rs stmtCache

	stop, stopped chan struct{} // the background checkpoint
	closeOnce     sync.Once
}

// stmtCache keeps prepared statements by their SQL. database/sql prepares
// each lazily on every connection of its pool and reuses it there; a
// transaction borrows the writer's through Tx.StmtContext.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxStmts bounds a cache: past it, statements are prepared per call, as
// before (no known caller comes near it).
const maxStmts = 512

func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// prepare returns the cached statement for query, preparing and caching it
// if needed; cached is false past maxStmts (the caller closes it then).
func (c *stmtCache) prepare(ctx context.Context, pool *sql.DB, query string) (st *sql.Stmt, cached bool, err error) {
	if st := c.lookup(query); st != nil {
		return st, true, nil
	}
	st, err = pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.m[query]; ok { // prepared meanwhile by another caller
		st.Close()
		return have, true, nil
	}
	if len(c.m) >= maxStmts {
		return st, false, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, true, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

// Open opens (creating if needed) the database file at path. location is
// what the backend declares for residency checks (R6).
func Open(ctx context.Context, path, location string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "secure_delete(ON)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	// The path is part of a URI: escape what would end or alter it, or a
	// data directory containing "#" or "?" opens a different file.
	dsn := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?" + q.Encode()
	// Page caches (cache_size, KiB): the writer's 16 MiB instead of 2 MiB,
	// because an ad record sits in its table and four index b-trees and a
	// large deletion with the default cache made most b-tree steps a pread;
	// each reader's 4 MiB. Each cached page costs about twice its size in
	// RSS under this SQLite's allocator, so five 16 MiB caches would take
	// an export past 100 MiB (docs/performance.md, "Export and deletion").
	//
	// The writer checkpoints only as a backstop (every 4,000 pages, ~16 MiB
	// of WAL): checkpoints normally run in the background (checkpoint), so
	// copying pages into the database and its fsync are off the commit
	// path, and a page rewritten by many commits is copied once.
	w, err := sql.Open("sqlite", dsn+"&_pragma=cache_size(-16384)&_pragma=wal_autocheckpoint(4000)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// One writer: SQLite allows one anyway, and queueing in Go is kinder
	// than spinning on SQLITE_BUSY.
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn+"&_pragma=cache_size(-4096)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// The background checkpoint has a connection of its own, with a small
	// cache: it copies pages from the WAL, it does not walk b-trees, and
	// on a reader's connection it filled that reader's cache too.
	cp, err := sql.Open("sqlite", dsn+"&_pragma=cache_size(-256)")
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	cp.SetMaxOpenConns(1)
	r.SetMaxOpenConns(4)
	// Keep every reader open: database/sql keeps 2 idle by default, and
	// reopening one (pragmas, schema, page cache) cost more than the reads.
	r.SetMaxIdleConns(4)
	db := &DB{w: w, r: r, cp: cp, path: path, location: location, colls: map[string]store.Collection{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := db.migrate(ctx); err != nil {
		close(db.stopped)
		db.Close()
		return nil, err
	}
	go db.checkpoint(checkpointEvery)
	return db, nil
}

// checkpointEvery is how often the background checkpoint runs.
const checkpointEvery = time.Second

// checkpoint copies committed WAL pages into the database file every
// interval, from its own connection in PASSIVE mode: it never blocks the
// writer or readers, and skips pages a reader still needs (the next pass
// gets them).
func (db *DB) checkpoint(every time.Duration) {
	defer close(db.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			_, _ = db.cp.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// migrate creates the meta table. Collections create their own tables in
// Ensure, so a new collection or key needs no numbered migration.
func (db *DB) migrate(ctx context.Context) error {
	_, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS veil_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`)
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", db.path, err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT OR IGNORE INTO veil_meta (k, v) VALUES ('schema', '1')`)
	return err
}

// Location implements store.Backend.
func (db *DB) Location() string { return db.location }

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes both pools.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { close(db.stop) })
	<-db.stopped
	return errors.Join(db.rs.close(), db.ws.close(), db.r.Close(), db.w.Close(), db.cp.Close())
}

func table(name string) string { return "c_" + name }
func column(key string) string { return "k_" + key }

// Ensure implements store.Backend: the collection's table, any key columns
// it lacks (documents written before a key existed read as NULL there), one
// index per key (but Composite keys) and per declared composite, and none
// it made before that is no longer declared.
func (db *DB) Ensure(ctx context.Context, c store.Collection) error {
	if err := c.Validate(); err != nil {
		return err
	}
	cols := []string{"id TEXT PRIMARY KEY", "data BLOB NOT NULL"}
	for _, k := range c.Keys {
		cols = append(cols, column(k.Name)+" "+sqlType(k.Kind))
	}
	stmts := []string{fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)", table(c.Name), strings.Join(cols, ", "))}
	have, err := db.columns(ctx, table(c.Name))
	if err != nil {
		return err
	}
	if len(have) > 0 {
		for _, k := range c.Keys {
			if !have[column(k.Name)] {
				stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", table(c.Name), column(k.Name), sqlType(k.Kind)))
			}
		}
	}
	declared := map[string]bool{}
	for _, k := range c.Keys {
		if k.Composite {
			continue
		}
		name := "ix_" + c.Name + "_" + k.Name
		declared[name] = true
		stmts = append(stmts, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s, id)", name, table(c.Name), column(k.Name)))
	}
	for _, ix := range c.Indexes {
		parts := make([]string, len(ix))
		for i, k := range ix {
			parts[i] = column(k)
		}
		name := "ix_" + c.Name + "_" + strings.Join(ix, "_")
		declared[name] = true
		stmts = append(stmts, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s, id)", name, table(c.Name), strings.Join(parts, ", ")))
	}
	// An index no longer declared (a key dropped or made Composite) is
	// dropped: every write would keep paying for it.
	stale, err := db.staleIndexes(ctx, table(c.Name), declared)
	if err != nil {
		return err
	}
	for _, name := range stale {
		stmts = append(stmts, "DROP INDEX IF EXISTS "+name)
	}
	for _, s := range stmts {
		if _, err := db.w.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("sqlite: ensure %s: %w", c.Name, err)
		}
	}
	db.mu.Lock()
	db.colls[c.Name] = c
	db.mu.Unlock()
	return nil
}

// Collections lists every collection ensured so far, by name.
func (db *DB) Collections() []store.Collection {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]store.Collection, 0, len(db.colls))
	for _, c := range db.colls {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// staleIndexes lists the indexes Ensure made on tbl (named ix_…) that
// are not in declared.
func (db *DB) staleIndexes(ctx context.Context, tbl string, declared map[string]bool) ([]string, error) {
	rows, err := db.w.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND name LIKE 'ix\\_%' ESCAPE '\\'", tbl)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		if !declared[n] {
			out = append(out, n)
		}
	}
	return out, rows.Err()
}

func (db *DB) columns(ctx context.Context, tbl string) (map[string]bool, error) {
	rows, err := db.w.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", tbl)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

func sqlType(k store.KeyKind) string {
	if k == store.String {
		return "TEXT"
	}
	return "INTEGER"
}

func (db *DB) collection(name string) (store.Collection, error) {
	db.mu.RLock()
	c, ok := db.colls[name]
	db.mu.RUnlock()
	if !ok {
		return c, fmt.Errorf("sqlite: collection %q was never ensured", name)
	}
	return c, nil
}

// querier runs SQL with cached prepared statements: on the readers' pool
// (tx nil) or inside a transaction on the writer.
type querier struct {
	db     *DB
	tx     *sql.Tx
	missed *[]string // statements the transaction had to prepare itself
}

func (q querier) stmt(ctx context.Context, query string) (st *sql.Stmt, done func(), err error) {
	noop := func() {}
	if q.tx == nil {
		st, cached, err := q.db.rs.prepare(ctx, q.db.r, query)
		if err != nil || cached {
			return st, noop, err
		}
		return st, func() { st.Close() }, nil
	}
	// In a transaction the writer's one connection is taken, so a new
	// statement cannot be prepared on the pool now: it is prepared in the
	// transaction (closed with it) and cached once the transaction ends.
	if st := q.db.ws.lookup(query); st != nil {
		return q.tx.StmtContext(ctx, st), noop, nil
	}
	*q.missed = append(*q.missed, query)
	st, err = q.tx.PrepareContext(ctx, query)
	return st, noop, err
}

func (q querier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, func(), error) {
	st, done, err := q.stmt(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		done()
		return nil, nil, err
	}
	return rows, done, nil
}

func (q querier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, done, err := q.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	defer done()
	return st.ExecContext(ctx, args...)
}

// Get implements store.Backend.
func (db *DB) Get(ctx context.Context, coll, id string) (*store.Doc, error) {
	return db.get(ctx, querier{db: db}, coll, id)
}

func (db *DB) get(ctx context.Context, q querier, coll, id string) (*store.Doc, error) {
	c, err := db.collection(coll)
	if err != nil {
		return nil, err
	}
	docs, err := db.selectDocs(ctx, q, c, "WHERE id = ?", []any{id})
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, privacy.Errorf(privacy.ENOTFOUND, "%s %s not found", coll, id)
	}
	return docs[0], nil
}

// GetAll implements store.Backend in one statement, whatever the number
// of ids (they travel as one JSON array), so one read transaction.
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
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	docs, err := db.selectDocs(ctx, querier{db: db}, c, "WHERE id IN (SELECT value FROM json_each(?))", []any{string(list)})
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*store.Doc, len(docs))
	for _, d := range docs {
		byID[d.ID] = d
	}
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// Query implements store.Backend.
func (db *DB) Query(ctx context.Context, coll string, q store.Query) ([]*store.Doc, error) {
	return db.query(ctx, querier{db: db}, coll, q)
}

func (db *DB) query(ctx context.Context, qr querier, coll string, q store.Query) ([]*store.Doc, error) {
	c, err := db.collection(coll)
	if err != nil {
		return nil, err
	}
	if q, err = c.CheckQuery(q); err != nil {
		return nil, err
	}
	clause, args := selection(c, q)
	return db.selectDocs(ctx, qr, c, clause, args)
}

// selection is the WHERE, ORDER BY and LIMIT of a checked query, and its
// arguments.
func selection(c store.Collection, q store.Query) (string, []any) {
	var where []string
	var args []any
	for _, f := range q.Filters {
		k, _ := c.Key(f.Key)
		where = append(where, fmt.Sprintf("%s %s ?", column(f.Key), sqlOp(f.Op)))
		args = append(args, sqlValue(k.Kind, f.Value))
	}
	cmp, dir := ">", "ASC"
	if q.Desc {
		cmp, dir = "<", "DESC"
	}
	order := "id " + dir
	if q.OrderBy != "" {
		k, _ := c.Key(q.OrderBy)
		order = column(q.OrderBy) + " " + dir + ", id " + dir
		if q.After != nil {
			where = append(where, fmt.Sprintf("(%s, id) %s (?, ?)", column(q.OrderBy), cmp))
			args = append(args, sqlValue(k.Kind, q.After.Keys[q.OrderBy]), q.After.ID)
		}
	} else if q.After != nil {
		where = append(where, "id "+cmp+" ?")
		args = append(args, q.After.ID)
	}
	clause := ""
	if len(where) > 0 {
		clause = "WHERE " + strings.Join(where, " AND ")
	}
	clause += " ORDER BY " + order + " LIMIT ?"
	return clause, append(args, q.Limit)
}

func (db *DB) selectDocs(ctx context.Context, q querier, c store.Collection, clause string, args []any) ([]*store.Doc, error) {
	cols := []string{"id", "data"}
	for _, k := range c.Keys {
		cols = append(cols, column(k.Name))
	}
	rows, done, err := q.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s %s", strings.Join(cols, ", "), table(c.Name), clause), args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer done()
	defer rows.Close()
	var out []*store.Doc
	for rows.Next() {
		d := &store.Doc{Keys: make(map[string]any, len(c.Keys))}
		vals := make([]any, len(c.Keys))
		dest := []any{&d.ID, &d.Data}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, wrap(err)
		}
		for i, k := range c.Keys {
			d.Keys[k.Name] = goValue(k.Kind, vals[i])
		}
		out = append(out, d)
	}
	return out, wrap(rows.Err())
}

func sqlOp(op store.Op) string {
	if op == store.EQ {
		return "="
	}
	return string(op)
}

// sqlValue converts a key value to what SQLite compares; bools are 0/1.
func sqlValue(k store.KeyKind, v any) any {
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case nil:
		if k == store.String {
			return ""
		}
		return int64(0)
	}
	return v
}

func goValue(k store.KeyKind, v any) any {
	switch k {
	case store.Bool:
		n, _ := v.(int64)
		return n != 0
	case store.Int:
		n, _ := v.(int64)
		return n
	default:
		switch s := v.(type) {
		case string:
			return s
		case []byte:
			return string(s)
		}
		return ""
	}
}

// wrap turns SQLite's busy/locked errors into a retryable domain error;
// others pass through.
func wrap(err error) error {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED:
			return &privacy.Error{Code: privacy.EUNAVAILABLE, Message: "database busy, retry"}
		case sqlite3lib.SQLITE_FULL:
			return &privacy.Error{Code: privacy.EUNAVAILABLE, Message: "disk full"}
		}
	}
	return err
}

// Tx implements store.Backend with BEGIN IMMEDIATE on the writer.
func (db *DB) Tx(ctx context.Context, fn func(tx store.Tx) error) (err error) {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	var missed []string
	t := &tx{db: db, ctx: ctx, tx: sqlTx, q: querier{db: db, tx: sqlTx, missed: &missed}}
	defer func() {
		// The connection is free again: cache what the transaction missed.
		for _, query := range missed {
			if st, cached, err := db.ws.prepare(context.WithoutCancel(ctx), db.w, query); err == nil && !cached {
				st.Close()
			}
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			sqlTx.Rollback()
		}
	}()
	if err = fn(t); err != nil {
		return err
	}
	return wrap(sqlTx.Commit())
}

type tx struct {
	db    *DB
	ctx   context.Context
	tx    *sql.Tx
	q     querier
	wrote bool
}

// errReadAfterWrite mirrors Firestore's rule so code that breaks it fails
// in the embedded store too, not first in production.
func (t *tx) readable() error {
	if t.wrote {
		return errors.New("store: read after write in a transaction (all reads must come first)")
	}
	return nil
}

// Context is the transaction's context (events staged in it carry its trace).
func (t *tx) Context() context.Context { return t.ctx }

func (t *tx) Get(coll, id string) (*store.Doc, error) {
	if err := t.readable(); err != nil {
		return nil, err
	}
	return t.db.get(t.ctx, t.q, coll, id)
}

func (t *tx) Query(coll string, q store.Query) ([]*store.Doc, error) {
	if err := t.readable(); err != nil {
		return nil, err
	}
	return t.db.query(t.ctx, t.q, coll, q)
}

func (t *tx) write(coll string, d *store.Doc, verb string) error {
	t.wrote = true
	c, err := t.db.collection(coll)
	if err != nil {
		return err
	}
	cols := []string{"id", "data"}
	marks := []string{"?", "?"}
	args := []any{d.ID, d.Data}
	for _, k := range c.Keys {
		cols = append(cols, column(k.Name))
		marks = append(marks, "?")
		args = append(args, sqlValue(k.Kind, d.Keys[k.Name]))
	}
	_, err = t.q.ExecContext(t.ctx, fmt.Sprintf("%s INTO %s (%s) VALUES (%s)", verb, table(coll), strings.Join(cols, ", "), strings.Join(marks, ", ")), args...)
	var se *sqlite3.Error
	if errors.As(err, &se) && se.Code() == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY {
		return privacy.Errorf(privacy.ECONFLICT, "%s %s already exists", coll, d.ID)
	}
	return wrap(err)
}

func (t *tx) Create(coll string, d *store.Doc) error { return t.write(coll, d, "INSERT") }
func (t *tx) Set(coll string, d *store.Doc) error    { return t.write(coll, d, "INSERT OR REPLACE") }

func (t *tx) Delete(coll, id string) error {
	t.wrote = true
	if _, err := t.db.collection(coll); err != nil {
		return err
	}
	_, err := t.q.ExecContext(t.ctx, fmt.Sprintf("DELETE FROM %s WHERE id = ?", table(coll)), id)
	return wrap(err)
}

// DeleteWhere implements store.Tx in one statement: the rows are chosen
// by rowid through the query's index and deleted in its order, without a
// statement, a primary-key lookup and a Go round trip per document.
func (t *tx) DeleteWhere(coll string, q store.Query) (int, error) {
	// It reads, then writes, as it does in Firestore: refused after a
	// write, and nothing reads after it.
	if err := t.readable(); err != nil {
		return 0, err
	}
	t.wrote = true
	c, err := t.db.collection(coll)
	if err != nil {
		return 0, err
	}
	if q, err = c.CheckDelete(q, store.MaxDeleteLimit); err != nil {
		return 0, err
	}
	clause, args := selection(c, q)
	res, err := t.q.ExecContext(t.ctx, fmt.Sprintf("DELETE FROM %[1]s WHERE rowid IN (SELECT rowid FROM %[1]s %s)", table(coll), clause), args...)
	if err != nil {
		return 0, wrap(err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap(err)
}

// Purge makes deleted content unrecoverable from the files: secure_delete
// has zeroed freed pages in the database, and a truncating checkpoint
// removes the old page images the WAL still holds.
func (db *DB) Purge(ctx context.Context) error {
	_, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return wrap(err)
}
