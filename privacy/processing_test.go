package privacy

import (
	"strings"
	"testing"
	"time"
)

// ok is a valid activity the cases below change one thing of.
func okActivity() Activity {
	return Activity{Name: "collect", Description: "collects", Categories: []Category{CatDeviceInfo},
		Purposes: []Purpose{PurposeFraud}, Location: []Backend{BackendEvents}, Retention: RetainTransient}
}

func TestActivityValidate(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Activity)
		field  string // "" = valid
	}{
		{"valid", func(*Activity) {}, ""},
		{"no name", func(a *Activity) { a.Name = " " }, "name"},
		{"no categories", func(a *Activity) { a.Categories = nil }, "categories"},
		{"unknown category", func(a *Activity) { a.Categories = []Category{"shoe_size"} }, "categories"},
		{"unknown purpose", func(a *Activity) { a.Purposes = []Purpose{"fun"} }, "purposes"},
		{"unknown retention", func(a *Activity) { a.Retention = "forever" }, "retention"},
		{"retention class", func(a *Activity) { a.Retention = ClassAdRequests }, ""},
		{"unknown backend", func(a *Activity) { a.Location = []Backend{"floppy"} }, "location"},
		{"location without sensitive", func(a *Activity) { a.Categories = []Category{CatLocation} }, "sensitive"},
		{"location, sensitive", func(a *Activity) { a.Categories = []Category{CatLocation}; a.Sensitive = true }, ""},
		{"store without entrusted", func(a *Activity) { a.Location = []Backend{BackendStore} }, "entrusted"},
		{"entrusted without provider", func(a *Activity) { a.Entrusted = true; a.Recipients = []string{"x"} }, "entrusted"},
		{"store, entrusted, no recipient", func(a *Activity) { a.Location = []Backend{BackendStore}; a.Entrusted = true }, "recipients"},
		{"store, entrusted", func(a *Activity) {
			a.Location = []Backend{BackendStore}
			a.Entrusted, a.Recipients = true, []string{"Google Cloud (Firestore)"}
		}, ""},
		{"partner without provision", func(a *Activity) { a.Location = []Backend{BackendPartner}; a.Recipients = []string{"p"} }, "provision"},
		{"provision without recipient kind", func(a *Activity) { a.Provision, a.Recipients = true, []string{"p"} }, "location"},
		{"public, disclosure", func(a *Activity) {
			a.Location = []Backend{BackendPublic}
			a.Disclosure, a.Recipients = true, []string{"the public"}
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := okActivity()
			c.change(&a)
			err := a.Validate()
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.field != "" && err == nil:
				t.Fatalf("accepted, want a %s error", c.field)
			case c.field != "":
				if e, ok := err.(*Error); !ok || e.Field != c.field {
					t.Fatalf("error %v, want field %s", err, c.field)
				}
			}
		})
	}
}

func TestNeedsAssessment(t *testing.T) {
	a := okActivity()
	if k := a.NeedsAssessment(); len(k) != 0 {
		t.Fatalf("plain activity needs %v", k)
	}
	a.Sensitive, a.Provision, a.TransfersAbroad = true, true, true
	got := joinAny(a.NeedsAssessment())
	if got != "sensitive, provision, cross_border" {
		t.Fatalf("needs %s", got)
	}
}

const goodRecord = `---
id: precise-location
title: Precise location
kinds: sensitive, cross_border
date: 2026-11-02
review: 2027-11-02
assessor: DPO office
outcome: approved_with_measures
---

# Precise location

## Measures

- kept only with location consent
1. sealed under the subject's key
### detail
- still a measure

## Residual risk

- not a measure
`

func TestParseAssessment(t *testing.T) {
	a, err := ParseAssessment("precise-location", []byte(goodRecord))
	if err != nil {
		t.Fatal(err)
	}
	if a.Date.Format(time.DateOnly) != "2026-11-02" || a.Outcome != OutcomeApprovedWithMeasures || len(a.Kinds) != 2 ||
		a.Review == nil || len(a.Measures) != 3 || a.Measures[1] != "sealed under the subject's key" {
		t.Fatalf("parsed %+v", a)
	}
	crlf := strings.ReplaceAll(goodRecord, "\n", "\r\n")
	if _, err := ParseAssessment("precise-location", []byte(crlf)); err != nil {
		t.Fatalf("CRLF record: %v", err)
	}
	for _, c := range []struct {
		name, id, from, to, field string
	}{
		{"wrong id", "other", "", "", "id"},
		{"no front matter", "precise-location", "---\nid", "id", "front matter"},
		{"unclosed", "precise-location", "\n---\n\n# Precise", "\n\n# Precise", "front matter"},
		{"no date", "precise-location", "date: 2026-11-02\n", "", "date"},
		{"bad date", "precise-location", "date: 2026-11-02", "date: 2 Nov 2026", "date"},
		{"no outcome", "precise-location", "outcome: approved_with_measures\n", "", "outcome"},
		{"unknown outcome", "precise-location", "approved_with_measures", "probably fine", "outcome"},
		{"unknown kind", "precise-location", "sensitive, cross_border", "sensitive, vibes", "kinds"},
		{"no assessor", "precise-location", "assessor: DPO office\n", "", "assessor"},
		{"review before date", "precise-location", "review: 2027-11-02", "review: 2026-01-01", "review"},
		{"no measures", "precise-location", "## Measures", "## Notes", "measures"},
		{"unknown key", "precise-location", "title:", "colour: red\ntitle:", "colour"},
		{"duplicate key", "precise-location", "title:", "id: precise-location\ntitle:", "id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := goodRecord
			if c.from != "" {
				text = strings.Replace(text, c.from, c.to, 1)
			}
			_, err := ParseAssessment(c.id, []byte(text))
			e, ok := err.(*Error)
			if !ok || e.Field != c.field {
				t.Fatalf("error %v, want field %q", err, c.field)
			}
		})
	}
}

func TestCheckAssessments(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	now := day("2026-11-28")
	records := []Assessment{
		{ID: "loc", Kinds: []AssessmentKind{AssessSensitive}, Date: day("2026-11-01"), Outcome: OutcomeApproved},
		{ID: "cloud", Kinds: []AssessmentKind{AssessEntrusted}, Date: day("2026-11-01"), Outcome: OutcomeApprovedWithMeasures},
		{ID: "no", Kinds: []AssessmentKind{AssessProvision}, Date: day("2026-11-01"), Outcome: OutcomeRejected},
		{ID: "later", Kinds: []AssessmentKind{AssessDisclosure}, Date: day("2026-12-01"), Outcome: OutcomeApproved},
	}
	sens := okActivity()
	sens.Sensitive = true
	for _, c := range []struct {
		name   string
		change func(*Activity)
		errs   []string
	}{
		{"nothing needed", func(*Activity) {}, nil},
		{"covered", func(a *Activity) { a.Sensitive, a.Assessments = true, []string{"loc"} }, nil},
		{"missing", func(a *Activity) { a.Sensitive = true }, []string{"covers sensitive"}},
		{"wrong kind", func(a *Activity) { a.Sensitive, a.Assessments = true, []string{"cloud"} }, []string{"covers sensitive"}},
		{"no record", func(a *Activity) { a.Sensitive, a.Assessments = true, []string{"loc", "ghost"} }, []string{`"ghost"`}},
		{"rejected", func(a *Activity) { a.Provision, a.Assessments = true, []string{"no"} }, []string{"rejected", "covers provision"}},
		{"after the fact", func(a *Activity) { a.Disclosure, a.Assessments = true, []string{"later"} }, []string{"dated 2026-12-01"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := okActivity()
			c.change(&a)
			errs := Register{Entries: []Entry{{Function: "f", Activity: a}}}.CheckAssessments(records, now)
			if len(errs) != len(c.errs) {
				t.Fatalf("errors %v, want %d", errs, len(c.errs))
			}
			for i, want := range c.errs {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("error %q does not say %q", errs[i], want)
				}
			}
		})
	}
}

func TestNewRegister(t *testing.T) {
	good := okActivity()
	bad := okActivity()
	bad.Location = []Backend{BackendStore}
	r, err := NewRegister(map[string][]Activity{"b": {good}, "a": {good, good}})
	if err != nil || len(r.Entries) != 3 || r.Entries[0].Function != "a" || r.Entries[2].Function != "b" {
		t.Fatalf("register %+v, %v", r.Entries, err)
	}
	for name, decl := range map[string]map[string][]Activity{
		"undeclared function": {"a": nil},
		"invalid activity":    {"a": {bad}},
	} {
		if _, err := NewRegister(decl); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	md := string(r.Markdown())
	if !strings.Contains(md, "| a | collect |") || strings.Count(md, "### ") != 3 {
		t.Fatalf("markdown:\n%s", md)
	}
}

// FuzzParseAssessment: whatever a record holds, the parser answers with a
// domain error or a complete head, and never panics.
func FuzzParseAssessment(f *testing.F) {
	f.Add("precise-location", []byte(goodRecord))
	f.Add("x", []byte("---\nid: x\n---\n## Measures\n- a\n"))
	f.Add("x", []byte("---\n---\n"))
	f.Add("x", []byte("---\nkinds: ,\n---\n"))
	f.Fuzz(func(t *testing.T, id string, data []byte) {
		a, err := ParseAssessment(id, data)
		if err != nil {
			if ErrorCode(err) != EINVALID && ErrorCode(err) != ETOOLARGE {
				t.Fatalf("error %v has code %s", err, ErrorCode(err))
			}
			return
		}
		if a.ID != id || a.Date.IsZero() || a.Assessor == "" || len(a.Measures) == 0 || len(a.Kinds) == 0 {
			t.Fatalf("accepted an incomplete record: %+v", a)
		}
	})
}
