package requests

import "testing"

// FuzzNormalizeCode runs the verification-code reader on what people type:
// it accepts exactly six digits (ASCII or full-width, spaces and dashes
// between them) and hands on only six ASCII digits, so no other input can
// reach the hash comparison as a guess that costs no attempt or counts as
// more than one.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "123-456", "１２３４５６", "12345", "1234567", "12345６", "٣٤٥٦٧٨", " 1\t2-3 4 5 6 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := normalizeCode(s)
		if !ok {
			if code != "" {
				t.Fatalf("%q refused but returned %q", s, code)
			}
			return
		}
		if len(code) != 6 {
			t.Fatalf("%q → %q: not six digits", s, code)
		}
		for _, c := range []byte(code) {
			if c < '0' || c > '9' {
				t.Fatalf("%q → %q: not ASCII digits", s, code)
			}
		}
	})
}
