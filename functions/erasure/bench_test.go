package erasure

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/veil-privacy/veil/functions/erasure/fulfil/fulfiltest"
	"github.com/veil-privacy/veil/privacy"
)

// BenchmarkDelete100k fulfils a delete request for a device with 100,000
// ad records end to end: ledger, keys destroyed, records deleted (one
// DeleteWhere of up to store.MaxDeleteLimit per transaction), request
// completed, WAL purged. Target (issue 5): under 2 s.
//
//	go test ./functions/erasure -run '^$' -bench Delete100k -benchtime 1x
//
// VEIL_BENCH_DELETEBATCH=n asks for n documents per deleting transaction
// instead (at most store.MaxDeleteLimit), to compare.
func BenchmarkDelete100k(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, x, _ := bed(b)
		if v := os.Getenv("VEIL_BENCH_DELETEBATCH"); v != "" {
			x.deleteBatch, _ = strconv.Atoi(v)
		}
		key := e.Seed(oaid, n)
		r := e.DeviceRequestAt(key, "delete", "app_bench")
		var shredded time.Duration
		b.StartTimer()
		m := fulfiltest.Start()
		start := time.Now()
		x.shredded = func() { shredded = time.Since(start) }
		err := x.Fulfil(e.Ctx, r.ID)
		res := m.Stop()
		if err != nil {
			b.Fatal(err)
		}
		if got, _ := x.d.DB.Requests.Get(e.Ctx, r.ID); got.Status != privacy.StatusCompleted || count(e, "adrecords", key) != 0 {
			b.Fatalf("after the deletion: %s, %d records", got.Status, count(e, "adrecords", key))
		}
		b.ReportMetric(shredded.Seconds(), "shredded-s/op")
		b.ReportMetric(res.Wall.Seconds(), "wall-s/op")
		b.ReportMetric(res.CPU.Seconds(), "cpu-s/op")
		b.ReportMetric(float64(res.PeakHeap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(res.PeakRSS)/(1<<20), "peak-rss-MiB")
	}
}
