// Package soak runs Veil's soak: a fixed request rate for a fixed time,
// mixing ad requests, consent changes and rights requests, against `veil
// serve` and, in the same run, against a bare net/http server that decodes
// and re-encodes the same JSON on the same routes. It reports throughput,
// p50/p99 latency, errors and the resident memory (VmRSS) of each server at
// the start and end, and every figure as a ratio of veil to bare, since
// only ratios mean something on a shared machine.
//
// `go run ./scripts/load/soak` is the long run (60 s, figures in
// docs/reliability.md); TestSoak in this package is the shortened one CI
// runs, asserting only that nothing failed.
package soak

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-privacy/veil/tests/loadgen"
)

// Limits every run stays within, whatever it is asked for.
const (
	MaxDuration = 10 * time.Minute
	MaxRate     = 5000
	maxInFlight = 2048
)

// Mix is the share of each kind of request, in percent.
type Mix struct {
	Ingest, Consent, Requests int
}

// DefaultMix is mostly the SDK's traffic, with consent changes and
// developer-attested rights requests (which start exports and erasures in
// the background) mixed in.
func DefaultMix() Mix { return Mix{Ingest: 90, Consent: 6, Requests: 4} }

// Options configure one soak.
type Options struct {
	Duration time.Duration // measured time per server
	Warmup   time.Duration // unmeasured, before each measured phase
	Rate     int           // requests per second, open loop
	Mix      Mix
	Devices  int // distinct devices the traffic comes from
}

// Server is a server under test: its base URL, its process (for VmRSS),
// and how to register an app on it.
type Server struct {
	Name     string
	URL      string
	PID      int
	OpsToken string
}

// Result is one server's measured phase.
type Result struct {
	Server     string         `json:"server"`
	Sent       int            `json:"sent"`
	OK         int            `json:"ok"`
	Errors     int            `json:"errors"`
	Missed     int            `json:"missed"` // not sent: too many in flight
	Seconds    float64        `json:"seconds"`
	Throughput float64        `json:"throughput"` // successful responses per second
	P50        time.Duration  `json:"p50_ns"`
	P99        time.Duration  `json:"p99_ns"`
	Max        time.Duration  `json:"max_ns"`
	ByKind     map[string]int `json:"by_kind"` // successful responses per kind
	RSSStart   int64          `json:"rss_start_kb"`
	RSSEnd     int64          `json:"rss_end_kb"`
	RSSPeak    int64          `json:"rss_peak_kb"` // VmHWM: the most it ever held
	FirstError string         `json:"first_error,omitempty"`
}

// Failed reports whether anything went wrong in the phase.
func (r Result) Failed() bool { return r.Errors > 0 || r.Missed > 0 || r.OK == 0 }

// Report is a whole soak: both results and their ratios.
type Report struct {
	Options Options `json:"options"`
	Veil    Result  `json:"veil"`
	Bare    Result  `json:"bare"`
	LoadAvg string  `json:"loadavg"`
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func growth(r Result) float64 { return ratio(float64(r.RSSEnd), float64(r.RSSStart)) }

// Markdown renders the report as the table docs/reliability.md keeps.
func (r Report) Markdown() string {
	var b strings.Builder
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	mb := func(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
	fmt.Fprintf(&b, "| figure | veil | bare | veil / bare |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| requests sent | %d | %d | |\n", r.Veil.Sent, r.Bare.Sent)
	fmt.Fprintf(&b, "| throughput (ok/s) | %.1f | %.1f | %.2f |\n", r.Veil.Throughput, r.Bare.Throughput, ratio(r.Veil.Throughput, r.Bare.Throughput))
	fmt.Fprintf(&b, "| p50 | %s | %s | %.1f× |\n", ms(r.Veil.P50), ms(r.Bare.P50), ratio(float64(r.Veil.P50), float64(r.Bare.P50)))
	fmt.Fprintf(&b, "| p99 | %s | %s | %.1f× |\n", ms(r.Veil.P99), ms(r.Bare.P99), ratio(float64(r.Veil.P99), float64(r.Bare.P99)))
	fmt.Fprintf(&b, "| errors (+ not sent) | %d + %d | %d + %d | |\n", r.Veil.Errors, r.Veil.Missed, r.Bare.Errors, r.Bare.Missed)
	fmt.Fprintf(&b, "| RSS at start → end | %s → %s | %s → %s | |\n", mb(r.Veil.RSSStart), mb(r.Veil.RSSEnd), mb(r.Bare.RSSStart), mb(r.Bare.RSSEnd))
	fmt.Fprintf(&b, "| RSS growth (end / start) | %.2f | %.2f | %.2f |\n", growth(r.Veil), growth(r.Bare), ratio(growth(r.Veil), growth(r.Bare)))
	fmt.Fprintf(&b, "| peak RSS (VmHWM) | %s | %s | %.1f× |\n", mb(r.Veil.RSSPeak), mb(r.Bare.RSSPeak), ratio(float64(r.Veil.RSSPeak), float64(r.Bare.RSSPeak)))
	return b.String()
}

// Check validates options.
func (o Options) Check() error {
	switch {
	case o.Duration <= 0 || o.Duration > MaxDuration || o.Warmup < 0 || o.Warmup > MaxDuration:
		return fmt.Errorf("soak: duration and warm-up must be within (0, %s]", MaxDuration)
	case o.Rate < 1 || o.Rate > MaxRate:
		return fmt.Errorf("soak: rate must be 1–%d requests per second", MaxRate)
	case o.Mix.Ingest < 0 || o.Mix.Consent < 0 || o.Mix.Requests < 0 || o.Mix.Ingest+o.Mix.Consent+o.Mix.Requests != 100:
		return errors.New("soak: the mix must add up to 100")
	case o.Devices < 1 || o.Devices > 1000000:
		return errors.New("soak: devices must be 1–1,000,000")
	}
	return nil
}

// Run soaks veil, then bare, with the same schedule, and reports both.
func Run(ctx context.Context, o Options, veil, bare Server) (*Report, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	rep := &Report{Options: o}
	for _, s := range []struct {
		srv Server
		out *Result
	}{{veil, &rep.Veil}, {bare, &rep.Bare}} {
		r, err := soakOne(ctx, o, s.srv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.srv.Name, err)
		}
		*s.out = r
	}
	rep.LoadAvg = loadgen.LoadAvg()
	return rep, nil
}

// target is a server prepared for traffic: its apps' keys and bodies.
type target struct {
	srv    Server
	client *http.Client
	keys   []string
	n      atomic.Int64
	bodies [][]byte
}

func soakOne(ctx context.Context, o Options, srv Server) (Result, error) {
	if err := loopback(srv.URL); err != nil {
		return Result{}, err
	}
	t := &target{srv: srv, client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second}}, bodies: bodies(o.Devices)}
	defer t.client.CloseIdleConnections()
	// Each app may file 1,000 rights requests an hour: enough apps that
	// the soak never meets that limit.
	total := float64(o.Rate) * (o.Duration + o.Warmup).Seconds() * float64(o.Mix.Requests) / 100
	for i := 0; i < 1+int(total/800); i++ {
		k, err := t.registerApp(ctx, i)
		if err != nil {
			return Result{}, err
		}
		t.keys = append(t.keys, k)
	}
	if o.Warmup > 0 {
		t.phase(ctx, o, o.Warmup)
	}
	start := RSS(srv.PID)
	r := t.phase(ctx, o, o.Duration)
	r.Server, r.RSSStart, r.RSSEnd, r.RSSPeak = srv.Name, start, RSS(srv.PID), PeakRSS(srv.PID)
	return r, nil
}

func (t *target) registerApp(ctx context.Context, i int) (string, error) {
	body := fmt.Sprintf(`{"name":"soak %d","platform":"android","developer_email":"soak@example.com","discloses_sdk":true}`, i)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.srv.URL+"/v1/apps", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+t.srv.OpsToken)
	resp, err := t.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AppKey string `json:"app_key"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&out) != nil || out.AppKey == "" {
		return "", fmt.Errorf("registering an app: status %d", resp.StatusCode)
	}
	return out.AppKey, nil
}

// kinds of request, in the order the mix picks them.
const (
	kindIngest  = "ingest"
	kindConsent = "consent"
	kindRequest = "request"
)

// next builds request number i of the schedule: the kind by the mix,
// spread evenly (i mod 100), and its body.
func (t *target) next(o Options, i int64) (kind, method, path string, body []byte, headers map[string]string) {
	key := t.keys[0]
	dev := i % int64(len(t.bodies))
	switch slot := int(i % 100); {
	case slot < o.Mix.Ingest:
		return kindIngest, http.MethodPost, "/v1/ad-requests", t.bodies[dev], map[string]string{"X-Veil-App-Key": key}
	case slot < o.Mix.Ingest+o.Mix.Consent:
		b, _ := json.Marshal(map[string]any{"purposes": map[string]bool{"personalized_ads": i%2 == 0, "location": i%3 == 0}, "source": "sdk"})
		return kindConsent, http.MethodPut, "/v1/consents/device:oaid:" + oaid(int(dev)), b, map[string]string{"X-Veil-App-Key": key}
	default:
		// Every kind of fulfilment: exports, erasures, consent withdrawal,
		// and a complaint that waits for a person.
		types := []string{"access", "withdraw_consent", "copy", "delete", "complaint"}
		typ := types[int(i/100)%len(types)]
		b, _ := json.Marshal(map[string]any{"type": typ, "subject": map[string]string{"device": "device:oaid:" + oaid(int(dev))}})
		app := t.keys[int(i/100)%len(t.keys)]
		return kindRequest, http.MethodPost, "/v1/requests", b, map[string]string{"X-Veil-App-Key": app}
	}
}

// phase sends o.Rate requests a second for d, open loop: each request is
// sent at its scheduled time whether or not earlier ones have returned,
// and its latency counts from that time, so a stalled server shows up as
// latency, not as fewer requests.
func (t *target) phase(ctx context.Context, o Options, d time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, d+45*time.Second)
	defer cancel()
	var (
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, int(float64(o.Rate)*d.Seconds())+1)
		byKind   = map[string]int{}
		sent     atomic.Int64
		bad      atomic.Int64
		firstErr atomic.Value
	)
	missed := loadgen.Paced(ctx, o.Rate, d, maxInFlight, func(at time.Time) {
		kind, method, path, body, headers := t.next(o, t.n.Add(1))
		sent.Add(1)
		err := t.send(ctx, method, path, body, headers)
		l := time.Since(at)
		if err != nil {
			bad.Add(1)
			firstErr.CompareAndSwap(nil, kind+": "+err.Error())
			return
		}
		mu.Lock()
		lat = append(lat, l)
		byKind[kind]++
		mu.Unlock()
	})
	slices.Sort(lat)
	r := Result{Sent: int(sent.Load()), OK: len(lat), Errors: int(bad.Load()), Missed: missed, Seconds: d.Seconds(),
		Throughput: float64(len(lat)) / d.Seconds(), ByKind: byKind}
	if len(lat) > 0 {
		r.P50, r.P99, r.Max = loadgen.Quantile(lat, 0.50), loadgen.Quantile(lat, 0.99), lat[len(lat)-1]
	}
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	return r
}

func (t *target) send(ctx context.Context, method, path string, body []byte, headers map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, method, t.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	return nil
}

func oaid(i int) string { return fmt.Sprintf("soak-%08d", i) }

// bodies builds one realistic Android ad request per device.
func bodies(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		id := oaid(i)
		b, _ := json.Marshal(map[string]any{
			"sdk":     map[string]any{"platform": "android", "version": "4.2.0"},
			"app":     map[string]any{"name": "Soak", "version": "1.0"},
			"user":    map[string]any{"age": 30},
			"consent": map[string]any{"personalized_ads": i%4 != 0, "location": i%2 == 0},
			"device": map[string]any{
				"ids":   map[string]any{"oaid": id, "android_id": "a" + id},
				"brand": "Xiaomi", "model": "2201123C", "ip": "203.0.113.77", "ua": "Mozilla/5.0 (Linux; Android 14)",
				"screen": map[string]any{"w": 1080, "h": 2400}, "carrier": "China Mobile", "network": "wifi", "language": "zh-CN",
				"timezone": "Asia/Shanghai", "country": "CN", "os_version": "14",
				"installed_apps": []string{"com.tencent.mm", "com.eg.android.AlipayGphone"},
				"geo":            map[string]any{"lat": 31.2304, "lon": 121.4737, "accuracy": 15},
			},
		})
		out[i] = b
	}
	return out
}

// RSS is a process's resident set (VmRSS) in KiB from /proc, 0 when it
// cannot be read (not Linux, process gone).
func RSS(pid int) int64 { return procStatus(pid, "VmRSS:") }

// PeakRSS is a process's peak resident set (VmHWM) in KiB.
func PeakRSS(pid int) int64 { return procStatus(pid, "VmHWM:") }

func procStatus(pid int, field string) int64 {
	if pid <= 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// loopback refuses any target off this machine: this is a load generator.
func loopback(raw string) error {
	host := strings.TrimPrefix(strings.TrimPrefix(raw, "http://"), "https://")
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("soak: %q is not on loopback", raw)
	}
	return nil
}

// Proc is a server process started for a soak.
type Proc struct {
	Server
	cmd  *exec.Cmd
	done chan struct{}
}

// Stop ends the process (SIGTERM, then SIGKILL after 30 s).
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Start runs argv with env (on top of PATH and HOME only) and waits until
// GET base/readyz answers 200.
func Start(ctx context.Context, name string, argv, env []string, base string, logTo io.Writer) (*Proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Stdout, cmd.Stderr = logTo, logTo
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Server: Server{Name: name, URL: base, PID: cmd.Process.Pid}, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready", name)
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Stop()
	return nil, fmt.Errorf("%s not ready after 2 minutes", name)
}

// StartVeil runs `bin serve` on a fresh data directory under dir with the
// embedded backends and a random ops token.
func StartVeil(ctx context.Context, bin, dir string, logTo io.Writer) (*Proc, error) {
	addr, err := loadgen.FreeAddr()
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 32)
	_, _ = rand.Read(tok)
	token := hex.EncodeToString(tok)
	p, err := Start(ctx, "veil", []string{bin, "serve"}, []string{"VEIL_ADDR=" + addr, "VEIL_DATA=" + filepath.Join(dir, "veil-data"),
		"VEIL_OPS_TOKEN=" + token, "VEIL_STORE=sqlite", "VEIL_BLOB=dir", "VEIL_MAIL=outbox", "VEIL_BROKER=inprocess"}, "http://"+addr, logTo)
	if err != nil {
		return nil, err
	}
	p.OpsToken = token
	return p, nil
}

// BareToken is the bare server's ops token (it checks nothing).
const BareToken = "bare"

// Bare is the baseline: what any JSON-over-HTTP service costs on this
// machine. It serves Veil's routes of the soak, reads each body under the
// same 64 KiB limit, decodes it and encodes it back, and nothing else.
func Bare() http.Handler {
	mux := http.NewServeMux()
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var v map[string]any
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&v); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	mux.HandleFunc("POST /v1/ad-requests", echo(http.StatusOK))
	mux.HandleFunc("PUT /v1/consents/{subject}", echo(http.StatusOK))
	mux.HandleFunc("POST /v1/requests", echo(http.StatusAccepted))
	mux.HandleFunc("POST /v1/apps", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"app_id":"bare","app_key":"bare"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}

// ServeBare serves Bare on addr (loopback only) until ctx ends.
func ServeBare(ctx context.Context, addr string) error {
	if err := loopback("http://" + addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: Bare(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
