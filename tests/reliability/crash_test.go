package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// crashOps is the ops token of the crash test's veil.
const crashOps = "crash-ops-token-0123456789abcdef0123456789abcdef"

// crashConfig is how long the crash test runs: VEIL_CRASH_KILLS SIGKILLs
// (at least 20), VEIL_CRASH_SEED for the random kill points (logged, so a
// failing run can be repeated), VEIL_CRASH_LIFE the longest a life lasts
// before its kill.
type crashConfig struct {
	kills   int
	seed    uint64
	maxLife time.Duration
}

func loadCrashConfig(t *testing.T) crashConfig {
	t.Helper()
	c := crashConfig{kills: 20, seed: uint64(time.Now().UnixNano()), maxLife: time.Second}
	if v := os.Getenv("VEIL_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 || n > 10000 {
			t.Fatalf("VEIL_CRASH_KILLS=%q: a number from 20 to 10000", v)
		}
		c.kills = n
	}
	if v := os.Getenv("VEIL_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("VEIL_CRASH_SEED=%q: %v", v, err)
		}
		c.seed = n
	}
	if v := os.Getenv("VEIL_CRASH_LIFE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > time.Minute {
			t.Fatalf("VEIL_CRASH_LIFE=%q: a duration from 100ms to 1m", v)
		}
		c.maxLife = d
	}
	return c
}

// buildVeil builds ./cmd/veil into dir, once per test.
func buildVeil(t *testing.T, dir string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "veil")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/veil")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/veil: %v\n%s", err, out)
	}
	return bin
}

// life is one run of `veil serve`.
type life struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// serveVeil starts bin on addr over data and waits for /readyz.
func serveVeil(t *testing.T, bin, addr, data string, n int) *life {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(data), fmt.Sprintf("life-%03d.log", n))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--retention-every", "1h", "--deadlines-every", "1h")
	// Only what is set here: the embedded backends, whatever the
	// environment of the test selects for veiltest.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "VEIL_ADDR=" + addr, "VEIL_DATA=" + data,
		"VEIL_OPS_TOKEN=" + crashOps, "VEIL_LOG_LEVEL=warn", "VEIL_EVENT_RETRY=10", "VEIL_EVENT_BACKOFF=50ms"}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &life{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(l.done) }()
	t.Cleanup(func() { l.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return l
			}
		}
		select {
		case <-l.done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("veil serve (life %d) exited before it was ready:\n%s", n, tail(string(b), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("veil serve (life %d) not ready after 60s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *life) kill() {
	_ = l.cmd.Process.Signal(syscall.SIGKILL)
	<-l.done
}

// stop ends a life gracefully (SIGTERM: drain, close the store).
func (l *life) stop(t *testing.T) {
	t.Helper()
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.done:
	case <-time.After(60 * time.Second):
		l.kill()
		t.Error("veil did not stop within 60s of SIGTERM")
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// ledger is what the server answered, across all lives: the only facts
// the final check may rely on.
type ledger struct {
	mu       sync.Mutex
	records  []string             // ingest answered 200: record ids
	requests map[string]string    // answered 202: request id → how it is verified ("attested", "code")
	verified map[string]bool      // known verified (attested, or verify answered 200 or "nothing to verify")
	pending  map[string]string    // email requests awaiting their code: id → address
	codes    map[string][2]string // outbox file → request id, code (cache)
}

func newLedger() *ledger {
	return &ledger{requests: map[string]string{}, verified: map[string]bool{}, pending: map[string]string{}, codes: map[string][2]string{}}
}

// driver sends traffic to one life until ctx ends.
type driver struct {
	base   string
	client *http.Client
	data   string
	keys   []string
	led    *ledger
}

func (d *driver) do(ctx context.Context, method, path string, body any, headers ...string) (int, []byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err // the answer was cut off: its outcome is unknown
	}
	return resp.StatusCode, b, nil
}

// ingest sends ad requests from devices that are never the subject of a
// rights request, so every record answered 200 must still exist at the end.
func (d *driver) ingest(ctx context.Context, rng *rand.Rand, t *testing.T) {
	for i := 0; ctx.Err() == nil && i < 100000; i++ {
		dev := fmt.Sprintf("crash-ingest-%04d", rng.IntN(500))
		st, b, err := d.do(ctx, "POST", "/v1/ad-requests", adRequest(dev, rng.IntN(2) == 0), "X-Veil-App-Key", d.keys[0])
		if err != nil {
			continue
		}
		if st != 200 {
			t.Errorf("ingest answered %d: %s", st, b)
			return
		}
		var r struct {
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(b, &r) == nil && r.RequestID != "" {
			d.led.mu.Lock()
			d.led.records = append(d.led.records, r.RequestID)
			d.led.mu.Unlock()
		}
	}
}

var deviceTypes = []string{"copy", "access", "delete", "withdraw_consent", "complaint"}

// attested files requests for devices on the app's word: verified at once.
func (d *driver) attested(ctx context.Context, rng *rand.Rand, t *testing.T, n *int) {
	for ctx.Err() == nil && *n < 100000 {
		*n++
		typ := deviceTypes[rng.IntN(len(deviceTypes))]
		body := map[string]any{"type": typ, "subject": map[string]string{"device": fmt.Sprintf("device:oaid:crash-subject-%05d", *n)}}
		key := d.keys[1+(*n/500)%(len(d.keys)-1)] // each app may file 1000 an hour
		st, b, err := d.do(ctx, "POST", "/v1/requests", body, "X-Veil-App-Key", key)
		if err != nil {
			continue
		}
		if st != 202 {
			t.Errorf("attested %s request answered %d: %s", typ, st, b)
			return
		}
		var r filedRequest
		if json.Unmarshal(b, &r) == nil {
			d.led.mu.Lock()
			d.led.requests[r.ID], d.led.verified[r.ID] = "attested", true
			d.led.mu.Unlock()
		}
		sleepCtx(ctx, time.Duration(20+rng.IntN(60))*time.Millisecond)
	}
}

var emailTypes = []string{"access", "delete", "complaint", "copy"}

// mailed files requests by email and verifies them with the code from the
// outbox, in this life or a later one.
func (d *driver) mailed(ctx context.Context, rng *rand.Rand, t *testing.T, n *int) {
	for ctx.Err() == nil && *n < 100000 {
		d.verifyPending(ctx, t)
		*n++
		typ := emailTypes[rng.IntN(len(emailTypes))]
		addr := fmt.Sprintf("crash-%05d@example.com", *n)
		// Each address is a different person; X-Forwarded-For stands for
		// the proxy's view of many clients, so the per-IP limit (60 an
		// hour) does not end the test.
		st, b, err := d.do(ctx, "POST", "/v1/requests", map[string]any{"type": typ, "subject": map[string]string{"email": addr}},
			"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", *n%250+1))
		if err != nil {
			continue
		}
		if st != 202 {
			t.Errorf("mailed %s request answered %d: %s", typ, st, b)
			return
		}
		var r filedRequest
		if json.Unmarshal(b, &r) == nil {
			d.led.mu.Lock()
			d.led.requests[r.ID], d.led.pending[r.ID] = "code", addr
			d.led.mu.Unlock()
		}
		sleepCtx(ctx, time.Duration(20+rng.IntN(60))*time.Millisecond)
	}
}

var crashCode = regexp.MustCompile(`(?m)^\s*(\d{6})\s*$`)

// verifyPending verifies every pending request whose code mail is in the
// outbox. A request whose mail was never sent (killed between filing and
// mailing) stays pending: identity_unverified is its legitimate state.
func (d *driver) verifyPending(ctx context.Context, t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(d.data, "outbox", "*.eml"))
	d.led.mu.Lock()
	for _, f := range files {
		if _, ok := d.led.codes[f]; ok {
			continue
		}
		m, err := veiltest.ReadMail(f)
		if err != nil {
			continue // being renamed into place, or not ours to read yet
		}
		id, code := m.Headers.Get("X-Veil-Request"), ""
		if c := crashCode.FindStringSubmatch(m.Text); c != nil {
			code = c[1]
		}
		d.led.codes[f] = [2]string{id, code}
	}
	todo := map[string]string{}
	for _, v := range d.led.codes {
		if _, ok := d.led.pending[v[0]]; ok && v[1] != "" {
			todo[v[0]] = v[1]
		}
	}
	d.led.mu.Unlock()
	for id, code := range todo {
		st, b, err := d.do(ctx, "POST", "/v1/requests/"+id+"/verify", map[string]string{"code": code})
		if err != nil {
			return
		}
		switch {
		case st == 200, st == 409 && strings.Contains(string(b), "nothing to verify"):
			// 409: verified in an earlier life whose answer was lost.
			d.led.mu.Lock()
			d.led.verified[id] = true
			delete(d.led.pending, id)
			d.led.mu.Unlock()
		default:
			t.Errorf("verify %s answered %d: %s", id, st, b)
			d.led.mu.Lock()
			delete(d.led.pending, id)
			d.led.mu.Unlock()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestCrashSafety runs `veil serve` under traffic (ingest, attested and
// mailed rights requests with their verification) and SIGKILLs it at
// random moments, at least 20 times, restarting it on the same data
// directory each time. At the end every answer the server gave must hold:
// each ingest answered 200 left its record, each request answered 202
// exists, each verified one reached a final state (none stuck or lost),
// and no mail was sent twice.
func TestCrashSafety(t *testing.T) {
	if os.Getenv("VEIL_STORE") == "firestore" {
		t.Skip("proves the embedded backends' durability under SIGKILL; it runs in the embedded pass")
	}
	cfg := loadCrashConfig(t)
	t.Logf("seed %d (VEIL_CRASH_SEED=%d repeats the kill points), %d kills, lives up to %s", cfg.seed, cfg.seed, cfg.kills, cfg.maxLife)
	rng := rand.New(rand.NewPCG(cfg.seed, 0x5eed))
	dir := t.TempDir()
	bin := buildVeil(t, dir)
	data := filepath.Join(dir, "data")
	addr := freePort(t)
	led := newLedger()
	d := &driver{base: "http://" + addr, client: &http.Client{Timeout: 10 * time.Second}, data: data, led: led}

	// First life: the apps, before any kill (a key is shown only once).
	l := serveVeil(t, bin, addr, data, 0)
	for i := 0; i < 1+cfg.kills/20; i++ {
		st, b, err := d.do(context.Background(), "POST", "/v1/apps", map[string]any{"name": fmt.Sprintf("Crash %d", i), "platform": "android",
			"developer_email": "dev@example.com", "discloses_sdk": true}, "Authorization", "Bearer "+crashOps)
		var a struct {
			AppKey string `json:"app_key"`
		}
		if err != nil || st != 201 || json.Unmarshal(b, &a) != nil {
			t.Fatalf("registering an app: %d %s %v", st, b, err)
		}
		d.keys = append(d.keys, a.AppKey)
	}
	if len(d.keys) < 2 {
		st, b, _ := d.do(context.Background(), "POST", "/v1/apps", map[string]any{"name": "Crash attest", "platform": "android",
			"developer_email": "dev@example.com", "discloses_sdk": true}, "Authorization", "Bearer "+crashOps)
		var a struct {
			AppKey string `json:"app_key"`
		}
		if st != 201 || json.Unmarshal(b, &a) != nil {
			t.Fatalf("registering an app: %d %s", st, b)
		}
		d.keys = append(d.keys, a.AppKey)
	}

	var nAttested, nMailed int
	for kill := 1; kill <= cfg.kills; kill++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w, run := range []func(context.Context, *rand.Rand){
			func(c context.Context, r *rand.Rand) { d.ingest(c, r, t) },
			func(c context.Context, r *rand.Rand) { d.ingest(c, r, t) },
			func(c context.Context, r *rand.Rand) { d.attested(c, r, t, &nAttested) },
			func(c context.Context, r *rand.Rand) { d.mailed(c, r, t, &nMailed) },
		} {
			wg.Add(1)
			wr := rand.New(rand.NewPCG(cfg.seed, uint64(kill*10+w)))
			go func() { defer wg.Done(); run(ctx, wr) }()
		}
		time.Sleep(time.Duration(rng.Int64N(int64(cfg.maxLife-50*time.Millisecond))) + 50*time.Millisecond)
		l.kill()
		cancel()
		wg.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(l.log)
			t.Fatalf("after kill %d; log of that life:\n%s", kill, tail(string(b), 4000))
		}
		l = serveVeil(t, bin, addr, data, kill)
	}

	// The last life: no more kills. Verify what is still pending, then let
	// the broker drain: no request may stay verified or in progress.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d.verifyPending(ctx, t)
	quiet := 0
	for i := 0; quiet < 3 && i < 1200; i++ {
		open := 0
		for _, st := range []string{"verified", "in_progress"} {
			code, b, err := d.do(ctx, "GET", "/v1/requests?limit=5&status="+st, nil, "Authorization", "Bearer "+crashOps)
			var page struct {
				Requests []json.RawMessage `json:"requests"`
			}
			if err != nil || code != 200 || json.Unmarshal(b, &page) != nil {
				t.Fatalf("listing %s requests: %d %s %v", st, code, b, err)
			}
			open += len(page.Requests)
		}
		if open == 0 {
			quiet++
		} else {
			quiet = 0
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}

	// Every answered request, as the server has it now.
	final := map[string]string{"completed": "", "refused": "", "needs_review": "", "duplicate": ""}
	led.mu.Lock()
	defer led.mu.Unlock()
	stuck := 0
	for id, how := range led.requests {
		code, b, err := d.do(ctx, "GET", "/v1/requests/"+id, nil, "Authorization", "Bearer "+crashOps)
		if err != nil || code != 200 {
			t.Errorf("request %s (%s) answered 202 but is gone: %d %s %v", id, how, code, b, err)
			continue
		}
		var v struct {
			Status     string     `json:"status"`
			VerifiedAt *time.Time `json:"verified_at"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		_, isFinal := final[v.Status]
		switch {
		case (led.verified[id] || v.VerifiedAt != nil) && !isFinal:
			stuck++
			t.Errorf("verified request %s (%s) ended %s: lost on its way to a final state", id, how, v.Status)
		case !led.verified[id] && v.VerifiedAt == nil && v.Status != "identity_unverified":
			t.Errorf("unverified request %s ended %s", id, v.Status)
		}
	}
	code, b, err := d.do(ctx, "GET", "/v1/dead-letters", nil, "Authorization", "Bearer "+crashOps)
	if err != nil || code != 200 {
		t.Fatalf("dead letters: %d %v", code, err)
	}
	var dl struct {
		DeadLetters []struct{ Subscriber, Type, Error string } `json:"dead_letters"`
	}
	if json.Unmarshal(b, &dl) != nil {
		t.Fatalf("dead letters: %s", b)
	}
	for _, x := range dl.DeadLetters {
		t.Errorf("dead letter after restarts: %s ← %s: %s", x.Subscriber, x.Type, x.Error)
	}
	l.stop(t)

	// Mail: one file per idempotency key, however often the process died
	// between deciding to send and recording that it had.
	files, _ := filepath.Glob(filepath.Join(data, "outbox", "*.eml"))
	keys := map[string]string{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(fh)
		fh.Close()
		if err != nil {
			t.Errorf("%s is not a whole message: %v", filepath.Base(f), err)
			continue
		}
		k := m.Header.Get("X-Veil-Idempotency-Key")
		if k == "" {
			t.Errorf("%s has no idempotency key", filepath.Base(f))
		} else if other, dup := keys[k]; dup {
			t.Errorf("mail %q sent twice: %s and %s", k, other, filepath.Base(f))
		}
		keys[k] = filepath.Base(f)
	}

	// Records, read from the store itself once veil has stopped.
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	db, err := sqlite.Open(sctx, filepath.Join(data, "veil.db"), "cn-local")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sdb, err := store.Open(sctx, db)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, id := range led.records {
		if _, err := sdb.Records.Get(sctx, id); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) && privacy.IsNotFound(err) {
				missing++
				if missing <= 10 {
					t.Errorf("ingest answered 200 for record %s, which is not stored", id)
				}
			} else {
				t.Fatal(err)
			}
		}
	}
	if missing > 10 {
		t.Errorf("… %d records answered 200 are missing in all", missing)
	}
	verified := 0
	for id := range led.requests {
		if led.verified[id] {
			verified++
		}
	}
	t.Logf("%d kills; %d records, %d requests (%d verified, %d stuck), %d mails, %d dead letters",
		cfg.kills, len(led.records), len(led.requests), verified, stuck, len(files), len(dl.DeadLetters))
	if len(led.records) == 0 || verified == 0 || len(files) == 0 {
		t.Error("the traffic did not get through: nothing to check")
	}
}
