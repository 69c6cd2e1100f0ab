// Package mailtest is the conformance suite every mail.Sender passes, and
// helpers to read delivered mail back. Each backend's tests call Run with a
// constructor for a fresh sender and a function that lists what that
// sender delivered.
package mailtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	vmail "github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/privacy"
)

// Sent is one delivered message as a recipient's mail client shows it:
// addresses bare, the subject decoded, the plain-text body decoded with
// "\n" line ends.
type Sent struct {
	From    string
	To      []string
	Subject string
	Text    string
}

const (
	from = "privacy@veil.example"
	// A long bilingual subject: several encoded words, and "=" and "?"
	// that Q-encoding must escape.
	subject = "您的个人信息副本已准备好（请求编号 R-2026-0042）= Your copy of your personal information is ready?"
	// Lines over 76 bytes force soft line breaks in quoted-printable; a
	// line starting with "." and one with "=" catch naive encoders.
	body = "您好：\n\n根据《个人信息保护法》第四十五条，您请求的个人信息副本已经生成，下载链接将在十五个工作日内有效，请及时下载并妥善保管。\n" +
		"Hello,\n\nThe copy you asked for is ready; the link below expires after the period stated in our privacy policy, please download it soon.\n" +
		".a line starting with a dot\nx = y + z\n"
)

// Run runs the suite. open returns a fresh sender and a function listing
// everything delivered through it so far.
func Run(t *testing.T, open func(t *testing.T) (vmail.Sender, func() []Sent)) {
	ctx := context.Background()
	msg := func(key string) *vmail.Message {
		return &vmail.Message{From: from, To: []string{"subject@example.com"}, Subject: subject, Text: body, Key: key}
	}

	t.Run("ChineseSubjectAndBodyRoundTrip", func(t *testing.T) {
		s, sent := open(t)
		must(t, s.Send(ctx, msg("k-zh")))
		got := only(t, sent())
		if got.Subject != subject {
			t.Errorf("subject = %q\nwant      %q", got.Subject, subject)
		}
		if norm(got.Text) != norm(body) {
			t.Errorf("text = %q\nwant   %q", got.Text, body)
		}
		if got.From != from || fmt.Sprint(got.To) != "[subject@example.com]" {
			t.Errorf("from %q to %v", got.From, got.To)
		}
	})

	t.Run("HTMLAlternativeKeepsText", func(t *testing.T) {
		s, sent := open(t)
		m := msg("k-html")
		m.HTML = "<p>您好</p>"
		m.To = []string{"a@example.com", "b@example.com"}
		must(t, s.Send(ctx, m))
		got := only(t, sent())
		if norm(got.Text) != norm(body) {
			t.Errorf("text = %q\nwant   %q", got.Text, body)
		}
		if fmt.Sprint(got.To) != "[a@example.com b@example.com]" {
			t.Errorf("to = %v", got.To)
		}
	})

	t.Run("SameKeyDeliveredOnce", func(t *testing.T) {
		s, sent := open(t)
		must(t, s.Send(ctx, msg("k-once")))
		again := msg("k-once")
		again.Subject = "a retry may differ; it must still not be sent"
		must(t, s.Send(ctx, again))
		must(t, s.Send(ctx, msg("k-other")))
		if got := sent(); len(got) != 2 {
			t.Fatalf("delivered %d messages, want 2 (one per key): %+v", len(got), got)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		cases := []struct {
			name string
			edit func(m *vmail.Message)
		}{
			{"header injection in subject", func(m *vmail.Message) { m.Subject = "Hello\r\nBcc: victim@example.com" }},
			{"bare newline in subject", func(m *vmail.Message) { m.Subject = "Hello\nBcc: victim@example.com" }},
			{"header injection in recipient", func(m *vmail.Message) { m.To = []string{"a@example.com\r\nBcc: victim@example.com"} }},
			{"header injection in extra header", func(m *vmail.Message) {
				m.Headers = map[string]string{"X-Veil-Request": "r1\r\nBcc: victim@example.com"}
			}},
			{"no recipient", func(m *vmail.Message) { m.To = nil }},
			{"bad recipient", func(m *vmail.Message) { m.To = []string{"not an address"} }},
			{"no key", func(m *vmail.Message) { m.Key = "" }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s, sent := open(t)
				m := msg("k-refused")
				c.edit(m)
				if err := s.Send(ctx, m); privacy.ErrorCode(err) != privacy.EINVALID {
					t.Fatalf("Send: want invalid, got %v", err)
				}
				if got := sent(); len(got) != 0 {
					t.Fatalf("a refused message was delivered: %+v", got)
				}
			})
		}
	})

	t.Run("Location", func(t *testing.T) {
		s, _ := open(t)
		if s.Location() == "" {
			t.Fatal("every sender must declare its location (R6)")
		}
	})
}

// ParseEML reads an RFC 5322 message as a recipient would see it.
func ParseEML(raw []byte) (Sent, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Sent{}, err
	}
	var s Sent
	if s.From, err = address(m.Header.Get("From")); err != nil {
		return s, err
	}
	to, err := m.Header.AddressList("To")
	if err != nil {
		return s, fmt.Errorf("To: %w", err)
	}
	for _, a := range to {
		s.To = append(s.To, a.Address)
	}
	if s.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return s, fmt.Errorf("Subject: %w", err)
	}
	s.Text, err = plainText(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
	return s, err
}

// ReadDir parses every .eml file in dir, oldest name first.
func ReadDir(dir string) ([]Sent, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Sent
	for _, n := range names {
		raw, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		s, err := ParseEML(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(n), err)
		}
		out = append(out, s)
	}
	return out, nil
}

func address(h string) (string, error) {
	a, err := mail.ParseAddress(h)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", h, err)
	}
	return a.Address, nil
}

// plainText finds the text/plain part, undoing its transfer encoding
// (multipart.Reader already undoes quoted-printable in parts).
func plainText(contentType, cte string, r io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("Content-Type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return "", fmt.Errorf("no text/plain part")
			}
			if err != nil {
				return "", err
			}
			if text, err := plainText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err == nil {
				return text, nil
			}
		}
	}
	if mt != "text/plain" {
		return "", fmt.Errorf("not text/plain: %s", mt)
	}
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}

// norm ignores how many line ends close a body: mail software adds or
// trims a final one.
func norm(s string) string { return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n") }

func only(t *testing.T, got []Sent) Sent {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("delivered %d messages, want 1: %+v", len(got), got)
	}
	return got[0]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
