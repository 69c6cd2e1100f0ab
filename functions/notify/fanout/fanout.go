// Package fanout turns a population (named subjects, the people behind ad
// records in a window, every app developer, every account) into one
// com.veil.notification.requested.v1 per person, for the incidents and
// policies functions (R21, R22, R23).
//
// It is resumable and bounded: a Job document holds a cursor into its
// sources; each batch reads at most BatchSize items after the cursor and,
// in one transaction, records a Target per new person, stages their
// notification events and advances the cursor. A crash before the commit
// redoes the batch; after it, the batch is never redone. A Target's id is
// the notification's idempotency key (job~subject key), so a person named
// twice — many ad records, or two runners racing — is notified once, and
// notify dedupes the key again on its side. One handler run does at most
// MaxBatches batches, then stages a continuation event in its last
// transaction, so no run is long and memory never grows with the population.
package fanout

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Collections the fan-out keeps. The owning function lists them.
var (
	JobsCollection = store.Collection{Name: "fanout_jobs",
		Keys: []store.Key{{Name: "kind", Kind: store.String}, {Name: "created", Kind: store.Int}}}
	TargetsCollection = store.Collection{Name: "fanout_targets",
		Keys: []store.Key{{Name: "job", Kind: store.String}, {Name: "subject", Kind: store.String}, {Name: "status", Kind: store.String}}}
	CountersCollection = store.Collection{Name: "fanout_counters", Keys: []store.Key{{Name: "job", Kind: store.String}}}
	SeedsCollection    = store.Collection{Name: "fanout_seeds", Keys: []store.Key{{Name: "job", Kind: store.String}}}
)

// Collections lists the fan-out's collections.
func Collections() []store.Collection {
	return []store.Collection{JobsCollection, TargetsCollection, CountersCollection, SeedsCollection}
}

// Sizes. A batch writes, per new person, one target and one pending
// delivery per subscriber of notification.requested (notify, and audit
// when deployed): 100 × (1 + 3) + the job stays under Firestore's 500
// writes per transaction.
const (
	DefaultBatchSize  = 100
	DefaultMaxBatches = 20
	DefaultBudget     = 10 * time.Second
	seedChunk         = 500
	shards            = 16
)

// Kinds of source.
const (
	FromSeeds    = "seeds"    // subjects named explicitly, stored in seed chunks
	FromRecords  = "records"  // device subjects behind ad records in a window
	FromApps     = "apps"     // every app's developer
	FromAccounts = "accounts" // every account subject known from its requests
)

// Target statuses. queued: notification staged; the rest mirror notify's
// delivery outcome; unreachable at fan-out time means no contact at all.
const (
	StatusQueued      = "queued"
	StatusSent        = "sent"
	StatusFailed      = "failed"
	StatusUnreachable = "unreachable"
)

// Source is one population a job walks, in order.
type Source struct {
	Kind       string             `json:"kind"`
	Chunks     int                `json:"chunks,omitempty"` // seeds
	Categories []privacy.Category `json:"categories,omitempty"`
	From       time.Time          `json:"from,omitzero"`
	To         time.Time          `json:"to,omitzero"`
}

// Cursor is where a job is inside its current source.
type Cursor struct {
	After    string `json:"after,omitempty"`    // id of the last document visited
	Received int64  `json:"received,omitempty"` // records: its received key
	Chunk    int    `json:"chunk,omitempty"`    // seeds
	Offset   int    `json:"offset,omitempty"`
}

// Job is one fan-out. Its ID is also the Ref of every notification.
type Job struct {
	ID          string     `json:"id"` // <kind>:<owner id>
	Kind        string     `json:"kind"`
	Sources     []Source   `json:"sources"`
	Phase       int        `json:"phase"`
	Cursor      Cursor     `json:"cursor"`
	Gen         int        `json:"gen"`
	Done        bool       `json:"done"`
	Batches     int64      `json:"batches"`
	Targeted    int64      `json:"targeted"`
	Unreachable int64      `json:"unreachable"`
	CreatedAt   time.Time  `json:"created_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// Target is one person of a job and the fate of their notice.
type Target struct {
	ID         string    `json:"id"` // job~subject key = the notification key
	Job        string    `json:"job"`
	SubjectKey string    `json:"subject_key"`
	Hint       string    `json:"hint"`
	Role       string    `json:"role"`    // account, developer, device
	Channel    string    `json:"channel"` // email, push; "" when unreachable
	Status     string    `json:"status"`
	Error      string    `json:"error,omitempty"`
	At         time.Time `json:"at"`
}

// Counter is one shard of a job's delivery counts. Deliveries update
// shards, not the job, so concurrent outcomes do not contend on one
// document.
type Counter struct {
	ID     string           `json:"id"`
	Job    string           `json:"job"`
	Counts map[string]int64 `json:"counts"`
}

// Seed is a chunk of explicitly named subjects. Seeds are deleted when the
// job finishes: they hold raw subject strings only as long as needed.
type Seed struct {
	ID       string   `json:"id"`
	Job      string   `json:"job"`
	Subjects []string `json:"subjects"`
}

// Recipient is a person found by a source, with their contact resolved.
type Recipient struct {
	SubjectKey string
	Hint       string
	Role       string // account, developer, device
	Channel    string // email, push; "" when there is no way to reach them
	To         string // plaintext address; sealed before it leaves
}

// Composer gives the template and variables of a job's notice to r. It runs
// outside transactions and may seal values (Engine.Seal).
type Composer func(ctx context.Context, job *Job, r *Recipient) (template string, vars map[string]string, err error)

// Engine runs the jobs of the given kinds.
type Engine struct {
	d        functions.Deps
	kinds    []string
	compose  Composer
	Jobs     store.Repo[Job]
	Targets  store.Repo[Target]
	Counters store.Repo[Counter]
	Seeds    store.Repo[Seed]

	BatchSize  int
	MaxBatches int
	Budget     time.Duration
	// OnFinish runs inside the transaction of a job's last batch, after
	// the engine's reads and before its writes: it may read, then write.
	OnFinish func(tx store.Tx, job *Job) error
	// OnFailed runs inside the transaction recording a failed or
	// unreachable delivery outcome, in the same position.
	OnFailed func(tx store.Tx, jobID string) error
}

// New builds an engine for jobs whose ids start with one of kinds + ":".
func New(d functions.Deps, compose Composer, kinds ...string) *Engine {
	b := d.DB.Backend
	return &Engine{d: d, kinds: kinds, compose: compose,
		Jobs: store.Repo[Job]{B: b, C: JobsCollection, ID: func(j *Job) string { return j.ID },
			Keys: func(j *Job) map[string]any { return map[string]any{"kind": j.Kind, "created": store.Unix(j.CreatedAt)} }},
		Targets: store.Repo[Target]{B: b, C: TargetsCollection, ID: func(t *Target) string { return t.ID },
			Keys: func(t *Target) map[string]any {
				return map[string]any{"job": t.Job, "subject": t.SubjectKey, "status": t.Status}
			}},
		Counters: store.Repo[Counter]{B: b, C: CountersCollection, ID: func(c *Counter) string { return c.ID },
			Keys: func(c *Counter) map[string]any { return map[string]any{"job": c.Job} }},
		Seeds: store.Repo[Seed]{B: b, C: SeedsCollection, ID: func(s *Seed) string { return s.ID },
			Keys: func(s *Seed) map[string]any { return map[string]any{"job": s.Job} }},
		BatchSize: DefaultBatchSize, MaxBatches: DefaultMaxBatches, Budget: DefaultBudget}
}

// Owns reports whether a job id (a notification's Ref) is this engine's.
func (e *Engine) Owns(jobID string) bool {
	kind, _, ok := strings.Cut(jobID, ":")
	if !ok {
		return false
	}
	for _, k := range e.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// TargetID is the target (and notification key) of a subject in a job.
func TargetID(jobID, subjectKey string) string { return jobID + "~" + subjectKey }

// Create stores a new job and its seed subjects in the caller's
// transaction; the caller stages the event that starts it. Reads: none.
func (e *Engine) Create(tx store.Tx, job *Job, seeds []privacy.Subject) error {
	if !e.Owns(job.ID) {
		return fmt.Errorf("fanout: job %q is not of kinds %v", job.ID, e.kinds)
	}
	job.Kind, _, _ = strings.Cut(job.ID, ":")
	if len(seeds) > 0 {
		chunks := (len(seeds) + seedChunk - 1) / seedChunk
		job.Sources = append([]Source{{Kind: FromSeeds, Chunks: chunks}}, job.Sources...)
		for c := 0; c < chunks; c++ {
			s := &Seed{ID: seedID(job.ID, c), Job: job.ID}
			for _, sub := range seeds[c*seedChunk : min(len(seeds), (c+1)*seedChunk)] {
				s.Subjects = append(s.Subjects, sub.String())
			}
			if err := e.Seeds.In(tx).Create(s); err != nil {
				return err
			}
		}
	}
	return e.Jobs.In(tx).Create(job)
}

func seedID(job string, chunk int) string { return fmt.Sprintf("%s~%d", job, chunk) }

// Continuation is the event that resumes job at generation gen.
func Continuation(jobID string, gen int) events.Event {
	return events.Must(events.FanoutContinued, jobID, events.FanoutData{Job: jobID, Gen: gen})
}

// HandleContinued is the handler for com.veil.fanout.continued.v1.
func (e *Engine) HandleContinued(ctx context.Context, ev events.Event) error {
	d, err := events.Decode[events.FanoutData](ev)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if !e.Owns(d.Job) {
		return nil // another function's job: every owner gets the type
	}
	return e.Run(ctx, d.Job, d.Gen)
}

// errMoved means another runner advanced the job between our read and our
// transaction; the batch is dropped and read again.
var errMoved = errors.New("fanout: job moved under us")

// Run does up to MaxBatches batches of job at generation gen (bounded in
// time by Budget), then hands on to a continuation event. A run whose gen
// is not the job's is stale (a redelivered start, say) and does nothing.
func (e *Engine) Run(ctx context.Context, jobID string, gen int) error {
	start := e.d.Now()
	cache := map[string]*privacy.App{}
	for i := 0; ; i++ {
		last := i+1 >= e.MaxBatches || e.d.Now().Sub(start) >= e.Budget
		done, err := e.batch(ctx, jobID, gen, last, cache)
		if errors.Is(err, errMoved) {
			if i > 4*e.MaxBatches {
				return err // a livelock would be a bug; let the broker retry
			}
			continue
		}
		if err != nil || done || last {
			return err
		}
	}
}

// item is one person a source yielded, before dedupe.
type item struct {
	subjectKey string
	subject    *privacy.Subject  // when known in clear (seeds, accounts, developers)
	role       string            // account, developer, device
	record     *privacy.AdRecord // records source: the record that named them
	sealed     map[string]json.RawMessage
}

// batch processes one page. It returns done when the job has finished (or
// is not this run's to continue).
func (e *Engine) batch(ctx context.Context, jobID string, gen int, last bool, apps map[string]*privacy.App) (bool, error) {
	job, err := e.Jobs.Get(ctx, jobID)
	if err != nil {
		if privacy.IsNotFound(err) {
			return true, nil // deleted; nothing to do
		}
		return false, err
	}
	if job.Done || job.Gen != gen {
		return true, nil
	}
	before := job.Cursor
	beforePhase := job.Phase
	items, err := e.page(ctx, job)
	if err != nil {
		return false, err
	}
	// Drop people already targeted before resolving contacts: resolution
	// costs key reads. The transaction checks again, authoritatively.
	fresh := make([]item, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		id := TargetID(job.ID, it.subjectKey)
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, err := e.Targets.Get(ctx, id); err == nil {
			continue
		} else if !privacy.IsNotFound(err) {
			return false, err
		}
		fresh = append(fresh, it)
	}
	type staged struct {
		t  *Target
		ev *events.Event
	}
	var out []staged
	now := e.d.Now()
	for _, it := range fresh {
		r, err := e.resolve(ctx, it, apps)
		if err != nil {
			return false, err
		}
		t := &Target{ID: TargetID(job.ID, r.SubjectKey), Job: job.ID, SubjectKey: r.SubjectKey, Hint: r.Hint,
			Role: r.Role, Channel: r.Channel, Status: StatusUnreachable, At: now}
		s := staged{t: t}
		if r.Channel != "" {
			tmpl, vars, err := e.compose(ctx, job, r)
			if err != nil {
				return false, err
			}
			to, err := e.Seal(ctx, r.SubjectKey, r.To)
			if err != nil {
				return false, err
			}
			ev, err := events.New(events.NotificationRequested, job.ID, events.NotificationData{Key: t.ID, Channel: r.Channel,
				To: to, Template: tmpl, Vars: vars, SubjectKey: r.SubjectKey, Ref: job.ID})
			if err != nil {
				return false, err
			}
			t.Status, s.ev = StatusQueued, &ev
		}
		out = append(out, s)
	}
	finished := job.Phase >= len(job.Sources)
	err = e.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		cur, err := e.Jobs.In(tx).Get(job.ID)
		if err != nil {
			return err
		}
		if cur.Done || cur.Gen != gen || cur.Phase != beforePhase || cur.Cursor != before {
			return errMoved
		}
		var create []staged
		for _, s := range out {
			if _, err := e.Targets.In(tx).Get(s.t.ID); err == nil {
				continue
			} else if !privacy.IsNotFound(err) {
				return err
			}
			create = append(create, s)
		}
		// Work on a copy: the transaction may run again.
		j := *job
		j.Batches++
		for _, s := range create {
			j.Targeted++
			if s.ev == nil {
				j.Unreachable++
			}
		}
		if finished {
			j.Done, j.FinishedAt = true, &now
			if e.OnFinish != nil {
				if err := e.OnFinish(tx, &j); err != nil {
					return err
				}
			}
		}
		for _, s := range create {
			if err := e.Targets.In(tx).Create(s.t); err != nil {
				return err
			}
			if s.ev != nil {
				if err := e.d.Bus.PublishTx(tx, *s.ev); err != nil {
					return err
				}
			}
		}
		if finished {
			for c := 0; c < seedChunks(&j); c++ {
				if err := e.Seeds.In(tx).Delete(seedID(j.ID, c)); err != nil {
					return err
				}
			}
		} else if last {
			j.Gen++
			if err := e.d.Bus.PublishTx(tx, Continuation(j.ID, j.Gen)); err != nil {
				return err
			}
		}
		return e.Jobs.In(tx).Put(&j)
	})
	return finished, err
}

func seedChunks(j *Job) int {
	for _, s := range j.Sources {
		if s.Kind == FromSeeds {
			return s.Chunks
		}
	}
	return 0
}

// page reads the next items of the job's current source and advances the
// job's cursor (and phase, when the source is exhausted) in memory.
func (e *Engine) page(ctx context.Context, job *Job) ([]item, error) {
	for job.Phase < len(job.Sources) {
		src := job.Sources[job.Phase]
		items, exhausted, err := e.read(ctx, job, src)
		if err != nil {
			return nil, err
		}
		if exhausted {
			job.Phase++
			job.Cursor = Cursor{}
		}
		if len(items) > 0 || !exhausted {
			return items, nil
		}
	}
	return nil, nil
}

func (e *Engine) read(ctx context.Context, job *Job, src Source) ([]item, bool, error) {
	n := e.BatchSize
	c := &job.Cursor
	switch src.Kind {
	case FromSeeds:
		if c.Chunk >= src.Chunks {
			return nil, true, nil
		}
		seed, err := e.Seeds.Get(ctx, seedID(job.ID, c.Chunk))
		if err != nil {
			return nil, false, err
		}
		end := min(len(seed.Subjects), c.Offset+n)
		var out []item
		for _, raw := range seed.Subjects[c.Offset:end] {
			sub, err := privacy.ParseSubject(raw)
			if err != nil {
				continue // validated at declaration; cannot happen
			}
			role := "account"
			if sub.IsDevice() {
				role = "device"
			}
			// A device named by any of its ids is filed under its
			// primary one: find that, or its records are missed.
			sk, err := ingest.ResolveSubjectKey(ctx, e.d.DB, e.d.Keys, sub)
			if err != nil {
				return nil, false, err
			}
			out = append(out, item{subjectKey: sk, subject: &sub, role: role})
		}
		c.Offset = end
		if end >= len(seed.Subjects) {
			c.Chunk, c.Offset = c.Chunk+1, 0
		}
		return out, c.Chunk >= src.Chunks, nil
	case FromRecords:
		q := store.Query{Filters: []store.Filter{store.Where("received", store.GE, store.Unix(src.From)),
			store.Where("received", store.LE, store.Unix(src.To))}, OrderBy: "received", Limit: n}
		if c.After != "" {
			q.After = &store.Doc{ID: c.After, Keys: map[string]any{"received": c.Received}}
		}
		recs, err := e.d.DB.Records.Find(ctx, q)
		if err != nil {
			return nil, false, err
		}
		var out []item
		m := newMatcher(src.Categories)
		seen := map[string]bool{}
		for _, r := range recs {
			if seen[r.SubjectKey] {
				continue // one record per person is enough; spare the decryption
			}
			ok, sealed, err := e.matches(ctx, m, r)
			if err != nil {
				return nil, false, err
			}
			if ok {
				seen[r.SubjectKey] = true
				out = append(out, item{subjectKey: r.SubjectKey, role: "device", record: r, sealed: sealed})
			}
		}
		if len(recs) > 0 {
			l := recs[len(recs)-1]
			c.After, c.Received = l.ID, store.Unix(l.ReceivedAt)
		}
		return out, len(recs) < n, nil
	case FromApps:
		q := store.Query{Limit: n}
		if c.After != "" {
			q.After = &store.Doc{ID: c.After}
		}
		apps, err := e.d.DB.Apps.Find(ctx, q)
		if err != nil {
			return nil, false, err
		}
		var out []item
		for _, a := range apps {
			if sub, err := privacy.AccountSubject(a.DeveloperEmail); err == nil {
				out = append(out, item{subjectKey: e.d.Keys.SubjectKey(sub), subject: &sub, role: "developer"})
			}
		}
		if len(apps) > 0 {
			c.After = apps[len(apps)-1].ID
		}
		return out, len(apps) < n, nil
	case FromAccounts:
		q := store.Query{Limit: n}
		if c.After != "" {
			q.After = &store.Doc{ID: c.After}
		}
		reqs, err := e.d.DB.Requests.Find(ctx, q)
		if err != nil {
			return nil, false, err
		}
		var out []item
		for _, r := range reqs {
			if r.Email == "" {
				continue
			}
			if sub, err := privacy.AccountSubject(r.Email); err == nil {
				out = append(out, item{subjectKey: e.d.Keys.SubjectKey(sub), subject: &sub, role: "account"})
			}
		}
		if len(reqs) > 0 {
			c.After = reqs[len(reqs)-1].ID
		}
		return out, len(reqs) < n, nil
	}
	return nil, false, fmt.Errorf("fanout: unknown source %q", src.Kind)
}

// matcher is a query's categories, prepared once per page.
type matcher struct {
	want   map[privacy.Category]bool
	sealed bool // some wanted category has fields stored only sealed
}

func newMatcher(cats []privacy.Category) matcher {
	m := matcher{want: map[privacy.Category]bool{}}
	for _, c := range cats {
		m.want[c] = true
	}
	for _, f := range privacy.Fields() {
		m.sealed = m.sealed || (m.want[f.Category] && f.Treatment == privacy.Encrypt)
	}
	return m
}

// matches reports whether a record holds data of the matcher's categories.
// Categories visible in the clear (kept fields, id hashes, coarse geo)
// decide without decryption; only when a category's fields are stored
// sealed is the record opened — and its plaintext is kept for contact
// resolution. Isolated records count too: out of processing, but exposed.
func (e *Engine) matches(ctx context.Context, m matcher, r *privacy.AdRecord) (bool, map[string]json.RawMessage, error) {
	want := m.want
	if len(r.IDHashes) > 0 && want[privacy.CatDeviceID] {
		return true, nil, nil
	}
	if r.CoarseGeo != nil && want[privacy.CatLocation] {
		return true, nil, nil
	}
	for path := range r.Fields {
		if f, ok := privacy.FieldByPath(path); ok && want[f.Category] {
			return true, nil, nil
		}
	}
	if !m.sealed || len(r.Sealed) == 0 {
		return false, nil, nil
	}
	plain, err := e.open(ctx, r)
	if err != nil || plain == nil {
		return false, nil, err
	}
	for path := range plain {
		if f, ok := privacy.FieldByPath(path); ok && want[f.Category] {
			return true, plain, nil
		}
	}
	return false, plain, nil
}

// open decrypts a record's sealed fields; a shredded subject (erased) has
// nothing left to open and yields nil.
func (e *Engine) open(ctx context.Context, r *privacy.AdRecord) (map[string]json.RawMessage, error) {
	plain, err := e.d.Keys.Open(ctx, r.SubjectKey, r.Sealed)
	if privacy.ErrorCode(err) == privacy.EGONE {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(plain, &m) != nil {
		return nil, nil
	}
	return m, nil
}

// resolve finds how to reach one person:
//   - an account (or a developer) by email to its address;
//   - a device by push through the developer of the app that collected the
//     data (its registered webhook), naming the device so the developer
//     can route it; without a webhook, or without a record, unreachable.
func (e *Engine) resolve(ctx context.Context, it item, apps map[string]*privacy.App) (*Recipient, error) {
	r := &Recipient{SubjectKey: it.subjectKey, Role: it.role, Hint: "device:…"}
	if it.subject != nil {
		r.Hint = it.subject.Hint()
		if !it.subject.IsDevice() {
			r.Channel, r.To = "email", it.subject.Value
			return r, nil
		}
	}
	rec, sealed := it.record, it.sealed
	if rec == nil {
		recs, err := e.d.DB.Records.Find(ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, it.subjectKey)},
			OrderBy: "received", Desc: true, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return r, nil // never seen through any app: no one to push through
		}
		rec = recs[0]
	}
	device := it.subject
	if device == nil {
		if sealed == nil && len(rec.Sealed) > 0 {
			var err error
			if sealed, err = e.open(ctx, rec); err != nil {
				return nil, err
			}
		}
		device = e.deviceOf(rec.SubjectKey, sealed)
		if device == nil {
			return r, nil // the identifiers are gone (shredded): nothing to name
		}
		r.Hint = device.Hint()
	}
	app, ok := apps[rec.AppID]
	if !ok {
		a, err := e.d.DB.Apps.Get(ctx, rec.AppID)
		if err != nil && !privacy.IsNotFound(err) {
			return nil, err
		}
		if len(apps) > 4096 {
			clear(apps) // bound the cache; apps are few, but never trust that
		}
		app, apps[rec.AppID] = a, a
	}
	if app == nil || app.Revoked || app.PushWebhook == "" {
		return r, nil
	}
	r.Channel, r.To = "push", app.ID+" "+device.String()
	return r, nil
}

// deviceOf finds, among a record's sealed identifiers, the one its subject
// is filed under (the others are linked ids of the same device).
func (e *Engine) deviceOf(subjectKey string, sealed map[string]json.RawMessage) *privacy.Subject {
	var first *privacy.Subject
	for path, raw := range sealed {
		typ := privacy.DeviceIDType(path)
		var v string
		if typ == "" || json.Unmarshal(raw, &v) != nil {
			continue
		}
		sub, err := privacy.DeviceSubject(typ, v)
		if err != nil {
			continue
		}
		if e.d.Keys.SubjectKey(sub) == subjectKey {
			return &sub
		}
		if first == nil || sub.String() < first.String() {
			first = &sub
		}
	}
	return first
}

// SealedPrefix marks a value sealed under the notification's subject key:
// addresses and link tokens never travel on the bus in the clear, and an
// erased subject's pending notices become unreadable with their key.
const SealedPrefix = "sealed:"

// Seal seals a value for notify under the subject's data key.
func (e *Engine) Seal(ctx context.Context, subjectKey, v string) (string, error) {
	c, err := e.d.Keys.Seal(ctx, subjectKey, []byte(v))
	if err != nil {
		return "", err
	}
	return SealedPrefix + base64.RawURLEncoding.EncodeToString(c), nil
}

// shardOf spreads a job's outcomes over counter shards by key.
func shardOf(jobID, key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	return fmt.Sprintf("%s~%02d", jobID, h.Sum32()%shards)
}

// Bump adds one to each named count of job in the shard for key. It
// reads, so call it before the transaction's first write and write the
// returned counter after.
func (e *Engine) Bump(tx store.Tx, jobID, key string, names ...string) (*Counter, error) {
	id := shardOf(jobID, key)
	c, err := e.Counters.In(tx).Get(id)
	if privacy.IsNotFound(err) {
		c, err = &Counter{ID: id, Job: jobID, Counts: map[string]int64{}}, nil
	}
	if err != nil {
		return nil, err
	}
	if c.Counts == nil {
		c.Counts = map[string]int64{}
	}
	for _, n := range names {
		c.Counts[n]++
	}
	return c, nil
}

// Delivered records notify's outcome for one of this engine's targets:
// the target's status and the job's counts, once per key however often
// the outcome is redelivered.
func (e *Engine) Delivered(ctx context.Context, d events.DeliveryData) error {
	if !e.Owns(d.Ref) {
		return nil
	}
	status := d.Status
	switch status {
	case StatusSent, StatusFailed, StatusUnreachable:
	default:
		return nil
	}
	return e.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		t, err := e.Targets.In(tx).Get(d.Key)
		if privacy.IsNotFound(err) {
			return nil // not one of ours (a notice sent outside a fan-out)
		} else if err != nil {
			return err
		}
		if t.Status != StatusQueued {
			return nil // already counted
		}
		c, err := e.Bump(tx, t.Job, t.ID, status)
		if err != nil {
			return err
		}
		if status != StatusSent && e.OnFailed != nil {
			if err := e.OnFailed(tx, t.Job); err != nil {
				return err
			}
		}
		t.Status, t.Error = status, d.Error
		if err := e.Targets.In(tx).Put(t); err != nil {
			return err
		}
		return e.Counters.In(tx).Put(c)
	})
}

// HandleDelivered is the handler for com.veil.notification.delivered.v1.
func (e *Engine) HandleDelivered(ctx context.Context, ev events.Event) error {
	d, err := events.Decode[events.DeliveryData](ev)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	return e.Delivered(ctx, d)
}

// Progress is a job's state and its summed delivery counts.
type Progress struct {
	Job    *Job
	Counts map[string]int64
}

// Outcomes are where a job's people stand: notice sent, failed, not
// reachable (no contact at fan-out time, or notify found none), and still
// queued.
func (p *Progress) Outcomes() (sent, failed, unreachable, queued int64) {
	sent, failed = p.Counts[StatusSent], p.Counts[StatusFailed]
	unreachable = p.Job.Unreachable + p.Counts[StatusUnreachable]
	return sent, failed, unreachable, p.Job.Targeted - sent - failed - unreachable
}

// Progress reads a job and sums its counter shards.
func (e *Engine) Progress(ctx context.Context, jobID string) (*Progress, error) {
	job, err := e.Jobs.Get(ctx, jobID)
	if err != nil {
		return nil, err
	}
	cs, err := e.Counters.Find(ctx, store.Query{Filters: []store.Filter{store.Where("job", store.EQ, jobID)}, Limit: shards})
	if err != nil {
		return nil, err
	}
	p := &Progress{Job: job, Counts: map[string]int64{}}
	for _, c := range cs {
		for k, v := range c.Counts {
			p.Counts[k] += v
		}
	}
	return p, nil
}
