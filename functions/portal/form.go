package portal

import (
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/veil-privacy/veil/privacy"
)

// requestForm is the request form as posted, kept to fill the form again
// when the API refuses it.
type requestForm struct {
	From        string // "consent" when posted from the consent page
	Type        string
	Email       string
	Details     string
	Corrections string // one "field: new value" per line
	DeliverTo   string
	Purposes    []string
}

// readForm parses a posted urlencoded form of at most formLimit bytes.
func readForm(w http.ResponseWriter, r *http.Request) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return privacy.Errorf(privacy.EINVALID, "the form must be posted as application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, formLimit)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return privacy.Errorf(privacy.ETOOLARGE, "the form is larger than %d bytes", formLimit)
		}
		return privacy.Errorf(privacy.EINVALID, "the form could not be read")
	}
	return nil
}

func requestFormOf(r *http.Request) requestForm {
	f := requestForm{From: r.PostFormValue("from"), Type: r.PostFormValue("type"),
		Email: strings.TrimSpace(r.PostFormValue("email")), Details: r.PostFormValue("details"),
		Corrections: r.PostFormValue("corrections"), DeliverTo: strings.TrimSpace(r.PostFormValue("deliver_to"))}
	for _, p := range r.PostForm["purpose"] {
		if slices.Contains(privacy.ConsentPurposes(), p) && !slices.Contains(f.Purposes, p) {
			f.Purposes = append(f.Purposes, p)
		}
	}
	return f
}

// apiBody turns the form into the body of POST /v1/requests. Fields that
// belong to another type are dropped rather than refused: without the
// script every fieldset is visible, and a person may have typed in one
// they did not need.
func (f requestForm) apiBody() (map[string]any, error) {
	typ := privacy.RequestType(f.Type)
	if !typ.Valid() {
		return nil, privacy.FieldError("type", "choose what you are asking for")
	}
	body := map[string]any{"type": f.Type, "subject": map[string]string{"email": f.Email}}
	details := strings.TrimSpace(f.Details)
	switch typ {
	case privacy.ReqCorrect:
		c, err := parseCorrections(f.Corrections)
		if err != nil {
			return nil, err
		}
		if len(c) > 0 {
			body["corrections"] = c
		}
	case privacy.ReqPortability:
		body["deliver_to"] = f.DeliverTo
	case privacy.ReqWithdrawConsent:
		if len(f.Purposes) == 0 {
			return nil, privacy.FieldError("purpose", "choose at least one consent to withdraw")
		}
		// The erasure function reads the purposes by their registry names
		// from the details (privacy.WithdrawalPurposes); the line is also
		// what a reviewer reads.
		details = strings.TrimSpace("withdraw: " + strings.Join(f.Purposes, ", ") + "\n\n" + details)
	}
	if details != "" {
		body["details"] = details
	}
	return body, nil
}

// Bounds of the corrections box, as the API's (which checks again).
const (
	maxCorrectionLines = 50
	maxCorrectionField = 64
)

// parseCorrections reads "field: new value" lines (a full-width colon, as
// a Chinese input method types it, works too). Blank lines are skipped.
func parseCorrections(s string) (map[string]string, error) {
	out := map[string]string{}
	if !utf8.ValidString(s) {
		return nil, privacy.FieldError("corrections", "must be text")
	}
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		line = strings.Replace(line, "：", ":", 1)
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || k == "":
			return nil, privacy.FieldError("corrections", "write one correction per line as “field: new value”")
		case len(k) > maxCorrectionField:
			return nil, privacy.FieldError("corrections", "a field name is at most %d bytes", maxCorrectionField)
		case strings.ContainsRune(k+v, 0):
			return nil, privacy.FieldError("corrections", "must be text")
		}
		if _, dup := out[k]; dup {
			return nil, privacy.FieldError("corrections", "%q is corrected twice", k)
		}
		out[k] = v
		if len(out) > maxCorrectionLines {
			return nil, privacy.FieldError("corrections", "at most %d corrections per request", maxCorrectionLines)
		}
	}
	return out, nil
}
