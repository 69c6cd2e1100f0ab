package incidents_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions/notify"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// pushes is a developer's push webhook that keeps what it got.
type pushes struct {
	mu  sync.Mutex
	got []notify.PushBody
}

func (p *pushes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var b notify.PushBody
	_ = json.Unmarshal(raw, &b)
	p.mu.Lock()
	p.got = append(p.got, b)
	p.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (p *pushes) list() []notify.PushBody {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]notify.PushBody(nil), p.got...)
}

func register(t *testing.T, s *veiltest.Suite, dev, webhook string) (id, key string) {
	t.Helper()
	in := map[string]any{"name": "Demo", "platform": "android", "developer_email": dev, "discloses_sdk": true}
	if webhook != "" {
		in["push_webhook"] = webhook
	}
	var out map[string]string
	s.Must(s.Ops("POST", "/v1/apps", in), 201, &out)
	return out["app_id"], out["app_key"]
}

func adRequest(t *testing.T, s *veiltest.Suite, appKey, oaid string) {
	t.Helper()
	body := map[string]any{
		"sdk":     map[string]any{"platform": "android", "version": "4.2.0"},
		"app":     map[string]any{"name": "Demo", "version": "1.0"},
		"user":    map[string]any{"age": 30},
		"consent": map[string]any{"personalized_ads": false, "location": false},
		"device": map[string]any{"ids": map[string]any{"oaid": oaid}, "brand": "Xiaomi", "model": "2201123C",
			"ip": "203.0.113.77", "language": "zh", "country": "CN"},
	}
	s.Must(s.Do("POST", "/v1/ad-requests", body, "X-Veil-App-Key", appKey), 200, nil)
}

type progress struct {
	Status      string `json:"status"`
	Targeted    int64  `json:"targeted"`
	Queued      int64  `json:"queued"`
	Sent        int64  `json:"sent"`
	Failed      int64  `json:"failed"`
	Unreachable int64  `json:"unreachable"`
	Announced   bool   `json:"announced"`
}

func declaration(affected map[string]any) map[string]any {
	return map[string]any{
		"title": "Ad log bucket exposed", "what_happened": "A storage bucket holding ad logs was readable from the internet.",
		"occurred_at": time.Now().Add(-72 * time.Hour).UTC().Format(time.RFC3339), "discovered_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"categories": []string{"device_identifiers", "network_information"}, "affected": affected,
		"impact": "Device identifiers and truncated IP addresses may have been read.", "measures": "The bucket was closed and keys rotated.",
		"advice": "Reset your advertising ID in the system settings.", "remedies": "Contact us for help; we cover verified losses.",
		"contact": "privacy@veil.example",
	}
}

func TestIncidentNotifiesAnnouncesAndReports(t *testing.T) {
	s := veiltest.Start(t, nil)
	hook := &pushes{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	_, withPush := register(t, s, "dev-one@example.com", srv.URL)
	_, silent := register(t, s, "dev-two@example.com", "")
	adRequest(t, s, withPush, "OAID-Reachable-1")
	adRequest(t, s, silent, "OAID-Silent-2") // its app has no webhook: no way to reach this person
	s.Idle(30 * time.Second)

	var created struct{ ID string }
	s.Must(s.Ops("POST", "/v1/incidents", declaration(map[string]any{"subjects": []string{
		"account:Alice@Example.com", "device:oaid:OAID-Reachable-1", "device:oaid:OAID-Silent-2"}})), 201, &created)
	s.Idle(30 * time.Second)

	m := s.WaitMail("alice@example.com", "Ad log bucket exposed", 10*time.Second)
	for _, w := range []string{"可能的影响", "Reset your advertising ID", "Contact us for help", "补救措施", created.ID} {
		if !strings.Contains(m.Text, w) {
			t.Errorf("the notice lacks %q", w)
		}
	}
	if n := len(s.MailsTo("alice@example.com")); n != 1 {
		t.Errorf("alice got %d mails", n)
	}
	ps := hook.list()
	if len(ps) != 1 || ps[0].Device != "device:oaid:oaid-reachable-1" || !strings.Contains(ps[0].Text, "Reset your advertising ID") {
		t.Fatalf("pushes %+v", ps)
	}

	var p progress
	s.Must(s.Ops("GET", "/v1/incidents/"+created.ID, nil), 200, &p)
	if p != (progress{Status: "done", Targeted: 3, Sent: 2, Unreachable: 1, Announced: true}) {
		t.Errorf("progress %+v", p)
	}
	var ann struct {
		Announcements []privacy.Announcement `json:"announcements"`
	}
	s.Must(s.Do("GET", "/v1/announcements", nil), 200, &ann) // public: no token
	if len(ann.Announcements) != 1 || ann.Announcements[0].ID != created.ID || ann.Announcements[0].Advice == "" {
		t.Errorf("announcements %+v", ann)
	}

	var rep struct {
		Timeline   []struct{ What string } `json:"timeline"`
		Counts     progress                `json:"counts"`
		Measures   string                  `json:"measures"`
		Categories []struct {
			Category string `json:"category"`
		} `json:"categories"`
	}
	s.Must(s.Ops("GET", "/v1/incidents/"+created.ID+"/report", nil), 200, &rep)
	if rep.Counts != p || len(rep.Timeline) != 5 || rep.Measures == "" || len(rep.Categories) != 2 {
		t.Errorf("report %+v", rep)
	}
	md := s.Ops("GET", "/v1/incidents/"+created.ID+"/report", nil, "Accept", "text/markdown")
	if md.Status != 200 || !strings.Contains(string(md.Body), "| 3 | 2 | 0 | 1 | 0 | true |") {
		t.Errorf("markdown report %d:\n%s", md.Status, md.Body)
	}
	// Ops only.
	if r := s.Do("GET", "/v1/incidents/"+created.ID, nil); r.Status != 401 {
		t.Errorf("progress without the ops token: %d", r.Status)
	}

	// The same people by query: everyone whose device ids were received in
	// the last hour — both devices, one reachable.
	var q struct{ ID string }
	s.Must(s.Ops("POST", "/v1/incidents", declaration(map[string]any{"query": map[string]any{
		"categories": []string{"device_identifiers"}, "from": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"to": time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}})), 201, &q)
	s.Idle(30 * time.Second)
	s.Must(s.Ops("GET", "/v1/incidents/"+q.ID, nil), 200, &p)
	if p != (progress{Status: "done", Targeted: 2, Sent: 1, Unreachable: 1, Announced: true}) {
		t.Errorf("query progress %+v", p)
	}
	if n := len(hook.list()); n != 2 {
		t.Errorf("%d pushes after the second incident, want 2", n)
	}
}

func TestDeclarationIsValidated(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_FUNCTIONS": "incidents"})
	cases := []struct {
		name  string
		edit  func(map[string]any)
		field string
	}{
		{"no advice", func(d map[string]any) { delete(d, "advice") }, "advice"},
		{"unknown category", func(d map[string]any) { d["categories"] = []string{"passwords"} }, "categories"},
		{"bad subject", func(d map[string]any) { d["affected"] = map[string]any{"subjects": []string{"bob"}} }, "affected.subjects"},
		{"unknown field", func(d map[string]any) { d["severity"] = "high" }, "severity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := declaration(map[string]any{"subjects": []string{"account:a@example.com"}})
			c.edit(d)
			var prob struct{ Field string }
			s.Must(s.Ops("POST", "/v1/incidents", d), 400, &prob)
			if prob.Field != c.field {
				t.Errorf("field %q, want %q", prob.Field, c.field)
			}
		})
	}
	if r := s.Do("POST", "/v1/incidents", declaration(map[string]any{"subjects": []string{"account:a@example.com"}})); r.Status != 401 {
		t.Errorf("declaring without the ops token: %d", r.Status)
	}
}

// A notification delivered twice — the same event redelivered, and a copy
// under a new event id with the same key — mails once.
func TestRedeliveredNotificationMailsOnce(t *testing.T) {
	s := veiltest.Start(t, nil)
	d := events.NotificationData{Key: "test:redelivery~1", Channel: "email", To: "dora@example.com", Template: "operations_ceased",
		Lang: "en", Vars: map[string]string{"ceased_at": "2026-06-01", "note": "", "contact": "privacy@veil.example"}, Ref: "test:redelivery"}
	e := events.Must(events.NotificationRequested, "", d)
	copy := events.Must(events.NotificationRequested, "", d)
	for _, ev := range []events.Event{e, e, copy} {
		if err := s.Deps.Bus.Publish(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	s.Idle(30 * time.Second)
	s.WaitMail("dora@example.com", "cessation", 5*time.Second)
	if n := len(s.MailsTo("dora@example.com")); n != 1 {
		t.Fatalf("%d mails for one notification key", n)
	}
}
