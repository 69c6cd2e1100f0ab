package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/functionstest"
	"github.com/veil-privacy/veil/functions/notify/fanout"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/notices"
	"github.com/veil-privacy/veil/privacy"
)

// sink is a mail.Sender that keeps what it was given.
type sink struct {
	mu   sync.Mutex
	sent []*mail.Message
	err  error
}

func (s *sink) Location() string { return "cn-local" }
func (s *sink) Send(_ context.Context, m *mail.Message) error {
	if err := mail.Check(m); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.sent = append(s.sent, m)
	return nil
}

// bus records what notify announces.
type bus struct {
	mu  sync.Mutex
	out []events.Event
}

func (b *bus) Publish(_ context.Context, es ...events.Event) error { return b.PublishTx(nil, es...) }
func (b *bus) PublishTx(_ store.Tx, es ...events.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.out = append(b.out, es...)
	return nil
}

func (b *bus) outcomes(t *testing.T) []events.DeliveryData {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []events.DeliveryData
	for _, e := range b.out {
		d, err := events.Decode[events.DeliveryData](e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func setup(t *testing.T) (*notifier, *sink, *bus) {
	t.Helper()
	ctx := context.Background()
	st := functionstest.OpenStores(t, t.TempDir(), "cn-local", make([]byte, 32))
	db, ring := st.DB, st.Keys
	for _, c := range []store.Collection{DeliveriesCollection, LettersCollection} {
		if err := st.Docs.Ensure(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	s, bs := &sink{}, &bus{}
	n, err := newNotifier(functions.Deps{Config: config.Config{MailFrom: "privacy@veil.example", PublicURL: "https://veil.example"},
		Log: zerolog.Nop(), DB: db, Keys: ring, Mail: s, Bus: bs, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return n, s, bs
}

func seal(t *testing.T, n *notifier, subjectKey, v string) string {
	t.Helper()
	c, err := n.d.Keys.Seal(context.Background(), subjectKey, []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	return fanout.SealedPrefix + base64.RawURLEncoding.EncodeToString(c)
}

func event(d events.NotificationData) events.Event {
	return events.Must(events.NotificationRequested, "", d)
}

var incidentVars = map[string]string{"incident_id": "inc-1", "title": "Bucket exposed", "what_happened": "w",
	"occurred_at": "2026-03-01T00:00:00Z", "discovered_at": "2026-03-02T00:00:00Z", "categories_zh": "设备标识符",
	"categories_en": "device identifiers", "impact": "i", "measures": "m", "advice": "a", "remedies": "r",
	"contact": "privacy@veil.example", "announcements_url": "https://veil.example/v1/announcements"}

func TestRedeliveredNotificationMailsOnce(t *testing.T) {
	n, s, bs := setup(t)
	d := events.NotificationData{Key: "incident:inc-1~sk1", Channel: Email, SubjectKey: "sk1", Template: "incident_notice",
		Vars: incidentVars, Ref: "incident:inc-1"}
	d.To = seal(t, n, "sk1", "alice@example.com")
	first := event(d)
	for _, e := range []events.Event{first, first, event(d)} { // the same event twice, and a copy with a new id
		if err := n.handle(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.sent) != 1 {
		t.Fatalf("%d mails for one key", len(s.sent))
	}
	m := s.sent[0]
	if m.To[0] != "alice@example.com" || m.From != "privacy@veil.example" || m.Key != d.Key {
		t.Errorf("mail %+v", m)
	}
	if !strings.Contains(m.Subject, "Bucket exposed") || !strings.Contains(m.Text, "可能的影响") || !strings.Contains(m.Text, "Possible impact") {
		t.Errorf("notice is not the bilingual incident notice: %s\n%s", m.Subject, m.Text)
	}
	if o := bs.outcomes(t); len(o) != 1 || o[0].Status != StatusSent || o[0].Ref != d.Ref || o[0].Key != d.Key {
		t.Errorf("outcomes %+v", o)
	}
	x, err := n.deliveries.Get(context.Background(), DeliveryID(d.Key))
	if err != nil || x.Status != StatusSent || x.Attempts != 1 || x.SentAt == nil {
		t.Errorf("delivery record %+v, %v", x, err)
	}
}

func TestOutcomes(t *testing.T) {
	var mu sync.Mutex
	var pushed []PushBody
	status := http.StatusOK
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p PushBody
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &p)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Idempotency-Key") != p.Key {
			t.Errorf("push without its idempotency key")
		}
		pushed = append(pushed, p)
		w.WriteHeader(status)
	}))
	defer hook.Close()

	cases := []struct {
		name     string
		channel  string
		to       string // sealed unless it starts with "plain:"
		hook     int    // webhook answer
		template string
		mailErr  error
		want     string // outcome; "retry" = error returned, nothing announced
	}{
		{"email", Email, "bob@example.com", 0, "", nil, StatusSent},
		{"bad address", Email, "not an address", 0, "", nil, StatusFailed},
		{"mail backend down", Email, "bob@example.com", 0, "", privacy.Errorf(privacy.EUNAVAILABLE, "ses down"), "retry"},
		{"unknown template", Email, "bob@example.com", 0, "no_such", nil, StatusFailed},
		{"push", Push, "app-hook device:oaid:abc", 200, "", nil, StatusSent},
		{"push refused", Push, "app-hook device:oaid:abc", 410, "", nil, StatusFailed},
		{"push busy", Push, "app-hook device:oaid:abc", 503, "", nil, "retry"},
		{"push rate limited", Push, "app-hook device:oaid:abc", 429, "", nil, "retry"},
		{"app without webhook", Push, "app-none device:oaid:abc", 0, "", nil, StatusUnreachable},
		{"unknown app", Push, "app-gone device:oaid:abc", 0, "", nil, StatusUnreachable},
		{"letter", Postal, "北京市海淀区苏州街 1 号", 0, "", nil, StatusSent},
		{"letter without address", Postal, " ", 0, "", nil, StatusUnreachable},
		{"sealed for someone else", Email, "foreign:bob@example.com", 0, "", nil, StatusFailed},
		{"erased subject", Email, "plain:" + fanout.SealedPrefix + "AAAA", 0, "", nil, StatusUnreachable},
		{"unknown channel", "fax", "x", 0, "", nil, StatusFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, s, bs := setup(t)
			s.err = c.mailErr
			for _, a := range []*privacy.App{{ID: "app-hook", PushWebhook: hook.URL}, {ID: "app-none"}} {
				if err := n.d.DB.Apps.Put(context.Background(), a); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			status, pushed = c.hook, nil
			mu.Unlock()
			tmpl := c.template
			if tmpl == "" {
				tmpl = "incident_notice"
			}
			d := events.NotificationData{Key: "k-" + c.name, Channel: c.channel, SubjectKey: "sk", Template: tmpl, Vars: incidentVars, Ref: "incident:i"}
			if p, ok := strings.CutPrefix(c.to, "plain:"); ok {
				d.To = p
			} else if p, ok := strings.CutPrefix(c.to, "foreign:"); ok {
				seal(t, n, "sk", "gives sk a key")
				d.To = seal(t, n, "other", p)
			} else {
				d.To = seal(t, n, "sk", c.to)
			}
			err := n.handle(context.Background(), event(d))
			o := bs.outcomes(t)
			if c.want == "retry" {
				if err == nil || privacy.ErrorCode(err) == privacy.EINVALID || len(o) != 0 {
					t.Fatalf("want a retryable error and no outcome, got %v and %+v", err, o)
				}
				// The broker gives up: the dead letter closes it as failed.
				dl := events.Must(events.EventDeadLettered, "", events.DeadLetterData{EventID: mustDelivery(t, n, d.Key).EventID,
					Type: events.NotificationRequested, Subscriber: Name, Attempts: 6, Error: "x"})
				if err := n.handleDeadLetter(context.Background(), dl); err != nil {
					t.Fatal(err)
				}
				if o := bs.outcomes(t); len(o) != 1 || o[0].Status != StatusFailed {
					t.Fatalf("after dead letter: %+v", o)
				}
				return
			}
			if err != nil {
				t.Fatalf("permanent outcomes are not retried, got %v", err)
			}
			if len(o) != 1 || o[0].Status != c.want {
				t.Fatalf("outcome %+v, want %s", o, c.want)
			}
			switch {
			case c.name == "push":
				mu.Lock()
				defer mu.Unlock()
				if len(pushed) != 1 || pushed[0].Device != "device:oaid:abc" || pushed[0].AppID != "app-hook" || pushed[0].Text == "" {
					t.Errorf("pushed %+v", pushed)
				}
			case c.name == "letter":
				ls, err := n.letters.Find(context.Background(), store.Query{})
				if err != nil || len(ls) != 1 || ls[0].Address != c.to || !strings.Contains(ls[0].Subject, "Bucket exposed") {
					t.Errorf("letter list %+v %v", ls, err)
				}
			case c.want == StatusSent && len(s.sent) != 1:
				t.Errorf("%d mails", len(s.sent))
			}
		})
	}
}

func mustDelivery(t *testing.T, n *notifier, key string) *Delivery {
	t.Helper()
	x, err := n.deliveries.Get(context.Background(), DeliveryID(key))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// Every template this function sends renders in both languages with the
// variables its senders give, and a missing variable is an error.
func TestTemplates(t *testing.T) {
	set, err := notices.Load()
	if err != nil {
		t.Fatal(err)
	}
	policy := map[string]string{"version": "2026.2", "effective_at": "2026-04-01 00:00 UTC+8", "summary": "s",
		"changes": "- c", "ack_url": "https://a", "consent_url": "https://c", "policies_url": "https://p"}
	cases := []struct {
		name, material string
		vars           map[string]string
		want           []string
	}{
		{"incident_notice", "", incidentVars, []string{"Bucket exposed", "补救措施", "Remedies"}},
		{"policy_revision", "true", policy, []string{"https://c", "明确同意", "explicit consent"}},
		{"policy_revision", "false", policy, []string{"https://a", "2026-04-01"}},
		{"policy_revision_developer", "true", policy, []string{"终端用户", "end users", "https://c"}},
		{"operations_ceased", "", map[string]string{"ceased_at": "2026-05-01", "note": "", "contact": "privacy@veil.example"}, []string{"停止运营", "cessation"}},
	}
	for _, c := range cases {
		vars := map[string]string{}
		for k, v := range c.vars {
			vars[k] = v
		}
		if c.material != "" {
			vars["material"] = c.material
		}
		note, err := set.Render(c.name, "", vars)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(note.Subject+note.Text, w) {
				t.Errorf("%s (material=%s) lacks %q", c.name, c.material, w)
			}
		}
		if c.material == "false" && strings.Contains(note.Text, "https://c") {
			t.Errorf("a non-material notice asks for consent")
		}
		for k := range vars {
			if k == "ack_url" || k == "consent_url" {
				continue // each is used only on its side of the material branch
			}
			short := map[string]string{}
			for k2, v := range vars {
				if k2 != k {
					short[k2] = v
				}
			}
			if _, err := set.Render(c.name, "", short); err == nil {
				t.Errorf("%s renders without %q", c.name, k)
			}
		}
	}
}

// While one attempt holds a key, a second copy of the notification is
// turned away with a retryable error instead of sending too.
func TestConcurrentCopiesDoNotBothSend(t *testing.T) {
	n, _, _ := setup(t)
	d := events.NotificationData{Key: "k-lease", Channel: Email, To: "eve@example.com", Template: "incident_notice", Vars: incidentVars}
	if skip, err := n.begin(context.Background(), "ev-1", d); err != nil || skip {
		t.Fatalf("first attempt: skip=%v err=%v", skip, err)
	}
	_, err := n.begin(context.Background(), "ev-2", d)
	if privacy.ErrorCode(err) != privacy.EUNAVAILABLE {
		t.Fatalf("second attempt while the first is in flight: %v", err)
	}
	if err := n.finish(context.Background(), d, StatusSent, ""); err != nil {
		t.Fatal(err)
	}
	if skip, err := n.begin(context.Background(), "ev-2", d); err != nil || !skip {
		t.Fatalf("after the first finished: skip=%v err=%v", skip, err)
	}
}

// An attempt that crashed mid-send holds its notification for leaseTime;
// the broker's redeliveries must outlast that, or the notification is
// dead-lettered instead of sent.
func TestLeaseExpiresWithinTheRetryWindow(t *testing.T) {
	if w := events.DefaultDelivery.Window(); LeaseTime <= attemptTimeout || LeaseTime >= w {
		t.Fatalf("lease %s must be longer than an attempt (%s) and shorter than the retry window (%s)", LeaseTime, attemptTimeout, w)
	}
}
