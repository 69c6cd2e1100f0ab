package privacy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention classes: one per kind of record Veil keeps (R20). The names are
// stable: they appear in configuration (VEIL_RETENTION_<NAME>), in
// AdRecord.Retention and in retention.expired events.
const (
	ClassAdRequests          = "ad_requests"
	ClassConsents            = "consents"
	ClassRequests            = "requests"
	ClassNotices             = "notices"
	ClassExports             = "exports"
	ClassNetworkSecurityLogs = "network_security_logs"
	ClassAudit               = "audit"
)

// RetentionAction is what happens to a record once its period is over.
type RetentionAction string

const (
	// RetainDelete removes the record.
	RetainDelete RetentionAction = "delete"
	// RetainAnonymize folds the record into de-identified statistics
	// (R8) and then removes it.
	RetainAnonymize RetentionAction = "anonymize"
)

// Day is the unit retention periods are written in.
const Day = 24 * time.Hour

// Bounds every configured period must respect. The floor of six months is
// the Cybersecurity Law's (art. 21(3)) for network logs; the ceiling only
// catches typos ("36500d" is a century).
const (
	MinNetworkLogRetention = 180 * Day
	MaxRetention           = 36500 * Day
)

// RetentionClass is one row of the retention policy.
type RetentionClass struct {
	Name   string          `json:"name"`
	Period time.Duration   `json:"period"`
	Min    time.Duration   `json:"min,omitempty"` // legal floor: a shorter configured period is refused
	Action RetentionAction `json:"action"`
	From   string          `json:"from"`  // the moment the period counts from
	Basis  string          `json:"basis"` // why this period: the policy clause or law
}

// defaultClasses is the policy as data. Policy §4 promises to keep personal
// information only as long as necessary and then delete or anonymize it;
// the periods below are the "necessary" the company commits to, and the
// legal floors that override them.
var defaultClasses = [...]RetentionClass{
	{Name: ClassAdRequests, Period: 180 * Day, Action: RetainAnonymize, From: "received",
		Basis: "policy §4: kept as long as needed for fraud detection and attribution (one campaign season); then folded into de-identified statistics (R8)"},
	{Name: ClassConsents, Period: 3 * 365 * Day, Action: RetainDelete, From: "last change, once the subject has no ad records left",
		Basis: "proof that processing was lawful (PIPL art. 13-14) for the civil limitation period (Civil Code art. 188: 3 years); kept while the subject is active so a withdrawal is never forgotten"},
	{Name: ClassRequests, Period: 3 * 365 * Day, Action: RetainDelete, From: "closed",
		Basis: "evidence of how a rights request was answered (PIPL art. 50) for the civil limitation period (3 years)"},
	{Name: ClassNotices, Period: 3 * 365 * Day, Action: RetainDelete, From: "sent",
		Basis: "evidence that incident and policy notices were given (R21, R22) for the civil limitation period (3 years)"},
	{Name: ClassExports, Period: 7 * Day, Action: RetainDelete, From: "created",
		Basis: "a copy for the subject (R9) is only needed until it is downloaded; the link expires with it"},
	{Name: ClassNetworkSecurityLogs, Period: 180 * Day, Min: MinNetworkLogRetention, Action: RetainDelete, From: "written",
		Basis: "Cybersecurity Law art. 21(3): network logs are kept no less than six months"},
	{Name: ClassAudit, Period: 3 * 365 * Day, Min: MinNetworkLogRetention, Action: RetainDelete, From: "appended",
		Basis: "tamper-evident record of every state change (R24), kept as long as the requests it proves and never shorter than the network logs"},
}

// Retention is a complete retention policy: every class with its period.
// It is a value; With returns a changed copy.
type Retention struct {
	classes []RetentionClass
}

// DefaultRetention is the policy before configuration overrides.
func DefaultRetention() Retention {
	return Retention{classes: append([]RetentionClass(nil), defaultClasses[:]...)}
}

// RetentionClassNames lists the class names in policy order.
func RetentionClassNames() []string {
	out := make([]string, len(defaultClasses))
	for i, c := range defaultClasses {
		out[i] = c.Name
	}
	return out
}

// Classes returns a copy of the policy's rows in policy order.
func (r Retention) Classes() []RetentionClass {
	if len(r.classes) == 0 {
		return DefaultRetention().Classes()
	}
	return append([]RetentionClass(nil), r.classes...)
}

// Class returns the row named name.
func (r Retention) Class(name string) (RetentionClass, bool) {
	for _, c := range r.Classes() {
		if c.Name == name {
			return c, true
		}
	}
	return RetentionClass{}, false
}

// Period is the retention period of a class; 0 for an unknown class, which
// callers must treat as a bug (every record kind has a class).
func (r Retention) Period(name string) time.Duration {
	c, _ := r.Class(name)
	return c.Period
}

// ExpiresAt is when a record of class name that started at from is due for
// deletion or anonymization.
func (r Retention) ExpiresAt(name string, from time.Time) time.Time {
	return from.Add(r.Period(name))
}

// With returns the policy with class name's period set to d. It refuses
// unknown classes and periods under the class's legal floor or over
// MaxRetention. Rules between classes are Check's, run once every
// override is in (one override may need another to be valid).
func (r Retention) With(name string, d time.Duration) (Retention, error) {
	classes := r.Classes()
	found := false
	for i := range classes {
		if classes[i].Name != name {
			continue
		}
		found = true
		c := &classes[i]
		switch {
		case d <= 0 || d > MaxRetention:
			return r, FieldError(name, "retention must be between 1d and %s, not %s", FormatRetention(MaxRetention), FormatRetention(d))
		case d < c.Min:
			return r, FieldError(name, "retention of %s must be at least %s (%s), not %s", name, FormatRetention(c.Min), c.Basis, FormatRetention(d))
		}
		c.Period = d
	}
	if !found {
		return r, FieldError(name, "unknown retention class %q (known: %s)", name, strings.Join(RetentionClassNames(), ", "))
	}
	return Retention{classes: classes}, nil
}

// Check enforces the rules between classes.
func (r Retention) Check() error {
	if a, l := r.Period(ClassAudit), r.Period(ClassNetworkSecurityLogs); a < l {
		return FieldError(ClassAudit, "the audit log (%s) must be kept at least as long as the network and security logs (%s)", FormatRetention(a), FormatRetention(l))
	}
	return nil
}

// RetentionVar is the configuration variable that overrides class name.
func RetentionVar(name string) string { return "VEIL_RETENTION_" + strings.ToUpper(name) }

// ParseRetention parses a configured period strictly: a positive whole
// number of days ("365d") or hours ("8760h") and nothing else — no signs,
// spaces, fractions, leading zeros or mixed units, so an operator's typo is
// refused instead of silently meaning something else.
func ParseRetention(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, Errorf(EINVALID, "a retention period is a whole number of days or hours such as 365d or 8760h, not %q", clipForMessage(s, 32))
	}
	if len(s) < 2 || len(s) > 8 {
		return bad()
	}
	num, unit := s[:len(s)-1], s[len(s)-1]
	if num[0] < '1' || num[0] > '9' {
		return bad()
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return bad()
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return bad()
	}
	var per time.Duration
	switch unit {
	case 'd':
		per = Day
	case 'h':
		per = time.Hour
	default:
		return bad()
	}
	// Compare before multiplying: seven digits of hours overflow a
	// Duration (found by FuzzParseRetention).
	if n > int64(MaxRetention/per) {
		return 0, Errorf(EINVALID, "a retention period may not exceed %s, not %q", FormatRetention(MaxRetention), s)
	}
	return time.Duration(n) * per, nil
}

// FormatRetention writes a period the way ParseRetention reads it: whole
// days as "180d", anything else in hours.
func FormatRetention(d time.Duration) string {
	if d%Day == 0 {
		return fmt.Sprintf("%dd", d/Day)
	}
	return fmt.Sprintf("%dh", d/time.Hour)
}

func clipForMessage(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
