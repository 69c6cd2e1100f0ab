package requests

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/notices"
	"github.com/veil-privacy/veil/privacy"
)

// intake is a new request from any channel, ready to file.
type intake struct {
	Type        privacy.RequestType // "" for a mail whose intent is unclear
	Subject     privacy.Subject
	Channel     string // web, api, email
	Email       string // where codes and answers go; "" for attested devices
	AppID       string // the attesting developer's app
	Details     string
	Corrections map[string]string
	DeliverTo   string
	Lang        string
	Devices     []privacy.DeviceRef
	Senders     []sender
	MessageID   string // inbound mail, for deduplication
}

// filed is what create returns: the request, and the secrets that only
// exist until they are handed out (token in the answer or the mail, code in
// the mail).
type filed struct {
	Request *privacy.Request
	Token   string
	Code    string // "" when no code was issued (attested requests)
	Repeat  bool   // the same mail was filed before; nothing new was made
}

// create files a request in one transaction: sender limits, the request,
// its events, and for attested requests the duplicate check.
func (h *handler) create(ctx context.Context, in intake) (*filed, error) {
	now := h.d.Now().UTC()
	token, tokenHash, err := h.newToken()
	if err != nil {
		return nil, err
	}
	attested := in.AppID != ""
	var code string
	if !attested {
		if code, err = newCode(); err != nil {
			return nil, err
		}
	}
	id := uuid.NewString()
	// A device is filed under the key its ad records are, whichever of its
	// ids the request names, so duplicates and fulfilment find each other.
	subjectKey, err := ingest.ResolveSubjectKey(ctx, h.d.DB, h.d.Keys, in.Subject)
	if err != nil {
		return nil, err
	}
	msgKey := ""
	if in.MessageID != "" {
		msgKey = h.d.Keys.Hash("inbound-message-id:" + in.MessageID)
	}
	var out *filed
	err = h.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		out = nil
		// Reads first (the store's rule).
		if msgKey != "" {
			seen, err := h.inbound.In(tx).Get(msgKey)
			if err == nil {
				out = &filed{Request: &privacy.Request{ID: seen.RequestID}, Repeat: true}
				return nil
			} else if !privacy.IsNotFound(err) {
				return err
			}
		}
		counters, err := h.countSenders(tx, in.Senders, now)
		if err != nil {
			return err
		}
		var siblings []*privacy.Request
		if attested {
			if siblings, err = h.siblings(tx, subjectKey); err != nil {
				return err
			}
		}
		r := &privacy.Request{ID: id, Type: in.Type, Channel: in.Channel, SubjectKey: subjectKey,
			SubjectHint: in.Subject.Hint(), Email: in.Email, AppID: in.AppID, TokenHash: tokenHash,
			Details: in.Details, Corrections: in.Corrections, DeliverTo: in.DeliverTo, Lang: in.Lang,
			Devices: in.Devices, CreatedAt: now, UpdatedAt: now, History: []privacy.Transition{}}
		switch {
		case attested:
			err = h.establish(r, "app:"+in.AppID, "attested by the app's developer", now, siblings)
		case in.Type == "":
			h.issueCode(r, code, now)
			err = r.Move(privacy.StatusNeedsReview, actorSystem, "the mail's intent is unclear: a person classifies it; the sender's identity is not yet verified", now)
		default:
			h.issueCode(r, code, now)
			err = r.Move(privacy.StatusUnverified, actorSystem, "received by "+in.Channel+"; a code was mailed to "+in.Subject.Hint(), now)
		}
		if err != nil {
			return err
		}
		// Writes.
		for _, c := range counters {
			if err := h.limits.In(tx).Put(c); err != nil {
				return err
			}
		}
		if err := h.d.DB.Requests.In(tx).Create(r); err != nil {
			return err
		}
		if msgKey != "" {
			if err := h.inbound.In(tx).Create(&inboundMail{ID: msgKey, RequestID: r.ID, At: now}); err != nil {
				return err
			}
		}
		received := requestData(r)
		evs := append([]events.Event{events.Must(events.RequestReceived, r.ID, received)}, changeEvents(r, 0)...)
		if err := h.d.Bus.PublishTx(tx, evs...); err != nil {
			return err
		}
		out = &filed{Request: r, Token: token, Code: code}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.Repeat {
		out.Request, err = h.d.DB.Requests.Get(ctx, out.Request.ID)
		return out, err
	}
	h.logDue(out.Request)
	return out, nil
}

// siblings reads the subject's recent requests inside tx. A subject with
// more than a page of requests is already far beyond the rate limits; the
// newest page holds every open one.
func (h *handler) siblings(tx store.Tx, subjectKey string) ([]*privacy.Request, error) {
	return h.d.DB.Requests.In(tx).Find(store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, subjectKey)},
		OrderBy: "created", Desc: true, Limit: store.MaxLimit})
}

// logDue makes a missing due date loud (see setDue).
func (h *handler) logDue(r *privacy.Request) {
	if r.DueError != "" {
		h.d.Log.Error().Str("request_id", r.ID).Str("type", string(r.Type)).Str("error", r.DueError).
			Msg("verified request has no due date: the holiday calendar lacks data; update github.com/6tail/lunar-go")
	}
}

// submit is POST /v1/requests.
func (h *handler) submit(w http.ResponseWriter, r *http.Request) {
	body, err := readJSON(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	p, err := parseSubmission(body, h.d.Config.Production)
	if err != nil {
		fail(w, r, err)
		return
	}
	in := intake{Type: p.Type, Subject: p.Subject, Channel: "web", Details: p.Details,
		Corrections: p.Corrections, DeliverTo: p.DeliverTo}
	if al := r.Header.Get("Accept-Language"); al != "" {
		in.Lang = notices.Lang(al)
	}
	key := r.Header.Get("X-Veil-App-Key")
	switch {
	case key != "":
		app, err := ingest.AppByKey(r.Context(), h.d.DB, h.d.Keys, key)
		if err != nil {
			fail(w, r, err)
			return
		}
		if !p.Subject.IsDevice() {
			fail(w, r, privacy.FieldError("subject.email", "a developer attests only for its app's end users (subject.device); account holders verify by email themselves, without an app key"))
			return
		}
		in.Channel, in.AppID = "api", app.ID
		in.Senders = []sender{{"app", app.ID}}
	case p.Subject.IsDevice():
		fail(w, r, privacy.FieldError("subject.device", "a device cannot receive a code, so device requests are made by the app's developer on the user's behalf (with the app's X-Veil-App-Key); account holders send subject.email instead"))
		return
	default:
		in.Email = p.Subject.Value
		in.Senders = []sender{{"email", p.Subject.Value}, {"ip", clientIP(r)}}
	}
	f, err := h.create(r.Context(), in)
	if err != nil {
		fail(w, r, err)
		return
	}
	if f.Code != "" {
		h.sendCode(r.Context(), f.Request, f.Code, "verification_code", f.Token)
	}
	resp := map[string]any{"id": f.Request.ID, "status": f.Request.Status, "token": f.Token}
	if f.Request.DuplicateOf != "" {
		resp["duplicate_of"] = f.Request.DuplicateOf
	}
	httpx.JSON(w, http.StatusAccepted, resp)
}

// readJSON reads a bounded body the way httpx.Decode does, so that the
// parser can be fuzzed on bytes.
func readJSON(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, privacy.Errorf(privacy.EINVALID, "body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, bodyLimit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, privacy.Errorf(privacy.ETOOLARGE, "body larger than %d bytes", bodyLimit)
	} else if err != nil {
		return nil, privacy.Errorf(privacy.EINVALID, "could not read body")
	}
	return body, nil
}

// sendCode mails a code directly (it must never travel on the bus). A
// failed send is logged, not returned: the request exists and its token has
// to reach the caller; the requester can ask for a resend.
func (h *handler) sendCode(ctx context.Context, r *privacy.Request, code, template, token string) {
	if err := h.mailCode(ctx, r, code, template, token); err != nil {
		h.d.Log.Error().Err(err).Str("request_id", r.ID).Msg("verification code not sent; the requester can ask for a resend")
	}
}
