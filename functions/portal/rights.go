package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/veil-privacy/veil/functions/requests"
	"github.com/veil-privacy/veil/privacy"
)

var (
	requestIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	tokenPattern     = regexp.MustCompile(`^[A-Za-z0-9_-]{20,128}$`)
)

// requestCookie holds a request's token. It is scoped to that request's
// pages (Path), so one browser can follow several requests and no page
// sends a token it does not need.
const requestCookie = "veil_request"

// tokenLife is how long the browser keeps a request's token: beyond the
// longest a request stays open, so the outcome can still be read.
const tokenLife = 180 * 24 * time.Hour

func requestPath(id string) string { return "/privacy/requests/" + id }

// requestStatus is GET /v1/requests/{id} as the requester sees it.
type requestStatus struct {
	requests.View
}

// AwaitingCode reports whether the requester still has to enter a code.
func (s *requestStatus) AwaitingCode() bool { return privacy.AwaitsCode(s.Status, s.VerifiedAt) }

// Open reports whether the request is still being handled.
func (s *requestStatus) Open() bool { return !s.Status.Final() }

// newRequestData is the request form page.
type newRequestData struct {
	Form     requestForm
	Types    []privacy.RequestType
	Purposes []string
}

func (p *portal) formData(f requestForm) newRequestData {
	return newRequestData{Form: f, Types: privacy.RequestTypes(), Purposes: privacy.ConsentPurposes()}
}

func (p *portal) home(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "home", p.newView(w, r, "home", "home.title", p.formData(requestForm{})))
}

func (p *portal) newRequest(w http.ResponseWriter, r *http.Request) {
	f := requestForm{Type: r.URL.Query().Get("type")}
	if !privacy.RequestType(f.Type).Valid() {
		f.Type = string(privacy.ReqAccess)
	}
	p.render(w, r, http.StatusOK, "request_new", p.newView(w, r, "request", "request_new.title", p.formData(f)))
}

func (p *portal) consent(w http.ResponseWriter, r *http.Request) {
	f := requestForm{From: "consent", Type: string(privacy.ReqWithdrawConsent)}
	p.render(w, r, http.StatusOK, "consent", p.newView(w, r, "consent", "consent.title", p.formData(f)))
}

// submit is POST /privacy/requests: the request form, or the consent
// page's withdrawal.
func (p *portal) submit(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		p.problem(w, r, err)
		return
	}
	if err := p.checkCSRF(r); err != nil {
		p.problem(w, r, err)
		return
	}
	f := requestFormOf(r)
	lang := p.language(w, r)
	again := func(err error) {
		page, section, title := "request_new", "request", "request_new.title"
		if f.From == "consent" {
			page, section, title = "consent", "consent", "consent.title"
		}
		status, fe := p.explain(lang, err)
		if status >= 500 {
			p.fail(w, r, err)
			return
		}
		v := p.newView(w, r, section, title, p.formData(f))
		v.Error = fe
		p.render(w, r, status, page, v)
	}
	body, err := f.apiBody()
	if err != nil {
		again(err)
		return
	}
	var out struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Token  string `json:"token"`
	}
	// The page's language is the language of the mails that follow.
	if err := p.api.call(r.Context(), r, http.MethodPost, "/v1/requests", body, &out, "Accept-Language", lang); err != nil {
		again(err)
		return
	}
	if !requestIDPattern.MatchString(out.ID) {
		p.fail(w, r, errors.New("portal: the API answered a request id of an unexpected form"))
		return
	}
	p.keepToken(w, out.ID, out.Token)
	http.Redirect(w, r, requestPath(out.ID)+"?new=1", http.StatusSeeOther)
}

func (p *portal) keepToken(w http.ResponseWriter, id, token string) {
	http.SetCookie(w, &http.Cookie{Name: requestCookie, Value: token, Path: requestPath(id),
		MaxAge: int(tokenLife / time.Second), HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteStrictMode})
}

// requestData is the request page.
type requestData struct {
	ID       string
	Status   *requestStatus // nil without a valid token
	HadToken bool           // a token was given but does not open the request
	New      bool
	Private  string // the private status link, shown right after submitting
}

// AwaitingCode: without the status the page cannot know, so it offers the
// code form (the API says if there is nothing to verify).
func (d *requestData) AwaitingCode() bool { return d.Status == nil || d.Status.AwaitingCode() }

// loadRequest reads the request with the token from the link (which it
// then keeps in the cookie) or the cookie.
func (p *portal) loadRequest(ctx context.Context, w http.ResponseWriter, r *http.Request, id string) (*requestData, error) {
	d := &requestData{ID: id, New: r.URL.Query().Get("new") == "1"}
	token := r.URL.Query().Get("token")
	if tokenPattern.MatchString(token) {
		p.keepToken(w, id, token)
	} else if c, err := r.Cookie(requestCookie); err == nil && tokenPattern.MatchString(c.Value) {
		token = c.Value
	} else {
		token = ""
	}
	if token == "" {
		return d, nil
	}
	var st requestStatus
	err := p.api.call(ctx, r, http.MethodGet, "/v1/requests/"+id, nil, &st, "X-Veil-Request-Token", token)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Code == privacy.ENOTFOUND:
		d.HadToken = true
		return d, nil
	case err != nil:
		return nil, err
	}
	d.Status = &st
	if d.New {
		d.Private = p.d.Config.PublicURL + requestPath(id) + "?token=" + url.QueryEscape(token)
	}
	return d, nil
}

func (p *portal) showRequest(w http.ResponseWriter, r *http.Request) {
	p.requestPage(w, r, http.StatusOK, nil, "")
}

// requestPage renders the request page, with an error from a form on it
// or a one-time notice.
func (p *portal) requestPage(w http.ResponseWriter, r *http.Request, status int, fe *formError, flash string) {
	id := r.PathValue("id")
	if !requestIDPattern.MatchString(id) {
		p.notFound(w, r)
		return
	}
	d, err := p.loadRequest(r.Context(), w, r, id)
	if err != nil {
		p.problem(w, r, err)
		return
	}
	v := p.newView(w, r, "request", "request.title", d)
	v.Error = fe
	q := r.URL.Query()
	switch {
	case flash != "":
		v.Flash = flash
	case q.Get("new") == "1":
		v.Flash = "request.flash_new"
	case q.Get("resent") == "1":
		v.Flash = "request.flash_resent"
	case q.Get("verified") == "1":
		v.Flash = "request.flash_verified"
	}
	p.render(w, r, status, "request", v)
}

// verifiedData is the page shown after a code is accepted in a browser
// that does not hold the request's token (the person came from the mail).
type verifiedData struct {
	ID     string
	Status string
	DueAt  *time.Time
}

// verify is POST /privacy/requests/{id}/verify.
func (p *portal) verify(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := p.posted(w, r, id); err != nil {
		p.problem(w, r, err)
		return
	}
	var out struct {
		ID     string     `json:"id"`
		Status string     `json:"status"`
		DueAt  *time.Time `json:"due_at"`
	}
	err := p.api.call(r.Context(), r, http.MethodPost, "/v1/requests/"+id+"/verify",
		map[string]string{"code": r.PostFormValue("code")}, &out)
	if err != nil {
		p.formFailed(w, r, err)
		return
	}
	if c, err := r.Cookie(requestCookie); err == nil && tokenPattern.MatchString(c.Value) {
		http.Redirect(w, r, requestPath(id)+"?verified=1", http.StatusSeeOther)
		return
	}
	v := p.newView(w, r, "request", "verified.title", &verifiedData{ID: id, Status: out.Status, DueAt: out.DueAt})
	p.render(w, r, http.StatusOK, "verified", v)
}

// resend is POST /privacy/requests/{id}/resend.
func (p *portal) resend(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := p.posted(w, r, id); err != nil {
		p.problem(w, r, err)
		return
	}
	if err := p.api.call(r.Context(), r, http.MethodPost, "/v1/requests/"+id+"/resend", nil, nil); err != nil {
		p.formFailed(w, r, err)
		return
	}
	http.Redirect(w, r, requestPath(id)+"?resent=1", http.StatusSeeOther)
}

// posted checks a form posted to a request's page.
func (p *portal) posted(w http.ResponseWriter, r *http.Request, id string) error {
	if !requestIDPattern.MatchString(id) {
		return privacy.Errorf(privacy.ENOTFOUND, "no such request")
	}
	if err := readForm(w, r); err != nil {
		return err
	}
	return p.checkCSRF(r)
}

// formFailed shows the request page again with the API's refusal on it.
func (p *portal) formFailed(w http.ResponseWriter, r *http.Request, err error) {
	status, fe := p.explain(p.language(w, r), err)
	if status >= 500 {
		p.fail(w, r, err)
		return
	}
	p.requestPage(w, r, status, fe, "")
}

// mailLink is GET /requests/{id}, the address the requests function puts
// in its mails: the same page under /privacy, with the token (if the link
// has one) carried along.
func (p *portal) mailLink(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !requestIDPattern.MatchString(id) {
		p.notFound(w, r)
		return
	}
	target := requestPath(id)
	if tok := r.URL.Query().Get("token"); tokenPattern.MatchString(tok) {
		target += "?token=" + url.QueryEscape(tok)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// actorKind is the history's actor without the operator's or app's name:
// the requester needs to know a person reviewed it, not who.
func actorKind(a string) string {
	k, _, _ := strings.Cut(a, ":")
	return k
}
