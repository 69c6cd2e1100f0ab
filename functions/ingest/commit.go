package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Group commit: ad requests arriving together are written in one
// transaction. The store has one writer (SQLite) or a per-transaction round
// trip (Firestore), so a transaction per request makes the commit, not the
// request, the unit of throughput. Each request still gets its answer only
// after its own record is durable, and a batch that fails is retried one
// request at a time, so one request's failure is never another's.
//
// There is no background goroutine: the first request to find no commit
// in progress leads, writes the batch that is queued (its own job first),
// then hands leadership to the next queued request. A leader commits
// exactly one batch, so no request waits behind more than the batch before
// its own.

const (
	maxBatch       = 64
	maxBatchWrites = 400 // under Firestore's 500 writes per transaction
	// writesPerEvent is a generous guess at PublishTx's writes (one per
	// subscriber of adrequest.received).
	writesPerEvent = 8
	commitTimeout  = 15 * time.Second
)

// job is one ad request's writes.
type job struct {
	links []*privacy.DeviceLink
	rec   *privacy.AdRecord
	event events.Event
	err   error
	done  chan struct{} // closed when err is final
	lead  chan struct{} // closed when this job's request must lead
}

func (j *job) writes() int { return len(j.links) + 1 + writesPerEvent }

type committer struct {
	db  *store.DB
	bus events.Publisher

	mu      sync.Mutex
	queue   []*job
	leading bool
}

// commit stores j's writes, possibly together with other requests'.
func (c *committer) commit(ctx context.Context, j *job) error {
	j.done, j.lead = make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	c.queue = append(c.queue, j)
	if !c.leading {
		c.leading = true
		close(j.lead)
	}
	c.mu.Unlock()
	select {
	case <-j.done:
		return j.err
	case <-j.lead:
	}
	c.lead(ctx)
	<-j.done
	return j.err
}

// lead writes one batch from the head of the queue (which holds the
// leader's own job) and passes leadership on.
func (c *committer) lead(ctx context.Context) {
	c.mu.Lock()
	n, writes := 0, 0
	for n < len(c.queue) && n < maxBatch && (n == 0 || writes+c.queue[n].writes() <= maxBatchWrites) {
		writes += c.queue[n].writes()
		n++
	}
	batch := append([]*job(nil), c.queue[:n]...)
	c.queue = c.queue[n:]
	c.mu.Unlock()

	// The batch carries other requests: the leader's caller going away
	// must not cancel their writes.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	c.write(ctx, batch)

	c.mu.Lock()
	if len(c.queue) > 0 {
		close(c.queue[0].lead)
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	for _, j := range batch {
		close(j.done)
	}
}

// write commits the batch in one transaction, or, when that fails and
// there is more than one job, each job in its own.
func (c *committer) write(ctx context.Context, batch []*job) {
	err := c.db.Backend.Tx(ctx, func(tx store.Tx) error {
		for _, j := range batch {
			if err := c.writeJob(tx, j); err != nil {
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
		j.err = c.db.Backend.Tx(ctx, func(tx store.Tx) error { return c.writeJob(tx, j) })
	}
}

// writeJob writes one request. Links are created, never overwritten: a
// link that appeared since the request read them means another request
// filed this device first, and this one must be sealed again under that
// subject (errRelinked).
func (c *committer) writeJob(tx store.Tx, j *job) error {
	for _, l := range j.links {
		if err := c.db.Devices.In(tx).Create(l); err != nil {
			if privacy.ErrorCode(err) == privacy.ECONFLICT {
				return errRelinked
			}
			return err
		}
	}
	if err := c.db.Records.In(tx).Create(j.rec); err != nil {
		return err
	}
	return c.bus.PublishTx(tx, j.event)
}
