// Package partners is the partners function (R7, R8): the registry of
// partners that receive de-identified data, the feed they pull it from,
// the disclosure log every shared record is written to (so a deletion or
// a withdrawal reaches exactly the partners that got the subject's data),
// the delivery and acknowledgement of those erasure requests, and the
// de-identified statistics that outlive the records they count.
//
// What a partner gets (policy §3(1)5: "去标识化或匿名化后的信息", only what
// its stated purposes need) is decided record by record at the moment of
// sharing, from the record, the partner's registration and the subject's
// consent as recorded then — see feed.go.
package partners

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name (VEIL_FUNCTIONS, Knative Service).
const Name = "partners"

// Collections the function owns. The disclosure log is shared
// (store.DB.Disclosures) because erasure reads it.
var (
	PartnersCollection = store.Collection{Name: "partners",
		Keys: []store.Key{{Name: "token_hash", Kind: store.String}, {Name: "created", Kind: store.Int}}}
	// ErasuresCollection is each partner's inbox of erasure requests,
	// pending until the partner acknowledges.
	ErasuresCollection = store.Collection{Name: "partner_erasures",
		Keys:    []store.Key{{Name: "partner", Kind: store.String}, {Name: "pending", Kind: store.Bool}, {Name: "received", Kind: store.Int}},
		Indexes: [][]string{{"partner", "pending", "received"}}}
	// StatsCollection holds the de-identified statistics (R8).
	StatsCollection = store.Collection{Name: "partner_stats",
		Keys: []store.Key{{Name: "day", Kind: store.Int}, {Name: "app", Kind: store.String}}}
	// CountedCollection remembers which ad records were counted, for a
	// while, so a redelivered event is not counted twice (see stats.go).
	CountedCollection = store.Collection{Name: "partner_stats_counted", Keys: []store.Key{{Name: "at", Kind: store.Int}}}
)

// Collections lists what the function owns.
func Collections() []store.Collection {
	return []store.Collection{PartnersCollection, ErasuresCollection, StatsCollection, CountedCollection}
}

// maxBody bounds a registration; a real one is a few hundred bytes.
const maxBody = 8 << 10

// Partner is a registered recipient of de-identified data.
type Partner struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Purposes []privacy.Purpose `json:"purposes"`
	// Location is where the partner processes what it receives (a region
	// name such as "cn-shanghai" or "us-east-1"); outside mainland China
	// it receives CN data only with the subject's cross-border consent.
	Location  string     `json:"location"`
	Webhook   string     `json:"webhook,omitempty"` // where erasure requests are pushed; pull otherwise
	TokenHash string     `json:"token_hash"`
	CreatedAt time.Time  `json:"created_at"`
	Revoked   bool       `json:"revoked,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Feed progress: the furthest cursor served and how many records.
	Cursor string `json:"cursor,omitempty"`
	Shared int64  `json:"shared"`
}

type service struct {
	d        functions.Deps
	partners store.Repo[Partner]
	erasures store.Repo[Erasure]
	stats    store.Repo[statsDoc]
	counted  store.Repo[counted]
	client   *http.Client
}

// New builds the partners function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	s := newService(d)
	ops := func(h http.HandlerFunc) http.Handler { return httpx.RequireOps(d.Config.OpsToken, h) }
	return &functions.Function{
		Name: Name,
		Routes: map[string]http.Handler{
			"POST /v1/partners":                   ops(s.register),
			"GET /v1/partners":                    ops(s.list),
			"POST /v1/partners/{id}/revoke":       ops(s.revoke),
			"GET /v1/partners/feed":               http.HandlerFunc(s.feed),
			"GET /v1/partners/erasures":           http.HandlerFunc(s.pendingErasures),
			"POST /v1/partners/erasures/{id}/ack": http.HandlerFunc(s.ack),
			"GET /v1/stats":                       ops(s.showStats),
		},
		Events: map[string]events.Handler{
			events.AdRequestReceived: s.count,
			events.ErasureRequested:  s.deliverErasure,
			events.ConsentChanged:    s.consentChanged,
		},
		Batch:       map[string]events.BatchHandler{events.AdRequestReceived: s.countAllTx},
		Collections: Collections(),
		Processing:  Processing(),
	}, nil
}

func newService(d functions.Deps) *service {
	b := d.DB.Backend
	return &service{d: d,
		partners: store.Repo[Partner]{B: b, C: PartnersCollection, ID: func(p *Partner) string { return p.ID },
			Keys: func(p *Partner) map[string]any {
				return map[string]any{"token_hash": p.TokenHash, "created": store.Unix(p.CreatedAt)}
			}},
		erasures: store.Repo[Erasure]{B: b, C: ErasuresCollection, ID: func(e *Erasure) string { return e.ID },
			Keys: func(e *Erasure) map[string]any {
				return map[string]any{"partner": e.PartnerID, "pending": e.AckedAt == nil, "received": store.Unix(e.ReceivedAt)}
			}},
		stats: store.Repo[statsDoc]{B: b, C: StatsCollection, ID: func(c *statsDoc) string { return c.ID },
			Keys: func(c *statsDoc) map[string]any { return map[string]any{"day": c.DayUnix, "app": c.AppID} }},
		counted: store.Repo[counted]{B: b, C: CountedCollection, ID: func(c *counted) string { return c.ID },
			Keys: func(c *counted) map[string]any { return map[string]any{"at": store.Unix(c.At)} }},
		// A partner's webhook gets a bounded time and no redirects: a
		// redirect leads somewhere the partner did not register.
		client: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// Registration is the body of POST /v1/partners.
type Registration struct {
	Name     string            `json:"name"`
	Purposes []privacy.Purpose `json:"purposes"`
	Location string            `json:"location"`
	Delivery *struct {
		Webhook string `json:"webhook"`
	} `json:"delivery"`
}

var locationPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9:-]{1,39}$`)

// sharablePurposes are the purposes a partner may receive data for: the
// field table's, because those are the only purposes the policy collects
// device data for.
var sharablePurposes = []privacy.Purpose{privacy.PurposeFraud, privacy.PurposeAttribution, privacy.PurposeCreative,
	privacy.PurposeLocale, privacy.PurposeOS, privacy.PurposePersonalization}

// check validates a registration. Production demands an https webhook.
func (in *Registration) check(production bool) error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || !utf8.ValidString(in.Name) || utf8.RuneCountInString(in.Name) > 200 || strings.ContainsAny(in.Name, "\r\n\x00") {
		return privacy.FieldError("name", "1–200 characters on one line")
	}
	if len(in.Purposes) == 0 {
		return privacy.FieldError("purposes", "name the purposes the partner receives data for")
	}
	seen := map[privacy.Purpose]bool{}
	for _, p := range in.Purposes {
		if !slices.Contains(sharablePurposes, p) {
			return privacy.FieldError("purposes", "%q is not a purpose data is collected for (%s)", clip(string(p)), joinPurposes(sharablePurposes))
		}
		if seen[p] {
			return privacy.FieldError("purposes", "%s named twice", p)
		}
		seen[p] = true
	}
	in.Location = strings.ToLower(strings.TrimSpace(in.Location))
	if !locationPattern.MatchString(in.Location) {
		return privacy.FieldError("location", "a region name such as cn-shanghai or us-east-1")
	}
	if in.Delivery != nil && in.Delivery.Webhook != "" {
		u, err := url.Parse(in.Delivery.Webhook)
		ok := err == nil && u.Host != "" && u.User == nil && u.Fragment == "" && (u.Scheme == "https" || (!production && u.Scheme == "http"))
		if !ok || len(in.Delivery.Webhook) > 2048 {
			want := "an absolute http(s) URL"
			if production {
				want = "an absolute https URL"
			}
			return privacy.FieldError("delivery.webhook", "must be %s", want)
		}
	}
	return nil
}

// DecodeRegistration is the registration parser (fuzzed).
func DecodeRegistration(body []byte, production bool) (Registration, error) {
	var in Registration
	if err := httpx.DecodeBytes(body, &in); err != nil {
		return in, err
	}
	return in, in.check(production)
}

func joinPurposes(ps []privacy.Purpose) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// tokenHash is what is stored of a pull token. The label keeps partner
// tokens in their own hash domain, apart from app keys and subjects.
func (s *service) tokenHash(token string) string { return s.d.Keys.Hash("partner-token:" + token) }

// webhookSecret is the key a partner checks our webhook calls with. It is
// derived, not stored, so a copy of the database does not hold it.
func (s *service) webhookSecret(partnerID string) string {
	return s.d.Keys.Pseudonym("partner-webhook-secret", partnerID)
}

// Registered is the answer to a registration: the credentials, shown once.
type Registered struct {
	PartnerID     string `json:"partner_id"`
	PullToken     string `json:"pull_token"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

func (s *service) register(w http.ResponseWriter, r *http.Request) {
	var in Registration
	if err := httpx.Decode(w, r, maxBody, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if err := in.check(s.d.Config.Production); err != nil {
		httpx.Error(w, r, err)
		return
	}
	token := keys.NewSecret("vpt_")
	p := &Partner{ID: keys.NewID("pt_"), Name: in.Name, Purposes: in.Purposes, Location: in.Location,
		TokenHash: s.tokenHash(token), CreatedAt: s.d.Now().UTC()}
	if in.Delivery != nil {
		p.Webhook = in.Delivery.Webhook
	}
	if err := s.partners.Create(r.Context(), p); err != nil {
		httpx.Error(w, r, err)
		return
	}
	s.d.Log.Info().Str("partner_id", p.ID).Str("location", p.Location).Bool("abroad", !privacy.InMainland(p.Location)).
		Str("purposes", joinPurposes(p.Purposes)).Msg("partner registered")
	out := Registered{PartnerID: p.ID, PullToken: token}
	if p.Webhook != "" {
		out.WebhookSecret = s.webhookSecret(p.ID)
	}
	httpx.JSON(w, http.StatusCreated, out)
}

// View is a partner as ops see it: no token hash.
type View struct {
	PartnerID string            `json:"partner_id"`
	Name      string            `json:"name"`
	Purposes  []privacy.Purpose `json:"purposes"`
	Location  string            `json:"location"`
	Abroad    bool              `json:"abroad"`
	Webhook   string            `json:"webhook,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	Revoked   bool              `json:"revoked"`
	Shared    int64             `json:"shared"`
}

func viewOf(p *Partner) View {
	return View{PartnerID: p.ID, Name: p.Name, Purposes: p.Purposes, Location: p.Location, Abroad: !privacy.InMainland(p.Location),
		Webhook: p.Webhook, CreatedAt: p.CreatedAt, Revoked: p.Revoked, Shared: p.Shared}
}

func (s *service) list(w http.ResponseWriter, r *http.Request) {
	out := []View{}
	err := s.partners.Each(r.Context(), store.Query{OrderBy: "created"}, func(p *Partner) error {
		out = append(out, viewOf(p))
		return nil
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"partners": out})
}

// revoke stops a partner's feed. Its erasure inbox stays open: what it
// already received must still be deleted on request.
func (s *service) revoke(w http.ResponseWriter, r *http.Request) {
	p, err := s.partners.Update(r.Context(), r.PathValue("id"), func(p *Partner) error {
		if !p.Revoked {
			now := s.d.Now().UTC()
			p.Revoked, p.RevokedAt = true, &now
		}
		return nil
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	s.d.Log.Info().Str("partner_id", p.ID).Msg("partner revoked")
	httpx.JSON(w, http.StatusOK, viewOf(p))
}

// authenticate finds the partner a pull token belongs to. Unknown and
// malformed tokens look alike to the caller. A revoked partner is
// refused unless allowRevoked (its erasure inbox).
func (s *service) authenticate(r *http.Request, allowRevoked bool) (*Partner, error) {
	token := httpx.Bearer(r)
	if token == "" || len(token) > 128 || !strings.HasPrefix(token, "vpt_") {
		return nil, privacy.Errorf(privacy.EUNAUTHORIZED, "this endpoint needs a partner's pull token (Authorization: Bearer vpt_…)")
	}
	ps, err := s.partners.Find(r.Context(), store.Query{Filters: []store.Filter{store.Where("token_hash", store.EQ, s.tokenHash(token))}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, privacy.Errorf(privacy.EUNAUTHORIZED, "unknown partner token")
	}
	if ps[0].Revoked && !allowRevoked {
		return nil, privacy.Errorf(privacy.EFORBIDDEN, "this partner's feed is revoked")
	}
	return ps[0], nil
}
