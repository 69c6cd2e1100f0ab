package reliability

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// publicRoutes are the routes that answer without the ops token, each
// with the reason it may and the credential it checks instead. Every other
// route must answer 401 to a caller without the ops token (or the
// route's own credential), whatever the method. An entry here is a
// decision; a new route is ops-only until someone adds it with a reason.
func publicRoutes() map[string]string {
	return map[string]string{
		"GET /healthz": "liveness probe, no data",
		"GET /readyz":  "readiness probe, no data",
		"GET /version": "build version, no data",

		"POST /v1/ad-requests":                    "the SDK: app key (checked in TestAppKey)",
		"POST /v1/requests":                       "anyone may ask; identity is proved by the mailed code or the app key",
		"GET /v1/requests/{id}":                   "the request's own token (checked in TestRequestTokenIsBoundToItsRequest)",
		"POST /v1/requests/{id}/verify":           "the mailed code (checked in TestCodeBruteForceLocks)",
		"POST /v1/requests/{id}/resend":           "mails only the address on file, a few times",
		"GET /v1/downloads/{key...}":              "signed expiring link (checked in TestDownloadPathTraversal)",
		"GET /v1/policies":                        "the published privacy policy is public",
		"GET /v1/policies/{version}":              "the published privacy policy is public",
		"POST /v1/policies/{version}/acknowledge": "the person's own answer token from the notice",
		"POST /v1/policies/{version}/consent":     "the person's own answer token from the notice",
		"GET /v1/announcements":                   "incident announcements are public by law (R21)",
		"GET /v1/announcements/{id}":              "incident announcements are public by law (R21)",

		"GET /{$}":                               "privacy center page",
		"GET /privacy":                           "privacy center page",
		"GET /privacy/{$}":                       "privacy center page",
		"GET /privacy/static/{name}":             "privacy center assets",
		"GET /privacy/requests/new":              "privacy center form",
		"POST /privacy/requests":                 "privacy center form: CSRF token",
		"GET /privacy/requests/{id}":             "privacy center: the request's token",
		"POST /privacy/requests/{id}/verify":     "privacy center: CSRF token and the mailed code",
		"POST /privacy/requests/{id}/resend":     "privacy center: CSRF token",
		"GET /requests/{id}":                     "link in the mail: redirects to the privacy center",
		"GET /privacy/consent":                   "privacy center page",
		"GET /privacy/policies":                  "privacy center page",
		"GET /privacy/policies/{version}":        "privacy center page",
		"POST /privacy/policies/{version}":       "privacy center: CSRF token and the answer token",
		"GET /privacy/announcements":             "privacy center page",
		"GET /privacy/announcements/{id}":        "privacy center page",
		"GET /privacy/{rest...}":                 "privacy center: not found page",
		"POST /privacy/requests/{id}/{action}":   "privacy center: not found page",
		"POST /privacy/policies/{version}/{any}": "privacy center: not found page",
	}
}

// TestOpsRoutesRefuseCallersWithoutTheToken sends every route of the
// suite without credentials, with a wrong bearer token and with the ops
// token off by one character. Routes not in publicRoutes must answer 401
// problem+json every time; public ones must never answer 2xx to a write,
// nor 5xx to anything. Nothing may be stored by any of it.
func TestOpsRoutesRefuseCallersWithoutTheToken(t *testing.T) {
	s := veiltest.Start(t, nil)
	all := routes(s.Suite)
	public := publicRoutes()
	for p := range public {
		if _, ok := all[p]; !ok {
			t.Errorf("publicRoutes lists %q, which the suite does not serve: remove it", p)
		}
	}
	s.Idle(10 * time.Second)
	before := counts(t, s.Suite)
	nearMiss := veiltest.OpsToken[:len(veiltest.OpsToken)-1] + "X"
	creds := []struct{ name, header string }{
		{"no credentials", ""},
		{"wrong token", "Bearer " + strings.Repeat("w", len(veiltest.OpsToken))},
		{"ops token off by one", "Bearer " + nearMiss},
		{"ops token as Basic", "Basic " + veiltest.OpsToken},
	}
	for _, pattern := range sortedKeys(all) {
		method, path := fill(t, pattern)
		_, isPublic := public[pattern]
		for _, c := range creds {
			var h []string
			if c.header != "" {
				h = []string{"Authorization", c.header}
			}
			var body any
			if method == "POST" || method == "PUT" {
				body = `{}`
			}
			r := s.Do(method, path, body, h...)
			switch {
			case !isPublic && (r.Status != 401 || r.Header.Get("Content-Type") != "application/problem+json"):
				t.Errorf("%s (%s) with %s: %d %s, want 401 problem", pattern, all[pattern], c.name, r.Status, r.Header.Get("Content-Type"))
			case isPublic && r.Status >= 500:
				t.Errorf("%s with %s: %d %s", pattern, c.name, r.Status, r.Body)
			case isPublic && method != "GET" && r.Status < 300:
				t.Errorf("public %s accepted an empty write with %s: %d", pattern, c.name, r.Status)
			}
		}
	}
	s.Idle(10 * time.Second)
	if d := countDiff(before, counts(t, s.Suite)); d != "" {
		t.Errorf("refused calls left data behind: %s", d)
	}
}

// TestAppKey: the SDK's and developers' calls need a live app key; a
// missing, wrong or revoked one is refused and stores nothing.
func TestAppKey(t *testing.T) {
	s := veiltest.Start(t, nil)
	_, key := app(s, "Keyed")
	oldID, oldKey := app(s, "Revoked")
	s.Must(s.Ops("POST", "/v1/apps/"+oldID+"/revoke", nil), 200, nil)
	s.Must(s.Do("POST", "/v1/ad-requests", adRequest("keyed-1", true), "X-Veil-App-Key", key), 200, nil)
	s.Idle(10 * time.Second)
	before := counts(t, s.Suite)
	cases := []struct {
		name, method, path string
		body               any
		key                string
		status             int
	}{
		{"ingest without key", "POST", "/v1/ad-requests", adRequest("keyed-2", true), "", 401},
		{"ingest with wrong key", "POST", "/v1/ad-requests", adRequest("keyed-2", true), "vk_" + strings.Repeat("A", 43), 401},
		{"ingest with key off by one", "POST", "/v1/ad-requests", adRequest("keyed-2", true), offByOne(key), 401},
		{"ingest with ops token as key", "POST", "/v1/ad-requests", adRequest("keyed-2", true), veiltest.OpsToken, 401},
		{"ingest with a revoked app's key", "POST", "/v1/ad-requests", adRequest("keyed-2", true), oldKey, 401},
		{"attested request with wrong key", "POST", "/v1/requests", map[string]any{"type": "delete", "subject": map[string]string{"device": "device:oaid:keyed-1"}},
			"vk_" + strings.Repeat("B", 43), 401},
		{"consent with wrong key", "PUT", "/v1/consents/device:oaid:keyed-1", map[string]any{"purposes": map[string]bool{"personalized_ads": false}},
			"vk_" + strings.Repeat("C", 43), 401},
		{"consent without key", "PUT", "/v1/consents/device:oaid:keyed-1", map[string]any{"purposes": map[string]bool{"personalized_ads": false}}, "", 401},
		{"consent of an account with an app key", "PUT", "/v1/consents/account:a@example.com", map[string]any{"purposes": map[string]bool{"personalized_ads": false}}, key, 403},
		{"attested request for an account", "POST", "/v1/requests", map[string]any{"type": "delete", "subject": map[string]string{"email": "a@example.com"}}, key, 400},
	}
	for _, c := range cases {
		var h []string
		if c.key != "" {
			h = []string{"X-Veil-App-Key", c.key}
		}
		if r := s.Do(c.method, c.path, c.body, h...); r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.status)
		}
	}
	s.Idle(10 * time.Second)
	if d := countDiff(before, counts(t, s.Suite)); d != "" {
		t.Errorf("refused calls left data behind: %s", d)
	}
}

// offByOne changes a key's last character to another one (replacing it
// with a fixed letter gave the key itself back whenever it ended in that
// letter: one run in 64).
func offByOne(key string) string {
	last := key[len(key)-1]
	next := byte('A')
	if last == next {
		next = 'B'
	}
	return key[:len(key)-1] + string(next)
}

// TestOversizedBodiesAreRefused sends a body larger than any limit to
// every route that takes one, with the credentials that get it past
// authentication, and wants 413 with nothing stored.
func TestOversizedBodiesAreRefused(t *testing.T) {
	s := veiltest.Start(t, nil)
	_, key := app(s, "Big")
	s.Idle(10 * time.Second)
	before := counts(t, s.Suite)
	// Routes that read no body: an oversized one is ignored, not parsed.
	noBody := map[string]string{
		"POST /v1/apps/{id}/revoke":              "acts on the path only",
		"POST /v1/partners/{id}/revoke":          "acts on the path only",
		"POST /v1/partners/erasures/{id}/ack":    "acts on the path only",
		"POST /v1/dead-letters/{id}/redrive":     "acts on the path only",
		"POST /v1/schedules/{job}":               "acts on the path only",
		"POST /v1/retention/sweep":               "acts on the path only",
		"POST /v1/letters/{id}/posted":           "acts on the path only",
		"POST /v1/requests/{id}/resend":          "acts on the path only",
		"POST /privacy/requests/{id}/{action}":   "not-found page",
		"POST /privacy/policies/{version}/{any}": "not-found page",
	}
	json2M := `{"details":"` + strings.Repeat("x", 2<<20) + `"}`
	client := &http.Client{Timeout: 60 * time.Second}
	for _, pattern := range sortedKeys(routes(s.Suite)) {
		method, path := fill(t, pattern)
		if method != "POST" && method != "PUT" {
			continue
		}
		if _, ok := noBody[pattern]; ok {
			continue
		}
		body, ctype := json2M, "application/json"
		switch {
		case pattern == "POST /v1/inbound-email":
			body, ctype = "From: a@example.com\r\nSubject: x\r\n\r\n"+strings.Repeat("x", 11<<20), "message/rfc822"
		case strings.HasPrefix(path, "/privacy/"):
			body, ctype = "details="+strings.Repeat("x", 2<<20), "application/x-www-form-urlencoded"
		}
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+veiltest.OpsToken)
		req.Header.Set("X-Veil-App-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", pattern, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with a %d-byte body: %d, want 413", pattern, len(body), resp.StatusCode)
		}
	}
	// A CloudEvent is a body too.
	big := `{"job":"` + strings.Repeat("x", 2<<20) + `"}`
	if r := s.Do("POST", "/", big, "Ce-Specversion", "1.0", "Ce-Id", "big-1", "Ce-Type", "com.veil.schedule.ticked.v1",
		"Ce-Source", "/attack", "Content-Type", "application/json"); r.Status != 413 {
		t.Errorf("oversized CloudEvent: %d", r.Status)
	}
	s.Idle(10 * time.Second)
	if d := countDiff(before, counts(t, s.Suite)); d != "" {
		t.Errorf("oversized bodies left data behind: %s", d)
	}
}

// requestCode is the verification code in the newest mail to addr.
func requestCode(t *testing.T, s *veiltest.Suite, addr string) string {
	t.Helper()
	var code string
	s.Eventually(10*time.Second, "a code mailed to "+addr, func() bool {
		ms := s.MailsTo(addr)
		for i := len(ms) - 1; i >= 0; i-- {
			if m := codeInMail.FindStringSubmatch(ms[i].Text); m != nil {
				code = m[1]
				return true
			}
		}
		return false
	})
	return code
}

// codeInMail finds the six-digit code on a line of its own, as the
// verification notices print it.
var codeInMail = regexp.MustCompile(`(?m)^\s*(\d{6})\s*$`)

type filedRequest struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Token  string `json:"token"`
}

func file(s *veiltest.Suite, typ, email string) filedRequest {
	s.T.Helper()
	var f filedRequest
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": typ, "subject": map[string]string{"email": email}}), 202, &f)
	return f
}

func opsStatus(s *veiltest.Suite, id string) string {
	s.T.Helper()
	var v struct {
		Status string `json:"status"`
	}
	s.Must(s.Ops("GET", "/v1/requests/"+id, nil), 200, &v)
	return v.Status
}

// TestRequestTokenIsBoundToItsRequest: one requester's token and code
// open nothing of another's, and the refusal looks exactly like the one
// for a request that does not exist (no existence oracle).
func TestRequestTokenIsBoundToItsRequest(t *testing.T) {
	s := veiltest.Start(t, nil)
	a := file(s, "access", "alice@example.com")
	b := file(s, "access", "bob@example.com")
	bobCode := requestCode(t, s, "bob@example.com")
	unknown := "0f8fad5b-d9cb-469f-a165-70867728950e"
	cases := []struct {
		name, path string
		headers    []string
		status     int
	}{
		{"own token", "/v1/requests/" + a.ID + "?token=" + url.QueryEscape(a.Token), nil, 200},
		{"other's token in the query", "/v1/requests/" + a.ID + "?token=" + url.QueryEscape(b.Token), nil, 404},
		{"other's token in the header", "/v1/requests/" + a.ID, []string{"X-Veil-Request-Token", b.Token}, 404},
		{"own token altered", "/v1/requests/" + a.ID + "?token=" + url.QueryEscape(offByOne(a.Token)), nil, 404},
		{"no token", "/v1/requests/" + a.ID, nil, 404},
		{"token as bearer", "/v1/requests/" + a.ID, []string{"Authorization", "Bearer " + a.Token}, 404},
		{"unknown request", "/v1/requests/" + unknown + "?token=" + url.QueryEscape(a.Token), nil, 404},
	}
	var refusals []string
	for _, c := range cases {
		r := s.Do("GET", c.path, nil, c.headers...)
		if r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.status)
		}
		if r.Status == 404 {
			var p struct{ Code, Detail string }
			r.Decode(t, &p)
			refusals = append(refusals, p.Code+"|"+p.Detail)
		}
	}
	for _, x := range refusals[1:] {
		if x != refusals[0] {
			t.Errorf("refusals differ (%q vs %q): they tell whether a request exists", refusals[0], x)
		}
	}
	// Bob's code does not verify Alice's request, and costs her an attempt
	// only: it stays unverified.
	if r := s.Do("POST", "/v1/requests/"+a.ID+"/verify", map[string]string{"code": bobCode}); r.Status != 400 {
		t.Errorf("another request's code: %d %s", r.Status, r.Body)
	}
	if st := opsStatus(s, a.ID); st != "identity_unverified" {
		t.Errorf("alice's request is %s after bob's code", st)
	}
	s.Must(s.Do("POST", "/v1/requests/"+b.ID+"/verify", map[string]string{"code": bobCode}), 200, nil)
}

// TestCodeBruteForceLocks: five wrong codes lock the request, after which
// even the right code fails; guesses sent all at once are counted one by
// one (no race past the limit).
func TestCodeBruteForceLocks(t *testing.T) {
	s := veiltest.Start(t, nil)
	wrong := func(code string, n int) string { return fmt.Sprintf("%06d", (mustAtoi(t, code)+n)%1000000) }

	t.Run("sequential", func(t *testing.T) {
		f := file(s, "delete", "carol@example.com")
		code := requestCode(t, s, "carol@example.com")
		for i := 1; i <= 5; i++ {
			want := 400
			if i == 5 {
				want = 429
			}
			if r := s.Do("POST", "/v1/requests/"+f.ID+"/verify", map[string]string{"code": wrong(code, i)}); r.Status != want {
				t.Errorf("wrong code %d: %d %s, want %d", i, r.Status, r.Body, want)
			}
		}
		if r := s.Do("POST", "/v1/requests/"+f.ID+"/verify", map[string]string{"code": code}); r.Status != 429 {
			t.Errorf("right code after the lock: %d %s", r.Status, r.Body)
		}
		if st := opsStatus(s, f.ID); st != "identity_unverified" {
			t.Errorf("locked request is %s", st)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		f := file(s, "delete", "dave@example.com")
		code := requestCode(t, s, "dave@example.com")
		var wg sync.WaitGroup
		statuses := make([]int, 20)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = s.Do("POST", "/v1/requests/"+f.ID+"/verify", map[string]string{"code": wrong(code, i+1)}).Status
			}()
		}
		wg.Wait()
		counted, locked := 0, false
		for _, st := range statuses {
			switch st {
			case 400:
				counted++
			case 429:
				locked = true
			case 409, 503:
			default:
				t.Errorf("concurrent guess answered %d", st)
			}
		}
		if counted > 4 {
			t.Errorf("%d of 20 concurrent wrong guesses were answered as ordinary misses; the limit is 5 attempts", counted)
		}
		// A guess refused as 503 (the store too busy: Firestore's
		// emulator times out transactions queued on one document) was
		// never checked, so the lock may not be reached yet: further
		// wrong guesses, one at a time, must reach it within the attempts
		// left.
		for i := 0; !locked; i++ {
			st := s.Do("POST", "/v1/requests/"+f.ID+"/verify", map[string]string{"code": wrong(code, 21+i)}).Status
			switch {
			case st == 429:
				locked = true
			case st != 400 || counted+i+1 >= 5:
				t.Fatalf("wrong guess %d after %d counted ones answered %d; the request should be locked by the 5th", i+1, counted, st)
			}
		}
		if r := s.Do("POST", "/v1/requests/"+f.ID+"/verify", map[string]string{"code": code}); r.Status != 429 {
			t.Errorf("right code after concurrent guesses: %d %s", r.Status, r.Body)
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rawGet sends path byte for byte (no client-side cleaning of dot
// segments or escapes) and returns the status and body.
func rawGet(t *testing.T, base, path string) (int, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// TestDownloadPathTraversal: the download route serves signed bundles
// under exports/ and nothing else — no dot segments, encoded or not, and
// no signature moved from one key to another.
func TestDownloadPathTraversal(t *testing.T) {
	s := veiltest.Start(t, nil)
	if _, ok := s.Deps.Blobs.(*blob.Dir); !ok {
		t.Skip("links to S3 are presigned and served by S3, not by Veil")
	}
	_, key := app(s, "Traversal")
	s.Must(s.Do("POST", "/v1/ad-requests", adRequest("traversal-1", true), "X-Veil-App-Key", key), 200, nil)
	var f filedRequest
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": "copy", "subject": map[string]string{"device": "device:oaid:traversal-1"}},
		"X-Veil-App-Key", key), 202, &f)
	var link string
	s.Eventually(30*time.Second, "the copy's download link", func() bool {
		var v struct {
			DownloadURL string `json:"download_url"`
		}
		s.Must(s.Ops("GET", "/v1/requests/"+f.ID, nil), 200, &v)
		link = v.DownloadURL
		return link != ""
	})
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := rawGet(t, s.URL, u.RequestURI()); st != 200 {
		t.Fatalf("the genuine link answers %d", st)
	}
	signed := "?" + u.RawQuery
	secrets := []string{"SQLite format 3"}
	for _, name := range []string{"master.key", "ops-token"} {
		if b, err := os.ReadFile(filepath.Join(s.Data, name)); err == nil {
			secrets = append(secrets, strings.TrimSpace(string(b)))
		}
	}
	for _, p := range []string{
		"/v1/downloads/../veil.db",
		"/v1/downloads/exports/../../veil.db" + signed,
		"/v1/downloads/exports/..%2f..%2fveil.db" + signed,
		"/v1/downloads/exports/%2e%2e/%2e%2e/veil.db" + signed,
		"/v1/downloads/exports%2f..%2f..%2fkeyring.db" + signed,
		"/v1/downloads/exports/..%5c..%5cveil.db" + signed,
		"/v1/downloads//etc/passwd",
		"/v1/downloads/exports/../../master.key" + signed,
		"/v1/downloads/" + strings.TrimPrefix(u.Path, "/v1/downloads/") + "%00.db" + signed,
		"/v1/downloads/exports/.." + signed,
		"/v1/downloads/../../../../../../etc/passwd",
	} {
		st, body := rawGet(t, s.URL, p)
		if st == 200 {
			t.Errorf("GET %s answered 200", p)
		}
		for _, x := range secrets {
			if x != "" && strings.Contains(body, x) {
				t.Errorf("GET %s leaked a file of the data directory", p)
			}
		}
		if strings.Contains(body, "root:") {
			t.Errorf("GET %s leaked /etc/passwd", p)
		}
	}
}

// allowedHeaders are the only header names Veil's mail carries; a header
// injected through a field would show up as another one.
func allowedHeader(name string) bool {
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type", "Content-Transfer-Encoding":
		return true
	}
	return strings.HasPrefix(textproto.CanonicalMIMEHeaderKey(name), "X-Veil-")
}

// TestMailHeaderInjection: line breaks in the fields that reach mail
// headers — the requester's address, corrections, an inbound mail's
// display name and subject — are refused or neutralised; no outbox file
// ever carries a header the attacker chose.
func TestMailHeaderInjection(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_INBOUND_TOKEN": strings.Repeat("i", 40)})
	s.Idle(10 * time.Second)
	before := counts(t, s.Suite)
	for _, email := range []string{
		"mallory@example.com\r\nBcc: victim@example.com",
		"mallory@example.com\nBcc: victim@example.com",
		"Mallory\r\nBcc: victim@example.com <mallory@example.com>",
		"mallory@example.com\rBcc: victim@example.com",
		"\"mallory\r\nBcc: victim@example.com\"@example.com",
	} {
		if r := s.Do("POST", "/v1/requests", map[string]any{"type": "access", "subject": map[string]string{"email": email}}); r.Status != 400 {
			t.Errorf("address %q: %d %s", email, r.Status, r.Body)
		}
	}
	if r := s.Do("POST", "/v1/requests", map[string]any{"type": "correct", "subject": map[string]string{"email": "m@example.com"},
		"corrections": map[string]string{"name\r\nBcc: victim@example.com": "x"}}); r.Status != 400 {
		t.Errorf("correction name with CRLF: %d %s", r.Status, r.Body)
	}
	s.Idle(10 * time.Second)
	if d := countDiff(before, counts(t, s.Suite)); d != "" {
		t.Errorf("refused requests left data behind: %s", d)
	}

	// An inbound mail whose encoded words decode to line breaks.
	raw := "From: =?UTF-8?Q?Mallory=0D=0ABcc:_victim@example.com?= <mallory@example.com>\r\n" +
		"To: privacy@veil.example\r\n" +
		"Subject: =?UTF-8?Q?please_delete_my_data=0D=0ABcc:_victim@example.com=0D=0AX-Evil:_1?=\r\n" +
		"Message-ID: <inject-1@example.com>\r\nDate: Fri, 26 Sep 2025 09:58:02 +0800\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease delete my data.\r\n"
	r := s.Do("POST", "/v1/inbound-email", raw, "Content-Type", "message/rfc822", "Authorization", "Bearer "+strings.Repeat("i", 40))
	if r.Status != 202 && r.Status != 400 {
		t.Fatalf("inbound mail: %d %s", r.Status, r.Body)
	}
	if r.Status == 202 {
		// Verify it, so the verified notice goes out through notify too.
		var acc struct {
			RequestID string `json:"request_id"`
		}
		r.Decode(t, &acc)
		code := requestCode(t, s, "mallory@example.com")
		s.Do("POST", "/v1/requests/"+acc.RequestID+"/verify", map[string]string{"code": code})
		s.Idle(20 * time.Second)
	}
	mails := s.Mails()
	if len(mails) == 0 && r.Status == 202 {
		t.Fatal("no mail was sent for the accepted inbound mail")
	}
	for _, m := range mails {
		if strings.Contains(strings.ToLower(m.To), "victim") {
			t.Errorf("mail %q went to %s", m.Subject, m.To)
		}
	}
	if s.Deps.Config.Mail != "outbox" {
		return // SES gets the same bytes (mail.Compose); the outbox run reads them
	}
	files, _ := filepath.Glob(filepath.Join(s.OutboxDir(), "*.eml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(b))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("%s: headers do not parse: %v", f, err)
		}
		for name, vals := range hdr {
			if !allowedHeader(name) {
				t.Errorf("%s carries header %s: %q", filepath.Base(f), name, vals)
			}
			for _, v := range vals {
				if strings.Contains(strings.ToLower(v), "victim") || strings.ContainsAny(v, "\r\n") {
					t.Errorf("%s: header %s = %q", filepath.Base(f), name, v)
				}
			}
		}
	}
}

// TestPortabilitySSRFRefusedInProduction: in production a portability
// request naming a non-public address is refused when it is filed (400,
// nothing stored); a name that resolves to one is refused when the
// connection is made, so nothing is sent and a person takes over.
func TestPortabilitySSRFRefusedInProduction(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_PRODUCTION": "true"})
	_, key := app(s, "Porting")
	s.Idle(10 * time.Second)
	before := counts(t, s.Suite)
	for _, to := range []string{
		"https://10.0.0.1/import", "https://10.255.255.254:8443/", "https://172.16.0.1/", "https://192.168.1.1/",
		"https://127.0.0.1/", "https://127.0.0.1:1/import", "https://169.254.169.254/latest/meta-data/",
		"https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://[::ffff:a9fe:a9fe]/", "https://[::ffff:10.0.0.1]/",
		"https://[fd00::1]/", "https://[fe80::1]/", "https://0.0.0.0/", "https://100.64.0.1/", "https://[::]/",
		"http://portability.example.com/", "https://user:pw@portability.example.com/",
	} {
		for _, who := range []struct {
			subject map[string]string
			headers []string
		}{
			{map[string]string{"device": "device:oaid:ssrf-1"}, []string{"X-Veil-App-Key", key}},
			{map[string]string{"email": "porter@example.com"}, nil},
		} {
			r := s.Do("POST", "/v1/requests", map[string]any{"type": "portability", "subject": who.subject, "deliver_to": to}, who.headers...)
			if r.Status != 400 || !strings.Contains(string(r.Body), "deliver_to") {
				t.Errorf("deliver_to %s for %v: %d %s", to, who.subject, r.Status, r.Body)
			}
		}
	}
	s.Idle(10 * time.Second)
	if d := countDiff(before, counts(t, s.Suite)); d != "" {
		t.Errorf("refused requests left data behind: %s", d)
	}

	// A name (here localhost) is only known to be private when dialled.
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	su, _ := url.Parse(srv.URL)
	var f filedRequest
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": "portability", "subject": map[string]string{"device": "device:oaid:ssrf-2"},
		"deliver_to": "https://localhost:" + su.Port() + "/import"}, "X-Veil-App-Key", key), 202, &f)
	s.Eventually(60*time.Second, "the portability request to settle", func() bool {
		st := opsStatus(s, f.ID)
		return st != "verified" && st != "in_progress"
	})
	if st := opsStatus(s, f.ID); st != "needs_review" {
		t.Errorf("portability to localhost ended %s, want needs_review", st)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback endpoint was called %d times", n)
	}
}
