package consent

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25).
func Processing() []privacy.Activity {
	return []privacy.Activity{{
		Name: "consent registry",
		Description: "Records, changes and withdraws each subject's consent per purpose (personalized ads, location, " +
			"cross-border, partner sharing) and guardian consent for minors, with the full history of who decided " +
			"what, when, through what and under which policy version; answers consent checks (R2–R4, R6, R13). " +
			"Subjects are filed under keyed hashes with a masked hint. A child's consent record is a child's " +
			"personal information, hence sensitive.",
		Categories:  []privacy.Category{privacy.CatConsent},
		Purposes:    []privacy.Purpose{privacy.PurposeConsentRecords},
		Recipients:  []string{"Google Cloud (Firestore)"},
		Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendEvents},
		Retention:   privacy.ClassConsents,
		Sensitive:   true,
		Entrusted:   true,
		Assessments: []string{"precise-location", "entrusted-processing"},
	}}
}
