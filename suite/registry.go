package suite

import (
	"crypto/hmac"
	"crypto/sha256"
	"sort"

	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/audit"
	"github.com/veil-privacy/veil/functions/consent"
	"github.com/veil-privacy/veil/functions/deadlines"
	"github.com/veil-privacy/veil/functions/erasure"
	"github.com/veil-privacy/veil/functions/export"
	"github.com/veil-privacy/veil/functions/incidents"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/functions/notify"
	"github.com/veil-privacy/veil/functions/partners"
	"github.com/veil-privacy/veil/functions/policies"
	"github.com/veil-privacy/veil/functions/portal"
	"github.com/veil-privacy/veil/functions/requests"
	"github.com/veil-privacy/veil/functions/retention"
)

// Registry maps each function name (VEIL_FUNCTIONS, the Knative Service
// names) to its constructor. Adding a function means adding it here.
func Registry() map[string]functions.Constructor {
	return map[string]functions.Constructor{
		consent.Name:   consent.New,
		ingest.Name:    ingest.New,
		incidents.Name: incidents.New,
		notify.Name:    notify.New,
		policies.Name:  policies.New,
		requests.Name:  requests.New,
		deadlines.Name: deadlines.New,
		retention.Name: retention.New,
		audit.Name:     audit.New,
		partners.Name:  partners.New,
		portal.Name:    portal.New,
		export.Name:    export.New,
		erasure.Name:   erasure.New,
	}
}

// Names lists the registered functions in a stable order.
func Names() []string {
	var out []string
	for n := range Registry() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// derive gives a purpose-bound key from the master key.
func derive(master []byte, label string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("veil/" + label))
	return m.Sum(nil)
}
