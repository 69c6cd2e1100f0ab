package requests

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// requestURL is the privacy center's page for a request, where the code
// can be entered and the status followed.
func (h *handler) requestURL(id string) string { return h.d.Config.PublicURL + "/requests/" + id }

// mailCode renders and sends a code mail. Its idempotency key is per
// request and send, so a retried send never mails twice and a resend
// always mails anew.
func (h *handler) mailCode(ctx context.Context, r *privacy.Request, code, template, token string) error {
	if r.Email == "" || r.Verify == nil {
		return nil
	}
	vars := h.baseVars(r)
	vars["code"] = code
	vars["verify_url"] = h.requestURL(r.ID)
	if template == "request_acknowledgement" {
		vars["status_url"] = h.requestURL(r.ID) + "?token=" + token
		vars["unclassified"], vars["devices"] = yesNo(r.Type == ""), yesNo(len(r.Devices) > 0)
	}
	n, err := h.notices.Render(template, r.Lang, vars)
	if err != nil {
		return err
	}
	return h.d.Mail.Send(ctx, &mail.Message{From: h.d.Config.MailFrom, To: []string{r.Email},
		Subject: n.Subject, Text: n.Text, Key: fmt.Sprintf("request-code/%s/%d", r.ID, r.Verify.Sends),
		Headers: map[string]string{"X-Veil-Request": r.ID}})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// normalizeCode accepts what people type: spaces or a dash in the middle,
// full-width digits from a Chinese input method.
func normalizeCode(s string) (string, bool) {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c >= '０' && c <= '９':
			b.WriteRune('0' + (c - '０'))
		case c == ' ' || c == '-' || c == '\t':
		default:
			return "", false
		}
		if b.Len() > 6 {
			return "", false
		}
	}
	if b.Len() != 6 {
		return "", false
	}
	return b.String(), true
}

func (h *handler) lockedError(r *privacy.Request) error {
	if r.Verify != nil && r.Verify.Sends > maxResends {
		return rateLimited(0, "too many wrong codes, and no more codes can be sent for this request: please submit a new request")
	}
	return rateLimited(0, "too many wrong codes: this code no longer works; ask for a new one (POST /v1/requests/%s/resend)", r.ID)
}

// verify is POST /v1/requests/{id}/verify {code}. The code alone is enough
// (see the package comment); every guess counts, expired or not.
func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code string `json:"code"`
	}
	if err := httpx.Decode(w, r, 4<<10, &body); err != nil {
		fail(w, r, err)
		return
	}
	code, ok := normalizeCode(body.Code)
	if !ok {
		fail(w, r, privacy.FieldError("code", "the code is the 6 digits in the mail we sent"))
		return
	}
	id := r.PathValue("id")
	if !requestID.MatchString(id) {
		fail(w, r, errNoRequest)
		return
	}
	now := h.d.Now().UTC()
	var outcome error
	var done *privacy.Request
	err := h.d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
		outcome, done = nil, nil
		reqs := h.d.DB.Requests.In(tx)
		req, err := reqs.Get(id)
		if privacy.IsNotFound(err) {
			return errNoRequest
		} else if err != nil {
			return err
		}
		v := req.Verify
		switch {
		case !privacy.AwaitsCode(req.Status, req.VerifiedAt):
			return privacy.Errorf(privacy.ECONFLICT, "nothing to verify: the request is %s", req.Status)
		case v == nil || v.CodeHash == "":
			return privacy.Errorf(privacy.ECONFLICT, "no code is pending for this request; ask for one (POST /v1/requests/%s/resend)", id)
		case v.Attempts >= maxAttempts:
			return h.lockedError(req)
		}
		siblings, err := h.siblings(tx, req.SubjectKey)
		if err != nil {
			return err
		}
		v.Attempts++
		match := subtle.ConstantTimeCompare([]byte(h.codeHash(id, code)), []byte(v.CodeHash)) == 1
		switch {
		case now.After(v.ExpiresAt):
			outcome = privacy.FieldError("code", "this code has expired; ask for a new one (POST /v1/requests/%s/resend)", id)
		case !match && v.Attempts >= maxAttempts:
			outcome = h.lockedError(req)
		case !match:
			outcome = privacy.FieldError("code", "wrong code; %d attempts left", maxAttempts-v.Attempts)
		default:
			v.CodeHash = ""
			from := len(req.History)
			if err := h.establish(req, actorSubject, "identity verified with the code mailed to "+req.SubjectHint, now, siblings); err != nil {
				return err
			}
			evs := changeEvents(req, from)
			if req.Email != "" {
				evs = append(evs, h.verifiedNotice(req))
			}
			if err := reqs.Put(req); err != nil {
				return err
			}
			done = req
			return h.d.Bus.PublishTx(tx, evs...)
		}
		return reqs.Put(req)
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	h.logDue(done)
	resp := map[string]any{"id": done.ID, "status": done.Status, "due_at": done.DueAt}
	if done.DuplicateOf != "" {
		resp["duplicate_of"] = done.DuplicateOf
	}
	httpx.JSON(w, http.StatusOK, resp)
}

// verifiedNotice tells the requester their request is confirmed and by
// when it will be answered (or that it repeats an open one).
func (h *handler) verifiedNotice(r *privacy.Request) events.Event {
	vars := h.baseVars(r)
	vars["status"] = string(r.Status)
	vars["duplicate_of"] = r.DuplicateOf
	vars["due_date"] = ""
	if r.DueAt != nil {
		vars["due_date"] = r.DueAt.In(h.d.Calendar.Location()).Format(time.DateOnly)
	}
	vars["status_url"] = h.requestURL(r.ID)
	return notification(r, r.Email, "request_verified", "request-verified/"+r.ID, vars)
}

// resend is POST /v1/requests/{id}/resend: a fresh code to the address on
// file (never another), at most maxResends times, resendGap apart. It needs
// no token: it can only mail the owner, and only a few times.
func (h *handler) resend(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !requestID.MatchString(id) {
		fail(w, r, errNoRequest)
		return
	}
	code, err := newCode()
	if err != nil {
		fail(w, r, err)
		return
	}
	now := h.d.Now().UTC()
	var req *privacy.Request
	err = h.d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
		reqs := h.d.DB.Requests.In(tx)
		var err error
		req, err = reqs.Get(id)
		if privacy.IsNotFound(err) {
			return errNoRequest
		} else if err != nil {
			return err
		}
		v := req.Verify
		switch {
		case !privacy.AwaitsCode(req.Status, req.VerifiedAt):
			return privacy.Errorf(privacy.ECONFLICT, "nothing to verify: the request is %s", req.Status)
		case req.Email == "":
			return privacy.Errorf(privacy.ECONFLICT, "this request is verified by its app's developer, not by code")
		case v != nil && v.Sends > maxResends:
			return rateLimited(0, "no more codes can be sent for this request; please submit a new request")
		case v != nil && now.Sub(v.SentAt) < resendGap:
			return rateLimited(resendGap-now.Sub(v.SentAt), "a code was sent less than a minute ago; check your mailbox (and its spam folder) first")
		}
		h.issueCode(req, code, now)
		req.UpdatedAt = now
		return reqs.Put(req)
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	if err := h.mailCode(r.Context(), req, code, "verification_code", ""); err != nil {
		// The code is stored; unlike at intake there is nothing to hand
		// back, so the caller should know to try again.
		h.d.Log.Error().Err(err).Str("request_id", id).Msg("verification code not sent")
		fail(w, r, privacy.Errorf(privacy.EUNAVAILABLE, "the mail could not be sent; try again in a minute"))
		return
	}
	httpx.JSON(w, http.StatusAccepted, map[string]any{"id": req.ID, "status": req.Status, "resends_left": maxResends - (req.Verify.Sends - 1)})
}
