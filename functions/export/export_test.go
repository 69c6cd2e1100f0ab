package export

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/consent"
	"github.com/veil-privacy/veil/functions/erasure/fulfil/fulfiltest"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

const (
	oaid = "a1b2c3d4-0000-4000-8000-00000000e5f6"
	imei = "861234567890123"
)

// bed is a test bed with the export function.
func bed(t testing.TB, env map[string]string) (*fulfiltest.Env, *exporter, *functions.Function) {
	var x *exporter
	// Requests imports export, so the bed files requests the way requests
	// does (fulfiltest.AttestedRequest) rather than through its route.
	e, fns := fulfiltest.New(t, fulfiltest.Options{Env: env}, ingest.New, consent.New, func(ctx context.Context, d functions.Deps) (*functions.Function, error) {
		var err error
		if x, err = newExporter(d); err != nil {
			return nil, err
		}
		return x.function(), nil
	})
	return e, x, fns[2]
}

// device makes an app and n ad records for one device, with a consent
// decision on record, and returns the app's id.
func device(e *fulfiltest.Env, n int) string {
	appID, key := e.App("Demo", "dev@example.com")
	for i := 0; i < n; i++ {
		e.Ingest(key, fulfiltest.AdRequest(oaid, imei, i))
		e.Now = e.Now.Add(time.Minute)
	}
	e.Must(http.StatusOK, nil, "PUT", "/v1/consents/device:oaid:"+oaid,
		map[string]any{"purposes": map[string]bool{"location": false}, "source": "app"}, "X-Veil-App-Key", key)
	return appID
}

// download fetches a link through the route, as the person clicking it.
func download(e *fulfiltest.Env, link string) (int, []byte) {
	u, err := url.Parse(link)
	if err != nil {
		e.T.Fatal(err)
	}
	return e.Do("GET", u.RequestURI(), nil)
}

func unzip(t testing.TB, raw []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		// Reading to the end checks the entry's CRC and sizes.
		if out[f.Name], err = io.ReadAll(rc); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		rc.Close()
	}
	return out
}

func TestCopyOfADevice(t *testing.T) {
	e, x, f := bed(t, nil)
	x.partSize = 2 // three records: two parts
	app := device(e, 3)
	id := e.AttestedRequest(app, "copy", "device:oaid:"+oaid, nil).ID
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}
	r := e.Request(id)
	var path []privacy.Status
	for _, h := range r.History {
		path = append(path, h.To)
	}
	if r.Status != privacy.StatusCompleted || r.DownloadURL == "" ||
		!slices.Equal(path, []privacy.Status{privacy.StatusVerified, privacy.StatusInProgress, privacy.StatusCompleted}) ||
		r.History[2].Actor != "system" || !strings.Contains(r.Result, "3 ad records") {
		t.Fatalf("request after export: %s %v %q %q", r.Status, path, r.Result, r.DownloadURL)
	}
	mails := e.Notifications("export_ready")
	if len(mails) != 1 || mails[0].To != "dev@example.com" || mails[0].Vars["link"] != r.DownloadURL || mails[0].Vars["records"] != "3" {
		t.Fatalf("export_ready notifications: %+v", mails)
	}
	changed := 0
	for _, ev := range e.Queued(events.RequestChanged) {
		if ev.Subject() == id {
			changed++
		}
	}
	if changed != 2 { // in_progress, completed (requests announced verified)
		t.Errorf("%d request.changed events, want 2", changed)
	}

	code, raw := download(e, r.DownloadURL)
	if code != http.StatusOK {
		t.Fatalf("download: %d %s", code, raw)
	}
	files := unzip(t, raw)
	for _, name := range []string{"summary.txt", "ad_records/part-00001.jsonl", "ad_records/part-00001.csv", "ad_records/part-00002.jsonl",
		"ad_records/part-00002.csv", "consents.json", "consents.csv", "requests.json", "requests.csv", "device_ids.json"} {
		if _, ok := files[name]; !ok {
			t.Errorf("bundle lacks %s (has %v)", name, keysOf(files))
		}
	}
	// Every record, with its sealed fields opened.
	var recs []privacy.ExportedRecord
	for _, part := range []string{"ad_records/part-00001.jsonl", "ad_records/part-00002.jsonl"} {
		sc := bufio.NewScanner(bytes.NewReader(files[part]))
		for sc.Scan() {
			var rec privacy.ExportedRecord
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, rec)
		}
	}
	if len(recs) != 3 {
		t.Fatalf("%d records in the bundle, want 3", len(recs))
	}
	for _, rec := range recs {
		for path, want := range map[string]string{"ids.oaid": `"` + oaid + `"`, "ids.imei": `"` + imei + `"`, "wifi_ssid": `"HomeNet-5G"`,
			"device_name": `"Wang's phone"`, "brand": `"Huawei"`, "ip": `"203.0.113.0/24"`} {
			if got := string(rec.Fields[path]); got != want {
				t.Errorf("record %s: %s = %s, want %s", rec.ID, path, got, want)
			}
		}
		if !strings.Contains(string(rec.Fields["geo"]), "39.9042") {
			t.Errorf("record %s: precise geo not opened: %s", rec.ID, rec.Fields["geo"])
		}
	}
	// CSV columns follow the policy's table; a spreadsheet reads the BOM.
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(files["ad_records/part-00001.csv"], []byte("\uFEFF")))).ReadAll()
	if err != nil || len(rows) != 3 || !slices.Equal(rows[0], privacy.RecordColumns()) {
		t.Fatalf("csv: %v %v", err, rows)
	}
	if col := slices.Index(rows[0], "ids.oaid"); rows[1][col] != oaid {
		t.Errorf("csv oaid column: %q", rows[1][col])
	}
	if !strings.Contains(string(files["consents.json"]), `"location": false`) || !strings.Contains(string(files["requests.json"]), id) {
		t.Errorf("consents or requests missing:\n%s\n%s", files["consents.json"], files["requests.json"])
	}
	sum := string(files["summary.txt"])
	for _, want := range []string{"广告请求记录", "3 条", "ad requests", "精确地理位置", "privacy@veil.example", id} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	for _, raw := range [][]byte{files["requests.json"], files["consents.json"]} {
		if bytes.Contains(raw, []byte(r.SubjectKey)) || bytes.Contains(raw, []byte("token_hash")) {
			t.Error("the bundle carries internal keys or token hashes")
		}
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestDownloadLinks(t *testing.T) {
	e, _, f := bed(t, nil)
	app := device(e, 1)
	id := e.AttestedRequest(app, "access", "device:oaid:"+oaid, nil).ID
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}
	link := e.Request(id).DownloadURL
	u, _ := url.Parse(link)
	q := u.Query()
	tampered := *u
	q2 := url.Values{"expires": {q.Get("expires")}, "sig": {strings.Repeat("0", 64)}}
	tampered.RawQuery = q2.Encode()
	other := *u
	other.Path = strings.Replace(u.Path, "exports/", "exports/x", 1)
	cases := []struct {
		name string
		link string
		code int
	}{
		{"valid", link, http.StatusOK},
		{"bad signature", tampered.String(), http.StatusNotFound},
		{"other key", other.String(), http.StatusNotFound},
		{"outside exports", "http://veil.test/v1/downloads/blobs/x.zip?" + q.Encode(), http.StatusNotFound},
	}
	for _, c := range cases {
		if code, body := download(e, c.link); code != c.code {
			t.Errorf("%s: %d, want %d: %s", c.name, code, c.code, body)
		}
	}
	// The link expires with the TTL; the tick then deletes the bundle and
	// the link on the request.
	e.Now = e.Now.Add(e.D.Config.ExportTTL + time.Minute)
	if code, _ := download(e, link); code != http.StatusGone {
		t.Errorf("expired link: %d, want 410", code)
	}
	tick := fulfiltest.Event(events.ScheduleTicked, "", events.ScheduleTickedData{Job: "retention"})
	if err := f.Events[events.ScheduleTicked](e.Ctx, tick); err != nil {
		t.Fatal(err)
	}
	if r := e.Request(id); r.DownloadURL != "" {
		t.Errorf("expired link still on the request: %s", r.DownloadURL)
	}
	bs, err := e.D.DB.Backend.Query(e.Ctx, "export_bundles", storeAll())
	if err != nil || len(bs) != 0 {
		t.Errorf("bundles after expiry: %d %v", len(bs), err)
	}
	if _, err := e.D.Blobs.Open(e.Ctx, strings.TrimPrefix(u.Path, "/v1/downloads/")); !privacy.IsNotFound(err) {
		t.Errorf("blob after expiry: %v", err)
	}
}

func TestOnlyVerifiedExportRequestsAreFulfilled(t *testing.T) {
	e, _, f := bed(t, nil)
	app := device(e, 1)
	del := e.AttestedRequest(app, "delete", "device:oaid:"+oaid, nil).ID
	cp := e.AttestedRequest(app, "copy", "device:oaid:"+oaid, nil).ID
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}
	if r := e.Request(del); r.Status != privacy.StatusVerified {
		t.Errorf("export touched a delete request: %s", r.Status)
	}
	if r := e.Request(cp); r.Status != privacy.StatusCompleted {
		t.Fatalf("copy request: %s", r.Status)
	}
	// The same event again (a redelivery the router did not catch): the
	// request is completed, nothing more happens.
	before := len(e.Queued(""))
	for _, ev := range e.Queued(events.RequestVerified) {
		if err := f.Events[events.RequestVerified](e.Ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if after := len(e.Queued("")); after != before {
		t.Errorf("a redelivered event published %d more events", after-before)
	}
	if n := len(e.Notifications("export_ready")); n != 1 {
		t.Errorf("%d export_ready mails", n)
	}
}

func TestPortability(t *testing.T) {
	var got []byte
	var status = http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/zip" || r.Header.Get("Idempotency-Key") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer tls.Close()
	cases := []struct {
		name       string
		production bool
		endpoint   string
		answer     int
		wantErr    bool
		status     privacy.Status
		delivered  bool
	}{
		{"dev: loopback http", false, srv.URL + "/import", http.StatusOK, false, privacy.StatusCompleted, true},
		{"endpoint fails: retried", false, srv.URL + "/import", http.StatusServiceUnavailable, true, privacy.StatusInProgress, false},
		{"production: loopback refused at dial", true, tls.URL + "/import", http.StatusOK, false, privacy.StatusNeedsReview, false},
		{"production: plain http refused", true, "http://example.com/import", http.StatusOK, false, privacy.StatusNeedsReview, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			e, x, f := bed(t, env)
			x.d.Config.Production = c.production
			x.run.D.Config.Production = c.production
			x.client = newClient(c.production)
			app := device(e, 2)
			// Filed as given: production refuses plain http and private
			// addresses at intake too; the checks here are the last line.
			id := e.AttestedRequest(app, "portability", "device:oaid:"+oaid, func(r *privacy.Request) { r.DeliverTo = c.endpoint }).ID
			got, status = nil, c.answer
			err := e.Deliver(f, events.RequestVerified)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v", err, c.wantErr)
			}
			r := e.Request(id)
			if r.Status != c.status {
				t.Fatalf("status %s, want %s (%s)", r.Status, c.status, r.Result)
			}
			if c.delivered {
				files := unzip(t, got)
				if _, ok := files["summary.txt"]; !ok {
					t.Fatalf("the endpoint got no bundle: %d bytes", len(got))
				}
				if n := e.Notifications("portability_done"); len(n) != 1 || n[0].Vars["destination"] == "" {
					t.Errorf("portability_done: %+v", n)
				}
				if r.DownloadURL != "" {
					t.Error("a portability request got a download link")
				}
			} else if c.production && len(got) > 0 {
				t.Error("production sent a bundle to a refused endpoint")
			}
		})
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "2606:4700:4700::1111": true, "101.6.6.6": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "0.0.0.0": false, "::": false,
		"224.0.0.1": false, "ff02::1": false, "100.64.1.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"64:ff9b::a00:1": false, "2002:a00:1::": false, "198.18.0.1": false, "240.0.0.1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != public {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, public)
		}
	}
}

func TestCheckEndpoint(t *testing.T) {
	cases := []struct {
		raw        string
		production bool
		ok         bool
	}{
		{"https://import.example.com/v1", true, true},
		{"http://import.example.com/v1", true, false},
		{"http://127.0.0.1:8080/x", false, true},
		{"https://user:pw@example.com/", false, false},
		{"ftp://example.com/", false, false},
		{"/relative", false, false},
	}
	for _, c := range cases {
		if _, err := CheckEndpoint(c.raw, c.production); (err == nil) != c.ok {
			t.Errorf("CheckEndpoint(%q, %v): %v", c.raw, c.production, err)
		}
	}
}

func TestDeadLetteredFulfilmentGoesToReview(t *testing.T) {
	e, x, f := bed(t, nil)
	app := device(e, 1)
	id := e.AttestedRequest(app, "copy", "device:oaid:"+oaid, nil).ID
	ev := e.Queued(events.RequestVerified)[0]
	// The handler began and failed (the blob store was down, say) until
	// the broker gave up.
	if err := x.run.Begin(e.Ctx, ev.ID(), id); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		data  events.DeadLetterData
		to    privacy.Status
		mails int
	}{
		{"someone else's dead letter", events.DeadLetterData{EventID: ev.ID(), Type: events.RequestVerified, Subscriber: "erasure", Attempts: 6}, privacy.StatusVerified, 0},
		{"ours", events.DeadLetterData{EventID: ev.ID(), Type: events.RequestVerified, Subscriber: Name, Attempts: 6, Error: "blob store unavailable"}, privacy.StatusNeedsReview, 1},
		{"ours without a trace", events.DeadLetterData{EventID: "unknown-event", Type: events.RequestVerified, Subscriber: Name, Attempts: 6}, privacy.StatusNeedsReview, 2},
	}
	for _, c := range cases {
		if err := f.Events[events.EventDeadLettered](e.Ctx, fulfiltest.Event(events.EventDeadLettered, c.data.EventID, c.data)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r := e.Request(id)
		mails := e.Notifications("fulfilment_failed")
		if r.Status != c.to || len(mails) != c.mails {
			t.Fatalf("%s: status %s, %d mails", c.name, r.Status, len(mails))
		}
		if c.mails > 0 && mails[len(mails)-1].To != e.D.Config.PrivacyTeam {
			t.Errorf("%s: escalation to %s", c.name, mails[len(mails)-1].To)
		}
	}
	if r := e.Request(id); !strings.Contains(r.History[len(r.History)-1].Reason, "blob store unavailable") {
		t.Errorf("review reason: %q", r.History[len(r.History)-1].Reason)
	}
}

func storeAll() store.Query { return store.Query{Limit: store.MaxLimit} }

// The hand-written JSON line is the document json.Marshal gives.
func TestAppendRecordMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 123456789, time.UTC)
	cases := []privacy.ExportedRecord{
		{ID: "r1", ReceivedAt: at, ExpiresAt: at.Add(time.Hour), AppID: "app_1", Platform: privacy.Android, Region: "CN",
			Personalized: true, Purposes: []privacy.Purpose{privacy.PurposeFraud, privacy.PurposePersonalization}, Retention: "ad_requests",
			Fields: map[string]json.RawMessage{"geo": json.RawMessage(`{"lat":1.5,"lon":2}`), "brand": json.RawMessage(`"华为"`),
				"ids.oaid": json.RawMessage(`"o-1"`), "zz.unknown": json.RawMessage(`[1,2]`)},
			CoarseGeo: &privacy.GeoPoint{Lat: 39.9, Lon: -116.4}},
		{ID: `id "quoted" <&>`, ReceivedAt: at, ExpiresAt: at, Isolated: "legal hold h1: 法院 \n order", Fields: map[string]json.RawMessage{}},
	}
	for _, c := range cases {
		line := appendRecord(nil, &c)
		if line[len(line)-1] != '\n' {
			t.Fatal("no newline")
		}
		want, _ := json.Marshal(c)
		var a, b any
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		_ = json.Unmarshal(want, &b)
		ga, _ := json.Marshal(a)
		gb, _ := json.Marshal(b)
		if !bytes.Equal(ga, gb) {
			t.Errorf("appendRecord:\n%s\njson.Marshal:\n%s", ga, gb)
		}
	}
}

// An account holder's copy holds the profile and the apps registered with
// the account's address (without their key hashes), and goes to the
// account's own address.
func TestCopyOfAnAccount(t *testing.T) {
	e, x, f := bed(t, nil)
	const email = "li.wei@advertiser.example"
	adsID, _ := e.App("Ads", email)
	e.App("Other", "someone@else.example")
	ads, err := e.D.DB.Apps.Get(e.Ctx, adsID)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := privacy.AccountSubject(email)
	if err := x.repos.Profiles.Put(e.Ctx, &privacy.Profile{SubjectKey: e.D.Keys.SubjectKey(s), Fields: map[string]string{"phone": "+86 138 0000 0000", "company": "=cmd|calc"}}); err != nil {
		t.Fatal(err)
	}
	r := e.AccountRequest(email, "access", nil)
	if err := e.Deliver(f, events.RequestVerified); err != nil {
		t.Fatal(err)
	}
	mails := e.Notifications("export_ready")
	if len(mails) != 1 || mails[0].To != email {
		t.Fatalf("export_ready: %+v", mails)
	}
	code, raw := download(e, e.Request(r.ID).DownloadURL)
	if code != http.StatusOK {
		t.Fatalf("download: %d", code)
	}
	files := unzip(t, raw)
	apps := string(files["apps.json"])
	if !strings.Contains(apps, `"Ads"`) || strings.Contains(apps, "Other") || strings.Contains(apps, ads.KeyHash) {
		t.Errorf("apps.json:\n%s", apps)
	}
	if !strings.Contains(string(files["profile.json"]), "+86 138 0000 0000") {
		t.Errorf("profile.json:\n%s", files["profile.json"])
	}
	if !strings.Contains(string(files["profile.csv"]), "'=cmd|calc") {
		t.Errorf("a formula in the CSV was not neutralised:\n%s", files["profile.csv"])
	}
	if _, ok := files["ad_records/part-00001.jsonl"]; ok {
		t.Error("an account has no ad records")
	}
}
