package mail

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"
)

func TestComposeRoundTripsChinese(t *testing.T) {
	m := &Message{From: "隐私团队 <privacy@veil.example>", To: []string{"li.lei@example.com"}, Subject: "您的验证码 123456",
		Text: "您好，\r\n验证码：123456\nThanks.", Key: "req-1/code-1", Headers: map[string]string{"X-Veil-Request": "r1"}}
	raw, err := Compose(m, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	from, _ := mail.ParseAddress(msg.Header.Get("From"))
	if from == nil || from.Name != "隐私团队" || strings.ContainsAny(msg.Header.Get("From"), "隐") {
		t.Fatalf("From header not RFC 2047 encoded: %q", msg.Header.Get("From"))
	}
	if strings.Contains(string(raw), "\r\r\n") {
		t.Fatal("line breaks doubled")
	}
	if subj != m.Subject || !strings.Contains(string(body), "验证码：123456") || msg.Header.Get("X-Veil-Idempotency-Key") != "req-1/code-1" {
		t.Fatalf("round trip: subject %q body %q", subj, body)
	}
}

func TestCheckRefusesInjection(t *testing.T) {
	base := func() *Message {
		return &Message{From: "a@b.example", To: []string{"c@d.example"}, Subject: "s", Text: "t", Key: "k"}
	}
	cases := map[string]func(m *Message){
		"subject CRLF":       func(m *Message) { m.Subject = "hi\r\nBcc: evil@x.example" },
		"to with newline":    func(m *Message) { m.To = []string{"c@d.example\nBcc: e@x.example"} },
		"no recipient":       func(m *Message) { m.To = nil },
		"bad address":        func(m *Message) { m.To = []string{"not an address"} },
		"header name":        func(m *Message) { m.Headers = map[string]string{"Bcc": "e@x.example"} },
		"header value":       func(m *Message) { m.Headers = map[string]string{"X-Veil-A": "x\r\nBcc: e"} },
		"no idempotency key": func(m *Message) { m.Key = "" },
	}
	for name, mutate := range cases {
		m := base()
		mutate(m)
		if _, err := Compose(m, time.Now()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Compose(base(), time.Now()); err != nil {
		t.Fatal(err)
	}
}
