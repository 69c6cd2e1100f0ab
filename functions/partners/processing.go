package partners

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25). The feed's categories are every category a shared field can
// belong to (see Deidentify); the tests hold the declaration to that.
func Processing() []privacy.Activity {
	return []privacy.Activity{
		{
			Name: "de-identified partner feed and disclosure log",
			Description: "Gives registered partners (advertising and measurement providers, policy §3(1)5) ad records " +
				"for the purposes they were registered for: a per-partner keyed pseudonym instead of any device id, " +
				"IP truncated, geo coarsened to 0.1°, hour instead of time, no sealed or fingerprinting field, nothing " +
				"for subjects who refused partner sharing, nothing of mainland-China data for a partner abroad without " +
				"cross-border consent. Every disclosure is logged (partner, subject key, pseudonym, categories, time) in " +
				"the transaction that serves it, and deletions and withdrawals are passed on to exactly those partners " +
				"and their acknowledgements tracked. The log is kept while the partner is registered, because it is " +
				"what lets a later deletion reach the partner.",
			// Consent records are read to decide what may be shared now.
			Categories: []privacy.Category{privacy.CatDeviceID, privacy.CatDeviceInfo, privacy.CatNetwork, privacy.CatLocale,
				privacy.CatOS, privacy.CatApp, privacy.CatSensors, privacy.CatLocation, privacy.CatConsent},
			Purposes: []privacy.Purpose{privacy.PurposeFraud, privacy.PurposeAttribution, privacy.PurposeCreative,
				privacy.PurposeLocale, privacy.PurposeOS, privacy.PurposePersonalization},
			Recipients: []string{"registered partners (pull feed; erasure requests by pull or webhook)",
				"Google Cloud (Firestore) for the disclosure log"},
			Location:        []privacy.Backend{privacy.BackendStore, privacy.BackendKeys, privacy.BackendPartner},
			Retention:       privacy.RetainWhileRegistered,
			Sensitive:       true, // coarse position, derived from precise location
			Entrusted:       true,
			Provision:       true,
			TransfersAbroad: true, // a partner may be abroad: only with the subject's cross-border consent
			Assessments:     []string{"precise-location", "entrusted-processing", "partner-provision", "cross-border-transfer"},
		},
		{
			Name: "de-identified statistics",
			Description: "Counts ad requests per app, country, OS and UTC day as they arrive (R8). The personal data " +
				"(the event's subject key) is used only to be counted and is not kept; the cells hold no identifier and " +
				"survive the deletion of the records. Cells under k = 10 requests are withheld when shown.",
			Categories:  []privacy.Category{privacy.CatApp, privacy.CatLocale, privacy.CatOS},
			Purposes:    []privacy.Purpose{privacy.PurposeStatistics},
			Recipients:  []string{"Google Cloud (Firestore)"},
			Location:    []privacy.Backend{privacy.BackendEvents, privacy.BackendStore},
			Retention:   privacy.RetainTransient,
			Entrusted:   true,
			Assessments: []string{"entrusted-processing"},
		},
	}
}
