package loadgen

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuantileIsNearestRank(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 5}, {0.9, 9}, {0.99, 10}, {1, 10}} {
		if got := Quantile(s, c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := Quantile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("one sample: %v", got)
	}
}

// Paced keeps its schedule when calls block: past maxInFlight a call is
// not made but counted missed, and every call made has returned by the end.
func TestPacedCountsWhatItCouldNotSend(t *testing.T) {
	release := make(chan struct{})
	var made, done atomic.Int64
	// Released well after the 200 ms schedule is over.
	go func() { time.Sleep(time.Second); close(release) }()
	missed := Paced(context.Background(), 100, 200*time.Millisecond, 5, func(time.Time) {
		made.Add(1)
		<-release
		done.Add(1)
	})
	if made.Load() != 5 || done.Load() != 5 {
		t.Fatalf("made %d, finished %d: want 5 and 5 (the in-flight bound)", made.Load(), done.Load())
	}
	if missed != 15 {
		t.Fatalf("missed %d, want 15 of the 20 scheduled", missed)
	}
}
