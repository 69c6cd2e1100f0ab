package fanout_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/functionstest"
	"github.com/veil-privacy/veil/functions/notify/fanout"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

var eventsColl = store.Collection{Name: "test_events", Keys: []store.Key{{Name: "type", Kind: store.String}}}

// txBus stores published events in the caller's transaction, so a rolled
// back batch leaves none behind — what the real brokers guarantee. fail,
// when set, can refuse an event to simulate a crash mid-fan-out.
type txBus struct {
	b    store.Backend
	fail func(events.Event) error
}

func (x *txBus) Publish(ctx context.Context, es ...events.Event) error {
	return x.b.Tx(ctx, func(tx store.Tx) error { return x.PublishTx(tx, es...) })
}

func (x *txBus) PublishTx(tx store.Tx, es ...events.Event) error {
	for _, e := range es {
		if x.fail != nil {
			if err := x.fail(e); err != nil {
				return err
			}
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := tx.Set(eventsColl.Name, &store.Doc{ID: e.ID(), Data: raw, Keys: map[string]any{"type": e.Type()}}); err != nil {
			return err
		}
	}
	return nil
}

type env struct {
	d   functions.Deps
	bus *txBus
	now time.Time
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	st := functionstest.OpenStores(t, t.TempDir(), "cn-local", make([]byte, 32))
	for _, c := range append(fanout.Collections(), eventsColl) {
		if err := st.Docs.Ensure(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{bus: &txBus{b: st.Docs}, now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	e.d = functions.Deps{Config: config.Config{PublicURL: "https://veil.example", MailFrom: "privacy@veil.example"},
		Log: zerolog.Nop(), DB: st.DB, Keys: st.Keys, Bus: e.bus, Now: func() time.Time { return e.now }}
	return e
}

// published returns the events of type typ staged so far.
func (e *env) published(t testing.TB, typ string) []events.Event {
	t.Helper()
	var out []events.Event
	q := store.Query{Filters: []store.Filter{store.Where("type", store.EQ, typ)}, Limit: store.MaxLimit}
	for {
		docs, err := e.d.DB.Backend.Query(context.Background(), eventsColl.Name, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			var ev events.Event
			if err := json.Unmarshal(d.Data, &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
		if len(docs) < q.Limit {
			return out
		}
		q.After = docs[len(docs)-1]
	}
}

func (e *env) app(t testing.TB, id, webhook string) {
	t.Helper()
	if err := e.d.DB.Apps.Put(context.Background(), &privacy.App{ID: id, Name: id, Platform: privacy.Android,
		DeveloperEmail: "dev-" + id + "@example.com", PushWebhook: webhook, DisclosesSDK: true}); err != nil {
		t.Fatal(err)
	}
}

// record files an ad record for a device as ingest does: subject key of
// the oaid, the raw id sealed under it, ids hashed in the clear.
func (e *env) record(t testing.TB, oaid, app string, at time.Time, sealed map[string]any) {
	t.Helper()
	ctx := context.Background()
	sub, err := privacy.DeviceSubject("oaid", oaid)
	if err != nil {
		t.Fatal(err)
	}
	sk := e.d.Keys.SubjectKey(sub)
	fields := map[string]any{"ids.oaid": oaid}
	for k, v := range sealed {
		fields[k] = v
	}
	plain, _ := json.Marshal(fields)
	box, err := e.d.Keys.Seal(ctx, sk, plain)
	if err != nil {
		t.Fatal(err)
	}
	rec := &privacy.AdRecord{ID: fmt.Sprintf("r-%s-%d", oaid, at.UnixNano()), SubjectKey: sk, AppID: app, Platform: privacy.Android,
		Region: "CN", ReceivedAt: at, ExpiresAt: at.Add(90 * 24 * time.Hour),
		Fields:   map[string]json.RawMessage{"brand": json.RawMessage(`"Xiaomi"`)},
		IDHashes: map[string]string{"ids.oaid": sk}, Sealed: box}
	if err := e.d.DB.Records.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
}

func compose(_ context.Context, job *fanout.Job, r *fanout.Recipient) (string, map[string]string, error) {
	return "incident_notice", map[string]string{"role": r.Role}, nil
}

// notices decodes the staged notifications by their key.
func notices(t testing.TB, es []events.Event) map[string]events.NotificationData {
	t.Helper()
	out := map[string]events.NotificationData{}
	for _, e := range es {
		d, err := events.Decode[events.NotificationData](e)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[d.Key]; dup {
			t.Errorf("key %s staged twice", d.Key)
		}
		out[d.Key] = d
	}
	return out
}

// drive runs a job to its end the way the bus would: the start at gen 0,
// then every continuation it stages.
func drive(t testing.TB, e *env, en *fanout.Engine, job string) int {
	t.Helper()
	runs := 0
	for gen := 0; ; gen++ {
		if err := en.Run(context.Background(), job, gen); err != nil {
			t.Fatal(err)
		}
		runs++
		j, err := en.Jobs.Get(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
		if j.Done {
			return runs
		}
		if j.Gen != gen+1 {
			t.Fatalf("run %d ended without finishing or handing on (gen %d)", gen, j.Gen)
		}
		if runs > 10000 {
			t.Fatal("fan-out does not end")
		}
	}
}

func create(t testing.TB, e *env, en *fanout.Engine, job *fanout.Job, subjects ...string) {
	t.Helper()
	var subs []privacy.Subject
	for _, s := range subjects {
		sub, err := privacy.ParseSubject(s)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	if err := e.d.DB.Backend.Tx(context.Background(), func(tx store.Tx) error { return en.Create(tx, job, subs) }); err != nil {
		t.Fatal(err)
	}
}

func TestExplicitSubjectsAndContacts(t *testing.T) {
	e := newEnv(t)
	e.app(t, "app-push", "https://push.example.com/hook")
	e.app(t, "app-silent", "")
	e.record(t, "dev-reachable", "app-push", e.now.Add(-time.Hour), nil)
	e.record(t, "dev-silent", "app-silent", e.now.Add(-time.Hour), nil)
	en := fanout.New(e.d, compose, "incident")
	var finished *fanout.Job
	en.OnFinish = func(tx store.Tx, j *fanout.Job) error { finished = j; return nil }
	create(t, e, en, &fanout.Job{ID: "incident:i1", CreatedAt: e.now},
		"account:alice@example.com", "device:oaid:dev-reachable", "device:oaid:dev-silent", "device:oaid:never-seen", "account:alice@example.com")
	drive(t, e, en, "incident:i1")

	got := notices(t, e.published(t, events.NotificationRequested))
	want := map[string]string{ // subject → channel
		"account:alice@example.com": "email", "device:oaid:dev-reachable": "push",
	}
	if len(got) != len(want) {
		t.Fatalf("staged %d notices, want %d: %v", len(got), len(want), got)
	}
	for s, ch := range want {
		sub, _ := privacy.ParseSubject(s)
		key := fanout.TargetID("incident:i1", e.d.Keys.SubjectKey(sub))
		n, ok := got[key]
		if !ok {
			t.Errorf("no notice for %s", s)
			continue
		}
		if n.Channel != ch || n.Ref != "incident:i1" || n.Template != "incident_notice" {
			t.Errorf("%s: %+v", s, n)
		}
		// The address never travels in the clear.
		if !strings.HasPrefix(n.To, fanout.SealedPrefix) || strings.Contains(n.To, "alice") || strings.Contains(n.To, "dev-reachable") {
			t.Errorf("%s: address not sealed: %q", s, n.To)
		}
		raw, _ := decodeSealed(n.To)
		plain, err := e.d.Keys.Open(context.Background(), n.SubjectKey, raw)
		if err != nil {
			t.Fatal(err)
		}
		wantTo := map[string]string{"email": "alice@example.com", "push": "app-push device:oaid:dev-reachable"}[ch]
		if string(plain) != wantTo {
			t.Errorf("%s: sealed address %q, want %q", s, plain, wantTo)
		}
	}
	if finished == nil || finished.Targeted != 4 || finished.Unreachable != 2 {
		t.Fatalf("finished job = %+v, want 4 targeted (duplicate folded), 2 unreachable", finished)
	}
	// Seeds (raw subjects) are gone once the job is done.
	if left, _ := en.Seeds.Find(context.Background(), store.Query{}); len(left) != 0 {
		t.Errorf("%d seed chunks left after the job finished", len(left))
	}
}

func TestRecordsQueryInBatchesResumesWithoutDuplicates(t *testing.T) {
	e := newEnv(t)
	e.app(t, "app-push", "https://push.example.com/hook")
	from, to := e.now.Add(-10*time.Hour), e.now.Add(-time.Hour)
	// 7 devices in the window, each with 3 records spread over it (so one
	// person appears in several pages), plus records outside the window.
	for i := 0; i < 7; i++ {
		for j := 0; j < 3; j++ {
			e.record(t, fmt.Sprintf("dev-%d", i), "app-push", from.Add(time.Duration(j*3+i%3)*time.Hour), nil)
		}
	}
	e.record(t, "too-early", "app-push", from.Add(-time.Hour), nil)
	e.record(t, "too-late", "app-push", to.Add(time.Minute), nil)

	en := fanout.New(e.d, compose, "incident")
	en.BatchSize, en.MaxBatches = 2, 3
	// Crash the third transaction that stages a notice: the batch rolls
	// back and the run fails, as a process killed half-way would.
	var staged atomic.Int32
	e.bus.fail = func(ev events.Event) error {
		if ev.Type() == events.NotificationRequested && staged.Add(1) == 3 {
			return errors.New("crash")
		}
		return nil
	}
	create(t, e, en, &fanout.Job{ID: "incident:q", CreatedAt: e.now,
		Sources: []fanout.Source{{Kind: fanout.FromRecords, Categories: []privacy.Category{privacy.CatDeviceID}, From: from, To: to}}})
	if err := en.Run(context.Background(), "incident:q", 0); err == nil {
		t.Fatal("the crash did not surface")
	}
	// The broker redelivers the start; from here on the bus works.
	runs := drive(t, e, en, "incident:q")
	if runs < 2 {
		t.Errorf("%d runs: batches were not bounded per run", runs)
	}
	got := notices(t, e.published(t, events.NotificationRequested))
	if len(got) != 7 {
		t.Fatalf("%d notices, want one per device in the window (7)", len(got))
	}
	for i := 0; i < 7; i++ {
		sub, _ := privacy.DeviceSubject("oaid", fmt.Sprintf("dev-%d", i))
		if _, ok := got[fanout.TargetID("incident:q", e.d.Keys.SubjectKey(sub))]; !ok {
			t.Errorf("dev-%d skipped", i)
		}
	}
	p, err := en.Progress(context.Background(), "incident:q")
	if err != nil {
		t.Fatal(err)
	}
	if p.Job.Targeted != 7 || p.Job.Unreachable != 0 {
		t.Errorf("job counts %+v", p.Job)
	}
	// A stale start (redelivered after the chain moved on) does nothing.
	before := len(e.published(t, events.FanoutContinued))
	if err := en.Run(context.Background(), "incident:q", 0); err != nil {
		t.Fatal(err)
	}
	if after := len(e.published(t, events.FanoutContinued)); after != before {
		t.Errorf("a stale run staged %d continuations", after-before)
	}
}

func TestRecordCategories(t *testing.T) {
	e := newEnv(t)
	e.app(t, "app-push", "https://push.example.com/hook")
	at := e.now.Add(-time.Hour)
	e.record(t, "with-apps", "app-push", at, map[string]any{"installed_apps": []string{"com.example"}})
	e.record(t, "plain", "app-push", at, nil)
	cases := []struct {
		cat  privacy.Category
		want int
	}{
		{privacy.CatAppList, 1},     // sealed only: found by opening the record
		{privacy.CatDeviceInfo, 2},  // brand is kept in the clear
		{privacy.CatLocation, 0},    // no one's geo was kept
		{privacy.CatDeviceID, 2},    // id hashes
		{privacy.CatSecurityLog, 0}, // not in ad records at all
	}
	for i, c := range cases {
		t.Run(string(c.cat), func(t *testing.T) {
			en := fanout.New(e.d, compose, "incident")
			job := fmt.Sprintf("incident:c%d", i)
			create(t, e, en, &fanout.Job{ID: job, CreatedAt: e.now,
				Sources: []fanout.Source{{Kind: fanout.FromRecords, Categories: []privacy.Category{c.cat}, From: at.Add(-time.Minute), To: at.Add(time.Minute)}}})
			drive(t, e, en, job)
			p, err := en.Progress(context.Background(), job)
			if err != nil {
				t.Fatal(err)
			}
			if p.Job.Targeted != int64(c.want) {
				t.Errorf("%s: %d targeted, want %d", c.cat, p.Job.Targeted, c.want)
			}
		})
	}
}

func TestAppsAndAccounts(t *testing.T) {
	e := newEnv(t)
	e.app(t, "a1", "")
	e.app(t, "a2", "")
	// The same developer with a second app is told once.
	if err := e.d.DB.Apps.Put(context.Background(), &privacy.App{ID: "a3", DeveloperEmail: "dev-a1@example.com"}); err != nil {
		t.Fatal(err)
	}
	for i, email := range []string{"carol@example.com", "carol@example.com", "", "dev-a2@example.com"} {
		r := &privacy.Request{ID: fmt.Sprintf("req-%d", i), Type: privacy.ReqAccess, Status: privacy.StatusVerified, Email: email, CreatedAt: e.now}
		if err := e.d.DB.Requests.Put(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	en := fanout.New(e.d, compose, "policy")
	create(t, e, en, &fanout.Job{ID: "policy:v2", CreatedAt: e.now, Sources: []fanout.Source{{Kind: fanout.FromApps}, {Kind: fanout.FromAccounts}}})
	drive(t, e, en, "policy:v2")
	got := notices(t, e.published(t, events.NotificationRequested))
	roles := map[string]int{}
	for _, n := range got {
		var role string
		role = n.Vars["role"]
		roles[role]++
		if n.Channel != "email" {
			t.Errorf("channel %s", n.Channel)
		}
	}
	// dev-a1, dev-a2 as developers; carol as an account; dev-a2's own
	// request does not make them a second target.
	if len(got) != 3 || roles["developer"] != 2 || roles["account"] != 1 {
		t.Errorf("notices by role %v (%d)", roles, len(got))
	}
}

func TestDeliveredCountsOnce(t *testing.T) {
	e := newEnv(t)
	en := fanout.New(e.d, compose, "incident")
	failed := 0
	en.OnFailed = func(tx store.Tx, job string) error { failed++; return nil }
	create(t, e, en, &fanout.Job{ID: "incident:d", CreatedAt: e.now}, "account:a@example.com", "account:b@example.com")
	drive(t, e, en, "incident:d")
	got := notices(t, e.published(t, events.NotificationRequested))
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	outcomes := []events.DeliveryData{
		{Key: keys[0], Ref: "incident:d", Channel: "email", Status: "sent"},
		{Key: keys[0], Ref: "incident:d", Channel: "email", Status: "sent"}, // redelivered
		{Key: keys[1], Ref: "incident:d", Channel: "email", Status: "failed"},
		{Key: keys[1], Ref: "incident:d", Channel: "email", Status: "sent"},    // too late: already final
		{Key: "policy:x~k", Ref: "policy:x", Channel: "email", Status: "sent"}, // not ours
		{Key: "incident:d~nobody", Ref: "incident:d", Channel: "email", Status: "sent"},
	}
	for _, o := range outcomes {
		if err := en.Delivered(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	p, err := en.Progress(context.Background(), "incident:d")
	if err != nil {
		t.Fatal(err)
	}
	if p.Counts["sent"] != 1 || p.Counts["failed"] != 1 || failed != 1 {
		t.Errorf("counts %v, OnFailed ran %d times", p.Counts, failed)
	}
}

func decodeSealed(v string) ([]byte, error) {
	return base64URL(strings.TrimPrefix(v, fanout.SealedPrefix))
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
