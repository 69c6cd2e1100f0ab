package blob

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzKey runs what GET /v1/downloads/{key...} does with a key from the
// URL before touching the disk: CheckKey, the path it maps to, and the
// link check. No key may name a path outside the root (traversal), and no
// signature that was not made by sign may verify.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"exports/abc.zip", "../etc/passwd", "exports/../../x", "a/b/c/d", "a/b/c/d/e", "exports/%2e%2e/x",
		"exports\\..\\x", "exports/.tmp-1", "exports/a..b", "/etc/passwd", "exports//x", "e/\x00"} {
		f.Add(s, "1767225600", "")
	}
	root := filepath.Join(string(filepath.Separator), "srv", "veil", "blobs")
	d := &Dir{Root: root, Secret: []byte("fuzz-secret"), Now: func() time.Time { return time.Unix(1767225600, 0) }}
	f.Fuzz(func(t *testing.T, key, expires, sig string) {
		p, err := d.path(key)
		if err != nil {
			if CheckKey(key) == nil {
				t.Fatalf("path refused %q that CheckKey accepts: %v", key, err)
			}
		} else {
			rel, rerr := filepath.Rel(root, p)
			if rerr != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
				t.Fatalf("key %q maps to %q, outside the root", key, p)
			}
			for _, seg := range strings.Split(rel, string(filepath.Separator)) {
				if seg == "" || strings.HasPrefix(seg, ".") {
					t.Fatalf("key %q maps to %q: empty or hidden segment", key, p)
				}
			}
		}
		if sig != d.sign(key, expires) && d.Verify(key, expires, sig) == nil {
			t.Fatalf("a forged signature verified for %q", key)
		}
	})
}
