package requests

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/mailin"
	"github.com/veil-privacy/veil/privacy"
)

// inboundEmail is POST /v1/inbound-email: the privacy mailbox's webhook
// posts each raw message (R18). The sender is the account the request is
// about, and proves it with the code in our acknowledgement; a mail whose
// intent is unclear is filed for review, never dropped.
func (h *handler) inboundEmail(w http.ResponseWriter, r *http.Request) {
	tok := httpx.Bearer(r)
	if !httpx.Equal(tok, h.d.Config.OpsToken) && !httpx.Equal(tok, h.d.Config.InboundToken) {
		fail(w, r, privacy.Errorf(privacy.EUNAUTHORIZED, "this endpoint needs the inbound mail token (VEIL_INBOUND_TOKEN) or the ops token"))
		return
	}
	if r.ContentLength > mailin.MaxMessageBytes {
		fail(w, r, privacy.Errorf(privacy.ETOOLARGE, "messages over %d bytes are not accepted", mailin.MaxMessageBytes))
		return
	}
	m, err := mailin.Parse(http.MaxBytesReader(w, r.Body, mailin.MaxMessageBytes))
	if err != nil {
		fail(w, r, parseError(err))
		return
	}
	in, err := h.mailIntake(r.Context(), m)
	if err != nil {
		fail(w, r, err)
		return
	}
	f, err := h.create(r.Context(), in)
	if err != nil {
		fail(w, r, err)
		return
	}
	if !f.Repeat {
		h.sendCode(r.Context(), f.Request, f.Code, "request_acknowledgement", f.Token)
	}
	httpx.JSON(w, http.StatusAccepted, map[string]any{"request_id": f.Request.ID, "status": f.Request.Status})
}

func parseError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, mailin.ErrTooLarge), errors.As(err, &mbe):
		return privacy.Errorf(privacy.ETOOLARGE, "messages over %d bytes are not accepted", mailin.MaxMessageBytes)
	case errors.Is(err, mailin.ErrMalformed):
		// mailin's text says what is wrong and quotes at most a header.
		return privacy.Errorf(privacy.EINVALID, "%s", strings.TrimPrefix(err.Error(), "mailin: "))
	}
	return privacy.Errorf(privacy.EINVALID, "the message could not be read")
}

// mailIntake turns a parsed mail into an intake.
func (h *handler) mailIntake(ctx context.Context, m *mailin.Message) (intake, error) {
	subject, err := privacy.AccountSubject(m.From)
	if err != nil {
		return intake{}, privacy.Errorf(privacy.EINVALID, "the sender's address cannot be replied to")
	}
	if strings.EqualFold(subject.Value, h.d.Config.MailFrom) || strings.EqualFold(subject.Value, h.d.Config.PrivacyTeam) {
		// Our own mail coming back (a bounce, a forward rule): filing it
		// would acknowledge ourselves in a loop.
		return intake{}, privacy.Errorf(privacy.EINVALID, "mail from Veil's own address is not a request")
	}
	typ := privacy.RequestType(m.Intent)
	if !typ.Valid() {
		typ = ""
	}
	in := intake{Type: typ, Subject: subject, Channel: "email", Email: subject.Value,
		Senders: []sender{{"email", subject.Value}}, MessageID: m.MessageID}
	devices := mailDevices(m.Devices)
	var raw []string
	for _, s := range devices {
		key, err := ingest.ResolveSubjectKey(ctx, h.d.DB, h.d.Keys, s)
		if err != nil {
			return intake{}, err
		}
		raw = append(raw, s.Value)
		in.Devices = append(in.Devices, privacy.DeviceRef{SubjectKey: key, Hint: s.Hint()})
	}
	in.Details = mailText(m.Subject, m.Text, raw)
	return in, nil
}

// mailDevices keeps the device subjects mailin found that name a device.
func mailDevices(found []string) []privacy.Subject {
	var out []privacy.Subject
	for _, d := range found {
		if s, err := privacy.ParseSubject(d); err == nil && s.IsDevice() {
			out = append(out, s)
		}
	}
	return out
}

// mailText is what the reviewer reads of a mail: subject and body,
// NFKC-folded as mailin reads them (so a full-width id is recognised as the
// id it is), device ids masked, bounded. The first cut leaves room so that
// no id straddles the final one half-masked.
func mailText(subject, body string, ids []string) string {
	t := norm.NFKC.String(truncate(subject+"\n\n"+body, 4*maxDetails))
	return truncate(strings.TrimSpace(maskIDs(t, ids)), maxDetails)
}

// maskIDs hides the device ids named in a mail, so the text kept for the
// reviewer holds no raw identifier (they are kept only as keyed hashes).
func maskIDs(text string, ids []string) string {
	for _, id := range ids {
		// Ids are normalised ("35 209900 176148 1" becomes one run of
		// digits), so the pattern lets separators sit between characters.
		parts := make([]string, 0, len(id))
		for _, c := range id {
			parts = append(parts, regexp.QuoteMeta(string(c)))
		}
		re, err := regexp.Compile(`(?i)` + strings.Join(parts, `[\s-]?`))
		if err != nil {
			continue
		}
		// The mask has no letter or digit, so it cannot spell an id itself.
		text = re.ReplaceAllString(text, "[***]")
	}
	return text
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
