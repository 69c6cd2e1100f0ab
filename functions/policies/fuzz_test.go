package policies

import (
	"testing"
	"time"

	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/privacy"
)

// FuzzPublish runs the revision parser on arbitrary bodies; and the
// answer body with its token check: no panic, only domain errors.
func FuzzPublish(f *testing.F) {
	f.Add([]byte(`{"version":"2026.2","effective_at":"2026-04-01T00:00:00Z","material":true,"summary":"s","changes":["c"]}`))
	f.Add([]byte(`{"version":"../x","effective_at":"x"}`))
	f.Add([]byte(`{"token":"abc.def"}`))
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var in publishBody
		if err := httpx.DecodeBytes(body, &in); err == nil {
			p := &privacy.PolicyVersion{Version: in.Version, EffectiveAt: in.EffectiveAt, Material: in.Material, Summary: in.Summary, Changes: in.Changes}
			if err := p.Validate(now); err == nil && (!privacy.ValidVersion(p.Version) || !p.EffectiveAt.After(now)) {
				t.Fatalf("accepted %+v", p)
			} else if err != nil && privacy.ErrorCode(err) != privacy.EINVALID {
				t.Fatalf("refused without EINVALID: %v", err)
			}
		} else if privacy.ErrorCode(err) == privacy.EINTERNAL {
			t.Fatalf("decode failed without a domain error: %v", err)
		}
		var a answerBody
		_ = httpx.DecodeBytes(body, &a)
	})
}
