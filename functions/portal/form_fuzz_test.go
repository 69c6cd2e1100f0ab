package portal

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/veil-privacy/veil/privacy"
)

// FuzzParseCorrections runs the privacy center's "field: new value" parser
// on arbitrary form text: it refuses with EINVALID or returns at most
// maxCorrectionLines one-line corrections with non-empty, bounded names,
// so what it passes on to the API is what the API's own rules expect.
func FuzzParseCorrections(f *testing.F) {
	for _, s := range []string{"name: 李雷\nphone：13800000000", "a:b\r\nc:d", ":x", "a:1\na:2", "\x00:x", "k:\xff", strings.Repeat("k", 65) + ":v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := parseCorrections(s)
		if err != nil {
			if privacy.ErrorCode(err) != privacy.EINVALID {
				t.Fatalf("refused without EINVALID: %v", err)
			}
			return
		}
		if len(out) > maxCorrectionLines {
			t.Fatalf("%d corrections accepted", len(out))
		}
		for k, v := range out {
			if k == "" || len(k) > maxCorrectionField || strings.ContainsAny(k+v, "\n\x00") || !utf8.ValidString(k+v) {
				t.Fatalf("accepted correction %q: %q", k, v)
			}
		}
	})
}
