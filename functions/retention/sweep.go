package retention

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// defaultMaxBatches is ~100,000 records per delivery: a few minutes.
const defaultMaxBatches = 250

// Batch limits. Firestore allows 500 writes per transaction; a batch
// spends at most one write per record plus one per statistics row it
// touches, and keeps room for its checkpoint and the events it stages (one
// pending delivery per subscriber on the in-process broker).
const (
	defaultBatch = 400
	writeBudget  = store.MaxLimit - 1 - 16
)

// Sweeper runs the retention passes. Each pass walks one collection in
// the order of one indexed key up to a cutoff, a bounded batch per
// transaction, and records where it stands in a checkpoint written in that
// same transaction: a sweep stopped anywhere resumes behind the last
// committed batch, so no record is skipped and none is counted twice.
type Sweeper struct {
	d      functions.Deps
	policy privacy.Retention
	r      repos
	passes []pass
	batch  int
	// maxBatches bounds one Run (0: unbounded). A Run that reaches it
	// publishes another retention tick and returns, so no single event
	// delivery outlives a Knative request timeout, and a large backlog
	// goes on in fresh deliveries right away instead of at the next
	// scheduled tick.
	maxBatches int
	// hook, in tests, runs inside each batch's transaction after its
	// writes: an error (or cancelling the context) there is a crash
	// before commit.
	hook func(ctx context.Context, pass string, batch int64) error
}

// pass is one walk over a collection.
type pass struct {
	name       string
	class      string
	coll       string
	key        string // ordered and bounded by; "" walks by id with no bound
	onlyCeased bool   // runs only once operations have ceased
	cutoff     func(p privacy.Retention, now time.Time) int64
	do         func(s *Sweeper, tx store.Tx, b *batch) error
}

// batch is one transaction's worth of a pass.
type batch struct {
	class  privacy.RetentionClass
	docs   []*store.Doc
	now    time.Time
	ceased bool
	holds  *holdIndex
	budget int // writes left

	used                                int // docs[:used] are dealt with
	deleted, anonymized, isolated, kept int64
	gone                                []string // ids deleted, for the event
}

func passNames() []string {
	var out []string
	for _, p := range allPasses() {
		out = append(out, p.name)
	}
	return out
}

// allPasses is the sweep in order: ad records first (by their stored
// expiry, then by receipt against the current period, so a shortened
// period applies to records stored under the old one), then consents whose
// subjects have nothing left, closed requests, and — once operations have
// ceased — every device link.
func allPasses() []pass {
	now := func(p privacy.Retention, now time.Time) int64 { return now.Unix() }
	ago := func(class string) func(privacy.Retention, time.Time) int64 {
		return func(p privacy.Retention, now time.Time) int64 { return now.Add(-p.Period(class)).Unix() }
	}
	return []pass{
		{name: "ad_records_expired", class: privacy.ClassAdRequests, coll: store.RecordsCollection.Name, key: "expires", cutoff: now, do: (*Sweeper).adRecords},
		{name: "ad_records_received", class: privacy.ClassAdRequests, coll: store.RecordsCollection.Name, key: "received", cutoff: ago(privacy.ClassAdRequests), do: (*Sweeper).adRecords},
		{name: "consents", class: privacy.ClassConsents, coll: store.ConsentsCollection.Name, key: "updated", cutoff: ago(privacy.ClassConsents), do: (*Sweeper).consents},
		{name: "requests", class: privacy.ClassRequests, coll: store.RequestsCollection.Name, key: "created", cutoff: ago(privacy.ClassRequests), do: (*Sweeper).requests},
		{name: "device_links", class: privacy.ClassAdRequests, coll: store.DevicesCollection.Name, onlyCeased: true, do: (*Sweeper).deviceLinks},
	}
}

func newSweeper(d functions.Deps, policy privacy.Retention, r repos) *Sweeper {
	return &Sweeper{d: d, policy: policy, r: r, passes: allPasses(), batch: defaultBatch, maxBatches: defaultMaxBatches}
}

func (s *Sweeper) now() time.Time {
	if s.d.Now != nil {
		return s.d.Now().UTC()
	}
	return time.Now().UTC()
}

// Report is what a sweep did: each pass's checkpoint.
type Report struct {
	Ceased bool          `json:"ceased"`
	Passes []*Checkpoint `json:"passes"`
	// Continued is the id of the tick published to continue, when this
	// run stopped at its batch bound.
	Continued string `json:"continued,omitempty"`
}

// Run runs every pass to the end of its current run (starting a new run
// where the last one finished) and reports.
func (s *Sweeper) Run(ctx context.Context) (*Report, error) {
	now := s.now()
	ops, err := optional(s.r.ops.Get(ctx, operationsID))
	if err != nil {
		return nil, err
	}
	ceased := ops.CeasedAt(now)
	rep := &Report{Ceased: ceased}
	budget := s.maxBatches
	if budget <= 0 {
		budget = math.MaxInt
	}
	for _, p := range s.passes {
		if p.onlyCeased && !ceased {
			continue
		}
		cp, err := s.runPass(ctx, p, now, ceased, &budget)
		if err != nil {
			return nil, fmt.Errorf("retention: pass %s: %w", p.name, err)
		}
		rep.Passes = append(rep.Passes, cp)
		if !cp.Done {
			// Out of batches: continue in a new delivery. The
			// checkpoints make it pick up exactly here.
			e := events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: Job})
			if err := s.d.Bus.Publish(ctx, e); err != nil {
				return nil, err
			}
			rep.Continued = e.ID()
			s.d.Log.Info().Str("pass", p.name).Str("event_id", e.ID()).Msg("retention sweep continues in a new delivery")
			return rep, nil
		}
	}
	return rep, nil
}

func (s *Sweeper) runPass(ctx context.Context, p pass, now time.Time, ceased bool, budget *int) (*Checkpoint, error) {
	id := "sweep_" + p.name
	cutoff := int64(math.MaxInt64)
	if !ceased && p.cutoff != nil {
		cutoff = p.cutoff(s.policy, now)
	}
	// Resume an unfinished run; start a new one after a finished run, or
	// when ceasing began mid-run (its cutoff was too low: every record
	// is due now).
	_, err := s.r.cps.Update(ctx, id, func(cp *Checkpoint) error {
		if !cp.Done && (cp.Ceased || !ceased) {
			return nil
		}
		*cp = Checkpoint{ID: id, Pass: p.name, Class: p.class, Run: cp.Run + 1, Cutoff: cutoff, Ceased: ceased, StartedAt: now, UpdatedAt: now}
		return nil
	})
	if privacy.IsNotFound(err) {
		err = s.r.cps.Create(ctx, &Checkpoint{ID: id, Pass: p.name, Class: p.class, Run: 1, Cutoff: cutoff, Ceased: ceased, StartedAt: now, UpdatedAt: now})
		if privacy.ErrorCode(err) == privacy.ECONFLICT {
			err = nil // a concurrent sweep started it; share the run
		}
	}
	if err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cp, err := s.step(ctx, p, id)
		if err != nil {
			return nil, err
		}
		*budget--
		if !cp.Done && *budget <= 0 {
			return cp, nil
		}
		if cp.Done {
			s.d.Log.Info().Str("pass", p.name).Int64("run", cp.Run).Int64("batches", cp.Batches).Int64("deleted", cp.Deleted).
				Int64("anonymized", cp.Anonymized).Int64("isolated", cp.Isolated).Msg("retention pass finished")
			return cp, nil
		}
	}
}

// step runs one batch of pass p in one transaction.
func (s *Sweeper) step(ctx context.Context, p pass, id string) (*Checkpoint, error) {
	class, _ := s.policy.Class(p.class)
	limit := min(s.batch, writeBudget)
	var out *Checkpoint
	var done *batch // the batch that committed, for the metrics
	err := s.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		done = nil
		cp, err := s.r.cps.In(tx).Get(id)
		if err != nil || cp.Done {
			out = cp
			return err
		}
		x, err := optional(s.r.index.In(tx).Get(holdIndexID))
		if err != nil {
			return err
		}
		q := store.Query{Limit: limit}
		if p.key != "" {
			q.Filters = []store.Filter{store.Where(p.key, store.LE, cp.Cutoff)}
			q.OrderBy = p.key
		}
		if cp.HasCursor {
			q.After = &store.Doc{ID: cp.AfterID, Keys: map[string]any{p.key: cp.AfterKey}}
		}
		docs, err := tx.Query(p.coll, q)
		if err != nil {
			return err
		}
		// Time stands still within a run so a record's fate does not
		// depend on when its batch ran (holds ending mid-run aside).
		b := &batch{class: class, docs: docs, now: s.now(), ceased: cp.Ceased, holds: x, budget: writeBudget}
		if err := p.do(s, tx, b); err != nil {
			return err
		}
		if b.used == 0 && len(docs) > 0 {
			return fmt.Errorf("retention: a batch of %s made no progress", p.name)
		}
		if b.used > 0 {
			last := docs[b.used-1]
			cp.HasCursor, cp.AfterID = true, last.ID
			if p.key != "" {
				cp.AfterKey, _ = last.Keys[p.key].(int64)
			}
		}
		cp.Done = b.used == len(docs) && len(docs) < limit
		cp.Batches++
		cp.Deleted += b.deleted
		cp.Anonymized += b.anonymized
		cp.Isolated += b.isolated
		cp.Kept += b.kept
		cp.UpdatedAt = b.now
		if err := s.r.cps.In(tx).Put(cp); err != nil {
			return err
		}
		if len(b.gone) > 0 {
			action := "deleted"
			if b.anonymized > 0 {
				action = "anonymized"
			}
			e, err := events.New(events.RetentionExpired, fmt.Sprintf("%s/%d/%d", p.name, cp.Run, cp.Batches),
				events.RetentionExpiredData{Class: p.class, Action: action, RecordIDs: b.gone})
			if err != nil {
				return err
			}
			if err := s.d.Bus.PublishTx(tx, e); err != nil {
				return err
			}
		}
		if s.hook != nil {
			if err := s.hook(ctx, p.name, cp.Batches); err != nil {
				return err
			}
		}
		out, done = cp, b
		return nil
	})
	if err == nil && done != nil {
		s.d.Metrics.Swept(p.class, "deleted", int(done.deleted))
		s.d.Metrics.Swept(p.class, "anonymized", int(done.anonymized))
		s.d.Metrics.Swept(p.class, "isolated", int(done.isolated))
	}
	return out, err
}

// adRecords deletes expired ad records, folding them into statistics when
// the class says anonymize; a held subject's records are isolated instead.
func (s *Sweeper) adRecords(tx store.Tx, b *batch) error {
	recs := make([]*privacy.AdRecord, len(b.docs))
	for i, d := range b.docs {
		recs[i] = new(privacy.AdRecord)
		if err := json.Unmarshal(d.Data, recs[i]); err != nil {
			return fmt.Errorf("retention: decode ad record %s: %w", d.ID, err)
		}
	}
	anonymize := b.class.Action == privacy.RetainAnonymize
	// Reads first: the statistics rows this batch may add to.
	rows := map[string]*Stat{}
	if anonymize {
		for _, r := range recs {
			if _, held := b.holds.held(r.SubjectKey, b.now); held {
				continue
			}
			st := statOf(r)
			if _, ok := rows[st.ID]; ok {
				continue
			}
			have, err := optional(s.r.stats.In(tx).Get(st.ID))
			if err != nil {
				return err
			}
			if have != nil {
				st = have
			}
			rows[st.ID] = st
		}
	}
	recsRepo := s.d.DB.Records.In(tx)
	dirty := map[string]bool{} // rows to write; their write is paid for when first dirtied
	for i, r := range recs {
		h, held := b.holds.held(r.SubjectKey, b.now)
		if held {
			b.isolated++
			if r.Isolated != isolation(h) {
				if b.budget < 1 {
					break
				}
				r.Isolated = isolation(h)
				if err := recsRepo.Put(r); err != nil {
					return err
				}
				b.budget--
			}
			b.used = i + 1
			continue
		}
		var st *Stat
		cost := 1
		if anonymize {
			st = rows[statOf(r).ID]
			if !dirty[st.ID] {
				cost = 2
			}
		}
		if b.budget < cost {
			break
		}
		if err := recsRepo.Delete(r.ID); err != nil {
			return err
		}
		b.budget -= cost
		b.gone = append(b.gone, r.ID)
		if st != nil {
			b.anonymized++
			st.Requests++
			if r.Personalized {
				st.Personalized++
			}
			dirty[st.ID] = true
		} else {
			b.deleted++
		}
		b.used = i + 1
	}
	for id := range dirty {
		if err := s.r.stats.In(tx).Put(rows[id]); err != nil {
			return err
		}
	}
	return nil
}

var countryCode = regexp.MustCompile(`^[A-Z]{2,3}$`)

// statOf is the (empty) statistics row a record counts in: its app, the
// country it reported (else its residency region), its OS and the UTC day
// it was received. Nothing finer is kept.
func statOf(r *privacy.AdRecord) *Stat {
	country := r.Region
	var c string
	if raw, ok := r.Fields["country"]; ok && json.Unmarshal(raw, &c) == nil {
		country = privacy.RegionOf(c)
	}
	country = strings.ToUpper(country)
	if !countryCode.MatchString(country) {
		country = "ZZ" // unknown
	}
	day := r.ReceivedAt.UTC().Format(time.DateOnly)
	st := &Stat{Day: day, AppID: r.AppID, Country: country, OS: string(r.Platform)}
	st.ID = statID(st)
	return st
}

// statID is a document id safe on both backends whatever the app id holds.
func statID(st *Stat) string {
	return "s_" + strings.ReplaceAll(st.Day, "-", "") + "_" + hashID(st.AppID+"\x00"+st.Country+"\x00"+st.OS)
}

func hashID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:12])
}

// consents deletes consent records of subjects that have nothing left once
// the consent class's period since the last change is over (or at once
// when operations have ceased). A subject still sending requests keeps its
// consent record: a withdrawal must never be forgotten while it matters.
func (s *Sweeper) consents(tx store.Tx, b *batch) error {
	type item struct {
		key  string
		held bool
		busy bool
	}
	items := make([]item, len(b.docs))
	for i, d := range b.docs {
		var c privacy.Consent
		if err := json.Unmarshal(d.Data, &c); err != nil {
			return fmt.Errorf("retention: decode consent %s: %w", d.ID, err)
		}
		items[i].key = c.SubjectKey
		if _, items[i].held = b.holds.held(c.SubjectKey, b.now); items[i].held {
			continue
		}
		left, err := tx.Query(store.RecordsCollection.Name, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, c.SubjectKey)}, OrderBy: "received", Limit: 1})
		if err != nil {
			return err
		}
		items[i].busy = len(left) > 0
	}
	for i, it := range items {
		switch {
		case it.held:
			b.isolated++
		case it.busy:
			b.kept++
		default:
			if b.budget == 0 {
				return nil
			}
			if err := s.d.DB.Consents.In(tx).Delete(b.docs[i].ID); err != nil {
				return err
			}
			b.budget--
			b.deleted++
			b.gone = append(b.gone, b.docs[i].ID)
		}
		b.used = i + 1
	}
	return nil
}

// requests deletes closed requests once the requests class's period since
// closing is over (at once when ceased). Open requests are kept: they are
// still being answered.
func (s *Sweeper) requests(tx store.Tx, b *batch) error {
	for i, d := range b.docs {
		var r privacy.Request
		if err := json.Unmarshal(d.Data, &r); err != nil {
			return fmt.Errorf("retention: decode request %s: %w", d.ID, err)
		}
		closed := r.UpdatedAt
		if r.ClosedAt != nil {
			closed = *r.ClosedAt
		}
		_, held := b.holds.held(r.SubjectKey, b.now)
		switch {
		case r.Open() || (!b.ceased && b.now.Before(closed.Add(b.class.Period))):
			b.kept++
		case held:
			b.isolated++
		default:
			if b.budget == 0 {
				return nil
			}
			if err := s.d.DB.Requests.In(tx).Delete(r.ID); err != nil {
				return err
			}
			b.budget--
			b.deleted++
			b.gone = append(b.gone, r.ID)
		}
		b.used = i + 1
	}
	return nil
}

// deviceLinks deletes every device link (id hash → subject) once
// operations have ceased, except a held subject's.
func (s *Sweeper) deviceLinks(tx store.Tx, b *batch) error {
	for i, d := range b.docs {
		var l privacy.DeviceLink
		if err := json.Unmarshal(d.Data, &l); err != nil {
			return fmt.Errorf("retention: decode device link %s: %w", d.ID, err)
		}
		if _, held := b.holds.held(l.SubjectKey, b.now); held {
			b.isolated++
		} else {
			if b.budget == 0 {
				return nil
			}
			if err := s.d.DB.Devices.In(tx).Delete(d.ID); err != nil {
				return err
			}
			b.budget--
			b.deleted++
			b.gone = append(b.gone, d.ID)
		}
		b.used = i + 1
	}
	return nil
}
