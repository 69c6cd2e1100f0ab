package privacy

import "slices"

// MinorAge is the age under which guardian consent is needed (PIPL art. 31;
// the policy's "不满14周岁").
const MinorAge = 14

// Reasons a field is dropped from an ad request (SPEC §5). When several
// apply to one field, the response names the strongest, in this order:
// undeclared (the platform never allows it, whatever anyone consents to),
// minor (no consent but a guardian's can lift it), withdrawn (the registry
// holds a refusal the request cannot override), then the request's own
// no_location_consent and personalization_off. The strongest reason is the
// one that would still apply if the weaker ones were lifted, so it tells the
// developer what would actually have to change.
const (
	ReasonUndeclared         = "undeclared"
	ReasonMinor              = "minor"
	ReasonWithdrawn          = "withdrawn"
	ReasonNoLocationConsent  = "no_location_consent"
	ReasonPersonalizationOff = "personalization_off"
)

// reasonRank orders reasons from strongest to weakest.
var reasonRank = [...]string{ReasonUndeclared, ReasonMinor, ReasonWithdrawn, ReasonNoLocationConsent, ReasonPersonalizationOff}

// Stronger returns the stronger of two drop reasons ("" is no reason).
func Stronger(a, b string) string {
	ia, ib := slices.Index(reasonRank[:], a), slices.Index(reasonRank[:], b)
	switch {
	case ia < 0:
		return b
	case ib < 0 || ia <= ib:
		return a
	}
	return b
}

// RequestConsent is what the SDK says about its user in one ad request. The
// SDK's flags are never written to the registry: they can only make a
// request stricter than what is recorded, never more permissive.
type RequestConsent struct {
	PersonalizedAds bool  `json:"personalized_ads"`
	Location        bool  `json:"location"`
	Guardian        *bool `json:"guardian,omitempty"`
}

// Effective is the consent one ad request is processed under: the stricter
// of the request and the registry, with the minors' rule applied (R2–R4).
type Effective struct {
	Personalized bool // personalization allowed (R3)
	Location     bool // location may be collected (R2)
	Strict       bool // a minor without guardian consent (R4)
	CrossBorder  bool // recorded cross-border consent (R6); requests cannot grant it

	personalizationOff string // why personalization is off, when it is
	locationOff        string // why location is off, when it is
}

// Evaluate combines a request's consent with the subject's recorded consent
// (nil when nothing is recorded). age is the user's age when the SDK knows
// it; childDirected is the app's registration.
//
// Guardian consent: a recorded or requested guardian=false always wins. A
// user who says they are under 14 is covered by the request's guardian=true
// (the developer relays the guardian's consent it must obtain, policy §1)
// or by a recorded one. In a child-directed app every user is treated as a
// minor, and only guardian consent recorded in the registry lifts that: a
// child-directed app asserting guardian consent on each request would
// otherwise turn the rule off by itself.
func Evaluate(req RequestConsent, age *int, childDirected bool, recorded *Consent) Effective {
	var rec map[string]bool
	var recGuardian *bool
	if recorded != nil {
		rec, recGuardian = recorded.Purposes, recorded.Guardian
	}
	refused := func(p string) bool { v, ok := rec[p]; return ok && !v }

	guardianDenied := (recGuardian != nil && !*recGuardian) || (req.Guardian != nil && !*req.Guardian)
	recordedGuardian := recGuardian != nil && *recGuardian
	var guardianOK bool
	switch {
	case guardianDenied:
	case childDirected:
		guardianOK = recordedGuardian
	default:
		guardianOK = recordedGuardian || (req.Guardian != nil && *req.Guardian)
	}
	minor := childDirected || (age != nil && *age < MinorAge)

	e := Effective{Strict: minor && !guardianOK, CrossBorder: rec[ConsentCrossBorder] && !refused(ConsentCrossBorder)}
	switch {
	case refused(ConsentPersonalizedAds):
		e.personalizationOff = ReasonWithdrawn
	case !req.PersonalizedAds:
		e.personalizationOff = ReasonPersonalizationOff
	}
	switch {
	case refused(ConsentLocation):
		e.locationOff = ReasonWithdrawn
	case !req.Location:
		e.locationOff = ReasonNoLocationConsent
	}
	if e.Strict {
		e.personalizationOff, e.locationOff = ReasonMinor, ReasonMinor
	}
	e.Personalized = e.personalizationOff == ""
	e.Location = e.locationOff == ""
	return e
}

// DropReason returns why field f may not be kept under e, or "" when
// consent allows it. Platform rules (undeclared) are the caller's.
// Personalization fields are those whose purposes include personalization
// (installed_apps, sensors, geo); location fields are the precise-location
// category (geo).
func (e Effective) DropReason(f Field) string {
	reason := ""
	if f.Serves(PurposePersonalization) && !e.Personalized {
		reason = Stronger(reason, e.personalizationOff)
	}
	if f.Category == CatLocation && !e.Location {
		reason = Stronger(reason, e.locationOff)
	}
	return reason
}

// MergeConsents combines what is recorded under several subjects that name
// the same device (one per device id): a purpose is refused if any record
// refuses it, granted if some record grants it and none refuses, undecided
// otherwise; guardian consent likewise. It returns nil when cs holds no
// record, so "nothing recorded" stays distinguishable.
func MergeConsents(cs ...*Consent) *Consent {
	var out *Consent
	for _, c := range cs {
		if c == nil {
			continue
		}
		if out == nil {
			out = &Consent{Purposes: map[string]bool{}}
		}
		for p, v := range c.Purposes {
			if old, ok := out.Purposes[p]; !ok || old {
				out.Purposes[p] = v
			}
		}
		if c.Guardian != nil && (out.Guardian == nil || *out.Guardian) {
			g := *c.Guardian
			out.Guardian = &g
		}
	}
	return out
}

// Check reasons (GET /v1/consents/{subject}/check).
const (
	CheckGranted           = "granted"
	CheckWithdrawn         = "withdrawn"          // granted once, withdrawn since
	CheckRefused           = "refused"            // decided false, never granted
	CheckNotRecorded       = "not_recorded"       // no decision on record
	CheckGuardianWithdrawn = "guardian_withdrawn" // a guardian refused for a minor
)

// ValidConsentPurpose reports whether p is a purpose the registry knows.
func ValidConsentPurpose(p string) bool { return slices.Contains(ConsentPurposes(), p) }

// Check answers whether the registry allows purpose for this subject.
// Nothing recorded means not allowed: consent is never presumed. A recorded
// guardian refusal denies the purposes the minors' rule covers
// (personalized ads, location) whatever else is recorded.
func (c *Consent) Check(purpose string) (allowed bool, reason string) {
	if c == nil {
		return false, CheckNotRecorded
	}
	if c.Guardian != nil && !*c.Guardian && (purpose == ConsentPersonalizedAds || purpose == ConsentLocation) {
		return false, CheckGuardianWithdrawn
	}
	v, ok := c.Purposes[purpose]
	switch {
	case !ok:
		return false, CheckNotRecorded
	case v:
		return true, CheckGranted
	}
	for _, h := range c.History {
		if h.Purposes[purpose] {
			return false, CheckWithdrawn
		}
	}
	return false, CheckRefused
}

// Apply records a change: the purposes it names take their new value, the
// others keep theirs (so changing one purpose's scope cannot silently
// forget the withdrawal of another). It returns the purposes withdrawn by
// this change: granted or undecided before, false now.
func (c *Consent) Apply(ch ConsentChange) (withdrawn []string) {
	if c.Purposes == nil {
		c.Purposes = map[string]bool{}
	}
	for _, p := range ConsentPurposes() {
		v, named := ch.Purposes[p]
		if !named {
			continue
		}
		if old, had := c.Purposes[p]; !v && (!had || old) {
			withdrawn = append(withdrawn, p)
		}
		c.Purposes[p] = v
	}
	if ch.Guardian != nil {
		g := *ch.Guardian
		c.Guardian = &g
	}
	c.PolicyVersion = ch.PolicyVersion
	c.UpdatedAt = ch.At
	c.History = append(c.History, ch)
	return withdrawn
}
