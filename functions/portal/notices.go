package portal

import (
	"net/http"
	"net/url"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

// policyItem is one version as GET /v1/policies lists it.
type policyItem struct {
	privacy.PolicyVersion
	InEffect bool `json:"in_effect"`
}

// policiesData is the policies page: the version in effect, those
// announced but not yet in effect, and the earlier ones.
type policiesData struct {
	Current  *policyItem
	Upcoming []policyItem
	Earlier  []policyItem
}

func (p *portal) listPolicies(r *http.Request) (*policiesData, error) {
	var out struct {
		Policies []policyItem `json:"policies"`
	}
	if err := p.api.call(r.Context(), r, http.MethodGet, "/v1/policies", nil, &out); err != nil {
		return nil, err
	}
	d := &policiesData{}
	// The API lists newest effective date first.
	for i := range out.Policies {
		it := out.Policies[i]
		switch {
		case !it.InEffect:
			d.Upcoming = append(d.Upcoming, it)
		case d.Current == nil:
			d.Current = &it
		default:
			d.Earlier = append(d.Earlier, it)
		}
	}
	return d, nil
}

func (p *portal) policies(w http.ResponseWriter, r *http.Request) {
	d, err := p.listPolicies(r)
	if err != nil {
		p.problem(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "policies", p.newView(w, r, "policies", "policies.title", d))
}

// policyData is one version's page, with the answer form when the visitor
// came through their notice's signed link.
type policyData struct {
	Policy policyItem
	Token  string
	Action string // acknowledge or consent
}

func validAction(a string) bool { return a == "acknowledge" || a == "consent" }

func (p *portal) findPolicy(r *http.Request, version string) (*policyItem, error) {
	if !privacy.ValidVersion(version) {
		return nil, privacy.Errorf(privacy.ENOTFOUND, "no such policy version")
	}
	d, err := p.listPolicies(r)
	if err != nil {
		return nil, err
	}
	all := append(append([]policyItem{}, d.Upcoming...), d.Earlier...)
	if d.Current != nil {
		all = append(all, *d.Current)
	}
	for i := range all {
		if all[i].Version == version {
			return &all[i], nil
		}
	}
	return nil, privacy.Errorf(privacy.ENOTFOUND, "no such policy version")
}

// policy is GET /privacy/policies/{version}[?token=&action=]. It never
// records anything: link scanners follow links.
func (p *portal) policy(w http.ResponseWriter, r *http.Request) {
	p.policyPage(w, r, http.StatusOK, nil, r.URL.Query().Get("token"), r.URL.Query().Get("action"))
}

func (p *portal) policyPage(w http.ResponseWriter, r *http.Request, status int, fe *formError, token, action string) {
	it, err := p.findPolicy(r, r.PathValue("version"))
	if err != nil {
		p.problem(w, r, err)
		return
	}
	d := &policyData{Policy: *it}
	if token != "" && len(token) <= 512 && validAction(action) {
		d.Token, d.Action = token, action
	}
	v := p.newView(w, r, "policies", "policy.title", d)
	v.Error = fe
	p.render(w, r, status, "policy", v)
}

// answerData is the page after an acknowledgement or consent.
type answerData struct {
	Version        string
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	ConsentedAt    *time.Time `json:"consented_at"`
}

// answerPolicy is POST /privacy/policies/{version}: the person confirms
// what their notice's link asked.
func (p *portal) answerPolicy(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		p.problem(w, r, err)
		return
	}
	if err := p.checkCSRF(r); err != nil {
		p.problem(w, r, err)
		return
	}
	version, token, action := r.PathValue("version"), r.PostFormValue("token"), r.PostFormValue("action")
	if !privacy.ValidVersion(version) || !validAction(action) {
		p.notFound(w, r)
		return
	}
	d := &answerData{Version: version}
	err := p.api.call(r.Context(), r, http.MethodPost, "/v1/policies/"+url.PathEscape(version)+"/"+action,
		map[string]string{"token": token}, d)
	if err != nil {
		status, fe := p.explain(p.language(w, r), err)
		if status >= 500 {
			p.fail(w, r, err)
			return
		}
		p.policyPage(w, r, status, fe, token, action)
		return
	}
	p.render(w, r, http.StatusOK, "policy_answered", p.newView(w, r, "policies", "policy_answered.title", d))
}

func (p *portal) announcements(w http.ResponseWriter, r *http.Request) {
	var out struct {
		Announcements []privacy.Announcement `json:"announcements"`
	}
	if err := p.api.call(r.Context(), r, http.MethodGet, "/v1/announcements", nil, &out); err != nil {
		p.problem(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "announcements", p.newView(w, r, "announcements", "announcements.title", out.Announcements))
}

func (p *portal) announcement(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var a privacy.Announcement
	if len(id) > 128 {
		p.notFound(w, r)
		return
	}
	if err := p.api.call(r.Context(), r, http.MethodGet, "/v1/announcements/"+url.PathEscape(id), nil, &a); err != nil {
		p.problem(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "announcement", p.newView(w, r, "announcements", "announcement.title", &a))
}
