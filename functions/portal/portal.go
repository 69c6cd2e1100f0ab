// Package portal is the privacy center (SPEC §4 portal; R9–R18, R21, R22):
// the web page where a person exercises their rights, in Chinese and
// English. It is plain server-rendered HTML (html/template) with one small
// script that only improves what already works without it.
//
// What a person can do here, and through what:
//   - submit any request type (POST /privacy/requests), enter the mailed
//     code, ask for a new one, and follow the status with its due date,
//     history and download link (/privacy/requests/{id}; the mails link to
//     /requests/{id}, which redirects here);
//   - withdraw consent (personalized ads, location, cross-border transfer,
//     partner sharing) — a withdraw_consent request through the same
//     verified flow, because the consent API takes an app key or the ops
//     token, and only a verified request proves the person owns the
//     account. An app's end user sets consent in the app;
//   - read the policy versions with their changes, and acknowledge or
//     consent to a revision through the signed link of their notice
//     (/privacy/policies/{version}?token=…&action=…: the link shows a
//     form; only the posted form records anything, so a mail scanner
//     following the link does not consent for anyone);
//   - read incident announcements.
//
// Every form posts to the portal, which checks its CSRF token and calls the
// public API in-process (see api.go). The request's token, which alone
// opens its status, is kept in an HttpOnly, SameSite=Strict cookie scoped
// to that request's page, and shown once as a private link.
package portal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/notices"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name.
const Name = "portal"

//go:embed templates/*.html static/* messages.json
var assets embed.FS

// formLimit bounds a posted form: the longest (a request with details and
// corrections) is well under the API's 64 KiB.
const formLimit = 64 << 10

// csp is the Content-Security-Policy of every page: nothing but this
// origin's own files, no inline script or style, no framing, forms only to
// this origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

type portal struct {
	d       functions.Deps
	api     *api
	msgs    catalog
	pages   map[string]map[string]*template.Template // lang → page → template
	static  fs.FS
	version map[string]string // static file → content hash, for cache busting
	secure  bool              // served over https: Secure cookies, HSTS
	mailbox string            // the privacy mailbox, for people who write instead
}

// pageNames are the templates under templates/ besides layout.html.
var pageNames = []string{"home", "request_new", "request", "verified", "consent", "policies", "policy",
	"policy_answered", "announcements", "announcement", "error"}

// New builds the portal function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	p, colls, err := newPortal(ctx, d)
	if err != nil {
		return nil, err
	}
	return &functions.Function{
		Name:   Name,
		Routes: p.routes(),
		// The API handlers the portal runs in-process touch these; listed
		// so that a portal deployed alone has them ensured.
		Collections: colls,
		Processing:  Processing(),
	}, nil
}

func newPortal(ctx context.Context, d functions.Deps) (*portal, []store.Collection, error) {
	raw, err := assets.ReadFile("messages.json")
	if err != nil {
		return nil, nil, err
	}
	msgs, err := loadCatalog(raw)
	if err != nil {
		return nil, nil, err
	}
	a, colls, err := newAPI(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, nil, err
	}
	p := &portal{d: d, api: a, msgs: msgs, static: static, version: map[string]string{},
		secure: strings.HasPrefix(d.Config.PublicURL, "https://"), mailbox: d.Config.MailFrom}
	err = fs.WalkDir(static, ".", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		p.version[name] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if p.pages, err = p.parse(); err != nil {
		return nil, nil, err
	}
	return p, colls, nil
}

// parse builds each page on the layout, once per language, with the
// language's words bound into the template functions.
func (p *portal) parse() (map[string]map[string]*template.Template, error) {
	out := map[string]map[string]*template.Template{}
	for _, lang := range []string{notices.Chinese, notices.English} {
		out[lang] = map[string]*template.Template{}
		for _, name := range pageNames {
			t, err := template.New("layout.html").Funcs(p.funcs(lang)).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("portal: template %s: %w", name, err)
			}
			out[lang][name] = t
		}
	}
	return out, nil
}

func (p *portal) funcs(lang string) template.FuncMap {
	loc := p.d.Calendar.Location()
	return template.FuncMap{
		"t":     func(key string, args ...any) (string, error) { return p.msgs.text(lang, key, args...) },
		"label": func(set string, v any) string { return p.msgs.label(lang, set, fmt.Sprint(v)) },
		"date": func(t any) string {
			if tt := timeOf(t); !tt.IsZero() {
				return tt.In(loc).Format(time.DateOnly)
			}
			return ""
		},
		"datetime": func(t any) string {
			if tt := timeOf(t); !tt.IsZero() {
				return tt.In(loc).Format("2006-01-02 15:04 MST")
			}
			return ""
		},
		"iso": func(t any) string {
			if tt := timeOf(t); !tt.IsZero() {
				return tt.UTC().Format(time.RFC3339)
			}
			return ""
		},
		"asset":     func(name string) string { return "/privacy/static/" + name + "?v=" + p.version[name] },
		"has":       slices.Contains[[]string],
		"actorKind": actorKind,
	}
}

func timeOf(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case *time.Time:
		if t != nil {
			return *t
		}
	}
	return time.Time{}
}

// routes are the portal's pages. GET / is the exact root only ("/{$}"), so
// unknown paths elsewhere keep the suite's plain 404.
func (p *portal) routes() map[string]http.Handler {
	h := func(f http.HandlerFunc) http.Handler { return p.secured(f) }
	return map[string]http.Handler{
		"GET /{$}":                               h(p.home),
		"GET /privacy":                           h(p.home),
		"GET /privacy/{$}":                       h(p.home),
		"GET /privacy/static/{name}":             http.HandlerFunc(p.serveStatic),
		"GET /privacy/requests/new":              h(p.newRequest),
		"POST /privacy/requests":                 h(p.submit),
		"GET /privacy/requests/{id}":             h(p.showRequest),
		"POST /privacy/requests/{id}/verify":     h(p.verify),
		"POST /privacy/requests/{id}/resend":     h(p.resend),
		"GET /requests/{id}":                     h(p.mailLink),
		"GET /privacy/consent":                   h(p.consent),
		"GET /privacy/policies":                  h(p.policies),
		"GET /privacy/policies/{version}":        h(p.policy),
		"POST /privacy/policies/{version}":       h(p.answerPolicy),
		"GET /privacy/announcements":             h(p.announcements),
		"GET /privacy/announcements/{id}":        h(p.announcement),
		"GET /privacy/{rest...}":                 h(p.notFound),
		"POST /privacy/requests/{id}/{action}":   h(p.notFound),
		"POST /privacy/policies/{version}/{any}": h(p.notFound),
	}
}

// secured adds the security headers every page carries.
func (p *portal) secured(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer") // status links carry tokens
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "geolocation=(), camera=(), microphone=(), interest-cohort=()")
		h.Set("Cache-Control", "no-store") // pages carry CSRF tokens and personal status
		if p.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next(w, r)
	})
}

// view is what every page template gets.
type view struct {
	Lang    string
	HTMLang string // the lang attribute: zh-CN or en
	Other   string // the language the switch link offers
	Path    string // this page's path, for the switch link
	Section string // nav item to mark current
	Title   string // message key of the page title
	CSRF    string
	Mailbox string
	Error   *formError
	Flash   string // message key of a one-time notice
	Data    any
}

// ErrFor is the message of the error on field, or "".
func (v *view) ErrFor(field string) string {
	if v.Error != nil && v.Error.Field == field {
		return v.Error.Message
	}
	return ""
}

// formError is an error shown at the top of a page and next to its field.
type formError struct {
	Field   string // the form field in error, "" for the page
	Message string
}

func (p *portal) newView(w http.ResponseWriter, r *http.Request, section, title string, data any) *view {
	lang := p.language(w, r)
	other, htmlLang := notices.English, "zh-CN"
	if lang == notices.English {
		other, htmlLang = notices.Chinese, "en"
	}
	return &view{Lang: lang, HTMLang: htmlLang, Other: other, Path: r.URL.Path, Section: section, Title: title,
		CSRF: p.csrfToken(w, r), Mailbox: p.mailbox, Data: data}
}

// render writes a page. It renders into a buffer first, so a template
// failure becomes a clean error page, never half a page.
func (p *portal) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	var buf bytes.Buffer
	t := p.pages[v.Lang][name]
	if t == nil {
		p.fail(w, r, fmt.Errorf("portal: no page %q", name))
		return
	}
	if err := t.Execute(&buf, v); err != nil {
		p.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.HTMLang)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers with an internal error page, logged in full; the visitor
// sees only that something went wrong. If even the error page cannot be
// rendered, the problem+json error is the last resort.
func (p *portal) fail(w http.ResponseWriter, r *http.Request, err error) {
	zerolog.Ctx(r.Context()).Error().Err(err).Msg("portal page failed")
	lang := p.language(w, r)
	var buf bytes.Buffer
	v := &view{Lang: lang, HTMLang: map[string]string{notices.Chinese: "zh-CN", notices.English: "en"}[lang],
		Path: r.URL.Path, Title: "error.title", Mailbox: p.mailbox,
		Error: &formError{Message: p.msgs.label(lang, "error", "internal")}}
	if t := p.pages[lang]["error"]; t != nil && t.Execute(&buf, v) == nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(buf.Bytes())
		return
	}
	httpx.Error(w, r, privacy.Errorf(privacy.EINTERNAL, "portal page failed"))
}

// problem renders the error page for a domain or API error.
func (p *portal) problem(w http.ResponseWriter, r *http.Request, err error) {
	status, fe := p.explain(p.language(w, r), err)
	if status >= 500 {
		p.fail(w, r, err)
		return
	}
	v := p.newView(w, r, "", "error.title", nil)
	v.Error = fe
	p.render(w, r, status, "error", v)
}

// explain turns an error into a status and a message in lang: known codes
// and fields get the portal's own words; anything else shows the API's
// detail, which is written for people too.
func (p *portal) explain(lang string, err error) (int, *formError) {
	var status int
	var code, field, detail string
	var ae *apiError
	if errors.As(err, &ae) {
		status, code, field, detail = ae.Status, ae.Code, ae.Field, ae.Detail
	} else {
		code, detail = privacy.ErrorCode(err), privacy.ErrorMessage(err)
		status = httpx.Status(code)
		var de *privacy.Error
		if errors.As(err, &de) {
			field = de.Field
		}
	}
	fe := &formError{Field: formField(field), Message: detail}
	if field != "" {
		if s, ok := p.msgs[lang]["field."+fe.Field]; ok && code == privacy.EINVALID {
			fe.Message = s + " (" + detail + ")"
		}
	} else if s, ok := p.msgs[lang]["error."+code]; ok {
		fe.Message = s
		if code == privacy.ECONFLICT || code == privacy.ERATELIMIT {
			fe.Message += " (" + detail + ")"
		}
	}
	return status, fe
}

// formField maps the API's field names to the form's.
func formField(apiField string) string {
	switch {
	case apiField == "subject" || strings.HasPrefix(apiField, "subject."):
		return "email"
	case strings.HasPrefix(apiField, "corrections"):
		return "corrections"
	}
	return apiField
}

func (p *portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.problem(w, r, privacy.Errorf(privacy.ENOTFOUND, "no such page"))
}

// serveStatic serves the embedded script and style sheet. They change only
// with a release, and their URLs carry a content hash.
func (p *portal) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := fs.ReadFile(p.static, name)
	if err != nil || name != path.Base(name) {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(b)
}
