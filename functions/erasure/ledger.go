package erasure

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/erasure/fulfil"
	"github.com/veil-privacy/veil/functions/notify"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// The erasure ledger (R12): one entry per erased subject, naming it only by
// privacy.ErasureHash of each of its keys. Restoring a backup brings back
// documents of subjects erased since the backup was taken (their sealed
// fields stay unreadable: the key ring is not in the backup, and their keys
// are destroyed); `veil ledger replay` deletes them again.
//
// Where it lives: the store collection erasure_ledger, and for the embedded
// install (VEIL_STORE=sqlite) also the append-only file
// $VEIL_DATA/erasure-ledger.jsonl, fsynced before any deletion. Restoring
// veil.db rolls the collection back, never the file, and replay merges
// both (and writes each back to the other). With Firestore, a restore
// (import or point-in-time recovery) rolls the collection back too: keep
// `veil ledger export` output beside every backup (or leave the collection
// out of the restore), and give it to `veil ledger replay --file`.

// LedgerCollection is the ledger in the store.
var LedgerCollection = store.Collection{Name: "erasure_ledger", Keys: []store.Key{{Name: "at", Kind: store.Int}}}

// LedgerFile is the name of the ledger file under VEIL_DATA.
const LedgerFile = "erasure-ledger.jsonl"

// LedgerEntry is one erased subject.
type LedgerEntry struct {
	ID     string    `json:"id"`     // the request that erased it
	Hashes []string  `json:"hashes"` // privacy.ErasureHash of each of its keys
	Type   string    `json:"type"`   // delete, cancel_account
	At     time.Time `json:"at"`
}

func ledgerRepo(b store.Backend) store.Repo[LedgerEntry] {
	return store.Repo[LedgerEntry]{B: b, C: LedgerCollection, ID: func(e *LedgerEntry) string { return e.ID },
		Keys: func(e *LedgerEntry) map[string]any { return map[string]any{"at": store.Unix(e.At)} }}
}

// LedgerPath is the ledger file of an embedded install, "" otherwise.
func LedgerPath(cfg config.Config) string {
	if cfg.Store != "sqlite" || cfg.Data == "" {
		return ""
	}
	return filepath.Join(cfg.Data, LedgerFile)
}

// appendLedger records the subject before anything is deleted.
func (x *eraser) appendLedger(ctx context.Context, req *privacy.Request, keys []string) error {
	if _, err := x.ledger.Get(ctx, req.ID); err == nil {
		return nil // a retry: written the first time
	} else if !privacy.IsNotFound(err) {
		return err
	}
	e := &LedgerEntry{ID: req.ID, Type: string(req.Type), At: x.d.Now().UTC()}
	for _, k := range keys {
		e.Hashes = append(e.Hashes, privacy.ErasureHash(k))
	}
	if path := LedgerPath(x.d.Config); path != "" {
		if err := appendFile(path, []*LedgerEntry{e}); err != nil {
			return err
		}
	}
	return x.ledger.Put(ctx, e)
}

// appendFile appends entries as JSON lines and syncs the file.
func appendFile(path string, es []*LedgerEntry) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("erasure ledger: %w", err)
	}
	var buf strings.Builder
	for _, e := range es {
		line, err := json.Marshal(e)
		if err != nil {
			f.Close()
			return err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if _, err := f.WriteString(buf.String()); err != nil {
		f.Close()
		return fmt.Errorf("erasure ledger: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("erasure ledger: %w", err)
	}
	return f.Close()
}

// ReadLedger reads a ledger file. A line that does not parse (a write cut
// short by a crash) is skipped and counted; a missing file is empty.
func ReadLedger(r io.Reader) (entries []*LedgerEntry, bad int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e LedgerEntry
		if json.Unmarshal([]byte(line), &e) != nil || e.ID == "" || len(e.Hashes) == 0 {
			bad++
			continue
		}
		entries = append(entries, &e)
	}
	return entries, bad, sc.Err()
}

// ReplayReport is what a replay did.
type ReplayReport struct {
	Entries        int      `json:"entries"`
	FromFile       int      `json:"from_file"`
	FromStore      int      `json:"from_store"`
	BadLines       int      `json:"bad_lines"`
	RestoredToFile int      `json:"restored_to_file"`
	RestoredStore  int      `json:"restored_to_store"`
	Records        int      `json:"records"`
	Documents      int      `json:"documents"` // links, consents, profiles, bundles
	Redacted       int      `json:"redacted"`  // requests, notices, disclosures, apps
	KeysShredded   int      `json:"keys_shredded"`
	Held           []string `json:"held,omitempty"` // subject hashes skipped because of a legal hold
}

// Replay re-applies every ledger entry to the store: after a restore, the
// documents of every erased subject are deleted (or stripped) again, their
// keys destroyed if the restore brought them back, and recipients asked
// again (with the same erasure ids, so they act once). extra are entries
// read from elsewhere (an exported ledger). It is idempotent.
func Replay(ctx context.Context, d functions.Deps, extra []*LedgerEntry) (*ReplayReport, error) {
	x, err := newEraser(ctx, d)
	if err != nil {
		return nil, err
	}
	for _, c := range Collections() {
		if err := d.DB.Backend.Ensure(ctx, c); err != nil {
			return nil, err
		}
	}
	return x.replay(ctx, extra)
}

func (x *eraser) replay(ctx context.Context, extra []*LedgerEntry) (*ReplayReport, error) {
	rep := &ReplayReport{}
	byID := map[string]*LedgerEntry{}
	inFile, inStore := map[string]bool{}, map[string]bool{}
	path := LedgerPath(x.d.Config)
	if path != "" {
		f, err := os.Open(path)
		if err == nil {
			es, bad, err := ReadLedger(f)
			f.Close()
			if err != nil {
				return nil, err
			}
			rep.BadLines = bad
			for _, e := range es {
				byID[e.ID], inFile[e.ID] = e, true
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	rep.FromFile = len(inFile)
	err := x.ledger.Each(ctx, store.Query{Limit: store.MaxLimit}, func(e *LedgerEntry) error {
		byID[e.ID], inStore[e.ID] = e, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.FromStore = len(inStore)
	for _, e := range extra {
		if _, ok := byID[e.ID]; !ok {
			byID[e.ID] = e
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// Each copy of the ledger gets what the other lost.
	var toFile []*LedgerEntry
	for _, id := range ids {
		e := byID[id]
		if !inStore[id] {
			if err := x.ledger.Put(ctx, e); err != nil {
				return nil, err
			}
			rep.RestoredStore++
		}
		if path != "" && !inFile[id] {
			toFile = append(toFile, e)
		}
	}
	if len(toFile) > 0 {
		if err := appendFile(path, toFile); err != nil {
			return nil, err
		}
		rep.RestoredToFile = len(toFile)
	}
	rep.Entries = len(ids)
	erased := map[string]*LedgerEntry{} // hash → entry
	for _, id := range ids {
		for _, h := range byID[id].Hashes {
			erased[h] = byID[id]
		}
	}
	if len(erased) == 0 {
		return rep, nil
	}
	if err := x.replayStore(ctx, erased, rep); err != nil {
		return rep, err
	}
	return rep, x.purge(ctx)
}

// match finds documents of coll whose subject key (the "subject" indexed
// key, or the document id when byID) hashes to an erased subject. It
// reads the whole collection a page at a time: the ledger only has hashes,
// so no query can select them. Restores are rare; this is their cost.
func (x *eraser) match(ctx context.Context, coll string, byID bool, erased map[string]*LedgerEntry, fn func(doc *store.Doc, key string, e *LedgerEntry) error) error {
	q := store.Query{Limit: store.MaxLimit}
	for {
		docs, err := x.d.DB.Backend.Query(ctx, coll, q)
		if err != nil {
			return err
		}
		for _, d := range docs {
			key := d.ID
			if !byID {
				key, _ = d.Keys["subject"].(string)
			}
			if e, ok := erased[privacy.ErasureHash(key)]; ok && key != "" {
				if err := fn(d, key, e); err != nil {
					return err
				}
			}
		}
		if len(docs) < q.Limit {
			return nil
		}
		q.After = docs[len(docs)-1]
	}
}

// replayStore applies the ledger to every collection that can hold an
// erased subject's data.
func (x *eraser) replayStore(ctx context.Context, erased map[string]*LedgerEntry, rep *ReplayReport) error {
	now := x.d.Now().UTC()
	keys := map[string]*LedgerEntry{} // subject keys found, to shred and to check for holds
	held := map[string]bool{}
	isHeld := func(k string) (bool, error) {
		if h, ok := held[k]; ok {
			return h, nil
		}
		h, _, err := x.guard.Held(ctx, k, now)
		held[k] = h
		if h {
			rep.Held = append(rep.Held, privacy.ErasureHash(k))
		}
		return h, err
	}
	deleteDoc := func(coll string, n *int) func(doc *store.Doc, key string, e *LedgerEntry) error {
		return func(doc *store.Doc, key string, e *LedgerEntry) error {
			if h, err := isHeld(key); err != nil || h {
				return err
			}
			keys[key] = e
			if err := x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error { return tx.Delete(coll, doc.ID) }); err != nil {
				return err
			}
			*n++
			return nil
		}
	}
	// Filed under a subject key: the first document found deletes every
	// document under that key at once (DeleteWhere), and the rest of the
	// scan skips the key.
	deleteFiled := func(c store.Collection, n *int) func(doc *store.Doc, key string, e *LedgerEntry) error {
		done := map[string]bool{}
		return func(doc *store.Doc, key string, e *LedgerEntry) error {
			if done[key] {
				return nil
			}
			if h, err := isHeld(key); err != nil || h {
				return err
			}
			keys[key] = e
			got, err := x.deleteAll(ctx, c, key)
			*n += got
			if err != nil {
				return err
			}
			done[key] = true
			return nil
		}
	}
	steps := []struct {
		coll string
		byID bool
		fn   func(doc *store.Doc, key string, e *LedgerEntry) error
	}{
		{store.RecordsCollection.Name, false, deleteFiled(store.RecordsCollection, &rep.Records)},
		{store.DevicesCollection.Name, false, deleteFiled(store.DevicesCollection, &rep.Documents)},
		{store.DevicesCollection.Name, true, deleteDoc(store.DevicesCollection.Name, &rep.Documents)},
		{store.ConsentsCollection.Name, true, deleteDoc(store.ConsentsCollection.Name, &rep.Documents)},
		{fulfil.ProfilesCollection.Name, true, deleteDoc(fulfil.ProfilesCollection.Name, &rep.Documents)},
		{fulfil.BundlesCollection.Name, false, func(doc *store.Doc, key string, e *LedgerEntry) error {
			if err := x.d.Blobs.Delete(ctx, doc.ID); err != nil {
				return err
			}
			return deleteDoc(fulfil.BundlesCollection.Name, &rep.Documents)(doc, key, e)
		}},
		{store.RequestsCollection.Name, false, func(doc *store.Doc, key string, e *LedgerEntry) error {
			if h, err := isHeld(key); err != nil || h {
				return err
			}
			keys[key] = e
			_, err := x.d.DB.Requests.Update(ctx, doc.ID, func(r *privacy.Request) error { strip(r); return nil })
			rep.Redacted++
			return err
		}},
		{notify.DeliveriesCollection.Name, false, func(doc *store.Doc, key string, e *LedgerEntry) error {
			_, err := x.deliveries.Update(ctx, doc.ID, func(n *notify.Delivery) error { n.SubjectKey = privacy.ErasedSubject(key); return nil })
			rep.Redacted++
			return err
		}},
		{notify.LettersCollection.Name, false, func(doc *store.Doc, key string, e *LedgerEntry) error {
			_, err := x.letters.Update(ctx, doc.ID, func(l *notify.Letter) error {
				l.SubjectKey, l.Address = privacy.ErasedSubject(key), ""
				return nil
			})
			rep.Redacted++
			return err
		}},
	}
	for _, s := range steps {
		if err := x.match(ctx, s.coll, s.byID, erased, s.fn); err != nil {
			return err
		}
	}
	// Disclosures: re-filed and the recipients asked again, with the
	// erasure ids of the original request.
	var disclosed []string
	err := x.match(ctx, store.DisclosuresCollection.Name, false, erased, func(doc *store.Doc, key string, e *LedgerEntry) error {
		if !privacy.IsErased(key) && !containsStr(disclosed, key) {
			disclosed = append(disclosed, key)
			keys[key] = e
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range disclosed {
		if h, err := isHeld(k); err != nil || h {
			return err
		}
		e := keys[k]
		r := &Report{}
		if err := x.propagate(ctx, &privacy.Request{ID: e.ID}, k, e.Type == string(privacy.ReqCancelAccount), r); err != nil {
			return err
		}
		rep.Redacted += len(r.Recipients)
	}
	// Cancelled accounts: tombstones back, apps registered with the
	// address revoked again (an app's developer address names its
	// account subject).
	err = x.d.DB.Apps.Each(ctx, store.Query{Limit: store.MaxLimit}, func(a *privacy.App) error {
		if a.DeveloperEmail == "" {
			return nil
		}
		s, err := privacy.AccountSubject(strings.ToLower(a.DeveloperEmail))
		if err != nil {
			return nil
		}
		e, ok := erased[privacy.ErasureHash(x.d.Keys.SubjectKey(s))]
		if !ok || e.Type != string(privacy.ReqCancelAccount) {
			return nil
		}
		_, err = x.d.DB.Apps.Update(ctx, a.ID, func(a *privacy.App) error {
			if !a.Revoked {
				a.Revoked, a.RevokedAt = true, &now
			}
			a.DeveloperEmail = ""
			return nil
		})
		rep.Redacted++
		return err
	})
	if err != nil {
		return err
	}
	for h, e := range erased {
		if e.Type != string(privacy.ReqCancelAccount) {
			continue
		}
		if _, err := x.repos.Accounts.Get(ctx, h); privacy.IsNotFound(err) {
			if err := x.repos.Accounts.Put(ctx, &fulfil.Account{ID: h, Status: fulfil.StatusCancelled, CancelledAt: e.At, RequestID: e.ID}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	for k := range keys {
		if held[k] {
			continue
		}
		has, err := x.d.Keys.Has(ctx, k)
		if err != nil {
			return err
		}
		if has {
			if err := x.d.Keys.Destroy(ctx, k); err != nil {
				return err
			}
			rep.KeysShredded++
		}
	}
	return nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
