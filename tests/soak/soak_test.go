package soak

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/veil-privacy/veil/tests/loadgen"
)

// TestMain lets the test binary serve the bare baseline as its own
// process (SOAK_SERVE_BARE=addr), so it has its own memory and scheduler,
// as veil does.
func TestMain(m *testing.M) {
	if addr := os.Getenv("SOAK_SERVE_BARE"); addr != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := ServeBare(ctx, addr); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// TestSoak is the shortened soak CI runs: a few seconds at a modest rate
// per server, mixing ad requests, consent changes and rights requests. Not
// one request may fail; latency and memory are reported, not asserted
// (docs/reliability.md has the long run's figures).
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("starts veil serve and a baseline and loads them")
	}
	if os.Getenv("VEIL_STORE") == "firestore" {
		t.Skip("soaks the embedded backends; it runs in the embedded pass")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "veil")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/veil")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/veil: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "servers.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	veil, err := StartVeil(ctx, bin, dir, logf)
	if err != nil {
		t.Fatal(err)
	}
	defer veil.Stop()
	addr, err := loadgen.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	bare, err := Start(ctx, "bare", []string{os.Args[0]}, []string{"SOAK_SERVE_BARE=" + addr}, "http://"+addr, logf)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Stop()
	bare.OpsToken = BareToken

	o := Options{Duration: 5 * time.Second, Warmup: time.Second, Rate: 20, Mix: DefaultMix(), Devices: 200}
	rep, err := Run(ctx, o, veil.Server, bare.Server)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load average %s\n%s", rep.LoadAvg, rep.Markdown())
	for _, r := range []Result{rep.Veil, rep.Bare} {
		if r.Failed() {
			t.Errorf("%s: %d of %d requests failed, %d not sent; first: %s", r.Server, r.Errors, r.Sent, r.Missed, r.FirstError)
		}
		if r.RSSStart == 0 || r.RSSEnd == 0 {
			t.Errorf("%s: no VmRSS was read from /proc/<pid>/status", r.Server)
		}
	}
	for _, k := range []string{kindIngest, kindConsent, kindRequest} {
		if rep.Veil.ByKind[k] == 0 {
			t.Errorf("no %s request got through to veil: the mix is not what it says", k)
		}
	}
}

// TestOptionsAreBounded: a soak cannot be asked to run unbounded.
func TestOptionsAreBounded(t *testing.T) {
	ok := Options{Duration: time.Second, Rate: 1, Mix: DefaultMix(), Devices: 1}
	cases := []struct {
		name string
		edit func(*Options)
		bad  bool
	}{
		{"fine", func(*Options) {}, false},
		{"no duration", func(o *Options) { o.Duration = 0 }, true},
		{"too long", func(o *Options) { o.Duration = MaxDuration + time.Second }, true},
		{"rate zero", func(o *Options) { o.Rate = 0 }, true},
		{"rate too high", func(o *Options) { o.Rate = MaxRate + 1 }, true},
		{"mix not 100", func(o *Options) { o.Mix.Ingest = 10 }, true},
		{"negative share", func(o *Options) { o.Mix = Mix{Ingest: 110, Consent: -10} }, true},
		{"no devices", func(o *Options) { o.Devices = 0 }, true},
	}
	for _, c := range cases {
		o := ok
		c.edit(&o)
		if err := o.Check(); (err != nil) != c.bad {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if err := loopback("http://10.0.0.1:80"); err == nil {
		t.Error("a target off this machine was accepted")
	}
}
