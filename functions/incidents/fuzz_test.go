package incidents

import (
	"testing"
	"time"

	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/privacy"
)

// FuzzDeclaration runs the declaration parser (strict JSON decoding, then
// validation) on arbitrary bodies: it must refuse with a domain error,
// never panic, and what it accepts must be a complete notice.
func FuzzDeclaration(f *testing.F) {
	f.Add([]byte(`{"title":"t","what_happened":"w","occurred_at":"2026-01-01T00:00:00Z","discovered_at":"2026-01-02T00:00:00Z",` +
		`"categories":["device_identifiers"],"affected":{"subjects":["account:a@example.com","device:oaid:x1"]},` +
		`"impact":"i","measures":"m","advice":"a","remedies":"r","contact":"c"}`))
	f.Add([]byte(`{"title":"t","what_happened":"w","occurred_at":"2026-01-01T00:00:00Z","discovered_at":"2026-01-02T00:00:00Z",` +
		`"categories":["precise_location"],"affected":{"query":{"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}},` +
		`"impact":"i","measures":"m","advice":"a","remedies":"r","contact":"c"}`))
	f.Add([]byte(`{"affected":{"subjects":["device:imei:"]}}`))
	f.Add([]byte(`{"categories":[1]}`))
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var d privacy.IncidentDeclaration
		if err := httpx.DecodeBytes(body, &d); err != nil {
			if privacy.ErrorCode(err) == privacy.EINTERNAL {
				t.Fatalf("decode failed without a domain error: %v", err)
			}
			return
		}
		subs, err := d.Validate(now)
		if err != nil {
			if privacy.ErrorCode(err) != privacy.EINVALID {
				t.Fatalf("validation failed without EINVALID: %v", err)
			}
			return
		}
		if d.Advice == "" || d.Remedies == "" || len(d.Categories) == 0 {
			t.Fatal("accepted a declaration missing part of the notice")
		}
		if d.Affected.Query == nil && len(subs) == 0 {
			t.Fatal("accepted a declaration with no one affected")
		}
		for _, s := range subs {
			if _, err := privacy.ParseSubject(s.String()); err != nil {
				t.Fatalf("accepted subject %q does not parse again", s)
			}
		}
	})
}
