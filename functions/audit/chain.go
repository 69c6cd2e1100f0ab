package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Collections of the audit log.
var (
	EntriesCollection = store.Collection{Name: "audit_entries",
		Keys: []store.Key{{Name: "seq", Kind: store.Int}, {Name: "event", Kind: store.String}, {Name: "at", Kind: store.Int}}}
	StateCollection = store.Collection{Name: "audit_state"}
)

const headID = "head"

// Entry is one link of the chain. It holds no personal data: subjects and
// references only as hashes, the payload only as a digest (the payload
// itself lives, and is erased, with the data it describes).
type Entry struct {
	Seq           int64     `json:"seq"`
	At            time.Time `json:"at"`
	EventID       string    `json:"event_id"`
	Type          string    `json:"type"`
	SubjectHash   string    `json:"subject_hash,omitempty"` // sha256 of the payload's subject_key
	RefHash       string    `json:"ref_hash,omitempty"`     // sha256 of the CloudEvent subject
	PayloadDigest string    `json:"payload_digest"`         // sha256 of the event data
	Prev          string    `json:"prev"`                   // hash of entry Seq-1 (or the pruned base)
	Hash          string    `json:"hash"`
}

// Head is the end of the chain, and its start once old entries are pruned
// (Base*: the last pruned entry, which the first kept one points to).
type Head struct {
	ID       string `json:"id"`
	Seq      int64  `json:"seq"`
	Hash     string `json:"hash"`
	BaseSeq  int64  `json:"base_seq"`
	BaseHash string `json:"base_hash"`
}

// EntryID is an entry's document id: the zero-padded sequence number, so
// id order is chain order.
func EntryID(seq int64) string { return fmt.Sprintf("%016d", seq) }

// Sum is the entry's hash: SHA-256 over every other field in a fixed,
// unambiguous layout (lengths prefixed, so no two entries share one).
func (e *Entry) Sum() string {
	h := sha256.New()
	for _, f := range []string{"veil-audit/v1", strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano),
		e.EventID, e.Type, e.SubjectHash, e.RefHash, e.PayloadDigest, e.Prev} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hashOf hashes an identifier for the log; "" stays "".
func hashOf(s string) string {
	if s == "" {
		return ""
	}
	return digest([]byte(s))
}

// SubjectHash is how a subject key appears in the log, so evidence about
// one subject can be found: hash the subject key the same way.
func SubjectHash(subjectKey string) string { return hashOf(subjectKey) }

// Log is the hash-chained audit log on a document store.
type Log struct {
	b       store.Backend
	entries store.Repo[Entry]
	head    store.Repo[Head]
}

// Open ensures the log's collections on b.
func Open(ctx context.Context, b store.Backend) (*Log, error) {
	for _, c := range []store.Collection{EntriesCollection, StateCollection} {
		if err := b.Ensure(ctx, c); err != nil {
			return nil, err
		}
	}
	return &Log{b: b,
		entries: store.Repo[Entry]{B: b, C: EntriesCollection, ID: func(e *Entry) string { return EntryID(e.Seq) },
			Keys: func(e *Entry) map[string]any {
				return map[string]any{"seq": e.Seq, "event": e.EventID, "at": store.Unix(e.At)}
			}},
		head: store.Repo[Head]{B: b, C: StateCollection, ID: func(h *Head) string { return headID }},
	}, nil
}

// Record is what Append is given: one event or state change.
type Record struct {
	EventID    string
	Type       string
	Subject    string // the CloudEvent subject (a request or record id)
	SubjectKey string // the payload's subject_key, if any
	Data       []byte
	At         time.Time
}

// Append adds r to the chain: head read, entry create and head update in
// one transaction, so two appends can never share a sequence number or a
// predecessor. It is idempotent on the event id: appending an event
// already in the log returns its entry unchanged.
func (l *Log) Append(ctx context.Context, r Record) (*Entry, error) {
	out, err := l.AppendAll(ctx, []Record{r})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// AppendAll appends rs in order in one transaction (one head read and one
// head write for all of them), idempotent on each event id like Append;
// the entries come back in the order of rs.
func (l *Log) AppendAll(ctx context.Context, rs []Record) ([]*Entry, error) {
	var out []*Entry
	err := l.b.Tx(ctx, func(tx store.Tx) error {
		var err error
		out, err = l.AppendAllTx(tx, rs)
		return err
	})
	return out, err
}

// AppendAllTx is AppendAll in tx, which must not have written yet (it
// reads the head first); the caller commits.
func (l *Log) AppendAllTx(tx store.Tx, rs []Record) ([]*Entry, error) {
	out := make([]*Entry, len(rs))
	seen := map[string]*Entry{}
	for i, r := range rs {
		have, err := l.entries.In(tx).Find(store.Query{Filters: []store.Filter{store.Where("event", store.EQ, r.EventID)}, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(have) > 0 {
			out[i] = have[0]
			seen[r.EventID] = have[0]
		}
	}
	h, err := l.head.In(tx).Get(headID)
	if privacy.IsNotFound(err) {
		h, err = &Head{ID: headID}, nil
	}
	if err != nil {
		return nil, err
	}
	appended := false
	for i, r := range rs {
		if out[i] != nil {
			continue
		}
		if e := seen[r.EventID]; e != nil { // the same event twice in rs
			out[i] = e
			continue
		}
		e := &Entry{Seq: h.Seq + 1, At: r.At.UTC(), EventID: r.EventID, Type: r.Type, SubjectHash: hashOf(r.SubjectKey),
			RefHash: hashOf(r.Subject), PayloadDigest: digest(r.Data), Prev: h.Hash}
		e.Hash = e.Sum()
		if err := l.entries.In(tx).Create(e); err != nil {
			return nil, err
		}
		h.Seq, h.Hash = e.Seq, e.Hash
		out[i], seen[r.EventID], appended = e, e, true
	}
	if appended {
		if err := l.head.In(tx).Put(h); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Head returns the chain's head (zero before the first entry).
func (l *Log) Head(ctx context.Context) (*Head, error) {
	h, err := l.head.Get(ctx, headID)
	if privacy.IsNotFound(err) {
		return &Head{ID: headID}, nil
	}
	return h, err
}

// Broken is the first link that does not hold.
type Broken struct {
	Seq    int64  `json:"seq"`
	ID     string `json:"id"` // the entry's document id
	Reason string `json:"reason"`
}

// Verification is the outcome of walking the chain.
type Verification struct {
	OK       bool    `json:"ok"`
	Entries  int64   `json:"entries"`
	HeadSeq  int64   `json:"head_seq"`
	HeadHash string  `json:"head_hash"`
	BaseSeq  int64   `json:"base_seq"`
	Broken   *Broken `json:"broken,omitempty"`
}

// Verify walks the chain from its base to its head, recomputing every hash
// and checking every link, and reports the first entry that breaks it: an
// altered field (its hash no longer matches), a missing or inserted entry
// (sequence gap, wrong predecessor), an unreadable document, or a head
// that does not match the last entry.
func (l *Log) Verify(ctx context.Context) (*Verification, error) {
	h, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	v := &Verification{HeadSeq: h.Seq, HeadHash: h.Hash, BaseSeq: h.BaseSeq}
	prevHash, want := h.BaseHash, h.BaseSeq+1
	fail := func(seq int64, id, format string, args ...any) (*Verification, error) {
		v.Broken = &Broken{Seq: seq, ID: id, Reason: fmt.Sprintf(format, args...)}
		return v, nil
	}
	q := store.Query{Limit: store.MaxLimit, After: &store.Doc{ID: EntryID(h.BaseSeq)}}
	for {
		docs, err := l.b.Query(ctx, EntriesCollection.Name, q)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			var e Entry
			if err := json.Unmarshal(d.Data, &e); err != nil {
				return fail(want, d.ID, "entry %s is unreadable: %v", d.ID, err)
			}
			switch {
			case d.ID != EntryID(e.Seq):
				return fail(e.Seq, d.ID, "entry %s claims sequence number %d", d.ID, e.Seq)
			case e.Seq != want:
				return fail(want, d.ID, "entry %d is missing (found %d)", want, e.Seq)
			case e.Prev != prevHash:
				return fail(e.Seq, d.ID, "entry %d does not point to its predecessor's hash", e.Seq)
			case e.Sum() != e.Hash:
				return fail(e.Seq, d.ID, "entry %d was altered: its content no longer matches its hash", e.Seq)
			}
			prevHash, want = e.Hash, want+1
			v.Entries++
		}
		if len(docs) < q.Limit {
			break
		}
		q.After = docs[len(docs)-1]
	}
	switch {
	case want-1 != h.Seq:
		return fail(want, EntryID(want), "the head says %d entries end at %d, the chain ends at %d", h.Seq, h.Seq, want-1)
	case prevHash != h.Hash:
		return fail(h.Seq, EntryID(h.Seq), "the head's hash does not match entry %d", h.Seq)
	}
	v.OK = true
	return v, nil
}

// Manifest describes an export: the range, what it holds, and the chain's
// head at export time, so a regulator can check the entries link up and
// (with a later export or verify) that nothing before the head changed.
type Manifest struct {
	From          time.Time     `json:"from"`
	To            time.Time     `json:"to"`
	ExportedAt    time.Time     `json:"exported_at"`
	Count         int64         `json:"count"`
	FirstSeq      int64         `json:"first_seq,omitempty"`
	LastSeq       int64         `json:"last_seq,omitempty"`
	FirstPrev     string        `json:"first_prev,omitempty"` // the hash the first exported entry links to
	LastHash      string        `json:"last_hash,omitempty"`
	EntriesSHA256 string        `json:"entries_sha256"` // of the JSON lines as written
	Head          Head          `json:"head"`
	Verification  *Verification `json:"verification"`
	Format        string        `json:"format"`
}

// Export writes the entries appended in [from, to) to w as JSON lines and
// returns the manifest (the chain is verified first and the outcome is part
// of the evidence).
func (l *Log) Export(ctx context.Context, from, to time.Time, now time.Time, w io.Writer) (*Manifest, error) {
	v, err := l.Verify(ctx)
	if err != nil {
		return nil, err
	}
	h, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	m := &Manifest{From: from.UTC(), To: to.UTC(), ExportedAt: now.UTC(), Head: *h, Verification: v,
		Format: "one JSON audit entry per line; hash = SHA-256 over len:field; of veil-audit/v1, seq, at (RFC 3339), event_id, type, subject_hash, ref_hash, payload_digest, prev"}
	sum := sha256.New()
	out := io.MultiWriter(w, sum)
	enc := json.NewEncoder(out)
	q := store.Query{Filters: []store.Filter{store.Where("at", store.GE, from.Unix()), store.Where("at", store.LT, to.Unix())}, OrderBy: "at", Limit: store.MaxLimit}
	err = l.entries.Each(ctx, q, func(e *Entry) error {
		if m.Count == 0 {
			m.FirstSeq, m.FirstPrev = e.Seq, e.Prev
		}
		m.Count++
		m.LastSeq, m.LastHash = e.Seq, e.Hash
		return enc.Encode(e)
	})
	if err != nil {
		return nil, err
	}
	m.EntriesSHA256 = hex.EncodeToString(sum.Sum(nil))
	return m, nil
}

// Prune deletes entries appended before cutoff, a bounded batch per
// transaction, moving the chain's base to the last deleted entry so the
// rest still verifies. Each batch is itself appended as an entry
// (type "audit.pruned"), so pruning is in the chain, not a silent gap.
func (l *Log) Prune(ctx context.Context, cutoff, now time.Time) (int64, error) {
	var total int64
	for {
		n := 0
		err := l.b.Tx(ctx, func(tx store.Tx) error {
			h, err := l.head.In(tx).Get(headID)
			if privacy.IsNotFound(err) {
				return nil
			} else if err != nil {
				return err
			}
			old, err := l.entries.In(tx).Find(store.Query{Filters: []store.Filter{store.Where("seq", store.GT, h.BaseSeq)}, OrderBy: "seq", Limit: 400})
			if err != nil {
				return err
			}
			var gone []*Entry
			for _, e := range old {
				if !e.At.Before(cutoff) || e.Seq >= h.Seq {
					break // keep the newest entry: the head must stay checkable
				}
				gone = append(gone, e)
			}
			if len(gone) == 0 {
				return nil
			}
			for _, e := range gone {
				if err := l.entries.In(tx).Delete(EntryID(e.Seq)); err != nil {
					return err
				}
			}
			last := gone[len(gone)-1]
			h.BaseSeq, h.BaseHash = last.Seq, last.Hash
			note := fmt.Sprintf(`{"pruned_through":%d,"base_hash":%q,"cutoff":%q}`, last.Seq, last.Hash, cutoff.UTC().Format(time.RFC3339))
			e := &Entry{Seq: h.Seq + 1, At: now.UTC(), EventID: "audit.pruned/" + EntryID(last.Seq), Type: "audit.pruned",
				PayloadDigest: digest([]byte(note)), Prev: h.Hash}
			e.Hash = e.Sum()
			if err := l.entries.In(tx).Create(e); err != nil {
				return err
			}
			h.Seq, h.Hash = e.Seq, e.Hash
			n = len(gone)
			return l.head.In(tx).Put(h)
		})
		if err != nil {
			return total, err
		}
		total += int64(n)
		if n == 0 {
			return total, nil
		}
	}
}

// ParseRange reads an export range: from and to are RFC 3339 times or
// YYYY-MM-DD dates (UTC midnight); from defaults to the beginning, to to
// now. to is exclusive, so --from 2025-01-01 --to 2025-02-01 is January.
func ParseRange(from, to string, now time.Time) (time.Time, time.Time, error) {
	parse := func(field, s string, def time.Time) (time.Time, error) {
		s = strings.TrimSpace(s)
		if s == "" {
			return def, nil
		}
		if len(s) > 64 {
			return time.Time{}, privacy.FieldError(field, "a time is RFC 3339 or YYYY-MM-DD")
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t, err = time.Parse(time.RFC3339, s)
		}
		if err != nil {
			return time.Time{}, privacy.FieldError(field, "a time is RFC 3339 or YYYY-MM-DD")
		}
		if t.Year() < 2000 || t.Year() > 9999 {
			return time.Time{}, privacy.FieldError(field, "a time between the years 2000 and 9999")
		}
		return t.UTC(), nil
	}
	f, err := parse("from", from, time.Unix(0, 0).UTC())
	if err != nil {
		return f, f, err
	}
	t, err := parse("to", to, now.UTC().Add(time.Second))
	if err != nil {
		return f, t, err
	}
	if !f.Before(t) {
		return f, t, privacy.FieldError("to", "to must be after from")
	}
	return f, t, nil
}
