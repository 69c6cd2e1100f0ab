package audit

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
)

func openLog(t *testing.T) (*Log, *sqlite.DB) {
	t.Helper()
	b, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "veil.db"), "cn-local")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	l, err := Open(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return l, b
}

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func appendN(t *testing.T, l *Log, n int) []*Entry {
	t.Helper()
	var out []*Entry
	for i := range n {
		e := events.Must(events.ConsentChanged, "", events.ConsentChangedData{SubjectKey: strings.Repeat("ab", 32), Purposes: map[string]bool{"location": i%2 == 0}, Source: "sdk"})
		got, err := l.Append(context.Background(), Record{EventID: e.ID(), Type: e.Type(), SubjectKey: strings.Repeat("ab", 32), Data: e.Data(), At: t0.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got)
	}
	return out
}

func TestAppendChainsAndIsIdempotent(t *testing.T) {
	l, _ := openLog(t)
	es := appendN(t, l, 5)
	for i, e := range es {
		if e.Seq != int64(i+1) || e.Hash != e.Sum() || (i > 0 && e.Prev != es[i-1].Hash) {
			t.Fatalf("entry %d: %+v", i, e)
		}
		if strings.Contains(e.SubjectHash, "abab") || e.SubjectHash == "" {
			t.Fatalf("subject not hashed: %q", e.SubjectHash)
		}
	}
	again, err := l.Append(context.Background(), Record{EventID: es[2].EventID, Type: "x", Data: []byte("{}"), At: t0})
	if err != nil || again.Seq != 3 || again.Hash != es[2].Hash {
		t.Fatalf("re-append: %+v %v", again, err)
	}
	v, err := l.Verify(context.Background())
	if err != nil || !v.OK || v.Entries != 5 || v.HeadSeq != 5 {
		t.Fatalf("verify: %+v %v", v, err)
	}
}

// A batch appends in order, continues the chain, and skips what is already
// logged or repeated within the batch, so a redelivered batch adds nothing.
func TestAppendAllContinuesTheChainOnce(t *testing.T) {
	l, _ := openLog(t)
	first := appendN(t, l, 2)
	rec := func(id string, h int) Record {
		return Record{EventID: id, Type: events.ConsentChanged, Data: []byte(`{"n":` + id + `}`), At: t0.Add(time.Duration(h) * time.Hour)}
	}
	batch := []Record{rec("10", 3), {EventID: first[1].EventID, Type: "x", Data: []byte("{}"), At: t0}, rec("11", 4), rec("10", 5)}
	got, err := l.AppendAll(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Seq != 3 || got[0].Prev != first[1].Hash || got[1].Hash != first[1].Hash || got[2].Seq != 4 || got[2].Prev != got[0].Hash || got[3] != got[0] {
		t.Fatalf("batch entries: %+v", got)
	}
	again, err := l.AppendAll(context.Background(), batch)
	if err != nil || again[0].Hash != got[0].Hash || again[2].Hash != got[2].Hash {
		t.Fatalf("redelivered batch: %+v %v", again, err)
	}
	v, err := l.Verify(context.Background())
	if err != nil || !v.OK || v.Entries != 4 || v.HeadSeq != 4 {
		t.Fatalf("verify: %+v %v", v, err)
	}
}

// TestVerifyFindsTampering alters the stored log in the ways an attacker
// or a bad restore would, and checks Verify names the first broken entry.
func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t *testing.T, b store.Backend, es []*Entry)
		wantSeq int64
		reason  string
	}{
		{"changed type", func(t *testing.T, b store.Backend, es []*Entry) {
			rewrite(t, b, 3, func(e map[string]any) { e["type"] = "com.veil.request.changed.v1" })
		}, 3, "altered"},
		{"changed time", func(t *testing.T, b store.Backend, es []*Entry) {
			rewrite(t, b, 2, func(e map[string]any) { e["at"] = t0.Add(-time.Hour).Format(time.RFC3339) })
		}, 2, "altered"},
		{"rehashed entry", func(t *testing.T, b store.Backend, es []*Entry) {
			// Recomputing the altered entry's own hash breaks the next link.
			rewrite(t, b, 2, func(e map[string]any) {
				e["payload_digest"] = strings.Repeat("0", 64)
				var x Entry
				raw, _ := json.Marshal(e)
				json.Unmarshal(raw, &x)
				e["hash"] = x.Sum()
			})
		}, 3, "predecessor"},
		{"deleted entry", func(t *testing.T, b store.Backend, es []*Entry) {
			b.Tx(context.Background(), func(tx store.Tx) error { return tx.Delete(EntriesCollection.Name, EntryID(4)) })
		}, 4, "missing"},
		{"truncated tail", func(t *testing.T, b store.Backend, es []*Entry) {
			b.Tx(context.Background(), func(tx store.Tx) error { return tx.Delete(EntriesCollection.Name, EntryID(5)) })
		}, 5, "head"},
		{"garbage", func(t *testing.T, b store.Backend, es []*Entry) {
			b.Tx(context.Background(), func(tx store.Tx) error {
				d, _ := tx.Get(EntriesCollection.Name, EntryID(1))
				d.Data = []byte("{not json")
				return tx.Set(EntriesCollection.Name, d)
			})
		}, 1, "unreadable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, b := openLog(t)
			es := appendN(t, l, 5)
			c.tamper(t, b, es)
			v, err := l.Verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.Broken == nil || v.Broken.Seq != c.wantSeq || !strings.Contains(v.Broken.Reason, c.reason) {
				t.Fatalf("got %+v, want entry %d (%s)", v.Broken, c.wantSeq, c.reason)
			}
		})
	}
}

func rewrite(t *testing.T, b store.Backend, seq int64, change func(map[string]any)) {
	t.Helper()
	err := b.Tx(context.Background(), func(tx store.Tx) error {
		d, err := tx.Get(EntriesCollection.Name, EntryID(seq))
		if err != nil {
			return err
		}
		var m map[string]any
		json.Unmarshal(d.Data, &m)
		change(m)
		d.Data, _ = json.Marshal(m)
		return tx.Set(EntriesCollection.Name, d)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPruneKeepsChainVerifiable(t *testing.T) {
	l, _ := openLog(t)
	appendN(t, l, 6) // hourly from t0
	n, err := l.Prune(context.Background(), t0.Add(3*time.Hour+time.Minute), t0.Add(10*time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	v, err := l.Verify(context.Background())
	if err != nil || !v.OK || v.BaseSeq != 4 || v.Entries != 3 || v.HeadSeq != 7 {
		t.Fatalf("after prune: %+v %v", v, err)
	}
	var sb strings.Builder
	m, err := l.Export(context.Background(), t0, t0.Add(24*time.Hour), t0.Add(24*time.Hour), &sb)
	if err != nil || m.Count != 3 || !strings.Contains(sb.String(), `"type":"audit.pruned"`) {
		t.Fatalf("export after prune: %+v %v\n%s", m, err, sb.String())
	}
}

func TestExportRange(t *testing.T) {
	l, _ := openLog(t)
	es := appendN(t, l, 6)
	var sb strings.Builder
	m, err := l.Export(context.Background(), t0.Add(time.Hour), t0.Add(4*time.Hour), t0.Add(24*time.Hour), &sb)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(sb.String()), "\n")
	if m.Count != 3 || len(lines) != 3 || m.FirstSeq != 2 || m.LastSeq != 4 || m.FirstPrev != es[0].Hash || m.Head.Hash != es[5].Hash || !m.Verification.OK {
		t.Fatalf("manifest %+v, %d lines", m, len(lines))
	}
}

func TestParseRange(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		from, to string
		ok       bool
	}{
		{"", "", true},
		{"2025-01-01", "2025-02-01", true},
		{"2025-01-01T00:00:00+08:00", "2025-01-02T00:00:00Z", true},
		{"2025-02-01", "2025-01-01", false},
		{"yesterday", "", false},
		{"", "2025-13-01", false},
		{"0001-01-01T00:00:00Z", "", false},
		{"0001-01-01", "", false},
	}
	for _, c := range cases {
		f, to, err := ParseRange(c.from, c.to, now)
		if (err == nil) != c.ok || (err == nil && !f.Before(to)) {
			t.Errorf("%q..%q: %v %v %v", c.from, c.to, f, to, err)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add("2025-01-01", "2025-02-01")
	f.Add("2025-01-01T00:00:00+08:00", "")
	f.Add("", "9999-12-31T23:59:59Z")
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, from, to string) {
		a, b, err := ParseRange(from, to, now)
		if err != nil {
			return
		}
		if !a.Before(b) {
			t.Fatalf("%q..%q accepted as %v..%v", from, to, a, b)
		}
	})
}
