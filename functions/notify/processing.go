package notify

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25).
func Processing() []privacy.Activity {
	return []privacy.Activity{{
		Name: "notice delivery",
		Description: "The one place mail and pushes leave Veil: renders a notice from its template, sends it by " +
			"email, through the developer's push webhook (naming the device the developer already knows) or onto " +
			"the letter list for post, once per idempotency key, with a delivery record (R21, R22). Addresses arrive " +
			"sealed under the subject's key and are opened only to send.",
		Categories:  []privacy.Category{privacy.CatDeviceID, privacy.CatAccount, privacy.CatNotices},
		Purposes:    []privacy.Purpose{privacy.PurposeNotices},
		Recipients:  []string{"Amazon Web Services (SES)", "app developers (push webhook)", "Google Cloud (Firestore)"},
		Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendMail, privacy.BackendDeveloper, privacy.BackendEvents},
		Retention:   privacy.ClassNotices,
		Entrusted:   true,
		Provision:   true, // developers receive their own user's device id with the notice
		Assessments: []string{"entrusted-processing", "partner-provision"},
	}}
}
