package privacy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Erasure and withdrawal rules (R12, R13, R14) as data and pure functions;
// the erasure function applies them to the stores.

// ErasureHash is what is kept of an erased subject: the SHA-256 of its
// subject key. The subject key is itself a keyed hash, so this names no
// one and cannot be reversed, but it is stable: the erasure ledger lists
// it so `veil ledger replay` can find the subject's documents again in a
// restored backup, and the audit log files events under the same hash
// (audit's subject_hash), so evidence of the erasure stays linked.
func ErasureHash(subjectKey string) string {
	s := sha256.Sum256([]byte(subjectKey))
	return hex.EncodeToString(s[:])
}

// ErasedSubject is what replaces an erased subject key in the documents
// kept as evidence (a request's record, a disclosure awaiting its
// acknowledgement): recognisably erased, linked only to the ledger.
func ErasedSubject(subjectKey string) string { return "erased:" + ErasureHash(subjectKey) }

// IsErased reports whether a subject key field was erased.
func IsErased(subjectKey string) bool { return strings.HasPrefix(subjectKey, "erased:") }

// WithdrawalPurposes reads which consent purposes a withdraw_consent
// request withdraws from its free-text details: every purpose named there
// (by its registry name, e.g. "location"), or all of them when none is
// named — "withdraw my consent" means all of it.
func WithdrawalPurposes(details string) []string {
	words := strings.FieldsFunc(strings.ToLower(details), func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	var out []string
	for _, p := range ConsentPurposes() {
		if slices.Contains(words, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return ConsentPurposes()
	}
	return out
}

// WithdrawnPaths lists the field paths held only because of the withdrawn
// consent purposes, which must be deleted from records already kept (R13):
// without personalized ads, the fields ingest drops when personalization is
// off (installed_apps, sensors, geo: R3); without location consent, the
// precise location (R2). Other purposes govern no stored field: partner
// sharing is undone at the partners (erasure requests), and cross-border
// transfer never happened without its consent.
func WithdrawnPaths(withdrawn []string) []string {
	var out []string
	for _, f := range fieldTable {
		personalization := slices.Contains(withdrawn, ConsentPersonalizedAds) && f.Serves(PurposePersonalization)
		location := slices.Contains(withdrawn, ConsentLocation) && f.Category == CatLocation
		if personalization || location {
			out = append(out, f.Path)
		}
	}
	return out
}

// Strip removes paths from a record (plain fields, and the opened sealed
// ones in sealed) and recomputes what depends on them: the coarse position
// goes with geo, personalization goes when personalized ads are withdrawn,
// and the purposes are those of the fields left. It reports whether
// anything changed; the caller re-seals sealed when it did.
func (r *AdRecord) Strip(paths []string, sealed SealedFields, noPersonalization bool) bool {
	changed := false
	for _, p := range paths {
		if _, ok := r.Fields[p]; ok {
			delete(r.Fields, p)
			changed = true
		}
		if _, ok := sealed[p]; ok {
			delete(sealed, p)
			changed = true
		}
		if p == "geo" && r.CoarseGeo != nil {
			r.CoarseGeo = nil
			changed = true
		}
	}
	if noPersonalization && r.Personalized {
		r.Personalized = false
		changed = true
	}
	if !changed {
		return false
	}
	kept := slices.Collect(maps.Keys(r.Fields))
	kept = append(kept, slices.Collect(maps.Keys(sealed))...)
	r.Purposes = r.Purposes[:0]
	for _, pu := range []Purpose{PurposeFraud, PurposeAttribution, PurposeCreative, PurposeLocale, PurposeOS, PurposePersonalization} {
		if pu == PurposePersonalization && !r.Personalized {
			continue
		}
		for _, path := range kept {
			if f, ok := FieldByPath(path); ok && f.Serves(pu) {
				r.Purposes = append(r.Purposes, pu)
				break
			}
		}
	}
	return true
}

// OpenSealed decodes a record's sealed plaintext.
func OpenSealed(plain []byte) (SealedFields, error) {
	s := SealedFields{}
	if len(plain) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, Errorf(EINTERNAL, "sealed fields do not decode: %v", err)
	}
	return s, nil
}
