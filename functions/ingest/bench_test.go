package ingest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/functionstest"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/privacy"
)

// testDeps is what the suite would give ingest, on temporary SQLite files
// (documents and key ring apart, as in veil serve), with one subscriber to
// ad-request events so that publishing costs what it costs in production.
func testDeps(b testing.TB) functions.Deps {
	b.Helper()
	d, router := functionstest.Deps(b, config.Config{})
	if err := router.Subscribe(events.Subscription{Subscriber: "audit", Type: events.AdRequestReceived,
		Handle: func(context.Context, events.Event) error { return nil }}); err != nil {
		b.Fatal(err)
	}
	return d
}

func benchBody(oaid string) []byte {
	return []byte(`{"sdk":{"platform":"android","version":"4.2.0"},"app":{"name":"Demo","version":"1.0"},"user":{"age":30},` +
		`"consent":{"personalized_ads":true,"location":true},"device":{"ids":{"oaid":"` + oaid + `","android_id":"a-` + oaid + `"},` +
		`"brand":"Xiaomi","model":"2201123C","device_name":"phone","ip":"203.0.113.77","ua":"Mozilla/5.0 (Linux; Android 14)",` +
		`"wifi_ssid":"home","screen":{"w":1080,"h":2400},"storage_total":256000000000,"carrier":"China Mobile","network":"wifi",` +
		`"language":"zh-CN","timezone":"Asia/Shanghai","country":"CN","os_version":"14","installed_apps":["com.tencent.mm","com.eg.android.AlipayGphone"],` +
		`"sensors":[{"type":"accelerometer","x":0.1}],"geo":{"lat":31.2304,"lon":121.4737,"accuracy":15}}}`)
}

// BenchmarkIngest is the whole ingest path below HTTP: decode → minimize →
// pseudonymize → store (record, device links, event) in one transaction.
// "known device" is the steady state (links and data key exist); "new
// device" also creates the subject's data key and links.
func BenchmarkIngest(b *testing.B) {
	for _, newDevice := range []bool{false, true} {
		name := map[bool]string{false: "known_device", true: "new_device"}[newDevice]
		b.Run(name, func(b *testing.B) {
			d := testDeps(b)
			s, _ := newService(d)
			app := &privacy.App{ID: "app_bench"}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				oaid := "bench-known"
				if newDevice {
					oaid = fmt.Sprintf("bench-%d", i)
				}
				var req privacy.AdRequest
				if err := httpx.DecodeBytes(benchBody(oaid), &req); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Ingest(ctx, app, &req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeMinimize is the CPU-only part: parse and apply the table.
func BenchmarkDecodeMinimize(b *testing.B) {
	body := benchBody("bench-known")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, in, err := Decode(body)
		if err != nil {
			b.Fatal(err)
		}
		in.Minimize(&privacy.App{}, nil)
	}
}

// BenchmarkIngestParallel is the same path with many requests in flight,
// as under load: group commit writes them in shared transactions.
func BenchmarkIngestParallel(b *testing.B) {
	d := testDeps(b)
	s, _ := newService(d)
	app := &privacy.App{ID: "app_bench"}
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var req privacy.AdRequest
			if err := httpx.DecodeBytes(benchBody(fmt.Sprintf("bench-%d", n.Add(1)%1000)), &req); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Ingest(ctx, app, &req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
