package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
)

type note struct {
	ID string `json:"id"`
}

// counting counts the transactions a backend runs.
type counting struct {
	store.Backend
	txs atomic.Int64
}

func (c *counting) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	c.txs.Add(1)
	return c.Backend.Tx(ctx, fn)
}

func groupBed(t *testing.T) (*counting, store.Repo[note]) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "veil.db"), "local:cn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := store.Collection{Name: "notes"}
	if err := db.Ensure(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	b := &counting{Backend: db}
	return b, store.Repo[note]{B: b, C: c, ID: func(n *note) string { return n.ID }, Keys: func(*note) map[string]any { return nil }}
}

var errPoison = errors.New("poison")

// crowd calls do(i) for i in [0, n) concurrently. The job that calls
// hold in its write keeps the writer until every caller has started and
// has had time to queue, so that sharing is not left to luck.
type crowd struct{ started sync.WaitGroup }

func (c *crowd) run(n int, do func(i int)) {
	c.started.Add(n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.started.Done()
			do(i)
		}()
	}
	wg.Wait()
}

func (c *crowd) hold() {
	c.started.Wait()
	time.Sleep(50 * time.Millisecond) // from started to queued is microseconds
}

// Concurrent callers share transactions, each returns only once its own
// write is stored, and a job that fails fails alone.
func TestGroupSharesTransactionsAndIsolatesFailures(t *testing.T) {
	b, notes := groupBed(t)
	var c crowd
	g := &store.Group[string]{B: b, Write: func(tx store.Tx, id string) error {
		switch id {
		case "poison":
			return errPoison
		case "note-0":
			c.hold()
		}
		return notes.In(tx).Create(&note{ID: id})
	}}
	const n = 200
	errs := make([]error, n)
	c.run(n, func(i int) {
		id := fmt.Sprint("note-", i)
		if i == 77 {
			id = "poison"
		}
		errs[i] = g.Do(context.Background(), id)
		if errs[i] == nil {
			// Durable once Do returns: readable at once.
			if _, err := notes.Get(context.Background(), id); err != nil {
				errs[i] = fmt.Errorf("Do returned before %s was stored: %w", id, err)
			}
		}
	})
	for i, err := range errs {
		switch {
		case i == 77 && !errors.Is(err, errPoison):
			t.Errorf("the poisoned job: %v, want its own error", err)
		case i != 77 && err != nil:
			t.Errorf("job %d: %v", i, err)
		}
	}
	if got, _ := notes.Find(context.Background(), store.Query{Limit: store.MaxLimit}); len(got) != n-1 {
		t.Errorf("%d notes stored, want %d", len(got), n-1)
	}
	// 200 jobs in batches of at most 64, the poisoned batch retried job by
	// job: at most 64 + a handful of transactions, never one per job.
	if txs := b.txs.Load(); txs > 64+8 {
		t.Errorf("%d transactions for %d concurrent jobs", txs, n)
	}
}

// A batch holds at most MaxJobs jobs and at most store.MaxLimit writes.
func TestGroupBoundsABatch(t *testing.T) {
	cases := []struct {
		name         string
		writes, most int
	}{
		{"by jobs", 1, 8},     // MaxJobs
		{"by writes", 100, 5}, // 5 × 100 = store.MaxLimit
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, notes := groupBed(t)
			var c crowd
			var mu sync.Mutex
			largest := 0
			inTx := map[store.Tx]int{}
			g := &store.Group[string]{B: b, MaxJobs: 8, Writes: func(string) int { return tc.writes },
				Write: func(tx store.Tx, id string) error {
					if id == "n0" {
						c.hold()
					}
					mu.Lock()
					inTx[tx]++
					largest = max(largest, inTx[tx])
					mu.Unlock()
					return notes.In(tx).Create(&note{ID: id})
				}}
			c.run(64, func(i int) {
				if err := g.Do(context.Background(), fmt.Sprint("n", i)); err != nil {
					t.Error(err)
				}
			})
			if largest != tc.most {
				t.Fatalf("largest batch %d jobs of %d writes; want exactly %d (the bound, reached because 63 callers queued)", largest, tc.writes, tc.most)
			}
		})
	}
}
