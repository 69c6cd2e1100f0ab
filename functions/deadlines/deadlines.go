// Package deadlines is the deadlines function (SPEC R9, R15): on each
// "deadlines" schedule tick it warns the privacy team about open requests
// with ReminderWorkingDays or fewer working days left, escalates overdue
// ones, and escalates verified requests whose due date could not be
// computed (no holiday data). Each warning happens once per request, in the
// same transaction that records it, so redelivered or overlapping ticks
// never warn twice.
package deadlines

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/requests"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name; Job is the schedule job it answers.
const (
	Name = "deadlines"
	Job  = "deadlines"
)

// horizon bounds the sweep to due dates that can be within the reminder
// window: five working days never span more than this many calendar days,
// even across the nine-day Spring Festival break.
const horizon = 31 * 24 * time.Hour

type sweeper struct {
	d functions.Deps
}

// New builds the deadlines function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	s := &sweeper{d: d}
	return &functions.Function{
		Name:        Name,
		Events:      map[string]events.Handler{events.ScheduleTicked: s.tick},
		Collections: requests.Collections(),
		Processing:  Processing(),
	}, nil
}

func (s *sweeper) tick(ctx context.Context, e events.Event) error {
	data, err := events.Decode[events.ScheduleTickedData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "bad schedule event: %v", err)
	}
	if data.Job != Job {
		return nil
	}
	return s.Sweep(ctx)
}

// Sweep runs one pass. A request whose urgency cannot be judged (calendar
// error) is logged and the pass goes on; the error is returned at the end
// so the tick is retried and, if it keeps failing, dead-lettered where
// operators look.
func (s *sweeper) Sweep(ctx context.Context) error {
	now := s.d.Now().UTC()
	var errs []error
	dated := store.Query{Filters: []store.Filter{
		store.Where("open", store.EQ, true),
		store.Where("due", store.GT, int64(0)),
		store.Where("due", store.LE, store.Unix(now.Add(horizon))),
	}, OrderBy: "due"}
	err := s.d.DB.Requests.Each(ctx, dated, func(r *privacy.Request) error {
		if r.Escalated || r.DueAt == nil {
			return nil
		}
		u, left, err := privacy.UrgencyAt(s.d.Calendar, now, *r.DueAt)
		if err != nil {
			s.d.Log.Error().Err(err).Str("request_id", r.ID).Msg("deadlines: cannot count working days left")
			errs = append(errs, err)
			return nil
		}
		switch {
		case u == privacy.Overdue:
			return s.warn(ctx, r.ID, s.overdue)
		case u == privacy.DueSoon && !r.Reminded:
			return s.warn(ctx, r.ID, s.dueSoon(left))
		}
		return nil
	})
	errs = append(errs, err)

	// Verified requests without a due date: try again (the holiday data may
	// have been updated since), else escalate once.
	undated := store.Query{Filters: []store.Filter{
		store.Where("open", store.EQ, true),
		store.Where("due", store.LE, int64(0)),
	}, OrderBy: "due"}
	err = s.d.DB.Requests.Each(ctx, undated, func(r *privacy.Request) error {
		if r.VerifiedAt == nil || r.Type == "" {
			return nil
		}
		return s.warn(ctx, r.ID, s.undated)
	})
	errs = append(errs, err)

	if n, err := requests.Prune(ctx, s.d.DB.Backend, now); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		s.d.Log.Debug().Int("pruned", n).Msg("deadlines: expired request bookkeeping pruned")
	}
	return errors.Join(errs...)
}

// action decides, on the freshly read request, what to record and publish;
// nil events means nothing to do.
type action func(r *privacy.Request, now time.Time) ([]events.Event, error)

// warn applies an action in a transaction: re-read, decide, record, publish.
func (s *sweeper) warn(ctx context.Context, id string, act action) error {
	now := s.d.Now().UTC()
	return s.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		reqs := s.d.DB.Requests.In(tx)
		r, err := reqs.Get(id)
		if err != nil {
			return err
		}
		if !r.Open() {
			return nil
		}
		evs, err := act(r, now)
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := reqs.Put(r); err != nil {
			return err
		}
		return s.d.Bus.PublishTx(tx, evs...)
	})
}

func (s *sweeper) dueSoon(left int) action {
	return func(r *privacy.Request, now time.Time) ([]events.Event, error) {
		if r.Reminded || r.Escalated {
			return nil, nil
		}
		r.Reminded = true
		return []events.Event{
			events.Must(events.RequestDueSoon, r.ID, data(r)),
			s.team(r, "request_duesoon", map[string]string{"days_left": strconv.Itoa(left)}),
		}, nil
	}
}

func (s *sweeper) overdue(r *privacy.Request, now time.Time) ([]events.Event, error) {
	if r.Escalated || r.DueAt == nil || !now.After(*r.DueAt) {
		return nil, nil
	}
	r.Escalated, r.Reminded = true, true
	return []events.Event{
		events.Must(events.RequestOverdue, r.ID, data(r)),
		s.team(r, "request_overdue", nil),
	}, nil
}

func (s *sweeper) undated(r *privacy.Request, now time.Time) ([]events.Event, error) {
	if r.DueAt != nil || r.VerifiedAt == nil || r.Type == "" {
		return nil, nil
	}
	due, err := privacy.DueDate(s.d.Calendar, r.Type, *r.VerifiedAt)
	if err == nil {
		r.DueAt, r.DueError = &due, ""
		d := data(r)
		d.Reason = "due date computed after a calendar update"
		return []events.Event{events.Must(events.RequestChanged, r.ID, d)}, nil
	}
	r.DueError = err.Error()
	if r.Escalated {
		return nil, nil
	}
	s.d.Log.Error().Err(err).Str("request_id", r.ID).Msg("deadlines: verified request still has no due date; escalated")
	r.Escalated = true
	return []events.Event{s.team(r, "request_due_unknown", map[string]string{
		"verified_at": r.VerifiedAt.In(s.d.Calendar.Location()).Format("2006-01-02 15:04 MST"),
		"error":       r.DueError,
	})}, nil
}

func data(r *privacy.Request) events.RequestData {
	d := events.RequestData{RequestID: r.ID, Type: string(r.Type), Status: string(r.Status), Channel: r.Channel,
		SubjectKey: r.SubjectKey}
	if r.DueAt != nil {
		d.DueAt = r.DueAt.UTC().Format(time.RFC3339)
	}
	return d
}

// typeZH names the request types in the team's Chinese notices.
var typeZH = map[privacy.RequestType]string{
	privacy.ReqAccess: "访问", privacy.ReqCopy: "副本", privacy.ReqPortability: "转移", privacy.ReqCorrect: "更正",
	privacy.ReqDelete: "删除", privacy.ReqWithdrawConsent: "撤回同意", privacy.ReqCancelAccount: "注销账号",
	privacy.ReqComplaint: "投诉举报", privacy.ReqAppeal: "申诉",
}

// team addresses the privacy team (VEIL_PRIVACY_TEAM) through notify. The
// key makes each warning about each request one mail, however often the
// event is redelivered.
func (s *sweeper) team(r *privacy.Request, template string, extra map[string]string) events.Event {
	vars := map[string]string{"request_id": r.ID, "type": string(r.Type), "type_zh": typeZH[r.Type],
		"status": string(r.Status), "subject_hint": r.SubjectHint, "due_date": ""}
	if r.DueAt != nil {
		vars["due_date"] = r.DueAt.In(s.d.Calendar.Location()).Format(time.DateOnly)
	}
	for k, v := range extra {
		vars[k] = v
	}
	return events.Must(events.NotificationRequested, r.ID, events.NotificationData{
		Key: template + "/" + r.ID, Channel: "email", To: s.d.Config.PrivacyTeam, Template: template, Vars: vars,
		SubjectKey: r.SubjectKey, Ref: r.ID})
}
