package requests

import (
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/privacy"
)

// submission is the body of POST /v1/requests (SPEC §5).
type submission struct {
	Type    string `json:"type"`
	Subject struct {
		Email  string `json:"email"`
		Device string `json:"device"`
	} `json:"subject"`
	Details     string            `json:"details"`
	Corrections map[string]string `json:"corrections"`
	DeliverTo   string            `json:"deliver_to"`
}

// Bounds on what a person can submit; generous for real requests.
const (
	maxCorrections     = 50
	maxCorrectionKey   = 64
	maxCorrectionValue = 1000
	maxURL             = 2048
)

// parsed is a validated submission.
type parsed struct {
	Type        privacy.RequestType
	Subject     privacy.Subject
	Details     string
	Corrections map[string]string
	DeliverTo   string
}

// parseSubmission decodes and validates a body. production refuses plain
// http for a portability endpoint (fulfilment checks the address again
// before sending anything).
func parseSubmission(body []byte, production bool) (*parsed, error) {
	var s submission
	if err := httpx.DecodeBytes(body, &s); err != nil {
		return nil, err
	}
	p := &parsed{Type: privacy.RequestType(s.Type)}
	if !p.Type.Valid() {
		return nil, privacy.FieldError("type", "type must be one of %v", privacy.RequestTypes())
	}
	email, device := strings.TrimSpace(s.Subject.Email), strings.TrimSpace(s.Subject.Device)
	var err error
	switch {
	case email != "" && device != "":
		return nil, privacy.FieldError("subject", "name either an email or a device, not both")
	case email != "":
		p.Subject, err = privacy.AccountSubject(email)
	case device != "":
		p.Subject, err = privacy.ParseSubject(device)
		if err == nil && !p.Subject.IsDevice() {
			err = privacy.FieldError("subject.device", `a device is named "device:<id type>:<id>", e.g. device:oaid:…`)
		}
		if err != nil {
			err = privacy.FieldError("subject.device", "%s", privacy.ErrorMessage(err))
		}
	default:
		return nil, privacy.FieldError("subject", "name the subject: subject.email for an account, subject.device for an app's end user")
	}
	if err != nil {
		return nil, err
	}
	if p.Details, err = text("details", s.Details, maxDetails); err != nil {
		return nil, err
	}
	if len(s.Corrections) > 0 && p.Type != privacy.ReqCorrect {
		return nil, privacy.FieldError("corrections", "corrections belong to a request of type correct")
	}
	if p.Type == privacy.ReqCorrect {
		if len(s.Corrections) == 0 && p.Details == "" {
			return nil, privacy.FieldError("corrections", "say what to correct: corrections {field: new value} or details")
		}
		if len(s.Corrections) > maxCorrections {
			return nil, privacy.FieldError("corrections", "at most %d corrections per request", maxCorrections)
		}
		for k, v := range s.Corrections {
			if k == "" || len(k) > maxCorrectionKey || !utf8.ValidString(k) || strings.ContainsAny(k, "\r\n") {
				return nil, privacy.FieldError("corrections", "a corrected field's name must be 1–%d characters on one line", maxCorrectionKey)
			}
			if _, err := text("corrections."+k, v, maxCorrectionValue); err != nil {
				return nil, err
			}
		}
		p.Corrections = s.Corrections
	}
	if s.DeliverTo != "" && p.Type != privacy.ReqPortability {
		return nil, privacy.FieldError("deliver_to", "deliver_to belongs to a request of type portability")
	}
	if p.Type == privacy.ReqPortability {
		if p.DeliverTo, err = endpoint(s.DeliverTo, production); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// text checks free text: valid UTF-8, no NUL, bounded.
func text(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case len(s) > max:
		return "", privacy.FieldError(field, "at most %d bytes", max)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return "", privacy.FieldError(field, "must be UTF-8 text")
	}
	return s, nil
}

// endpoint validates the third party a copy is sent to (R10).
func endpoint(raw string, production bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", privacy.FieldError("deliver_to", "portability needs the HTTPS endpoint to send the copy to")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || len(raw) > maxURL || u.Host == "" || u.User != nil || u.Opaque != "":
		return "", privacy.FieldError("deliver_to", "must be an absolute https URL without credentials")
	case u.Scheme == "https", u.Scheme == "http" && !production:
		// An address literal is judged now, so a request that could only
		// ever be refused is not filed; names are judged when export dials
		// them (after DNS, so rebinding cannot slip past).
		if ip, err := netip.ParseAddr(u.Hostname()); production && err == nil && !privacy.PublicAddr(ip) {
			return "", privacy.FieldError("deliver_to", "must be a public address: private, loopback and link-local addresses are refused")
		}
		return u.String(), nil
	}
	return "", privacy.FieldError("deliver_to", "must be an https URL")
}
