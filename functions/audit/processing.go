package audit

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25). It receives every event, so it sees every category events carry;
// it keeps hashed subjects and payload digests only.
func Processing() []privacy.Activity {
	return []privacy.Activity{{
		Name: "tamper-evident audit log",
		Description: "Appends every state change of every request, consent, incident and notice (every event) to a " +
			"hash chain that can be verified and exported as evidence (R24). Subjects are stored hashed and payloads " +
			"as digests, so the log proves what happened without holding the data.",
		Categories: []privacy.Category{privacy.CatDeviceID, privacy.CatLocale, privacy.CatOS, privacy.CatApp,
			privacy.CatAccount, privacy.CatConsent, privacy.CatRequests, privacy.CatNotices},
		Purposes:    []privacy.Purpose{privacy.PurposeCompliance},
		Recipients:  []string{"Google Cloud (Firestore)"},
		Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendEvents},
		Retention:   privacy.ClassAudit,
		Entrusted:   true,
		Assessments: []string{"entrusted-processing"},
	}}
}
