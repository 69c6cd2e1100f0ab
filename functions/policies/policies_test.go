package policies_test

import (
	"context"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions/policies"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"
)

type view struct {
	Version      string `json:"version"`
	Material     bool   `json:"material"`
	InEffect     bool   `json:"in_effect"`
	Status       string `json:"notification_status"`
	Targeted     int64  `json:"targeted"`
	Notified     int64  `json:"notified"`
	Acknowledged int64  `json:"acknowledged"`
	Consented    int64  `json:"consented"`
}

var tokenPattern = regexp.MustCompile(`token=([0-9a-f]+\.[0-9a-f]+)&action=consent`)

func TestRevisionNoticeAndMaterialConsentGate(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	s := veiltest.Start(t, nil, suite.WithClock(func() time.Time { return time.Unix(0, clock.Load()).UTC() }))
	ctx := context.Background()
	day := 24 * time.Hour

	// A developer (through their app) and an account holder (through a
	// request they made) are the people to tell.
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "Demo", "platform": "android",
		"developer_email": "dev@example.com", "discloses_sdk": true}), 201, nil)
	carol, _ := privacy.AccountSubject("carol@example.com")
	carolKey := s.Deps.Keys.SubjectKey(carol)
	if err := s.Deps.DB.Requests.Put(ctx, &privacy.Request{ID: "req-carol", Type: privacy.ReqAccess, Status: privacy.StatusVerified,
		SubjectKey: carolKey, SubjectHint: carol.Hint(), Email: "carol@example.com", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}

	publish := func(version string, effective time.Time, material bool, status int) {
		t.Helper()
		s.Must(s.Ops("POST", "/v1/policies", map[string]any{"version": version, "effective_at": effective.Format(time.RFC3339),
			"material": material, "summary": "What changes in " + version, "changes": []string{"Section 3 rewritten"}}), status, nil)
	}
	publish("2026.1", t0.Add(day), false, 201)
	publish("2026.2", t0.Add(10*day), true, 201)
	s.Idle(30 * time.Second)

	// The notice arrives while the version is not yet in effect.
	var v view
	s.Must(s.Do("GET", "/v1/policies/2026.2", nil), 200, &v)
	if v.InEffect || !v.Material || v.Targeted != 2 || v.Notified != 2 || v.Status != "done" {
		t.Fatalf("before the effective date: %+v", v)
	}
	m := s.WaitMail("carol@example.com", "2026.2", 5*time.Second)
	if !strings.Contains(m.Text, "明确同意") || !strings.Contains(m.Text, "explicit consent") || !strings.Contains(m.Text, "2026-03-12 10:00 UTC+8") {
		t.Errorf("carol's notice:\n%s", m.Text)
	}
	dev := s.WaitMail("dev@example.com", "2026.2", 5*time.Second)
	if !strings.Contains(dev.Text, "end users") || !strings.Contains(dev.Text, "终端用户") {
		t.Errorf("the developer is not asked to tell their end users:\n%s", dev.Text)
	}
	if n := len(s.MailsTo("carol@example.com")); n != 2 {
		t.Errorf("carol got %d mails for two versions", n)
	}

	// After 2026.2 takes effect, carol stays under 2026.1 until she consents.
	after := t0.Add(11 * day)
	if got, err := policies.VersionAt(ctx, s.Deps.DB, carolKey, after); err != nil || got != "2026.1" {
		t.Fatalf("before consent: %q %v, want 2026.1", got, err)
	}
	tok := tokenPattern.FindStringSubmatch(m.Text)
	if tok == nil {
		t.Fatalf("no consent link in:\n%s", m.Text)
	}
	// A token does not work for another version, nor a forged one.
	s.Must(s.Do("POST", "/v1/policies/2026.1/consent", map[string]string{"token": tok[1]}), 401, nil)
	s.Must(s.Do("POST", "/v1/policies/2026.2/consent", map[string]string{"token": carolKey + ".00000000000000000000000000000000"}), 401, nil)
	// Nor may anyone but ops answer for a named subject.
	s.Must(s.Do("POST", "/v1/policies/2026.2/consent", map[string]string{"subject": "account:carol@example.com"}), 401, nil)

	s.Must(s.Do("POST", "/v1/policies/2026.2/consent", map[string]string{"token": tok[1]}), 200, nil)
	s.Must(s.Do("POST", "/v1/policies/2026.2/consent", map[string]string{"token": tok[1]}), 200, nil) // twice counts once
	if got, err := policies.VersionAt(ctx, s.Deps.DB, carolKey, after); err != nil || got != "2026.2" {
		t.Fatalf("after consent: %q %v, want 2026.2", got, err)
	}
	// Before the effective date consent changes nothing yet.
	if got, _ := policies.VersionAt(ctx, s.Deps.DB, carolKey, t0.Add(2*day)); got != "2026.1" {
		t.Errorf("before 2026.2 is in effect: %q", got)
	}
	// Ops record the developer's acknowledgement (given by letter, say).
	s.Must(s.Ops("POST", "/v1/policies/2026.2/acknowledge", map[string]string{"subject": "account:dev@example.com"}), 200, nil)
	s.Must(s.Do("GET", "/v1/policies/2026.2", nil), 200, &v)
	if v.Acknowledged != 2 || v.Consented != 1 {
		t.Errorf("counts %+v", v)
	}

	clock.Store(after.UnixNano())
	var list struct {
		Policies []view `json:"policies"`
	}
	s.Must(s.Do("GET", "/v1/policies", nil), 200, &list)
	if len(list.Policies) != 2 || list.Policies[0].Version != "2026.2" || !list.Policies[0].InEffect {
		t.Errorf("list %+v", list)
	}
}

func TestPublishIsValidated(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	s := veiltest.Start(t, map[string]string{"VEIL_FUNCTIONS": "policies"}, suite.WithClock(func() time.Time { return t0 }))
	body := func(v string, eff time.Time) map[string]any {
		return map[string]any{"version": v, "effective_at": eff.Format(time.RFC3339), "material": false, "summary": "s"}
	}
	cases := []struct {
		name   string
		body   map[string]any
		ops    bool
		status int
	}{
		{"first", body("v1", t0.Add(48*time.Hour)), true, 201},
		{"no token", body("v2", t0.Add(96*time.Hour)), false, 401},
		{"already in effect", body("v2", t0), true, 400},
		{"same version", body("v1", t0.Add(96*time.Hour)), true, 409},
		{"effective before the last one", body("v2", t0.Add(24*time.Hour)), true, 400},
		{"bad version", body("v 2", t0.Add(96*time.Hour)), true, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do("POST", "/v1/policies", c.body)
			if c.ops {
				r = s.Ops("POST", "/v1/policies", c.body)
			}
			if r.Status != c.status {
				t.Errorf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
		})
	}
	s.Must(s.Do("GET", "/v1/policies/nope", nil), 404, nil)
}

// A cessation of operations (R23) tells every developer and account holder
// once, and is announced on the privacy center for the end users behind
// the apps.
func TestCessationNoticeAndAnnouncement(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_FUNCTIONS": "ingest,policies,notify,incidents"})
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "Demo", "platform": "ios",
		"developer_email": "ios-dev@example.com", "discloses_sdk": true}), 201, nil)
	e := events.Must(events.OperationsCeased, "", events.RefData{ID: "shutdown-1", At: time.Now().UTC()})
	for i := 0; i < 2; i++ { // redelivered: still one notice
		if err := s.Deps.Bus.Publish(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		s.Idle(30 * time.Second)
	}
	m := s.WaitMail("ios-dev@example.com", "停止运营", 10*time.Second)
	if !strings.Contains(m.Text, "delete or anonymize") {
		t.Errorf("cessation notice:\n%s", m.Text)
	}
	if n := len(s.MailsTo("ios-dev@example.com")); n != 1 {
		t.Errorf("%d cessation mails", n)
	}
	var ann struct {
		Announcements []privacy.Announcement `json:"announcements"`
	}
	s.Must(s.Do("GET", "/v1/announcements", nil), 200, &ann)
	if len(ann.Announcements) != 1 || ann.Announcements[0].Kind != "operations_ceased" {
		t.Errorf("announcements %+v", ann.Announcements)
	}
}
