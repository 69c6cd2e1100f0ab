package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"sort"
	"strings"
	"time"
)

// Compose renders m as an RFC 5322 message: UTF-8 throughout, encoded words
// for a non-ASCII subject, quoted-printable bodies (readable in an outbox
// file), multipart/alternative when there is HTML. The outbox writes it to
// disk and SES sends it as raw content, so both deliver the same bytes.
func Compose(m *Message, now time.Time) ([]byte, error) {
	if err := Check(m); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	from, err := formatAddress(m.From)
	if err != nil {
		return nil, err
	}
	h("From", from)
	to := make([]string, len(m.To))
	for i, a := range m.To {
		if to[i], err = formatAddress(a); err != nil {
			return nil, err
		}
	}
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("UTF-8", m.Subject))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+randomID()+"@veil>")
	h("MIME-Version", "1.0")
	h("X-Veil-Idempotency-Key", m.Key)
	keys := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h(k, mime.QEncoding.Encode("UTF-8", m.Headers[k]))
	}
	if m.HTML == "" {
		h("Content-Type", "text/plain; charset=UTF-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	h("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	b.WriteString("\r\n")
	for _, part := range []struct{ ct, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ct + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// formatAddress renders an address with an RFC 2047-encoded display name,
// so a Chinese name survives any mail transport.
func formatAddress(a string) (string, error) {
	addr, err := mail.ParseAddress(a)
	if err != nil {
		return "", err
	}
	return addr.String(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	q := quotedprintable.NewWriter(w)
	// The writer turns "\n" into CRLF itself; normalise "\r\n" first so
	// it is not doubled.
	if _, err := q.Write([]byte(strings.ReplaceAll(s, "\r\n", "\n"))); err != nil {
		return err
	}
	return q.Close()
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
