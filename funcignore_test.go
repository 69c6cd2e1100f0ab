package function

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// .funcignore keeps tests, scripts and manifests out of the func build
// context, but it must never drop a file the image's build needs: any Go
// package the root package depends on, or a file one of them embeds.
func TestFuncignoreKeepsEverythingTheBuildNeeds(t *testing.T) {
	patterns := readFuncignore(t)
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}|{{join .EmbedFiles \",\"}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := os.Getwd()
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, embeds, _ := strings.Cut(line, "|")
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency, not in the context
		}
		paths := []string{filepath.ToSlash(rel) + "/x.go"}
		for _, e := range strings.Split(embeds, ",") {
			if e != "" {
				paths = append(paths, filepath.ToSlash(filepath.Join(rel, e)))
			}
		}
		for _, p := range paths {
			checked++
			if pat := ignoredBy(patterns, p); pat != "" {
				t.Errorf(".funcignore pattern %q drops %s, which the build needs", pat, p)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d paths; go list output looks wrong", checked)
	}
	for _, must := range []string{"tests/veiltest/veiltest.go", "scripts/test.sh", "infra/knative/base/kustomization.yaml"} {
		if ignoredBy(patterns, must) == "" {
			t.Errorf("%s should be kept out of the build context", must)
		}
	}
}

func readFuncignore(t *testing.T) []string {
	f, err := os.Open(".funcignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pats []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			pats = append(pats, l)
		}
	}
	return pats
}

// ignoredBy applies gitignore-style rules as the func CLI does for the
// patterns this repository uses: "dir/" prefixes, "**/name/" anywhere,
// and globs on the base name or whole path.
func ignoredBy(patterns []string, path string) string {
	for _, p := range patterns {
		switch {
		case strings.HasPrefix(p, "**/") && strings.HasSuffix(p, "/"):
			if strings.Contains("/"+path, "/"+strings.TrimSuffix(strings.TrimPrefix(p, "**/"), "/")+"/") {
				return p
			}
		case strings.HasSuffix(p, "/"):
			if strings.HasPrefix(path, p) {
				return p
			}
		default:
			if ok, _ := filepath.Match(p, path); ok {
				return p
			}
			if ok, _ := filepath.Match(p, filepath.Base(path)); ok && !strings.Contains(p, "/") {
				return p
			}
			if strings.HasPrefix(path, p+"/") {
				return p
			}
		}
	}
	return ""
}
