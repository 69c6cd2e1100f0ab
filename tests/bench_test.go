package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-privacy/veil/tests/veiltest"
)

// BenchmarkAdRequest is one ad request through the whole suite as `veil
// serve` runs it: HTTP, ingest, the staged event and its deliveries to
// every subscriber (audit, partners), until the broker is idle. ns/op is
// wall time per request with 32 in flight; -cpuprofile shows where a
// request's CPU goes, deliveries included (docs/performance.md, "Ingest").
//
//	go test ./tests -run '^$' -bench AdRequest -benchtime 5000x -cpuprofile /tmp/cpu.out
//	VEIL_BENCH_DEVICES=5000 go test ./tests -run '^$' -bench AdRequest -benchtime 5000x
func BenchmarkAdRequest(b *testing.B) {
	s := veiltest.Start(b, map[string]string{"VEIL_LOG_LEVEL": "info"})
	var app struct {
		AppKey string `json:"app_key"`
	}
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "Bench", "platform": "android", "developer_email": "dev@bench.example", "discloses_sdk": true}), http.StatusCreated, &app)
	// VEIL_BENCH_DEVICES distinct devices (default 1,000): with as many
	// devices as requests, every request is a new device (data key and
	// links created), as in the first seconds of scripts/load.
	devices := 1000
	if v, err := strconv.Atoi(os.Getenv("VEIL_BENCH_DEVICES")); err == nil && v > 0 {
		devices = v
	}
	bodies := make([][]byte, devices)
	for i := range bodies {
		bodies[i], _ = json.Marshal(adRequest(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), fmt.Sprintf("86420903%07d", i), "Mozilla/5.0 (Linux; Android 13)", i%40))
	}
	var n, failed atomic.Int64
	b.SetParallelism(16) // 32 in flight on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", s.URL+"/v1/ad-requests", bytes.NewReader(bodies[n.Add(1)%int64(len(bodies))]))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Veil-App-Key", app.AppKey)
			resp, err := s.Client.Do(req)
			if err != nil {
				failed.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
		}
	})
	s.Idle(5 * time.Minute)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d ad requests failed", f, b.N)
	}
}
