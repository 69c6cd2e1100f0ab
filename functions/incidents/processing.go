package incidents

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25). Finding who an incident affects opens the affected records'
// sealed fields (the notification fan-out), hence the record categories.
func Processing() []privacy.Activity {
	return []privacy.Activity{{
		Name: "security incident notices and announcements",
		Description: "Declares an incident, finds the people affected (named, or selected by the categories of their " +
			"ad records, decrypted for that only), notifies each by email, developer push or letter with what the law " +
			"requires, tracks delivery, publishes an announcement without personal data when people cannot all be " +
			"reached, and produces the regulator's report (R21).",
		Categories: []privacy.Category{privacy.CatDeviceID, privacy.CatDeviceInfo, privacy.CatNetwork, privacy.CatLocale,
			privacy.CatOS, privacy.CatApp, privacy.CatAppList, privacy.CatSensors, privacy.CatLocation, privacy.CatAccount,
			privacy.CatRequests, privacy.CatNotices},
		Purposes:    []privacy.Purpose{privacy.PurposeSecurity, privacy.PurposeNotices},
		Recipients:  []string{"Google Cloud (Firestore)", "the public (announcements, no personal data)"},
		Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendKeys, privacy.BackendEvents, privacy.BackendPublic},
		Retention:   privacy.ClassNotices,
		Sensitive:   true,
		Entrusted:   true,
		Disclosure:  true,
		Assessments: []string{"precise-location", "entrusted-processing", "public-disclosure"},
	}}
}
