package requests

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25).
func Processing() []privacy.Activity {
	return []privacy.Activity{{
		Name: "rights requests: intake, verification and lifecycle",
		Description: "Takes rights requests by web, API and email (raw MIME, R18), verifies the requester by a " +
			"one-time code mailed to the account's address (stored hashed) or by the app developer's attestation " +
			"for a device (R17), tracks each request through its statuses with refusals and duplicates recorded " +
			"(R19), and queues complaints and appeals of automated decisions for a person to answer (R15, R16). " +
			"Requests hold the requester's address, the details they wrote and the history.",
		Categories:  []privacy.Category{privacy.CatAccount, privacy.CatRequests, privacy.CatNotices},
		Purposes:    []privacy.Purpose{privacy.PurposeRights, privacy.PurposeNotices},
		Recipients:  []string{"Google Cloud (Firestore)", "Amazon Web Services (SES) for one-time codes"},
		Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendMail, privacy.BackendEvents},
		Retention:   privacy.ClassRequests,
		Entrusted:   true,
		Assessments: []string{"entrusted-processing"},
	}}
}
