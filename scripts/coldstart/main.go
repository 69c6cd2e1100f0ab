// Command coldstart measures what a user waits for when Knative scales a
// function from zero: the time from exec of `veil serve` to its first
// 200 on /readyz, against a hello-world Go HTTP server (./hello) built in
// the same run, so the ratio survives a busy machine.
//
//	go run ./scripts/coldstart              # 20 runs of each, median and p90
//	go run ./scripts/coldstart -n 50 -json
//
// veil is timed twice: on an empty data directory (first start: database
// schema, key ring, secrets) and on the directory an earlier start left
// (a restart). The three are run in turn within each round, so background
// load hits all alike. Loopback only; every start is bounded to a minute.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/veil-privacy/veil/tests/loadgen"
)

// startLimit bounds one start; maxRuns bounds a whole measurement.
const (
	startLimit = time.Minute
	maxRuns    = 500
)

func main() {
	n := flag.Int("n", 20, "runs of each binary")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "veil-coldstart-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	rep, err := measure(ctx, ".", dir, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(rep)
		return
	}
	fmt.Print(rep.markdown())
	fmt.Printf("\nmachine: load average %s → %s, %d CPUs, %s/%s, %s\ncommand: go run ./scripts/coldstart %s\n",
		rep.LoadBefore, rep.LoadAfter, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), strings.Join(os.Args[1:], " "))
}

// subject is one binary as it is started.
type subject struct {
	Name  string          `json:"name"`
	Times []time.Duration `json:"times_ns"`
	P50   time.Duration   `json:"p50_ns"`
	P90   time.Duration   `json:"p90_ns"`
	Min   time.Duration   `json:"min_ns"`
}

type report struct {
	Runs       int        `json:"runs"`
	Subjects   []*subject `json:"subjects"`
	LoadBefore string     `json:"loadavg_before"`
	LoadAfter  string     `json:"loadavg_after"`
}

func (r *report) markdown() string {
	var b strings.Builder
	hello := r.Subjects[len(r.Subjects)-1]
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintf(&b, "| exec → /readyz 200 (%d runs each) | median | p90 | fastest | median / hello's |\n|---|---:|---:|---:|---:|\n", r.Runs)
	for _, s := range r.Subjects {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.1f× |\n", s.Name, ms(s.P50), ms(s.P90), ms(s.Min), float64(s.P50)/float64(hello.P50))
	}
	return b.String()
}

// measure builds veil and hello from the module at root into dir and
// starts each n times.
func measure(ctx context.Context, root, dir string, n int) (*report, error) {
	if n < 1 || n > maxRuns {
		return nil, fmt.Errorf("runs must be 1–%d", maxRuns)
	}
	veil, hello := filepath.Join(dir, "veil"), filepath.Join(dir, "hello")
	for _, b := range [][2]string{{veil, "./cmd/veil"}, {hello, "./scripts/coldstart/hello"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	const token = "coldstart-ops-token-0123456789abcdef0123456789"
	kept := filepath.Join(dir, "kept-data")
	env := func(data string) []string {
		return []string{"VEIL_DATA=" + data, "VEIL_OPS_TOKEN=" + token, "VEIL_STORE=sqlite", "VEIL_BLOB=dir", "VEIL_MAIL=outbox",
			"VEIL_BROKER=inprocess", "VEIL_LOG_LEVEL=warn"}
	}
	// The restart case needs a directory a veil has already set up.
	if _, err := start(ctx, veil, env(kept)); err != nil {
		return nil, fmt.Errorf("preparing the kept data directory: %w", err)
	}
	subjects := []*subject{{Name: "veil serve, empty data directory (first start)"}, {Name: "veil serve, existing data directory (restart)"},
		{Name: "hello-world net/http (baseline)"}}
	rep := &report{Runs: n, Subjects: subjects, LoadBefore: loadgen.LoadAvg()}
	for i := 0; i < n; i++ {
		for j, s := range subjects {
			var d time.Duration
			var err error
			switch j {
			case 0:
				d, err = start(ctx, veil, env(filepath.Join(dir, fmt.Sprintf("fresh-%03d", i))))
			case 1:
				d, err = start(ctx, veil, env(kept))
			default:
				d, err = start(ctx, hello, nil)
			}
			if err != nil {
				return nil, fmt.Errorf("%s, run %d: %w", s.Name, i+1, err)
			}
			s.Times = append(s.Times, d)
		}
	}
	for _, s := range subjects {
		sorted := slices.Clone(s.Times)
		slices.Sort(sorted)
		s.P50, s.P90, s.Min = loadgen.Quantile(sorted, 0.5), loadgen.Quantile(sorted, 0.9), sorted[0]
	}
	rep.LoadAfter = loadgen.LoadAvg()
	return rep, nil
}

// start execs bin on a free loopback port and returns the time until
// GET /readyz first answers 200; then it stops the process (SIGTERM) and
// waits for it, so runs do not overlap.
func start(ctx context.Context, bin string, env []string) (time.Duration, error) {
	addr, err := loadgen.FreeAddr()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "VEIL_ADDR=" + addr}, env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + addr + "/readyz"
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	for time.Since(t0) < startLimit {
		select {
		case <-done:
			return 0, fmt.Errorf("exited before it was ready: %s", out.String())
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		} else if !isRefused(err) {
			time.Sleep(time.Millisecond)
		}
		// Connection refused comes back at once: poll again straight
		// away, with the smallest pause that yields the CPU.
		time.Sleep(200 * time.Microsecond)
	}
	return 0, fmt.Errorf("not ready after %s", startLimit)
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
