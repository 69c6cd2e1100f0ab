package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// progressBar draws "[#####.....]  50%  done/total  note" on one line of
// w, redrawn in place with a carriage return (stderr, so that stdout keeps
// only the result for scripts).
func progressBar(w io.Writer, done, total int64, note string) {
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	if frac > 1 {
		frac = 1
	}
	if frac < 0 {
		frac = 0
	}
	n := int(frac * width)
	fmt.Fprintf(w, "\r[%s%s] %3d%%  %d/%d  %s\x1b[K", strings.Repeat("#", n), strings.Repeat(".", width-n),
		int(frac*100), done, total, note)
}

// poll calls step every interval until it reports done, the timeout (0:
// none) passes, or ctx ends. It draws nothing itself.
func poll(ctx context.Context, interval, timeout time.Duration, step func() (bool, error)) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := step()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			if timeout > 0 && ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("still not done after %s", timeout)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}
