// Package testclock is a Deps.Now that tests move by hand, so expiries,
// deadlines and retention can be crossed without sleeping.
package testclock

import (
	"sync"
	"time"
)

// Offset runs at real speed from an offset the test pushes forward. The
// zero value is the real time.
type Offset struct {
	mu  sync.Mutex
	off time.Duration
}

// Now is the real time plus the offset.
func (c *Offset) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Add pushes the clock forward by d.
func (c *Offset) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// Fixed stands still at a time the test sets or moves.
type Fixed struct {
	mu sync.Mutex
	t  time.Time
}

// At is a clock standing at t.
func At(t time.Time) *Fixed { return &Fixed{t: t} }

// Now is the time the clock stands at.
func (c *Fixed) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Fixed) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Add moves the clock by d.
func (c *Fixed) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
