package tests

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-privacy/veil/functions/erasure"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"

	"github.com/veil-privacy/veil/tests/testclock"
)

// The fulfilment path end to end (issue 5): a device's ad records come in
// through the SDK route, a partner pulls them, the developer asks for a
// copy on the user's behalf and downloads it from the link in the mail;
// then asks for deletion, after which nothing of the device is left in any
// store, the erasure ledger has it, and the partner was asked to delete
// and acknowledged.
func TestCopyThenDeletionOfADevice(t *testing.T) {
	const (
		oaid      = "5f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
		imei      = "864209031234567"
		developer = "dev@game.example"
		ua        = "Mozilla/5.0 (Linux; Android 13; e2e-fulfilment)"
	)
	// The clock moves on demand: the partner feed serves records once
	// they have settled.
	clock := testclock.At(time.Now().UTC().Truncate(time.Second))
	s := veiltest.Start(t, nil, suite.WithClock(clock.Now))
	var app struct {
		AppKey string `json:"app_key"`
	}
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "Game", "platform": "android", "developer_email": developer, "discloses_sdk": true}), http.StatusCreated, &app)
	appKey := []string{"X-Veil-App-Key", app.AppKey}

	// A partner registered before the data comes in receives it.
	var partner struct {
		PartnerID string `json:"partner_id"`
		PullToken string `json:"pull_token"`
	}
	s.Must(s.Ops("POST", "/v1/partners", map[string]any{"name": "Measure Co", "purposes": []string{"attribution", "fraud"}, "location": "cn-north-1"}), http.StatusCreated, &partner)

	// Ingest: five ad requests of one device, every field the policy allows.
	var recordIDs []string
	for i := 0; i < 5; i++ {
		var resp struct {
			RequestID string `json:"request_id"`
		}
		s.Must(s.Do("POST", "/v1/ad-requests", adRequest(oaid, imei, ua, i), appKey...), http.StatusOK, &resp)
		recordIDs = append(recordIDs, resp.RequestID)
	}
	s.Must(s.Do("PUT", "/v1/consents/device:oaid:"+oaid, map[string]any{"purposes": map[string]bool{"partner_sharing": true}, "source": "app"}, appKey...), http.StatusOK, nil)
	subj, _ := privacy.DeviceSubject("oaid", oaid)
	key, err := ingest.ResolveSubjectKey(context.Background(), s.Deps.DB, s.Deps.Keys, subj)
	if err != nil {
		t.Fatal(err)
	}

	// The partner pulls the feed a minute later: a disclosure is recorded.
	clock.Add(time.Minute)
	pull := []string{"Authorization", "Bearer " + partner.PullToken}
	var page struct {
		Items []struct{ Pseudonym string } `json:"items"`
	}
	s.Must(s.Do("GET", "/v1/partners/feed", nil, pull...), http.StatusOK, &page)
	if len(page.Items) != 5 {
		t.Fatalf("partner feed: %d items, want 5", len(page.Items))
	}
	if ds, _ := s.Deps.DB.Disclosures.Find(context.Background(), byKey(key)); len(ds) != 1 {
		t.Fatalf("%d disclosures recorded", len(ds))
	}

	// Copy: attested by the developer, so it starts verified; the link
	// arrives by mail.
	var copyReq struct{ ID, Status, Token string }
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": "copy", "subject": map[string]any{"device": "device:oaid:" + oaid}}, appKey...), http.StatusAccepted, &copyReq)
	s.Idle(30 * time.Second)
	// The link is Veil's own /v1/downloads/ URL on the embedded blob store
	// and a presigned S3 URL on S3: either way the mail carries exactly the
	// link the status shows.
	var view struct {
		Status      string `json:"status"`
		DownloadURL string `json:"download_url"`
	}
	s.Eventually(20*time.Second, "the copy request completes", func() bool {
		s.Must(s.Do("GET", "/v1/requests/"+copyReq.ID+"?token="+copyReq.Token, nil), http.StatusOK, &view)
		return view.Status == "completed"
	})
	link := view.DownloadURL
	if !regexp.MustCompile(`^https?://\S+$`).MatchString(link) {
		t.Fatalf("copy request: download_url %q is not a link", link)
	}
	s.WaitMail(developer, link, 20*time.Second)
	resp, err := s.Client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d %s", resp.StatusCode, bundle)
	}
	found := map[string]bool{}
	zr, err := zip.NewReader(bytes.NewReader(bundle), int64(len(bundle)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".jsonl") {
			continue
		}
		rc, _ := f.Open()
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			var rec privacy.ExportedRecord
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			if string(rec.Fields["ids.oaid"]) != `"`+oaid+`"` || string(rec.Fields["ua"]) != `"`+ua+`"` {
				t.Errorf("record %s: oaid %s, ua %s", rec.ID, rec.Fields["ids.oaid"], rec.Fields["ua"])
			}
			found[rec.ID] = true
		}
		rc.Close()
	}
	for _, id := range recordIDs {
		if !found[id] {
			t.Errorf("record %s is not in the copy", id)
		}
	}

	// Deletion.
	var delReq struct{ ID, Status, Token string }
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": "delete", "subject": map[string]any{"device": "device:imei:" + imei}}, appKey...), http.StatusAccepted, &delReq)
	s.Idle(30 * time.Second)
	done := s.WaitMail(developer, "已删除", 20*time.Second)
	if !strings.Contains(done.Text, "Measure Co") && !strings.Contains(done.Text, partner.PartnerID) {
		t.Errorf("the deletion mail does not name the recipient:\n%s", done.Text)
	}
	s.Must(s.Do("GET", "/v1/requests/"+delReq.ID+"?token="+delReq.Token, nil), http.StatusOK, &view)
	if view.Status != "completed" {
		t.Fatalf("delete request: %s", view.Status)
	}

	// The partner was asked to delete; it acknowledges.
	var inbox struct {
		Erasures []struct {
			ErasureID string `json:"erasure_id"`
			Pseudonym string `json:"pseudonym"`
		} `json:"erasures"`
	}
	s.Must(s.Do("GET", "/v1/partners/erasures", nil, pull...), http.StatusOK, &inbox)
	if len(inbox.Erasures) != 1 || inbox.Erasures[0].Pseudonym != page.Items[0].Pseudonym {
		t.Fatalf("partner inbox: %+v", inbox)
	}
	s.Must(s.Do("POST", "/v1/partners/erasures/"+inbox.Erasures[0].ErasureID+"/ack", nil, pull...), http.StatusOK, nil)
	s.Idle(30 * time.Second)
	d, err := s.Deps.DB.Disclosures.Get(context.Background(), partner.PartnerID+"~"+privacy.ErasedSubject(key))
	if err != nil || d.AcknowledgedAt == nil || d.Pseudonym != "" {
		t.Fatalf("disclosure after the acknowledgement: %+v %v", d, err)
	}

	// The ledger has the subject's hash.
	if _, err := s.Deps.DB.Backend.Get(context.Background(), erasure.LedgerCollection.Name, delReq.ID); err != nil {
		t.Fatalf("ledger entry: %v", err)
	}
	if path := filepath.Join(s.Data, erasure.LedgerFile); s.Deps.Config.Store == "sqlite" {
		raw, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(raw, []byte(privacy.ErasureHash(key))) {
			t.Fatalf("ledger file: %v", err)
		}
	}

	// Nothing of the device in any store: every collection that files
	// documents by subject, and the documents filed under its keys.
	imeiSubj, _ := privacy.DeviceSubject("imei", imei)
	keys := []string{key, s.Deps.Keys.SubjectKey(imeiSubj)}
	ctx := context.Background()
	for _, k := range keys {
		for _, coll := range []string{"adrecords", "devices", "requests", "disclosures", "export_bundles", "notify_deliveries", "notify_letters", "fulfilments"} {
			docs, err := s.Deps.DB.Backend.Query(ctx, coll, byKey(k))
			if err != nil {
				t.Fatalf("%s: %v", coll, err)
			}
			if len(docs) > 0 {
				t.Errorf("%d documents of %s are still filed under the device", len(docs), coll)
			}
		}
		for _, coll := range []string{"consents", "devices", "profiles"} {
			if _, err := s.Deps.DB.Backend.Get(ctx, coll, k); !privacy.IsNotFound(err) {
				t.Errorf("%s/%s: %v", coll, k[:8], err)
			}
		}
		if has, _ := s.Deps.Keys.Has(ctx, k); has {
			t.Errorf("the data key of %s survived", k[:8])
		}
	}
	if resp, err := s.Client.Get(link); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the copy can still be downloaded after the deletion")
		}
	}

	// And on disk (the embedded store): after the next retention tick has
	// purged again, neither its keys nor its values are in veil.db or its
	// WAL.
	if s.Deps.Config.Store != "sqlite" {
		return
	}
	s.Must(s.Ops("POST", "/v1/schedules/retention", nil), http.StatusAccepted, nil)
	s.Idle(30 * time.Second)
	s.Must(s.Ops("POST", "/v1/schedules/retention", nil), http.StatusAccepted, nil) // the first tick's own events, purged by the second
	s.Idle(30 * time.Second)
	for _, name := range []string{"veil.db", "veil.db-wal"} {
		raw, err := os.ReadFile(filepath.Join(s.Data, name))
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		// The partner's pseudonym is left out: the partners function's
		// inbox (partner_erasures) keeps the erasure request it served,
		// pseudonym included, after the acknowledgement; the disclosure
		// record itself forgot it (checked above).
		for _, secret := range append(keys, oaid, imei, ua) {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%s still holds %q", name, secret)
			}
		}
	}
}

func byKey(k string) store.Query {
	return store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, Limit: store.MaxLimit}
}

func adRequest(oaid, imei, ua string, n int) map[string]any {
	return map[string]any{
		"sdk":     map[string]any{"platform": "android", "version": "3.1.0"},
		"app":     map[string]any{"name": "Game", "version": "2.0"},
		"consent": map[string]any{"personalized_ads": true, "location": true},
		"device": map[string]any{
			"ids":            map[string]any{"oaid": oaid, "imei": imei},
			"brand":          "Xiaomi",
			"model":          "13",
			"ip":             "198.51.100.23",
			"ua":             ua,
			"wifi_ssid":      "CafeNet",
			"language":       "zh-CN",
			"country":        "CN",
			"os_version":     "13",
			"battery":        50 + n,
			"installed_apps": []string{"com.example.e2e"},
			"geo":            map[string]any{"lat": 31.2304, "lon": 121.4737, "accuracy": 20},
		},
	}
}

// A verified request is never dropped silently: a portability endpoint
// that keeps failing exhausts the broker's retries, the event is
// dead-lettered, and the request goes to review with the privacy team
// told.
func TestFailingFulfilmentEscalates(t *testing.T) {
	const developer = "dev@tools.example"
	calls := 0
	var mu sync.Mutex
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer endpoint.Close()
	s := veiltest.Start(t, nil)
	var app struct {
		AppKey string `json:"app_key"`
	}
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "Tools", "platform": "android", "developer_email": developer, "discloses_sdk": true}), http.StatusCreated, &app)
	s.Must(s.Do("POST", "/v1/ad-requests", adRequest("0f0f0f0f-1111-4222-8333-444455556666", "864209039999999", "ua", 0), "X-Veil-App-Key", app.AppKey), http.StatusOK, nil)
	var req struct{ ID, Token string }
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": "portability", "deliver_to": endpoint.URL + "/import",
		"subject": map[string]any{"device": "device:oaid:0f0f0f0f-1111-4222-8333-444455556666"}}, "X-Veil-App-Key", app.AppKey), http.StatusAccepted, &req)
	escalation := s.WaitMail(s.Deps.Config.PrivacyTeam, req.ID, 60*time.Second)
	if !strings.Contains(escalation.Text, "503") {
		t.Errorf("the escalation does not say what failed:\n%s", escalation.Text)
	}
	var view struct {
		Status  string `json:"status"`
		History []struct {
			To, Actor, Reason string
		} `json:"history"`
	}
	s.Must(s.Do("GET", "/v1/requests/"+req.ID+"?token="+req.Token, nil), http.StatusOK, &view)
	last := view.History[len(view.History)-1]
	if view.Status != "needs_review" || !strings.Contains(last.Reason, "attempts") {
		t.Fatalf("request after the dead letter: %s, %+v", view.Status, last)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls < 2 {
		t.Errorf("the endpoint was tried %d times; the broker retries", calls)
	}
}
