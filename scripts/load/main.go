// Command load measures ad-request ingest throughput and latency of `veil
// serve` side by side with a bare net/http handler that decodes and
// re-encodes the same JSON, in one run on one machine, and reports the
// ratio (issue 3's target: ingest ≥ 50% of the bare handler's throughput,
// p99 < 10 ms at 1,000 req/s).
//
//	go run ./scripts/load                           # both servers, fixed 1,000 req/s then max
//	go run ./scripts/load -rate 1000 -duration 10s  # fixed rate only
//	go run ./scripts/load -rate 0 -concurrency 32   # max throughput only
//	go run ./scripts/load -target http://127.0.0.1:8080 -ops-token … # a veil already running
//
// It talks to loopback only and every phase is bounded in time. Both
// servers run as separate processes (this binary re-executed with -serve-bare,
// and the veil binary built from ./cmd/veil), so neither shares a garbage
// collector with the load generator.
//
// Fixed rate is open loop: requests are sent on schedule whether or not
// earlier ones have returned, and latency is measured from the scheduled
// send time, so a stalled server shows up as latency instead of as fewer
// requests (no coordinated omission). Max throughput is closed loop:
// -concurrency clients each send their next request as soon as the last
// one is answered.
//
// An ad request is not finished when veil answers it: its events are
// delivered afterwards. After each veil phase the script waits until
// veil_events_pending is 0 and counts that CPU too ("events drained in").
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/veil-privacy/veil/tests/loadgen"
)

// maxDuration bounds every phase, whatever the flags say.
const maxDuration = 2 * time.Minute

type options struct {
	rate        int
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	devices     int
	target      string
	opsToken    string
	veilBin     string
	only        string
	jsonOut     bool
}

func main() {
	var o options
	serveBare := flag.String("serve-bare", "", "internal: run the bare baseline server on this address")
	flag.IntVar(&o.rate, "rate", -1, "fixed request rate per second (open loop); 0 = max throughput only; -1 = both (1000 req/s, then max)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured phase (at most 2m)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each phase")
	flag.IntVar(&o.concurrency, "concurrency", 32, "clients in the max-throughput phase")
	flag.IntVar(&o.devices, "devices", 10000, "distinct devices the requests come from")
	flag.StringVar(&o.target, "target", "", "a running veil (loopback URL) instead of starting one")
	flag.StringVar(&o.opsToken, "ops-token", os.Getenv("VEIL_OPS_TOKEN"), "ops token of -target, to register a test app")
	flag.StringVar(&o.veilBin, "veil", "", "veil binary to start (default: built from ./cmd/veil)")
	flag.StringVar(&o.only, "only", "", "measure only one server: veil or bare")
	flag.BoolVar(&o.jsonOut, "json", false, "print results as JSON")
	flag.Parse()
	if *serveBare != "" {
		if err := runBare(*serveBare); err != nil {
			fmt.Fprintln(os.Stderr, "bare:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// server is one system under test.
type server struct {
	name    string
	url     string // POST endpoint
	headers map[string]string
	pid     int // 0 when not started here (-target): no CPU figures
	stop    func()
	// pending reads how many event deliveries the server still has
	// queued (veil's veil_events_pending gauge); nil for the bare server.
	pending func(ctx context.Context) (int, error)
}

// cpuTime is the user+system CPU a process has used so far, from
// /proc/<pid>/stat (Linux; 0 elsewhere). CPU per request is the figure a
// busy shared machine distorts least: waiting for a core costs latency and
// throughput, not CPU.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	const clockTicks = 100 // USER_HZ on every Linux this runs on
	return time.Duration(utime+stime) * time.Second / clockTicks
}

func run(ctx context.Context, o options) error {
	if o.duration <= 0 || o.duration > maxDuration || o.warmup < 0 || o.warmup > maxDuration {
		return fmt.Errorf("-duration and -warmup must be within (0, %s]", maxDuration)
	}
	if o.concurrency < 1 || o.concurrency > 1024 || o.devices < 1 || o.rate > 100000 {
		return errors.New("-concurrency 1–1024, -devices ≥ 1, -rate ≤ 100000")
	}
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	if o.only != "bare" {
		s, err := startVeil(ctx, o)
		if err != nil {
			return err
		}
		servers = append(servers, s)
	}
	if o.only != "veil" {
		s, err := startBare(ctx)
		if err != nil {
			return err
		}
		servers = append(servers, s)
	}
	bodies := makeBodies(o.devices)

	type phase struct {
		name string
		rate int
	}
	var phases []phase
	switch {
	case o.rate < 0:
		phases = []phase{{"fixed 1000/s", 1000}, {fmt.Sprintf("max (%d clients)", o.concurrency), 0}}
	case o.rate == 0:
		phases = []phase{{fmt.Sprintf("max (%d clients)", o.concurrency), 0}}
	default:
		phases = []phase{{fmt.Sprintf("fixed %d/s", o.rate), o.rate}}
	}
	var results []result
	for _, p := range phases {
		// Servers alternate within a phase so that background load on a
		// shared machine hits both alike.
		for _, s := range servers {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			client := newClient(o.concurrency)
			if o.warmup > 0 {
				measure(ctx, client, s, bodies, p.rate, o.concurrency, o.warmup)
			}
			cpu0 := cpuTime(s.pid)
			r := measure(ctx, client, s, bodies, p.rate, o.concurrency, o.duration)
			// An ad request is not done until its events are delivered:
			// wait for the backlog to drain and count that CPU too, or a
			// server that falls behind would look cheaper than one that
			// keeps up.
			if s.pending != nil {
				t0 := time.Now()
				switch err := drain(ctx, s, 2*time.Minute); {
				case errors.Is(err, errNoGauge):
					r.NoDrain = true // an older veil: deliveries after the phase are not counted
				case err != nil:
					r.FirstError = "drain: " + err.Error()
				default:
					r.Drain = time.Since(t0)
				}
			}
			if cpu := cpuTime(s.pid) - cpu0; cpu > 0 && r.OK > 0 {
				r.CPUPerRequest = cpu / time.Duration(r.OK)
				r.CPUCores = cpu.Seconds() / r.Seconds
			}
			r.Server, r.Phase, r.LoadAvg = s.name, p.name, loadgen.LoadAvg()
			results = append(results, r)
			client.CloseIdleConnections()
			if !o.jsonOut {
				fmt.Println(r)
			}
		}
	}
	if o.jsonOut {
		return json.NewEncoder(os.Stdout).Encode(results)
	}
	for _, p := range phases {
		var v, b *result
		for i := range results {
			if results[i].Phase == p.name && results[i].Server == "veil" {
				v = &results[i]
			}
			if results[i].Phase == p.name && results[i].Server == "bare" {
				b = &results[i]
			}
		}
		if v != nil && b != nil && b.Throughput > 0 {
			fmt.Printf("%-18s veil/bare throughput = %.1f%%   p99 veil %s, bare %s", p.name, 100*v.Throughput/b.Throughput, ms(v.P99), ms(b.P99))
			if v.CPUPerRequest > 0 && b.CPUPerRequest > 0 {
				fmt.Printf("   server CPU per request veil %s, bare %s (bare/veil = %.1f%%)", us(v.CPUPerRequest), us(b.CPUPerRequest),
					100*float64(b.CPUPerRequest)/float64(v.CPUPerRequest))
			}
			fmt.Println()
		}
	}
	fmt.Printf("machine: load average %s, %d CPUs (GOMAXPROCS %d), %s/%s, %s\n", loadgen.LoadAvg(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	return nil
}

// result is one measured phase on one server.
type result struct {
	Server     string        `json:"server"`
	Phase      string        `json:"phase"`
	Sent       int           `json:"sent"`
	OK         int           `json:"ok"`
	Errors     int           `json:"errors"`
	Missed     int           `json:"missed"` // open loop: not sent because too many were in flight
	Seconds    float64       `json:"seconds"`
	Throughput float64       `json:"throughput"` // successful responses per second
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
	FirstError string        `json:"first_error,omitempty"`
	// Server CPU (user+system) per successful request, and cores used.
	CPUPerRequest time.Duration `json:"cpu_per_request_ns,omitempty"`
	CPUCores      float64       `json:"cpu_cores,omitempty"`
	LoadAvg       string        `json:"loadavg"` // of the machine, after the phase
	// Drain is how long the event backlog took to empty after the phase
	// (its CPU is in CPUPerRequest).
	Drain   time.Duration `json:"drain_ns,omitempty"`
	NoDrain bool          `json:"no_drain,omitempty"` // the server has no backlog gauge
}

func (r result) String() string {
	s := fmt.Sprintf("%-5s %-18s sent %7d ok %7d err %5d missed %5d  %8.0f req/s  p50 %8s  p99 %8s  max %8s  cpu/req %8s (%.2f cores)  load %s",
		r.Server, r.Phase, r.Sent, r.OK, r.Errors, r.Missed, r.Throughput, ms(r.P50), ms(r.P99), ms(r.Max), us(r.CPUPerRequest), r.CPUCores, r.LoadAvg)
	if r.Drain > 0 {
		s += fmt.Sprintf("  events drained in %.1fs", r.Drain.Seconds())
	}
	if r.NoDrain {
		s += "  (no veil_events_pending: deliveries after the phase not counted)"
	}
	if r.FirstError != "" {
		s += "  first error: " + r.FirstError
	}
	return s
}

// drain waits until s has no event deliveries queued.
func drain(ctx context.Context, s *server, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		n, err := s.pending(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d deliveries still queued after %s", n, limit)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var errNoGauge = errors.New("/metrics has no veil_events_pending")

// pendingGauge reads veil_events_pending from base's /metrics.
func pendingGauge(base, token string) func(ctx context.Context) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	return func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("/metrics: status %d", resp.StatusCode)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "veil_events_pending "); ok {
				f, err := strconv.ParseFloat(v, 64)
				return int(f), err
			}
		}
		if err := sc.Err(); err != nil {
			return 0, err
		}
		return 0, errNoGauge
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }

func newClient(conns int) *http.Client {
	// Connections are capped: past the cap, open-loop requests queue in
	// the client (their latency still counts from the scheduled time)
	// instead of opening thousands of sockets against an overloaded server.
	t := &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 2048, MaxConnsPerHost: max(conns, 256), IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}

// measure runs one phase: open loop at rate, or closed loop with
// concurrency clients when rate is 0.
func measure(ctx context.Context, c *http.Client, s *server, bodies [][]byte, rate, concurrency int, d time.Duration) result {
	ctx, cancel := context.WithTimeout(ctx, d+15*time.Second)
	defer cancel()
	var (
		mu        sync.Mutex
		lat       = make([]time.Duration, 0, 1<<16)
		sent, bad atomic.Int64
		firstErr  atomic.Value
		next      atomic.Int64
	)
	record := func(scheduled time.Time) {
		i := next.Add(1)
		body := bodies[int(i)%len(bodies)]
		sent.Add(1)
		err := post(ctx, c, s, body)
		l := time.Since(scheduled)
		if err != nil {
			bad.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		mu.Lock()
		lat = append(lat, l)
		mu.Unlock()
	}
	start := time.Now()
	end := start.Add(d)
	missed := 0
	var wg sync.WaitGroup
	if rate > 0 {
		missed = loadgen.Paced(ctx, rate, d, 4096, record)
	} else {
		for range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) && ctx.Err() == nil {
					record(time.Now())
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if rate > 0 {
		elapsed = d // the schedule's length; stragglers are in the latencies
	}
	slices.Sort(lat)
	r := result{Sent: int(sent.Load()), OK: len(lat), Errors: int(bad.Load()), Missed: missed,
		Seconds: elapsed.Seconds(), Throughput: float64(len(lat)) / elapsed.Seconds()}
	if len(lat) > 0 {
		r.P50, r.P99, r.Max = loadgen.Quantile(lat, 0.50), loadgen.Quantile(lat, 0.99), lat[len(lat)-1]
	}
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	return r
}

func post(ctx context.Context, c *http.Client, s *server, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	return nil
}

// makeBodies builds one realistic Android ad request per device.
func makeBodies(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		oaid := fmt.Sprintf("load-%08d-%s", i, hex.EncodeToString(randBytes(4)))
		b := map[string]any{
			"sdk":     map[string]any{"platform": "android", "version": "4.2.0"},
			"app":     map[string]any{"name": "Load", "version": "1.0"},
			"user":    map[string]any{"age": 30},
			"consent": map[string]any{"personalized_ads": i%4 != 0, "location": i%2 == 0},
			"device": map[string]any{
				"ids":   map[string]any{"oaid": oaid, "android_id": "a" + oaid},
				"brand": "Xiaomi", "model": "2201123C", "device_name": "phone", "ip": "203.0.113.77",
				"ua": "Mozilla/5.0 (Linux; Android 14; 2201123C) AppleWebKit/537.36", "wifi_ssid": "home",
				"screen": map[string]any{"w": 1080, "h": 2400}, "storage_total": 256000000000, "storage_free": 12000000000,
				"carrier": "China Mobile", "network": "wifi", "battery": 0.62, "language": "zh-CN", "timezone": "Asia/Shanghai",
				"country": "CN", "os_version": "14", "os_update_time": 1767225600,
				"installed_apps": []string{"com.tencent.mm", "com.eg.android.AlipayGphone", "com.ss.android.ugc.aweme"},
				"sensors":        []map[string]any{{"type": "accelerometer", "x": 0.1, "y": 9.7, "z": 0.3}},
				"geo":            map[string]any{"lat": 31.2304, "lon": 121.4737, "accuracy": 15},
			},
		}
		out[i], _ = json.Marshal(b)
	}
	return out
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// loopback refuses anything but a loopback URL: this is a load generator.
func loopback(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("target %q is not an http(s) URL", raw)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("target %q is not on loopback; load is only ever generated against this machine", raw)
	}
	return u, nil
}

func waitReady(ctx context.Context, u string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 60s", u)
}

// startVeil starts `veil serve` on a fresh data directory (or uses
// -target) and registers an app for the load.
func startVeil(ctx context.Context, o options) (*server, error) {
	s := &server{name: "veil", stop: func() {}}
	base := o.target
	token := o.opsToken
	if base == "" {
		dir, err := os.MkdirTemp("", "veil-load-")
		if err != nil {
			return nil, err
		}
		bin := o.veilBin
		if bin == "" {
			bin = filepath.Join(dir, "veil")
			build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/veil")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				os.RemoveAll(dir)
				return nil, fmt.Errorf("building veil (run from the repository root): %w", err)
			}
		}
		addr, err := loadgen.FreeAddr()
		if err != nil {
			return nil, err
		}
		token = hex.EncodeToString(randBytes(32))
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "VEIL_ADDR="+addr, "VEIL_DATA="+filepath.Join(dir, "data"), "VEIL_OPS_TOKEN="+token,
			"VEIL_STORE=sqlite", "VEIL_BROKER=inprocess")
		logf, err := os.Create(filepath.Join(dir, "veil.log"))
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		s.pid = cmd.Process.Pid
		s.stop = func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
			}
			logf.Close()
			os.RemoveAll(dir)
		}
		base = "http://" + addr
	}
	u, err := loopback(base)
	if err != nil {
		s.stop()
		return nil, err
	}
	base = strings.TrimRight(u.String(), "/")
	if err := waitReady(ctx, base+"/readyz"); err != nil {
		s.stop()
		return nil, err
	}
	key, err := registerApp(ctx, base, token)
	if err != nil {
		s.stop()
		return nil, err
	}
	s.url, s.headers = base+"/v1/ad-requests", map[string]string{"X-Veil-App-Key": key}
	s.pending = pendingGauge(base, token)
	return s, nil
}

func registerApp(ctx context.Context, base, token string) (string, error) {
	body := `{"name":"load","platform":"android","developer_email":"load@example.com","discloses_sdk":true}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/apps", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AppKey string `json:"app_key"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&out) != nil || out.AppKey == "" {
		return "", fmt.Errorf("registering the load app: status %d (ops token right?)", resp.StatusCode)
	}
	return out.AppKey, nil
}

// startBare re-executes this binary as the baseline server.
func startBare(ctx context.Context) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := loadgen.FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-bare", addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	// The child says "ready" once it listens.
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		stop()
		return nil, fmt.Errorf("bare server did not start: %q %v", line, err)
	}
	return &server{name: "bare", url: "http://" + addr + "/v1/ad-requests", pid: cmd.Process.Pid, stop: stop}, nil
}

// runBare is the baseline: what any JSON-over-HTTP service costs on this
// machine. It reads the body under the same 64 KiB limit, decodes it and
// encodes it back, and nothing else.
func runBare(addr string) error {
	if _, err := loopback("http://" + addr); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/ad-requests", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		if err := dec.Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Println("ready")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
