package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLedgerReplayAndExport(t *testing.T) {
	data := t.TempDir()
	// One entry only in the file: a restore rolled the store back.
	entry := `{"id":"req-1","hashes":["` + strings.Repeat("ab", 32) + `"],"type":"delete","at":"2026-03-02T09:00:00Z"}` + "\n"
	if err := os.WriteFile(filepath.Join(data, "erasure-ledger.jsonl"), []byte(entry+"{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"VEIL_DATA": data, "VEIL_LOG_LEVEL": "error"}
	env := func(out *bytes.Buffer) Env {
		return Env{Stdout: out, Stderr: out, Getenv: func(k string) string { return vars[k] }}
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ledger"}, 1, "usage"},
		{[]string{"ledger", "replay"}, 0, "ledger replayed: 1 entries (1 from the file, 0 from the store; 1 restored to the store"},
		{[]string{"ledger", "replay"}, 0, "1 entries (1 from the file, 1 from the store; 0 restored"},
		{[]string{"ledger", "export"}, 0, `"id":"req-1"`},
	}
	for _, c := range cases {
		var out bytes.Buffer
		if code := run(context.Background(), env(&out), c.args); code != c.code || !strings.Contains(out.String(), c.want) {
			t.Errorf("veil %s: exit %d, output:\n%s\nwant exit %d and %q", strings.Join(c.args, " "), code, out.String(), c.code, c.want)
		}
	}
}
