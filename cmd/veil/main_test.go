package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the veil binary (VEIL_TEST_AS_VEIL),
// so process-level behaviour — signals, exit codes — is tested without a
// separate build.
func TestMain(m *testing.M) {
	if os.Getenv("VEIL_TEST_AS_VEIL") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func veil(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), append([]string{"VEIL_TEST_AS_VEIL=1"}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

func TestServeAnswersAndStopsGracefullyOnSIGTERM(t *testing.T) {
	addr := freeAddr(t)
	cmd, out := veil(t, []string{"VEIL_ADDR=" + addr, "VEIL_DATA=" + t.TempDir()}, "serve")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/healthz: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("veil serve did not answer: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), `"message":"stopped"`) {
		t.Fatalf("no orderly shutdown in the logs:\n%s", out)
	}
	if strings.Contains(out.String(), "test-ops") {
		t.Fatal("secret in logs")
	}
}

func TestBadConfigExitsNamingTheVariable(t *testing.T) {
	cmd, out := veil(t, []string{"VEIL_STORE=mongodb", "VEIL_DATA=" + t.TempDir()}, "serve")
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	if !strings.Contains(out.String(), "VEIL_STORE") {
		t.Fatalf("message does not name the variable: %s", out)
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	if code := run(context.Background(), env, []string{"version"}); code != 0 || !strings.HasPrefix(out.String(), "veil ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run(context.Background(), env, []string{"frobnicate"}); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("unknown: %d %q", code, errb.String())
	}
}
