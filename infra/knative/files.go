package knative

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"path/filepath"
	"sort"
	"strings"
)

// Drift is how the generated files differ from those on disk.
type Drift struct {
	Missing []string // generated, not on disk
	Stale   []string // on disk under base/, no longer generated
	Changed []string // on disk with other content
}

// Empty reports whether disk and generator agree.
func (d Drift) Empty() bool { return len(d.Missing)+len(d.Stale)+len(d.Changed) == 0 }

func (d Drift) String() string {
	var b strings.Builder
	for _, x := range []struct {
		what  string
		paths []string
	}{{"missing", d.Missing}, {"stale", d.Stale}, {"changed", d.Changed}} {
		for _, p := range x.paths {
			fmt.Fprintf(&b, "  %s: infra/knative/%s\n", x.what, p)
		}
	}
	return b.String()
}

// Compare reports how files differ from what is under dir (infra/knative).
// Every file under dir/base is generated, so any other file there is stale.
func Compare(dir string, files Files) (Drift, error) {
	var d Drift
	for _, p := range files.Paths() {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			d.Missing = append(d.Missing, p)
		case err != nil:
			return d, err
		case !bytes.Equal(got, files[p]):
			d.Changed = append(d.Changed, p)
		}
	}
	err := filepath.WalkDir(filepath.Join(dir, BaseDir), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			d.Stale = append(d.Stale, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(d.Stale)
	return d, err
}

// Write brings dir/base in line with files: writes what differs and
// removes stale files, so a function removed from the registry loses its
// manifests too.
func Write(dir string, files Files) (Drift, error) {
	d, err := Compare(dir, files)
	if err != nil {
		return d, err
	}
	for _, p := range append(append([]string{}, d.Missing...), d.Changed...) {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return d, err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return d, err
		}
	}
	for _, p := range d.Stale {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			return d, err
		}
	}
	return d, nil
}

// Dir finds infra/knative from the working directory by walking up to
// go.mod, so the commands work from the repository root (`go run
// ./infra/knative/gen`) and from the package (`go generate`).
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "infra", "knative"), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
	}
}
