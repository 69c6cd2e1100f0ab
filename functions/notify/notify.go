// Package notify is the function that sends everything Veil tells people
// (apart from requests' one-time codes): it consumes
// com.veil.notification.requested.v1, renders the notice's template in
// Chinese and English, and delivers it by email (Deps.Mail: the outbox
// locally, SES v2 in production), by push through the app developer's
// registered webhook, or onto the letter list ops print and post.
//
// Exactly once per key, as far as the outside allows: a delivery record
// keyed by the notification key is written before the attempt and closed
// after it, so a redelivered event whose key was sent (or permanently
// failed) does nothing; the mail sender dedupes the same key again, and
// the push carries it as Idempotency-Key for the developer to do the same.
// Transient failures return an error so the broker retries with backoff;
// permanent ones (a bad address, a 4xx from a webhook, no way to reach the
// person) are recorded at once without retry. Every final outcome is
// announced as com.veil.notification.delivered.v1 (sent, failed,
// unreachable) so incidents and policies can count; one that exhausts its
// retries is closed as failed when the broker dead-letters it.
package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/notify/fanout"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/notices"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name (VEIL_FUNCTIONS, the Knative Service).
const Name = "notify"

// Channels.
const (
	Email  = "email"
	Push   = "push"
	Postal = "letter"
)

// Delivery statuses. pending: an attempt is under way or will be retried.
const (
	StatusPending     = "pending"
	StatusSent        = fanout.StatusSent
	StatusFailed      = fanout.StatusFailed
	StatusUnreachable = fanout.StatusUnreachable
)

// Collections notify owns.
var (
	DeliveriesCollection = store.Collection{Name: "notify_deliveries",
		Keys: []store.Key{{Name: "event", Kind: store.String}, {Name: "ref", Kind: store.String},
			{Name: "subject", Kind: store.String}, {Name: "status", Kind: store.String}, {Name: "at", Kind: store.Int}}}
	LettersCollection = store.Collection{Name: "notify_letters",
		Keys: []store.Key{{Name: "created", Kind: store.Int}, {Name: "subject", Kind: store.String}}}
)

// Delivery is the persisted record of one notification key.
type Delivery struct {
	ID         string     `json:"id"` // hash of Key: keys are the caller's and may hold any character
	Key        string     `json:"key"`
	Channel    string     `json:"channel"`
	Template   string     `json:"template"`
	Ref        string     `json:"ref,omitempty"`
	SubjectKey string     `json:"subject_key,omitempty"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	EventID    string     `json:"event_id"`
	Error      string     `json:"error,omitempty"`
	LeaseUntil time.Time  `json:"lease_until,omitzero"` // an attempt is in flight until then
	FirstAt    time.Time  `json:"first_at"`
	At         time.Time  `json:"at"`
	SentAt     *time.Time `json:"sent_at,omitempty"`
}

// attemptTimeout bounds one send (mail, webhook or letter); LeaseTime is
// how long an attempt holds its notification: longer than attemptTimeout,
// so a live attempt is never overtaken, and shorter than the broker's
// whole retry window (events.DefaultDelivery: 1+2+4+8+16 s; the suite
// refuses a configured one that is not), so the redeliveries of an attempt
// that crashed mid-send find the lease expired before they run out — with
// a minute, a crash there dead-lettered the notification (found by the
// crash test).
const (
	attemptTimeout = 10 * time.Second
	LeaseTime      = 2 * attemptTimeout
)

func (d *Delivery) final() bool { return d.Status != StatusPending && d.Status != "" }

// Letter is one notice on the letter list: ops print and post these, then
// mark them posted. The address is what the notification named.
type Letter struct {
	ID         string     `json:"id"`
	Key        string     `json:"key"`
	Ref        string     `json:"ref,omitempty"`
	SubjectKey string     `json:"subject_key,omitempty"`
	Address    string     `json:"address"`
	Subject    string     `json:"subject"`
	Text       string     `json:"text"`
	CreatedAt  time.Time  `json:"created_at"`
	PostedAt   *time.Time `json:"posted_at,omitempty"`
}

// DeliveryID is the delivery record id of a notification key.
func DeliveryID(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// permanent marks a failure retrying cannot mend; status is failed or
// unreachable.
type permanent struct {
	status string
	msg    string
}

func (p *permanent) Error() string { return p.status + ": " + p.msg }

func fail(status, format string, args ...any) error {
	return &permanent{status: status, msg: fmt.Sprintf(format, args...)}
}

type notifier struct {
	d          functions.Deps
	tmpl       *notices.Set
	client     *http.Client
	deliveries store.Repo[Delivery]
	letters    store.Repo[Letter]
}

// New builds the notify function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	n, err := newNotifier(d)
	if err != nil {
		return nil, err
	}
	return &functions.Function{
		Name: Name,
		Events: map[string]events.Handler{
			events.NotificationRequested: n.handle,
			events.EventDeadLettered:     n.handleDeadLetter,
		},
		Routes: map[string]http.Handler{
			"GET /v1/letters":              httpx.RequireOps(d.Config.OpsToken, http.HandlerFunc(n.listLetters)),
			"POST /v1/letters/{id}/posted": httpx.RequireOps(d.Config.OpsToken, http.HandlerFunc(n.markPosted)),
			"GET /v1/notifications/{key}":  httpx.RequireOps(d.Config.OpsToken, http.HandlerFunc(n.showDelivery)),
		},
		Collections: []store.Collection{DeliveriesCollection, LettersCollection},
		Processing:  Processing(),
	}, nil
}

func newNotifier(d functions.Deps) (*notifier, error) {
	tmpl, err := notices.Load()
	if err != nil {
		return nil, err
	}
	b := d.DB.Backend
	return &notifier{d: d, tmpl: tmpl,
		// Webhooks get a bounded time and no redirects: a redirect to
		// elsewhere is not the endpoint the developer registered.
		client: &http.Client{Timeout: attemptTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		deliveries: store.Repo[Delivery]{B: b, C: DeliveriesCollection, ID: func(x *Delivery) string { return x.ID },
			Keys: func(x *Delivery) map[string]any {
				return map[string]any{"event": x.EventID, "ref": x.Ref, "subject": x.SubjectKey, "status": x.Status, "at": store.Unix(x.At)}
			}},
		letters: store.Repo[Letter]{B: b, C: LettersCollection, ID: func(x *Letter) string { return x.ID },
			Keys: func(x *Letter) map[string]any {
				return map[string]any{"created": store.Unix(x.CreatedAt), "subject": x.SubjectKey}
			}},
	}, nil
}

func (n *notifier) handle(ctx context.Context, ev events.Event) error {
	d, err := events.Decode[events.NotificationData](ev)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if strings.TrimSpace(d.Key) == "" {
		return privacy.Errorf(privacy.EINVALID, "notification without key")
	}
	log := zerolog.Ctx(ctx).With().Str("notification", DeliveryID(d.Key)[:16]).Str("channel", d.Channel).Str("ref", d.Ref).Logger()
	skip, err := n.begin(ctx, ev.ID(), d)
	if err != nil || skip {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	err = n.deliver(dctx, d)
	cancel()
	var p *permanent
	switch {
	case err == nil:
		log.Info().Msg("notification sent")
		return n.finish(ctx, d, StatusSent, "")
	case errors.As(err, &p):
		log.Warn().Str("status", p.status).Str("reason", p.msg).Msg("notification not deliverable; not retried")
		return n.finish(ctx, d, p.status, p.msg)
	}
	log.Warn().Err(err).Msg("notification delivery failed; the broker retries")
	if _, uerr := n.deliveries.Update(ctx, DeliveryID(d.Key), func(x *Delivery) error {
		x.Error, x.LeaseUntil = truncate(err.Error(), 300), time.Time{}
		return nil
	}); uerr != nil {
		log.Error().Err(uerr).Msg("could not record the failed attempt")
	}
	return privacy.Errorf(privacy.EUNAVAILABLE, "delivery failed; retry: %v", err)
}

// begin records an attempt before anything is sent, so a dead-lettered
// event can be matched to its key. skip: the key is already final.
func (n *notifier) begin(ctx context.Context, eventID string, d events.NotificationData) (skip bool, err error) {
	now := n.d.Now()
	id := DeliveryID(d.Key)
	err = n.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		skip = false
		x, err := n.deliveries.In(tx).Get(id)
		if privacy.IsNotFound(err) {
			x, err = &Delivery{ID: id, Key: d.Key, Channel: d.Channel, Template: d.Template, Ref: d.Ref,
				SubjectKey: d.SubjectKey, FirstAt: now}, nil
		}
		if err != nil {
			return err
		}
		if x.final() {
			skip = true
			return nil
		}
		if x.Status == StatusPending && now.Before(x.LeaseUntil) {
			// Another copy of this notification (a redelivery under a new
			// event id) is being sent right now: sending too could mail
			// twice. Come back later, when it is final or its sender died.
			return privacy.Errorf(privacy.EUNAVAILABLE, "notification %s is being delivered by another attempt", id[:16])
		}
		x.Status, x.Attempts, x.EventID, x.At, x.LeaseUntil = StatusPending, x.Attempts+1, eventID, now, now.Add(LeaseTime)
		return n.deliveries.In(tx).Put(x)
	})
	return skip, err
}

// finish closes a delivery and announces the outcome in one transaction.
func (n *notifier) finish(ctx context.Context, d events.NotificationData, status, msg string) error {
	now := n.d.Now()
	counted := false
	err := n.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		counted = false
		x, err := n.deliveries.In(tx).Get(DeliveryID(d.Key))
		if err != nil {
			return err
		}
		if x.final() {
			return nil
		}
		counted = true
		x.Status, x.Error, x.At, x.LeaseUntil = status, truncate(msg, 300), now, time.Time{}
		if status == StatusSent {
			x.SentAt = &now
		}
		if err := n.deliveries.In(tx).Put(x); err != nil {
			return err
		}
		return n.d.Bus.PublishTx(tx, events.Must(events.NotificationDelivered, x.Ref,
			events.DeliveryData{Key: x.Key, Channel: x.Channel, Ref: x.Ref, Status: status, Error: x.Error}))
	})
	if err == nil && counted {
		n.d.Metrics.Notice(d.Channel, status)
	}
	return err
}

// handleDeadLetter closes as failed a notification whose retries ran out.
func (n *notifier) handleDeadLetter(ctx context.Context, ev events.Event) error {
	dl, err := events.Decode[events.DeadLetterData](ev)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if dl.Type != events.NotificationRequested || dl.Subscriber != Name {
		return nil
	}
	xs, err := n.deliveries.Find(ctx, store.Query{Filters: []store.Filter{store.Where("event", store.EQ, dl.EventID)}, Limit: 1})
	if err != nil || len(xs) == 0 {
		return err
	}
	x := xs[0]
	return n.finish(ctx, events.NotificationData{Key: x.Key, Channel: x.Channel, Ref: x.Ref}, StatusFailed,
		fmt.Sprintf("gave up after %d attempts: %s", dl.Attempts, x.Error))
}

// deliver renders and sends one notice. A *permanent error is final.
func (n *notifier) deliver(ctx context.Context, d events.NotificationData) error {
	to, err := n.unseal(ctx, d.SubjectKey, d.To)
	if err != nil {
		return err
	}
	vars := make(map[string]string, len(d.Vars))
	for k, v := range d.Vars {
		if vars[k], err = n.unseal(ctx, d.SubjectKey, v); err != nil {
			return err
		}
	}
	if !n.tmpl.Has(d.Template) {
		return fail(StatusFailed, "no template %q", d.Template)
	}
	lang := ""
	if d.Lang != "" {
		lang = notices.Lang(d.Lang)
	}
	note, err := n.tmpl.Render(d.Template, lang, vars)
	if err != nil {
		return fail(StatusFailed, "template: %v", err)
	}
	switch d.Channel {
	case Email:
		err := n.d.Mail.Send(ctx, &mail.Message{From: n.d.Config.MailFrom, To: []string{to}, Subject: note.Subject,
			Text: note.Text, Key: d.Key, Headers: map[string]string{"X-Veil-Ref": d.Ref}})
		if privacy.ErrorCode(err) == privacy.EINVALID {
			return fail(StatusFailed, "mail refused: %s", privacy.ErrorMessage(err))
		}
		return err
	case Push:
		return n.push(ctx, d, to, note)
	case Postal:
		if strings.TrimSpace(to) == "" {
			return fail(StatusUnreachable, "no postal address")
		}
		id := DeliveryID(d.Key)
		return n.letters.Put(ctx, &Letter{ID: id, Key: d.Key, Ref: d.Ref, SubjectKey: d.SubjectKey, Address: to,
			Subject: note.Subject, Text: note.Text, CreatedAt: n.d.Now()})
	}
	return fail(StatusFailed, "unknown channel %q", d.Channel)
}

// unseal opens a value fanout sealed under the subject's key; other values
// pass through. A destroyed key means the person was erased: there is no
// one left to tell.
func (n *notifier) unseal(ctx context.Context, subjectKey, v string) (string, error) {
	rest, ok := strings.CutPrefix(v, fanout.SealedPrefix)
	if !ok {
		return v, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || subjectKey == "" {
		return "", fail(StatusFailed, "malformed sealed value")
	}
	plain, err := n.d.Keys.Open(ctx, subjectKey, raw)
	var de *privacy.Error
	switch {
	case err == nil:
		return string(plain), nil
	case privacy.ErrorCode(err) == privacy.EGONE:
		return "", fail(StatusUnreachable, "the subject's data key was destroyed (erased)")
	case errors.As(err, &de):
		return "", err // the key store answered with an error: try again later
	}
	// Anything else is cryptographic: the value was not sealed for this
	// subject, and no retry will change that.
	return "", fail(StatusFailed, "sealed value does not open under the subject's key")
}

// PushBody is what a developer's webhook receives. Device names the end
// user in the SDK's own terms (device:<id type>:<id>), which the
// developer already holds, so they can show the notice in their app.
type PushBody struct {
	Key      string `json:"key"`
	AppID    string `json:"app_id"`
	Device   string `json:"device,omitempty"`
	Ref      string `json:"ref,omitempty"`
	Template string `json:"template"`
	Subject  string `json:"subject"`
	Text     string `json:"text"`
}

// push posts the notice to the webhook of the app named by to
// ("<app id> <device subject>"). 2xx is sent; 408, 429, 5xx and network
// errors are retried; any other answer is a permanent failure.
func (n *notifier) push(ctx context.Context, d events.NotificationData, to string, note notices.Notice) error {
	appID, device, _ := strings.Cut(strings.TrimSpace(to), " ")
	if appID == "" {
		return fail(StatusUnreachable, "push without an app")
	}
	app, err := n.d.DB.Apps.Get(ctx, appID)
	if privacy.IsNotFound(err) {
		return fail(StatusUnreachable, "no such app")
	} else if err != nil {
		return err
	}
	if app.Revoked || app.PushWebhook == "" {
		return fail(StatusUnreachable, "the app has no push webhook")
	}
	u, err := url.Parse(app.PushWebhook)
	if err != nil || (u.Scheme != "https" && (n.d.Config.Production || u.Scheme != "http")) || u.Host == "" {
		return fail(StatusFailed, "the app's push webhook is not a usable URL")
	}
	body, _ := json.Marshal(PushBody{Key: d.Key, AppID: appID, Device: device, Ref: d.Ref, Template: d.Template,
		Subject: note.Subject, Text: note.Text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fail(StatusFailed, "webhook request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", d.Key)
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook unreachable: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("webhook answered %d", c)
	default:
		return fail(StatusFailed, "webhook answered %d", c)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// listLetters is the letter list for ops: unposted letters first by age,
// a page at a time (?after=<id of the last one seen>).
func (n *notifier) listLetters(w http.ResponseWriter, r *http.Request) {
	q := store.Query{OrderBy: "created", Limit: 100}
	if after := r.URL.Query().Get("after"); after != "" {
		a, err := n.letters.Get(r.Context(), after)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		q.After = &store.Doc{ID: a.ID, Keys: map[string]any{"created": store.Unix(a.CreatedAt)}}
	}
	ls, err := n.letters.Find(r.Context(), q)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	if ls == nil {
		ls = []*Letter{}
	}
	out := map[string]any{"letters": ls}
	if len(ls) == q.Limit {
		out["next"] = ls[len(ls)-1].ID
	}
	httpx.JSON(w, http.StatusOK, out)
}

func (n *notifier) markPosted(w http.ResponseWriter, r *http.Request) {
	now := n.d.Now()
	l, err := n.letters.Update(r.Context(), r.PathValue("id"), func(l *Letter) error {
		if l.PostedAt == nil {
			l.PostedAt = &now
		}
		return nil
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, l)
}

// showDelivery answers where one notification key stands (ops).
func (n *notifier) showDelivery(w http.ResponseWriter, r *http.Request) {
	x, err := n.deliveries.Get(r.Context(), DeliveryID(r.PathValue("key")))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, x)
}
