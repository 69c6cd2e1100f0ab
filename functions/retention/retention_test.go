package retention

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/functionstest"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

const testToken = "retention-test-ops-token-0123456789abcdef"

// env is a retention function on a fresh SQLite file with an in-process
// broker that is never started: published events stay queued, so tests
// can read exactly what each committed transaction staged.
type env struct {
	t      testing.TB
	ctx    context.Context
	d      functions.Deps
	f      *fn
	fn     *functions.Function
	broker *events.Broker
	logs   *bytes.Buffer
	now    time.Time
	mux    *http.ServeMux
}

func newEnv(t testing.TB, cfg config.Config) *env {
	t.Helper()
	ctx := context.Background()
	st := functionstest.OpenStores(t, t.TempDir(), "cn-local", bytes.Repeat([]byte{7}, 32))
	b := st.Docs
	logs := &bytes.Buffer{}
	log := zerolog.New(logs)
	broker := functionstest.QueuedBroker(t, b, log)
	cfg.OpsToken = testToken
	e := &env{t: t, ctx: ctx, broker: broker, logs: logs, now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	e.d = functions.Deps{Config: cfg, Log: log, DB: st.DB, Keys: st.Keys, Bus: broker, Now: func() time.Time { return e.now }}
	var err error
	if e.fn, err = New(ctx, e.d); err != nil {
		t.Fatal(err)
	}
	for _, c := range e.fn.Collections {
		if err := b.Ensure(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	policy, _ := cfg.Retention()
	r := newRepos(b)
	e.f = &fn{d: e.d, policy: policy, repos: r, sweep: newSweeper(e.d, policy, r)}
	e.mux = http.NewServeMux()
	for p, h := range e.fn.Routes {
		e.mux.Handle(p, h)
	}
	return e
}

// record stores an ad record received at received for subject.
func (e *env) record(id, subject string, received time.Time, country string, personalized bool) *privacy.AdRecord {
	e.t.Helper()
	r := &privacy.AdRecord{ID: id, SubjectKey: subject, AppID: "app1", Platform: privacy.Platform("android"), Region: "CN",
		ReceivedAt: received, ExpiresAt: privacy.DefaultRetention().ExpiresAt(privacy.ClassAdRequests, received),
		Retention: privacy.ClassAdRequests, Personalized: personalized,
		Fields: map[string]json.RawMessage{"country": json.RawMessage(`"` + country + `"`)}}
	if err := e.d.DB.Records.Put(e.ctx, r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) do(method, path string, body any, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, req)
	return w
}

// queued returns the events staged for the probe subscriber, by type.
func (e *env) queued(typ string) []events.Event {
	e.t.Helper()
	var out []events.Event
	q := store.Query{Limit: store.MaxLimit}
	for {
		docs, err := e.d.DB.Backend.Query(e.ctx, "events_deliveries", q)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, d := range docs {
			var p struct {
				Event json.RawMessage `json:"event"`
			}
			var ev events.Event
			if err := json.Unmarshal(d.Data, &p); err != nil || json.Unmarshal(p.Event, &ev) != nil {
				e.t.Fatalf("queued delivery %s unreadable", d.ID)
			}
			if ev.Type() == typ {
				out = append(out, ev)
			}
		}
		if len(docs) < q.Limit {
			return out
		}
		q.After = docs[len(docs)-1]
	}
}

func (e *env) exists(id string) (*privacy.AdRecord, bool) {
	r, err := e.d.DB.Records.Get(e.ctx, id)
	if privacy.IsNotFound(err) {
		return nil, false
	} else if err != nil {
		e.t.Fatal(err)
	}
	return r, true
}

// statTotal sums the statistics rows of every day.
func (e *env) statTotal() (requests, personalized int64) {
	e.t.Helper()
	rows, err := e.f.stats.Find(e.ctx, store.Query{Limit: store.MaxLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rows {
		requests += r.Requests
		personalized += r.Personalized
	}
	return requests, personalized
}

func key(n int) string { return fmt.Sprintf("%064x", n) }

func TestSweepExpiresHoldsAndKeeps(t *testing.T) {
	e := newEnv(t, config.Config{})
	day := privacy.Day
	cases := []struct {
		id       string
		subject  string
		age      time.Duration
		wantKept bool
		isolated bool
	}{
		{"fresh", key(1), 10 * day, true, false},
		{"just-under", key(1), 179 * day, true, false},
		{"expired", key(1), 181 * day, false, false},
		{"expired-other-country", key(2), 200 * day, false, false},
		{"expired-held", key(3), 300 * day, true, true},
		{"fresh-held", key(3), 5 * day, true, false},
	}
	for _, c := range cases {
		country := "CN"
		if c.id == "expired-other-country" {
			country = "sg"
		}
		e.record(c.id, c.subject, e.now.Add(-c.age), country, c.id == "expired")
	}
	w := e.do("POST", "/v1/holds", map[string]any{"subject_key": key(3), "reason": "court order 2025-17"}, "X-Veil-Actor", "li.wei")
	if w.Code != http.StatusCreated {
		t.Fatalf("hold: %d %s", w.Code, w.Body)
	}
	rep, err := e.f.sweep.Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		r, ok := e.exists(c.id)
		if ok != c.wantKept {
			t.Errorf("%s: kept=%v, want %v", c.id, ok, c.wantKept)
		}
		if ok && (r.Isolated != "") != c.isolated {
			t.Errorf("%s: isolated=%q", c.id, r.Isolated)
		}
		if ok && c.isolated && !strings.Contains(r.Isolated, "court order 2025-17") {
			t.Errorf("%s: isolation %q does not give the reason", c.id, r.Isolated)
		}
	}
	if n, p := e.statTotal(); n != 2 || p != 1 {
		t.Errorf("statistics: %d requests, %d personalized; want 2, 1", n, p)
	}
	rows, _ := e.f.stats.Find(e.ctx, store.Query{Limit: 10})
	countries := map[string]bool{}
	for _, r := range rows {
		countries[r.Country] = true
		if r.AppID != "app1" || r.OS != "android" {
			t.Errorf("row %+v", r)
		}
	}
	if !countries["CN"] || !countries["SG"] {
		t.Errorf("countries %v", countries)
	}
	gone := map[string]bool{}
	for _, ev := range e.queued(events.RetentionExpired) {
		d, _ := events.Decode[events.RetentionExpiredData](ev)
		for _, id := range d.RecordIDs {
			gone[id] = true
		}
	}
	if len(gone) != 2 || !gone["expired"] || !gone["expired-other-country"] {
		t.Errorf("retention.expired named %v", gone)
	}
	if !rep.Passes[0].Done || rep.Passes[0].Isolated != 1 || rep.Passes[0].Anonymized != 2 {
		t.Errorf("report %+v", rep.Passes[0])
	}
	// A second sweep changes nothing and counts nothing twice.
	if _, err := e.f.sweep.Run(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.statTotal(); n != 2 {
		t.Errorf("second sweep changed statistics to %d", n)
	}
	// Lifting the hold lets the next sweep delete the expired record.
	var h Hold
	json.Unmarshal(w.Body.Bytes(), &h)
	if w := e.do("DELETE", "/v1/holds/"+h.ID, map[string]string{"reason": "case closed"}); w.Code != http.StatusOK {
		t.Fatalf("lift: %d %s", w.Code, w.Body)
	}
	if _, err := e.f.sweep.Run(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.exists("expired-held"); ok {
		t.Error("expired record kept after its hold was lifted")
	}
	if _, ok := e.exists("fresh-held"); !ok {
		t.Error("unexpired record deleted")
	}
}

func TestShortenedPeriodApplies(t *testing.T) {
	e := newEnv(t, config.Config{RetentionOverrides: map[string]time.Duration{privacy.ClassAdRequests: 30 * privacy.Day}})
	e.record("stored-under-180d", key(1), e.now.Add(-40*privacy.Day), "CN", false) // ExpiresAt is received+180d
	e.record("recent", key(1), e.now.Add(-20*privacy.Day), "CN", false)
	if _, err := e.f.sweep.Run(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.exists("stored-under-180d"); ok {
		t.Error("a record older than the shortened period survived")
	}
	if _, ok := e.exists("recent"); !ok {
		t.Error("a record within the period was deleted")
	}
}

// TestSweepResumesAfterCrash stops a sweep half-way — by cancelling its
// context or failing inside a batch after its writes — and runs it again:
// every expired record is gone exactly once, counted exactly once, named
// in exactly one committed event, and nothing else is touched.
func TestSweepResumesAfterCrash(t *testing.T) {
	cases := []struct {
		name  string
		crash func(ctx context.Context, cancel context.CancelFunc) error
	}{
		{"context cancelled between batches", func(ctx context.Context, cancel context.CancelFunc) error { cancel(); return nil }},
		{"failure before commit", func(ctx context.Context, cancel context.CancelFunc) error { return fmt.Errorf("simulated crash") }},
		{"context cancelled before commit", func(ctx context.Context, cancel context.CancelFunc) error { cancel(); return ctx.Err() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, config.Config{})
			const n = 530
			expired := map[string]bool{}
			for i := range n {
				id := fmt.Sprintf("r%04d", i)
				age := 181 * privacy.Day
				if i%10 == 0 {
					age = 30 * privacy.Day // not due
				} else {
					expired[id] = true
				}
				// Spread over days and countries so batches touch many
				// statistics rows.
				e.record(id, key(i%37), e.now.Add(-age-time.Duration(i%5)*privacy.Day), []string{"CN", "SG", "US"}[i%3], i%2 == 0)
			}
			e.f.sweep.batch = 40
			ctx, cancel := context.WithCancel(e.ctx)
			e.f.sweep.hook = func(_ context.Context, pass string, batch int64) error {
				if pass == "ad_records_expired" && batch == 5 {
					return c.crash(ctx, cancel)
				}
				return nil
			}
			if _, err := e.f.sweep.Run(ctx); err == nil {
				t.Fatal("the interrupted sweep reported success")
			}
			// Half-way: whatever was deleted was counted, and nothing more.
			left := 0
			for id := range expired {
				if _, ok := e.exists(id); ok {
					left++
				}
			}
			if left == 0 || left == len(expired) {
				t.Fatalf("crash was not half-way: %d of %d left", left, len(expired))
			}
			if got, _ := e.statTotal(); got != int64(len(expired)-left) {
				t.Fatalf("half-way: %d deleted but %d counted", len(expired)-left, got)
			}
			e.f.sweep.hook = nil
			rep, err := e.f.sweep.Run(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				id := fmt.Sprintf("r%04d", i)
				if _, ok := e.exists(id); ok == expired[id] {
					t.Fatalf("%s: kept=%v after the restarted sweep", id, ok)
				}
			}
			var want, wantP int64
			for i := range n {
				if expired[fmt.Sprintf("r%04d", i)] {
					want++
					if i%2 == 0 {
						wantP++
					}
				}
			}
			if got, p := e.statTotal(); got != want || p != wantP {
				t.Fatalf("statistics %d/%d, want %d/%d", got, p, want, wantP)
			}
			named := map[string]int{}
			for _, ev := range e.queued(events.RetentionExpired) {
				d, _ := events.Decode[events.RetentionExpiredData](ev)
				for _, id := range d.RecordIDs {
					named[id]++
				}
			}
			for id := range expired {
				if named[id] != 1 {
					t.Fatalf("%s named in %d events", id, named[id])
				}
			}
			if len(named) != len(expired) {
				t.Fatalf("events named %d records, %d expired", len(named), len(expired))
			}
			if cp := rep.Passes[0]; !cp.Done || cp.Run != 1 {
				t.Fatalf("the restart must finish the same run: %+v", cp)
			}
		})
	}
}

// TestLongSweepContinuesInNewDeliveries bounds a run to a few batches: it
// stops, publishes a retention tick to continue, and the runs those ticks
// trigger finish the work without redoing any of it.
func TestLongSweepContinuesInNewDeliveries(t *testing.T) {
	e := newEnv(t, config.Config{})
	for i := range 95 {
		e.record(fmt.Sprintf("r%03d", i), key(i), e.now.Add(-200*privacy.Day), "CN", false)
	}
	e.f.sweep.batch, e.f.sweep.maxBatches = 10, 3
	runs := 0
	for {
		rep, err := e.f.sweep.Run(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		runs++
		if rep.Continued == "" {
			break
		}
		if runs > 20 {
			t.Fatal("the sweep never finished")
		}
	}
	if runs != 4 { // 95 records, 10 per batch, 3 batches per run: 10 batches (the last finds the end)
		t.Errorf("%d runs", runs)
	}
	if ticks := len(e.queued(events.ScheduleTicked)); ticks != runs-1 {
		t.Errorf("%d continuation ticks for %d runs", ticks, runs)
	}
	if n, _ := e.statTotal(); n != 95 {
		t.Errorf("statistics count %d of 95", n)
	}
}

func TestTickIgnoresOtherJobs(t *testing.T) {
	e := newEnv(t, config.Config{})
	e.record("old", key(1), e.now.Add(-400*privacy.Day), "CN", false)
	for _, c := range []struct {
		job  string
		kept bool
	}{{"deadlines", true}, {"retention", false}} {
		ev := events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: c.job})
		if err := e.fn.Events[events.ScheduleTicked](e.ctx, ev); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.exists("old"); ok != c.kept {
			t.Errorf("after a %s tick kept=%v", c.job, ok)
		}
	}
}

func TestHoldsAPI(t *testing.T) {
	e := newEnv(t, config.Config{})
	future := e.now.Add(48 * time.Hour)
	past := e.now.Add(-time.Hour)
	cases := []struct {
		name   string
		body   any
		actor  string
		status int
		field  string
	}{
		{"by subject", map[string]any{"subject": "device:oaid:ABCDEF0123456789", "reason": "regulator inquiry 42"}, "ops.lead", 201, ""},
		{"by key with end", map[string]any{"subject_key": key(9), "reason": "litigation", "until": future}, "", 201, ""},
		{"both", map[string]any{"subject": "account:a@example.com", "subject_key": key(1), "reason": "x"}, "", 400, "subject"},
		{"neither", map[string]any{"reason": "x"}, "", 400, "subject"},
		{"bad key", map[string]any{"subject_key": "ABC", "reason": "x"}, "", 400, "subject_key"},
		{"bad subject", map[string]any{"subject": "phone:123", "reason": "x"}, "", 400, "subject"},
		{"no reason", map[string]any{"subject_key": key(1)}, "", 400, "reason"},
		{"multi-line reason", map[string]any{"subject_key": key(1), "reason": "a\nb"}, "", 400, "reason"},
		{"ended", map[string]any{"subject_key": key(1), "reason": "x", "until": past}, "", 400, "until"},
		{"unknown field", map[string]any{"subject_key": key(1), "reason": "x", "extra": 1}, "", 400, "extra"},
		{"bad actor", map[string]any{"subject_key": key(1), "reason": "x"}, "a b", 400, "X-Veil-Actor"},
	}
	var placed []Hold
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.do("POST", "/v1/holds", c.body, "X-Veil-Actor", c.actor)
			if w.Code != c.status {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if c.field != "" && !strings.Contains(w.Body.String(), `"field":"`+c.field+`"`) {
				t.Fatalf("problem does not name %s: %s", c.field, w.Body)
			}
			if c.status == 201 {
				var h Hold
				json.Unmarshal(w.Body.Bytes(), &h)
				placed = append(placed, h)
			}
		})
	}
	if len(placed) != 2 || placed[0].Actor != "ops:ops.lead" || placed[1].Actor != "ops" {
		t.Fatalf("placed %+v", placed)
	}
	if strings.Contains(placed[0].SubjectHint, "abcdef0123456789") || placed[0].SubjectKey == "" {
		t.Fatalf("subject stored in clear: %+v", placed[0])
	}
	// A device named by a secondary id is held under the key its records
	// are filed under (the device link ingest wrote).
	gaid, _ := privacy.DeviceSubject("gaid", "secondary-0001")
	if err := e.d.DB.Devices.Put(e.ctx, &privacy.DeviceLink{IDHash: e.d.Keys.SubjectKey(gaid), SubjectKey: key(42), IDType: "gaid"}); err != nil {
		t.Fatal(err)
	}
	w := e.do("POST", "/v1/holds", map[string]any{"subject": "device:gaid:secondary-0001", "reason": "linked"})
	var linked Hold
	json.Unmarshal(w.Body.Bytes(), &linked)
	if w.Code != 201 || linked.SubjectKey != key(42) {
		t.Fatalf("linked device held under %q: %d %s", linked.SubjectKey, w.Code, w.Body)
	}
	placed = append(placed, linked)
	g, err := NewGuard(e.ctx, e.d.DB)
	if err != nil {
		t.Fatal(err)
	}
	if held, why, _ := g.Held(e.ctx, key(9), e.now); !held || !strings.Contains(why, "litigation") {
		t.Fatalf("Held: %v %q", held, why)
	}
	if held, _, _ := g.Held(e.ctx, key(9), future.Add(time.Second)); held {
		t.Fatal("a hold past its end still holds")
	}
	if w := e.do("GET", "/v1/holds", nil); w.Code != 200 || strings.Count(w.Body.String(), `"id":"hold-`) != 3 {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if w := e.do("DELETE", "/v1/holds/"+placed[1].ID, map[string]string{}); w.Code != 400 {
		t.Fatalf("lift without reason: %d", w.Code)
	}
	if w := e.do("DELETE", "/v1/holds/"+placed[1].ID, map[string]string{"reason": "settled"}, "X-Veil-Actor", "wang"); w.Code != 200 {
		t.Fatalf("lift: %d %s", w.Code, w.Body)
	}
	if w := e.do("DELETE", "/v1/holds/"+placed[1].ID, map[string]string{"reason": "again"}); w.Code != 409 {
		t.Fatalf("second lift: %d", w.Code)
	}
	if held, _, _ := g.Held(e.ctx, key(9), e.now); held {
		t.Fatal("lifted hold still holds")
	}
	if w := e.do("GET", "/v1/holds?active=false", nil); !strings.Contains(w.Body.String(), `"lifted_by":"ops:wang"`) || !strings.Contains(w.Body.String(), `"lift_reason":"settled"`) {
		t.Fatalf("lifted hold lacks actor or reason: %s", w.Body)
	}
	if got := len(e.queued(events.HoldPlaced)) + len(e.queued(events.HoldLifted)); got != 4 {
		t.Fatalf("%d hold events, want 4", got)
	}
	req := httptest.NewRequest("GET", "/v1/holds", nil)
	w = httptest.NewRecorder()
	e.mux.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("without the ops token: %d", w.Code)
	}
}

func TestCease(t *testing.T) {
	e := newEnv(t, config.Config{})
	e.record("fresh", key(1), e.now.Add(-time.Hour), "CN", true)
	e.record("held", key(2), e.now.Add(-time.Hour), "CN", true)
	if err := e.d.DB.Consents.Put(e.ctx, &privacy.Consent{SubjectKey: key(1), UpdatedAt: e.now}); err != nil {
		t.Fatal(err)
	}
	if err := e.d.DB.Devices.Put(e.ctx, &privacy.DeviceLink{IDHash: key(100), SubjectKey: key(1)}); err != nil {
		t.Fatal(err)
	}
	open := &privacy.Request{ID: "req-open", SubjectKey: key(1), Status: privacy.StatusVerified, CreatedAt: e.now}
	closedAt := e.now
	done := &privacy.Request{ID: "req-done", SubjectKey: key(1), Status: privacy.StatusCompleted, CreatedAt: e.now, ClosedAt: &closedAt}
	for _, r := range []*privacy.Request{open, done} {
		if err := e.d.DB.Requests.Put(e.ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if w := e.do("POST", "/v1/holds", map[string]any{"subject_key": key(2), "reason": "case 9"}); w.Code != 201 {
		t.Fatal(w.Body)
	}
	g, _ := NewGuard(e.ctx, e.d.DB)
	if err := g.Collecting(e.ctx, e.now); err != nil {
		t.Fatalf("collecting before ceasing: %v", err)
	}
	later := e.now.Add(24 * time.Hour)
	cases := []struct {
		body   any
		status int
	}{
		{map[string]any{"reason": ""}, 400},
		{map[string]any{"reason": "x", "effective_at": e.now.Add(-48 * time.Hour)}, 400},
		{map[string]any{"reason": "business closed", "effective_at": later}, 202},
		{map[string]any{"reason": "again"}, 409},
	}
	for _, c := range cases {
		if w := e.do("POST", "/v1/operations/cease", c.body, "X-Veil-Actor", "ceo"); w.Code != c.status {
			t.Fatalf("%v: %d %s", c.body, w.Code, w.Body)
		}
	}
	if err := g.Collecting(e.ctx, e.now); err != nil {
		t.Fatalf("collection must go on until effective_at: %v", err)
	}
	if n := len(e.queued(events.OperationsCeased)); n != 1 {
		t.Fatalf("%d ceased events", n)
	}
	e.now = later.Add(time.Minute)
	if err := g.Collecting(e.ctx, e.now); privacy.ErrorCode(err) != privacy.EGONE {
		t.Fatalf("after effective_at: %v", err)
	}
	if _, err := e.f.sweep.Run(e.ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		coll, id string
		kept     bool
	}{
		{"adrecords", "fresh", false}, {"adrecords", "held", true}, {"consents", key(1), false},
		{"devices", key(100), false}, {"requests", "req-open", true}, {"requests", "req-done", false},
	} {
		_, err := e.d.DB.Backend.Get(e.ctx, c.coll, c.id)
		if kept := err == nil; kept != c.kept {
			t.Errorf("%s/%s kept=%v after ceasing (%v)", c.coll, c.id, kept, err)
		}
	}
	w := e.do("GET", "/v1/operations", nil)
	var ops struct {
		Ceased    bool             `json:"ceased"`
		Remaining map[string]Count `json:"remaining"`
		Held      int              `json:"held_subjects"`
	}
	json.Unmarshal(w.Body.Bytes(), &ops)
	if !ops.Ceased || ops.Remaining["adrecords"].N != 1 || ops.Remaining["requests"].N != 1 || ops.Held != 1 {
		t.Fatalf("progress: %s", w.Body)
	}
	if n, _ := e.statTotal(); n != 1 {
		t.Fatalf("the fresh record must be anonymized into statistics, got %d", n)
	}
}

func TestResidencyAlert(t *testing.T) {
	e := newEnv(t, config.Config{})
	cases := []struct {
		region, location string
		consent          bool
		refused          bool
	}{
		{"CN", "cn-north-1", false, false},
		{"CN", "us-east-1", true, false},
		{"SG", "us-east-1", false, false},
		{"CN", "us-east-1", false, true},
		{"CN", "asia-east2", false, true},
	}
	for _, c := range cases {
		e.logs.Reset()
		err := CheckResidency(e.ctx, e.d.Bus, e.d.Log, "store", c.location, c.region, c.consent, "ad record")
		if (err != nil) != c.refused || (err != nil && privacy.ErrorCode(err) != privacy.ERESIDENCY) {
			t.Errorf("%+v: %v", c, err)
		}
		if logged := strings.Contains(e.logs.String(), `"message":"`+ResidencyAlert+`"`); logged != c.refused {
			t.Errorf("%+v: alert logged=%v: %s", c, logged, e.logs)
		}
	}
	evs := e.queued(events.ResidencyViolated)
	if len(evs) != 2 {
		t.Fatalf("%d residency events, want 2", len(evs))
	}
	d, _ := events.Decode[events.ResidencyData](evs[0])
	if d.Region != "CN" || d.Backend != "store" || d.What != "ad record" {
		t.Fatalf("event %+v", d)
	}
}
