// Package policies is the policies function (R22, policy section 十; and
// the notice of R23): ops publish a revision with an effective date;
// everyone with an account or an app is told before it takes effect
// (developers are asked to show it to their end users); people
// acknowledge it, and consent to a material revision — one that reduces
// their rights — which applies to them only once they have. Until then
// VersionFor answers the version before it, for ingest and consent to
// process under.
//
// A person answers through the signed link in their notice (the token
// binds the version and their subject key, and is only ever on the bus
// sealed under their key), or ops answer on their behalf with the ops
// token and the subject, e.g. after a consent given by letter.
//
// The same fan-out tells everyone when operations cease
// (com.veil.operations.ceased.v1), and puts an announcement up for those
// who cannot be told one by one.
package policies

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/incidents"
	"github.com/veil-privacy/veil/functions/notify/fanout"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name.
const Name = "policies"

// Templates.
const (
	TemplatePerson    = "policy_revision"
	TemplateDeveloper = "policy_revision_developer"
	TemplateCeased    = "operations_ceased"
)

// Collections the function owns.
var (
	PoliciesCollection = store.Collection{Name: "policies",
		Keys: []store.Key{{Name: "effective", Kind: store.Int}, {Name: "published", Kind: store.Int}}}
	AcksCollection = store.Collection{Name: "policy_acks",
		Keys:    []store.Key{{Name: "subject", Kind: store.String}, {Name: "version", Kind: store.String}, {Name: "consented", Kind: store.Bool}},
		Indexes: [][]string{{"subject", "consented"}}}
)

func versionsRepo(b store.Backend) store.Repo[privacy.PolicyVersion] {
	return store.Repo[privacy.PolicyVersion]{B: b, C: PoliciesCollection, ID: func(p *privacy.PolicyVersion) string { return p.Version },
		Keys: func(p *privacy.PolicyVersion) map[string]any {
			return map[string]any{"effective": store.Unix(p.EffectiveAt), "published": store.Unix(p.PublishedAt)}
		}}
}

func acksRepo(b store.Backend) store.Repo[privacy.PolicyAck] {
	return store.Repo[privacy.PolicyAck]{B: b, C: AcksCollection, ID: func(a *privacy.PolicyAck) string { return a.ID },
		Keys: func(a *privacy.PolicyAck) map[string]any {
			return map[string]any{"subject": a.SubjectKey, "version": a.Version, "consented": a.ConsentedAt != nil}
		}}
}

// VersionFor returns the policy version that governs the subject now:
// the newest in effect, except that a material revision the subject has
// not consented to (nor any later one) leaves them under the version
// before it. "" when no version is in effect. Other functions call it.
func VersionFor(ctx context.Context, db *store.DB, subjectKey string) (string, error) {
	return VersionAt(ctx, db, subjectKey, time.Now())
}

// VersionAt is VersionFor at a given time.
func VersionAt(ctx context.Context, db *store.DB, subjectKey string, now time.Time) (string, error) {
	vs, err := versionsRepo(db.Backend).Find(ctx, store.Query{
		Filters: []store.Filter{store.Where("effective", store.LE, store.Unix(now))}, OrderBy: "effective", Limit: store.MaxLimit})
	if err != nil {
		return "", err
	}
	acks, err := acksRepo(db.Backend).Find(ctx, store.Query{Filters: []store.Filter{
		store.Where("subject", store.EQ, subjectKey), store.Where("consented", store.EQ, true)}, Limit: store.MaxLimit})
	if err != nil {
		return "", err
	}
	versions := make([]privacy.PolicyVersion, len(vs))
	for i, v := range vs {
		versions[i] = *v
	}
	var consented []string
	for _, a := range acks {
		consented = append(consented, a.Version)
	}
	return privacy.ApplicableVersion(versions, consented, now), nil
}

type fn struct {
	d        functions.Deps
	versions store.Repo[privacy.PolicyVersion]
	acks     store.Repo[privacy.PolicyAck]
	announce store.Repo[privacy.Announcement]
	fan      *fanout.Engine

	mu   sync.Mutex
	last *privacy.PolicyVersion // the version being announced, not read per person
}

// JobID is the fan-out job (and notification Ref) of a version.
func JobID(version string) string { return "policy:" + version }

// CeasedJobID is the fan-out of a cessation of operations.
func CeasedJobID(id string) string { return "ceased:" + id }

// New builds the policies function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	f := newFn(d)
	return &functions.Function{
		Name: Name,
		Routes: map[string]http.Handler{
			"POST /v1/policies":                       httpx.RequireOps(d.Config.OpsToken, http.HandlerFunc(f.publish)),
			"GET /v1/policies":                        http.HandlerFunc(f.list),
			"GET /v1/policies/{version}":              http.HandlerFunc(f.show),
			"POST /v1/policies/{version}/acknowledge": http.HandlerFunc(f.answer(false)),
			"POST /v1/policies/{version}/consent":     http.HandlerFunc(f.answer(true)),
		},
		Events: map[string]events.Handler{
			events.PolicyPublished:       f.started,
			events.OperationsCeased:      f.ceased,
			events.FanoutContinued:       f.fan.HandleContinued,
			events.NotificationDelivered: f.fan.HandleDelivered,
		},
		Collections: append([]store.Collection{PoliciesCollection, AcksCollection, incidents.AnnouncementsCollection}, fanout.Collections()...),
		Processing:  Processing(),
	}, nil
}

func newFn(d functions.Deps) *fn {
	f := &fn{d: d, versions: versionsRepo(d.DB.Backend), acks: acksRepo(d.DB.Backend),
		announce: incidents.AnnouncementsRepo(d.DB.Backend)}
	f.fan = fanout.New(d, f.compose, "policy", "ceased")
	f.fan.OnFinish = func(tx store.Tx, job *fanout.Job) error {
		if job.Kind != "ceased" {
			return nil
		}
		// End users of apps are reached only through their developers:
		// a cessation is always announced as well (policy: "one by one or
		// by announcement").
		return f.announceCeased(tx, strings.TrimPrefix(job.ID, "ceased:"), *job.FinishedAt)
	}
	return f
}

const maxBody = 64 << 10

type publishBody struct {
	Version     string    `json:"version"`
	EffectiveAt time.Time `json:"effective_at"`
	Material    bool      `json:"material"`
	Summary     string    `json:"summary"`
	Changes     []string  `json:"changes,omitempty"`
}

func (f *fn) publish(w http.ResponseWriter, r *http.Request) {
	var in publishBody
	if err := httpx.Decode(w, r, maxBody, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	now := f.d.Now()
	p := &privacy.PolicyVersion{Version: in.Version, EffectiveAt: in.EffectiveAt.UTC(), Material: in.Material,
		Summary: strings.TrimSpace(in.Summary), Changes: in.Changes, PublishedAt: now.UTC(), PublishedBy: "ops"}
	if err := p.Validate(now); err != nil {
		httpx.Error(w, r, err)
		return
	}
	err := f.d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
		latest, err := f.versions.In(tx).Find(store.Query{OrderBy: "effective", Desc: true, Limit: 1})
		if err != nil {
			return err
		}
		if len(latest) > 0 && !p.EffectiveAt.After(latest[0].EffectiveAt) {
			return privacy.FieldError("effective_at", "must be after the effective date of version %s", latest[0].Version)
		}
		if err := f.versions.In(tx).Create(p); err != nil {
			if privacy.ErrorCode(err) == privacy.ECONFLICT {
				return privacy.Errorf(privacy.ECONFLICT, "version %s exists; a published version never changes", p.Version)
			}
			return err
		}
		job := &fanout.Job{ID: JobID(p.Version), CreatedAt: now,
			Sources: []fanout.Source{{Kind: fanout.FromApps}, {Kind: fanout.FromAccounts}}}
		if err := f.fan.Create(tx, job, nil); err != nil {
			return err
		}
		return f.d.Bus.PublishTx(tx, events.Must(events.PolicyPublished, p.Version, events.RefData{ID: p.Version, At: now}))
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, map[string]any{"version": p.Version, "effective_at": p.EffectiveAt, "material": p.Material})
}

func (f *fn) started(ctx context.Context, e events.Event) error {
	d, err := events.Decode[events.RefData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	return f.fan.Run(ctx, JobID(d.ID), 0)
}

// ceased starts (once) and runs the notice of a cessation of operations.
func (f *fn) ceased(ctx context.Context, e events.Event) error {
	d, err := events.Decode[events.RefData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if !privacy.ValidVersion(d.ID) {
		return privacy.Errorf(privacy.EINVALID, "cessation id %q is not a plain name", d.ID)
	}
	id := CeasedJobID(d.ID)
	err = f.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		if _, err := f.fan.Jobs.In(tx).Get(id); err == nil {
			return nil
		} else if !privacy.IsNotFound(err) {
			return err
		}
		return f.fan.Create(tx, &fanout.Job{ID: id, CreatedAt: d.At,
			Sources: []fanout.Source{{Kind: fanout.FromApps}, {Kind: fanout.FromAccounts}}}, nil)
	})
	if err != nil {
		return err
	}
	return f.fan.Run(ctx, id, 0)
}

func (f *fn) announceCeased(tx store.Tx, id string, at time.Time) error {
	if _, err := f.announce.In(tx).Get("ceased-" + id); err == nil {
		return nil
	} else if !privacy.IsNotFound(err) {
		return err
	}
	return f.announce.In(tx).Create(&privacy.Announcement{ID: "ceased-" + id, Kind: "operations_ceased", Ref: CeasedJobID(id),
		Title: "停止运营通知 / Notice of cessation of operations",
		Body: "我们已停止运营并停止收集个人信息，将删除或匿名化处理所持有的个人信息。\n" +
			"We have ceased operations and stopped collecting personal information; the personal information we hold will be deleted or anonymized.",
		Contact: f.d.Config.MailFrom, PublishedAt: at.UTC()})
}

// shanghai is how dates are shown in notices: the policy's governing
// jurisdiction, fixed so that no tz database is needed.
var shanghai = time.FixedZone("UTC+8", 8*3600)

func (f *fn) version(ctx context.Context, v string) (*privacy.PolicyVersion, error) {
	f.mu.Lock()
	last := f.last
	f.mu.Unlock()
	if last != nil && last.Version == v {
		return last, nil
	}
	p, err := f.versions.Get(ctx, v)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.last = p
	f.mu.Unlock()
	return p, nil
}

// compose builds one person's notice; the answer links carry their signed
// token, sealed for notify.
func (f *fn) compose(ctx context.Context, job *fanout.Job, r *fanout.Recipient) (string, map[string]string, error) {
	if job.Kind == "ceased" {
		return TemplateCeased, map[string]string{"ceased_at": job.CreatedAt.In(shanghai).Format("2006-01-02 15:04 MST"),
			"note": "", "contact": f.d.Config.MailFrom}, nil
	}
	p, err := f.version(ctx, strings.TrimPrefix(job.ID, "policy:"))
	if err != nil {
		return "", nil, err
	}
	tok := Token(f.d, p.Version, r.SubjectKey)
	base := f.d.Config.PublicURL + "/privacy/policies/" + url.PathEscape(p.Version) + "?token=" + url.QueryEscape(tok)
	ack, err := f.fan.Seal(ctx, r.SubjectKey, base+"&action=acknowledge")
	if err != nil {
		return "", nil, err
	}
	consent, err := f.fan.Seal(ctx, r.SubjectKey, base+"&action=consent")
	if err != nil {
		return "", nil, err
	}
	changes := ""
	for _, c := range p.Changes {
		changes += "- " + c + "\n"
	}
	tmpl := TemplatePerson
	if r.Role == "developer" {
		tmpl = TemplateDeveloper
	}
	return tmpl, map[string]string{"version": p.Version, "effective_at": p.EffectiveAt.In(shanghai).Format("2006-01-02 15:04 MST"),
		"summary": p.Summary, "changes": strings.TrimRight(changes, "\n"), "material": strconv.FormatBool(p.Material),
		"ack_url": ack, "consent_url": consent, "policies_url": f.d.Config.PublicURL + "/privacy/policies"}, nil
}

// Token is the signed link token of a subject for a version: the subject
// key and a keyed hash binding it to the version. It proves the bearer
// received that person's notice; it opens nothing else.
func Token(d functions.Deps, version, subjectKey string) string {
	return subjectKey + "." + d.Keys.Hash("veil/policy-link/v1|" + version + "|" + subjectKey)[:32]
}

func (f *fn) checkToken(version, tok string) (string, bool) {
	sk, _, ok := strings.Cut(tok, ".")
	if !ok || sk == "" {
		return "", false
	}
	return sk, httpx.Equal(tok, Token(f.d, version, sk))
}

type answerBody struct {
	Token   string `json:"token,omitempty"`
	Subject string `json:"subject,omitempty"` // with the ops token only
}

// answer records an acknowledgement, or a consent (which acknowledges).
func (f *fn) answer(consent bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		version := r.PathValue("version")
		var in answerBody
		if err := httpx.Decode(w, r, 4<<10, &in); err != nil {
			httpx.Error(w, r, err)
			return
		}
		var sk, hint, actor string
		switch {
		case in.Subject != "" && httpx.IsOps(f.d.Config.OpsToken, r):
			sub, err := privacy.ParseSubject(in.Subject)
			if err != nil {
				httpx.Error(w, r, err)
				return
			}
			sk, hint, actor = f.d.Keys.SubjectKey(sub), sub.Hint(), "ops"
		case in.Subject != "":
			httpx.Error(w, r, privacy.Errorf(privacy.EUNAUTHORIZED, "answering for a named subject needs the ops token"))
			return
		default:
			var ok bool
			if sk, ok = f.checkToken(version, in.Token); !ok {
				// Same answer for a bad token and an unknown version: a
				// token reveals nothing about who was notified.
				httpx.Error(w, r, privacy.Errorf(privacy.EUNAUTHORIZED, "the link token is not valid for this version"))
				return
			}
			actor = "subject"
		}
		a, err := f.record(r.Context(), version, sk, hint, actor, consent)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusOK, map[string]any{"version": version, "acknowledged_at": a.AcknowledgedAt, "consented_at": a.ConsentedAt})
	}
}

func (f *fn) record(ctx context.Context, version, sk, hint, actor string, consent bool) (*privacy.PolicyAck, error) {
	now := f.d.Now().UTC()
	var out *privacy.PolicyAck
	err := f.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		if _, err := f.versions.In(tx).Get(version); err != nil {
			return err
		}
		id := version + "~" + sk
		a, err := f.acks.In(tx).Get(id)
		if privacy.IsNotFound(err) {
			a, err = &privacy.PolicyAck{ID: id, Version: version, SubjectKey: sk}, nil
		}
		if err != nil {
			return err
		}
		if hint == "" {
			// The link carries no name; the person's target has the hint.
			if t, err := f.fan.Targets.In(tx).Get(fanout.TargetID(JobID(version), sk)); err == nil {
				hint = t.Hint
			}
		}
		var names []string
		if a.AcknowledgedAt == nil {
			names, a.AcknowledgedAt = append(names, "acknowledged"), &now
		}
		if consent && a.ConsentedAt == nil {
			names, a.ConsentedAt = append(names, "consented"), &now
		}
		var counter *fanout.Counter
		if len(names) > 0 {
			if counter, err = f.fan.Bump(tx, JobID(version), id, names...); err != nil {
				return err
			}
		}
		if a.SubjectHint == "" {
			a.SubjectHint = hint
		}
		a.Actor = actor
		out = a
		if counter != nil {
			if err := f.fan.Counters.In(tx).Put(counter); err != nil {
				return err
			}
		}
		return f.acks.In(tx).Put(a)
	})
	return out, err
}

// View is a version with its counts (GET /v1/policies/{version}).
type View struct {
	*privacy.PolicyVersion
	InEffect     bool   `json:"in_effect"`
	Status       string `json:"notification_status"` // notifying, done
	Targeted     int64  `json:"targeted"`
	Notified     int64  `json:"notified"`
	Failed       int64  `json:"failed"`
	Unreachable  int64  `json:"unreachable"`
	Acknowledged int64  `json:"acknowledged"`
	Consented    int64  `json:"consented"`
}

func (f *fn) show(w http.ResponseWriter, r *http.Request) {
	p, err := f.versions.Get(r.Context(), r.PathValue("version"))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	pr, err := f.fan.Progress(r.Context(), JobID(p.Version))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	v := &View{PolicyVersion: p, InEffect: !p.EffectiveAt.After(f.d.Now()), Targeted: pr.Job.Targeted,
		Acknowledged: pr.Counts["acknowledged"], Consented: pr.Counts["consented"], Status: "notifying"}
	var queued int64
	v.Notified, v.Failed, v.Unreachable, queued = pr.Outcomes()
	if pr.Job.Done && queued <= 0 {
		v.Status = "done"
	}
	httpx.JSON(w, http.StatusOK, v)
}

func (f *fn) list(w http.ResponseWriter, r *http.Request) {
	ps, err := f.versions.Find(r.Context(), store.Query{OrderBy: "effective", Desc: true, Limit: 100})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	now := f.d.Now()
	type item struct {
		*privacy.PolicyVersion
		InEffect bool `json:"in_effect"`
	}
	out := make([]item, 0, len(ps))
	for _, p := range ps {
		out = append(out, item{p, !p.EffectiveAt.After(now)})
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"policies": out})
}
