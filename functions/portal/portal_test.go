package portal_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/functions/policies"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// browser is a cookie-keeping client that does not follow redirects, so
// tests see each answer.
type browser struct {
	t    *testing.T
	s    *veiltest.Suite
	c    *http.Client
	lang string
}

func newBrowser(t *testing.T, s *veiltest.Suite, lang string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, s: s, lang: lang, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.s.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(raw)}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a page.
func (b *browser) csrf(p page) string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(p.Body)
	if m == nil {
		b.t.Fatalf("no csrf token on the page:\n%s", p.Body)
	}
	return m[1]
}

// post submits a form from the page at path with the page's token.
func (b *browser) post(from, path string, form url.Values) page {
	b.t.Helper()
	form.Set("csrf", b.csrf(b.get(from)))
	return b.do(http.MethodPost, path, form)
}

var codePattern = regexp.MustCompile(`\b(\d{6})\b`)

func mailedCode(t *testing.T, s *veiltest.Suite, to, requestID string) string {
	t.Helper()
	m := s.WaitMail(to, requestID, 10*time.Second)
	c := codePattern.FindStringSubmatch(m.Text)
	if c == nil {
		t.Fatalf("no code in mail:\n%s", m.Text)
	}
	return c[1]
}

func TestPagesCarrySecurityHeadersAndLanguage(t *testing.T) {
	s := veiltest.Start(t, nil)
	cases := []struct {
		name, path, lang string
		status           int
		htmlLang, text   string
	}{
		{"home defaults to Chinese", "/", "", 200, `lang="zh-CN"`, "您的个人信息权利"},
		{"home in English from Accept-Language", "/", "en-GB,en;q=0.8", 200, `lang="en"`, "Your personal information rights"},
		{"switch link overrides the browser", "/?lang=zh", "en-US", 200, `lang="zh-CN"`, "隐私中心"},
		{"request form", "/privacy/requests/new?type=copy", "en", 200, `lang="en"`, `<option value="copy" selected>`},
		{"consent page", "/privacy/consent", "en", 200, `lang="en"`, `name="purpose" value="location"`},
		{"policies with none published", "/privacy/policies", "en", 200, `lang="en"`, "No version has been published yet."},
		{"announcements with none", "/privacy/announcements", "zh", 200, `lang="zh-CN"`, "目前没有公告"},
		{"unknown request", "/privacy/requests/00000000-0000-4000-8000-000000000000", "en", 200, `lang="en"`, "This browser holds no pass"},
		{"malformed request id", "/privacy/requests/nope", "en", 404, `lang="en"`, "does not exist"},
		{"unknown page", "/privacy/nothing/here", "en", 404, `lang="en"`, "does not exist"},
		{"unknown announcement", "/privacy/announcements/inc-x", "en", 404, `lang="en"`, "does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newBrowser(t, s, c.lang).get(c.path)
			if p.Status != c.status {
				t.Fatalf("status %d, want %d:\n%s", p.Status, c.status, p.Body)
			}
			if !strings.Contains(p.Body, c.htmlLang) || !strings.Contains(p.Body, c.text) {
				t.Fatalf("page lacks %q or %q:\n%s", c.htmlLang, c.text, p.Body)
			}
			for h, want := range map[string]string{
				"Content-Security-Policy": "default-src 'none'; script-src 'self'",
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           "no-store",
				"Content-Type":            "text/html; charset=utf-8",
			} {
				if !strings.Contains(p.Header.Get(h), want) {
					t.Errorf("%s = %q, want %q", h, p.Header.Get(h), want)
				}
			}
			for _, bad := range []string{"<script>", " style=", "onclick", "onload"} {
				if strings.Contains(p.Body, bad) {
					t.Errorf("inline script or style %q on the page (the CSP would block it)", bad)
				}
			}
		})
	}
}

func TestStaticAssets(t *testing.T) {
	s := veiltest.Start(t, nil)
	b := newBrowser(t, s, "en")
	home := b.get("/")
	for _, c := range []struct{ name, ctype string }{{"portal.js", "text/javascript"}, {"portal.css", "text/css"}} {
		m := regexp.MustCompile(`/privacy/static/` + regexp.QuoteMeta(c.name) + `\?v=[0-9a-f]+`).FindString(home.Body)
		if m == "" {
			t.Fatalf("page does not link %s", c.name)
		}
		p := b.get(m)
		if p.Status != 200 || !strings.HasPrefix(p.Header.Get("Content-Type"), c.ctype) || len(p.Body) < 100 {
			t.Fatalf("%s: %d %q (%d bytes)", m, p.Status, p.Header.Get("Content-Type"), len(p.Body))
		}
	}
	if p := b.get("/privacy/static/missing.js"); p.Status != 404 {
		t.Fatalf("missing asset: %d", p.Status)
	}
}

func TestFormsNeedTheCSRFToken(t *testing.T) {
	s := veiltest.Start(t, nil)
	form := url.Values{"type": {"copy"}, "email": {"csrf@example.com"}}
	cases := []struct {
		name  string
		token func(b *browser) string
		site  string
	}{
		{"no token", func(*browser) string { return "" }, ""},
		{"forged token", func(*browser) string { return strings.Repeat("a", 64) }, ""},
		{"token of another browser", func(*browser) string {
			return newBrowser(t, s, "en").csrf(newBrowser(t, s, "en").get("/privacy/requests/new"))
		}, ""},
		{"cross-site post with a valid token", func(b *browser) string { return b.csrf(b.get("/privacy/requests/new")) }, "cross-site"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBrowser(t, s, "en")
			b.get("/") // the cookie
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			f.Set("csrf", c.token(b))
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/privacy/requests", strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if c.site != "" {
				req.Header.Set("Sec-Fetch-Site", c.site)
			}
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
		})
	}
	if n := len(s.MailsTo("csrf@example.com")); n != 0 {
		t.Fatalf("%d mails sent for refused forms", n)
	}
}

func TestRequestFormErrorsKeepTheInput(t *testing.T) {
	s := veiltest.Start(t, nil)
	cases := []struct {
		name   string
		form   url.Values
		status int
		field  string
	}{
		{"bad email", url.Values{"type": {"copy"}, "email": {"not-an-address"}, "details": {"kept text"}}, 400, "email"},
		{"unknown type", url.Values{"type": {"everything"}, "email": {"a@example.com"}}, 400, "type"},
		{"correction without content", url.Values{"type": {"correct"}, "email": {"a@example.com"}}, 400, "corrections"},
		{"correction line without colon", url.Values{"type": {"correct"}, "email": {"a@example.com"}, "corrections": {"just words"}}, 400, "corrections"},
		{"portability without endpoint", url.Values{"type": {"portability"}, "email": {"a@example.com"}}, 400, "deliver_to"},
		{"withdrawal without a purpose", url.Values{"type": {"withdraw_consent"}, "email": {"a@example.com"}, "from": {"consent"}}, 400, "purpose"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBrowser(t, s, "en")
			p := b.post("/privacy/requests/new", "/privacy/requests", c.form)
			if p.Status != c.status {
				t.Fatalf("status %d, want %d:\n%s", p.Status, c.status, p.Body)
			}
			if !strings.Contains(p.Body, `id="e-`+c.field+`"`) || !strings.Contains(p.Body, `href="#f-`+c.field+`"`) {
				t.Fatalf("no error on field %s:\n%s", c.field, p.Body)
			}
			if d := c.form.Get("details"); d != "" && !strings.Contains(p.Body, d) {
				t.Fatalf("the details typed were lost")
			}
		})
	}
}

// TestRequestFlow goes through the portal as a person would: submit, the
// code from the mail, status with the due date; and the mail's link.
func TestRequestFlow(t *testing.T) {
	s := veiltest.Start(t, nil)
	b := newBrowser(t, s, "en")
	email := "flow@example.com"
	p := b.post("/privacy/requests/new?type=copy", "/privacy/requests", url.Values{"type": {"copy"}, "email": {email}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", p.Status, p.Body)
	}
	loc := p.Header.Get("Location")
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/privacy/requests/"), "?new=1")
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) {
		t.Fatalf("redirect to %q", loc)
	}
	p = b.get(loc)
	for _, want := range []string{`data-status="identity_unverified"`, `id="verify-form"`, `id="private-link"`, "sent a code"} {
		if !strings.Contains(p.Body, want) {
			t.Fatalf("status page lacks %q:\n%s", want, p.Body)
		}
	}
	private := regexp.MustCompile(`id="private-link">([^<]+)<`).FindStringSubmatch(p.Body)[1]
	m := s.WaitMail(email, id, 10*time.Second)
	if !strings.Contains(m.Subject, "verification code") {
		t.Fatalf("the mail is not in the page's language: %q", m.Subject)
	}
	code := mailedCode(t, s, email, id)

	// A wrong code first: the page says so, on the field.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	p = b.post(loc, "/privacy/requests/"+id+"/verify", url.Values{"code": {wrong}})
	if p.Status != 400 || !strings.Contains(p.Body, `id="e-code"`) || !strings.Contains(p.Body, "attempts left") {
		t.Fatalf("wrong code: %d\n%s", p.Status, p.Body)
	}
	p = b.post(loc, "/privacy/requests/"+id+"/verify", url.Values{"code": {code}})
	if p.Status != http.StatusSeeOther || !strings.HasSuffix(p.Header.Get("Location"), "?verified=1") {
		t.Fatalf("verify: %d %s\n%s", p.Status, p.Header.Get("Location"), p.Body)
	}
	p = b.get(p.Header.Get("Location"))
	st := regexp.MustCompile(`data-status="([a-z_]+)"`).FindStringSubmatch(p.Body)
	if st == nil || st[1] == string(privacy.StatusUnverified) {
		t.Fatalf("status after verifying: %v\n%s", st, p.Body)
	}
	if !regexp.MustCompile(`id="due-date"><time datetime="\d{4}-\d\d-\d\dT`).MatchString(p.Body) {
		t.Fatalf("no due date:\n%s", p.Body)
	}
	if strings.Contains(p.Body, `id="verify-form"`) {
		t.Fatalf("the code form is still offered after verification")
	}

	// Another browser: nothing without the token; the private link opens
	// it; the mail's /requests/{id} address leads to the page.
	other := newBrowser(t, s, "en")
	if p := other.get("/privacy/requests/" + id); strings.Contains(p.Body, "request-status") {
		t.Fatalf("status shown without the token")
	}
	u, _ := url.Parse(private)
	if p := other.get(u.RequestURI()); !strings.Contains(p.Body, `id="request-status"`) {
		t.Fatalf("the private link does not open the request:\n%s", p.Body)
	}
	if p := other.get("/privacy/requests/" + id); !strings.Contains(p.Body, `id="request-status"`) {
		t.Fatalf("the token from the link was not kept")
	}
	if p := other.get("/requests/" + id + "?token=abc%20def"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/privacy/requests/"+id {
		t.Fatalf("mail link: %d %q", p.Status, p.Header.Get("Location"))
	}
}

// TestVerifyFromTheMailOnly: a person who opens the mail's link in
// another browser enters the code there and sees the due date.
func TestVerifyFromTheMailOnly(t *testing.T) {
	s := veiltest.Start(t, nil)
	var out struct{ ID string }
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": "delete", "subject": map[string]string{"email": "mail@example.com"}}), 202, &out)
	code := mailedCode(t, s, "mail@example.com", out.ID)
	b := newBrowser(t, s, "zh-CN")
	p := b.post("/privacy/requests/"+out.ID, "/privacy/requests/"+out.ID+"/verify", url.Values{"code": {code}})
	if p.Status != 200 || !strings.Contains(p.Body, "身份已核实") || !strings.Contains(p.Body, `id="due-date"><time`) {
		t.Fatalf("verify without a token: %d\n%s", p.Status, p.Body)
	}
	// Resending is refused now: nothing is left to verify.
	p = b.post("/privacy/requests/"+out.ID, "/privacy/requests/"+out.ID+"/resend", url.Values{})
	if p.Status != http.StatusConflict {
		t.Fatalf("resend after verification: %d", p.Status)
	}
}

func TestResend(t *testing.T) {
	s := veiltest.Start(t, nil)
	var out struct{ ID string }
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": "access", "subject": map[string]string{"email": "again@example.com"}}), 202, &out)
	b := newBrowser(t, s, "en")
	// The first code was sent a moment ago: the API's minute between codes
	// shows as a rate limit on the page.
	p := b.post("/privacy/requests/"+out.ID, "/privacy/requests/"+out.ID+"/resend", url.Values{})
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, "Too many attempts") {
		t.Fatalf("early resend: %d\n%s", p.Status, p.Body)
	}
}

func TestWithdrawConsentFromTheConsentPage(t *testing.T) {
	s := veiltest.Start(t, nil)
	b := newBrowser(t, s, "en")
	p := b.post("/privacy/consent", "/privacy/requests", url.Values{"type": {"withdraw_consent"}, "from": {"consent"},
		"email": {"consent@example.com"}, "purpose": {"location", "personalized_ads", "bogus"}, "details": {"no more tracking"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("withdrawal: %d\n%s", p.Status, p.Body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(p.Header.Get("Location"), "/privacy/requests/"), "?new=1")
	var req struct {
		Type    string `json:"type"`
		Details string `json:"details"`
	}
	s.Must(s.Ops("GET", "/v1/requests/"+id, nil), 200, &req)
	got := privacy.WithdrawalPurposes(req.Details)
	if req.Type != "withdraw_consent" || len(got) != 2 || !strings.Contains(req.Details, "no more tracking") {
		t.Fatalf("filed %s with purposes %v from %q", req.Type, got, req.Details)
	}
}

func TestPoliciesAndAcknowledgement(t *testing.T) {
	s := veiltest.Start(t, nil)
	now := time.Now().UTC()
	for _, v := range []map[string]any{
		{"version": "2025.1", "effective_at": now.Add(time.Hour), "summary": "First version.", "changes": []string{"everything"}},
		{"version": "2025.2", "effective_at": now.Add(48 * time.Hour), "material": true, "summary": "Second.", "changes": []string{"shorter retention"}},
	} {
		s.Must(s.Ops("POST", "/v1/policies", v), 201, nil)
	}
	b := newBrowser(t, s, "en")
	p := b.get("/privacy/policies")
	for _, want := range []string{"Coming into force", "Version 2025.2", "shorter retention", "reduces some of your rights"} {
		if !strings.Contains(p.Body, want) {
			t.Fatalf("policies page lacks %q:\n%s", want, p.Body)
		}
	}
	acct, _ := privacy.AccountSubject("reader@example.com")
	sk := s.Deps.Keys.SubjectKey(acct)
	tok := policies.Token(s.Deps, "2025.2", sk)
	cases := []struct {
		name, token, action string
		status              int
		want                string
	}{
		{"forged token", "x." + strings.Repeat("0", 32), "consent", 401, "not valid"},
		{"signed link, consent", tok, "consent", 200, "recorded your consent to version 2025.2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/privacy/policies/2025.2?token=" + url.QueryEscape(c.token) + "&action=" + c.action
			if p := b.get(path); !strings.Contains(p.Body, `id="answer-form"`) {
				t.Fatalf("no answer form:\n%s", p.Body)
			}
			p := b.post(path, "/privacy/policies/2025.2", url.Values{"token": {c.token}, "action": {c.action}})
			if p.Status != c.status || !strings.Contains(p.Body, c.want) {
				t.Fatalf("answer: %d\n%s", p.Status, p.Body)
			}
		})
	}
	var v struct{ Consented int64 }
	s.Must(s.Ops("GET", "/v1/policies/2025.2", nil), 200, &v)
	if v.Consented != 1 {
		t.Fatalf("consented = %d", v.Consented)
	}
	if p := b.get("/privacy/policies/9.9"); p.Status != 404 {
		t.Fatalf("unknown version: %d", p.Status)
	}
}

// TestPortalDeployedAlone: on Knative the portal is its own service
// (VEIL_FUNCTIONS=portal) and still files, mails and verifies, because it
// runs the API's handlers in-process.
func TestPortalDeployedAlone(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_FUNCTIONS": "portal"})
	if r := s.Do("POST", "/v1/requests", map[string]any{}); r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("the requests API is served here: %d", r.Status)
	}
	b := newBrowser(t, s, "en")
	p := b.post("/privacy/requests/new", "/privacy/requests", url.Values{"type": {"access"}, "email": {"alone@example.com"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", p.Status, p.Body)
	}
	loc := p.Header.Get("Location")
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/privacy/requests/"), "?new=1")
	code := mailedCode(t, s, "alone@example.com", id)
	p = b.post(loc, "/privacy/requests/"+id+"/verify", url.Values{"code": {code}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("verify: %d\n%s", p.Status, p.Body)
	}
	if p = b.get(p.Header.Get("Location")); !strings.Contains(p.Body, `data-status="verified"`) {
		t.Fatalf("status:\n%s", p.Body)
	}
}
