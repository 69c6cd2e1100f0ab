// Package loadgen is what the load, soak and cold-start measurements share:
// open-loop pacing, nearest-rank quantiles, and the machine facts each
// report carries.
package loadgen

import (
	"context"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// Paced calls send rate times a second for d, each call in its own
// goroutine, scheduled from now whether or not earlier calls have returned
// (open loop), so a stalled server shows as latency measured from the
// scheduled time rather than as fewer requests. A call that would put more
// than maxInFlight in flight is not made and counts as missed. Paced
// returns when every call made has returned, or stops scheduling when ctx
// ends.
func Paced(ctx context.Context, rate int, d time.Duration, maxInFlight int, send func(scheduled time.Time)) (missed int) {
	interval := time.Second / time.Duration(rate)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for n := 0; ; n++ {
		at := start.Add(time.Duration(n) * interval)
		if !at.Before(end) || ctx.Err() != nil {
			break
		}
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		select {
		case sem <- struct{}{}:
		default:
			missed++
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			send(at)
		}()
	}
	wg.Wait()
	return missed
}

// Quantile of sorted samples, nearest rank.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// LoadAvg is the machine's load average, for the record.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// FreeAddr is a free loopback address.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
