package retention

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25).
func Processing() []privacy.Activity {
	return []privacy.Activity{{
		Name: "retention sweeps, legal holds and ceasing operations",
		Description: "Deletes or anonymizes every record past its retention class (ad records folded into " +
			"de-identified statistics), isolates the records of subjects under a legal hold with its reason, and " +
			"stops collection and deletes everything when operations cease (R20, R23). It keeps no personal data " +
			"of its own beyond a held subject's key and the hold's case reference.",
		Categories: []privacy.Category{privacy.CatDeviceID, privacy.CatDeviceInfo, privacy.CatNetwork, privacy.CatLocale,
			privacy.CatOS, privacy.CatApp, privacy.CatSensors, privacy.CatLocation, privacy.CatAccount, privacy.CatConsent,
			privacy.CatRequests},
		Purposes:    []privacy.Purpose{privacy.PurposeCompliance, privacy.PurposeStatistics},
		Recipients:  []string{"Google Cloud (Firestore)"},
		Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendEvents},
		Retention:   privacy.RetainTransient,
		Sensitive:   true, // it reads records that hold (coarse) location
		Entrusted:   true,
		Assessments: []string{"precise-location", "entrusted-processing"},
	}}
}
