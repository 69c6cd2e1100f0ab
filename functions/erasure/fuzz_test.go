package erasure

import (
	"bytes"
	"testing"
)

// FuzzReadLedger runs the ledger reader — `veil ledger replay` reads the
// file after a restore, and a crash may have cut its last line short — on
// arbitrary bytes: no panic, and every entry it returns is one replay can
// act on (an id and at least one subject hash); everything else is
// counted as bad, not dropped silently.
func FuzzReadLedger(f *testing.F) {
	f.Add([]byte("{\"id\":\"e1\",\"hashes\":[\"h1\"]}\n{\"id\":\"e2\",\"hashes\":[\"h2\"]}\n"))
	f.Add([]byte("{\"id\":\"e1\",\"hashes\":[\"h1\"]}\n{\"id\":\"e2\",\"has"))
	f.Add([]byte("\n\n  \nnot json\n{}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		entries, bad, err := ReadLedger(bytes.NewReader(raw))
		if err != nil {
			return // a line over the scanner's 1 MiB bound: refused whole
		}
		for _, e := range entries {
			if e.ID == "" || len(e.Hashes) == 0 {
				t.Fatalf("returned an entry replay cannot use: %+v", e)
			}
		}
		lines := 0
		for _, l := range bytes.Split(raw, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		if len(entries)+bad > lines {
			t.Fatalf("%d entries + %d bad from %d non-blank lines", len(entries), bad, lines)
		}
	})
}
