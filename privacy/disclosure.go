package privacy

import "time"

// Disclosure records that a recipient outside Veil received a subject's
// de-identified data (R7), so that a deletion or withdrawal can be passed
// on to exactly those recipients (R12) and their acknowledgement tracked.
type Disclosure struct {
	ID         string     `json:"id"`          // recipient~subject key: one record per pair
	Recipient  string     `json:"recipient"`   // partner id
	SubjectKey string     `json:"subject_key"` // never the raw identifier
	Pseudonym  string     `json:"pseudonym"`   // what the recipient knows the subject as
	Categories []Category `json:"categories"`
	Purposes   []Purpose  `json:"purposes"`
	First      time.Time  `json:"first"`
	Last       time.Time  `json:"last"`
	Count      int        `json:"count"`
	// Erasure tracking: set when a deletion is propagated.
	ErasureID      string     `json:"erasure_id,omitempty"`
	ErasureSentAt  *time.Time `json:"erasure_sent_at,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
}
