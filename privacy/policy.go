package privacy

import (
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// PolicyVersion is one published revision of the privacy policy (R22,
// policy section 十). A Material revision reduces people's rights: it
// applies to a person only after their explicit consent; until then they
// stay under the version before it.
type PolicyVersion struct {
	Version     string    `json:"version"`
	EffectiveAt time.Time `json:"effective_at"`
	Material    bool      `json:"material"`
	Summary     string    `json:"summary"`
	Changes     []string  `json:"changes,omitempty"`
	PublishedAt time.Time `json:"published_at"`
	PublishedBy string    `json:"published_by"`
}

// PolicyAck is one person's answer to one version: acknowledged (read it)
// and, for a material revision, consented.
type PolicyAck struct {
	ID             string     `json:"id"` // version~subject key
	Version        string     `json:"version"`
	SubjectKey     string     `json:"subject_key"`
	SubjectHint    string     `json:"subject_hint"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	ConsentedAt    *time.Time `json:"consented_at,omitempty"`
	Actor          string     `json:"actor"` // subject (signed link) or ops
}

var versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$`)

// ValidVersion reports whether v can name a policy version (it appears in
// URLs and document ids).
func ValidVersion(v string) bool { return versionPattern.MatchString(v) }

// Validate checks a revision before it is published. Notice must come
// before the revision takes effect, so effective_at must be in the future.
func (p *PolicyVersion) Validate(now time.Time) error {
	if !ValidVersion(p.Version) {
		return FieldError("version", "1–32 letters, digits, dots, dashes or underscores")
	}
	if p.EffectiveAt.IsZero() {
		return FieldError("effective_at", "is required (RFC 3339)")
	}
	if !p.EffectiveAt.After(now) {
		return FieldError("effective_at", "must be in the future: everyone is notified before a revision takes effect")
	}
	if strings.TrimSpace(p.Summary) == "" || !utf8.ValidString(p.Summary) || utf8.RuneCountInString(p.Summary) > 4000 {
		return FieldError("summary", "is required, at most 4000 characters")
	}
	if len(p.Changes) > 50 {
		return FieldError("changes", "at most 50 entries")
	}
	for _, c := range p.Changes {
		if strings.TrimSpace(c) == "" || !utf8.ValidString(c) || utf8.RuneCountInString(c) > 1000 {
			return FieldError("changes", "each change is 1–1000 characters")
		}
	}
	return nil
}

// ApplicableVersion returns the version that governs a person at now:
// versions (any order) already in effect apply in order of effect, except
// that a material revision stops the walk unless the person consented to it
// or to a later version (consenting to a later text accepts what it
// carries). consented holds the versions the person consented to. "" means
// no version is in effect yet.
func ApplicableVersion(versions []PolicyVersion, consented []string, now time.Time) string {
	vs := slices.Clone(versions)
	slices.SortFunc(vs, func(a, b PolicyVersion) int { return a.EffectiveAt.Compare(b.EffectiveAt) })
	last := -1 // index of the latest version the person consented to
	for i, v := range vs {
		if slices.Contains(consented, v.Version) {
			last = i
		}
	}
	current := ""
	for i, v := range vs {
		if v.EffectiveAt.After(now) {
			break
		}
		if v.Material && i > last {
			break
		}
		current = v.Version
	}
	return current
}
