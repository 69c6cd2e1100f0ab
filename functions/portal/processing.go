package portal

import "github.com/veil-privacy/veil/privacy"

// Processing is what the portal declares for the records of processing
// (R25). The portal keeps nothing itself (the browser holds the request
// token and the CSRF and language cookies); what it files, it files
// through the requests and policies functions' own code, run in-process,
// so the data lands where theirs does.
func Processing() []privacy.Activity {
	return []privacy.Activity{
		{
			Name: "privacy center forms",
			Description: "Takes a person's rights request (email address, free-text details, corrections, a " +
				"portability endpoint, the consents to withdraw), their one-time code, and their answer to a policy " +
				"revision, and files them through the requests and policies functions' API handlers; shows a " +
				"request's status to the holder of its token.",
			// Notices: the policies and incidents handlers it runs keep
			// their fan-out delivery records (fanout_* collections).
			Categories: []privacy.Category{privacy.CatAccount, privacy.CatRequests, privacy.CatConsent, privacy.CatNotices},
			Purposes:   []privacy.Purpose{privacy.PurposeRights, privacy.PurposeConsentRecords},
			Recipients: []string{"Google Cloud (Firestore)", "Amazon Web Services (SES)"},
			Location:   []privacy.Backend{privacy.BackendStore, privacy.BackendMail, privacy.BackendEvents},
			Retention:  privacy.ClassRequests,
			Entrusted:  true,
			// The same record as the other functions that keep data in
			// the entrusted store and mail service.
			Assessments: []string{"entrusted-processing"},
		},
	}
}
