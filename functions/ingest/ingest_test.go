package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"
)

type response struct {
	RequestID    string            `json:"request_id"`
	Personalized bool              `json:"personalized"`
	Kept         []string          `json:"kept"`
	Dropped      []privacy.Dropped `json:"dropped"`
}

func (r response) reason(field string) string {
	for _, d := range r.Dropped {
		if d.Field == field {
			return d.Reason
		}
	}
	if slices.Contains(r.Kept, field) {
		return "kept"
	}
	return ""
}

type problem struct {
	Code  string `json:"code"`
	Field string `json:"field"`
}

func register(t *testing.T, s *veiltest.Suite, body map[string]any) (id, key string) {
	t.Helper()
	in := map[string]any{"name": "Demo", "platform": "android", "developer_email": "dev@example.com", "discloses_sdk": true}
	for k, v := range body {
		in[k] = v
	}
	var out struct{ AppID, AppKey string }
	var raw map[string]string
	s.Must(s.Ops("POST", "/v1/apps", in), 201, &raw)
	out.AppID, out.AppKey = raw["app_id"], raw["app_key"]
	if out.AppID == "" || out.AppKey == "" {
		t.Fatalf("registration answered %v", raw)
	}
	return out.AppID, out.AppKey
}

// android is a realistic Android request with distinctive ids.
func android(oaid string, pers, loc bool) map[string]any {
	return map[string]any{
		"sdk":     map[string]any{"platform": "android", "version": "4.2.0"},
		"app":     map[string]any{"name": "Demo", "version": "1.0"},
		"user":    map[string]any{"age": 30},
		"consent": map[string]any{"personalized_ads": pers, "location": loc},
		"device": map[string]any{
			"ids":            map[string]any{"oaid": oaid, "android_id": "AID-" + oaid, "imei": "86" + oaid},
			"brand":          "Xiaomi",
			"model":          "2201123C",
			"device_name":    "Wang Fang's phone",
			"ip":             "203.0.113.77",
			"ua":             "Mozilla/5.0 (Linux; Android 14)",
			"wifi_ssid":      "Wang-Home-5G",
			"mac":            "02:00:5E:10:AB:CD",
			"screen":         map[string]any{"w": 1080, "h": 2400},
			"storage_total":  256000000000,
			"carrier":        "China Mobile",
			"network":        "wifi",
			"language":       "zh-CN",
			"timezone":       "Asia/Shanghai",
			"country":        "CN",
			"os_version":     "14",
			"installed_apps": []string{"com.tencent.mm", "com.eg.android.AlipayGphone"},
			"sensors":        []map[string]any{{"type": "accelerometer", "x": 0.1}},
			"geo":            map[string]any{"lat": 31.2304, "lon": 121.4737, "accuracy": 15},
			"imsi":           "460001234567890",
		},
	}
}

func ingestAs(s *veiltest.Suite, key string, body any) *veiltest.Response {
	s.T.Helper()
	return s.Do("POST", "/v1/ad-requests", body, ingest.HeaderAppKey, key)
}

func countRecords(t *testing.T, s *veiltest.Suite) int {
	t.Helper()
	n := 0
	err := s.Deps.DB.Records.Each(context.Background(), store.Query{}, func(*privacy.AdRecord) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAppRegistry(t *testing.T) {
	s := veiltest.Start(t, nil)
	base := map[string]any{"name": "Demo", "platform": "ios", "developer_email": "dev@example.com", "discloses_sdk": true}
	with := func(k string, v any) map[string]any {
		out := map[string]any{}
		for a, b := range base {
			out[a] = b
		}
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	if r := s.Do("POST", "/v1/apps", base); r.Status != 401 {
		t.Fatalf("registration without ops token: %d", r.Status)
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{with("discloses_sdk", false), "discloses_sdk"},
		{with("discloses_sdk", nil), "discloses_sdk"},
		{with("platform", "windows"), "platform"},
		{with("developer_email", "not an email"), "developer_email"},
		{with("name", ""), "name"},
		{with("push_webhook", "ftp://x"), "push_webhook"},
		{with("discloses_sdk", "yes"), "discloses_sdk"},
	} {
		var p problem
		s.Must(s.Ops("POST", "/v1/apps", c.body), 400, &p)
		if p.Field != c.field {
			t.Errorf("%v: problem names %q, want %q", c.body, p.Field, c.field)
		}
	}
	id, key := register(t, s, map[string]any{"child_directed": true, "push_webhook": "https://push.example.com/veil"})
	var list struct {
		Apps []map[string]any `json:"apps"`
	}
	r := s.Ops("GET", "/v1/apps", nil)
	s.Must(r, 200, &list)
	if len(list.Apps) != 1 || list.Apps[0]["app_id"] != id || list.Apps[0]["child_directed"] != true {
		t.Fatalf("apps = %v", list.Apps)
	}
	if bytes.Contains(r.Body, []byte(key)) || bytes.Contains(r.Body, []byte("key_hash")) {
		t.Fatal("the app list shows the key or its hash")
	}
	if r := ingestAs(s, key, android("rev1", true, true)); r.Status != 200 {
		t.Fatalf("ingest with a fresh key: %d %s", r.Status, r.Body)
	}
	s.Must(s.Ops("POST", "/v1/apps/"+id+"/revoke", nil), 200, nil)
	if r := ingestAs(s, key, android("rev1", true, true)); r.Status != 401 || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("ingest with a revoked key: %d %s", r.Status, r.Body)
	}
	s.Must(s.Ops("POST", "/v1/apps/app_nope/revoke", nil), 404, nil)
}

func TestIngestStoresMinimizedPseudonymizedRecord(t *testing.T) {
	probe := &veiltest.Probe{Types: []string{events.AdRequestReceived}}
	s := veiltest.Start(t, nil, suite.WithFunction(probe.Function))
	appID, key := register(t, s, nil)
	var out response
	s.Must(ingestAs(s, key, android("OAID-Alpha-7731", true, true)), 200, &out)
	if !out.Personalized {
		t.Fatalf("full consent, adult: %+v", out)
	}
	for _, f := range []string{"ids.oaid", "ids.android_id", "ids.imei", "mac", "installed_apps", "sensors", "geo", "ip", "app", "screen"} {
		if out.reason(f) != "kept" {
			t.Errorf("%s: %q", f, out.reason(f))
		}
	}
	if out.reason("imsi") != privacy.ReasonUndeclared {
		t.Errorf("imsi (not in the table): %q", out.reason("imsi"))
	}

	rec, err := s.Deps.DB.Records.Get(context.Background(), out.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	oaidSubject, _ := privacy.DeviceSubject("oaid", "OAID-Alpha-7731")
	if rec.SubjectKey != s.Deps.Keys.SubjectKey(oaidSubject) || rec.AppID != appID || rec.Region != "CN" {
		t.Errorf("record filed under %s app %s region %s", rec.SubjectKey, rec.AppID, rec.Region)
	}
	if string(rec.Fields["ip"]) != `"203.0.113.0/24"` {
		t.Errorf("ip stored as %s", rec.Fields["ip"])
	}
	for _, sealedOnly := range []string{"ids.oaid", "device_name", "wifi_ssid", "installed_apps", "geo", "mac"} {
		if _, plain := rec.Fields[sealedOnly]; plain {
			t.Errorf("%s stored in clear", sealedOnly)
		}
	}
	if rec.CoarseGeo == nil || rec.CoarseGeo.Lat != 31.2 || rec.CoarseGeo.Lon != 121.5 {
		t.Errorf("coarse geo = %+v", rec.CoarseGeo)
	}
	if rec.Retention != privacy.ClassAdRequests || rec.ExpiresAt.Sub(rec.ReceivedAt) != 180*24*time.Hour {
		t.Errorf("retention %q expires after %s", rec.Retention, rec.ExpiresAt.Sub(rec.ReceivedAt))
	}
	if !slices.Contains(rec.Purposes, privacy.PurposePersonalization) || !slices.Contains(rec.Purposes, privacy.PurposeFraud) {
		t.Errorf("purposes = %v", rec.Purposes)
	}
	plain, err := s.Deps.Keys.Open(context.Background(), rec.SubjectKey, rec.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	var sealed privacy.SealedFields
	if err := json.Unmarshal(plain, &sealed); err != nil {
		t.Fatal(err)
	}
	if string(sealed["ids.oaid"]) != `"OAID-Alpha-7731"` || string(sealed["device_name"]) != `"Wang Fang's phone"` {
		t.Errorf("sealed = %s", plain)
	}

	// Every id of the device leads to the same subject.
	for typ, id := range map[string]string{"android_id": "aid-oaid-alpha-7731", "imei": "86oaid-alpha-7731", "mac": "02005e10abcd"} {
		subj, err := privacy.DeviceSubject(typ, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ingest.ResolveSubjectKey(context.Background(), s.Deps.DB, s.Deps.Keys, subj)
		if err != nil || got != rec.SubjectKey {
			t.Errorf("%s resolves to %s, %v", typ, got, err)
		}
	}
	// A later request naming only the android_id joins the same subject.
	body := android("OAID-Alpha-7731", true, true)
	body["device"].(map[string]any)["ids"] = map[string]any{"android_id": "AID-OAID-Alpha-7731"}
	var second response
	s.Must(ingestAs(s, key, body), 200, &second)
	rec2, err := s.Deps.DB.Records.Get(context.Background(), second.RequestID)
	if err != nil || rec2.SubjectKey != rec.SubjectKey {
		t.Fatalf("second record under %s, %v", rec2.SubjectKey, err)
	}

	s.Idle(5 * time.Second)
	got := veiltest.Seen[events.AdRequestReceivedData](t, probe, events.AdRequestReceived, "")
	if len(got) != 2 {
		t.Fatalf("%d adrequest.received events", len(got))
	}
	i := slices.IndexFunc(got, func(e events.AdRequestReceivedData) bool { return e.RecordID == out.RequestID })
	if i < 0 {
		t.Fatalf("no event for record %s", out.RequestID)
	}
	e := got[i]
	if e.RecordID != out.RequestID || e.SubjectKey != rec.SubjectKey || e.Country != "CN" || e.OSVersion != "14" || !slices.Equal(e.Kept, out.Kept) {
		t.Errorf("event = %+v", e)
	}
}

func TestWithdrawalThroughTheAPIChangesTheNextIngest(t *testing.T) {
	s := veiltest.Start(t, nil)
	_, key := register(t, s, nil)
	var before, after, other response
	s.Must(ingestAs(s, key, android("W1thdraw-0001", true, true)), 200, &before)
	if !before.Personalized || before.reason("installed_apps") != "kept" || before.reason("geo") != "kept" {
		t.Fatalf("before: %+v", before)
	}
	// The user withdraws through the developer (app key), naming the
	// device by its android_id, not the id its records are filed under.
	s.Must(s.Do("PUT", "/v1/consents/device:android_id:AID-W1thdraw-0001",
		map[string]any{"purposes": map[string]bool{"personalized_ads": false}, "source": "app"},
		ingest.HeaderAppKey, key), 200, nil)
	s.Must(ingestAs(s, key, android("W1thdraw-0001", true, true)), 200, &after)
	if after.Personalized {
		t.Fatal("the request's personalized_ads=true overrode a recorded withdrawal")
	}
	for _, f := range []string{"installed_apps", "sensors", "geo"} {
		if after.reason(f) != privacy.ReasonWithdrawn {
			t.Errorf("after withdrawal %s: %q", f, after.reason(f))
		}
	}
	if after.reason("ids.oaid") != "kept" || after.reason("brand") != "kept" {
		t.Error("fraud and attribution data are still collected after a personalization withdrawal")
	}
	// Another device is not affected.
	s.Must(ingestAs(s, key, android("Other-0002", true, true)), 200, &other)
	if !other.Personalized {
		t.Fatal("a withdrawal leaked to another device")
	}
	// The SDK's true was not written to the registry as a grant.
	var check struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	s.Must(s.Ops("GET", "/v1/consents/device:oaid:Other-0002/check?purpose=personalized_ads", nil), 200, &check)
	if check.Allowed {
		t.Fatalf("an ad request's flag became a recorded grant: %+v", check)
	}
}

func TestChildDirectedAppNeedsRecordedGuardianConsent(t *testing.T) {
	s := veiltest.Start(t, nil)
	_, key := register(t, s, map[string]any{"child_directed": true})
	body := android("Child-0001", true, true)
	body["consent"].(map[string]any)["guardian"] = true // the SDK's claim alone is not enough
	var r1, r2 response
	s.Must(ingestAs(s, key, body), 200, &r1)
	if r1.Personalized || r1.reason("geo") != privacy.ReasonMinor || r1.reason("installed_apps") != privacy.ReasonMinor {
		t.Fatalf("child-directed without recorded guardian consent: %+v", r1)
	}
	s.Must(s.Ops("PUT", "/v1/consents/device:oaid:Child-0001", map[string]any{"guardian": true, "source": "ops"}), 200, nil)
	s.Must(ingestAs(s, key, body), 200, &r2)
	if !r2.Personalized || r2.reason("geo") != "kept" {
		t.Fatalf("with recorded guardian consent: %+v", r2)
	}
}

func TestStoredRecordsHoldNoRawDeviceID(t *testing.T) {
	s := veiltest.Start(t, nil)
	_, key := register(t, s, nil)
	secrets := []string{}
	for _, oaid := range []string{"Rawid-Needle-9F3A71", "Rawid-Needle-0B22C4"} {
		s.Must(ingestAs(s, key, android(oaid, true, true)), 200, nil)
		secrets = append(secrets, oaid, "AID-"+oaid, "86"+oaid)
	}
	ios := map[string]any{"sdk": map[string]any{"platform": "ios"}, "consent": map[string]any{"personalized_ads": true},
		"device": map[string]any{"ids": map[string]any{"idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"}}}
	s.Must(ingestAs(s, key, ios), 200, nil)
	secrets = append(secrets, "6D92078A-8246-4BA4-AE5B-76104861E7DC", "02:00:5E:10:AB:CD", "02005e10abcd",
		"Wang Fang's phone", "Wang-Home-5G", "203.0.113.77", "com.eg.android.AlipayGphone", "31.2304")
	s.Idle(5 * time.Second)
	// The whole database as it is on disk: main file and write-ahead log.
	files, _ := filepath.Glob(filepath.Join(s.Data, "veil.db*"))
	if len(files) == 0 {
		t.Skip("not on SQLite (VEIL_STORE)")
	}
	var disk []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	if countRecords(t, s) != 3 {
		t.Fatal("records not stored")
	}
	for _, secret := range secrets {
		for _, form := range []string{secret, strings.ToLower(secret), strings.ToUpper(secret)} {
			if bytes.Contains(disk, []byte(form)) {
				t.Errorf("%q is in veil.db in clear", form)
			}
		}
		if strings.Contains(s.Logs.String(), secret) {
			t.Errorf("%q is in the logs", secret)
		}
	}
}

func TestBadInput(t *testing.T) {
	s := veiltest.Start(t, nil)
	_, key := register(t, s, nil)
	withDevice := func(k string, v any) map[string]any {
		b := android("Bad-0001", true, true)
		b["device"].(map[string]any)[k] = v
		return b
	}
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"malformed JSON", `{"sdk":{"platform":"android"`, 400, ""},
		{"unknown platform", map[string]any{"sdk": map[string]any{"platform": "symbian"}}, 400, "sdk.platform"},
		{"no sdk", map[string]any{"device": map[string]any{}}, 400, "sdk.platform"},
		{"consent not a bool", map[string]any{"sdk": map[string]any{"platform": "ios"}, "consent": map[string]any{"location": "yes"}}, 400, "consent.location"},
		{"age not a number", map[string]any{"sdk": map[string]any{"platform": "ios"}, "user": map[string]any{"age": "ten"}}, 400, "user.age"},
		{"unknown envelope field", map[string]any{"sdk": map[string]any{"platform": "ios"}, "extra": 1}, 400, "extra"},
		{"screen width not a number", withDevice("screen", map[string]any{"w": "wide", "h": 1}), 400, "device.screen.w"},
		{"storage not whole", withDevice("storage_free", 1.5), 400, "device.storage_free"},
		{"bad ip", withDevice("ip", "999.1.1.1"), 400, "device.ip"},
		{"latitude out of range", withDevice("geo", map[string]any{"lat": 95, "lon": 1}), 400, "device.geo.lat"},
		{"too large", withDevice("ua", strings.Repeat("x", ingest.MaxBody)), 413, ""},
	}
	for _, c := range cases {
		r := ingestAs(s, key, c.body)
		var p problem
		if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
			continue
		}
		r.Decode(t, &p)
		if p.Field != c.field {
			t.Errorf("%s: problem names %q, want %q", c.name, p.Field, c.field)
		}
	}
	if n := countRecords(t, s); n != 0 {
		t.Fatalf("%d records stored from refused requests", n)
	}
	var devices int
	_ = s.Deps.DB.Devices.Each(context.Background(), store.Query{}, func(*privacy.DeviceLink) error { devices++; return nil })
	if devices != 0 {
		t.Fatalf("%d device links stored from refused requests", devices)
	}
}

func TestAppKeyIsRequired(t *testing.T) {
	s := veiltest.Start(t, nil)
	body := android("Auth-0001", true, true)
	for name, headers := range map[string][]string{
		"no key":      nil,
		"unknown key": {ingest.HeaderAppKey, "vk_unknown"},
		"ops token":   {"Authorization", "Bearer " + veiltest.OpsToken},
	} {
		r := s.Do("POST", "/v1/ad-requests", body, headers...)
		var p problem
		if r.Status != 401 {
			t.Errorf("%s: %d", name, r.Status)
			continue
		}
		r.Decode(t, &p)
		if p.Code != privacy.EUNAUTHORIZED {
			t.Errorf("%s: code %q", name, p.Code)
		}
	}
}

func TestResidencyFailsClosed(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_STORE_LOCATION": "us-east-1", "VEIL_ALLOW_CROSS_BORDER": "true"})
	if s.Deps.DB.Backend.Location() != "us-east-1" {
		t.Skip("the store backend does not take VEIL_STORE_LOCATION")
	}
	_, key := register(t, s, nil)
	r := ingestAs(s, key, android("Abroad-0001", true, true))
	var p problem
	if r.Status != 422 {
		t.Fatalf("CN data to a US store: %d %s", r.Status, r.Body)
	}
	r.Decode(t, &p)
	if p.Code != privacy.ERESIDENCY || countRecords(t, s) != 0 {
		t.Fatalf("code %q, %d records", p.Code, countRecords(t, s))
	}
	if has, _ := s.Deps.Keys.Has(context.Background(), s.Deps.Keys.SubjectKey(privacy.Subject{Kind: "device", IDType: "oaid", Value: "abroad-0001"})); has {
		t.Error("a data key was created for a refused request")
	}
	// Data from elsewhere is not CN data.
	us := android("Abroad-0002", true, true)
	us["device"].(map[string]any)["country"] = "US"
	s.Must(ingestAs(s, key, us), 200, nil)
	// Recorded cross-border consent allows the transfer.
	s.Must(s.Ops("PUT", "/v1/consents/device:oaid:Abroad-0001", map[string]any{"purposes": map[string]bool{"cross_border": true}}), 200, nil)
	s.Must(ingestAs(s, key, android("Abroad-0001", true, true)), 200, nil)
}

func TestConfiguredRetentionSetsExpiry(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_RETENTION_AD_REQUESTS": "30d"})
	_, key := register(t, s, nil)
	var out response
	s.Must(ingestAs(s, key, android("Retention-0001", true, true)), 200, &out)
	rec, err := s.Deps.DB.Records.Get(context.Background(), out.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ExpiresAt.Sub(rec.ReceivedAt) != 30*24*time.Hour {
		t.Fatalf("expires %s after receipt with VEIL_RETENTION_AD_REQUESTS=30d", rec.ExpiresAt.Sub(rec.ReceivedAt))
	}
}

// A device's records get ids in the order they arrive (privacy.NewRecordID),
// so they sit together in every index of the store and a deletion walks
// them page by page; random ids made a 100,000-record deletion three times
// slower (docs/performance.md).
func TestRecordIDsFollowArrival(t *testing.T) {
	s := veiltest.Start(t, nil)
	_, key := register(t, s, nil)
	prev := ""
	for i := 0; i < 20; i++ {
		var out response
		s.Must(ingestAs(s, key, android("Ordered-0001", true, true)), 200, &out)
		if out.RequestID <= prev {
			t.Fatalf("request %d got id %s, which sorts before the previous one, %s", i, out.RequestID, prev)
		}
		prev = out.RequestID
	}
}
