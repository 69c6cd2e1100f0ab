package ingest

import (
	"context"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// HeaderAppKey carries an app's key on SDK and developer calls (SPEC §5).
const HeaderAppKey = "X-Veil-App-Key"

// maxAppBody bounds POST /v1/apps; a registration is a few hundred bytes.
const maxAppBody = 16 << 10

// keyHash is what is stored of an app key. The label keeps app keys and
// subject identifiers in separate hash domains.
func keyHash(k *keys.Ring, key string) string { return k.Hash("app-key:" + key) }

// AppByKey authenticates an app key: the registered, unrevoked app it
// belongs to, or an EUNAUTHORIZED error (no key, unknown key and revoked
// key look alike to the caller). Other functions use it for calls made by
// a developer for its users (consent, attested requests).
func AppByKey(ctx context.Context, db *store.DB, k *keys.Ring, key string) (*privacy.App, error) {
	return appByKeyHash(ctx, db, key, func() string { return keyHash(k, key) })
}

func appByKeyHash(ctx context.Context, db *store.DB, key string, hash func() string) (*privacy.App, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, privacy.Errorf(privacy.EUNAUTHORIZED, "this endpoint needs an app key (%s)", HeaderAppKey)
	}
	if len(key) > 128 {
		return nil, privacy.Errorf(privacy.EUNAUTHORIZED, "unknown or revoked app key")
	}
	apps, err := db.Apps.Find(ctx, store.Query{Filters: []store.Filter{store.Where("key_hash", store.EQ, hash())}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(apps) == 0 || apps[0].Revoked {
		return nil, privacy.Errorf(privacy.EUNAUTHORIZED, "unknown or revoked app key")
	}
	return apps[0], nil
}

// appCacheTTL is how long ingest trusts an app key it has checked. Every
// ad request would otherwise query the app registry; the price is that a
// revocation reaches other ingest replicas up to this late (the replica
// that revokes forgets the app at once).
const appCacheTTL = 2 * time.Second

// appCacheMax bounds the cache; a network has far fewer active apps.
const appCacheMax = 10000

type cachedApp struct {
	app *privacy.App
	at  time.Time
}

// appCache remembers valid app keys by their hash (never the key itself).
type appCache struct {
	mu   sync.Mutex
	apps map[string]cachedApp
}

func (s *service) app(ctx context.Context, key string) (*privacy.App, error) {
	h := keyHash(s.d.Keys, strings.TrimSpace(key))
	now := s.d.Now()
	c := &s.apps
	c.mu.Lock()
	e, ok := c.apps[h]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < appCacheTTL && now.Sub(e.at) >= 0 {
		return e.app, nil
	}
	app, err := appByKeyHash(ctx, s.d.DB, key, func() string { return h })
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.apps == nil || len(c.apps) >= appCacheMax {
		c.apps = map[string]cachedApp{}
	}
	c.apps[h] = cachedApp{app: app, at: now}
	c.mu.Unlock()
	return app, nil
}

// forget drops an app from the cache (after a revocation).
func (s *service) forget(app *privacy.App) {
	s.apps.mu.Lock()
	delete(s.apps.apps, app.KeyHash)
	s.apps.mu.Unlock()
}

// ResolveSubjectKey is the key a subject's ad records are filed under. A
// device is filed under the first id it was seen with (see
// privacy.PrimaryIDOrder), so naming it by any other of its ids goes
// through the device link ingest wrote; an account, or a device never
// seen, is filed under its own key.
func ResolveSubjectKey(ctx context.Context, db *store.DB, k *keys.Ring, s privacy.Subject) (string, error) {
	own := k.SubjectKey(s)
	if !s.IsDevice() {
		return own, nil
	}
	link, err := db.Devices.Get(ctx, own)
	if privacy.IsNotFound(err) {
		return own, nil
	} else if err != nil {
		return "", err
	}
	return link.SubjectKey, nil
}

type appInput struct {
	Name           string           `json:"name"`
	Platform       privacy.Platform `json:"platform"`
	DeveloperEmail string           `json:"developer_email"`
	DisclosesSDK   *bool            `json:"discloses_sdk"`
	ChildDirected  bool             `json:"child_directed"`
	PushWebhook    string           `json:"push_webhook"`
}

// check validates a registration. production demands https webhooks;
// `veil serve` and tests post to loopback over http.
func (in *appInput) check(production bool) error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 200 || !utf8.ValidString(in.Name) {
		return privacy.FieldError("name", "1–200 characters")
	}
	if !in.Platform.Valid() {
		return privacy.FieldError("platform", "must be android or ios")
	}
	a, err := mail.ParseAddress(in.DeveloperEmail)
	if err != nil || a.Address != strings.TrimSpace(in.DeveloperEmail) || len(a.Address) > 254 {
		return privacy.FieldError("developer_email", "not a valid email address")
	}
	in.DeveloperEmail = a.Address
	if in.DisclosesSDK == nil || !*in.DisclosesSDK {
		return privacy.FieldError("discloses_sdk", "the developer must attest that its privacy policy discloses this SDK (policy §1)")
	}
	if in.PushWebhook != "" {
		u, err := url.Parse(in.PushWebhook)
		ok := err == nil && u.Host != "" && u.User == nil && (u.Scheme == "https" || (!production && u.Scheme == "http"))
		if !ok || len(in.PushWebhook) > 2048 {
			want := "an absolute http(s) URL"
			if production {
				want = "an absolute https URL"
			}
			return privacy.FieldError("push_webhook", "must be %s", want)
		}
	}
	return nil
}

// appView is an app as ops see it: no key hash.
type appView struct {
	AppID          string           `json:"app_id"`
	Name           string           `json:"name"`
	Platform       privacy.Platform `json:"platform"`
	DeveloperEmail string           `json:"developer_email"`
	DisclosesSDK   bool             `json:"discloses_sdk"`
	ChildDirected  bool             `json:"child_directed"`
	PushWebhook    string           `json:"push_webhook,omitempty"`
	Revoked        bool             `json:"revoked"`
	RevokedAt      *time.Time       `json:"revoked_at,omitempty"`
	CreatedAt      time.Time        `json:"created_at"`
}

func viewOf(a *privacy.App) appView {
	return appView{AppID: a.ID, Name: a.Name, Platform: a.Platform, DeveloperEmail: a.DeveloperEmail,
		DisclosesSDK: a.DisclosesSDK, ChildDirected: a.ChildDirected, PushWebhook: a.PushWebhook,
		Revoked: a.Revoked, RevokedAt: a.RevokedAt, CreatedAt: a.CreatedAt}
}

func (s *service) registerApp(w http.ResponseWriter, r *http.Request) {
	var in appInput
	if err := httpx.Decode(w, r, maxAppBody, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if err := in.check(s.d.Config.Production); err != nil {
		httpx.Error(w, r, err)
		return
	}
	key := keys.NewSecret("vk_")
	app := &privacy.App{ID: keys.NewID("app_"), Name: in.Name, Platform: in.Platform,
		DeveloperEmail: in.DeveloperEmail, KeyHash: keyHash(s.d.Keys, key), DisclosesSDK: true,
		ChildDirected: in.ChildDirected, PushWebhook: in.PushWebhook, CreatedAt: s.d.Now().UTC()}
	if err := s.d.DB.Apps.Create(r.Context(), app); err != nil {
		httpx.Error(w, r, err)
		return
	}
	s.d.Log.Info().Str("app_id", app.ID).Str("platform", string(app.Platform)).Bool("child_directed", app.ChildDirected).Msg("app registered")
	// The key is shown this once; only its keyed hash is stored.
	httpx.JSON(w, http.StatusCreated, map[string]string{"app_id": app.ID, "app_key": key})
}

func (s *service) listApps(w http.ResponseWriter, r *http.Request) {
	out := []appView{}
	err := s.d.DB.Apps.Each(r.Context(), store.Query{}, func(a *privacy.App) error {
		out = append(out, viewOf(a))
		return nil
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"apps": out})
}

func (s *service) revokeApp(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	app, err := s.d.DB.Apps.Update(r.Context(), id, func(a *privacy.App) error {
		if !a.Revoked {
			now := s.d.Now().UTC()
			a.Revoked, a.RevokedAt = true, &now
		}
		return nil
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	s.forget(app)
	s.d.Log.Info().Str("app_id", app.ID).Msg("app revoked")
	httpx.JSON(w, http.StatusOK, viewOf(app))
}
