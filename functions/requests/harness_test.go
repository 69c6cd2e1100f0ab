package requests_test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/notices"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"

	"github.com/veil-privacy/veil/tests/testclock"
)

type env struct {
	*veiltest.Suite
	clock *testclock.Fixed
	probe *veiltest.Probe // stands in for audit, fulfilment and notify
}

// shanghai is where dates are judged; the clock starts on Friday
// 2025-09-26 10:00 there, before the National Day holiday week.
var shanghai = time.FixedZone("CST", 8*3600)

func start(t *testing.T) *env {
	t.Helper()
	c := testclock.At(time.Date(2025, 9, 26, 10, 0, 0, 0, shanghai))
	p := &veiltest.Probe{Types: []string{events.RequestReceived, events.RequestChanged, events.RequestVerified, events.NotificationRequested}}
	s := veiltest.Start(t, map[string]string{"VEIL_FUNCTIONS": "requests,ingest",
		"VEIL_INBOUND_TOKEN": inboundToken}, suite.WithClock(c.Now), suite.WithFunction(p.Function))
	return &env{Suite: s, clock: c, probe: p}
}

const inboundToken = "inbound-token-0123456789abcdef0123456789"

type created struct {
	ID          string         `json:"id"`
	Status      privacy.Status `json:"status"`
	Token       string         `json:"token"`
	DuplicateOf string         `json:"duplicate_of"`
}

type requestView struct {
	ID          string               `json:"id"`
	Type        privacy.RequestType  `json:"type"`
	Channel     string               `json:"channel"`
	Status      privacy.Status       `json:"status"`
	DueAt       *time.Time           `json:"due_at"`
	History     []privacy.Transition `json:"history"`
	DuplicateOf string               `json:"duplicate_of"`
	Refusal     string               `json:"refusal"`
	Answer      string               `json:"answer"`
	SubjectHint string               `json:"subject_hint"`
	Email       string               `json:"email"`
	Devices     []string             `json:"devices"`
	Details     string               `json:"details"`
	DueError    string               `json:"due_error"`
}

type problem struct {
	Code   string `json:"code"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func (e *env) submit(body map[string]any, headers ...string) created {
	e.T.Helper()
	var c created
	e.Must(e.Do("POST", "/v1/requests", body, headers...), 202, &c)
	return c
}

func (e *env) submitEmail(typ, email string) created {
	e.T.Helper()
	return e.submit(map[string]any{"type": typ, "subject": map[string]string{"email": email}})
}

func (e *env) view(id string) requestView {
	e.T.Helper()
	var v requestView
	e.Must(e.Ops("GET", "/v1/requests/"+id, nil), 200, &v)
	return v
}

func (e *env) fails(r *veiltest.Response, status int, code string) problem {
	e.T.Helper()
	var p problem
	e.Must(r, status, &p)
	if p.Code != code {
		e.T.Fatalf("code %q, want %q: %s", p.Code, code, r.Body)
	}
	return p
}

var codeLine = regexp.MustCompile(`(?m)^\s+(\d{6})\s*$`)

// code reads the n-th code mailed for a request from the outbox.
func (e *env) code(id string, n int) string {
	e.T.Helper()
	key := fmt.Sprintf("request-code/%s/%d", id, n)
	var code string
	e.Eventually(5*time.Second, "code mail "+key, func() bool {
		for _, m := range e.Mails() {
			if m.Key == key {
				if c := codeLine.FindStringSubmatch(m.Text); c != nil {
					code = c[1]
					return true
				}
			}
		}
		return false
	})
	return code
}

func (e *env) verify(id, code string) *veiltest.Response {
	e.T.Helper()
	return e.Do("POST", "/v1/requests/"+id+"/verify", map[string]string{"code": code})
}

func (e *env) appKey(developer string) (string, string) {
	e.T.Helper()
	var out map[string]string
	e.Must(e.Ops("POST", "/v1/apps", map[string]any{"name": "Demo", "platform": "android",
		"developer_email": developer, "discloses_sdk": true}), 201, &out)
	return out["app_id"], out["app_key"]
}

// wrong returns a six-digit code other than c.
func wrong(c string) string {
	if c == "000000" {
		return "000001"
	}
	return "000000"
}

// rendered checks that a notification notify will receive renders, in
// the language asked, with the variables given: a template asking for a
// variable we do not send would fail in notify, after the fact.
func rendered(t *testing.T, n events.NotificationData) notices.Notice {
	t.Helper()
	set, err := notices.Load()
	if err != nil {
		t.Fatal(err)
	}
	out, err := set.Render(n.Template, n.Lang, n.Vars)
	if err != nil {
		t.Fatalf("notification %s does not render: %v", n.Template, err)
	}
	return out
}

func endOfDay(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 23, 59, 59, 999999999, shanghai)
}

// notifications are the notifications requested so far about a request.
func (e *env) notifications(requestID string) []events.NotificationData {
	return veiltest.Seen[events.NotificationData](e.T, e.probe, events.NotificationRequested, requestID)
}
