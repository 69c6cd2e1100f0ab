// Package storetest is the conformance suite every store.Backend passes.
// Each backend's tests call Run with a constructor for a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// item is the document type the suite stores.
type item struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
	N     int64  `json:"n"`
	Open  bool   `json:"open"`
	Note  string `json:"note,omitempty"`
}

var items = store.Collection{
	Name:    "conformance_items",
	Keys:    []store.Key{{Name: "owner", Kind: store.String}, {Name: "n", Kind: store.Int}, {Name: "open", Kind: store.Bool}},
	Indexes: [][]string{{"owner", "n"}, {"open", "n"}},
}

func repo(b store.Backend) store.Repo[item] {
	return store.Repo[item]{B: b, C: items,
		ID:   func(i *item) string { return i.ID },
		Keys: func(i *item) map[string]any { return map[string]any{"owner": i.Owner, "n": i.N, "open": i.Open} }}
}

// Run runs the suite. open returns a fresh backend; it is closed by the suite.
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	ctx := context.Background()
	setup := func(t *testing.T) store.Repo[item] {
		b := open(t)
		t.Cleanup(func() { b.Close() })
		if err := b.Ensure(ctx, items); err != nil {
			t.Fatalf("Ensure: %v", err)
		}
		// Ensuring twice is how every start-up behaves.
		if err := b.Ensure(ctx, items); err != nil {
			t.Fatalf("Ensure again: %v", err)
		}
		return repo(b)
	}

	t.Run("CreateGetConflictNotFound", func(t *testing.T) {
		r := setup(t)
		if err := r.Create(ctx, &item{ID: "a", Owner: "x", N: 1}); err != nil {
			t.Fatal(err)
		}
		got, err := r.Get(ctx, "a")
		if err != nil || got.Owner != "x" || got.N != 1 {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if err := r.Create(ctx, &item{ID: "a"}); privacy.ErrorCode(err) != privacy.ECONFLICT {
			t.Fatalf("second Create: want conflict, got %v", err)
		}
		if _, err := r.Get(ctx, "missing"); !privacy.IsNotFound(err) {
			t.Fatalf("Get missing: want not_found, got %v", err)
		}
	})

	t.Run("GetAll", func(t *testing.T) {
		r := setup(t)
		must(t, r.Put(ctx, &item{ID: "a", Owner: "x", N: 1}))
		must(t, r.Put(ctx, &item{ID: "b/2", Owner: "y", N: 2})) // a "/" is escaped in Firestore ids
		got, err := r.GetAll(ctx, []string{"b/2", "missing", "a", "b/2"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || got[0] == nil || got[0].N != 2 || got[1] != nil || got[2] == nil || got[2].Owner != "x" || got[3] == nil || got[3].ID != "b/2" {
			t.Fatalf("GetAll(b/2, missing, a, b/2) = %+v; want b/2, nil, a, b/2", got)
		}
		if got, err := r.GetAll(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("GetAll() = %v, %v", got, err)
		}
		if _, err := r.GetAll(ctx, make([]string, store.MaxLimit+1)); err == nil {
			t.Fatal("GetAll of more than MaxLimit ids: want an error")
		}
	})

	t.Run("PutReplacesAndDelete", func(t *testing.T) {
		r := setup(t)
		must(t, r.Put(ctx, &item{ID: "a", Owner: "x", N: 1, Note: "old"}))
		must(t, r.Put(ctx, &item{ID: "a", Owner: "y", N: 2}))
		got, err := r.Get(ctx, "a")
		if err != nil || got.Owner != "y" || got.Note != "" {
			t.Fatalf("after Put: %+v, %v", got, err)
		}
		// The old key value must no longer match.
		if found, _ := r.Find(ctx, store.Query{Filters: []store.Filter{store.Where("owner", store.EQ, "x")}}); len(found) != 0 {
			t.Fatalf("stale index entry: %+v", found)
		}
		must(t, r.Delete(ctx, "a"))
		must(t, r.Delete(ctx, "a")) // deleting an absent document is fine
		if _, err := r.Get(ctx, "a"); !privacy.IsNotFound(err) {
			t.Fatalf("after Delete: %v", err)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		r := setup(t)
		for i := int64(1); i <= 6; i++ {
			must(t, r.Create(ctx, &item{ID: fmt.Sprintf("i%d", i), Owner: []string{"x", "y"}[i%2], N: i, Open: i <= 3}))
		}
		cases := []struct {
			name string
			q    store.Query
			want []string
		}{
			{"eq string", store.Query{Filters: []store.Filter{store.Where("owner", store.EQ, "x")}, OrderBy: "n"}, []string{"i2", "i4", "i6"}},
			{"lt", store.Query{Filters: []store.Filter{store.Where("n", store.LT, 3)}, OrderBy: "n"}, []string{"i1", "i2"}},
			{"le", store.Query{Filters: []store.Filter{store.Where("n", store.LE, 3)}, OrderBy: "n"}, []string{"i1", "i2", "i3"}},
			{"gt", store.Query{Filters: []store.Filter{store.Where("n", store.GT, 4)}, OrderBy: "n"}, []string{"i5", "i6"}},
			{"ge", store.Query{Filters: []store.Filter{store.Where("n", store.GE, 5)}, OrderBy: "n"}, []string{"i5", "i6"}},
			{"eq bool + order", store.Query{Filters: []store.Filter{store.Where("open", store.EQ, true)}, OrderBy: "n", Desc: true}, []string{"i3", "i2", "i1"}},
			{"eq + range", store.Query{Filters: []store.Filter{store.Where("owner", store.EQ, "y"), store.Where("n", store.GT, 1)}, OrderBy: "n"}, []string{"i3", "i5"}},
			{"limit", store.Query{OrderBy: "n", Limit: 2}, []string{"i1", "i2"}},
			{"by id", store.Query{Filters: []store.Filter{store.Where("open", store.EQ, false)}}, []string{"i4", "i5", "i6"}},
		}
		for _, c := range cases {
			got, err := r.Find(ctx, c.q)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if ids := idsOf(got); fmt.Sprint(ids) != fmt.Sprint(c.want) {
				t.Errorf("%s: got %v, want %v", c.name, ids, c.want)
			}
		}
		if _, err := r.Find(ctx, store.Query{Filters: []store.Filter{store.Where("nope", store.EQ, 1)}}); err == nil {
			t.Error("query on an undeclared key must fail")
		}
	})

	t.Run("RangeWithoutOrderIsOrderedByItsKey", func(t *testing.T) {
		// Ids run against n, so id order and n order differ.
		r := setup(t)
		for i := int64(1); i <= 5; i++ {
			must(t, r.Create(ctx, &item{ID: fmt.Sprintf("r%d", 9-i), N: i}))
		}
		got, err := r.Find(ctx, store.Query{Filters: []store.Filter{store.Where("n", store.LT, 5)}, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if ids := idsOf(got); fmt.Sprint(ids) != "[r8 r7 r6]" {
			t.Fatalf("got %v, want the three smallest n first: [r8 r7 r6]", ids)
		}
	})

	t.Run("PagingWithAfter", func(t *testing.T) {
		r := setup(t)
		// Equal order keys force the id tie-break to keep pages stable.
		for i := 0; i < 25; i++ {
			must(t, r.Create(ctx, &item{ID: fmt.Sprintf("p%02d", i), Owner: "o", N: int64(i / 3)}))
		}
		for _, desc := range []bool{false, true} {
			var seen []string
			q := store.Query{Filters: []store.Filter{store.Where("owner", store.EQ, "o")}, OrderBy: "n", Desc: desc, Limit: 4}
			for {
				docs, err := r.B.Query(ctx, items.Name, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range docs {
					seen = append(seen, d.ID)
				}
				if len(docs) < q.Limit {
					break
				}
				q.After = docs[len(docs)-1]
			}
			if len(seen) != 25 || !unique(seen) {
				t.Fatalf("desc=%v: paged %d docs (%v)", desc, len(seen), seen)
			}
		}
		n := 0
		must(t, r.Each(ctx, store.Query{OrderBy: "n", Limit: 7}, func(*item) error { n++; return nil }))
		if n != 25 {
			t.Fatalf("Each visited %d, want 25", n)
		}
	})

	t.Run("TxRollsBackOnError", func(t *testing.T) {
		r := setup(t)
		boom := errors.New("boom")
		err := r.B.Tx(ctx, func(tx store.Tx) error {
			if err := r.In(tx).Create(&item{ID: "t1"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx error = %v", err)
		}
		if _, err := r.Get(ctx, "t1"); !privacy.IsNotFound(err) {
			t.Fatalf("write survived a failed tx: %v", err)
		}
	})

	t.Run("TxReadAfterWriteRefused", func(t *testing.T) {
		r := setup(t)
		err := r.B.Tx(ctx, func(tx store.Tx) error {
			if err := r.In(tx).Put(&item{ID: "w"}); err != nil {
				return err
			}
			_, err := r.In(tx).Get("w")
			return err
		})
		if err == nil {
			t.Fatal("a read after a write in one transaction must fail on every backend")
		}
	})

	t.Run("ConcurrentUpdatesSerialize", func(t *testing.T) {
		r := setup(t)
		must(t, r.Create(ctx, &item{ID: "c"}))
		const workers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if _, err := r.Update(ctx, "c", func(it *item) error { it.N++; return nil }); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, err := r.Get(ctx, "c")
		if err != nil || got.N != workers*each {
			t.Fatalf("counter = %+v (%v), want %d: lost updates", got, err, workers*each)
		}
	})

	t.Run("UpdateMissingAndAbort", func(t *testing.T) {
		r := setup(t)
		if _, err := r.Update(ctx, "none", func(*item) error { return nil }); !privacy.IsNotFound(err) {
			t.Fatalf("Update missing: %v", err)
		}
		must(t, r.Create(ctx, &item{ID: "u", N: 1}))
		_, err := r.Update(ctx, "u", func(it *item) error { it.N = 99; return privacy.Errorf(privacy.ECONFLICT, "no") })
		if privacy.ErrorCode(err) != privacy.ECONFLICT {
			t.Fatalf("Update abort: %v", err)
		}
		if got, _ := r.Get(ctx, "u"); got.N != 1 {
			t.Fatalf("aborted update was stored: %+v", got)
		}
	})

	t.Run("TxQueryAndMultiDoc", func(t *testing.T) {
		r := setup(t)
		must(t, r.Create(ctx, &item{ID: "m1", Owner: "q", N: 1, Open: true}))
		// Move "open" from m1 to m2 atomically, as duplicate detection does.
		err := r.B.Tx(ctx, func(tx store.Tx) error {
			open, err := r.In(tx).Find(store.Query{Filters: []store.Filter{store.Where("open", store.EQ, true)}})
			if err != nil {
				return err
			}
			if len(open) != 1 {
				return fmt.Errorf("found %d open", len(open))
			}
			open[0].Open = false
			if err := r.In(tx).Put(open[0]); err != nil {
				return err
			}
			return r.In(tx).Create(&item{ID: "m2", Owner: "q", N: 2, Open: true})
		})
		must(t, err)
		got, err := r.Find(ctx, store.Query{Filters: []store.Filter{store.Where("open", store.EQ, true)}})
		if err != nil || len(got) != 1 || got[0].ID != "m2" {
			t.Fatalf("open after tx: %v %v", idsOf(got), err)
		}
	})

	t.Run("DeleteWhere", func(t *testing.T) {
		r := setup(t)
		// Ids run against n, so deleting in n order is not id order.
		for i := int64(1); i <= 8; i++ {
			must(t, r.Create(ctx, &item{ID: fmt.Sprintf("d%d", 9-i), Owner: []string{"x", "y"}[i%2], N: i, Open: i <= 4}))
		}
		del := func(q store.Query) (int, error) {
			n := 0
			err := r.B.Tx(ctx, func(tx store.Tx) error {
				var err error
				n, err = tx.DeleteWhere(items.Name, q)
				return err
			})
			return n, err
		}
		left := func() []string {
			t.Helper()
			got, err := r.Find(ctx, store.Query{OrderBy: "n"})
			must(t, err)
			return idsOf(got)
		}
		// Equality filter, in the order asked, up to the limit.
		n, err := del(store.Query{Filters: []store.Filter{store.Where("owner", store.EQ, "x")}, OrderBy: "n", Limit: 2})
		if err != nil || n != 2 {
			t.Fatalf("DeleteWhere owner=x n≤2 = %d, %v; want 2", n, err)
		}
		if ids := left(); fmt.Sprint(ids) != "[d8 d6 d4 d3 d2 d1]" {
			t.Fatalf("after deleting x's two smallest n: %v, want [d8 d6 d4 d3 d2 d1]", ids)
		}
		// A range filter without an order deletes from its key's smallest.
		n, err = del(store.Query{Filters: []store.Filter{store.Where("n", store.GT, 1)}, Limit: 2})
		if err != nil || n != 2 {
			t.Fatalf("DeleteWhere n>1 = %d, %v; want 2", n, err)
		}
		if ids := left(); fmt.Sprint(ids) != "[d8 d3 d2 d1]" {
			t.Fatalf("after deleting n=3,5: %v, want [d8 d3 d2 d1]", ids)
		}
		// Fewer match than the limit; then none.
		n, err = del(store.Query{Filters: []store.Filter{store.Where("open", store.EQ, true)}, Limit: 100})
		if err != nil || n != 1 {
			t.Fatalf("DeleteWhere open = %d, %v; want 1", n, err)
		}
		if n, err = del(store.Query{Filters: []store.Filter{store.Where("open", store.EQ, true)}}); err != nil || n != 0 {
			t.Fatalf("DeleteWhere with nothing left = %d, %v; want 0", n, err)
		}
		if ids := left(); fmt.Sprint(ids) != "[d3 d2 d1]" {
			t.Fatalf("after deleting the open ones: %v, want [d3 d2 d1]", ids)
		}
		// A failed transaction deletes nothing.
		boom := errors.New("boom")
		err = r.B.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.DeleteWhere(items.Name, store.Query{Limit: 10}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || fmt.Sprint(left()) != "[d3 d2 d1]" {
			t.Fatalf("rolled-back DeleteWhere: %v, left %v", err, left())
		}
		// Refused: resuming, undeclared keys, reads after it, it after a write.
		if _, err := del(store.Query{After: &store.Doc{ID: "d1"}}); err == nil {
			t.Error("DeleteWhere with After must fail")
		}
		if _, err := del(store.Query{Filters: []store.Filter{store.Where("nope", store.EQ, 1)}}); err == nil {
			t.Error("DeleteWhere on an undeclared key must fail")
		}
		err = r.B.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.DeleteWhere(items.Name, store.Query{Filters: []store.Filter{store.Where("n", store.EQ, 6)}}); err != nil {
				return err
			}
			_, err := tx.Get(items.Name, "d2")
			return err
		})
		if err == nil {
			t.Error("a read after DeleteWhere in one transaction must fail on every backend")
		}
		err = r.B.Tx(ctx, func(tx store.Tx) error {
			if err := r.In(tx).Put(&item{ID: "w"}); err != nil {
				return err
			}
			_, err := tx.DeleteWhere(items.Name, store.Query{Filters: []store.Filter{store.Where("n", store.EQ, 1)}})
			return err
		})
		if err == nil {
			t.Error("DeleteWhere after a write in one transaction must fail on every backend (it reads first)")
		}
		if ids := left(); fmt.Sprint(ids) != "[d3 d2 d1]" {
			t.Fatalf("refused calls changed the collection: %v", ids)
		}
	})

	t.Run("DeleteWhereBeyondOneCall", func(t *testing.T) {
		// More match than Firestore deletes in one call: repeating until
		// a call deletes nothing deletes them all, each call some.
		r := setup(t)
		const many = store.MaxLimit + 100
		for i := 0; i < many; i += 250 {
			must(t, r.B.Tx(ctx, func(tx store.Tx) error {
				for j := i; j < min(i+250, many); j++ {
					if err := r.In(tx).Create(&item{ID: fmt.Sprintf("b%04d", j), Owner: "b", N: int64(j)}); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		must(t, r.Create(ctx, &item{ID: "keep", Owner: "k"}))
		total, calls := 0, 0
		for {
			n := 0
			must(t, r.B.Tx(ctx, func(tx store.Tx) error {
				var err error
				n, err = tx.DeleteWhere(items.Name, store.Query{Filters: []store.Filter{store.Where("owner", store.EQ, "b")}, OrderBy: "n", Limit: store.MaxDeleteLimit})
				return err
			}))
			if n == 0 {
				break
			}
			total += n
			if calls++; calls > many {
				t.Fatal("DeleteWhere never returned 0")
			}
		}
		if total != many {
			t.Fatalf("deleted %d in %d calls, want %d", total, calls, many)
		}
		got, err := r.Find(ctx, store.Query{Limit: store.MaxLimit})
		if err != nil || fmt.Sprint(idsOf(got)) != "[keep]" {
			t.Fatalf("left %v, %v; want [keep]", idsOf(got), err)
		}
	})

	t.Run("CompositeKeyThroughItsIndex", func(t *testing.T) {
		b := open(t)
		t.Cleanup(func() { b.Close() })
		tagged := store.Collection{Name: "conformance_tagged",
			Keys:    []store.Key{{Name: "tag", Kind: store.String, Composite: true}, {Name: "n", Kind: store.Int}, {Name: "m", Kind: store.Int}},
			Indexes: [][]string{{"tag", "n"}}}
		if err := b.Ensure(ctx, tagged); err != nil {
			t.Fatal(err)
		}
		type doc struct {
			ID  string `json:"id"`
			Tag string `json:"tag"`
			N   int64  `json:"n"`
		}
		r := store.Repo[doc]{B: b, C: tagged, ID: func(d *doc) string { return d.ID },
			Keys: func(d *doc) map[string]any { return map[string]any{"tag": d.Tag, "n": d.N, "m": -d.N} }}
		for i, d := range []doc{{"c", "x", 3}, {"a", "x", 2}, {"b", "y", 1}, {"d", "x", 1}} {
			d := d
			if err := r.Create(ctx, &d); err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
		}
		ids := func(q store.Query) string {
			t.Helper()
			got, err := r.Find(ctx, q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			out := []string{}
			for _, d := range got {
				out = append(out, d.ID)
			}
			return fmt.Sprint(out)
		}
		x := []store.Filter{store.Where("tag", store.EQ, "x")}
		if got := ids(store.Query{Filters: x, OrderBy: "n", Desc: true}); got != "[c a d]" {
			t.Errorf("tag = x by n descending: %s, want [c a d]", got)
		}
		// With no order named, its index's order (not the id's).
		if got := ids(store.Query{Filters: x}); got != "[d a c]" {
			t.Errorf("tag = x: %s, want [d a c] (by n)", got)
		}
		// An order or an operator its index does not serve is refused on
		// every backend (Firestore would need the exempted single-field
		// index).
		for _, q := range []store.Query{
			{Filters: x, OrderBy: "m"},
			{Filters: []store.Filter{store.Where("tag", store.GT, "a")}},
		} {
			if _, err := r.Find(ctx, q); err == nil {
				t.Errorf("query %+v on a Composite key its index does not serve: want an error", q)
			}
		}
		err := b.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.DeleteWhere(tagged.Name, store.Query{Filters: x, OrderBy: "m"})
			return err
		})
		if err == nil {
			t.Error("DeleteWhere on a Composite key in an order its index does not serve: want an error")
		}
		err = b.Tx(ctx, func(tx store.Tx) error {
			n, err := tx.DeleteWhere(tagged.Name, store.Query{Filters: x, Limit: 2})
			if err == nil && n != 2 {
				err = fmt.Errorf("deleted %d, want 2", n)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(store.Query{Filters: x}); got != "[c]" {
			t.Errorf("after deleting the first two of tag = x: %s, want [c]", got)
		}
	})

	t.Run("Location", func(t *testing.T) {
		r := setup(t)
		if r.B.Location() == "" {
			t.Fatal("every backend must declare its location (R6)")
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func idsOf(items []*item) []string {
	out := []string{}
	for _, i := range items {
		out = append(out, i.ID)
	}
	return out
}

func unique(ids []string) bool {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}
