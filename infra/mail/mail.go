// Package mail is how Veil sends email: an outbox directory of RFC 5322
// files for `veil serve` (Outbox) and Amazon SES v2 in production
// (infra/ses). Only the notify function and the requests function's
// verification codes send mail, always through a Sender.
package mail

import (
	"context"
	"net/mail"
	"strings"

	"github.com/veil-privacy/veil/privacy"
)

// Message is one email. Text is the plain body (UTF-8); HTML is optional.
type Message struct {
	From    string
	To      []string
	Subject string
	Text    string
	HTML    string
	// Key is the idempotency key: a Sender that sees a key twice sends once.
	Key string
	// Headers are extra headers (X-Veil-*), validated like the others.
	Headers map[string]string
}

// Sender sends mail.
type Sender interface {
	// Location is where message content is processed (R6).
	Location() string
	// Send delivers m, or does nothing if m.Key was sent before.
	Send(ctx context.Context, m *Message) error
}

// Check validates a message before any backend sees it: addresses parse,
// and no header value carries a line break (header injection).
func Check(m *Message) error {
	if len(m.To) == 0 {
		return privacy.Errorf(privacy.EINVALID, "mail without recipient")
	}
	for _, a := range append([]string{m.From}, m.To...) {
		if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "\r\n") {
			return privacy.Errorf(privacy.EINVALID, "bad mail address %q", a)
		}
	}
	vals := []string{m.Subject, m.Key}
	for k, v := range m.Headers {
		if !strings.HasPrefix(k, "X-Veil-") || strings.ContainsAny(k, "\r\n: ") {
			return privacy.Errorf(privacy.EINVALID, "bad mail header name %q", k)
		}
		vals = append(vals, v)
	}
	for _, v := range vals {
		if strings.ContainsAny(v, "\r\n") {
			return privacy.Errorf(privacy.EINVALID, "line break in a mail header")
		}
	}
	if m.Key == "" {
		return privacy.Errorf(privacy.EINVALID, "mail without idempotency key")
	}
	return nil
}
