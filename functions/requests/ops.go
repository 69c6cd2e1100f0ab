package requests

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// View is what the requester sees (SPEC §5 GET /v1/requests/{id}); the
// privacy center decodes it too.
type View struct {
	ID          string                `json:"id"`
	Type        privacy.RequestType   `json:"type"`
	Channel     string                `json:"channel"`
	Status      privacy.Status        `json:"status"`
	DueAt       *time.Time            `json:"due_at"`
	History     []privacy.Transition  `json:"history"`
	DownloadURL string                `json:"download_url,omitempty"`
	DuplicateOf string                `json:"duplicate_of,omitempty"`
	Refusal     privacy.RefusalReason `json:"refusal,omitempty"`
	Answer      string                `json:"answer,omitempty"`
	Result      string                `json:"result,omitempty"`
	CreatedAt   time.Time             `json:"created_at"`
	VerifiedAt  *time.Time            `json:"verified_at,omitempty"`
	ClosedAt    *time.Time            `json:"closed_at,omitempty"`
}

// OpsView adds what reviewers need; still no raw identifiers (hints only).
// It is what GET /v1/requests answers ops with, and what `veil requests`
// decodes.
type OpsView struct {
	View
	SubjectHint string            `json:"subject_hint"`
	Email       string            `json:"email,omitempty"`
	AppID       string            `json:"app_id,omitempty"`
	Devices     []string          `json:"devices,omitempty"`
	Details     string            `json:"details,omitempty"`
	Corrections map[string]string `json:"corrections,omitempty"`
	DeliverTo   string            `json:"deliver_to,omitempty"`
	DueError    string            `json:"due_error,omitempty"`
	Reminded    bool              `json:"reminded,omitempty"`
	Escalated   bool              `json:"escalated,omitempty"`
	Verify      *Verification     `json:"verification,omitempty"`
}

// Verification is where an unverified request's code stands.
type Verification struct {
	Attempts  int       `json:"attempts"`
	Sends     int       `json:"sends"`
	ExpiresAt time.Time `json:"expires_at"`
	Locked    bool      `json:"locked"`
}

func newView(r *privacy.Request) View {
	return View{ID: r.ID, Type: r.Type, Channel: r.Channel, Status: r.Status, DueAt: r.DueAt, History: r.History,
		DownloadURL: r.DownloadURL, DuplicateOf: r.DuplicateOf, Refusal: r.Refusal, Answer: r.Answer, Result: r.Result,
		CreatedAt: r.CreatedAt, VerifiedAt: r.VerifiedAt, ClosedAt: r.ClosedAt}
}

func newOpsView(r *privacy.Request) OpsView {
	v := OpsView{View: newView(r), SubjectHint: r.SubjectHint, Email: r.Email, AppID: r.AppID, Details: r.Details,
		Corrections: r.Corrections, DeliverTo: r.DeliverTo, DueError: r.DueError, Reminded: r.Reminded, Escalated: r.Escalated}
	for _, d := range r.Devices {
		v.Devices = append(v.Devices, d.Hint)
	}
	if r.Verify != nil && r.VerifiedAt == nil {
		v.Verify = &Verification{Attempts: r.Verify.Attempts, Sends: r.Verify.Sends,
			ExpiresAt: r.Verify.ExpiresAt, Locked: r.Verify.Attempts >= maxAttempts}
	}
	return v
}

// get is GET /v1/requests/{id}: with the request's token (query or
// X-Veil-Request-Token) or the ops token; anything else is 404.
func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	req, err := h.load(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	if httpx.IsOps(h.d.Config.OpsToken, r) {
		httpx.JSON(w, http.StatusOK, newOpsView(req))
		return
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		token = r.Header.Get("X-Veil-Request-Token")
	}
	if !h.tokenMatches(req, token) {
		fail(w, r, errNoRequest)
		return
	}
	httpx.JSON(w, http.StatusOK, newView(req))
}

var errStop = errors.New("page full")

// list is GET /v1/requests?status=&type=&limit=&after= (ops), newest
// first. next, when present, is the after= of the following page.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	status, typ := privacy.Status(qs.Get("status")), privacy.RequestType(qs.Get("type"))
	if status != "" && !knownStatus(status) {
		fail(w, r, privacy.FieldError("status", "unknown status %q", status))
		return
	}
	if typ != "" && !typ.Valid() {
		fail(w, r, privacy.FieldError("type", "type must be one of %v", privacy.RequestTypes()))
		return
	}
	limit := defaultListed
	if s := qs.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			fail(w, r, privacy.FieldError("limit", "limit is 1 to %d", maxListLimit))
			return
		}
		limit = n
	}
	q := store.Query{OrderBy: "created", Desc: true, Limit: limit}
	switch {
	case status != "":
		q.Filters = []store.Filter{store.Where("status", store.EQ, string(status))}
	case typ != "":
		q.Filters = []store.Filter{store.Where("type", store.EQ, string(typ))}
	}
	if after := qs.Get("after"); after != "" {
		if !requestID.MatchString(after) {
			fail(w, r, privacy.FieldError("after", "after is the next value of a previous page"))
			return
		}
		doc, err := h.d.DB.Backend.Get(r.Context(), store.RequestsCollection.Name, after)
		if err != nil {
			fail(w, r, privacy.FieldError("after", "after is the next value of a previous page"))
			return
		}
		q.After = doc
	}
	out := []OpsView{}
	last := ""
	// Status and type together have no composite index: the status query
	// is filtered by type here, reading on until the page is full.
	err := h.d.DB.Requests.Each(r.Context(), q, func(req *privacy.Request) error {
		last = req.ID
		if typ != "" && req.Type != typ {
			return nil
		}
		out = append(out, newOpsView(req))
		if len(out) == limit {
			return errStop
		}
		return nil
	})
	resp := map[string]any{"requests": out}
	switch {
	case errors.Is(err, errStop):
		resp["next"] = last
	case err != nil:
		fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, resp)
}

func knownStatus(s privacy.Status) bool {
	switch s {
	case privacy.StatusUnverified, privacy.StatusVerified, privacy.StatusInProgress, privacy.StatusNeedsReview,
		privacy.StatusCompleted, privacy.StatusRefused, privacy.StatusDuplicate:
		return true
	}
	return false
}

// change runs one ops action on a request in a transaction: fn changes it
// (reads in fn are not allowed: the contact is read first) and returns the
// extra events; the changes' own events are added here.
func (h *handler) change(w http.ResponseWriter, r *http.Request, fn func(req *privacy.Request, contact string, now time.Time) ([]events.Event, error)) {
	id := r.PathValue("id")
	if !requestID.MatchString(id) {
		fail(w, r, errNoRequest)
		return
	}
	now := h.d.Now().UTC()
	var out *privacy.Request
	err := h.d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
		reqs := h.d.DB.Requests.In(tx)
		req, err := reqs.Get(id)
		if privacy.IsNotFound(err) {
			return errNoRequest
		} else if err != nil {
			return err
		}
		contact, err := h.contact(tx, req)
		if err != nil {
			return err
		}
		from := len(req.History)
		extra, err := fn(req, contact, now)
		if err != nil {
			return err
		}
		if err := reqs.Put(req); err != nil {
			return err
		}
		out = req
		return h.d.Bus.PublishTx(tx, append(changeEvents(req, from), extra...)...)
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	h.logDue(out)
	httpx.JSON(w, http.StatusOK, newOpsView(out))
}

// contact is where outcomes are mailed: the requester's verified address,
// or for an attested device request the developer who filed it. An
// unverified address gets nothing: it may not be the requester's.
func (h *handler) contact(tx store.Tx, r *privacy.Request) (string, error) {
	switch {
	case r.VerifiedAt == nil:
		return "", nil
	case r.Email != "":
		return r.Email, nil
	case r.AppID != "":
		app, err := h.d.DB.Apps.In(tx).Get(r.AppID)
		if privacy.IsNotFound(err) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return app.DeveloperEmail, nil
	}
	return "", nil
}

// refuse is POST /v1/requests/{id}/refuse {reason, note} (ops): only for
// one of the policy's reasons (R19).
func (h *handler) refuse(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
		Note   string `json:"note"`
	}
	if err := httpx.Decode(w, r, bodyLimit, &body); err != nil {
		fail(w, r, err)
		return
	}
	note, err := text("note", body.Note, maxDetails)
	if err != nil {
		fail(w, r, err)
		return
	}
	actor := opsActor(r)
	h.change(w, r, func(req *privacy.Request, contact string, now time.Time) ([]events.Event, error) {
		if err := req.Move(privacy.StatusRefused, actor, body.Reason, now); err != nil {
			return nil, err
		}
		req.Result = note
		if contact == "" {
			return nil, nil
		}
		names := refusalNames[req.Refusal]
		vars := h.baseVars(req)
		vars["reason"], vars["reason_zh"], vars["note"] = names[1], names[0], note
		return []events.Event{notification(req, contact, "request_refused", "request-refused/"+req.ID, vars)}, nil
	})
}

// answer is POST /v1/requests/{id}/answer {answer} (ops): a complaint or
// appeal is answered, completed, and the answer mailed to the requester.
func (h *handler) answer(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Answer string `json:"answer"`
	}
	if err := httpx.Decode(w, r, bodyLimit, &body); err != nil {
		fail(w, r, err)
		return
	}
	ans, err := text("answer", body.Answer, maxDetails)
	if err == nil && ans == "" {
		err = privacy.FieldError("answer", "the answer is empty")
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	actor := opsActor(r)
	h.change(w, r, func(req *privacy.Request, contact string, now time.Time) ([]events.Event, error) {
		switch {
		case !req.Type.Reviewed():
			return nil, privacy.Errorf(privacy.ECONFLICT, "only complaints and appeals are answered; a %q request is fulfilled", req.Type)
		case req.VerifiedAt == nil:
			return nil, privacy.Errorf(privacy.ECONFLICT, "the requester's identity is not verified yet; an answer could reach someone else")
		}
		if err := req.Move(privacy.StatusCompleted, actor, "answered", now); err != nil {
			return nil, err
		}
		req.Answer = ans
		if contact == "" {
			return nil, nil
		}
		vars := h.baseVars(req)
		vars["answer"] = ans
		return []events.Event{notification(req, contact, "request_answered", "request-answered/"+req.ID, vars)}, nil
	})
}

// approve is POST /v1/requests/{id}/approve {type?} (ops) for a request in
// review: it sets the type of an unclear mail, then sends the request on —
// back to identity verification if its sender has not proved their address
// (review never skips R17), to in_progress for a complaint or appeal being
// worked on, otherwise to verified, which starts fulfilment.
func (h *handler) approve(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Type string `json:"type"`
	}
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, 4<<10, &body); err != nil {
			fail(w, r, err)
			return
		}
	}
	typ := privacy.RequestType(body.Type)
	if typ != "" && !typ.Valid() {
		fail(w, r, privacy.FieldError("type", "type must be one of %v", privacy.RequestTypes()))
		return
	}
	actor := opsActor(r)
	h.change(w, r, func(req *privacy.Request, _ string, now time.Time) ([]events.Event, error) {
		if req.Status != privacy.StatusNeedsReview {
			return nil, privacy.Errorf(privacy.ECONFLICT, "only a request in review is approved; this one is %s", req.Status)
		}
		reason := "approved after review"
		if typ != "" && typ != req.Type {
			reason = "classified as " + string(typ) + " and approved"
			req.Type = typ
		}
		switch {
		case req.Type == "":
			return nil, privacy.FieldError("type", "this mail was not classified: approve it with its type")
		case req.VerifiedAt == nil:
			return nil, req.Move(privacy.StatusUnverified, actor, reason+"; the sender's identity is still to be verified", now)
		case req.Type.Reviewed():
			h.setDue(req)
			return nil, req.Move(privacy.StatusInProgress, actor, reason, now)
		}
		h.setDue(req)
		return nil, req.Move(privacy.StatusVerified, actor, reason, now)
	})
}
