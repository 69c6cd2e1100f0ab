package ingest

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25). The ad-request activity's categories are every category of the
// policy's field table, because ingest keeps whatever the table lets the
// SDK send; cmd/veil's tests hold it to that.
func Processing() []privacy.Activity {
	return []privacy.Activity{
		{
			Name: "ad-request collection",
			Description: "Receives ad requests from the SDK, keeps only the fields the policy's table declares for the " +
				"platform and the consent in force allows (R1–R4: no location without location consent; no installed " +
				"apps, sensors or location without personalization; minors without guardian consent kept to the strict " +
				"set), stores device ids as keyed hashes with the raw values and every encrypted field sealed under the " +
				"subject's key, IP truncated (R5), and refuses to write mainland-China data to a backend abroad without " +
				"cross-border consent (R6). The records are the input of the network's automated fraud and fake-device " +
				"detection, whose decisions can be appealed to a person (R16).",
			Categories: []privacy.Category{privacy.CatDeviceID, privacy.CatDeviceInfo, privacy.CatNetwork, privacy.CatLocale,
				privacy.CatOS, privacy.CatApp, privacy.CatAppList, privacy.CatSensors, privacy.CatLocation, privacy.CatConsent},
			Purposes: []privacy.Purpose{privacy.PurposeFraud, privacy.PurposeAttribution, privacy.PurposeCreative,
				privacy.PurposeLocale, privacy.PurposeOS, privacy.PurposePersonalization},
			Recipients:         []string{"Google Cloud (Firestore), in the configured region"},
			Location:           []privacy.Backend{privacy.BackendStore, privacy.BackendKeys, privacy.BackendEvents},
			Retention:          privacy.ClassAdRequests,
			Sensitive:          true, // precise location; children's data
			AutomatedDecisions: true, // fraud and fake-device flagging downstream
			Entrusted:          true,
			TransfersAbroad:    true, // only to a backend abroad, only with cross-border consent
			Assessments:        []string{"precise-location", "automated-decision", "entrusted-processing", "cross-border-transfer"},
		},
		{
			Name: "app registry",
			Description: "Registers developers' apps: the app, its platform, the developer's contact address and its " +
				"attestation that its own policy discloses the SDK; the app key is kept only as a keyed hash.",
			Categories:  []privacy.Category{privacy.CatAccount},
			Purposes:    []privacy.Purpose{privacy.PurposeAccounts},
			Recipients:  []string{"Google Cloud (Firestore)"},
			Location:    []privacy.Backend{privacy.BackendStore},
			Retention:   privacy.RetainWhileRegistered,
			Entrusted:   true,
			Assessments: []string{"entrusted-processing"},
		},
	}
}
