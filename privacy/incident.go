package privacy

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Incident is a declared security incident (R21, policy section 五(三)):
// what the policy promises to tell each affected person — the basic
// situation, the possible impact, the measures taken, advice for
// self-protection and the remedies — plus what the regulator's report needs.
type Incident struct {
	ID           string        `json:"id"`
	Title        string        `json:"title"`
	WhatHappened string        `json:"what_happened"`
	OccurredAt   time.Time     `json:"occurred_at"`
	DiscoveredAt time.Time     `json:"discovered_at"`
	DeclaredAt   time.Time     `json:"declared_at"`
	DeclaredBy   string        `json:"declared_by"`
	Categories   []Category    `json:"categories"`
	Scope        IncidentScope `json:"scope"`
	Impact       string        `json:"impact"`
	Measures     string        `json:"measures"`
	Advice       string        `json:"advice"`
	Remedies     string        `json:"remedies"`
	Contact      string        `json:"contact"`
}

// IncidentScope says how the affected people were chosen. The explicit
// subjects themselves are not kept here (they are personal data and may be
// many); only how many were named.
type IncidentScope struct {
	Subjects int            `json:"subjects,omitempty"` // how many were named explicitly
	Query    *IncidentQuery `json:"query,omitempty"`
}

// IncidentQuery selects the people whose ad records of the given categories
// were received in [From, To].
type IncidentQuery struct {
	Categories []Category `json:"categories"`
	From       time.Time  `json:"from"`
	To         time.Time  `json:"to"`
}

// IncidentDeclaration is what ops send to declare an incident.
type IncidentDeclaration struct {
	Title        string     `json:"title"`
	WhatHappened string     `json:"what_happened"`
	OccurredAt   time.Time  `json:"occurred_at"`
	DiscoveredAt time.Time  `json:"discovered_at"`
	Categories   []Category `json:"categories"`
	Affected     struct {
		Subjects []string       `json:"subjects,omitempty"`
		Query    *IncidentQuery `json:"query,omitempty"`
	} `json:"affected"`
	Impact   string `json:"impact"`
	Measures string `json:"measures"`
	Advice   string `json:"advice"`
	Remedies string `json:"remedies"`
	Contact  string `json:"contact"`
}

// Limits of a declaration. Explicit subjects are bounded because they
// travel in one request body; a larger population is named by a query.
const (
	MaxIncidentSubjects = 10000
	maxIncidentTitle    = 200
	maxIncidentText     = 8000
)

// Categories lists every data category, in policy order.
func Categories() []Category {
	return []Category{CatDeviceID, CatDeviceInfo, CatNetwork, CatLocale, CatOS, CatApp, CatAppList,
		CatSensors, CatLocation, CatAccount, CatConsent, CatRequests, CatNotices, CatSecurityLog}
}

// Valid reports whether c is a known category.
func (c Category) Valid() bool { return slices.Contains(Categories(), c) }

// Validate checks a declaration and returns the parsed explicit subjects
// (deduplicated, canonical). now bounds the times: an incident cannot have
// been discovered in the future.
func (d *IncidentDeclaration) Validate(now time.Time) ([]Subject, error) {
	texts := []struct {
		field, v string
		max      int
	}{
		{"title", d.Title, maxIncidentTitle}, {"what_happened", d.WhatHappened, maxIncidentText},
		{"impact", d.Impact, maxIncidentText}, {"measures", d.Measures, maxIncidentText},
		{"advice", d.Advice, maxIncidentText}, {"remedies", d.Remedies, maxIncidentText},
		{"contact", d.Contact, maxIncidentTitle * 2},
	}
	for _, t := range texts {
		// Every one of these is a promise of the policy's section 五: a
		// notice missing one is not the notice the law asks for.
		if strings.TrimSpace(t.v) == "" {
			return nil, FieldError(t.field, "is required")
		}
		if !utf8.ValidString(t.v) || utf8.RuneCountInString(t.v) > t.max {
			return nil, FieldError(t.field, "must be valid text of at most %d characters", t.max)
		}
	}
	if strings.ContainsAny(d.Title, "\r\n") {
		return nil, FieldError("title", "must be one line")
	}
	skew := now.Add(5 * time.Minute)
	switch {
	case d.OccurredAt.IsZero():
		return nil, FieldError("occurred_at", "is required (RFC 3339)")
	case d.DiscoveredAt.IsZero():
		return nil, FieldError("discovered_at", "is required (RFC 3339)")
	case d.DiscoveredAt.After(skew):
		return nil, FieldError("discovered_at", "is in the future")
	case d.OccurredAt.After(d.DiscoveredAt):
		return nil, FieldError("occurred_at", "is after discovered_at")
	}
	if err := validCategories("categories", d.Categories); err != nil {
		return nil, err
	}
	a := d.Affected
	if (len(a.Subjects) == 0) == (a.Query == nil) {
		return nil, FieldError("affected", "give either subjects or query, not both or neither")
	}
	if q := a.Query; q != nil {
		if len(q.Categories) == 0 {
			q.Categories = slices.Clone(d.Categories)
		}
		if err := validCategories("affected.query.categories", q.Categories); err != nil {
			return nil, err
		}
		if q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To) {
			return nil, FieldError("affected.query", "from and to are required and from must be before to")
		}
		return nil, nil
	}
	if len(a.Subjects) > MaxIncidentSubjects {
		return nil, FieldError("affected.subjects", "at most %d subjects; name a larger population with a query", MaxIncidentSubjects)
	}
	seen := make(map[string]bool, len(a.Subjects))
	out := make([]Subject, 0, len(a.Subjects))
	for i, s := range a.Subjects {
		sub, err := ParseSubject(s)
		if err != nil {
			// Say which entry without echoing it: it is personal data.
			return nil, FieldError("affected.subjects", "entry %d is not a subject (account:<email> or device:<id type>:<id>)", i)
		}
		if k := sub.String(); !seen[k] {
			seen[k] = true
			out = append(out, sub)
		}
	}
	return out, nil
}

func validCategories(field string, cs []Category) error {
	if len(cs) == 0 {
		return FieldError(field, "name at least one data category")
	}
	for _, c := range cs {
		if !c.Valid() {
			return FieldError(field, "unknown data category %q", c)
		}
	}
	return nil
}

// Announcement is a public notice on the privacy center, published when
// affected people cannot all be told one by one (R21).
type Announcement struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind"` // incident, operations_ceased
	Ref         string     `json:"ref"`
	Title       string     `json:"title"`
	Body        string     `json:"body"`
	Categories  []Category `json:"categories,omitempty"`
	Impact      string     `json:"impact,omitempty"`
	Measures    string     `json:"measures,omitempty"`
	Advice      string     `json:"advice,omitempty"`
	Remedies    string     `json:"remedies,omitempty"`
	Contact     string     `json:"contact,omitempty"`
	PublishedAt time.Time  `json:"published_at"`
}
