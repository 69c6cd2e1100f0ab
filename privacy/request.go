package privacy

import (
	"slices"
	"time"
)

// RequestType is a right a person exercises (SPEC §5).
type RequestType string

const (
	ReqAccess          RequestType = "access"
	ReqCopy            RequestType = "copy"
	ReqPortability     RequestType = "portability"
	ReqCorrect         RequestType = "correct"
	ReqDelete          RequestType = "delete"
	ReqWithdrawConsent RequestType = "withdraw_consent"
	ReqCancelAccount   RequestType = "cancel_account"
	ReqComplaint       RequestType = "complaint"
	ReqAppeal          RequestType = "appeal"
)

// RequestTypes lists every type in contract order.
func RequestTypes() []RequestType {
	return []RequestType{ReqAccess, ReqCopy, ReqPortability, ReqCorrect, ReqDelete,
		ReqWithdrawConsent, ReqCancelAccount, ReqComplaint, ReqAppeal}
}

// Valid reports whether t is a known type.
func (t RequestType) Valid() bool { return slices.Contains(RequestTypes(), t) }

// Reviewed reports whether a person, not a machine, answers this type:
// complaints (R15) and appeals of automated decisions (R16).
func (t RequestType) Reviewed() bool { return t == ReqComplaint || t == ReqAppeal }

// Status is where a request is in its lifecycle.
type Status string

const (
	StatusUnverified  Status = "identity_unverified"
	StatusVerified    Status = "verified"
	StatusInProgress  Status = "in_progress"
	StatusNeedsReview Status = "needs_review"
	StatusCompleted   Status = "completed"
	StatusRefused     Status = "refused"
	StatusDuplicate   Status = "duplicate"
)

// Final reports whether no further transition is possible.
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusRefused || s == StatusDuplicate
}

// AwaitsCode reports whether a request in status s, verified at verified
// (nil: never), still needs its requester identified: new and unverified,
// or an unclear mail in review whose sender has not proved their address
// yet.
func AwaitsCode(s Status, verified *time.Time) bool {
	return verified == nil && (s == StatusUnverified || s == StatusNeedsReview)
}

// transitions is the lifecycle. Identity comes first (R17): nothing leaves
// identity_unverified except verification, a refusal or expiry — or, once
// the code proves who asked, being found a duplicate of an open request.
// A mail whose intent is unclear starts in needs_review so a person sees it
// at once (R18); its identity is still unverified (VerifiedAt is nil), so
// review can only send it back to identity_unverified, never past it.
var transitions = map[Status][]Status{
	"":                {StatusUnverified, StatusVerified, StatusDuplicate, StatusNeedsReview},
	StatusUnverified:  {StatusVerified, StatusRefused, StatusDuplicate},
	StatusVerified:    {StatusInProgress, StatusNeedsReview, StatusCompleted, StatusRefused},
	StatusInProgress:  {StatusCompleted, StatusNeedsReview, StatusRefused, StatusVerified},
	StatusNeedsReview: {StatusInProgress, StatusCompleted, StatusRefused, StatusVerified, StatusUnverified},
}

// CanTransition reports whether from → to is allowed.
func CanTransition(from, to Status) bool { return slices.Contains(transitions[from], to) }

// RefusalReason is one of the policy's listed grounds for not responding
// (section 6, "we may not be able to respond"). No other refusal exists (R19).
type RefusalReason string

const (
	RefuseLegalObligation  RefusalReason = "legal_obligation"
	RefuseNationalSecurity RefusalReason = "national_security"
	RefusePublicInterest   RefusalReason = "public_interest"
	RefuseCriminalCase     RefusalReason = "criminal_investigation"
	RefuseAbuse            RefusalReason = "abuse_of_rights"
	RefuseVitalInterests   RefusalReason = "vital_interests"
	RefuseThirdPartyHarm   RefusalReason = "third_party_harm"
	RefuseTradeSecret      RefusalReason = "trade_secret"
)

// RefusalReasons lists the policy's reasons in policy order.
func RefusalReasons() []RefusalReason {
	return []RefusalReason{RefuseLegalObligation, RefuseNationalSecurity, RefusePublicInterest,
		RefuseCriminalCase, RefuseAbuse, RefuseVitalInterests, RefuseThirdPartyHarm, RefuseTradeSecret}
}

// Valid reports whether r is a listed reason.
func (r RefusalReason) Valid() bool { return slices.Contains(RefusalReasons(), r) }

// Transition is one recorded state change.
type Transition struct {
	From   Status    `json:"from,omitempty"`
	To     Status    `json:"to"`
	Actor  string    `json:"actor"` // "subject", "system", "ops:<name>", "app:<id>"
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Verification is the one-time-code state of a request (R17). Only the
// code's hash is kept.
type Verification struct {
	CodeHash  string    `json:"code_hash"`
	ExpiresAt time.Time `json:"expires_at"`
	Attempts  int       `json:"attempts"`
	Sends     int       `json:"sends"`
	SentAt    time.Time `json:"sent_at"`
}

// Request is a rights request.
type Request struct {
	ID          string            `json:"id"`
	Type        RequestType       `json:"type"`
	Channel     string            `json:"channel"` // web, api, email
	Status      Status            `json:"status"`
	SubjectKey  string            `json:"subject_key"`  // keyed hash of the subject
	SubjectHint string            `json:"subject_hint"` // masked, for humans
	Email       string            `json:"email,omitempty"`
	AppID       string            `json:"app_id,omitempty"` // attesting developer's app
	TokenHash   string            `json:"token_hash"`
	Verify      *Verification     `json:"verification,omitempty"`
	Details     string            `json:"details,omitempty"`
	Corrections map[string]string `json:"corrections,omitempty"`
	DeliverTo   string            `json:"deliver_to,omitempty"`
	DuplicateOf string            `json:"duplicate_of,omitempty"`
	Refusal     RefusalReason     `json:"refusal,omitempty"`
	Result      string            `json:"result,omitempty"`
	Answer      string            `json:"answer,omitempty"`
	DownloadURL string            `json:"download_url,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	VerifiedAt  *time.Time        `json:"verified_at,omitempty"`
	DueAt       *time.Time        `json:"due_at,omitempty"`
	ClosedAt    *time.Time        `json:"closed_at,omitempty"`
	Reminded    bool              `json:"reminded,omitempty"`
	Escalated   bool              `json:"escalated,omitempty"`
	History     []Transition      `json:"history"`
	// DueError says why a verified request has no DueAt (no holiday data
	// for its period): it is shown to ops and escalated, never guessed.
	DueError string `json:"due_error,omitempty"`
	// Lang is the language the requester wrote in ("zh", "en"); empty
	// means both, as a bilingual notice.
	Lang string `json:"lang,omitempty"`
	// Devices are the device ids a mailed request names, as subject keys
	// and hints, never raw: verifying the sender's address does not prove
	// the devices are theirs, so such a request goes to review.
	Devices []DeviceRef `json:"devices,omitempty"`
}

// DeviceRef names a device subject without its raw id.
type DeviceRef struct {
	SubjectKey string `json:"subject_key"`
	Hint       string `json:"hint"`
}

// Move applies a transition, recording who did it and why. It refuses any
// move the lifecycle does not allow, and refusals without a listed reason.
func (r *Request) Move(to Status, actor, reason string, at time.Time) error {
	if !CanTransition(r.Status, to) {
		return Errorf(ECONFLICT, "request %s cannot go from %s to %s", r.ID, orNone(r.Status), to)
	}
	if to == StatusRefused {
		if !RefusalReason(reason).Valid() {
			return FieldError("reason", "a refusal needs one of the policy's reasons: %v", RefusalReasons())
		}
		r.Refusal = RefusalReason(reason)
	}
	r.History = append(r.History, Transition{From: r.Status, To: to, Actor: actor, At: at, Reason: reason})
	r.Status = to
	r.UpdatedAt = at
	if to == StatusVerified && r.VerifiedAt == nil {
		r.VerifiedAt = &at
	}
	if to.Final() {
		r.ClosedAt = &at
	}
	return nil
}

// Open reports whether the request still awaits an outcome.
func (r *Request) Open() bool { return !r.Status.Final() }

func orNone(s Status) Status {
	if s == "" {
		return "(new)"
	}
	return s
}
