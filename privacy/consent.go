package privacy

import "time"

// Consent purposes a subject can grant or withdraw (R2, R3, R6, R13).
const (
	ConsentPersonalizedAds = "personalized_ads"
	ConsentLocation        = "location"
	ConsentCrossBorder     = "cross_border"
	ConsentPartnerSharing  = "partner_sharing"
)

// ConsentPurposes lists the purposes the registry knows.
func ConsentPurposes() []string {
	return []string{ConsentPersonalizedAds, ConsentLocation, ConsentCrossBorder, ConsentPartnerSharing}
}

// Consent is a subject's recorded consent with its full history. A purpose
// absent from Purposes has never been decided; false is a withdrawal or a
// refusal and always wins over what a request claims.
type Consent struct {
	SubjectKey    string          `json:"subject_key"`
	SubjectHint   string          `json:"subject_hint"`
	Purposes      map[string]bool `json:"purposes"`
	Guardian      *bool           `json:"guardian,omitempty"`
	PolicyVersion string          `json:"policy_version,omitempty"`
	UpdatedAt     time.Time       `json:"updated_at"`
	History       []ConsentChange `json:"history"`
}

// ConsentChange is one recorded decision: who, when, through what, under
// which policy version.
type ConsentChange struct {
	At            time.Time       `json:"at"`
	Source        string          `json:"source"` // sdk, portal, api, email, ops
	Actor         string          `json:"actor"`
	Purposes      map[string]bool `json:"purposes"`
	Guardian      *bool           `json:"guardian,omitempty"`
	PolicyVersion string          `json:"policy_version,omitempty"`
}
