package deadlines

import "github.com/veil-privacy/veil/privacy"

// Processing is what the function declares for the records of processing
// (R25).
func Processing() []privacy.Activity {
	return []privacy.Activity{{
		Name: "request deadlines",
		Description: "Reads open rights requests on a schedule, warns the privacy team before a due date and " +
			"escalates overdue or undatable requests (R9, R15); prunes the requests function's bookkeeping.",
		Categories:  []privacy.Category{privacy.CatAccount, privacy.CatRequests, privacy.CatNotices},
		Purposes:    []privacy.Purpose{privacy.PurposeRights, privacy.PurposeNotices},
		Recipients:  []string{"Google Cloud (Firestore)"},
		Location:    []privacy.Backend{privacy.BackendStore, privacy.BackendEvents},
		Retention:   privacy.ClassRequests,
		Entrusted:   true,
		Assessments: []string{"entrusted-processing"},
	}}
}
