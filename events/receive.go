package events

import (
	"io"
	"net/http"
	"strings"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/veil-privacy/veil/privacy"
)

// MaxEventBytes bounds an incoming CloudEvent (envelope and data).
const MaxEventBytes = 256 << 10

// IsCloudEvent reports whether an HTTP request carries a CloudEvent, in
// binary mode (ce-* headers) or structured mode (application/cloudevents+json).
func IsCloudEvent(r *http.Request) bool {
	return r.Header.Get("Ce-Specversion") != "" ||
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents+json")
}

// FromHTTP reads a CloudEvent from a request, within MaxEventBytes. Errors
// are domain errors: ETOOLARGE or EINVALID.
func FromHTTP(w http.ResponseWriter, r *http.Request) (*Event, error) {
	if r.ContentLength > MaxEventBytes {
		return nil, privacy.Errorf(privacy.ETOOLARGE, "event larger than %d bytes", MaxEventBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEventBytes))
	if err != nil {
		return nil, privacy.Errorf(privacy.ETOOLARGE, "event larger than %d bytes", MaxEventBytes)
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(strings.NewReader(string(body)))
	e, err := cehttp.NewEventFromHTTPRequest(r2)
	if err != nil {
		return nil, privacy.Errorf(privacy.EINVALID, "not a valid CloudEvent: %v", err)
	}
	return e, nil
}
