package retention

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

type ceaseBody struct {
	Reason      string     `json:"reason"`
	EffectiveAt *time.Time `json:"effective_at,omitempty"`
}

// cease records that operations cease (R23), at once or at effective_at.
// From then ingest answers 410 (Guard.Collecting), the notice goes out to
// everyone (notify consumes com.veil.operations.ceased.v1), and every
// sweep treats every record as due. It cannot be undone through the API:
// resuming collection would need new consent from everyone anyway.
func (f *fn) cease(w http.ResponseWriter, r *http.Request) {
	var body ceaseBody
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
	now := f.now()
	eff := now
	if body.EffectiveAt != nil {
		if body.EffectiveAt.Before(now.Add(-time.Minute)) {
			httpx.Error(w, r, privacy.FieldError("effective_at", "ceasing cannot take effect in the past"))
			return
		}
		eff = body.EffectiveAt.UTC()
	}
	o := &Operations{ID: operationsID, Ceased: true, DecidedAt: now, EffectiveAt: eff, Actor: actor, Reason: reason}
	e := events.Must(events.OperationsCeased, operationsID, events.RefData{ID: operationsID, At: eff, Note: reason})
	err = f.d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
		have, err := optional(f.ops.In(tx).Get(operationsID))
		if err != nil {
			return err
		}
		if have != nil && have.Ceased {
			return privacy.Errorf(privacy.ECONFLICT, "operations already cease at %s", have.EffectiveAt.Format(time.RFC3339))
		}
		if err := f.ops.In(tx).Put(o); err != nil {
			return err
		}
		return f.d.Bus.PublishTx(tx, e)
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	f.log(r).Warn().Str("actor", actor).Time("effective_at", eff).Msg("operations ceasing: collection stops, all personal data will be deleted or anonymized")
	httpx.JSON(w, http.StatusAccepted, map[string]any{"ceased": true, "effective_at": eff, "event_id": e.ID()})
}

// countCap bounds the counts GET /v1/operations makes (the store has no
// count query); beyond it the answer says "at least".
const countCap = 10_000

// Count is a bounded count.
type Count struct {
	N       int  `json:"n"`
	AtLeast bool `json:"at_least,omitempty"`
}

// operations shows the ceasing state and, while ceasing, the progress of
// deleting and anonymizing everything: what remains per collection, how
// much of it is held, and each sweep pass's counters.
func (f *fn) operations(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	o, err := optional(f.ops.Get(ctx, operationsID))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	now := f.now()
	out := map[string]any{"ceased": o.CeasedAt(now), "collecting": !o.CeasedAt(now)}
	if o != nil {
		out["decided_at"], out["effective_at"], out["actor"], out["reason"] = o.DecidedAt, o.EffectiveAt, o.Actor, o.Reason
	}
	remaining := map[string]Count{}
	for _, c := range []store.Collection{store.RecordsCollection, store.ConsentsCollection, store.DevicesCollection, store.RequestsCollection} {
		n, err := countUpTo(ctx, f.d.DB.Backend, c.Name, countCap)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		remaining[c.Name] = n
	}
	out["remaining"] = remaining
	x, err := optional(f.index.Get(ctx, holdIndexID))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	held := 0
	if x != nil {
		x.prune(now)
		held = len(x.Subjects)
	}
	out["held_subjects"] = held
	if out["sweep"], err = f.checkpoints(ctx); err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, out)
}

// countUpTo counts a collection's documents, stopping at limit.
func countUpTo(ctx context.Context, b store.Backend, coll string, limit int) (Count, error) {
	q := store.Query{Limit: store.MaxLimit}
	n := 0
	for n < limit {
		docs, err := b.Query(ctx, coll, q)
		if err != nil {
			return Count{}, err
		}
		n += len(docs)
		if len(docs) < q.Limit {
			return Count{N: n}, nil
		}
		q.After = docs[len(docs)-1]
	}
	return Count{N: n, AtLeast: true}, nil
}

func (f *fn) now() time.Time {
	if f.d.Now != nil {
		return f.d.Now().UTC()
	}
	return time.Now().UTC()
}

// log is the request's logger (it carries the request id).
func (f *fn) log(r *http.Request) *zerolog.Logger {
	if l := zerolog.Ctx(r.Context()); l.GetLevel() != zerolog.Disabled {
		return l
	}
	return &f.d.Log
}
