package tests

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/veil-privacy/veil/infra/mailin"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"

	"github.com/veil-privacy/veil/tests/testclock"
)

const inboundToken = "inbound-webhook-token-0123456789abcdef"

// gbMail builds the message a Chinese mail client (Foxmail, NetEase)
// sends: GB2312 encoded words in the headers, a GB2312 body in base64.
func gbMail(t *testing.T, from, name, subject, body, msgID string) []byte {
	t.Helper()
	gb := simplifiedchinese.GBK.NewEncoder()
	word := func(s string) string {
		b, err := gb.Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return "=?GB2312?B?" + base64.StdEncoding.EncodeToString(b) + "?="
	}
	raw, err := gb.Bytes([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s <%s>\r\n", word(name), from)
	fmt.Fprintf(&b, "To: privacy@veil.example\r\nSubject: %s\r\n", word(subject))
	fmt.Fprintf(&b, "Date: Fri, 26 Sep 2025 09:58:02 +0800\r\nMessage-ID: %s\r\n", msgID)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"gb2312\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc64 := base64.StdEncoding.EncodeToString(raw)
	for len(enc64) > 76 {
		b.WriteString(enc64[:76] + "\r\n")
		enc64 = enc64[76:]
	}
	b.WriteString(enc64 + "\r\n")
	return b.Bytes()
}

func postMail(s *veiltest.Suite, raw []byte, token string) *veiltest.Response {
	s.T.Helper()
	return s.Do("POST", "/v1/inbound-email", raw, "Content-Type", "message/rfc822", "Authorization", "Bearer "+token)
}

var (
	codeInMail   = regexp.MustCompile(`(?m)^\s+(\d{6})\s*$`)
	statusInMail = regexp.MustCompile(`https?://\S+/requests/([0-9a-f-]{36})\?token=(\S+)`)
)

type accepted struct {
	RequestID string `json:"request_id"`
	Status    string `json:"status"`
}

type requestView struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Channel string `json:"channel"`
	Status  string `json:"status"`
	History []struct {
		To, Actor, Reason string
	} `json:"history"`
	DueAt   *time.Time `json:"due_at"`
	Details string     `json:"details"`
	Devices []string   `json:"devices"`
}

// TestChineseEmailRequestIsVerifiedEndToEnd is issue 4's acceptance test: a
// GB2312 mail to the privacy mailbox becomes a request, the sender's
// acknowledgement in the outbox carries the code, and the code verifies it.
func TestChineseEmailRequestIsVerifiedEndToEnd(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	clock := testclock.At(time.Date(2025, 9, 26, 10, 0, 0, 0, shanghai))
	s := veiltest.Start(t, map[string]string{"VEIL_INBOUND_TOKEN": inboundToken}, suite.WithClock(clock.Now))

	raw := gbMail(t, "Zhang.San@Example.CN", "张三", "请删除我的个人信息",
		"您好：\n\n我是贵平台的广告主。依据《个人信息保护法》，请删除你们保存的我的全部个人信息。\n\n张三\n2025年9月26日\n",
		"<20250926095802.1234@mail.example.cn>")
	if !bytes.Contains(raw, []byte("GB2312")) || bytes.Contains(raw, []byte("删除")) {
		t.Fatal("test mail is not GB2312-encoded")
	}
	s.Must(s.Do("POST", "/v1/inbound-email", raw, "Content-Type", "message/rfc822"), 401, nil)

	var a accepted
	s.Must(postMail(s, raw, inboundToken), 202, &a)
	if a.RequestID == "" || a.Status != "identity_unverified" {
		t.Fatalf("accepted: %+v", a)
	}
	ack := s.WaitMail("zhang.san@example.cn", a.RequestID, 10*time.Second)
	if !strings.Contains(ack.Subject, "验证码") || !strings.Contains(ack.Text, "删除个人信息") || !strings.Contains(ack.Text, "deletion") {
		t.Fatalf("acknowledgement is not the bilingual next-step mail:\n%s\n%s", ack.Subject, ack.Text)
	}
	code := codeInMail.FindStringSubmatch(ack.Text)
	link := statusInMail.FindStringSubmatch(ack.Text)
	if code == nil || link == nil || link[1] != a.RequestID {
		t.Fatalf("no code or status link in the acknowledgement:\n%s", ack.Text)
	}

	// The same mail delivered again by the webhook is the same request.
	var again accepted
	s.Must(postMail(s, raw, inboundToken), 202, &again)
	if again.RequestID != a.RequestID {
		t.Fatalf("a redelivered mail was filed twice: %s and %s", a.RequestID, again.RequestID)
	}

	var verified struct {
		Status string    `json:"status"`
		DueAt  time.Time `json:"due_at"`
	}
	s.Must(s.Do("POST", "/v1/requests/"+a.RequestID+"/verify", map[string]string{"code": code[1]}), 200, &verified)
	if verified.Status != "verified" || !verified.DueAt.Equal(time.Date(2025, 10, 23, 23, 59, 59, 999999999, shanghai)) {
		t.Fatalf("after the code: %+v (due 15 working days after 2025-09-26 is 2025-10-23)", verified)
	}

	var v requestView
	s.Must(s.Do("GET", "/v1/requests/"+a.RequestID+"?token="+url.QueryEscape(link[2]), nil), 200, &v)
	if v.Type != "delete" || v.Channel != "email" {
		t.Fatalf("the sender reads their request with the mailed link: %+v", v)
	}
	found := false
	for _, h := range v.History {
		found = found || (h.To == "verified" && h.Actor == "subject")
	}
	if !found {
		t.Fatalf("no verification by the subject in the history: %+v", v.History)
	}
	if len(s.MailsTo("zhang.san@example.cn")) < 1 || strings.Contains(s.Logs.String(), code[1]) {
		t.Fatal("the code must reach the sender and never the logs")
	}
}

// TestMailboxCorpus sends every realistic mail of the mailin corpus through
// the webhook: each becomes a request the sender is told about, an unclear
// one waits in review, and no raw device id is kept in its text.
func TestMailboxCorpus(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_INBOUND_TOKEN": inboundToken})
	files, err := filepath.Glob("../infra/mailin/testdata/*.eml")
	if err != nil || len(files) < 10 {
		t.Fatalf("corpus: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mailin.Parse(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("the corpus mail itself: %v", err)
			}
			var a accepted
			s.Must(postMail(s, raw, veiltest.OpsToken), 202, &a)
			want := "identity_unverified"
			if m.Intent == "" {
				want = "needs_review"
			}
			if a.Status != want {
				t.Fatalf("status %s, want %s (intent %q)", a.Status, want, m.Intent)
			}
			s.WaitMail(m.From, a.RequestID, 10*time.Second)
			var v requestView
			s.Must(s.Ops("GET", "/v1/requests/"+a.RequestID, nil), 200, &v)
			if v.Channel != "email" || len(v.Devices) != len(m.Devices) {
				t.Fatalf("request %+v for devices %v", v, len(m.Devices))
			}
			for _, d := range m.Devices {
				id := d[strings.LastIndexByte(d, ':')+1:]
				if strings.Contains(strings.ToLower(v.Details), id) {
					t.Fatalf("raw device id %s kept in the request text", id)
				}
			}
		})
	}
}

func TestUnclearMailIsReviewedThenVerified(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_INBOUND_TOKEN": inboundToken})
	send := func(from, msgID string) (accepted, string) {
		raw := gbMail(t, from, "王五", "你好", "你好，想咨询一下你们的服务。\n王五\n", msgID)
		var a accepted
		s.Must(postMail(s, raw, inboundToken), 202, &a)
		ack := s.WaitMail(from, a.RequestID, 10*time.Second)
		code := codeInMail.FindStringSubmatch(ack.Text)
		if a.Status != "needs_review" || code == nil || !strings.Contains(ack.Text, "工作人员将阅读来信") {
			t.Fatalf("unclear mail: %+v\n%s", a, ack.Text)
		}
		return a, code[1]
	}

	// The sender verifies first; review then sends it to fulfilment.
	first, code := send("wang.wu@example.cn", "<a1@example.cn>")
	var out struct{ Status string }
	s.Must(s.Do("POST", "/v1/requests/"+first.RequestID+"/verify", map[string]string{"code": code}), 200, &out)
	if out.Status != "needs_review" {
		t.Fatalf("a verified but unclassified mail stays in review, is %s", out.Status)
	}
	s.Must(s.Ops("POST", "/v1/requests/"+first.RequestID+"/approve", nil), 400, nil)
	var v requestView
	s.Must(s.Ops("POST", "/v1/requests/"+first.RequestID+"/approve", map[string]string{"type": "access"}), 200, &v)
	if v.Status != "verified" || v.Type != "access" || v.DueAt == nil {
		t.Fatalf("approved: %+v", v)
	}

	// Review first: the request goes back to verification, never past it.
	second, code2 := send("zhao.liu@example.cn", "<a2@example.cn>")
	s.Must(s.Ops("POST", "/v1/requests/"+second.RequestID+"/approve", map[string]string{"type": "copy"}), 200, &v)
	if v.Status != "identity_unverified" || v.DueAt != nil {
		t.Fatalf("review must not skip identity verification: %+v", v)
	}
	s.Must(s.Do("POST", "/v1/requests/"+second.RequestID+"/verify", map[string]string{"code": code2}), 200, &out)
	if out.Status != "verified" {
		t.Fatalf("after the code: %s", out.Status)
	}
}

func TestInboundMailRefusals(t *testing.T) {
	s := veiltest.Start(t, map[string]string{"VEIL_INBOUND_TOKEN": inboundToken})
	good := gbMail(t, "li.si@example.cn", "李四", "撤回同意", "我要撤回个性化广告的同意。\n", "<r1@example.cn>")
	huge := append(bytes.Clone(good), bytes.Repeat([]byte("A"), mailin.MaxMessageBytes)...)
	own := gbMail(t, "privacy@veil.example", "Veil", "删除", "删除\n", "<r2@example.cn>")
	tests := []struct {
		name   string
		raw    []byte
		token  string
		status int
	}{
		{"no credential", good, "", 401},
		{"wrong credential", good, "not-the-token", 401},
		{"over 10 MiB", huge, inboundToken, 413},
		{"not a mail", []byte("hello"), inboundToken, 400},
		{"our own address (a loop)", own, inboundToken, 400},
		{"no sender to reply to", []byte("To: privacy@veil.example\r\nSubject: delete\r\n\r\ndelete my data\r\n"), inboundToken, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Must(postMail(s, tt.raw, tt.token), tt.status, nil)
		})
	}
	if n := len(s.Mails()); n != 0 {
		t.Fatalf("refused mails were acknowledged (%d mails)", n)
	}
	s.Must(postMail(s, good, inboundToken), 202, nil)
}
