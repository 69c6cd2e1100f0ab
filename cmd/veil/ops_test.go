package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// cli runs `veil args...` against s as an operator would, with the URL and
// token from the environment.
type cli struct {
	t   *testing.T
	s   *veiltest.Suite
	env map[string]string
}

func newCLI(t *testing.T, s *veiltest.Suite) *cli {
	return &cli{t: t, s: s, env: map[string]string{"VEIL_URL": s.URL, "VEIL_OPS_TOKEN": veiltest.OpsToken, "USER": "ops.tester"}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(""), Getenv: func(k string) string { return c.env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, env, args)
	return result{code, out.String(), errb.String()}
}

// ok runs and fails the test unless the command succeeded.
func (c *cli) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("veil %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// jsonOf runs with --json and decodes stdout.
func (c *cli) jsonOf(v any, args ...string) {
	c.t.Helper()
	r := c.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		c.t.Fatalf("veil %s --json: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
}

// check is one command line and what its output must show.
type check struct {
	name   string
	args   []string
	code   int
	stdout []string // substrings of stdout
	stderr []string // substrings of stderr
}

func (c *cli) checks(cases []check) {
	c.t.Helper()
	for _, tc := range cases {
		c.t.Run(tc.name, func(t *testing.T) {
			r := c.run(tc.args...)
			if r.code != tc.code {
				t.Fatalf("veil %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), r.code, tc.code, r.stdout, r.stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
			for _, want := range tc.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

func TestOpsConnection(t *testing.T) {
	s := veiltest.Start(t, nil)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "ops-token"), []byte(veiltest.OpsToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"token from $VEIL_DATA/ops-token", map[string]string{"VEIL_URL": s.URL, "VEIL_DATA": data}, []string{"apps", "list"}, 0, "APP ID"},
		{"--url and --token flags", map[string]string{}, []string{"apps", "list", "--url", s.URL, "--token", veiltest.OpsToken}, 0, "APP ID"},
		{"wrong token: the problem's detail", map[string]string{"VEIL_URL": s.URL, "VEIL_OPS_TOKEN": strings.Repeat("x", 40)}, []string{"apps", "list"}, 1, "401 this endpoint needs the ops token"},
		{"no token anywhere", map[string]string{"VEIL_URL": s.URL, "VEIL_DATA": t.TempDir()}, []string{"apps", "list"}, 1, "no ops token"},
		{"nothing listening", map[string]string{"VEIL_URL": "http://127.0.0.1:1", "VEIL_OPS_TOKEN": "t"}, []string{"apps", "list"}, 1, "is the suite running"},
		{"not a URL", map[string]string{"VEIL_URL": "ftp://x", "VEIL_OPS_TOKEN": "t"}, []string{"apps", "list"}, 1, "not an http(s) base URL"},
		{"unknown subcommand", map[string]string{}, []string{"apps", "frobnicate"}, 1, `unknown subcommand "frobnicate"`},
		{"group help", map[string]string{}, []string{"requests", "help"}, 0, "veil requests refuse ID --reason CODE"},
		{"missing positional", map[string]string{"VEIL_URL": s.URL, "VEIL_OPS_TOKEN": veiltest.OpsToken}, []string{"requests", "show"}, 1, "needs a request ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t, s)
			c.env = tc.env
			r := c.run(tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\nstdout: %s\nstderr: %s", r.code, tc.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
}

func TestOpsApps(t *testing.T) {
	s := veiltest.Start(t, nil)
	c := newCLI(t, s)
	var reg struct {
		AppID  string `json:"app_id"`
		AppKey string `json:"app_key"`
	}
	c.jsonOf(&reg, "apps", "register", "--name", "Demo", "--platform", "android", "--developer-email", "dev@example.com", "--discloses-sdk")
	if !strings.HasPrefix(reg.AppID, "app_") || !strings.HasPrefix(reg.AppKey, "vk_") {
		t.Fatalf("registered %+v", reg)
	}
	c.checks([]check{
		{"register, human output", []string{"apps", "register", "--name", "Other", "--platform", "ios", "--developer-email", "ios@example.com", "--discloses-sdk"},
			0, []string{"app_id:", "app_key:"}, []string{"shown this once"}},
		{"register without the attestation", []string{"apps", "register", "--name", "X", "--platform", "ios", "--developer-email", "x@example.com"},
			1, nil, []string{"discloses_sdk"}},
		{"list", []string{"apps", "list"}, 0, []string{"APP ID", reg.AppID, "Demo", "dev@example.com", "active"}, nil},
		{"revoke", []string{"apps", "revoke", reg.AppID}, 0, []string{reg.AppID, "revoked"}, nil},
		{"revoke unknown", []string{"apps", "revoke", "app_nope"}, 1, nil, []string{"404"}},
	})
	// The key no longer works.
	r := s.Do("POST", "/v1/ad-requests", map[string]any{}, "X-Veil-App-Key", reg.AppKey)
	if r.Status != 401 {
		t.Fatalf("revoked key: %d", r.Status)
	}
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// verifiedRequest files a request through the API and verifies it with the
// mailed code.
func verifiedRequest(t *testing.T, s *veiltest.Suite, typ, email, details string) string {
	t.Helper()
	var out struct{ ID string }
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": typ, "subject": map[string]string{"email": email}, "details": details}), 202, &out)
	m := s.WaitMail(email, out.ID, 10*time.Second)
	code := sixDigits.FindStringSubmatch(m.Text)[1]
	s.Must(s.Do("POST", "/v1/requests/"+out.ID+"/verify", map[string]string{"code": code}), 200, nil)
	return out.ID
}

func TestOpsRequests(t *testing.T) {
	s := veiltest.Start(t, nil)
	c := newCLI(t, s)
	var unverified struct{ ID string }
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": "delete", "subject": map[string]string{"email": "spam@example.com"}}), 202, &unverified)
	complaint := verifiedRequest(t, s, "complaint", "li.lei@example.com", "The ads follow me everywhere.")

	var listed struct {
		Requests []struct{ ID, Status, Type string }
	}
	c.jsonOf(&listed, "requests", "list", "--type", "complaint")
	if len(listed.Requests) != 1 || listed.Requests[0].ID != complaint || listed.Requests[0].Status != "needs_review" {
		t.Fatalf("--type complaint listed %+v", listed.Requests)
	}
	c.checks([]check{
		{"list all", []string{"requests", "list"}, 0, []string{"ID", "TYPE", "STATUS", unverified.ID, complaint, "complaint", "l***@example.com"}, nil},
		{"list by status", []string{"requests", "list", "--status", "identity_unverified"}, 0, []string{unverified.ID}, nil},
		{"list by status and type, nothing", []string{"requests", "list", "--status", "identity_unverified", "--type", "copy"}, 0, nil, []string{"no requests match"}},
		{"list every page", []string{"requests", "list", "--all", "--limit", "1"}, 0, []string{unverified.ID, complaint}, nil},
		{"bad filter: the API's detail", []string{"requests", "list", "--status", "lost"}, 1, nil, []string{`unknown status "lost"`, "field status"}},
		{"show", []string{"requests", "show", complaint}, 0, []string{"status:", "needs_review", "The ads follow me everywhere.", "history:", "identity verified"}, nil},
		{"answer before review is a conflict", []string{"requests", "answer", unverified.ID, "--text", "x"}, 1, nil, []string{"409"}},
		{"approve the complaint", []string{"requests", "approve", complaint}, 0, []string{"in_progress", "ops:ops.tester"}, nil},
		{"answer it", []string{"requests", "answer", complaint, "--text", "We have turned personalization off for you."}, 0, []string{"completed", "We have turned personalization off"}, nil},
		{"refuse with a reason not in the policy", []string{"requests", "refuse", unverified.ID, "--reason", "too_busy"}, 1, nil, []string{"--reason must be one of", "abuse_of_rights"}},
		{"refuse", []string{"requests", "refuse", unverified.ID, "--reason", "abuse_of_rights", "--note", "sent 40 times today"}, 0, []string{"refused", "abuse_of_rights", "sent 40 times today"}, nil},
		{"show unknown", []string{"requests", "show", "00000000-0000-4000-8000-000000000000"}, 1, nil, []string{"404 no such request"}},
	})
	// The answer reached the person.
	s.WaitMail("li.lei@example.com", "We have turned personalization off for you.", 10*time.Second)
}

const incidentYAML = `# what ops write (docs/cli.md)
title: Misconfigured log bucket
what_happened: |
  A storage bucket with request logs was readable from the internet.
occurred_at: 2026-01-02T03:00:00Z
discovered_at: 2026-01-03
categories: [network_information, device_identifiers]
affected:
  subjects:
    - account:victim@example.com
impact: Your IP address and device identifier may have been seen.
measures: The bucket was closed within an hour of discovery.
advice: Reset your advertising identifier.
remedies: Contact us for help.
contact: privacy@veil.example
`

func TestOpsIncidents(t *testing.T) {
	s := veiltest.Start(t, nil)
	c := newCLI(t, s)
	dir := t.TempDir()
	good := filepath.Join(dir, "incident.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(good, []byte(incidentYAML), 0o600)
	os.WriteFile(bad, []byte("title: [unclosed\n"), 0o600)
	os.WriteFile(typo, []byte(strings.Replace(incidentYAML, "impact:", "impacts:", 1)), 0o600)

	r := c.ok("incidents", "declare", "-f", good)
	id := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(id, "inc-") {
		t.Fatalf("declared %q", r.stdout)
	}
	c.checks([]check{
		{"watch until every notice is out", []string{"incidents", "watch", id, "--interval", "50ms", "--timeout", "30s"}, 0,
			[]string{"incident:", id, "status:", "done", "targeted:", "sent:"}, []string{"[", "#", "100%"}},
		{"list", []string{"incidents", "list"}, 0, []string{id, "Misconfigured log bucket"}, nil},
		{"report", []string{"incidents", "report", id}, 0, []string{`"timeline"`, `"incident"`}, nil},
		{"YAML syntax error", []string{"incidents", "declare", "-f", bad}, 1, nil, []string{"bad.yaml: YAML"}},
		{"unknown field named by the API", []string{"incidents", "declare", "-f", typo}, 1, nil, []string{"impacts", "400"}},
		{"no file", []string{"incidents", "declare"}, 1, nil, []string{"-f incident.yaml is required"}},
		{"watch unknown", []string{"incidents", "watch", "inc-nope", "--interval", "50ms"}, 1, nil, []string{"404"}},
	})
	s.WaitMail("victim@example.com", "Misconfigured log bucket", 10*time.Second)

	// declare --watch from standard input, in one go.
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(strings.Replace(incidentYAML, "victim@", "second@", 1)),
		Getenv: func(k string) string { return c.env[k] }}
	if code := run(context.Background(), env, []string{"incidents", "declare", "-f", "-", "--watch", "--interval", "50ms"}); code != 0 {
		t.Fatalf("declare --watch: %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "done") || !strings.Contains(errb.String(), "declared inc-") {
		t.Fatalf("declare --watch output:\n%s\n%s", out.String(), errb.String())
	}
}

func TestOpsPolicies(t *testing.T) {
	s := veiltest.Start(t, nil)
	c := newCLI(t, s)
	// Someone to tell: an account holder known from a request.
	verifiedRequest(t, s, "access", "reader@example.com", "")
	file := filepath.Join(t.TempDir(), "policy.yaml")
	effective := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	os.WriteFile(file, []byte("version: \"2026.2\"\neffective_at: "+effective+"\nmaterial: true\nsummary: Ads data is kept for 90 days instead of 180.\nchanges:\n  - retention of ad records\n"), 0o600)
	c.checks([]check{
		{"publish with flags", []string{"policies", "publish", "--version", "2026.1", "--effective-at", time.Now().Add(72 * time.Hour).Format("2006-01-02"),
			"--summary", "Clearer wording.", "--change", "section 3 rewritten", "--change", "contact address"}, 0, []string{"version:", "2026.1", "material:  false"}, []string{"veil policies watch 2026.1"}},
		{"publish from YAML", []string{"policies", "publish", "-f", file}, 0, []string{"2026.2", "material:  true"}, nil},
		{"publish again is refused", []string{"policies", "publish", "-f", file}, 1, nil, []string{"400", "field effective_at"}},
		{"publish without a summary", []string{"policies", "publish", "--version", "x", "--effective-at", "2030-01-01"}, 1, nil, []string{"--summary are required"}},
		{"bad date", []string{"policies", "publish", "--version", "x", "--effective-at", "soon", "--summary", "s"}, 1, nil, []string{"neither RFC 3339"}},
		{"list", []string{"policies", "list"}, 0, []string{"VERSION", "2026.1", "2026.2", "Ads data is kept"}, nil},
		{"watch until everyone is told", []string{"policies", "watch", "2026.2", "--interval", "50ms", "--timeout", "30s"}, 0,
			[]string{"version:", "2026.2", "notices:", "done", "acknowledged:", "consented:"}, []string{"100%", "consented 0"}},
		{"watch --follow stops at its timeout", []string{"policies", "watch", "2026.1", "--follow", "--interval", "50ms", "--timeout", "300ms"}, 0,
			[]string{"2026.1", "acknowledged:"}, nil},
	})
	var p struct {
		Targeted, Notified int64
	}
	c.jsonOf(&p, "policies", "watch", "2026.2", "--interval", "50ms", "--timeout", "30s")
	if p.Targeted < 1 || p.Notified != p.Targeted {
		t.Fatalf("notices: %+v", p)
	}
}

func TestOpsHolds(t *testing.T) {
	s := veiltest.Start(t, nil)
	c := newCLI(t, s)
	var h struct{ ID, Reason string }
	c.jsonOf(&h, "holds", "place", "--subject", "account:held@example.com", "--reason", "litigation 2026-17", "--until", "2030-01-01")
	if h.ID == "" || h.Reason != "litigation 2026-17" {
		t.Fatalf("placed %+v", h)
	}
	c.checks([]check{
		{"place without a reason", []string{"holds", "place", "--subject", "account:x@example.com"}, 1, nil, []string{"reason", "400"}},
		{"list", []string{"holds", "list"}, 0, []string{h.ID, "litigation 2026-17", "ops:ops.tester", "active"}, nil},
		{"lift", []string{"holds", "lift", h.ID, "--reason", "settled"}, 0, []string{h.ID, "lifted", "settled"}, nil},
		{"lift twice", []string{"holds", "lift", h.ID, "--reason", "again"}, 1, nil, []string{"409", "already lifted"}},
		{"active list is empty", []string{"holds", "list"}, 0, nil, nil},
		{"lifted list", []string{"holds", "list", "--state", "lifted"}, 0, []string{h.ID, "settled"}, nil},
		{"bad state", []string{"holds", "list", "--state", "maybe"}, 1, nil, []string{"active, lifted or all"}},
	})
}

func TestOpsCease(t *testing.T) {
	s := veiltest.Start(t, nil)
	c := newCLI(t, s)
	c.checks([]check{
		{"status before", []string{"cease", "status"}, 0, []string{"ceased:", "false", "collecting:", "true"}, nil},
		{"without --yes nothing happens", []string{"cease", "--reason", "closing the business"}, 1, nil, []string{"add --yes"}},
		{"status still collecting", []string{"cease", "status"}, 0, []string{"collecting:", "true"}, nil},
		{"cease", []string{"cease", "--reason", "closing the business", "--yes"}, 0, []string{"ceased:", "true", "effective:"}, []string{"veil cease status"}},
		{"cease twice", []string{"cease", "--reason", "again", "--yes"}, 1, nil, []string{"409", "already cease"}},
		{"status after", []string{"cease", "status"}, 0, []string{"ceased:", "true", "closing the business", "remaining:"}, nil},
	})
}

func TestOpsDeadLetters(t *testing.T) {
	// A subscriber that always fails, so a schedule tick ends as a dead
	// letter after the suite's (fast) retries.
	failing := func(ctx context.Context, d functions.Deps) (*functions.Function, error) {
		return &functions.Function{Name: "flaky", Events: map[string]events.Handler{
			events.ScheduleTicked: func(context.Context, events.Event) error { return errors.New("flaky is down") },
		}}, nil
	}
	s := veiltest.Start(t, nil, suite.WithFunction(failing))
	c := newCLI(t, s)
	c.checks([]check{
		{"list, empty", []string{"dead-letters", "list"}, 0, []string{"ID", "SUBSCRIBER"}, []string{"no dead letters"}},
		{"redrive unknown", []string{"dead-letters", "redrive", "nope"}, 1, nil, []string{"404"}},
	})
	s.Must(s.Ops("POST", "/v1/schedules/flaky-job", nil), 202, nil)
	var dl struct {
		DeadLetters []struct{ ID, Subscriber string } `json:"dead_letters"`
	}
	s.Eventually(20*time.Second, "a dead letter", func() bool {
		c.jsonOf(&dl, "dead-letters", "list")
		for _, d := range dl.DeadLetters {
			if d.Subscriber == "flaky" {
				return true
			}
		}
		return false
	})
	id := ""
	for _, d := range dl.DeadLetters {
		if d.Subscriber == "flaky" {
			id = d.ID
		}
	}
	c.checks([]check{
		{"list", []string{"dead-letters", "list"}, 0, []string{id, "flaky", events.ScheduleTicked, "flaky is down"}, nil},
		{"redrive", []string{"dead-letters", "redrive", id}, 0, []string{"redriven " + id}, nil},
	})
}
