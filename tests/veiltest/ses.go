package veiltest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/veil-privacy/veil/infra/mail"
)

// sesRecorder remembers what the suite handed to SES, so Mails can pick
// this suite's messages out of the stand-in's store, which every test
// shares. The text a test reads still comes from the store: it went
// through SES.
type sesRecorder struct {
	next  mail.Sender
	mu    sync.Mutex
	sent  map[string]string // "to\x00subject" → idempotency key
	start time.Time
}

func (r *sesRecorder) Location() string { return r.next.Location() }

func (r *sesRecorder) Send(ctx context.Context, m *mail.Message) error {
	if err := r.next.Send(ctx, m); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, to := range m.To {
		r.sent[strings.ToLower(to)+"\x00"+m.Subject] = m.Key
	}
	return nil
}

// sesMails reads this suite's messages back from aws-ses-v2-local.
func (s *Suite) sesMails() []Mail {
	s.T.Helper()
	resp, err := http.Get(strings.TrimRight(os.Getenv("VEIL_SES_ENDPOINT"), "/") + "/store")
	if err != nil {
		s.T.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Emails []struct {
			Destination struct {
				To []string `json:"to"`
			} `json:"destination"`
			Subject string `json:"subject"`
			Body    struct {
				Text string `json:"text"`
			} `json:"body"`
			At int64 `json:"at"`
		} `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		s.T.Fatalf("GET /store: %v", err)
	}
	s.ses.mu.Lock()
	defer s.ses.mu.Unlock()
	var out []Mail
	for _, e := range st.Emails {
		for _, to := range e.Destination.To {
			addr := strings.ToLower(to)
			if i := strings.LastIndexByte(addr, '<'); i >= 0 {
				addr = strings.Trim(addr[i:], "<>")
			}
			if key, ok := s.ses.sent[addr+"\x00"+e.Subject]; ok && e.At >= s.ses.start.Unix()-1 {
				out = append(out, Mail{To: addr, Subject: e.Subject, Text: strings.ReplaceAll(e.Body.Text, "\r\n", "\n"), Key: key})
			}
		}
	}
	return out
}
