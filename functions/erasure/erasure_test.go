package erasure

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/consent"
	"github.com/veil-privacy/veil/functions/erasure/fulfil"
	"github.com/veil-privacy/veil/functions/erasure/fulfil/fulfiltest"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/functions/requests"
	"github.com/veil-privacy/veil/functions/retention"
	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

const (
	oaid  = "a1b2c3d4-0000-4000-8000-00000000e5f6"
	imei  = "861234567890123"
	email = "li.wei@advertiser.example"
)

// bed is a test bed with the erasure function (and retention, for holds).
func bed(t testing.TB) (*fulfiltest.Env, *eraser, *functions.Function) {
	var x *eraser
	e, fns := fulfiltest.New(t, fulfiltest.Options{}, ingest.New, consent.New, requests.New, func(ctx context.Context, d functions.Deps) (*functions.Function, error) {
		var err error
		if x, err = newEraser(ctx, d); err != nil {
			return nil, err
		}
		return x.function(), nil
	}, retention.New)
	return e, x, fns[3]
}

// subject is a device with records, a consent decision, a disclosure to
// a partner and an export bundle; it returns the app key and the device's
// subject key.
func subject(e *fulfiltest.Env, x *eraser, n int) (appKey, key string) {
	_, appKey = e.App("Demo", "dev@example.com")
	for i := 0; i < n; i++ {
		e.Ingest(appKey, fulfiltest.AdRequest(oaid, imei, i))
		e.Now = e.Now.Add(time.Minute)
	}
	e.Must(http.StatusOK, nil, "PUT", "/v1/consents/device:imei:"+imei,
		map[string]any{"purposes": map[string]bool{"partner_sharing": true}, "source": "app"}, "X-Veil-App-Key", appKey)
	s, _ := privacy.DeviceSubject("oaid", oaid)
	key = e.D.Keys.SubjectKey(s)
	d := &privacy.Disclosure{ID: "partner-a~" + key, Recipient: "partner-a", SubjectKey: key, Pseudonym: e.D.Keys.Pseudonym("partner-a", key),
		Categories: []privacy.Category{privacy.CatDeviceInfo}, Purposes: []privacy.Purpose{privacy.PurposeAttribution},
		First: e.Now, Last: e.Now, Count: n}
	if err := e.D.DB.Disclosures.Put(e.Ctx, d); err != nil {
		e.T.Fatal(err)
	}
	b := &fulfil.Bundle{ID: "exports/old-0123.zip", RequestID: "old", SubjectKey: key, CreatedAt: e.Now, ExpiresAt: e.Now.Add(24 * time.Hour), Bytes: 4}
	if err := e.D.Blobs.Put(e.Ctx, b.ID, strings.NewReader("zip!"), "application/zip"); err != nil {
		e.T.Fatal(err)
	}
	if err := x.repos.Bundles.Put(e.Ctx, b); err != nil {
		e.T.Fatal(err)
	}
	return appKey, key
}

// count returns how many documents of coll are filed under subject key k.
func count(e *fulfiltest.Env, coll, k string) int {
	e.T.Helper()
	docs, err := e.D.DB.Backend.Query(e.Ctx, coll, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, Limit: store.MaxLimit})
	if err != nil {
		e.T.Fatal(err)
	}
	return len(docs)
}

func TestDeleteDevice(t *testing.T) {
	e, x, f := bed(t)
	appKey, key := subject(e, x, 3)
	s, _ := privacy.DeviceSubject("imei", imei)
	imeiKey := e.D.Keys.SubjectKey(s)
	copyID := e.DeviceRequest(appKey, "copy", "device:oaid:"+oaid, nil) // an earlier request, kept as evidence
	// Control: before the deletion the files do hold the subject (its key,
	// its plain fields), so the search below can find it.
	const ua = "Mozilla/5.0 (Linux; Android 12)"
	if err := e.DB.Purge(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if files := e.Files(); !bytes.Contains(files["veil.db"], []byte(key)) || !bytes.Contains(files["veil.db"], []byte(ua)) {
		t.Fatal("control: the subject is not in veil.db before the deletion")
	}
	id := e.DeviceRequest(appKey, "delete", "device:imei:"+imei, map[string]any{"details": "my phone " + oaid})
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}

	r := e.Request(id)
	if r.Status != privacy.StatusCompleted || r.SubjectKey != privacy.ErasedSubject(key) || r.SubjectHint != "erased" || r.Details != "" {
		t.Fatalf("request after erasure: %s %s %q %q", r.Status, r.SubjectKey, r.SubjectHint, r.Details)
	}
	if !strings.Contains(r.Result, "3 ad records") || !strings.Contains(r.Result, "partner-a") {
		t.Errorf("result: %s", r.Result)
	}
	if c := e.Request(copyID); c.SubjectKey != privacy.ErasedSubject(key) || c.Status != privacy.StatusVerified {
		t.Errorf("earlier request: %s %s", c.SubjectKey, c.Status)
	}
	for _, k := range []string{key, imeiKey} {
		for _, coll := range []string{"adrecords", "devices", "requests", "disclosures", "export_bundles"} {
			if n := count(e, coll, k); n != 0 {
				t.Errorf("%d documents of %s left under %s", n, coll, k[:8])
			}
		}
		if _, err := e.D.DB.Consents.Get(e.Ctx, k); !privacy.IsNotFound(err) {
			t.Errorf("consent under %s: %v", k[:8], err)
		}
		if has, _ := e.D.Keys.Has(e.Ctx, k); has {
			t.Errorf("data key of %s not destroyed", k[:8])
		}
	}
	if _, err := e.D.Blobs.Open(e.Ctx, "exports/old-0123.zip"); !privacy.IsNotFound(err) {
		t.Errorf("export bundle blob: %v", err)
	}

	// The ledger, in the store and in the file.
	le, err := x.ledger.Get(e.Ctx, id)
	if err != nil || !slices.Contains(le.Hashes, privacy.ErasureHash(key)) || !slices.Contains(le.Hashes, privacy.ErasureHash(imeiKey)) {
		t.Fatalf("ledger entry: %+v %v", le, err)
	}
	raw, err := os.ReadFile(filepath.Join(e.Dir, LedgerFile))
	if err != nil || !bytes.Contains(raw, []byte(privacy.ErasureHash(key))) {
		t.Fatalf("ledger file: %v %s", err, raw)
	}

	// The recipient is asked to delete, and its acknowledgement tracked.
	var asked []events.ErasureData
	for _, ev := range e.Queued(events.ErasureRequested) {
		d, _ := events.Decode[events.ErasureData](ev)
		asked = append(asked, d)
	}
	pseudonym := e.D.Keys.Pseudonym("partner-a", key)
	if len(asked) != 1 || asked[0].Recipient != "partner-a" || asked[0].Pseudonym != pseudonym || asked[0].RequestID != id {
		t.Fatalf("erasure requests: %+v", asked)
	}
	d, err := e.D.DB.Disclosures.Get(e.Ctx, "partner-a~"+privacy.ErasedSubject(key))
	if err != nil || d.ErasureID != asked[0].ErasureID || d.ErasureSentAt == nil || d.AcknowledgedAt != nil {
		t.Fatalf("disclosure after erasure: %+v %v", d, err)
	}
	ack := fulfiltest.Event(events.ErasureAcknowledged, id, events.ErasureData{ErasureID: d.ErasureID, Recipient: "partner-a", Pseudonym: pseudonym, RequestID: id})
	if err := f.Events[events.ErasureAcknowledged](e.Ctx, ack); err != nil {
		t.Fatal(err)
	}
	if d, _ = e.D.DB.Disclosures.Get(e.Ctx, d.ID); d.AcknowledgedAt == nil || d.Pseudonym != "" {
		t.Errorf("acknowledged disclosure: %+v", d)
	}

	// The developer who attested is told, with what was kept and why; the
	// notice names no subject key.
	mails := e.Notifications("deletion_done")
	if len(mails) != 1 || mails[0].To != "dev@example.com" || mails[0].SubjectKey != "" ||
		!strings.Contains(mails[0].Vars["kept_zh"], "网络安全法") || !strings.Contains(mails[0].Vars["recipients_en"], "partner-a") {
		t.Fatalf("deletion_done: %+v", mails)
	}

	// Nothing of the subject is readable in the files once the queue has
	// been delivered and the next tick purged: keys, id hashes, raw ids,
	// sealed values, the pseudonym.
	e.Drain()
	tick := fulfiltest.Event(events.ScheduleTicked, "", events.ScheduleTickedData{Job: Job})
	if err := f.Events[events.ScheduleTicked](e.Ctx, tick); err != nil {
		t.Fatal(err)
	}
	for name, raw := range e.Files() {
		for _, secret := range []string{key, imeiKey, oaid, imei, ua, "HomeNet-5G", "Wang's phone", "com.example.chat", "39.9042", pseudonym} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%s still holds %q", name, secret)
			}
		}
	}
}

func TestCryptoShreddingMakesBackupsUnreadable(t *testing.T) {
	e, x, f := bed(t)
	appKey, key := subject(e, x, 2)
	backup := filepath.Join(t.TempDir(), "veil-backup.db")
	e.Backup(backup)
	open := func() error {
		b, err := sqlite.Open(e.Ctx, backup, "cn-local")
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		db, err := store.Open(e.Ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := db.Records.Find(e.Ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, key)}, OrderBy: "received"})
		if err != nil || len(recs) != 2 {
			t.Fatalf("the backup's records: %d %v", len(recs), err)
		}
		_, err = e.D.Keys.Open(e.Ctx, key, recs[0].Sealed)
		return err
	}
	if err := open(); err != nil {
		t.Fatalf("before the deletion the backup opens with the ring: %v", err)
	}
	e.DeviceRequest(appKey, "delete", "device:oaid:"+oaid, nil)
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}
	if err := open(); err != keys.ErrShredded {
		t.Fatalf("after the deletion, opening the backup's records: %v, want keys.ErrShredded", err)
	}
}

func TestLegalHoldKeepsIsolatesAndDefers(t *testing.T) {
	e, x, f := bed(t)
	appKey, key := subject(e, x, 2)
	var hold struct{ ID string }
	e.Must(http.StatusCreated, &hold, "POST", "/v1/holds", map[string]any{"subject_key": key, "reason": "court order 2026-17"}, fulfiltest.Ops()...)
	id := e.DeviceRequest(appKey, "delete", "device:oaid:"+oaid, nil)
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}
	r := e.Request(id)
	if r.Status != privacy.StatusCompleted || !strings.Contains(r.Result, "legal hold") || r.SubjectKey != key {
		t.Fatalf("held request: %s %q", r.Status, r.Result)
	}
	recs, _ := e.D.DB.Records.Find(e.Ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, key)}, OrderBy: "received"})
	if len(recs) != 2 || !strings.Contains(recs[0].Isolated, "court order 2026-17") {
		t.Fatalf("held records: %d isolated=%q", len(recs), recs[0].Isolated)
	}
	if has, _ := e.D.Keys.Has(e.Ctx, key); !has {
		t.Fatal("a held subject's key was destroyed")
	}
	if _, err := x.ledger.Get(e.Ctx, id); !privacy.IsNotFound(err) {
		t.Fatalf("a held subject is in the ledger (a replay would delete it): %v", err)
	}
	mails := e.Notifications("deletion_done")
	if len(mails) != 1 || !strings.Contains(mails[0].Vars["kept_en"], "court order 2026-17") {
		t.Fatalf("the requester is told what was kept and why: %+v", mails)
	}

	// Lifting the hold runs the deletion and tells the requester again.
	e.Must(http.StatusOK, nil, "DELETE", "/v1/holds/"+hold.ID, map[string]any{"reason": "case closed"}, fulfiltest.Ops()...)
	if err := e.Deliver(f, events.HoldLifted); err != nil {
		t.Fatal(err)
	}
	if n := count(e, "adrecords", key); n != 0 {
		t.Fatalf("%d records left after the hold was lifted", n)
	}
	if r := e.Request(id); r.SubjectKey != privacy.ErasedSubject(key) || !strings.Contains(r.Result, "hold was lifted") {
		t.Errorf("request after the deferred deletion: %s %q", r.SubjectKey, r.Result)
	}
	var second []events.NotificationData
	for _, ev := range e.Queued(events.NotificationRequested) {
		d, _ := events.Decode[events.NotificationData](ev)
		if d.Key == "deletion-after-hold/"+id {
			second = append(second, d)
		}
	}
	if len(second) != 1 || second[0].To != "dev@example.com" {
		t.Errorf("second notice: %+v", second)
	}
}

func TestCancelAccount(t *testing.T) {
	cases := []struct {
		typ        string
		revoked    bool
		cancelled  bool
		template   string
		appsInMail string
	}{
		{"cancel_account", true, true, "cancellation_done", "stopped the service for the 1 apps"},
		{"delete", false, false, "deletion_done", "the developer address of the 1 apps"},
	}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			e, x, f := bed(t)
			appID, appKey := e.App("Ads", email)
			s, _ := privacy.AccountSubject(email)
			key := e.D.Keys.SubjectKey(s)
			if err := x.repos.Profiles.Put(e.Ctx, &privacy.Profile{SubjectKey: key, Fields: map[string]string{"phone": "+86 138 0000 0000"}}); err != nil {
				t.Fatal(err)
			}
			r := e.AccountRequest(email, c.typ, nil)
			if err := e.Deliver(f, events.RequestVerified); err != nil {
				t.Fatal(err)
			}
			app, err := e.D.DB.Apps.Get(e.Ctx, appID)
			if err != nil || app.Revoked != c.revoked || (app.DeveloperEmail == "") != c.revoked {
				t.Fatalf("app: %+v %v", app, err)
			}
			accounts, _ := fulfil.NewAccounts(e.Ctx, e.D.DB)
			if got, err := accounts.Cancelled(e.Ctx, key); err != nil || got != c.cancelled {
				t.Fatalf("Cancelled = %v, %v", got, err)
			}
			if _, err := x.repos.Profiles.Get(e.Ctx, key); !privacy.IsNotFound(err) {
				t.Errorf("profile: %v", err)
			}
			if got := e.Request(r.ID); got.Email != "" || got.Status != privacy.StatusCompleted {
				t.Errorf("request: %q %s", got.Email, got.Status)
			}
			mails := e.Notifications(c.template)
			if len(mails) != 1 || mails[0].To != email || !strings.Contains(mails[0].Vars["deleted_en"]+mails[0].Vars["kept_en"], c.appsInMail) {
				t.Fatalf("%s: %+v", c.template, mails)
			}
			// Service stops: a revoked app's key no longer ingests.
			code, _ := e.Do("POST", "/v1/ad-requests", fulfiltest.AdRequest(oaid, imei, 0), "X-Veil-App-Key", appKey)
			if (code == http.StatusUnauthorized) != c.revoked {
				t.Errorf("ingest with the account's app key: %d", code)
			}
		})
	}
}

func TestCorrection(t *testing.T) {
	e, x, f := bed(t)
	s, _ := privacy.AccountSubject(email)
	key := e.D.Keys.SubjectKey(s)
	if err := x.repos.Profiles.Put(e.Ctx, &privacy.Profile{SubjectKey: key, Fields: map[string]string{"name": "李伟", "phone": "1"}}); err != nil {
		t.Fatal(err)
	}
	auto := e.AccountRequest(email, "correct", func(r *privacy.Request) {
		r.Corrections = map[string]string{"phone": "+86 139 1111 2222", "address": "北京市海淀区"}
	})
	named := e.AccountRequest(email, "correct", func(r *privacy.Request) { r.Corrections = map[string]string{"name": "李薇"} })
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}
	p, _ := x.repos.Profiles.Get(e.Ctx, key)
	if e.Request(auto.ID).Status != privacy.StatusCompleted || p.Fields["phone"] != "+86 139 1111 2222" || p.Fields["address"] != "北京市海淀区" {
		t.Fatalf("automatic correction: %s %+v", e.Request(auto.ID).Status, p.Fields)
	}
	if r := e.Request(named.ID); r.Status != privacy.StatusNeedsReview || p.Fields["name"] != "李伟" {
		t.Fatalf("real-name correction: %s, name %s", r.Status, p.Fields["name"])
	}
	// Ops approve it: back to verified, fulfilled again, applied.
	e.Must(http.StatusOK, nil, "POST", "/v1/requests/"+named.ID+"/approve", nil, fulfiltest.Ops()...)
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}
	p, _ = x.repos.Profiles.Get(e.Ctx, key)
	if r := e.Request(named.ID); r.Status != privacy.StatusCompleted || p.Fields["name"] != "李薇" {
		t.Fatalf("after approval: %s, name %s", r.Status, p.Fields["name"])
	}
	mails := e.Notifications("correction_done")
	if len(mails) != 2 || mails[1].Vars["reviewed"] != "yes" || !strings.Contains(mails[1].Vars["fields_zh"], "姓名") {
		t.Fatalf("correction_done: %+v", mails)
	}
	if len(p.History) != 2 || p.History[1].RequestID != named.ID {
		t.Errorf("profile history: %+v", p.History)
	}
}

func TestWithdrawal(t *testing.T) {
	cases := []struct {
		name, details string
		gone, kept    []string
		personalized  bool
	}{
		{"everything", "", []string{"installed_apps", "geo", "sensors"}, []string{"ids.oaid", "wifi_ssid", "brand"}, false},
		{"location", "please stop using my location", []string{"geo"}, []string{"installed_apps", "sensors", "ids.oaid"}, true},
	}
	for _, c := range cases {
		// Subtest names become directory names, and a "#" in the path
		// of a SQLite file cuts its URI short: plain names only.
		t.Run(c.name, func(t *testing.T) {
			e, x, f := bed(t)
			appKey, key := subject(e, x, 2)
			id := e.DeviceRequest(appKey, "withdraw_consent", "device:oaid:"+oaid, map[string]any{"details": c.details})
			if err := e.Deliver(f, events.RequestVerified); err != nil {
				t.Fatal(err)
			}
			if r := e.Request(id); r.Status != privacy.StatusCompleted {
				t.Fatalf("request: %s %s", r.Status, r.Result)
			}
			cons, err := e.D.DB.Consents.Get(e.Ctx, key)
			if err != nil || cons.History[len(cons.History)-1].Source != SourceRequest {
				t.Fatalf("consent: %+v %v", cons, err)
			}
			if changed := e.Queued(events.ConsentChanged); len(changed) == 0 {
				t.Error("no consent.changed")
			}
			recs, _ := e.D.DB.Records.Find(e.Ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, key)}, OrderBy: "received"})
			for _, r := range recs {
				plain, err := e.D.Keys.Open(e.Ctx, key, r.Sealed)
				if err != nil {
					t.Fatal(err)
				}
				var sealed map[string]json.RawMessage
				_ = json.Unmarshal(plain, &sealed)
				for _, p := range c.gone {
					_, inSealed := sealed[p]
					_, inPlain := r.Fields[p]
					if inSealed || inPlain {
						t.Errorf("record %s still holds %s", r.ID, p)
					}
				}
				for _, p := range c.kept {
					_, inSealed := sealed[p]
					_, inPlain := r.Fields[p]
					if !inSealed && !inPlain {
						t.Errorf("record %s lost %s", r.ID, p)
					}
				}
				if r.Personalized != c.personalized || (r.CoarseGeo != nil) {
					t.Errorf("record %s: personalized %v, coarse geo %v", r.ID, r.Personalized, r.CoarseGeo)
				}
			}
			// Ingest stops collecting at once: the next request drops the
			// withdrawn fields whatever the SDK says.
			var resp struct {
				Dropped []privacy.Dropped `json:"dropped"`
			}
			e.Must(http.StatusOK, &resp, "POST", "/v1/ad-requests", fulfiltest.AdRequest(oaid, imei, 9), "X-Veil-App-Key", appKey)
			if !slices.ContainsFunc(resp.Dropped, func(d privacy.Dropped) bool { return d.Field == "geo" && d.Reason == privacy.ReasonWithdrawn }) {
				t.Errorf("next ad request kept geo: %+v", resp.Dropped)
			}
			if mails := e.Notifications("withdrawal_done"); len(mails) != 1 || mails[0].Vars["effects_en"] == "" {
				t.Errorf("withdrawal_done: %+v", mails)
			}
		})
	}
}

func TestReplayAfterRestore(t *testing.T) {
	e, x, f := bed(t)
	appKey, key := subject(e, x, 3)
	backup := filepath.Join(t.TempDir(), "veil-backup.db")
	e.Backup(backup)
	id := e.DeviceRequest(appKey, "delete", "device:oaid:"+oaid, nil)
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}
	// Restore the backup (taken before the deletion) and replay the
	// ledger: the file beside it still has the entry.
	b, err := sqlite.Open(e.Ctx, backup, "cn-local")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	db, err := store.Open(e.Ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	restored := e.D
	restored.DB = db
	restored.Bus = publisher{}
	if n := restoredCount(t, db, key); n != 3 {
		t.Fatalf("the backup holds %d records", n)
	}
	rep, err := Replay(e.Ctx, restored, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 1 || rep.RestoredStore != 1 || rep.Records != 3 || rep.Redacted == 0 {
		t.Fatalf("replay: %+v", rep)
	}
	if n := restoredCount(t, db, key); n != 0 {
		t.Fatalf("%d records after replay", n)
	}
	if _, err := db.Consents.Get(e.Ctx, key); !privacy.IsNotFound(err) {
		t.Errorf("consent after replay: %v", err)
	}
	if r, _ := db.Requests.Get(e.Ctx, id); r != nil {
		t.Errorf("a request the backup never had: %+v", r)
	}
	again, err := Replay(e.Ctx, restored, nil)
	if err != nil || again.Records != 0 || again.RestoredStore != 0 {
		t.Errorf("second replay: %+v %v", again, err)
	}
}

func restoredCount(t *testing.T, db *store.DB, key string) int {
	recs, err := db.Records.Find(context.Background(), store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, key)}, OrderBy: "received", Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// publisher swallows what a replay publishes (the restored store's queue
// is not under test).
type publisher struct{}

func (publisher) Publish(context.Context, ...events.Event) error { return nil }
func (publisher) PublishTx(store.Tx, ...events.Event) error      { return nil }
