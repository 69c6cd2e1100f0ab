package erasure

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25).
func Processing() []privacy.Activity {
	everything := []privacy.Category{privacy.CatDeviceID, privacy.CatDeviceInfo, privacy.CatNetwork, privacy.CatLocale,
		privacy.CatOS, privacy.CatApp, privacy.CatAppList, privacy.CatSensors, privacy.CatLocation, privacy.CatAccount,
		privacy.CatConsent, privacy.CatRequests, privacy.CatNotices}
	return []privacy.Activity{
		{
			Name: "deletion and account cancellation",
			Description: "Deletes every document of a verified requester's subject, destroys its data keys " +
				"(crypto-shredding), keeps requests and notice records as evidence without personal fields, " +
				"asks every recipient of disclosed data to delete it and tracks the acknowledgement, appends " +
				"a one-way hash of the subject to the erasure ledger replayed after restores, and for a " +
				"cancellation revokes the account's apps (R12, R14). Data under a legal hold is isolated " +
				"instead and deleted when the hold is lifted.",
			Categories:  everything,
			Purposes:    []privacy.Purpose{privacy.PurposeRights, privacy.PurposeCompliance},
			Recipients:  []string{"recipients of disclosed data (erasure requests: pseudonym only)", "Google Cloud (Firestore)", "Amazon Web Services (S3, SES)"},
			Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendKeys, privacy.BackendBlob, privacy.BackendMail, privacy.BackendEvents, privacy.BackendPartner},
			Retention:   privacy.ClassRequests,
			Sensitive:   true,
			Entrusted:   true,
			Provision:   true,
			Assessments: []string{"precise-location", "entrusted-processing", "partner-provision"},
		},
		{
			Name: "correction and consent withdrawal",
			Description: "Applies corrections to account profiles (real-name-verified fields after review) and " +
				"records consent withdrawals, removing from kept ad records the fields held only for the " +
				"withdrawn purposes and re-sealing the rest under the subject's key (R11, R13).",
			Categories:  []privacy.Category{privacy.CatAccount, privacy.CatConsent, privacy.CatAppList, privacy.CatSensors, privacy.CatLocation},
			Purposes:    []privacy.Purpose{privacy.PurposeRights, privacy.PurposeConsentRecords, privacy.PurposeAccounts},
			Recipients:  []string{"Google Cloud (Firestore)", "Amazon Web Services (SES)"},
			Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendKeys, privacy.BackendMail, privacy.BackendEvents},
			Retention:   privacy.ClassConsents,
			Sensitive:   true,
			Entrusted:   true,
			Assessments: []string{"precise-location", "entrusted-processing"},
		},
	}
}
