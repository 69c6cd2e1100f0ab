// Package fulfil is what the export and erasure functions share: moving a
// verified request through in_progress to completed (or needs_review) with
// its events in the same transaction, mailing the requester through notify,
// escalating a fulfilment whose event dead-lettered, and the collections
// both use (bundles, profiles, cancelled accounts, fulfilment records).
//
// A verified request is never dropped silently: a handler that fails
// returns its error so the broker retries; when the retries run out the
// broker dead-letters the event and publishes com.veil.event.deadlettered.v1,
// which Runner.DeadLettered turns into needs_review plus a mail to the
// privacy team. Should even that fail, the request is still open with a due
// date, and the deadlines function escalates it before it is overdue.
package fulfil

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Actor is who fulfilment transitions are recorded as.
const Actor = "system"

// Runner drives requests for one function.
type Runner struct {
	D     functions.Deps
	Name  string // the function: export or erasure
	Repos Repos
	// Types are the request types this function fulfils; others are
	// ignored (complaints and appeals go to review in requests).
	Types []privacy.RequestType
}

// New builds a runner.
func New(d functions.Deps, name string, types ...privacy.RequestType) *Runner {
	return &Runner{D: d, Name: name, Repos: NewRepos(d.DB.Backend), Types: types}
}

func (r *Runner) now() time.Time { return r.D.Now().UTC() }

// Handles reports whether t is one of the runner's types.
func (r *Runner) Handles(t string) bool {
	for _, x := range r.Types {
		if string(x) == t {
			return true
		}
	}
	return false
}

// Verified is the function's handler of com.veil.request.verified.v1: it
// ignores types the function does not fulfil, records the attempt (Begin),
// runs fulfil with the request's id in the log context, and on failure
// records it (Failed) and returns the error so the broker retries.
func (r *Runner) Verified(fulfil func(ctx context.Context, requestID string) error) events.Handler {
	return func(ctx context.Context, e events.Event) error {
		d, err := events.Decode[events.RequestData](e)
		if err != nil {
			return privacy.Errorf(privacy.EINVALID, "%v", err)
		}
		if !r.Handles(d.Type) {
			return nil
		}
		log := zerolog.Ctx(ctx).With().Str("request_id", d.RequestID).Str("type", d.Type).Logger()
		ctx = log.WithContext(ctx)
		if err := r.Begin(ctx, e.ID(), d.RequestID); err != nil {
			return err
		}
		if err := fulfil(ctx, d.RequestID); err != nil {
			log.Warn().Err(err).Msg(r.Name + " failed; the broker retries")
			r.Failed(ctx, d.RequestID, err)
			return err
		}
		return nil
	}
}

// Begin records an attempt on requestID by event eventID before any work,
// so that if the event dead-letters it can be traced to its request.
func (r *Runner) Begin(ctx context.Context, eventID, requestID string) error {
	id := r.Name + "~" + requestID
	return r.D.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		f, err := r.Repos.Fulfilments.In(tx).Get(id)
		if privacy.IsNotFound(err) {
			f, err = &Fulfilment{ID: id, Function: r.Name, RequestID: requestID}, nil
		}
		if err != nil {
			return err
		}
		if f.EventID != eventID {
			f.Attempts = 0
		}
		f.EventID, f.Attempts, f.At = eventID, f.Attempts+1, r.now()
		return r.Repos.Fulfilments.In(tx).Put(f)
	})
}

// Failed notes a failed attempt (best effort: the error itself goes back
// to the broker either way).
func (r *Runner) Failed(ctx context.Context, requestID string, cause error) {
	_, err := r.Repos.Fulfilments.Update(ctx, r.Name+"~"+requestID, func(f *Fulfilment) error {
		f.LastError = clip(cause.Error(), 300)
		return nil
	})
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("request_id", requestID).Msg("could not record the failed attempt")
	}
}

// Claim loads the request and, if it is verified, moves it to in_progress.
// It returns nil when there is nothing to do: the request is completed,
// refused, in review or otherwise not waiting for this function (that is
// the idempotency on request state; the router's is on the event id). A
// request already in_progress is resumed: the previous attempt failed
// part-way, and every step of fulfilment is safe to repeat.
func (r *Runner) Claim(ctx context.Context, id, what string) (*privacy.Request, error) {
	var out *privacy.Request
	err := r.D.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		out = nil
		req, err := r.D.DB.Requests.In(tx).Get(id)
		if privacy.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		if !r.Handles(string(req.Type)) {
			return nil
		}
		switch req.Status {
		case privacy.StatusInProgress:
			out = req
			return nil
		case privacy.StatusVerified:
		default:
			return nil
		}
		from := len(req.History)
		if err := req.Move(privacy.StatusInProgress, Actor, what, r.now()); err != nil {
			return err
		}
		if err := r.D.DB.Requests.In(tx).Put(req); err != nil {
			return err
		}
		out = req
		return r.D.Bus.PublishTx(tx, ChangeEvents(req, from)...)
	})
	return out, err
}

// Outcome is how a fulfilment ends.
type Outcome struct {
	Status privacy.Status // completed (default) or needs_review
	Result string         // what was done, for the request's history and GET
	// Change alters the request in the closing transaction (download link,
	// stripping an erased subject's personal fields).
	Change func(req *privacy.Request)
	// Notice is mailed to the requester (nil: none).
	Notice *Notice
	// Extra events to publish in the same transaction.
	Events []events.Event
	// SubjectKey is put on request.changed events instead of the
	// request's (erasure strips the request's; audit still links the
	// closing transition to the subject it was about).
	SubjectKey string
}

// Notice is a mail to the requester through notify.
type Notice struct {
	Template string
	Vars     map[string]string
	// Anonymous leaves the subject key off the notification, so notify's
	// delivery record does not name an erased subject.
	Anonymous bool
}

// Finish closes the request in one transaction: the outcome's change, the
// transition, request.changed, the notice and any extra events. A request
// no longer in_progress (someone else closed it) is left alone.
func (r *Runner) Finish(ctx context.Context, id string, o Outcome) (*privacy.Request, error) {
	if o.Status == "" {
		o.Status = privacy.StatusCompleted
	}
	var out *privacy.Request
	err := r.D.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		out = nil
		req, err := r.D.DB.Requests.In(tx).Get(id)
		if err != nil {
			return err
		}
		if req.Status != privacy.StatusInProgress {
			return nil
		}
		contact, err := r.contact(tx, req)
		if err != nil {
			return err
		}
		subjectKey, lang := req.SubjectKey, req.Lang
		if o.SubjectKey != "" {
			subjectKey = o.SubjectKey
		}
		from := len(req.History)
		if o.Change != nil {
			o.Change(req)
		}
		req.Result = clip(o.Result, 2000)
		if err := req.Move(o.Status, Actor, clip(o.Result, 500), r.now()); err != nil {
			return err
		}
		if err := r.D.DB.Requests.In(tx).Put(req); err != nil {
			return err
		}
		evs := ChangeEvents(req, from)
		for i := range evs {
			d, _ := events.Decode[events.RequestData](evs[i])
			d.SubjectKey = subjectKey
			evs[i] = events.Must(events.RequestChanged, req.ID, d)
		}
		if o.Notice != nil && contact != "" {
			sk := subjectKey
			if o.Notice.Anonymous {
				sk = ""
			}
			evs = append(evs, Notification(req.ID, sk, lang, contact, o.Notice.Template, o.Notice.Vars))
		}
		out = req
		return r.D.Bus.PublishTx(tx, append(evs, o.Events...)...)
	})
	return out, err
}

// contact is where the outcome is mailed: the requester's verified
// address, or for a device request attested by a developer, that app's
// developer (SPEC §5), who passes it on to their user.
func (r *Runner) contact(tx store.Tx, req *privacy.Request) (string, error) {
	switch {
	case req.VerifiedAt == nil:
		return "", nil
	case req.Email != "":
		return req.Email, nil
	case req.AppID != "":
		app, err := r.D.DB.Apps.In(tx).Get(req.AppID)
		if privacy.IsNotFound(err) {
			return "", nil
		} else if err != nil {
			return "", err
		}
		return app.DeveloperEmail, nil
	}
	return "", nil
}

// ChangeEvents are the request.changed events of r's transitions since
// history index from.
func ChangeEvents(r *privacy.Request, from int) []events.Event {
	var out []events.Event
	for _, t := range r.History[from:] {
		d := events.RequestData{RequestID: r.ID, Type: string(r.Type), Status: string(t.To), Channel: r.Channel,
			SubjectKey: r.SubjectKey, From: string(t.From), Actor: t.Actor, Reason: t.Reason}
		if r.DueAt != nil {
			d.DueAt = r.DueAt.UTC().Format(time.RFC3339)
		}
		out = append(out, events.Must(events.RequestChanged, r.ID, d))
	}
	return out
}

// Notification asks notify to mail one notice; its key makes it once per
// request and template.
func Notification(requestID, subjectKey, lang, to, template string, vars map[string]string) events.Event {
	if vars == nil {
		vars = map[string]string{}
	}
	if _, ok := vars["request_id"]; !ok {
		vars["request_id"] = requestID
	}
	return events.Must(events.NotificationRequested, requestID, events.NotificationData{
		Key: template + "/" + requestID, Channel: "email", To: to, Template: template, Lang: lang,
		Vars: vars, SubjectKey: subjectKey, Ref: requestID})
}

// DeadLettered escalates a request.verified event of this function that
// exhausted its retries: the request goes to needs_review with the reason,
// and the privacy team is mailed. Nothing is dropped: without a trace of
// the request, the team still gets the event id to look it up in the
// dead-letter store.
func (r *Runner) DeadLettered(ctx context.Context, e events.Event) error {
	dl, err := events.Decode[events.DeadLetterData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if dl.Subscriber != r.Name || dl.Type != events.RequestVerified {
		return nil
	}
	fs, err := r.Repos.Fulfilments.Find(ctx, store.Query{Filters: []store.Filter{store.Where("event", store.EQ, dl.EventID)}, Limit: 1})
	if err != nil {
		return err
	}
	reason := fmt.Sprintf("%s could not fulfil it after %d attempts: %s; a person takes over", r.Name, dl.Attempts, clip(dl.Error, 300))
	vars := map[string]string{"function": r.Name, "event_id": dl.EventID, "attempts": fmt.Sprint(dl.Attempts),
		"error": clip(dl.Error, 300), "request_id": "-", "type": "-"}
	team := r.D.Config.PrivacyTeam
	if len(fs) == 0 {
		zerolog.Ctx(ctx).Error().Str("event_id", dl.EventID).Msg("dead-lettered fulfilment without a trace of its request; escalated by event id")
		return r.D.Bus.Publish(ctx, escalation(e, r.Name, events.Must(events.NotificationRequested, dl.EventID, events.NotificationData{
			Key: "fulfilment-failed/" + r.Name + "/" + dl.EventID, Channel: "email", To: team,
			Template: "fulfilment_failed", Vars: vars, Ref: dl.EventID})))
	}
	id := fs[0].RequestID
	return r.D.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		req, err := r.D.DB.Requests.In(tx).Get(id)
		if err != nil {
			return err
		}
		vars["request_id"], vars["type"] = req.ID, string(req.Type)
		var evs []events.Event
		if req.Open() && req.Status != privacy.StatusNeedsReview {
			from := len(req.History)
			if err := req.Move(privacy.StatusNeedsReview, Actor, reason, r.now()); err != nil {
				return err
			}
			req.Escalated = true
			if err := r.D.DB.Requests.In(tx).Put(req); err != nil {
				return err
			}
			evs = ChangeEvents(req, from)
		}
		zerolog.Ctx(ctx).Error().Str("request_id", id).Str("event_id", dl.EventID).Msg("fulfilment dead-lettered; request sent to review and the privacy team told")
		evs = append(evs, escalation(e, r.Name, events.Must(events.NotificationRequested, req.ID, events.NotificationData{
			Key: "fulfilment-failed/" + r.Name + "/" + dl.EventID, Channel: "email", To: team,
			Template: "fulfilment_failed", Vars: vars, Ref: req.ID})))
		return r.D.Bus.PublishTx(tx, evs...)
	})
}

// escalation gives the privacy team's notice an id derived from the dead
// letter's, so a redelivered dead letter stages the very same event, which
// every subscriber has already handled, instead of a second one (found by
// tests/reliability's redelivery test).
func escalation(deadLetter events.Event, function string, notice events.Event) events.Event {
	notice.SetID(deadLetter.ID() + "~" + function + "~fulfilment-failed")
	return notice
}

// clip shortens s to at most n bytes, dropping a rune cut in half.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
