package partners_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/functions/partners"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"

	"github.com/veil-privacy/veil/tests/testclock"
)

type env struct {
	*veiltest.Suite
	clock  *testclock.Offset
	probe  *veiltest.Probe
	appKey string
	appID  string
}

func start(t *testing.T) *env {
	t.Helper()
	c, p := &testclock.Offset{}, &veiltest.Probe{Types: []string{events.ErasureAcknowledged}}
	s := veiltest.Start(t, nil, suite.WithClock(c.Now), suite.WithFunction(p.Function))
	var app map[string]string
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "Demo", "platform": "android",
		"developer_email": "dev@example.com", "discloses_sdk": true}), 201, &app)
	return &env{Suite: s, clock: c, probe: p, appKey: app["app_key"], appID: app["app_id"]}
}

// acks are the erasure acknowledgements published so far.
func (e *env) acks() []events.ErasureData {
	return veiltest.Seen[events.ErasureData](e.T, e.probe, events.ErasureAcknowledged, "")
}

// device is a realistic Android ad request whose ids all contain oaid.
func device(oaid string) map[string]any {
	return map[string]any{
		"sdk":     map[string]any{"platform": "android", "version": "4.2.0"},
		"app":     map[string]any{"name": "Demo", "version": "1.0"},
		"user":    map[string]any{"age": 30},
		"consent": map[string]any{"personalized_ads": true, "location": true},
		"device": map[string]any{
			"ids":            map[string]any{"oaid": oaid, "android_id": "AID-" + oaid, "imei": "86" + oaid},
			"brand":          "Xiaomi",
			"model":          "2201123C",
			"device_name":    "Wang Fang's phone",
			"ip":             "203.0.113.77",
			"ua":             "Mozilla/5.0 (Linux; Android 14)",
			"wifi_ssid":      "Wang-Home-5G",
			"mac":            mac(oaid),
			"screen":         map[string]any{"w": 1080, "h": 2400},
			"storage_total":  256000000000,
			"boot_time":      1764300000,
			"carrier":        "China Mobile",
			"language":       "zh-CN",
			"country":        "CN",
			"os_version":     "14",
			"installed_apps": []string{"com.tencent.mm"},
			"sensors":        []map[string]any{{"type": "accelerometer", "x": 0.1}},
			"geo":            map[string]any{"lat": 31.2304, "lon": 121.4737, "accuracy": 15},
		},
	}
}

// mac is a MAC address of the device's own: devices sharing one would be
// linked by ingest as one subject.
func mac(oaid string) string {
	sum := sha256.Sum256([]byte(oaid))
	return "02:00:" + strings.ToUpper(hex.EncodeToString(sum[:1])+":"+hex.EncodeToString(sum[1:2])+":"+hex.EncodeToString(sum[2:3])+":"+hex.EncodeToString(sum[3:4]))
}

// secrets are the raw values of device(oaid) no partner may ever see.
func secrets(oaid string) []string {
	return []string{oaid, "AID-" + oaid, "86" + oaid, strings.ToLower(oaid), "Wang Fang", "Wang-Home-5G", mac(oaid),
		strings.ToLower(strings.ReplaceAll(mac(oaid), ":", "")), "203.0.113.77", "31.2304", "121.4737", "com.tencent.mm", "1764300000", "256000000000"}
}

func (e *env) ingest(oaid string, n int) {
	e.T.Helper()
	for range n {
		e.Must(e.Do("POST", "/v1/ad-requests", device(oaid), ingest.HeaderAppKey, e.appKey), 200, nil)
	}
}

type partner struct {
	ID, Token, Secret string
}

func (e *env) partner(name, location string, purposes []string, webhook string) partner {
	e.T.Helper()
	body := map[string]any{"name": name, "purposes": purposes, "location": location}
	if webhook != "" {
		body["delivery"] = map[string]any{"webhook": webhook}
	}
	var out partners.Registered
	e.Must(e.Ops("POST", "/v1/partners", body), 201, &out)
	if out.PartnerID == "" || !strings.HasPrefix(out.PullToken, "vpt_") {
		e.T.Fatalf("registration answered %+v", out)
	}
	return partner{out.PartnerID, out.PullToken, out.WebhookSecret}
}

// pull reads the whole feed the partner has not seen yet and returns the
// items and the raw bodies.
func (e *env) pull(p partner) ([]partners.Item, string) {
	e.T.Helper()
	var items []partners.Item
	var raw strings.Builder
	cursor := ""
	for range 20 {
		r := e.Do("GET", "/v1/partners/feed?limit=7&cursor="+cursor, nil, "Authorization", "Bearer "+p.Token)
		var page partners.Page
		e.Must(r, 200, &page)
		raw.Write(r.Body)
		items = append(items, page.Items...)
		cursor = page.NextCursor
		if !page.More {
			return items, raw.String()
		}
	}
	e.T.Fatal("feed never ended")
	return nil, ""
}

func (e *env) subjectKey(oaid string) string {
	s, err := privacy.DeviceSubject("oaid", oaid)
	if err != nil {
		e.T.Fatal(err)
	}
	return e.Deps.Keys.SubjectKey(s)
}

func pseudonyms(items []partners.Item) map[string]int {
	out := map[string]int{}
	for _, it := range items {
		out[it.Pseudonym]++
	}
	return out
}

func TestFeedIsDeidentifiedAndPerPartner(t *testing.T) {
	e := start(t)
	fraud := e.partner("Anti-fraud Co", "cn-shanghai", []string{"fraud", "attribution"}, "")
	creative := e.partner("Creative Co", "cn-beijing", []string{"creative"}, "")
	e.ingest("Needle-Oaid-4411", 2)
	e.ingest("Other-Oaid-9000", 1)
	if items, _ := e.pull(fraud); len(items) != 0 {
		t.Fatalf("records younger than the settling time were served: %d", len(items))
	}
	e.clock.Add(time.Minute)

	items, raw := e.pull(fraud)
	if len(items) != 3 {
		t.Fatalf("fraud partner got %d items, want 3", len(items))
	}
	for _, s := range append(secrets("Needle-Oaid-4411"), e.subjectKey("Needle-Oaid-4411")) {
		if strings.Contains(raw, s) {
			t.Errorf("the feed contains %q", s)
		}
	}
	var recs []*privacy.AdRecord
	recs, err := e.Deps.DB.Records.Find(context.Background(), store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(raw, r.ID) {
			t.Errorf("the feed contains record id %s, which two partners could join on", r.ID)
		}
	}
	x := e.Deps.Keys.Pseudonym(fraud.ID, e.subjectKey("Needle-Oaid-4411"))
	if n := pseudonyms(items)[x]; n != 2 {
		t.Errorf("device has %d items under its pseudonym, want 2", n)
	}
	it := items[0]
	for _, f := range []string{"ip", "brand", "model", "ua", "carrier", "sensors", "app"} {
		if _, ok := it.Fields[f]; !ok {
			t.Errorf("fraud/attribution partner did not get %s", f)
		}
	}
	for _, f := range []string{"screen", "language", "os_version", "boot_time", "storage_total", "device_name", "installed_apps", "ids.oaid"} {
		if _, ok := it.Fields[f]; ok {
			t.Errorf("fraud/attribution partner got %s", f)
		}
	}
	if string(it.Fields["ip"]) != `"203.0.113.0/24"` || it.Geo == nil || it.Geo.Lat != 31.2 || it.Geo.Lon != 121.5 {
		t.Errorf("ip %s, geo %+v: want truncated and coarse", it.Fields["ip"], it.Geo)
	}
	if !it.Hour.Equal(it.Hour.Truncate(time.Hour)) {
		t.Errorf("time %s is finer than the hour", it.Hour)
	}

	citems, _ := e.pull(creative)
	if len(citems) != 3 {
		t.Fatalf("creative partner got %d items", len(citems))
	}
	for _, it := range citems {
		if _, ok := it.Fields["screen"]; !ok || len(it.Fields) != 1 || it.Geo != nil {
			t.Errorf("creative partner got %v, geo %v; want the screen only", it.Fields, it.Geo)
		}
		if pseudonyms(items)[it.Pseudonym] != 0 {
			t.Errorf("pseudonym %s is the same at two partners", it.Pseudonym)
		}
	}
	if len(pseudonyms(citems)) != 2 {
		t.Errorf("creative partner sees %d subjects, want 2", len(pseudonyms(citems)))
	}
	// A cursor is sealed to its partner.
	_, next := e.pullOnce(fraud, "")
	if r := e.Do("GET", "/v1/partners/feed?cursor="+next, nil, "Authorization", "Bearer "+creative.Token); r.Status != 400 {
		t.Errorf("another partner's cursor: %d", r.Status)
	}

	// The disclosure log has one record per partner and subject.
	ds, err := e.Deps.DB.Disclosures.Find(context.Background(), store.Query{
		Filters: []store.Filter{store.Where("subject", store.EQ, e.subjectKey("Needle-Oaid-4411"))}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*privacy.Disclosure{}
	for _, d := range ds {
		got[d.Recipient] = d
	}
	if len(got) != 2 || got[fraud.ID] == nil || got[creative.ID] == nil {
		t.Fatalf("disclosures %+v", ds)
	}
	if d := got[fraud.ID]; d.Count < 2 || d.Pseudonym != x || !contains(d.Categories, privacy.CatLocation) || !contains(d.Categories, privacy.CatDeviceID) {
		t.Errorf("fraud partner's disclosure %+v", d)
	}
	if d := got[creative.ID]; contains(d.Categories, privacy.CatLocation) || !contains(d.Categories, privacy.CatDeviceInfo) {
		t.Errorf("creative partner's disclosure %+v", d)
	}
}

func (e *env) pullOnce(p partner, cursor string) (partners.Page, string) {
	e.T.Helper()
	var page partners.Page
	e.Must(e.Do("GET", "/v1/partners/feed?cursor="+cursor, nil, "Authorization", "Bearer "+p.Token), 200, &page)
	return page, page.NextCursor
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestWithdrawalStopsSharingAndReachesExactlyTheRecipients(t *testing.T) {
	e := start(t)
	hook := newWebhook(t)
	early := e.partner("Early", "cn-shanghai", []string{"fraud"}, hook.URL())
	pullEarly := e.partner("Puller", "cn-shanghai", []string{"attribution"}, "")
	e.ingest("Quitter-Oaid-1", 2)
	e.clock.Add(time.Minute)
	e.pull(early)
	e.pull(pullEarly)
	// Registered after the quitter's records: receives none of them.
	late := e.partner("Late", "cn-shanghai", []string{"fraud"}, "")

	// The withdrawal is recorded under another id of the same device.
	e.Must(e.Ops("PUT", "/v1/consents/device:android_id:AID-Quitter-Oaid-1", map[string]any{
		"purposes": map[string]bool{"partner_sharing": false}, "source": "api"}), 200, nil)
	e.Idle(5 * time.Second)
	e.ingest("Quitter-Oaid-1", 1)
	e.ingest("Stayer-Oaid-2", 1)
	e.clock.Add(time.Minute)

	quitter := e.subjectKey("Quitter-Oaid-1")
	for _, p := range []partner{early, pullEarly, late} {
		items, _ := e.pull(p)
		if n := pseudonyms(items)[e.Deps.Keys.Pseudonym(p.ID, quitter)]; n != 0 {
			t.Errorf("%s got %d items of a subject who withdrew", p.ID, n)
		}
		if len(items) != 1 {
			t.Errorf("%s got %d items after the withdrawal, want the other device's 1", p.ID, len(items))
		}
	}

	// Exactly the two partners that received the data are asked to
	// delete it: the webhook partner by push, the other by pull.
	pushed := hook.wait(t, 1)
	if pushed[0].Erasure.Pseudonym != e.Deps.Keys.Pseudonym(early.ID, quitter) || pushed[0].Erasure.Reason != partners.ReasonWithdrawn {
		t.Errorf("pushed %+v", pushed[0])
	}
	if !pushed[0].SignatureOK(early.Secret) {
		t.Error("the push is not signed with the partner's webhook secret")
	}
	pending := func(p partner) []partners.Notice {
		var out struct{ Erasures []partners.Notice }
		e.Must(e.Do("GET", "/v1/partners/erasures", nil, "Authorization", "Bearer "+p.Token), 200, &out)
		return out.Erasures
	}
	if n := pending(late); len(n) != 0 {
		t.Errorf("a partner that never received the subject is asked to erase: %+v", n)
	}
	got := pending(pullEarly)
	if len(got) != 1 || got[0].Pseudonym != e.Deps.Keys.Pseudonym(pullEarly.ID, quitter) {
		t.Fatalf("puller's erasures %+v", got)
	}
	if len(pending(early)) != 1 {
		t.Error("the pushed erasure is not also pending for pull")
	}

	// Acknowledgement: published, recorded on the disclosure, idempotent,
	// and only by the partner it was sent to.
	if r := e.Do("POST", "/v1/partners/erasures/"+got[0].ErasureID+"/ack", nil, "Authorization", "Bearer "+late.Token); r.Status != 404 {
		t.Errorf("another partner acknowledged: %d", r.Status)
	}
	for range 2 {
		e.Must(e.Do("POST", got[0].AckPath, nil, "Authorization", "Bearer "+pullEarly.Token), 200, nil)
	}
	e.Idle(5 * time.Second)
	acks := e.acks()
	if len(acks) != 1 || acks[0].ErasureID != got[0].ErasureID || acks[0].Recipient != pullEarly.ID {
		t.Fatalf("acknowledgements published: %+v", acks)
	}
	d, err := e.Deps.DB.Disclosures.Get(context.Background(), pullEarly.ID+"~"+quitter)
	if err != nil || d.AcknowledgedAt == nil || d.ErasureID != got[0].ErasureID {
		t.Fatalf("disclosure after ack: %+v, %v", d, err)
	}
	if len(pending(pullEarly)) != 0 {
		t.Error("an acknowledged erasure is still pending")
	}
}

func TestDeletionReachesExactlyTheRecipients(t *testing.T) {
	e := start(t)
	a := e.partner("A", "cn-shanghai", []string{"fraud"}, "")
	b := e.partner("B", "cn-shanghai", []string{"attribution"}, "")
	c := e.partner("C", "cn-shanghai", []string{"os_targeting"}, "")
	e.ingest("Erased-Oaid-3", 1)
	e.clock.Add(time.Minute)
	e.pull(a)
	e.pull(b)
	// C revoked before pulling: it never received anything.
	e.Must(e.Ops("POST", "/v1/partners/"+c.ID+"/revoke", nil), 200, nil)
	if r := e.Do("GET", "/v1/partners/feed", nil, "Authorization", "Bearer "+c.Token); r.Status != 403 {
		t.Errorf("revoked partner's feed: %d", r.Status)
	}

	// What the erasure function does for a deleted subject: one request
	// per disclosure record, marked sent in the same transaction.
	subject := e.subjectKey("Erased-Oaid-3")
	ds, err := e.Deps.DB.Disclosures.Find(context.Background(), store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, subject)}})
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]string{}
	for _, d := range ds {
		id := "er-" + d.Recipient
		sent[d.Recipient] = id
		err := e.Deps.DB.Backend.Tx(context.Background(), func(tx store.Tx) error {
			now := time.Now()
			d.ErasureID, d.ErasureSentAt = id, &now
			if err := e.Deps.DB.Disclosures.In(tx).Put(d); err != nil {
				return err
			}
			return e.Deps.Bus.PublishTx(tx, events.Must(events.ErasureRequested, "req-1", events.ErasureData{ErasureID: id,
				Recipient: d.Recipient, Pseudonym: d.Pseudonym, RequestID: "req-1", Reason: "deletion"}))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(sent) != 2 || sent[a.ID] == "" || sent[b.ID] == "" {
		t.Fatalf("disclosures name %v, want exactly A and B", sent)
	}
	e.Idle(5 * time.Second)
	for _, p := range []partner{a, b, c} {
		var out struct{ Erasures []partners.Notice }
		e.Must(e.Do("GET", "/v1/partners/erasures", nil, "Authorization", "Bearer "+p.Token), 200, &out)
		want := 0
		if sent[p.ID] != "" {
			want = 1
		}
		if len(out.Erasures) != want {
			t.Fatalf("%s has %d erasures, want %d", p.ID, len(out.Erasures), want)
		}
		if want == 1 {
			e.Must(e.Do("POST", out.Erasures[0].AckPath, nil, "Authorization", "Bearer "+p.Token), 200, nil)
		}
	}
	e.Idle(5 * time.Second)
	if acks := e.acks(); len(acks) != 2 || acks[0].RequestID != "req-1" {
		t.Fatalf("acknowledgements %+v", acks)
	}
	pending, err := e.Deps.DB.Disclosures.Find(context.Background(), store.Query{Filters: []store.Filter{store.Where("pending_ack", store.EQ, true)}})
	if err != nil || len(pending) != 0 {
		t.Fatalf("disclosures still pending acknowledgement: %d, %v", len(pending), err)
	}
}

func TestPartnerAbroadNeedsCrossBorderConsent(t *testing.T) {
	e := start(t)
	abroad := e.partner("Abroad", "us-east-1", []string{"fraud"}, "")
	e.ingest("Local-Oaid-5", 1)
	e.Must(e.Ops("PUT", "/v1/consents/device:oaid:Traveller-Oaid-6", map[string]any{
		"purposes": map[string]bool{"cross_border": true}, "source": "api"}), 200, nil)
	e.ingest("Traveller-Oaid-6", 1)
	e.clock.Add(time.Minute)
	items, _ := e.pull(abroad)
	if len(items) != 1 || items[0].Pseudonym != e.Deps.Keys.Pseudonym(abroad.ID, e.subjectKey("Traveller-Oaid-6")) {
		t.Fatalf("partner abroad got %+v; want only the one with cross-border consent", items)
	}
}

func TestStatisticsSurviveDeletionAndSuppressSmallCells(t *testing.T) {
	e := start(t)
	var small map[string]string
	e.Must(e.Ops("POST", "/v1/apps", map[string]any{"name": "Small", "platform": "android",
		"developer_email": "dev@example.com", "discloses_sdk": true}), 201, &small)
	for i := range 12 {
		e.ingest("Stat-Oaid-"+string(rune('a'+i)), 1)
	}
	for range 3 {
		e.Must(e.Do("POST", "/v1/ad-requests", device("Lonely-Oaid"), ingest.HeaderAppKey, small["app_key"]), 200, nil)
	}
	e.Idle(5 * time.Second)
	// A redelivered event (same record, new event id: what a crash after
	// the count but before the router's record looks like) counts once.
	recs, err := e.Deps.DB.Records.Find(context.Background(), store.Query{Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatal(err)
	}
	if err := e.Deps.Bus.Publish(context.Background(), events.Must(events.AdRequestReceived, recs[0].ID, events.AdRequestReceivedData{
		RecordID: recs[0].ID, SubjectKey: recs[0].SubjectKey, AppID: recs[0].AppID, Platform: "android", Region: "CN", Country: "CN", Kept: []string{}})); err != nil {
		t.Fatal(err)
	}
	e.Idle(5 * time.Second)

	today := time.Now().UTC().Format(time.DateOnly)
	read := func() partners.StatsAnswer {
		var out partners.StatsAnswer
		e.Must(e.Ops("GET", "/v1/stats?from="+today+"&to="+today, nil), 200, &out)
		return out
	}
	before := read()
	if len(before.Cells) != 1 || before.Withheld != 1 || before.K != 10 {
		t.Fatalf("stats %+v: want the 12-request cell shown and the 3-request cell withheld", before)
	}
	c := before.Cells[0]
	if c.AppID != e.appID || c.Requests != 12 || c.Country != "CN" || c.OS != "android" || c.Personalized != nil {
		t.Fatalf("cell %+v (12 of 12 personalized is withheld: its complement is under k)", c)
	}

	// Delete every record: the counts stay.
	err = e.Deps.DB.Backend.Tx(context.Background(), func(tx store.Tx) error {
		all, err := e.Deps.DB.Records.In(tx).Find(store.Query{Limit: store.MaxLimit})
		if err != nil {
			return err
		}
		for _, r := range all {
			if err := e.Deps.DB.Records.In(tx).Delete(r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := read(); len(after.Cells) != 1 || after.Cells[0].Requests != 12 || after.Withheld != 1 {
		t.Fatalf("after deletion: %+v", after)
	}
	for _, c := range []struct{ q, field string }{
		{"", "from"}, {"from=2026-13-01", "from"}, {"from=2026-01-01&to=2025-01-01", "to"}, {"from=2026-01-01&to=2026-06-01", "to"},
	} {
		var p struct{ Field string }
		e.Must(e.Ops("GET", "/v1/stats?"+c.q, nil), 400, &p)
		if p.Field != c.field {
			t.Errorf("%q: field %q, want %q", c.q, p.Field, c.field)
		}
	}
	if r := e.Do("GET", "/v1/stats?from="+today, nil); r.Status != 401 {
		t.Errorf("stats without the ops token: %d", r.Status)
	}
}

func TestRegistrationAndCredentials(t *testing.T) {
	e := start(t)
	ok := map[string]any{"name": "P", "purposes": []string{"fraud"}, "location": "cn-shanghai"}
	if r := e.Do("POST", "/v1/partners", ok); r.Status != 401 {
		t.Errorf("registration without the ops token: %d", r.Status)
	}
	for _, c := range []struct {
		name  string
		body  string
		field string
	}{
		{"no purposes", `{"name":"P","purposes":[],"location":"cn-shanghai"}`, "purposes"},
		{"unknown purpose", `{"name":"P","purposes":["resale"],"location":"cn-shanghai"}`, "purposes"},
		{"statistics is not sharable", `{"name":"P","purposes":["statistics"],"location":"cn-shanghai"}`, "purposes"},
		{"no location", `{"name":"P","purposes":["fraud"]}`, "location"},
		{"no name", `{"name":" ","purposes":["fraud"],"location":"cn-shanghai"}`, "name"},
		{"bad webhook", `{"name":"P","purposes":["fraud"],"location":"cn-shanghai","delivery":{"webhook":"ftp://x"}}`, "delivery.webhook"},
		{"unknown field", `{"name":"P","purposes":["fraud"],"location":"cn-shanghai","token":"x"}`, "token"},
	} {
		var p struct{ Field string }
		e.Must(e.Ops("POST", "/v1/partners", c.body), 400, &p)
		if p.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, p.Field, c.field)
		}
	}
	p := e.partner("P", "cn-shanghai", []string{"fraud"}, "")
	for _, auth := range []string{"", "Bearer " + veiltest.OpsToken, "Bearer vpt_nope", "Bearer " + p.Token + "x"} {
		if r := e.Do("GET", "/v1/partners/feed", nil, "Authorization", auth); r.Status != 401 {
			t.Errorf("feed with %q: %d", auth, r.Status)
		}
	}
	for _, q := range []string{"cursor=nonsense", "cursor=AAAA", "limit=0", "limit=9999"} {
		if r := e.Do("GET", "/v1/partners/feed?"+q, nil, "Authorization", "Bearer "+p.Token); r.Status != 400 {
			t.Errorf("feed?%s: %d", q, r.Status)
		}
	}
	var list struct{ Partners []partners.View }
	e.Must(e.Ops("GET", "/v1/partners", nil), 200, &list)
	if len(list.Partners) != 1 || strings.Contains(string(e.Ops("GET", "/v1/partners", nil).Body), "token") {
		t.Errorf("list %+v", list)
	}
}

// webhook is a partner's erasure endpoint.
type webhook struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []pushed
	fail int // answer 503 this many times first
}

type pushed struct {
	Type    string          `json:"type"`
	Erasure partners.Notice `json:"erasure"`
	body    []byte
	sig     string
}

func (p pushed) SignatureOK(secret string) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(p.body)
	return secret != "" && hmac.Equal([]byte(p.sig), []byte("sha256="+hex.EncodeToString(m.Sum(nil))))
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{fail: 1}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.fail > 0 {
			h.fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var p pushed
		if err := json.Unmarshal(body, &p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		p.body, p.sig = body, r.Header.Get("X-Veil-Signature")
		h.got = append(h.got, p)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *webhook) URL() string { return h.srv.URL + "/erasures" }

func (h *webhook) wait(t *testing.T, n int) []pushed {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		got := append([]pushed(nil), h.got...)
		h.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("webhook got fewer than %d pushes", n)
	return nil
}

// The whole path through the running suite: a deletion request attested
// by the app's developer is fulfilled by the erasure function, whose
// erasure requests reach exactly the partners the disclosure log names;
// their acknowledgements close the log's entries.
func TestDeletionRequestReachesExactlyTheRecipientsEndToEnd(t *testing.T) {
	e := start(t)
	a := e.partner("A", "cn-shanghai", []string{"fraud"}, "")
	b := e.partner("B", "cn-shanghai", []string{"attribution"}, "")
	e.ingest("Gone-Oaid-7", 2)
	e.ingest("Kept-Oaid-8", 1)
	e.clock.Add(time.Minute)
	e.pull(a)
	e.pull(b)
	late := e.partner("Late", "cn-shanghai", []string{"fraud"}, "")

	var req struct{ ID, Status string }
	e.Must(e.Do("POST", "/v1/requests", map[string]any{"type": "delete", "subject": map[string]any{"device": "device:oaid:Gone-Oaid-7"}},
		ingest.HeaderAppKey, e.appKey), 202, &req)
	if req.Status != "verified" {
		t.Fatalf("attested request is %s", req.Status)
	}
	pending := func(p partner) []partners.Notice {
		var out struct{ Erasures []partners.Notice }
		e.Must(e.Do("GET", "/v1/partners/erasures", nil, "Authorization", "Bearer "+p.Token), 200, &out)
		return out.Erasures
	}
	e.Eventually(15*time.Second, "erasure requests at A and B", func() bool { return len(pending(a)) == 1 && len(pending(b)) == 1 })
	e.Idle(10 * time.Second)
	gone := e.subjectKey("Gone-Oaid-7")
	for _, p := range []partner{a, b} {
		n := pending(p)
		if len(n) != 1 || n[0].Pseudonym != e.Deps.Keys.Pseudonym(p.ID, gone) {
			t.Fatalf("%s's erasures %+v", p.ID, n)
		}
		e.Must(e.Do("POST", n[0].AckPath, nil, "Authorization", "Bearer "+p.Token), 200, nil)
	}
	if n := pending(late); len(n) != 0 {
		t.Fatalf("a partner that never received the subject is asked to erase: %+v", n)
	}
	e.Idle(10 * time.Second)
	if acks := e.acks(); len(acks) != 2 || acks[0].RequestID != req.ID {
		t.Fatalf("acknowledgements %+v", acks)
	}
	open, err := e.Deps.DB.Disclosures.Find(context.Background(), store.Query{Filters: []store.Filter{store.Where("pending_ack", store.EQ, true)}})
	if err != nil || len(open) != 0 {
		t.Fatalf("disclosures awaiting acknowledgement: %d, %v", len(open), err)
	}
	// Replayed from the start, the feed holds nothing of the erased
	// device any more; the other device's records are still there.
	items, _ := e.pull(a)
	got := pseudonyms(items)
	if len(got) != 1 || got[e.Deps.Keys.Pseudonym(a.ID, e.subjectKey("Kept-Oaid-8"))] != 1 {
		t.Fatalf("after the deletion A's feed holds %v", got)
	}
}

// The batch handler the in-process broker uses counts like one event at a
// time: each record once (a repeat in the batch or a record counted before
// adds nothing), each cell by what it received.
func TestBatchCountsEachRecordOnce(t *testing.T) {
	e := start(t)
	f, err := partners.New(context.Background(), e.Deps)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(record, platform string, personalized bool) events.Event {
		return events.Must(events.AdRequestReceived, record, events.AdRequestReceivedData{RecordID: record, SubjectKey: strings.Repeat("ab", 32),
			AppID: "app_batch", Platform: platform, Region: "CN", Country: "CN", Personalized: personalized, Kept: []string{}})
	}
	if err := f.Events[events.AdRequestReceived](context.Background(), ev("rec-0", "android", true)); err != nil {
		t.Fatal(err)
	}
	var batch []events.Event
	for i := range 24 {
		batch = append(batch, ev("rec-"+strconv.Itoa(i), "android", i%2 == 0))
	}
	batch = append(batch, ev("rec-3", "android", false), ev("ios-1", "ios", true))
	deliver := func() error {
		return e.Deps.DB.Backend.Tx(context.Background(), func(tx store.Tx) error {
			return f.Batch[events.AdRequestReceived](context.Background(), tx, batch)
		})
	}
	if err := deliver(); err != nil {
		t.Fatal(err)
	}
	// Redelivered as a whole: nothing changes.
	if err := deliver(); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	var out partners.StatsAnswer
	e.Must(e.Ops("GET", "/v1/stats?from="+today+"&to="+today, nil), 200, &out)
	if len(out.Cells) != 1 || out.Withheld != 1 {
		t.Fatalf("stats %+v: want the android cell shown, the 1-request ios cell withheld", out)
	}
	if c := out.Cells[0]; c.AppID != "app_batch" || c.Requests != 24 || c.Personalized == nil || *c.Personalized != 12 {
		t.Fatalf("android cell %+v: want 24 requests, 12 personalized", c)
	}
}
