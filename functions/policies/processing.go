package policies

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25). Its notification fan-out opens ad records to reach devices
// through their developers, hence the record categories.
func Processing() []privacy.Activity {
	return []privacy.Activity{{
		Name: "policy revisions, acknowledgements and the cessation notice",
		Description: "Publishes policy versions, notifies everyone before a version takes effect, records who " +
			"acknowledged it and who gave the explicit consent a rights-reducing change needs (R22), and notifies " +
			"and publicly announces the cessation of operations (R23).",
		Categories: []privacy.Category{privacy.CatDeviceID, privacy.CatDeviceInfo, privacy.CatNetwork, privacy.CatLocale,
			privacy.CatOS, privacy.CatApp, privacy.CatAppList, privacy.CatSensors, privacy.CatLocation, privacy.CatAccount,
			privacy.CatConsent, privacy.CatRequests, privacy.CatNotices},
		Purposes:    []privacy.Purpose{privacy.PurposeNotices, privacy.PurposeConsentRecords},
		Recipients:  []string{"Google Cloud (Firestore)", "the public (cessation announcement, no personal data)"},
		Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendKeys, privacy.BackendEvents, privacy.BackendPublic},
		Retention:   privacy.ClassConsents,
		Sensitive:   true,
		Entrusted:   true,
		Disclosure:  true,
		Assessments: []string{"precise-location", "entrusted-processing", "public-disclosure"},
	}}
}
