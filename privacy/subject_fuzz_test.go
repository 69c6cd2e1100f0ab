package privacy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseSubject runs the subject parser — it reads the {subject} of
// /v1/consents/... paths and the subject of every request, from anyone —
// on arbitrary strings. It must refuse with EINVALID, never panic; what it
// accepts must be canonical (parsing its String() gives it back), so one
// person cannot have two subject keys; and the Hint shown in mails and ops
// views must be valid UTF-8 text that does not spell out a long device id.
func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"account:li.lei@example.com", "device:oaid:8f1a0c5e-0000-4000-8000-000000000001",
		"device:IMEI:861234567890123", "device:mac:02:00:00:00:00:01", "account:", "device:oaid:", "device::x",
		" account:A@B.example ", "account:李雷@example.com", "device:idfa:ÄÖÜ-设备-标识符", "account:\"a b\"@example.com", "account:<x@example.com>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseSubject(raw)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("%q refused without EINVALID: %v", raw, err)
			}
			return
		}
		again, err := ParseSubject(s.String())
		if err != nil || again != s {
			t.Fatalf("%q → %+v → %q → %+v, %v: not canonical", raw, s, s.String(), again, err)
		}
		h := s.Hint()
		if !utf8.ValidString(h) {
			t.Fatalf("hint of %q is not UTF-8: %q", raw, h)
		}
		if s.IsDevice() && len(s.Value) > 8 && strings.HasSuffix(h, ":"+s.Value) {
			t.Fatalf("hint %q spells out the device id", h)
		}
	})
}
