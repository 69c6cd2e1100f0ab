package fulfiltest

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Measure records what one run of a benchmark costs: wall time, CPU time
// (user + system of the whole process: on a shared machine, wall time
// includes other people's work), the peak of the Go heap in use (sampled
// every 5 ms) and the peak resident set (VmHWM, reset at Start where the
// kernel allows it; it includes SQLite's page cache, which lives outside
// the Go heap).
type Measure struct {
	start    time.Time
	cpu      time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
	peakHeap uint64
	hwm0     uint64
}

// Result is what Stop reports.
type Result struct {
	Wall     time.Duration
	CPU      time.Duration
	PeakHeap uint64 // bytes
	PeakRSS  uint64 // bytes (0 where /proc is absent)
	RSSReset bool   // whether the RSS peak was reset at Start (else it is the process's)
}

// Start begins a measurement after a GC that returns freed memory to the
// OS, so set-up does not count.
func Start() *Measure {
	runtime.GC()
	debug.FreeOSMemory()
	m := &Measure{stop: make(chan struct{})}
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux).
	m.hwm0 = 1
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		m.hwm0 = 0
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		// runtime/metrics, not ReadMemStats: sampling must not stop the
		// world every few milliseconds and so inflate what it measures.
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"},
			{Name: "/memory/classes/heap/stacks:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			var h uint64
			for _, s := range samples {
				if s.Value.Kind() == metrics.KindUint64 {
					h += s.Value.Uint64()
				}
			}
			if h > m.peakHeap {
				m.peakHeap = h
			}
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	m.cpu = cpuTime()
	m.start = time.Now()
	return m
}

// Stop ends the measurement.
func (m *Measure) Stop() Result {
	wall := time.Since(m.start)
	cpu := cpuTime() - m.cpu
	close(m.stop)
	m.wg.Wait()
	return Result{Wall: wall, CPU: cpu, PeakHeap: m.peakHeap, PeakRSS: vmHWM(), RSSReset: m.hwm0 == 1}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func vmHWM() uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, _ := strconv.ParseUint(string(bytes.Fields(v)[0]), 10, 64)
			return kb << 10
		}
	}
	return 0
}
