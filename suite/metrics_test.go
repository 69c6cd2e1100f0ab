package suite_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// metric returns the value of the sample whose name and labels match, or
// -1 when the scrape has no such sample.
func metric(t *testing.T, scrape, name, labels string) float64 {
	t.Helper()
	sel := `\{` + labels + `\}`
	if labels == "" {
		sel = ""
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + sel + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(scrape)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	p := &probe{}
	s := veiltest.Start(t, nil, suite.WithFunction(p.constructor))
	if r := s.Do("GET", "/metrics", nil); r.Status != 401 {
		t.Fatalf("/metrics without the ops token: %d", r.Status)
	}
	before := string(s.Ops("GET", "/metrics", nil).Body)
	for range 3 {
		s.Do("GET", "/healthz", nil)
	}
	s.Do("GET", "/v1/dead-letters", nil) // 401
	if err := s.Deps.Bus.Publish(context.Background(), events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: "m"})); err != nil {
		t.Fatal(err)
	}
	s.Eventually(5*time.Second, "delivery", func() bool { return len(p.got()) == 1 })
	after := string(s.Ops("GET", "/metrics", nil).Body)

	healthz := `route="GET /healthz",status="200"`
	if d := metric(t, after, "veil_http_requests_total", healthz) - max(0, metric(t, before, "veil_http_requests_total", healthz)); d != 3 {
		t.Errorf("healthz counter moved by %v, want 3", d)
	}
	if v := metric(t, after, "veil_http_requests_total", `route="GET /v1/dead-letters",status="401"`); v != 1 {
		t.Errorf("401 counter = %v", v)
	}
	if v := metric(t, after, "veil_events_total", `outcome="handled",subscriber="probe",type="`+regexp.QuoteMeta(events.ScheduleTicked)+`"`); v != 1 {
		t.Errorf("handled events = %v", v)
	}
	if v := metric(t, after, "veil_requests_open", `status="verified"`); v != 0 {
		t.Errorf("open verified requests = %v on an empty suite", v)
	}
	s.Idle(5 * time.Second)
	if v := metric(t, string(s.Ops("GET", "/metrics", nil).Body), "veil_events_pending", ""); v != 0 {
		t.Errorf("events pending = %v once the broker is idle", v)
	}
	if regexp.MustCompile(`@|device:|account:`).MatchString(after) {
		t.Error("personal data in metric labels")
	}
}

func TestIngestDecisionsAreCountedByReason(t *testing.T) {
	s := veiltest.Start(t, nil)
	var app struct {
		AppKey string `json:"app_key"`
	}
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "M", "platform": "android", "developer_email": "d@example.com", "discloses_sdk": true}), 201, &app)
	body := `{"sdk":{"platform":"android","version":"1"},"app":{"name":"M","version":"1"},"consent":{"personalized_ads":true,"location":false},` +
		`"device":{"ids":{"oaid":"0a1b2c3d-0000-4000-8000-000000000009"},"model":"P60","geo":{"lat":1,"lon":2},"idfa_like":"x"}}`
	for range 2 {
		if r := s.Do("POST", "/v1/ad-requests", body, "X-Veil-App-Key", app.AppKey); r.Status != 200 {
			t.Fatalf("ingest: %d %s", r.Status, r.Body)
		}
	}
	scrape := string(s.Ops("GET", "/metrics", nil).Body)
	if v := metric(t, scrape, "veil_ingest_dropped_fields_total", `reason="no_location_consent"`); v != 2 {
		t.Errorf("no_location_consent drops = %v, want 2", v)
	}
	if v := metric(t, scrape, "veil_ingest_dropped_fields_total", `reason="undeclared"`); v != 2 {
		t.Errorf("undeclared drops = %v, want 2", v)
	}
}
