package export

import (
	"testing"

	"github.com/veil-privacy/veil/functions/erasure/fulfil/fulfiltest"
)

// BenchmarkExport100k writes the bundle of a device with 100,000 ad
// records into the directory blob store: read from SQLite, sealed fields
// opened, JSON Lines and CSV in parts, zipped, through the pipe into the
// store. Targets (issue 5): under 5 s and under 100 MiB peak.
//
//	go test ./functions/export -run '^$' -bench Export100k -benchtime 1x
func BenchmarkExport100k(b *testing.B) {
	const n = 100_000
	e, x, _ := bed(b, nil)
	key := e.Seed(oaid, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := e.DeviceRequestAt(key, "copy", "app_bench")
		m := fulfiltest.Start()
		bundle, err := x.bundle(e.Ctx, r)
		res := m.Stop()
		if err != nil {
			b.Fatal(err)
		}
		if bundle.Records != n {
			b.Fatalf("%d records in the bundle, want %d", bundle.Records, n)
		}
		b.ReportMetric(res.Wall.Seconds(), "wall-s/op")
		b.ReportMetric(res.CPU.Seconds(), "cpu-s/op")
		b.ReportMetric(float64(res.PeakHeap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(res.PeakRSS)/(1<<20), "peak-rss-MiB")
		b.ReportMetric(float64(bundle.Bytes)/(1<<20), "bundle-MiB")
	}
}
