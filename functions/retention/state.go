package retention

import (
	"context"
	"time"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Document ids in StateCollection.
const (
	operationsID = "operations"
	holdIndexID  = "holds"
)

// Operations is the ceasing state (R23). Absent means operating.
type Operations struct {
	ID          string    `json:"id"`
	Ceased      bool      `json:"ceased"`
	DecidedAt   time.Time `json:"decided_at"`
	EffectiveAt time.Time `json:"effective_at"`
	Actor       string    `json:"actor"`
	Reason      string    `json:"reason"`
}

// CeasedAt reports whether collection has stopped at now.
func (o *Operations) CeasedAt(now time.Time) bool {
	return o != nil && o.Ceased && !now.Before(o.EffectiveAt)
}

// Hold is a legal hold on one subject (R20): while active, the subject's
// records are isolated instead of deleted.
type Hold struct {
	ID          string     `json:"id"`
	SubjectKey  string     `json:"subject_key"`
	SubjectHint string     `json:"subject_hint,omitempty"`
	Reason      string     `json:"reason"`
	Actor       string     `json:"actor"`
	PlacedAt    time.Time  `json:"placed_at"`
	Until       *time.Time `json:"until,omitempty"`
	Active      bool       `json:"active"`
	LiftedAt    *time.Time `json:"lifted_at,omitempty"`
	LiftedBy    string     `json:"lifted_by,omitempty"`
	LiftReason  string     `json:"lift_reason,omitempty"`
}

// InForce reports whether the hold blocks deletion at now.
func (h *Hold) InForce(now time.Time) bool {
	return h.Active && (h.Until == nil || now.Before(*h.Until))
}

// holdRef is a hold as the index keeps it: enough to decide and to say why.
type holdRef struct {
	ID     string     `json:"id"`
	Reason string     `json:"reason"`
	Until  *time.Time `json:"until,omitempty"`
}

// holdIndex maps each held subject key to its active holds. It is one
// document so that a sweep batch reads every hold with one read, and so a
// hold placed during a sweep conflicts with (and is serialized against)
// the batch that would have deleted the subject's records. maxHolds keeps
// it well under Firestore's 1 MiB document limit.
type holdIndex struct {
	ID       string               `json:"id"`
	Subjects map[string][]holdRef `json:"subjects"`
}

const maxHolds = 1000

// held returns the first hold in force on subjectKey at now.
func (x *holdIndex) held(subjectKey string, now time.Time) (holdRef, bool) {
	if x == nil {
		return holdRef{}, false
	}
	for _, h := range x.Subjects[subjectKey] {
		if h.Until == nil || now.Before(*h.Until) {
			return h, true
		}
	}
	return holdRef{}, false
}

func (x *holdIndex) count() int {
	n := 0
	for _, hs := range x.Subjects {
		n += len(hs)
	}
	return n
}

// Stat is one row of de-identified statistics (R8): how many ad requests an
// app received from one country and OS on one day. It names no subject,
// device or record.
type Stat struct {
	ID           string `json:"id"`
	Day          string `json:"day"` // YYYY-MM-DD, UTC
	AppID        string `json:"app_id"`
	Country      string `json:"country"`
	OS           string `json:"os"`
	Requests     int64  `json:"requests"`
	Personalized int64  `json:"personalized"`
}

// Checkpoint is where one sweep pass stands. It is written in the same
// transaction as the batch it records, so after a crash the pass resumes
// exactly behind the last committed batch.
type Checkpoint struct {
	ID         string    `json:"id"` // sweep_<pass>
	Pass       string    `json:"pass"`
	Class      string    `json:"class"`
	Run        int64     `json:"run"`    // increases by one per run
	Cutoff     int64     `json:"cutoff"` // order-key bound of this run (Unix seconds); MaxInt64 once ceased
	Ceased     bool      `json:"ceased,omitempty"`
	HasCursor  bool      `json:"has_cursor,omitempty"`
	AfterKey   int64     `json:"after_key,omitempty"` // the last order-key value done (every pass orders by an int key or by id)
	AfterID    string    `json:"after_id,omitempty"`
	Done       bool      `json:"done"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	Batches    int64     `json:"batches"`
	Deleted    int64     `json:"deleted"`
	Anonymized int64     `json:"anonymized"`
	Isolated   int64     `json:"isolated"`
	Kept       int64     `json:"kept"` // looked at, not yet due (e.g. open requests)
}

// repos are the function's typed repositories.
type repos struct {
	ops    store.Repo[Operations]
	index  store.Repo[holdIndex]
	cps    store.Repo[Checkpoint]
	holds  store.Repo[Hold]
	stats  store.Repo[Stat]
	shared *store.DB
}

func newRepos(b store.Backend) repos {
	return repos{
		ops:   store.Repo[Operations]{B: b, C: StateCollection, ID: func(o *Operations) string { return operationsID }},
		index: store.Repo[holdIndex]{B: b, C: StateCollection, ID: func(x *holdIndex) string { return holdIndexID }},
		cps:   store.Repo[Checkpoint]{B: b, C: StateCollection, ID: func(c *Checkpoint) string { return c.ID }},
		holds: store.Repo[Hold]{B: b, C: HoldsCollection, ID: func(h *Hold) string { return h.ID },
			Keys: func(h *Hold) map[string]any {
				return map[string]any{"active": h.Active, "placed": store.Unix(h.PlacedAt)}
			}},
		stats: store.Repo[Stat]{B: b, C: StatsCollection, ID: func(s *Stat) string { return s.ID },
			Keys: func(s *Stat) map[string]any {
				d, _ := time.Parse(time.DateOnly, s.Day)
				return map[string]any{"day": d.Unix(), "app": s.AppID}
			}},
	}
}

// optional returns nil for a missing document instead of ENOTFOUND.
func optional[T any](v *T, err error) (*T, error) {
	if privacy.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}

func (r repos) checkpoints(ctx context.Context) ([]*Checkpoint, error) {
	var out []*Checkpoint
	for _, p := range passNames() {
		cp, err := optional(r.cps.Get(ctx, "sweep_"+p))
		if err != nil {
			return nil, err
		}
		if cp != nil {
			out = append(out, cp)
		}
	}
	if out == nil {
		out = []*Checkpoint{}
	}
	return out, nil
}

// Guard is what other functions use to respect ceasing and legal holds:
// ingest refuses collection once ceased (Collecting → 410), erasure asks
// Held before deleting. Build it once in the function's New: it ensures
// the retention collections so it works where the retention function
// does not run (VEIL_FUNCTIONS=ingest).
type Guard struct{ r repos }

// NewGuard builds a Guard over db.
func NewGuard(ctx context.Context, db *store.DB) (*Guard, error) {
	for _, c := range Collections() {
		if err := db.Backend.Ensure(ctx, c); err != nil {
			return nil, err
		}
	}
	return &Guard{r: newRepos(db.Backend)}, nil
}

// Ceased reports whether operations have ceased at now (one document read).
func (g *Guard) Ceased(ctx context.Context, now time.Time) (bool, error) {
	o, err := optional(g.r.ops.Get(ctx, operationsID))
	if err != nil {
		return false, err
	}
	return o.CeasedAt(now), nil
}

// Collecting returns an EGONE error (HTTP 410) once operations have ceased,
// nil while collection may go on.
func (g *Guard) Collecting(ctx context.Context, now time.Time) error {
	ceased, err := g.Ceased(ctx, now)
	if err != nil {
		return err
	}
	if ceased {
		return privacy.Errorf(privacy.EGONE, "the service has ceased operations; no data is collected any more")
	}
	return nil
}

// Held reports whether a legal hold in force at now covers subjectKey, and
// the hold's id and reason ("<id>: <reason>").
func (g *Guard) Held(ctx context.Context, subjectKey string, now time.Time) (bool, string, error) {
	x, err := optional(g.r.index.Get(ctx, holdIndexID))
	if err != nil {
		return false, "", err
	}
	h, ok := x.held(subjectKey, now)
	if !ok {
		return false, "", nil
	}
	return true, isolation(h), nil
}

// isolation is what a held record's Isolated field says.
func isolation(h holdRef) string { return "legal hold " + h.ID + ": " + h.Reason }
