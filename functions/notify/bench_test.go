package notify

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/functionstest"
	"github.com/veil-privacy/veil/functions/notify/fanout"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// counter is the counting sink: a publisher that counts the notices a
// fan-out stages (and keeps nothing), and a mail.Sender that counts sends.
type counter struct {
	notices atomic.Int64
	mails   atomic.Int64
}

func (c *counter) Publish(_ context.Context, es ...events.Event) error {
	return c.PublishTx(nil, es...)
}
func (c *counter) PublishTx(_ store.Tx, es ...events.Event) error {
	for _, e := range es {
		if e.Type() == events.NotificationRequested {
			c.notices.Add(1)
		}
	}
	return nil
}
func (c *counter) Location() string { return "cn-local" }
func (c *counter) Send(_ context.Context, m *mail.Message) error {
	if err := mail.Check(m); err != nil {
		return err
	}
	c.mails.Add(1)
	return nil
}

func benchDeps(b *testing.B, c *counter) functions.Deps {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	if d := os.Getenv("VEIL_BENCH_DIR"); d != "" {
		dir = d // a disk, when /tmp is memory
	}
	dir, err := os.MkdirTemp(dir, "bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) }) // registered first, so it runs after the stores close
	st := functionstest.OpenStores(b, dir, "cn-local", make([]byte, 32))
	for _, coll := range append(fanout.Collections(), DeliveriesCollection, LettersCollection) {
		if err := st.Docs.Ensure(ctx, coll); err != nil {
			b.Fatal(err)
		}
	}
	return functions.Deps{Config: config.Config{MailFrom: "privacy@veil.example", PublicURL: "https://veil.example"},
		Log: zerolog.Nop(), DB: st.DB, Keys: st.Keys, Mail: c, Bus: c, Now: time.Now}
}

// peak samples the heap while a run lasts.
type peak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	max  atomic.Uint64
}

func watchHeap() *peak {
	p := &peak{stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > p.max.Load() {
				p.max.Store(m.HeapInuse)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peak) done() uint64 { close(p.stop); p.wg.Wait(); return p.max.Load() }

// vmHWM is the process's peak resident set (Linux), in bytes.
func vmHWM() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkFanout fans a policy revision out to VEIL_FANOUT_N account
// holders (default 10,000; the figures in docs/performance.md use
// 1,000,000) known from their requests, into the counting sink, driving
// continuations as the bus would. It reports notices staged per second and
// the peak heap during the fan-out. Run once: -bench Fanout -benchtime 1x.
func BenchmarkFanout(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("VEIL_FANOUT_N")); err == nil && v > 0 {
		n = v
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := &counter{}
		d := benchDeps(b, c)
		ctx := context.Background()
		seedStart := time.Now()
		now := time.Now()
		for lo := 0; lo < n; lo += store.MaxLimit {
			err := d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
				for j := lo; j < min(n, lo+store.MaxLimit); j++ {
					r := &privacy.Request{ID: fmt.Sprintf("req-%08d", j), Type: privacy.ReqAccess, Status: privacy.StatusCompleted,
						Email: fmt.Sprintf("person%d@example.com", j), CreatedAt: now}
					if err := d.DB.Requests.In(tx).Put(r); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("seeded %d account holders in %s", n, time.Since(seedStart).Round(time.Millisecond))
		vars := map[string]string{"version": "2026.2", "summary": "s"}
		en := fanout.New(d, func(context.Context, *fanout.Job, *fanout.Recipient) (string, map[string]string, error) {
			return "policy_revision", vars, nil
		}, "policy")
		job := &fanout.Job{ID: "policy:bench", CreatedAt: now, Sources: []fanout.Source{{Kind: fanout.FromAccounts}}}
		if err := d.DB.Backend.Tx(ctx, func(tx store.Tx) error { return en.Create(tx, job, nil) }); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		heap := watchHeap()
		b.StartTimer()
		start := time.Now()
		runs := 0
		for gen := 0; ; gen++ {
			if err := en.Run(ctx, job.ID, gen); err != nil {
				b.Fatal(err)
			}
			runs++
			j, err := en.Jobs.Get(ctx, job.ID)
			if err != nil {
				b.Fatal(err)
			}
			if j.Done {
				break
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		maxHeap := heap.done()
		if got := c.notices.Load(); got != int64(n) {
			b.Fatalf("%d notices staged for %d people", got, n)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "notices/s")
		b.ReportMetric(float64(maxHeap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(vmHWM())/(1<<20), "VmHWM-MiB")
		b.ReportMetric(float64(runs), "runs")
		b.Logf("%d notices in %s over %d handler runs; peak heap in use %.1f MiB", n, elapsed.Round(time.Millisecond), runs, float64(maxHeap)/(1<<20))
	}
}

// BenchmarkNotify delivers b.N notifications (sealed address, bilingual
// incident notice) through notify into the counting mail sender.
func BenchmarkNotify(b *testing.B) {
	c := &counter{}
	d := benchDeps(b, c)
	n, err := newNotifier(d)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	en := fanout.New(d, nil, "incident")
	evs := make([]events.Event, b.N)
	for i := range evs {
		sk := fmt.Sprintf("sk-%d", i%1000) // a thousand people's keys, reused
		to, err := en.Seal(ctx, sk, fmt.Sprintf("person%d@example.com", i))
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = events.Must(events.NotificationRequested, "", events.NotificationData{Key: fmt.Sprintf("incident:b~%d", i),
			Channel: Email, To: to, Template: "incident_notice", Vars: incidentVars, SubjectKey: sk, Ref: "incident:b"})
	}
	b.ResetTimer()
	start := time.Now()
	for _, e := range evs {
		if err := n.handle(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	if c.mails.Load() != int64(b.N) {
		b.Fatalf("%d mails for %d notices", c.mails.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notices/s")
}
