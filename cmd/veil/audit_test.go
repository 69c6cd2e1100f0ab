package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/functions/audit"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/suite"
)

// TestAuditVerifyFindsAFlippedByte writes a few audit entries through a
// real suite, flips one byte of one entry inside the SQLite file, and
// checks `veil audit verify` fails naming that entry (and passed before).
func TestAuditVerifyFindsAFlippedByte(t *testing.T) {
	data := t.TempDir()
	vars := map[string]string{"VEIL_DATA": data, "VEIL_FUNCTIONS": "audit"}
	getenv := func(k string) string { return vars[k] }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := suite.New(ctx, cfg, suite.WithLogOutput(&bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, s.Deps.DB.Backend)
	if err != nil {
		t.Fatal(err)
	}
	var target *audit.Entry
	for i := range 5 {
		e, err := l.Append(ctx, audit.Record{EventID: "evt-" + string(rune('a'+i)), Type: "com.veil.request.changed.v1",
			Data: []byte(`{"n":` + string(rune('0'+i)) + `}`), At: time.Date(2025, 1, 2, 3, i, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			target = e
		}
	}
	if err := s.Close(ctx); err != nil { // closing checkpoints the WAL into veil.db
		t.Fatal(err)
	}
	verify := func() (int, string) {
		var out, errb bytes.Buffer
		code := run(ctx, Env{Stdout: &out, Stderr: &errb, Getenv: getenv}, []string{"audit", "verify"})
		return code, out.String() + errb.String()
	}
	if code, out := verify(); code != 0 || !strings.Contains(out, "audit chain OK: 5 entries") {
		t.Fatalf("before tampering: %d %s", code, out)
	}
	// The payload digest is stored only in the entry's document (no index
	// holds it), so this flips a byte of exactly that entry.
	path := filepath.Join(data, "veil.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		if w, _ := os.ReadFile(path + "-wal"); len(w) > 0 {
			t.Fatalf("WAL not checkpointed (%d bytes); the flip would miss the live page", len(w))
		}
	}
	i := bytes.Index(raw, []byte(target.PayloadDigest))
	if i < 0 || bytes.Count(raw, []byte(target.PayloadDigest)) != 1 {
		t.Fatal("the entry's digest is not in the file exactly once")
	}
	raw[i+10] ^= 0x01
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := verify()
	if code == 0 || !strings.Contains(out, "entry 3 (id "+audit.EntryID(3)+")") {
		t.Fatalf("after flipping a byte of entry 3: exit %d, %s", code, out)
	}

	// The export still writes the evidence, with the break in the manifest.
	file := filepath.Join(t.TempDir(), "evidence.jsonl")
	var errb bytes.Buffer
	code = run(ctx, Env{Stdout: &bytes.Buffer{}, Stderr: &errb, Getenv: getenv}, []string{"audit", "export", "--from", "2025-01-01", "--to", "2025-01-03", "--out", file})
	manifest, _ := os.ReadFile(file + ".manifest.json")
	lines, _ := os.ReadFile(file)
	if code == 0 || bytes.Count(lines, []byte("\n")) != 5 || !bytes.Contains(manifest, []byte(`"ok": false`)) {
		t.Fatalf("export: exit %d %s\nmanifest %s", code, errb.String(), manifest)
	}
}

func TestAuditCommandUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"audit"}, 1},
		{[]string{"audit", "shred"}, 1},
		{[]string{"audit", "export", "--from", "last tuesday"}, 1},
	}
	for _, c := range cases {
		var out bytes.Buffer
		if code := run(context.Background(), Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}, c.args); code != c.code {
			t.Errorf("%v: exit %d: %s", c.args, code, out.String())
		}
	}
}
