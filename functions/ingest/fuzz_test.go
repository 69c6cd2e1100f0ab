package ingest

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/veil-privacy/veil/privacy"
)

var fuzzSeeds = []string{
	`{"sdk":{"platform":"android","version":"4.2.0"},"app":{"name":"Demo","version":"1.0"},"user":{"age":12},` +
		`"consent":{"personalized_ads":true,"location":true,"guardian":true},"device":{"ids":{"oaid":"A-1","imei":"86123","mac":"02:00:5E:10:AB:CD"},` +
		`"ip":"203.0.113.7","screen":{"w":1080,"h":2400,"dpi":3},"geo":{"lat":-33.86,"lon":151.2,"accuracy":5},"installed_apps":["a"],` +
		`"sensors":[{"t":1}],"storage_total":64000000000,"battery":0.5,"boot_time":"2026-01-01","os_update_time":1700000000,"country":"CN","x":1}}`,
	`{"sdk":{"platform":"ios"},"consent":{"personalized_ads":false},"device":{"ids":{"idfa":"00000000-0000-0000-0000-000000000000","oaid":"x"},"ip":"2001:db8::1","installed_apps":["a"]}}`,
	`{"sdk":{"platform":"android"},"device":{"ids":null,"geo":null,"app":{"name":"x"}}}`,
	`{"sdk":{"platform":"android"},"device":{"screen":{"w":"1"}}}`,
	`{"sdk":{"platform":"ios"},"device":{"ids":{"a.b":"c"}}}`,
	`{"sdk":{"platform":"android"},"user":{"age":-1}}`,
	`{"sdk":{"platform":"android"},"device":{"storage_free":1e3,"battery":1e400}}`,
	`[]`, `{}`, `null`, `{"sdk":{"platform":"android"}} {}`,
}

// FuzzDecode drives the ad-request parser with arbitrary bodies: it must
// never panic, refuse only with a 400-class domain error, and whatever it
// accepts must minimize to a report that respects the policy whatever the
// consent.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	yes, no := true, false
	recorded := []*privacy.Consent{nil,
		{Purposes: map[string]bool{privacy.ConsentPersonalizedAds: false, privacy.ConsentLocation: true}},
		{Purposes: map[string]bool{privacy.ConsentPersonalizedAds: true}, Guardian: &yes},
		{Guardian: &no}}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, in, err := Decode(body)
		if err != nil {
			if c := privacy.ErrorCode(err); c != privacy.EINVALID {
				t.Fatalf("refused with %s: %v", c, err)
			}
			return
		}
		for _, app := range []*privacy.App{{}, {ChildDirected: true}} {
			for _, rec := range recorded {
				m := in.Minimize(app, rec)
				checkMinimized(t, req, m)
			}
		}
	})
}

func checkMinimized(t *testing.T, req *privacy.AdRequest, m *privacy.Minimized) {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range m.Kept {
		f := k.Field
		if seen[f.Path] {
			t.Fatalf("%s reported twice", f.Path)
		}
		seen[f.Path] = true
		if !f.On(req.SDK.Platform) {
			t.Fatalf("kept %s, undeclared on %s", f.Path, req.SDK.Platform)
		}
		if f.Serves(privacy.PurposePersonalization) && !m.Personalized {
			t.Fatalf("kept %s with personalization off", f.Path)
		}
		if f.Category == privacy.CatLocation && !m.Consent.Location {
			t.Fatalf("kept %s without location consent", f.Path)
		}
		if m.Consent.Strict && (f.Serves(privacy.PurposePersonalization) || f.Category == privacy.CatLocation) {
			t.Fatalf("kept %s for a minor without guardian consent", f.Path)
		}
		if !json.Valid(k.Value) {
			t.Fatalf("%s stored as invalid JSON %q", f.Path, k.Value)
		}
		if f.Treatment == privacy.TruncateIP {
			var s string
			_ = json.Unmarshal(k.Value, &s)
			p, err := netip.ParsePrefix(s)
			if err != nil || (p.Addr().Is4() && p.Bits() != 24) || (p.Addr().Is6() && p.Bits() != 56) {
				t.Fatalf("ip stored as %q", s)
			}
		}
		if f.IsDeviceID() && (k.ID == "" || strings.ContainsAny(k.ID, ": \t\n")) {
			t.Fatalf("%s names no subject: %q", f.Path, k.ID)
		}
	}
	for _, d := range m.Dropped {
		if seen[d.Field] {
			t.Fatalf("%s reported twice", d.Field)
		}
		seen[d.Field] = true
		switch d.Reason {
		case privacy.ReasonUndeclared, privacy.ReasonMinor, privacy.ReasonWithdrawn, privacy.ReasonNoLocationConsent, privacy.ReasonPersonalizationOff:
		default:
			t.Fatalf("reason %q is not in the contract", d.Reason)
		}
	}
	if _, err := json.Marshal(Response{Kept: m.KeptPaths(), Dropped: m.Dropped}); err != nil {
		t.Fatal(err)
	}
}
