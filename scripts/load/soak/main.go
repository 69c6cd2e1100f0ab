// Command soak is the load script's soak mode: a fixed request rate for a
// fixed time, ad requests mixed with consent changes and rights requests,
// against `veil serve` and a bare net/http baseline in the same run
// (tests/soak does the work). It prints the table docs/reliability.md
// keeps, every figure also as a ratio of veil to bare.
//
//	go run ./scripts/load/soak                            # 60 s at 50 req/s per server
//	go run ./scripts/load/soak -duration 10s -rate 20     # shorter
//	go run ./scripts/load/soak -json                      # the report as JSON
//
// Loopback only; every phase is bounded (tests/soak.MaxDuration). It exits
// 1 when any request failed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/veil-privacy/veil/tests/loadgen"
	"github.com/veil-privacy/veil/tests/soak"
)

func main() {
	serveBare := flag.String("serve-bare", "", "internal: serve the bare baseline on this address")
	o := soak.Options{Mix: soak.DefaultMix()}
	flag.DurationVar(&o.Duration, "duration", 60*time.Second, "measured time per server")
	flag.DurationVar(&o.Warmup, "warmup", 5*time.Second, "unmeasured warm-up before each measured phase")
	flag.IntVar(&o.Rate, "rate", 50, "requests per second (open loop)")
	flag.IntVar(&o.Devices, "devices", 2000, "distinct devices")
	flag.IntVar(&o.Mix.Ingest, "ingest", o.Mix.Ingest, "percent of ad requests")
	flag.IntVar(&o.Mix.Consent, "consent", o.Mix.Consent, "percent of consent changes")
	flag.IntVar(&o.Mix.Requests, "requests", o.Mix.Requests, "percent of rights requests")
	veilBin := flag.String("veil", "", "veil binary (default: built from ./cmd/veil)")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *serveBare != "" {
		if err := soak.ServeBare(ctx, *serveBare); err != nil {
			fmt.Fprintln(os.Stderr, "bare:", err)
			os.Exit(1)
		}
		return
	}
	failed, err := run(ctx, o, *veilBin, *asJSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

func run(ctx context.Context, o soak.Options, bin string, asJSON bool) (failed bool, err error) {
	if err := o.Check(); err != nil {
		return false, err
	}
	dir, err := os.MkdirTemp("", "veil-soak-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "veil")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/veil")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return false, fmt.Errorf("building veil (run from the repository root): %w", err)
		}
	}
	logf, err := os.Create(filepath.Join(dir, "servers.log"))
	if err != nil {
		return false, err
	}
	defer logf.Close()
	veil, err := soak.StartVeil(ctx, bin, dir, logf)
	if err != nil {
		return false, err
	}
	defer veil.Stop()
	self, err := os.Executable()
	if err != nil {
		return false, err
	}
	addr, err := loadgen.FreeAddr()
	if err != nil {
		return false, err
	}
	bare, err := soak.Start(ctx, "bare", []string{self, "-serve-bare", addr}, nil, "http://"+addr, logf)
	if err != nil {
		return false, err
	}
	defer bare.Stop()
	bare.OpsToken = soak.BareToken
	rep, err := soak.Run(ctx, o, veil.Server, bare.Server)
	if err != nil {
		return false, err
	}
	if asJSON {
		return rep.Veil.Failed() || rep.Bare.Failed(), json.NewEncoder(os.Stdout).Encode(rep)
	}
	fmt.Printf("soak: %s at %d req/s per server (mix: %d%% ingest, %d%% consent, %d%% rights requests), %s warm-up, %d devices\n\n",
		o.Duration, o.Rate, o.Mix.Ingest, o.Mix.Consent, o.Mix.Requests, o.Warmup, o.Devices)
	fmt.Print(rep.Markdown())
	fmt.Printf("\nveil ok by kind: %v\nmachine: load average %s, %d CPUs, %s/%s, %s\ncommand: go run ./scripts/load/soak %s\n",
		rep.Veil.ByKind, rep.LoadAvg, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), strings.Join(os.Args[1:], " "))
	for _, r := range []soak.Result{rep.Veil, rep.Bare} {
		if r.Failed() {
			fmt.Printf("%s: %d errors, %d not sent; first: %s\n", r.Server, r.Errors, r.Missed, r.FirstError)
		}
	}
	return rep.Veil.Failed() || rep.Bare.Failed(), nil
}
