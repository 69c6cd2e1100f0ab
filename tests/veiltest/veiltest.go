// Package veiltest runs a whole Veil suite in-process for end-to-end tests:
// a temporary data directory, a real HTTP server on loopback, and helpers
// to call the API and read the mail it sent. The backends follow the same
// variables as production (VEIL_STORE, VEIL_BLOB, VEIL_MAIL and theirs), so
// one test runs against SQLite/dir/outbox by default and against the
// Firestore, S3 and SES stand-ins when scripts/test.sh sets them.
package veiltest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/suite"
)

// OpsToken is the ops token of every test suite.
const OpsToken = "test-ops-token-0123456789abcdef0123456789abcdef"

// Suite is a running suite under test.
type Suite struct {
	*suite.Suite
	T      testing.TB
	URL    string
	Data   string
	Client *http.Client
	Logs   *Buffer
	ses    *sesRecorder
}

// Buffer is a goroutine-safe log sink tests can search.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything logged so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Start runs a suite with fast event retries. env overrides variables
// (e.g. "VEIL_FUNCTIONS": "ingest").
func Start(t testing.TB, env map[string]string, opts ...suite.Option) *Suite {
	t.Helper()
	data := t.TempDir()
	srv := httptest.NewUnstartedServer(nil)
	vars := map[string]string{
		"VEIL_DATA":       data,
		"VEIL_OPS_TOKEN":  OpsToken,
		"VEIL_PUBLIC_URL": "http://" + srv.Listener.Addr().String(),
		"VEIL_LOG_LEVEL":  "debug",
	}
	// Backend selection comes from the environment so CI can run the same
	// tests against the production stand-ins.
	for _, k := range []string{"VEIL_STORE", "VEIL_FIRESTORE_PROJECT", "VEIL_BLOB", "VEIL_S3_BUCKET", "VEIL_S3_ENDPOINT",
		"VEIL_S3_REGION", "VEIL_MAIL", "VEIL_SES_ENDPOINT", "VEIL_SES_REGION"} {
		if v := os.Getenv(k); v != "" {
			vars[k] = v
		}
	}
	if vars["VEIL_STORE"] == "firestore" && os.Getenv("VEIL_FIRESTORE_PROJECT") == "" {
		// A project per test keeps parallel tests apart on one emulator.
		vars["VEIL_FIRESTORE_PROJECT"] = fmt.Sprintf("demo-%d", time.Now().UnixNano())
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &Buffer{}
	var rec *sesRecorder
	if cfg.Mail == "ses" {
		rec = &sesRecorder{sent: map[string]string{}, start: time.Now()}
		opts = append(opts, suite.WithMailWrapper(func(m mail.Sender) mail.Sender { rec.next = m; return rec }))
	}
	opts = append([]suite.Option{suite.WithDelivery(events.Delivery{Retry: 2, BackoffDelay: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}),
		suite.WithLogOutput(logs)}, opts...)
	s, err := suite.New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatalf("suite: %v", err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()
	s.Start(context.Background(), nil)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
		if t.Failed() {
			t.Logf("suite logs (last 8 KiB):\n%s", tail(logs.String(), 8<<10))
		}
	})
	return &Suite{Suite: s, T: t, URL: srv.URL, Data: data, Client: srv.Client(), Logs: logs, ses: rec}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode reads the body as JSON into v, failing the test if it cannot.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Do sends a request. body may be nil, []byte, string or a value to encode
// as JSON. headers are name/value pairs.
func (s *Suite) Do(method, path string, body any, headers ...string) *Response {
	s.T.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.T.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		s.T.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: out}
}

// Ops sends a request with the ops token.
func (s *Suite) Ops(method, path string, body any, headers ...string) *Response {
	s.T.Helper()
	return s.Do(method, path, body, append([]string{"Authorization", "Bearer " + OpsToken}, headers...)...)
}

// Must checks the status and decodes the JSON answer into out (if non-nil).
func (s *Suite) Must(r *Response, status int, out any) {
	s.T.Helper()
	if r.Status != status {
		s.T.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if out != nil {
		r.Decode(s.T, out)
	}
}

// Idle waits until the in-process broker has delivered everything queued
// (and what those deliveries queued), or fails the test after timeout.
func (s *Suite) Idle(timeout time.Duration) {
	s.T.Helper()
	deadline := time.Now().Add(timeout)
	quiet := 0
	for time.Now().Before(deadline) {
		n, err := s.Broker.Pending(context.Background(), 1)
		if err != nil {
			s.T.Fatal(err)
		}
		if n == 0 {
			// Two empty looks in a row: a handler may be publishing.
			if quiet++; quiet >= 3 {
				return
			}
		} else {
			quiet = 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.T.Fatalf("events still pending after %s", timeout)
}

// Eventually polls cond until it is true or fails after timeout.
func (s *Suite) Eventually(timeout time.Duration, what string, cond func() bool) {
	s.T.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.T.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// OutboxDir is where the outbox mail sender writes.
func (s *Suite) OutboxDir() string { return filepath.Join(s.Data, "outbox") }
