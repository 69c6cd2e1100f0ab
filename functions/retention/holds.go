package retention

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

var subjectKeyPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// placeHoldBody is POST /v1/holds. A hold names the subject either as
// account:<email> / device:<type>:<id> (hashed here, never stored) or by
// the subject key ops already see in requests and audit entries.
type placeHoldBody struct {
	Subject    string     `json:"subject,omitempty"`
	SubjectKey string     `json:"subject_key,omitempty"`
	Reason     string     `json:"reason"`
	Until      *time.Time `json:"until,omitempty"`
}

type liftHoldBody struct {
	Reason string `json:"reason"`
}

func (f *fn) placeHold(w http.ResponseWriter, r *http.Request) {
	var body placeHoldBody
	if err := httpx.Decode(w, r, bodyLimit, &body); err != nil {
		httpx.Error(w, r, err)
		return
	}
	actor, err := opsActor(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	h, err := f.newHold(r.Context(), body, actor)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	err = f.d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
		x, err := optional(f.index.In(tx).Get(holdIndexID))
		if err != nil {
			return err
		}
		if x == nil {
			x = &holdIndex{ID: holdIndexID}
		}
		x.prune(h.PlacedAt)
		if x.count() >= maxHolds {
			return privacy.Errorf(privacy.ECONFLICT, "%d holds are in force, the most one index can carry; lift expired ones first", maxHolds)
		}
		if x.Subjects == nil {
			x.Subjects = map[string][]holdRef{}
		}
		x.Subjects[h.SubjectKey] = append(x.Subjects[h.SubjectKey], holdRef{ID: h.ID, Reason: h.Reason, Until: h.Until})
		if err := f.holds.In(tx).Create(h); err != nil {
			return err
		}
		if err := f.index.In(tx).Put(x); err != nil {
			return err
		}
		return f.d.Bus.PublishTx(tx, events.Must(events.HoldPlaced, h.ID, holdData(h)))
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	f.log(r).Info().Str("hold_id", h.ID).Str("subject_key", h.SubjectKey).Str("actor", actor).Msg("legal hold placed")
	httpx.JSON(w, http.StatusCreated, h)
}

func (f *fn) newHold(ctx context.Context, body placeHoldBody, actor string) (*Hold, error) {
	reason, err := checkReason("reason", body.Reason)
	if err != nil {
		return nil, err
	}
	now := f.now()
	h := &Hold{ID: "hold-" + uuid.NewString(), Reason: reason, Actor: actor, PlacedAt: now, Active: true}
	switch {
	case (body.Subject == "") == (body.SubjectKey == ""):
		return nil, privacy.FieldError("subject", "name the subject by subject or by subject_key, not both")
	case body.SubjectKey != "":
		if !subjectKeyPattern.MatchString(body.SubjectKey) {
			return nil, privacy.FieldError("subject_key", "a subject key is 64 lower-case hex digits")
		}
		h.SubjectKey = body.SubjectKey
	default:
		s, err := privacy.ParseSubject(body.Subject)
		if err != nil {
			return nil, err
		}
		if h.SubjectKey, err = f.resolve(ctx, s); err != nil {
			return nil, err
		}
		h.SubjectHint = s.Hint()
	}
	if body.Until != nil {
		if !body.Until.After(now) {
			return nil, privacy.FieldError("until", "a hold must end in the future")
		}
		u := body.Until.UTC()
		h.Until = &u
	}
	return h, nil
}

// resolve is the key the subject's records are filed under. Ingest files a
// device under the first id it saw and links its other ids to that key
// (ingest.ResolveSubjectKey, not imported: ingest imports this package for
// its Guard), so a device named by a secondary id is held where its
// records are.
func (f *fn) resolve(ctx context.Context, s privacy.Subject) (string, error) {
	own := f.d.Keys.SubjectKey(s)
	if !s.IsDevice() {
		return own, nil
	}
	link, err := f.d.DB.Devices.Get(ctx, own)
	if privacy.IsNotFound(err) {
		return own, nil
	} else if err != nil {
		return "", err
	}
	return link.SubjectKey, nil
}

func (f *fn) liftHold(w http.ResponseWriter, r *http.Request) {
	var body liftHoldBody
	if err := httpx.Decode(w, r, bodyLimit, &body); err != nil {
		httpx.Error(w, r, err)
		return
	}
	reason, err := checkReason("reason", body.Reason)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	actor, err := opsActor(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	id, now := r.PathValue("id"), f.now()
	var out *Hold
	err = f.d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
		h, err := f.holds.In(tx).Get(id)
		if err != nil {
			return err
		}
		x, err := optional(f.index.In(tx).Get(holdIndexID))
		if err != nil {
			return err
		}
		if !h.Active {
			return privacy.Errorf(privacy.ECONFLICT, "hold %s was already lifted", id)
		}
		h.Active, h.LiftedAt, h.LiftedBy, h.LiftReason = false, &now, actor, reason
		if err := f.holds.In(tx).Put(h); err != nil {
			return err
		}
		if x != nil {
			x.remove(h.SubjectKey, h.ID)
			x.prune(now)
			if err := f.index.In(tx).Put(x); err != nil {
				return err
			}
		}
		out = h
		d := holdData(h)
		d.Actor, d.Reason = actor, reason
		return f.d.Bus.PublishTx(tx, events.Must(events.HoldLifted, h.ID, d))
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	f.log(r).Info().Str("hold_id", id).Str("actor", actor).Msg("legal hold lifted")
	httpx.JSON(w, http.StatusOK, out)
}

func (f *fn) getHold(w http.ResponseWriter, r *http.Request) {
	h, err := f.holds.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, h)
}

// listHolds lists holds, newest first: ?active=true (default), false or all.
func (f *fn) listHolds(w http.ResponseWriter, r *http.Request) {
	q := store.Query{OrderBy: "placed", Desc: true, Limit: store.MaxLimit}
	switch a := r.URL.Query().Get("active"); a {
	case "", "true":
		q.Filters = []store.Filter{store.Where("active", store.EQ, true)}
	case "false":
		q.Filters = []store.Filter{store.Where("active", store.EQ, false)}
	case "all":
	default:
		httpx.Error(w, r, privacy.FieldError("active", "active is true, false or all"))
		return
	}
	hs, err := f.holds.Find(r.Context(), q)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	if hs == nil {
		hs = []*Hold{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"holds": hs})
}

func holdData(h *Hold) events.HoldData {
	return events.HoldData{HoldID: h.ID, SubjectKey: h.SubjectKey, Actor: h.Actor, Reason: h.Reason, Until: h.Until}
}

// remove drops hold id from subjectKey's list.
func (x *holdIndex) remove(subjectKey, id string) {
	var keep []holdRef
	for _, h := range x.Subjects[subjectKey] {
		if h.ID != id {
			keep = append(keep, h)
		}
	}
	if len(keep) == 0 {
		delete(x.Subjects, subjectKey)
	} else {
		x.Subjects[subjectKey] = keep
	}
}

// prune drops holds whose end date has passed: they no longer protect
// anything, and the index must stay small.
func (x *holdIndex) prune(now time.Time) {
	for k, hs := range x.Subjects {
		var keep []holdRef
		for _, h := range hs {
			if h.Until == nil || now.Before(*h.Until) {
				keep = append(keep, h)
			}
		}
		if len(keep) == 0 {
			delete(x.Subjects, k)
		} else {
			x.Subjects[k] = keep
		}
	}
}
