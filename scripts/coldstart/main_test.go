package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMeasure runs the measurement itself, twice per binary: both binaries
// build, every start reaches /readyz, and the report has its three rows.
// Timings are not asserted (docs/reliability.md has the figures).
func TestMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts veil")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := measure(ctx, filepath.Join("..", ".."), t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Subjects) != 3 {
		t.Fatalf("%d subjects", len(rep.Subjects))
	}
	for _, s := range rep.Subjects {
		if len(s.Times) != 2 || s.Min <= 0 || s.P50 < s.Min || s.P90 < s.P50 {
			t.Errorf("%s: %+v", s.Name, s)
		}
	}
	if md := rep.markdown(); strings.Count(md, "\n") != 5 {
		t.Errorf("table:\n%s", md)
	}
	t.Logf("\n%s", rep.markdown())
	if _, err := measure(ctx, ".", t.TempDir(), 0); err == nil {
		t.Error("zero runs accepted")
	}
}
