package privacy

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// AdRecord is what is stored of one ad request after minimization: plain
// fields that identify no one, device ids only as keyed hashes, and the rest
// sealed under the subject's own data key (R5) so that destroying that key
// makes every copy unreadable (R12).
type AdRecord struct {
	ID           string                     `json:"id"`
	SubjectKey   string                     `json:"subject_key"`
	AppID        string                     `json:"app_id"`
	Platform     Platform                   `json:"platform"`
	Region       string                     `json:"region"` // "CN" for mainland China (R6)
	ReceivedAt   time.Time                  `json:"received_at"`
	ExpiresAt    time.Time                  `json:"expires_at"`
	Retention    string                     `json:"retention"`
	Personalized bool                       `json:"personalized"`
	Purposes     []Purpose                  `json:"purposes"`
	Fields       map[string]json.RawMessage `json:"fields"`             // kept, not personal on their own (truncated ip included)
	IDHashes     map[string]string          `json:"id_hashes"`          // field path → keyed hash
	Sealed       []byte                     `json:"sealed,omitempty"`   // encrypted JSON of raw ids and encrypted fields
	Isolated     string                     `json:"isolated,omitempty"` // why it is kept but out of processing (hold, backup)
	// CoarseGeo is geo rounded by CoarsenGeo, set only when geo was kept;
	// the precise position exists only inside Sealed.
	CoarseGeo *GeoPoint `json:"coarse_geo,omitempty"`
}

// NewRecordID returns a new ad record id: a UUIDv7, ordered by time, so a
// subject's records sit together, in the order they came, in every index
// of the store, the id's included. A deletion walks them in that order and
// rewrites each index page once; with random ids it rewrote the id
// indexes' pages once per deleting transaction, most of a 100,000-record
// deletion's time (docs/performance.md). The time in the id is the receipt time
// the record holds anyway; partners see record ids only pseudonymized.
// Like uuid.NewString, it panics only if the system's randomness fails.
func NewRecordID() string { return uuid.Must(uuid.NewV7()).String() }

// Sealed's plaintext is a JSON object: table path ("ids.oaid", "geo") →
// the value as collected. SealedFields is its Go form.
type SealedFields map[string]json.RawMessage

// GeoPoint is a coarse position.
type GeoPoint struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// DeviceLink maps one device id hash to the subject its records are filed
// under, so a request naming any of a device's ids finds all of them.
type DeviceLink struct {
	IDHash     string    `json:"id_hash"`
	SubjectKey string    `json:"subject_key"`
	IDType     string    `json:"id_type"`
	LinkedAt   time.Time `json:"linked_at"`
}
