// Package incidents is the incidents function (R21, policy section 五(三)):
// ops declare a security incident; Veil works out who is affected (named
// subjects, or everyone whose ad records of the breached categories were
// received in a window), tells each of them — by email for account
// holders, by push through the app's developer for end users — what
// happened, the possible impact, the measures taken, advice and remedies,
// publishes an announcement on the privacy center when some cannot be told
// one by one, and produces the report for the regulator.
//
// The fan-out itself is functions/notify/fanout: resumable, bounded in
// memory, and idempotent per person. It starts on
// com.veil.incident.declared.v1 and goes on through
// com.veil.fanout.continued.v1.
package incidents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/notify/fanout"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name.
const Name = "incidents"

// Template is the notice every affected person gets.
const Template = "incident_notice"

// Collections the function owns. Announcements are read by the portal.
var (
	IncidentsCollection     = store.Collection{Name: "incidents", Keys: []store.Key{{Name: "declared", Kind: store.Int}}}
	AnnouncementsCollection = store.Collection{Name: "announcements", Keys: []store.Key{{Name: "published", Kind: store.Int}}}
)

const maxBody = 1 << 20 // a declaration with 10,000 subjects fits

type fn struct {
	d             functions.Deps
	incidents     store.Repo[privacy.Incident]
	announcements store.Repo[privacy.Announcement]
	fan           *fanout.Engine

	mu   sync.Mutex
	last map[string]map[string]string // incident id → notice variables (one entry)
}

// AnnouncementsRepo is the announcements collection, for the functions
// that publish announcements (incidents; policies for a cessation).
func AnnouncementsRepo(b store.Backend) store.Repo[privacy.Announcement] {
	return store.Repo[privacy.Announcement]{B: b, C: AnnouncementsCollection, ID: func(a *privacy.Announcement) string { return a.ID },
		Keys: func(a *privacy.Announcement) map[string]any {
			return map[string]any{"published": store.Unix(a.PublishedAt)}
		}}
}

// JobID is the fan-out job (and notification Ref) of an incident.
func JobID(incidentID string) string { return "incident:" + incidentID }

// New builds the incidents function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	f := newFn(d)
	ops := func(h http.HandlerFunc) http.Handler { return httpx.RequireOps(d.Config.OpsToken, h) }
	return &functions.Function{
		Name: Name,
		Routes: map[string]http.Handler{
			"POST /v1/incidents":            ops(f.declare),
			"GET /v1/incidents":             ops(f.list),
			"GET /v1/incidents/{id}":        ops(f.progress),
			"GET /v1/incidents/{id}/report": ops(f.report),
			"GET /v1/announcements":         http.HandlerFunc(f.listAnnouncements),
			"GET /v1/announcements/{id}":    http.HandlerFunc(f.showAnnouncement),
		},
		Events: map[string]events.Handler{
			events.IncidentDeclared:      f.started,
			events.FanoutContinued:       f.fan.HandleContinued,
			events.NotificationDelivered: f.fan.HandleDelivered,
		},
		Collections: append([]store.Collection{IncidentsCollection, AnnouncementsCollection}, fanout.Collections()...),
		Processing:  Processing(),
	}, nil
}

func newFn(d functions.Deps) *fn {
	b := d.DB.Backend
	f := &fn{d: d,
		incidents: store.Repo[privacy.Incident]{B: b, C: IncidentsCollection, ID: func(i *privacy.Incident) string { return i.ID },
			Keys: func(i *privacy.Incident) map[string]any { return map[string]any{"declared": store.Unix(i.DeclaredAt)} }},
		announcements: store.Repo[privacy.Announcement]{B: b, C: AnnouncementsCollection, ID: func(a *privacy.Announcement) string { return a.ID },
			Keys: func(a *privacy.Announcement) map[string]any {
				return map[string]any{"published": store.Unix(a.PublishedAt)}
			}},
	}
	f.fan = fanout.New(d, f.compose, "incident")
	f.fan.OnFinish = func(tx store.Tx, job *fanout.Job) error {
		if job.Unreachable == 0 {
			return nil
		}
		return f.announce(tx, strings.TrimPrefix(job.ID, "incident:"), *job.FinishedAt)
	}
	f.fan.OnFailed = func(tx store.Tx, jobID string) error {
		return f.announce(tx, strings.TrimPrefix(jobID, "incident:"), d.Now())
	}
	return f
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (f *fn) declare(w http.ResponseWriter, r *http.Request) {
	var in privacy.IncidentDeclaration
	if err := httpx.Decode(w, r, maxBody, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	now := f.d.Now()
	subjects, err := in.Validate(now)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	inc := &privacy.Incident{ID: newID("inc-"), Title: strings.TrimSpace(in.Title), WhatHappened: in.WhatHappened,
		OccurredAt: in.OccurredAt.UTC(), DiscoveredAt: in.DiscoveredAt.UTC(), DeclaredAt: now.UTC(), DeclaredBy: "ops",
		Categories: in.Categories, Impact: in.Impact, Measures: in.Measures, Advice: in.Advice, Remedies: in.Remedies,
		Contact: in.Contact, Scope: privacy.IncidentScope{Subjects: len(subjects), Query: in.Affected.Query}}
	job := &fanout.Job{ID: JobID(inc.ID), CreatedAt: now}
	if q := in.Affected.Query; q != nil {
		job.Sources = []fanout.Source{{Kind: fanout.FromRecords, Categories: q.Categories, From: q.From, To: q.To}}
	}
	err = f.d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
		if err := f.incidents.In(tx).Create(inc); err != nil {
			return err
		}
		j := *job
		j.Sources = append([]fanout.Source(nil), job.Sources...)
		if err := f.fan.Create(tx, &j, subjects); err != nil {
			return err
		}
		return f.d.Bus.PublishTx(tx, events.Must(events.IncidentDeclared, inc.ID, events.RefData{ID: inc.ID, At: now}))
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, map[string]string{"id": inc.ID})
}

// started begins the fan-out (generation 0). A redelivery after the
// fan-out moved on finds a later generation and does nothing.
func (f *fn) started(ctx context.Context, e events.Event) error {
	d, err := events.Decode[events.RefData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	return f.fan.Run(ctx, JobID(d.ID), 0)
}

// compose builds one affected person's notice. Every variable is the
// incident's, none is the person's: the notice names no one. An incident
// does not change once declared, so the last one's variables are kept for
// the next person instead of being read again.
func (f *fn) compose(ctx context.Context, job *fanout.Job, _ *fanout.Recipient) (string, map[string]string, error) {
	id := strings.TrimPrefix(job.ID, "incident:")
	f.mu.Lock()
	vars := f.last[id]
	f.mu.Unlock()
	if vars == nil {
		inc, err := f.incidents.Get(ctx, id)
		if err != nil {
			return "", nil, err
		}
		vars = noticeVars(inc, f.d.Config.PublicURL)
		f.mu.Lock()
		f.last = map[string]map[string]string{id: vars}
		f.mu.Unlock()
	}
	return Template, vars, nil
}

func noticeVars(inc *privacy.Incident, public string) map[string]string {
	zh, en := categoryNames(inc.Categories)
	return map[string]string{
		"incident_id": inc.ID, "title": inc.Title, "what_happened": inc.WhatHappened,
		"occurred_at": inc.OccurredAt.Format(time.RFC3339), "discovered_at": inc.DiscoveredAt.Format(time.RFC3339),
		"categories_zh": zh, "categories_en": en, "impact": inc.Impact, "measures": inc.Measures,
		"advice": inc.Advice, "remedies": inc.Remedies, "contact": inc.Contact,
		"announcements_url": public + "/privacy/announcements",
	}
}

// categoryNames are the categories in the words of the notice.
func categoryNames(cs []privacy.Category) (zh, en string) {
	names := map[privacy.Category][2]string{
		privacy.CatDeviceID: {"设备标识符", "device identifiers"}, privacy.CatDeviceInfo: {"设备信息", "device information"},
		privacy.CatNetwork: {"网络信息", "network information"}, privacy.CatLocale: {"语言和地区", "language and region"},
		privacy.CatOS: {"操作系统信息", "operating system information"}, privacy.CatApp: {"应用信息", "app information"},
		privacy.CatAppList: {"应用安装列表", "installed apps"}, privacy.CatSensors: {"传感器信息", "sensor data"},
		privacy.CatLocation: {"地理位置（敏感个人信息）", "geographic location (sensitive)"},
		privacy.CatAccount:  {"账号联系信息", "account contact details"}, privacy.CatConsent: {"同意记录", "consent records"},
		privacy.CatRequests: {"权利请求记录", "rights requests"}, privacy.CatNotices: {"通知记录", "notices"},
		privacy.CatSecurityLog: {"网络安全日志", "network security logs"},
	}
	var z, e []string
	for _, c := range cs {
		n, ok := names[c]
		if !ok {
			n = [2]string{string(c), string(c)}
		}
		z, e = append(z, n[0]), append(e, n[1])
	}
	return strings.Join(z, "、"), strings.Join(e, ", ")
}

// announce publishes the incident's announcement once (R21: when people
// cannot be told one by one). It reads before it writes.
func (f *fn) announce(tx store.Tx, id string, at time.Time) error {
	if _, err := f.announcements.In(tx).Get(id); err == nil {
		return nil
	} else if !privacy.IsNotFound(err) {
		return err
	}
	inc, err := f.incidents.In(tx).Get(id)
	if err != nil {
		return err
	}
	_, en := categoryNames(inc.Categories)
	return f.announcements.In(tx).Create(&privacy.Announcement{ID: inc.ID, Kind: "incident", Ref: JobID(inc.ID),
		Title: inc.Title, Body: inc.WhatHappened + "\n\n(" + en + ")", Categories: inc.Categories, Impact: inc.Impact,
		Measures: inc.Measures, Advice: inc.Advice, Remedies: inc.Remedies, Contact: inc.Contact, PublishedAt: at.UTC()})
}

// Progress is the answer of GET /v1/incidents/{id}.
type Progress struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Status      string     `json:"status"` // fanning_out, delivering, done
	Targeted    int64      `json:"targeted"`
	Queued      int64      `json:"queued"` // notices staged, outcome not yet known
	Sent        int64      `json:"sent"`
	Failed      int64      `json:"failed"`
	Unreachable int64      `json:"unreachable"`
	Announced   bool       `json:"announced"`
	AnnouncedAt *time.Time `json:"announced_at,omitempty"`
	FinishedAt  *time.Time `json:"fanout_finished_at,omitempty"`
}

func (f *fn) progressOf(ctx context.Context, id string) (*privacy.Incident, *Progress, error) {
	inc, err := f.incidents.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	p, err := f.fan.Progress(ctx, JobID(id))
	if err != nil {
		return nil, nil, err
	}
	out := &Progress{ID: inc.ID, Title: inc.Title, Targeted: p.Job.Targeted, FinishedAt: p.Job.FinishedAt}
	out.Sent, out.Failed, out.Unreachable, out.Queued = p.Outcomes()
	switch {
	case !p.Job.Done:
		out.Status = "fanning_out"
	case out.Queued > 0:
		out.Status = "delivering"
	default:
		out.Status = "done"
	}
	if a, err := f.announcements.Get(ctx, id); err == nil {
		out.Announced, out.AnnouncedAt = true, &a.PublishedAt
	} else if !privacy.IsNotFound(err) {
		return nil, nil, err
	}
	return inc, out, nil
}

func (f *fn) progress(w http.ResponseWriter, r *http.Request) {
	_, p, err := f.progressOf(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (f *fn) list(w http.ResponseWriter, r *http.Request) {
	incs, err := f.incidents.Find(r.Context(), store.Query{OrderBy: "declared", Desc: true, Limit: 100})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	if incs == nil {
		incs = []*privacy.Incident{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"incidents": incs})
}

func (f *fn) listAnnouncements(w http.ResponseWriter, r *http.Request) {
	as, err := f.announcements.Find(r.Context(), store.Query{OrderBy: "published", Desc: true, Limit: 100})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	if as == nil {
		as = []*privacy.Announcement{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"announcements": as})
}

func (f *fn) showAnnouncement(w http.ResponseWriter, r *http.Request) {
	a, err := f.announcements.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, a)
}

// Report is the regulator's report: what happened and when, what data,
// how many people, what was done and what they were told.
type Report struct {
	Incident    *privacy.Incident `json:"incident"`
	Timeline    []TimelineEntry   `json:"timeline"`
	Categories  []CategoryName    `json:"categories"`
	Counts      *Progress         `json:"counts"`
	Impact      string            `json:"impact"`
	Measures    string            `json:"measures"`
	Advice      string            `json:"advice"`
	Remedies    string            `json:"remedies"`
	Contact     string            `json:"contact"`
	GeneratedAt time.Time         `json:"generated_at"`
}

// TimelineEntry is one dated step.
type TimelineEntry struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// CategoryName is a category with its words.
type CategoryName struct {
	Category privacy.Category `json:"category"`
	Zh       string           `json:"zh"`
	En       string           `json:"en"`
}

func (f *fn) report(w http.ResponseWriter, r *http.Request) {
	inc, p, err := f.progressOf(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	rep := &Report{Incident: inc, Counts: p, Impact: inc.Impact, Measures: inc.Measures, Advice: inc.Advice,
		Remedies: inc.Remedies, Contact: inc.Contact, GeneratedAt: f.d.Now().UTC()}
	rep.Timeline = []TimelineEntry{{inc.OccurredAt, "occurred"}, {inc.DiscoveredAt, "discovered"}, {inc.DeclaredAt, "declared; notification of affected people started"}}
	if p.FinishedAt != nil {
		rep.Timeline = append(rep.Timeline, TimelineEntry{p.FinishedAt.UTC(), fmt.Sprintf("all %d affected people identified and their notices queued", p.Targeted)})
	}
	if p.AnnouncedAt != nil {
		rep.Timeline = append(rep.Timeline, TimelineEntry{p.AnnouncedAt.UTC(), "announcement published on the privacy center (not everyone could be notified individually)"})
	}
	for _, c := range inc.Categories {
		zh, en := categoryNames([]privacy.Category{c})
		rep.Categories = append(rep.Categories, CategoryName{c, zh, en})
	}
	if strings.Contains(r.Header.Get("Accept"), "text/markdown") {
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(rep.Markdown()))
		return
	}
	httpx.JSON(w, http.StatusOK, rep)
}

// Markdown renders the report for people.
func (rep *Report) Markdown() string {
	var b strings.Builder
	inc, c := rep.Incident, rep.Counts
	fmt.Fprintf(&b, "# Security incident report: %s\n\nIncident %s, generated %s.\n\n## What happened\n\n%s\n\n## Timeline\n\n",
		inc.Title, inc.ID, rep.GeneratedAt.Format(time.RFC3339), inc.WhatHappened)
	for _, t := range rep.Timeline {
		fmt.Fprintf(&b, "- %s — %s\n", t.At.Format(time.RFC3339), t.What)
	}
	b.WriteString("\n## Personal information involved\n\n")
	for _, cn := range rep.Categories {
		fmt.Fprintf(&b, "- %s (%s)\n", cn.En, cn.Zh)
	}
	fmt.Fprintf(&b, "\n## People affected and notified\n\n| affected | notified | failed | unreachable | pending | announcement |\n|---|---|---|---|---|---|\n| %d | %d | %d | %d | %d | %v |\n",
		c.Targeted, c.Sent, c.Failed, c.Unreachable, c.Queued, c.Announced)
	for _, s := range [][2]string{{"Possible impact", rep.Impact}, {"Measures taken", rep.Measures},
		{"Advice given to the people affected", rep.Advice}, {"Remedies", rep.Remedies}, {"Contact", rep.Contact}} {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", s[0], s[1])
	}
	return b.String()
}
