package privacy

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyVersionValidate(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		p     PolicyVersion
		field string
	}{
		{"valid", PolicyVersion{Version: "2026.1", EffectiveAt: now.Add(7 * 24 * time.Hour), Summary: "s"}, ""},
		{"bad version", PolicyVersion{Version: "2026/1", EffectiveAt: now.Add(time.Hour), Summary: "s"}, "version"},
		{"long version", PolicyVersion{Version: strings.Repeat("v", 33), EffectiveAt: now.Add(time.Hour), Summary: "s"}, "version"},
		{"no date", PolicyVersion{Version: "v2", Summary: "s"}, "effective_at"},
		{"already effective", PolicyVersion{Version: "v2", EffectiveAt: now, Summary: "s"}, "effective_at"},
		{"no summary", PolicyVersion{Version: "v2", EffectiveAt: now.Add(time.Hour)}, "summary"},
		{"empty change", PolicyVersion{Version: "v2", EffectiveAt: now.Add(time.Hour), Summary: "s", Changes: []string{" "}}, "changes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Validate(now)
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Field != c.field {
				t.Fatalf("error = %v, want field %q", err, c.field)
			}
		})
	}
}

func TestApplicableVersion(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	vs := []PolicyVersion{
		{Version: "v3", EffectiveAt: t0.Add(30 * day)},                 // non-material, after the material one
		{Version: "v1", EffectiveAt: t0},                               // the base
		{Version: "v2", EffectiveAt: t0.Add(10 * day), Material: true}, // reduces rights
	}
	cases := []struct {
		name      string
		at        time.Time
		consented []string
		want      string
	}{
		{"before any", t0.Add(-day), nil, ""},
		{"base", t0.Add(day), nil, "v1"},
		{"material not consented", t0.Add(11 * day), nil, "v1"},
		{"material consented", t0.Add(11 * day), []string{"v2"}, "v2"},
		{"consented before effect", t0.Add(5 * day), []string{"v2"}, "v1"},
		{"later revision, material not consented", t0.Add(31 * day), nil, "v1"},
		{"later revision, material consented", t0.Add(31 * day), []string{"v2"}, "v3"},
		{"consent to a later text covers the material one", t0.Add(31 * day), []string{"v3"}, "v3"},
		{"consent to an unknown version changes nothing", t0.Add(31 * day), []string{"v9"}, "v1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ApplicableVersion(vs, c.consented, c.at); got != c.want {
				t.Errorf("ApplicableVersion at %s with %v = %q, want %q", c.at.Format(time.DateOnly), c.consented, got, c.want)
			}
		})
	}
}
