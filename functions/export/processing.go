package export

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25).
func Processing() []privacy.Activity {
	everything := []privacy.Category{privacy.CatDeviceID, privacy.CatDeviceInfo, privacy.CatNetwork, privacy.CatLocale,
		privacy.CatOS, privacy.CatApp, privacy.CatAppList, privacy.CatSensors, privacy.CatLocation, privacy.CatAccount,
		privacy.CatConsent, privacy.CatRequests, privacy.CatNotices}
	return []privacy.Activity{
		{
			Name: "copy of personal information (access, copy)",
			Description: "Gathers everything held about a verified requester (profile, consents and history, ad records " +
				"with their sealed fields decrypted under the subject's key, requests, notices, disclosures) into a ZIP " +
				"in the blob store and mails the requester (or the attesting developer) an expiring, signed link (R9). " +
				"The bundle is deleted when the link expires or when the subject is erased.",
			Categories:  everything,
			Purposes:    []privacy.Purpose{privacy.PurposeRights},
			Recipients:  []string{"the requester", "Google Cloud (Firestore)", "Amazon Web Services (S3, SES)"},
			Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendKeys, privacy.BackendBlob, privacy.BackendMail, privacy.BackendEvents},
			Retention:   privacy.ClassExports,
			Sensitive:   true,
			Entrusted:   true,
			Assessments: []string{"precise-location", "entrusted-processing"},
		},
		{
			Name: "portability to a named third party",
			Description: "Sends the same bundle to the HTTPS endpoint the requester named (R10); in production only to " +
				"public addresses, checked when the connection is made; redirects are not followed.",
			Categories:  everything,
			Purposes:    []privacy.Purpose{privacy.PurposeRights},
			Recipients:  []string{"the third party the requester names", "Google Cloud (Firestore)", "Amazon Web Services (S3)"},
			Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendKeys, privacy.BackendBlob, privacy.BackendThirdParty},
			Retention:   privacy.ClassExports,
			Sensitive:   true,
			Entrusted:   true,
			Provision:   true,
			Assessments: []string{"precise-location", "entrusted-processing", "portability-provision"},
		},
	}
}
