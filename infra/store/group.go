package store

import (
	"context"
	"sync"
	"time"
)

// Group commits the writes of concurrent callers in shared transactions
// (group commit). The store has one writer (SQLite) or a round trip per
// transaction (Firestore), so a transaction per call makes the commit, not
// the call, the unit of throughput. Each caller still returns only once
// its own writes are durable, and a batch that fails is retried one job
// at a time, so one job's failure is never another's.
//
// There is no background goroutine: the first caller to find no commit in
// progress leads, writes the batch that is queued (its own job first),
// then hands leadership to the next queued caller. A leader commits
// exactly one batch, so no caller waits behind more than the batch before
// its own.
//
// B and Write are required; the rest has defaults. A Group must not be
// copied once used.
type Group[J any] struct {
	B Backend
	// Write adds one job's writes to tx. It must only write (a batch's
	// jobs share the transaction, and reads come before writes).
	Write func(tx Tx, j J) error
	// Writes is how many documents a job writes (nil: 1); a batch stays
	// within MaxLimit of them, Firestore's bound on a transaction.
	Writes func(j J) int
	// MaxJobs bounds a batch (0: 64).
	MaxJobs int
	// Timeout bounds a batch's transaction (0: 15 s). A batch carries
	// other callers' jobs, so the leader's context going away does not
	// cancel it.
	Timeout time.Duration

	mu      sync.Mutex
	queue   []*groupJob[J]
	leading bool
}

type groupJob[J any] struct {
	j    J
	n    int
	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // closed when this job's caller must lead
}

// Do stores j's writes, possibly together with other callers'.
func (g *Group[J]) Do(ctx context.Context, j J) error {
	gj := &groupJob[J]{j: j, n: 1, done: make(chan struct{}), lead: make(chan struct{})}
	if g.Writes != nil {
		gj.n = g.Writes(j)
	}
	g.mu.Lock()
	g.queue = append(g.queue, gj)
	if !g.leading {
		g.leading = true
		close(gj.lead)
	}
	g.mu.Unlock()
	select {
	case <-gj.done:
		return gj.err
	case <-gj.lead:
	}
	g.lead(ctx)
	<-gj.done
	return gj.err
}

// lead writes one batch from the head of the queue (which holds the
// leader's own job) and passes leadership on.
func (g *Group[J]) lead(ctx context.Context) {
	maxJobs, timeout := g.MaxJobs, g.Timeout
	if maxJobs <= 0 {
		maxJobs = 64
	}
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	g.mu.Lock()
	n, writes := 0, 0
	for n < len(g.queue) && n < maxJobs && (n == 0 || writes+g.queue[n].n <= MaxLimit) {
		writes += g.queue[n].n
		n++
	}
	batch := append([]*groupJob[J](nil), g.queue[:n]...)
	g.queue = g.queue[n:]
	g.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	g.write(ctx, batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	for _, j := range batch {
		close(j.done)
	}
}

// write commits the batch in one transaction, or, when that fails and
// there is more than one job, each job in its own.
func (g *Group[J]) write(ctx context.Context, batch []*groupJob[J]) {
	err := g.B.Tx(ctx, func(tx Tx) error {
		for _, j := range batch {
			if err := g.Write(tx, j.j); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, j := range batch {
			j.err = err
		}
		return
	}
	for _, j := range batch {
		j.err = g.B.Tx(ctx, func(tx Tx) error { return g.Write(tx, j.j) })
	}
}
