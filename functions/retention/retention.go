// Package retention is the retention function (R20, R23, R6 alerting): the
// scheduled sweep that deletes or anonymizes records past their retention
// class, legal holds that stop it for a subject, ceasing operations, and the
// residency-violation alert other functions raise.
//
// Who deletes: the sweep deletes expired ad records itself, in the same
// transaction that folds them into de-identified statistics (R8) and
// advances its checkpoint, so counts are never lost or doubled. It then
// emits com.veil.retention.expired.v1 per batch for information (erasure
// propagates deletions to partners by record id); the records named there
// are already gone.
package retention

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name (VEIL_FUNCTIONS, Knative Service).
const Name = "retention"

// Job is the schedule job the sweep answers to; the deadlines function
// listens to the same tick type for its own job.
const Job = "retention"

// Collections the function owns.
var (
	// StateCollection holds single documents: the ceasing state, the
	// index of active holds, and one checkpoint per sweep pass.
	StateCollection = store.Collection{Name: "retention_state"}
	HoldsCollection = store.Collection{Name: "retention_holds",
		Keys: []store.Key{{Name: "active", Kind: store.Bool}, {Name: "placed", Kind: store.Int}}}
	// StatsCollection is the de-identified statistics ad records are
	// folded into: counts per app, country, OS and day, nothing else.
	StatsCollection = store.Collection{Name: "retention_stats",
		Keys: []store.Key{{Name: "day", Kind: store.Int}, {Name: "app", Kind: store.String}}}
)

// Collections lists what the function (and a Guard) needs ensured.
func Collections() []store.Collection {
	return []store.Collection{StateCollection, HoldsCollection, StatsCollection}
}

// Body limits.
const bodyLimit = 4 << 10

// fn is the function's state: its dependencies and repositories.
type fn struct {
	d      functions.Deps
	policy privacy.Retention
	repos
	sweep *Sweeper
}

// New builds the retention function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	policy, err := d.Config.Retention()
	if err != nil {
		return nil, err
	}
	r := newRepos(d.DB.Backend)
	f := &fn{d: d, policy: policy, repos: r}
	f.sweep = newSweeper(d, policy, r)
	ops := func(h http.HandlerFunc) http.Handler { return httpx.RequireOps(d.Config.OpsToken, h) }
	return &functions.Function{
		Name: Name,
		Routes: map[string]http.Handler{
			"POST /v1/holds":            ops(f.placeHold),
			"GET /v1/holds":             ops(f.listHolds),
			"GET /v1/holds/{id}":        ops(f.getHold),
			"DELETE /v1/holds/{id}":     ops(f.liftHold),
			"POST /v1/operations/cease": ops(f.cease),
			"GET /v1/operations":        ops(f.operations),
			"GET /v1/retention/policy":  ops(f.showPolicy),
			"GET /v1/retention/sweep":   ops(f.showSweep),
			"GET /v1/retention/stats":   ops(f.showStats),
			"POST /v1/retention/sweep":  ops(f.runSweep),
		},
		Events:      map[string]events.Handler{events.ScheduleTicked: f.onTick},
		Collections: Collections(),
		Processing:  Processing(),
	}, nil
}

// onTick runs the sweep for the retention job and ignores every other job.
func (f *fn) onTick(ctx context.Context, e events.Event) error {
	t, err := events.Decode[events.ScheduleTickedData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if t.Job != Job {
		return nil
	}
	_, err = f.sweep.Run(ctx)
	return err
}

// runSweep runs a sweep now and answers with its report (ops; the same
// work a tick does).
func (f *fn) runSweep(w http.ResponseWriter, r *http.Request) {
	rep, err := f.sweep.Run(r.Context())
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, rep)
}

func (f *fn) showPolicy(w http.ResponseWriter, r *http.Request) {
	type row struct {
		privacy.RetentionClass
		Period   string `json:"period"`
		Min      string `json:"min,omitempty"`
		Variable string `json:"variable"`
	}
	var out []row
	for _, c := range f.policy.Classes() {
		x := row{RetentionClass: c, Period: privacy.FormatRetention(c.Period), Variable: privacy.RetentionVar(c.Name)}
		if c.Min > 0 {
			x.Min = privacy.FormatRetention(c.Min)
		}
		out = append(out, x)
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"classes": out})
}

func (f *fn) showSweep(w http.ResponseWriter, r *http.Request) {
	cps, err := f.checkpoints(r.Context())
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"passes": cps})
}

// showStats lists the de-identified statistics of one day (?day=YYYY-MM-DD).
func (f *fn) showStats(w http.ResponseWriter, r *http.Request) {
	day, err := time.Parse(time.DateOnly, r.URL.Query().Get("day"))
	if err != nil {
		httpx.Error(w, r, privacy.FieldError("day", "day is YYYY-MM-DD"))
		return
	}
	rows, err := f.stats.Find(r.Context(), store.Query{Filters: []store.Filter{store.Where("day", store.EQ, day.Unix())}, Limit: store.MaxLimit})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	if rows == nil {
		rows = []*Stat{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"day": day.Format(time.DateOnly), "stats": rows})
}

// actorPattern keeps actor names short and free of anything that would
// need escaping in logs.
var actorPattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// opsActor names who did an ops action: the X-Veil-Actor header (the ops
// CLI sends the operator's login), "ops" when absent. The ops token is
// shared, so this records a claim, which the audit log then makes
// tamper-evident.
func opsActor(r *http.Request) (string, error) {
	a := strings.TrimSpace(r.Header.Get("X-Veil-Actor"))
	if a == "" {
		return "ops", nil
	}
	if !actorPattern.MatchString(a) {
		return "", privacy.FieldError("X-Veil-Actor", "an actor is 1-64 letters, digits, '.', '_', '@' or '-'")
	}
	return "ops:" + a, nil
}

// checkReason validates a free-text reason: required, bounded, one line.
func checkReason(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", privacy.FieldError(field, "a reason is required")
	case len(s) > 200:
		return "", privacy.FieldError(field, "a reason is at most 200 bytes")
	case strings.ContainsAny(s, "\r\n\x00"):
		return "", privacy.FieldError(field, "a reason is one line")
	}
	return s, nil
}
