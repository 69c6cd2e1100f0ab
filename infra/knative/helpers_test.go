package knative

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/veil-privacy/veil/events"
)

func fmtValue(v any) string { return fmt.Sprint(v) }

// sampleFunctions is an inventory that exercises every generator path
// whatever suite.Registry() holds today: a public function with a custom
// profile, an event-only one consuming every catalog type, and a
// scheduled sweep.
func sampleFunctions() []Function {
	return []Function{
		{Name: "audit", Consumes: events.Types()},
		{Name: "ingest", Routes: []string{"POST /v1/ad-requests"}, Consumes: nil},
		{Name: "retention", Consumes: []string{events.ScheduleTicked}},
		{Name: "requests", Routes: []string{"POST /v1/requests"}, Consumes: []string{events.RequestOverdue}},
	}
}

// layout writes a copy of infra/knative's hand-written overlays and
// components beside a base generated for fns, and returns its root.
func layout(t *testing.T, fns []Function) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"overlays", "components"} {
		if err := copyTree(d, filepath.Join(root, d)); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Generate(fns)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(root, files); err != nil {
		t.Fatal(err)
	}
	return root
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
}

// overlays lists the overlay directories under root.
func overlays(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) < 2 {
		t.Fatalf("want the dev and production-cn overlays, found %v", out)
	}
	return out
}
