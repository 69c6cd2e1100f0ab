package consent

import (
	"testing"

	"github.com/veil-privacy/veil/privacy"
)

// FuzzDecodeInput: the consent body parser never panics, refuses only with
// a 400-class error, and what it accepts names only known purposes and
// sources, and applies to a consent without losing history.
func FuzzDecodeInput(f *testing.F) {
	for _, s := range []string{
		`{"purposes":{"personalized_ads":true,"location":false},"source":"portal"}`,
		`{"purposes":{"cross_border":true},"guardian":true}`,
		`{"guardian":false,"source":"ops"}`,
		`{"purposes":{"telepathy":true}}`,
		`{"purposes":{"location":"no"}}`,
		`{"purposes":{}}`, `{"purposes":null}`, `[]`, `{"source":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeInput(body)
		if err != nil {
			if c := privacy.ErrorCode(err); c != privacy.EINVALID {
				t.Fatalf("refused with %s: %v", c, err)
			}
			return
		}
		if len(in.Purposes) == 0 && in.Guardian == nil {
			t.Fatal("accepted a change that decides nothing")
		}
		for p := range in.Purposes {
			if !privacy.ValidConsentPurpose(p) {
				t.Fatalf("accepted purpose %q", p)
			}
		}
		c := &privacy.Consent{}
		c.Apply(privacy.ConsentChange{Purposes: map[string]bool{privacy.ConsentLocation: true}})
		c.Apply(privacy.ConsentChange{Source: in.Source, Purposes: in.Purposes, Guardian: in.Guardian})
		if len(c.History) != 2 {
			t.Fatal("history lost")
		}
		for p, v := range in.Purposes {
			if c.Purposes[p] != v {
				t.Fatalf("%s = %v after deciding %v", p, c.Purposes[p], v)
			}
		}
	})
}
