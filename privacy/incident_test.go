package privacy

import (
	"strings"
	"testing"
	"time"
)

func TestIncidentDeclarationValidate(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	valid := func() IncidentDeclaration {
		d := IncidentDeclaration{Title: "Log bucket exposed", WhatHappened: "A storage bucket was public.",
			OccurredAt: now.Add(-48 * time.Hour), DiscoveredAt: now.Add(-2 * time.Hour),
			Categories: []Category{CatDeviceID, CatNetwork}, Impact: "ids may be known", Measures: "closed",
			Advice: "reset your advertising id", Remedies: "support line", Contact: "privacy@veil.example"}
		d.Affected.Subjects = []string{"account:Alice@Example.com", "device:oaid:ABC123", "account:alice@example.com"}
		return d
	}
	cases := []struct {
		name  string
		edit  func(*IncidentDeclaration)
		field string // "" = valid
	}{
		{"valid", func(*IncidentDeclaration) {}, ""},
		{"no title", func(d *IncidentDeclaration) { d.Title = " " }, "title"},
		{"two-line title", func(d *IncidentDeclaration) { d.Title = "a\nb" }, "title"},
		{"no advice", func(d *IncidentDeclaration) { d.Advice = "" }, "advice"},
		{"no remedies", func(d *IncidentDeclaration) { d.Remedies = "" }, "remedies"},
		{"huge impact", func(d *IncidentDeclaration) { d.Impact = strings.Repeat("x", maxIncidentText+1) }, "impact"},
		{"no occurred", func(d *IncidentDeclaration) { d.OccurredAt = time.Time{} }, "occurred_at"},
		{"discovered in future", func(d *IncidentDeclaration) { d.DiscoveredAt = now.Add(time.Hour) }, "discovered_at"},
		{"occurred after discovered", func(d *IncidentDeclaration) { d.OccurredAt = now.Add(-time.Hour) }, "occurred_at"},
		{"no categories", func(d *IncidentDeclaration) { d.Categories = nil }, "categories"},
		{"unknown category", func(d *IncidentDeclaration) { d.Categories = []Category{"passwords"} }, "categories"},
		{"neither subjects nor query", func(d *IncidentDeclaration) { d.Affected.Subjects = nil }, "affected"},
		{"both", func(d *IncidentDeclaration) {
			d.Affected.Query = &IncidentQuery{From: now.Add(-time.Hour), To: now}
		}, "affected"},
		{"bad subject", func(d *IncidentDeclaration) { d.Affected.Subjects = []string{"alice"} }, "affected.subjects"},
		{"too many subjects", func(d *IncidentDeclaration) {
			d.Affected.Subjects = make([]string, MaxIncidentSubjects+1)
		}, "affected.subjects"},
		{"query", func(d *IncidentDeclaration) {
			d.Affected.Subjects = nil
			d.Affected.Query = &IncidentQuery{From: now.Add(-time.Hour), To: now}
		}, ""},
		{"query backwards", func(d *IncidentDeclaration) {
			d.Affected.Subjects = nil
			d.Affected.Query = &IncidentQuery{From: now, To: now.Add(-time.Hour)}
		}, "affected.query"},
		{"query bad category", func(d *IncidentDeclaration) {
			d.Affected.Subjects = nil
			d.Affected.Query = &IncidentQuery{Categories: []Category{"x"}, From: now.Add(-time.Hour), To: now}
		}, "affected.query.categories"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := valid()
			c.edit(&d)
			subs, err := d.Validate(now)
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid declaration refused: %v", err)
				}
				if d.Affected.Query != nil {
					if len(d.Affected.Query.Categories) != len(d.Categories) {
						t.Errorf("query categories default to the incident's, got %v", d.Affected.Query.Categories)
					}
					return
				}
				// Case and duplicates fold to one subject each.
				if len(subs) != 2 || subs[0].String() != "account:alice@example.com" || subs[1].String() != "device:oaid:abc123" {
					t.Errorf("subjects = %v", subs)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Field != c.field {
				t.Fatalf("error = %v, want one on field %q", err, c.field)
			}
			if strings.Contains(err.Error(), "alice") {
				t.Errorf("error echoes a subject: %v", err)
			}
		})
	}
}
