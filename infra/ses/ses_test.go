package ses_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go/middleware"

	vmail "github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/mailtest"
	"github.com/veil-privacy/veil/infra/ses"
	"github.com/veil-privacy/veil/privacy"
)

// endpoint returns aws-ses-v2-local's address, skipping without one
// except under CI, which must never pass without having exercised SES.
func endpoint(t *testing.T) string {
	t.Helper()
	ep := os.Getenv("VEIL_TEST_SES_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("VEIL_TEST_SES_ENDPOINT is not set under CI: start aws-ses-v2-local (scripts/emulators.sh start) and source .emulators/env")
		}
		t.Skip("VEIL_TEST_SES_ENDPOINT not set; run scripts/emulators.sh start && . .emulators/env")
	}
	return strings.TrimRight(ep, "/")
}

// ids collects the MessageIds SES returned to one client: the local
// server's store is shared by every test and run, so each test reads back
// only its own mail.
type ids struct {
	mu  sync.Mutex
	set map[string]bool
}

func (i *ids) has(id string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.set[id]
}

func (i *ids) record(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("veilRecordMessageID",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if o, ok := out.Result.(*sesv2.SendEmailOutput); ok && o.MessageId != nil {
				i.mu.Lock()
				i.set[*o.MessageId] = true
				i.mu.Unlock()
			}
			return out, md, err
		}), middleware.After)
}

// storedEmail is one entry of GET /store.
type storedEmail struct {
	MessageID   string `json:"messageId"`
	From        string `json:"from"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		Text string `json:"text"`
		HTML string `json:"html"`
	} `json:"body"`
	At int64 `json:"at"`
}

func readStore(t *testing.T, ep string, want func(id string) bool) []mailtest.Sent {
	t.Helper()
	resp, err := http.Get(ep + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Emails []storedEmail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /store: %v", err)
	}
	var out []mailtest.Sent
	for _, e := range st.Emails {
		if !want(e.MessageID) {
			continue
		}
		s := mailtest.Sent{Subject: e.Subject, Text: e.Body.Text}
		if a, err := mail.ParseAddress(e.From); err == nil {
			s.From = a.Address
		} else {
			t.Fatalf("stored from %q: %v", e.From, err)
		}
		to, err := mail.ParseAddressList(strings.Join(e.Destination.To, ", "))
		if err != nil {
			t.Fatalf("stored to %q: %v", e.Destination.To, err)
		}
		for _, a := range to {
			s.To = append(s.To, a.Address)
		}
		out = append(out, s)
	}
	return out
}

func newClient(ep string, rec *ids) *sesv2.Client {
	return sesv2.New(sesv2.Options{
		Region:       "cn-north-1",
		BaseEndpoint: aws.String(ep),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret-test", ""),
		APIOptions:   []func(*middleware.Stack) error{rec.record},
	})
}

// memSeen is the simplest Seen: enough for one process's tests.
type memSeen struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (m *memSeen) Seen(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[key], nil
}

func (m *memSeen) Mark(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[key] = true
	return nil
}

func TestConformance(t *testing.T) {
	ep := endpoint(t)
	mailtest.Run(t, func(t *testing.T) (vmail.Sender, func() []mailtest.Sent) {
		rec := &ids{set: map[string]bool{}}
		s, err := ses.New(context.Background(), ses.Config{Location: "cn-north-1", Client: newClient(ep, rec), Seen: &memSeen{keys: map[string]bool{}}})
		if err != nil {
			t.Fatal(err)
		}
		return s, func() []mailtest.Sent { return readStore(t, ep, rec.has) }
	})
}

// TestWithoutSeenSendsEveryCall documents the nil-Seen contract.
func TestWithoutSeenSendsEveryCall(t *testing.T) {
	ep := endpoint(t)
	rec := &ids{set: map[string]bool{}}
	s, err := ses.New(context.Background(), ses.Config{Location: "cn-north-1", Client: newClient(ep, rec)})
	if err != nil {
		t.Fatal(err)
	}
	m := &vmail.Message{From: "privacy@veil.example", To: []string{"x@example.com"}, Subject: "s", Text: "t", Key: "same"}
	for range 2 {
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if got := readStore(t, ep, rec.has); len(got) != 2 {
		t.Fatalf("delivered %d, want 2", len(got))
	}
}

// TestDefaultCredentialsChain builds the client as production does.
func TestDefaultCredentialsChain(t *testing.T) {
	ep := endpoint(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDENV",
		"AWS_SECRET_ACCESS_KEY":       "secret-env",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	s, err := ses.New(context.Background(), ses.Config{Region: "cn-north-1", Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	if s.Location() != "cn-north-1" {
		t.Errorf("Location = %q: want the region when none is declared", s.Location())
	}
	subject := "default chain " + t.Name()
	m := &vmail.Message{From: "privacy@veil.example", To: []string{"x@example.com"}, Subject: subject, Text: "t", Key: "k"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := readStore(t, ep, func(string) bool { return true }); len(got) == 0 || got[len(got)-1].Subject != subject {
		t.Fatal("the message is not in the store")
	}
}

func TestNewAndErrors(t *testing.T) {
	if _, err := ses.New(context.Background(), ses.Config{Client: newClient("http://127.0.0.1:1", &ids{})}); err == nil {
		t.Error("a sender without a location must be refused (R6)")
	}
	// Nothing listens on port 1: the failure is "retry later", not a bug.
	s, err := ses.New(context.Background(), ses.Config{Location: "x", Client: sesv2.New(sesv2.Options{
		Region: "cn-north-1", BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials:      credentials.NewStaticCredentialsProvider("a", "b", ""),
		RetryMaxAttempts: 1,
	})})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), &vmail.Message{From: "a@example.com", To: []string{"b@example.com"}, Subject: "s", Key: "k"})
	if privacy.ErrorCode(err) != privacy.EUNAVAILABLE {
		t.Fatalf("unreachable SES: want unavailable, got %v", err)
	}
}
