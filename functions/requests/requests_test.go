package requests_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/privacy"
)

func TestSubmitRefusals(t *testing.T) {
	e := start(t)
	_, key := e.appKey("dev@example.com")
	revokedID, revokedKey := e.appKey("old@example.com")
	e.Must(e.Ops("POST", "/v1/apps/"+revokedID+"/revoke", nil), 200, nil)
	tests := []struct {
		name    string
		body    any
		headers []string
		status  int
		code    string
		field   string
	}{
		{"unknown type", map[string]any{"type": "forget", "subject": map[string]string{"email": "a@b.cn"}}, nil, 400, privacy.EINVALID, "type"},
		{"device without its developer", map[string]any{"type": "delete", "subject": map[string]string{"device": "device:oaid:abcd-1234"}}, nil, 400, privacy.EINVALID, "subject.device"},
		{"developer attesting an account", map[string]any{"type": "delete", "subject": map[string]string{"email": "a@b.cn"}}, []string{"X-Veil-App-Key", key}, 400, privacy.EINVALID, "subject.email"},
		{"unknown app key", map[string]any{"type": "delete", "subject": map[string]string{"device": "device:oaid:abcd-1234"}}, []string{"X-Veil-App-Key", "vk_nope"}, 401, privacy.EUNAUTHORIZED, ""},
		{"revoked app key", map[string]any{"type": "delete", "subject": map[string]string{"device": "device:oaid:abcd-1234"}}, []string{"X-Veil-App-Key", revokedKey}, 401, privacy.EUNAUTHORIZED, ""},
		{"not JSON", "type=copy", []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, privacy.EINVALID, ""},
		{"body over 64 KiB", map[string]any{"type": "copy", "subject": map[string]string{"email": "a@b.cn"}, "details": strings.Repeat("长", 30000)}, nil, 413, privacy.ETOOLARGE, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.fails(e.Do("POST", "/v1/requests", tt.body, tt.headers...), tt.status, tt.code)
			if p.Field != tt.field {
				t.Errorf("field %q, want %q (%s)", p.Field, tt.field, p.Detail)
			}
		})
	}
	if n := len(e.Mails()); n != 0 {
		t.Fatalf("refused submissions mailed %d codes", n)
	}
}

func TestEmailRequestIsVerifiedByTheMailedCode(t *testing.T) {
	e := start(t)
	c := e.submit(map[string]any{"type": "copy", "subject": map[string]string{"email": "Li.Lei@Example.com"}},
		"Accept-Language", "en-GB,en;q=0.8")
	if c.Status != privacy.StatusUnverified || len(c.Token) < 40 {
		t.Fatalf("created %+v", c)
	}

	// The token alone grants reading; nothing else does, and nothing tells
	// a stranger whether the request exists.
	unknown := "00000000-0000-4000-8000-000000000000"
	for _, r := range []struct{ name, path string }{
		{"no token", "/v1/requests/" + c.ID},
		{"wrong token", "/v1/requests/" + c.ID + "?token=" + url.QueryEscape(altered(c.Token))},
		{"someone else's id with a real token", "/v1/requests/" + unknown + "?token=" + c.Token},
		{"malformed id", "/v1/requests/..%2Fapps?token=" + c.Token},
	} {
		t.Run(r.name, func(t *testing.T) { e.fails(e.Do("GET", r.path, nil), 404, privacy.ENOTFOUND) })
	}
	var v requestView
	e.Must(e.Do("GET", "/v1/requests/"+c.ID+"?token="+c.Token, nil), 200, &v)
	if v.Status != privacy.StatusUnverified || v.Type != privacy.ReqCopy || v.Channel != "web" || v.DueAt != nil || v.Email != "" {
		t.Fatalf("requester's view: %+v", v)
	}
	e.Must(e.Do("GET", "/v1/requests/"+c.ID, nil, "X-Veil-Request-Token", c.Token), 200, nil)

	mails := e.MailsTo("li.lei@example.com")
	if len(mails) != 1 || !strings.Contains(mails[0].Subject, "verification code") || strings.Contains(mails[0].Subject, "验证码") {
		t.Fatalf("want one English code mail (Accept-Language en), got %+v", mails)
	}
	code := e.code(c.ID, 1)
	p := e.fails(e.verify(c.ID, wrong(code)), 400, privacy.EINVALID)
	if p.Field != "code" || !strings.Contains(p.Detail, "4 attempts left") {
		t.Fatalf("wrong code: %+v", p)
	}
	var out struct {
		Status privacy.Status `json:"status"`
		DueAt  time.Time      `json:"due_at"`
	}
	e.Must(e.verify(c.ID, code[:3]+" "+code[3:]), 200, &out)
	// Verified on Friday 2025-09-26: 15 working days is Thursday 2025-10-23.
	if out.Status != privacy.StatusVerified || !out.DueAt.Equal(endOfDay(2025, 10, 23)) {
		t.Fatalf("verified: %+v", out)
	}
	e.fails(e.verify(c.ID, code), 409, privacy.ECONFLICT)

	v = e.view(c.ID)
	if len(v.History) != 2 || v.History[0].To != privacy.StatusUnverified || v.History[1].To != privacy.StatusVerified ||
		v.History[1].Actor != "subject" || v.History[1].At.IsZero() || v.History[1].Reason == "" {
		t.Fatalf("history: %+v", v.History)
	}
	if v.SubjectHint != "account:l***@example.com" || v.Email != "li.lei@example.com" {
		t.Fatalf("ops view: %+v", v)
	}
	e.Idle(5 * time.Second)
	if n := len(e.probe.Events(events.RequestVerified, c.ID)); n != 1 {
		t.Fatalf("%d request.verified events, want 1", n)
	}
	if n := len(e.probe.Events(events.RequestChanged, c.ID)); n != 2 {
		t.Fatalf("%d request.changed events, want one per transition (2)", n)
	}
	for _, ev := range e.probe.Events(events.RequestChanged, c.ID) {
		if strings.Contains(string(ev.Data()), code) || strings.Contains(string(ev.Data()), "li.lei") {
			t.Fatalf("an event carries the code or the address: %s", ev.Data())
		}
	}
	ns := e.notifications(c.ID)
	if len(ns) != 1 || ns[0].Template != "request_verified" || ns[0].To != "li.lei@example.com" || ns[0].Lang != "en" {
		t.Fatalf("notifications: %+v", ns)
	}
	if n := rendered(t, ns[0]); !strings.Contains(n.Text, "2025-10-23") {
		t.Fatalf("the confirmation does not state the due date:\n%s", n.Text)
	}
	if strings.Contains(e.Logs.String(), code) || strings.Contains(e.Logs.String(), c.Token) {
		t.Fatal("the code or the token was logged")
	}
}

func TestWrongCodesLockAndResendsAreLimited(t *testing.T) {
	e := start(t)
	c := e.submitEmail("delete", "han.meimei@example.cn")
	code := e.code(c.ID, 1)
	for i := 1; i <= 4; i++ {
		e.fails(e.verify(c.ID, wrong(code)), 400, privacy.EINVALID)
	}
	e.fails(e.verify(c.ID, wrong(code)), 429, privacy.ERATELIMIT)
	// Locked: even the right code no longer works.
	e.fails(e.verify(c.ID, code), 429, privacy.ERATELIMIT)
	if v := e.view(c.ID); v.Status != privacy.StatusUnverified {
		t.Fatalf("a locked request must stay unverified, is %s", v.Status)
	}

	// A resend right after the first mail is refused; a minute later it
	// issues a new code with fresh attempts.
	r := e.Do("POST", "/v1/requests/"+c.ID+"/resend", nil)
	e.fails(r, 429, privacy.ERATELIMIT)
	if r.Header.Get("Retry-After") == "" {
		t.Error("a rate-limited resend says when to retry")
	}
	e.clock.Add(time.Minute)
	e.Must(e.Do("POST", "/v1/requests/"+c.ID+"/resend", nil), 202, nil)
	second := e.code(c.ID, 2)
	e.fails(e.verify(c.ID, wrong(second)), 400, privacy.EINVALID)
	e.Must(e.verify(c.ID, second), 200, nil)
	e.fails(e.Do("POST", "/v1/requests/"+c.ID+"/resend", nil), 409, privacy.ECONFLICT)

	// At most three resends per request.
	d := e.submitEmail("delete", "li.ming@example.cn")
	for i := 0; i < 3; i++ {
		e.clock.Add(time.Minute)
		e.Must(e.Do("POST", "/v1/requests/"+d.ID+"/resend", nil), 202, nil)
	}
	e.clock.Add(time.Minute)
	e.fails(e.Do("POST", "/v1/requests/"+d.ID+"/resend", nil), 429, privacy.ERATELIMIT)
	if n := len(e.MailsTo("li.ming@example.cn")); n != 4 {
		t.Fatalf("%d code mails, want the first and three resends", n)
	}
	// Only the latest code works.
	old, latest := e.code(d.ID, 3), e.code(d.ID, 4)
	if old != latest {
		e.fails(e.verify(d.ID, old), 400, privacy.EINVALID)
	}
	e.Must(e.verify(d.ID, latest), 200, nil)
}

func TestCodeExpiresAfterTenMinutes(t *testing.T) {
	e := start(t)
	c := e.submitEmail("access", "wei@example.com")
	code := e.code(c.ID, 1)
	e.clock.Add(10*time.Minute + time.Second)
	p := e.fails(e.verify(c.ID, code), 400, privacy.EINVALID)
	if !strings.Contains(p.Detail, "expired") {
		t.Fatalf("expiry not explained: %+v", p)
	}
	e.Must(e.Do("POST", "/v1/requests/"+c.ID+"/resend", nil), 202, nil)
	e.Must(e.verify(c.ID, e.code(c.ID, 2)), 200, nil)
	e.fails(e.verify("00000000-0000-4000-8000-000000000000", code), 404, privacy.ENOTFOUND)
	e.fails(e.verify(c.ID, "12345"), 400, privacy.EINVALID)
}

func TestDeveloperAttestation(t *testing.T) {
	e := start(t)
	appID, key := e.appKey("dev@example.com")
	body := map[string]any{"type": "delete", "subject": map[string]string{"device": "device:oaid:ABCD-1234-5678-90EF"}}
	c := e.submit(body, "X-Veil-App-Key", key)
	if c.Status != privacy.StatusVerified {
		t.Fatalf("attested request: %+v", c)
	}
	v := e.view(c.ID)
	if v.Channel != "api" || len(v.History) != 1 || v.History[0].Actor != "app:"+appID || v.DueAt == nil ||
		!v.DueAt.Equal(endOfDay(2025, 10, 23)) {
		t.Fatalf("attested view: %+v", v)
	}
	if v.SubjectHint != "device:oaid:abcd…90ef" {
		t.Fatalf("hint %q", v.SubjectHint)
	}
	if len(e.Mails()) != 0 {
		t.Fatal("an attested request needs no code mail")
	}
	e.fails(e.Do("POST", "/v1/requests/"+c.ID+"/resend", nil), 409, privacy.ECONFLICT)

	// The same request again, while the first is open: a duplicate, linked.
	dup := e.submit(body, "X-Veil-App-Key", key)
	if dup.Status != privacy.StatusDuplicate || dup.DuplicateOf != c.ID {
		t.Fatalf("second delete: %+v", dup)
	}
	if d := e.view(dup.ID); d.DuplicateOf != c.ID || d.History[0].To != privacy.StatusDuplicate {
		t.Fatalf("duplicate view: %+v", d)
	}
	// Another right for the same device is not a duplicate.
	other := e.submit(map[string]any{"type": "copy", "subject": map[string]string{"device": "device:oaid:abcd-1234-5678-90ef"}}, "X-Veil-App-Key", key)
	if other.Status != privacy.StatusVerified {
		t.Fatalf("copy after delete: %+v", other)
	}
	e.Idle(5 * time.Second)
	if len(e.probe.Events(events.RequestVerified, dup.ID)) != 0 {
		t.Fatal("a duplicate must not start fulfilment")
	}
}

func TestDuplicatesAreDecidedOnceIdentityIsProved(t *testing.T) {
	e := start(t)
	// Someone who is not the owner files first and never verifies.
	forged := e.submitEmail("delete", "zhang@example.com")
	first := e.submitEmail("delete", "zhang@example.com")
	second := e.submitEmail("delete", "zhang@example.com")
	if first.Status != privacy.StatusUnverified || second.Status != privacy.StatusUnverified {
		t.Fatalf("an unverified submission reveals nothing about others: %+v %+v", first, second)
	}
	e.Must(e.verify(first.ID, e.code(first.ID, 1)), 200, nil)
	if v := e.view(first.ID); v.Status != privacy.StatusVerified {
		t.Fatalf("the forged, unverified request must not block the owner's: %s", v.Status)
	}
	var out created
	e.Must(e.verify(second.ID, e.code(second.ID, 1)), 200, &out)
	if out.Status != privacy.StatusDuplicate || out.DuplicateOf != first.ID {
		t.Fatalf("second verified request: %+v", out)
	}
	if v := e.view(forged.ID); v.Status != privacy.StatusUnverified {
		t.Fatalf("forged request: %s", v.Status)
	}
	e.Idle(5 * time.Second)
	ns := e.notifications(second.ID)
	if len(ns) != 1 || !strings.Contains(rendered(t, ns[0]).Text, first.ID) {
		t.Fatalf("the duplicate's requester is told which request continues: %+v", ns)
	}
}

func TestSenderRateLimit(t *testing.T) {
	e := start(t)
	kinds := []string{"access", "copy", "delete", "withdraw_consent", "cancel_account", "complaint", "appeal"}
	for i := 0; i < 10; i++ {
		e.submitEmail(kinds[i%len(kinds)], "busy@example.com")
	}
	r := e.Do("POST", "/v1/requests", map[string]any{"type": "copy", "subject": map[string]string{"email": "busy@example.com"}})
	e.fails(r, 429, privacy.ERATELIMIT)
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if n := len(e.MailsTo("busy@example.com")); n != 10 {
		t.Fatalf("%d code mails: a refused request must not mail", n)
	}
	e.submitEmail("copy", "calm@example.com")
	e.clock.Add(time.Hour)
	e.submitEmail("copy", "busy@example.com")
}

func TestOpsListAndRead(t *testing.T) {
	e := start(t)
	var ids []string
	for i, typ := range []string{"copy", "delete", "complaint", "copy"} {
		ids = append(ids, e.submitEmail(typ, "list"+string(rune('a'+i))+"@example.com").ID)
		e.clock.Add(time.Second)
	}
	e.fails(e.Do("GET", "/v1/requests", nil), 401, privacy.EUNAUTHORIZED)
	type page struct {
		Requests []requestView `json:"requests"`
		Next     string        `json:"next"`
	}
	var p page
	e.Must(e.Ops("GET", "/v1/requests?type=copy", nil), 200, &p)
	if len(p.Requests) != 2 || p.Requests[0].ID != ids[3] || p.Requests[1].ID != ids[0] {
		t.Fatalf("copies, newest first: %+v", p.Requests)
	}
	e.Must(e.Ops("GET", "/v1/requests?status=identity_unverified&type=delete", nil), 200, &p)
	if len(p.Requests) != 1 || p.Requests[0].ID != ids[1] {
		t.Fatalf("unverified deletes: %+v", p.Requests)
	}
	var seen []string
	next := ""
	for range 4 {
		var p page
		e.Must(e.Ops("GET", "/v1/requests?limit=3&after="+next, nil), 200, &p)
		for _, r := range p.Requests {
			seen = append(seen, r.ID)
		}
		if next = p.Next; next == "" {
			break
		}
	}
	if len(seen) != 4 || seen[0] != ids[3] || seen[3] != ids[0] {
		t.Fatalf("paging saw %v, want all four newest first", seen)
	}
	e.fails(e.Ops("GET", "/v1/requests?status=lost", nil), 400, privacy.EINVALID)
	e.fails(e.Ops("GET", "/v1/requests?limit=100000", nil), 400, privacy.EINVALID)
}

func TestRefusals(t *testing.T) {
	e := start(t)
	_, key := e.appKey("dev@example.com")
	for i, reason := range privacy.RefusalReasons() {
		t.Run(string(reason), func(t *testing.T) {
			c := e.submit(map[string]any{"type": "copy", "subject": map[string]string{"device": "device:gaid:refuse-" + string(rune('a'+i)) + "-0001"}}, "X-Veil-App-Key", key)
			var v requestView
			e.Must(e.Ops("POST", "/v1/requests/"+c.ID+"/refuse", map[string]string{"reason": string(reason), "note": "see our letter"},
				"X-Veil-Operator", "alice"), 200, &v)
			last := v.History[len(v.History)-1]
			if v.Status != privacy.StatusRefused || v.Refusal != string(reason) || last.Actor != "ops:alice" || last.Reason != string(reason) {
				t.Fatalf("refused: %+v", v)
			}
			e.Idle(5 * time.Second)
			ns := e.notifications(c.ID)
			if len(ns) != 1 || ns[0].To != "dev@example.com" || ns[0].Template != "request_refused" {
				t.Fatalf("the attesting developer is told: %+v", ns)
			}
			if n := rendered(t, ns[0]); !strings.Contains(n.Text, "see our letter") {
				t.Fatalf("refusal notice without the note:\n%s", n.Text)
			}
			e.fails(e.Ops("POST", "/v1/requests/"+c.ID+"/refuse", map[string]string{"reason": string(reason)}), 409, privacy.ECONFLICT)
		})
	}
	c := e.submitEmail("delete", "unverified@example.com")
	for _, bad := range []string{"", "too_busy", "Legal_Obligation"} {
		p := e.fails(e.Ops("POST", "/v1/requests/"+c.ID+"/refuse", map[string]string{"reason": bad}), 400, privacy.EINVALID)
		if p.Field != "reason" {
			t.Fatalf("refusal without a listed reason: %+v", p)
		}
	}
	e.fails(e.Do("POST", "/v1/requests/"+c.ID+"/refuse", map[string]string{"reason": "abuse_of_rights"}), 401, privacy.EUNAUTHORIZED)
	// An unverified request can be refused (abuse), silently: its address
	// may not be the requester's.
	e.Must(e.Ops("POST", "/v1/requests/"+c.ID+"/refuse", map[string]string{"reason": "abuse_of_rights"}), 200, nil)
	e.Idle(5 * time.Second)
	if ns := e.notifications(c.ID); len(ns) != 0 {
		t.Fatalf("an unverified address was mailed: %+v", ns)
	}
}

func TestComplaintsAreReviewedAndAnswered(t *testing.T) {
	e := start(t)
	c := e.submit(map[string]any{"type": "complaint", "subject": map[string]string{"email": "kong@example.com"},
		"details": "你们在我撤回同意后仍然向我推送个性化广告"})
	e.fails(e.Ops("POST", "/v1/requests/"+c.ID+"/answer", map[string]string{"answer": "早"}), 409, privacy.ECONFLICT)

	var out struct {
		Status privacy.Status `json:"status"`
		DueAt  time.Time      `json:"due_at"`
	}
	e.Must(e.verify(c.ID, e.code(c.ID, 1)), 200, &out)
	// 15 calendar days from Friday 2025-09-26, holidays included.
	if out.Status != privacy.StatusNeedsReview || !out.DueAt.Equal(endOfDay(2025, 10, 11)) {
		t.Fatalf("verified complaint: %+v", out)
	}
	type page struct {
		Requests []requestView `json:"requests"`
	}
	var p page
	e.Must(e.Ops("GET", "/v1/requests?status=needs_review", nil), 200, &p)
	if len(p.Requests) != 1 || p.Requests[0].ID != c.ID || !strings.Contains(p.Requests[0].Details, "撤回同意") {
		t.Fatalf("review queue: %+v", p.Requests)
	}
	var v requestView
	e.Must(e.Ops("POST", "/v1/requests/"+c.ID+"/approve", nil), 200, &v)
	if v.Status != privacy.StatusInProgress {
		t.Fatalf("approved complaint: %s", v.Status)
	}
	e.fails(e.Ops("POST", "/v1/requests/"+c.ID+"/answer", map[string]string{"answer": " "}), 400, privacy.EINVALID)
	e.Must(e.Ops("POST", "/v1/requests/"+c.ID+"/answer", map[string]string{"answer": "经核查，推送已于 9 月 27 日停止。"}), 200, &v)
	if v.Status != privacy.StatusCompleted || v.Answer == "" {
		t.Fatalf("answered: %+v", v)
	}
	e.fails(e.Ops("POST", "/v1/requests/"+c.ID+"/answer", map[string]string{"answer": "again"}), 409, privacy.ECONFLICT)
	e.Idle(5 * time.Second)
	var answered []events.NotificationData
	for _, n := range e.notifications(c.ID) {
		if n.Template == "request_answered" {
			answered = append(answered, n)
		}
	}
	if len(answered) != 1 || answered[0].To != "kong@example.com" || !strings.Contains(rendered(t, answered[0]).Text, "9 月 27 日停止") {
		t.Fatalf("answer mail: %+v", answered)
	}
	var mine requestView
	e.Must(e.Do("GET", "/v1/requests/"+c.ID+"?token="+c.Token, nil), 200, &mine)
	if mine.Answer == "" || mine.Status != privacy.StatusCompleted {
		t.Fatalf("the requester reads the answer: %+v", mine)
	}

	// Other rights are fulfilled, not answered; approve needs a review.
	d := e.submitEmail("access", "kong@example.com")
	e.Must(e.verify(d.ID, e.code(d.ID, 1)), 200, nil)
	e.fails(e.Ops("POST", "/v1/requests/"+d.ID+"/answer", map[string]string{"answer": "x"}), 409, privacy.ECONFLICT)
	e.fails(e.Ops("POST", "/v1/requests/"+d.ID+"/approve", nil), 409, privacy.ECONFLICT)
}

// altered changes a token's last character to another one (a fixed letter
// gave the token itself back whenever it already ended in that letter).
func altered(token string) string {
	next := byte('x')
	if token[len(token)-1] == next {
		next = 'y'
	}
	return token[:len(token)-1] + string(next)
}
