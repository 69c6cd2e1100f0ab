package veiltest

import (
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Mail is one message the suite sent, decoded.
type Mail struct {
	File    string
	To      string
	Subject string
	Text    string
	Key     string // X-Veil-Idempotency-Key
	Headers mail.Header
}

// Mails returns every message in the outbox, oldest first.
func (s *Suite) Mails() []Mail {
	s.T.Helper()
	if s.ses != nil {
		return s.sesMails()
	}
	files, _ := filepath.Glob(filepath.Join(s.OutboxDir(), "*.eml"))
	sort.Strings(files)
	var out []Mail
	for _, f := range files {
		m, err := ReadMail(f)
		if err != nil {
			s.T.Fatalf("outbox %s: %v", f, err)
		}
		out = append(out, m)
	}
	return out
}

// MailsTo returns the messages sent to addr.
func (s *Suite) MailsTo(addr string) []Mail {
	var out []Mail
	for _, m := range s.Mails() {
		if strings.Contains(strings.ToLower(m.To), strings.ToLower(addr)) {
			out = append(out, m)
		}
	}
	return out
}

// WaitMail waits for a message to addr whose subject or text contains
// substr, and returns it.
func (s *Suite) WaitMail(addr, substr string, timeout time.Duration) Mail {
	s.T.Helper()
	var found Mail
	s.Eventually(timeout, "mail to "+addr+" containing "+substr, func() bool {
		for _, m := range s.MailsTo(addr) {
			if strings.Contains(m.Subject, substr) || strings.Contains(m.Text, substr) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// ReadMail parses one .eml file as a person's mail client would.
func ReadMail(path string) (Mail, error) {
	f, err := os.Open(path)
	if err != nil {
		return Mail{}, err
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		return Mail{}, err
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Mail{}, err
	}
	text, err := plainText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		return Mail{}, err
	}
	return Mail{File: path, To: msg.Header.Get("To"), Subject: subj, Text: text,
		Key: msg.Header.Get("X-Veil-Idempotency-Key"), Headers: msg.Header}, nil
}

func plainText(ctype, cte string, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
				return plainText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			}
		}
	}
	if strings.EqualFold(cte, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}
