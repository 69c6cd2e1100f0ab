package consent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"
)

type view struct {
	Subject  string                  `json:"subject"`
	Purposes map[string]bool         `json:"purposes"`
	Guardian *bool                   `json:"guardian"`
	History  []privacy.ConsentChange `json:"history"`
}

type checkResult struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

type problem struct {
	Code  string `json:"code"`
	Field string `json:"field"`
}

func appKey(t *testing.T, s *veiltest.Suite) (string, string) {
	t.Helper()
	var out map[string]string
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "Demo", "platform": "android",
		"developer_email": "dev@example.com", "discloses_sdk": true}), 201, &out)
	return out["app_id"], out["app_key"]
}

func TestRecordChangeWithdrawWithHistory(t *testing.T) {
	p := &veiltest.Probe{Types: []string{events.ConsentChanged}}
	s := veiltest.Start(t, nil, suite.WithFunction(p.Function))
	appID, key := appKey(t, s)
	const subj = "/v1/consents/device:oaid:Hist-0001"

	s.Must(s.Ops("GET", subj, nil), 404, nil)
	var c checkResult
	s.Must(s.Ops("GET", subj+"/check?purpose=location", nil), 200, &c)
	if c.Allowed || c.Reason != privacy.CheckNotRecorded {
		t.Fatalf("nothing recorded: %+v", c)
	}

	s.Must(s.Do("PUT", subj, map[string]any{"purposes": map[string]bool{"personalized_ads": true, "location": true}, "source": "app"},
		ingest.HeaderAppKey, key), 200, nil)
	// The app re-sends the same decision at its next launch: nothing new.
	s.Must(s.Do("PUT", subj, map[string]any{"purposes": map[string]bool{"personalized_ads": true}, "source": "app"},
		ingest.HeaderAppKey, key), 200, nil)
	// Change scope: location only; personalized ads stay granted.
	s.Must(s.Ops("PUT", subj, map[string]any{"purposes": map[string]bool{"location": false}, "source": "portal"}), 200, nil)
	var v view
	s.Must(s.Ops("GET", subj, nil), 200, &v)
	if !v.Purposes["personalized_ads"] || v.Purposes["location"] || v.Subject != "device:oaid:hist-0001" {
		t.Fatalf("state = %+v", v)
	}
	if len(v.History) != 2 || v.History[0].Actor != "app:"+appID || v.History[0].Source != "app" ||
		v.History[1].Actor != "ops" || v.History[1].Source != "portal" || v.History[1].At.IsZero() {
		t.Fatalf("history = %+v", v.History)
	}
	for purpose, want := range map[string]checkResult{
		"personalized_ads": {true, privacy.CheckGranted},
		"location":         {false, privacy.CheckWithdrawn},
		"partner_sharing":  {false, privacy.CheckNotRecorded},
	} {
		s.Must(s.Do("GET", subj+"/check?purpose="+purpose, nil, ingest.HeaderAppKey, key), 200, &c)
		if c != want {
			t.Errorf("%s: %+v, want %+v", purpose, c, want)
		}
	}

	s.Idle(5 * time.Second)
	got := veiltest.Seen[events.ConsentChangedData](t, p, events.ConsentChanged, "")
	if len(got) != 2 {
		t.Fatalf("%d consent.changed events", len(got))
	}
	var withdrawal *events.ConsentChangedData
	for i := range got {
		if len(got[i].Withdrawn) > 0 {
			withdrawal = &got[i]
		}
	}
	if withdrawal == nil || len(withdrawal.Withdrawn) != 1 || withdrawal.Withdrawn[0] != "location" || withdrawal.Source != "portal" {
		t.Fatalf("events = %+v", got)
	}
	if strings.Contains(withdrawal.SubjectKey, "hist-0001") {
		t.Fatal("the event names the device id")
	}
}

func TestGuardianConsent(t *testing.T) {
	s := veiltest.Start(t, nil)
	const subj = "/v1/consents/device:idfa:Kid-0001"
	s.Must(s.Ops("PUT", subj, map[string]any{"purposes": map[string]bool{"personalized_ads": true}, "guardian": false}), 200, nil)
	var c checkResult
	s.Must(s.Ops("GET", subj+"/check?purpose=personalized_ads", nil), 200, &c)
	if c.Allowed || c.Reason != privacy.CheckGuardianWithdrawn {
		t.Fatalf("guardian refused: %+v", c)
	}
	s.Must(s.Ops("PUT", subj, map[string]any{"guardian": true}), 200, nil)
	s.Must(s.Ops("GET", subj+"/check?purpose=personalized_ads", nil), 200, &c)
	if !c.Allowed {
		t.Fatalf("guardian granted: %+v", c)
	}
}

func TestAuthorizationAndValidation(t *testing.T) {
	s := veiltest.Start(t, nil)
	_, key := appKey(t, s)
	body := map[string]any{"purposes": map[string]bool{"location": false}}
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string
		status  int
		field   string
	}{
		{"no credentials", "PUT", "/v1/consents/device:oaid:x1", body, nil, 401, ""},
		{"no credentials, read", "GET", "/v1/consents/device:oaid:x1", nil, nil, 401, ""},
		{"no credentials, check", "GET", "/v1/consents/device:oaid:x1/check?purpose=location", nil, nil, 401, ""},
		{"no credentials, bad subject", "GET", "/v1/consents/nonsense", nil, nil, 401, ""},
		{"unknown app key", "PUT", "/v1/consents/device:oaid:x1", body, []string{ingest.HeaderAppKey, "vk_nope"}, 401, ""},
		{"app key for an account", "PUT", "/v1/consents/account:li@example.com", body, []string{ingest.HeaderAppKey, key}, 403, ""},
		{"bad subject", "PUT", "/v1/consents/device:serial:x1", body, []string{ingest.HeaderAppKey, key}, 400, "subject.device"},
		{"unknown purpose", "PUT", "/v1/consents/device:oaid:x1", map[string]any{"purposes": map[string]bool{"telepathy": true}}, []string{ingest.HeaderAppKey, key}, 400, "purposes.telepathy"},
		{"empty change", "PUT", "/v1/consents/device:oaid:x1", map[string]any{"purposes": map[string]bool{}}, []string{ingest.HeaderAppKey, key}, 400, "purposes"},
		{"bad source", "PUT", "/v1/consents/device:oaid:x1", map[string]any{"purposes": map[string]bool{"location": true}, "source": "rumour"}, []string{ingest.HeaderAppKey, key}, 400, "source"},
		{"not a bool", "PUT", "/v1/consents/device:oaid:x1", map[string]any{"purposes": map[string]any{"location": "no"}}, []string{ingest.HeaderAppKey, key}, 400, "purposes.location"},
		{"unknown check purpose", "GET", "/v1/consents/device:oaid:x1/check?purpose=x", nil, []string{ingest.HeaderAppKey, key}, 400, "purpose"},
		{"too large", "PUT", "/v1/consents/device:oaid:x1", `{"source":"` + strings.Repeat("a", 9000) + `"}`, []string{ingest.HeaderAppKey, key}, 413, ""},
	}
	for _, c := range cases {
		r := s.Do(c.method, c.path, c.body, c.headers...)
		if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
			continue
		}
		var p problem
		r.Decode(t, &p)
		if p.Field != c.field {
			t.Errorf("%s: problem names %q, want %q", c.name, p.Field, c.field)
		}
	}
	// Ops may record an account's consent.
	s.Must(s.Ops("PUT", "/v1/consents/account:Li@Example.com", map[string]any{"purposes": map[string]bool{"partner_sharing": false}}), 200, nil)
	var v view
	s.Must(s.Ops("GET", "/v1/consents/account:li@example.com", nil), 200, &v)
	if v.Purposes["partner_sharing"] || len(v.History) != 1 || v.History[0].Source != "api" {
		t.Fatalf("account consent = %+v", v)
	}
}
