// Package consent is the consent registry (R2, R3, R4, R6, R13): record,
// change the scope of and withdraw consent per subject, guardian consent
// for minors, the full history of who decided what, when, through what and
// under which policy version, and a check other parts of the system ask.
// Ingest reads the same records synchronously, so a withdrawal governs the
// very next ad request.
package consent

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name.
const Name = "consent"

// maxBody bounds a consent change; a real one is under 200 bytes.
const maxBody = 8 << 10

// PolicyVersion is recorded with each decision until the policies
// function publishes versions; "" means "the policy in force before
// versioning".
const PolicyVersion = ""

// Sources a decision can come through.
var sources = []string{"sdk", "app", "portal", "api", "email", "ops"}

type service struct {
	d functions.Deps
}

// New builds the consent function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	s := &service{d: d}
	return &functions.Function{
		Name: Name,
		Routes: map[string]http.Handler{
			"PUT /v1/consents/{subject}":       http.HandlerFunc(s.put),
			"GET /v1/consents/{subject}":       http.HandlerFunc(s.get),
			"GET /v1/consents/{subject}/check": http.HandlerFunc(s.check),
		},
		Processing: Processing(),
	}, nil
}

// Input is a consent change, as PUT /v1/consents/{subject} carries it.
type Input struct {
	Purposes map[string]bool
	Guardian *bool
	Source   string
}

// wire is the body as sent: purposes stay raw until each is checked, so a
// wrong value is reported with its own name ("purposes.location").
type wire struct {
	Purposes map[string]json.RawMessage `json:"purposes"`
	Guardian *bool                      `json:"guardian,omitempty"`
	Source   string                     `json:"source"`
}

// check validates a change: known purposes with boolean values, at least
// one decision, a known source ("api" when none is given).
func (w *wire) check() (Input, error) {
	in := Input{Purposes: make(map[string]bool, len(w.Purposes)), Guardian: w.Guardian, Source: w.Source}
	for _, p := range slices.Sorted(maps.Keys(w.Purposes)) {
		if !privacy.ValidConsentPurpose(p) {
			return in, privacy.FieldError("purposes."+clip(p), "unknown purpose; known: %s", strings.Join(privacy.ConsentPurposes(), ", "))
		}
		switch string(bytes.TrimSpace(w.Purposes[p])) {
		case "true":
			in.Purposes[p] = true
		case "false":
			in.Purposes[p] = false
		default:
			return in, privacy.FieldError("purposes."+p, "must be true or false")
		}
	}
	if len(in.Purposes) == 0 && in.Guardian == nil {
		return in, privacy.FieldError("purposes", "name at least one purpose (or guardian)")
	}
	if in.Source == "" {
		in.Source = "api"
	}
	if !slices.Contains(sources, in.Source) {
		return in, privacy.FieldError("source", "must be one of %s", strings.Join(sources, ", "))
	}
	return in, nil
}

// DecodeInput is the consent body's parser.
func DecodeInput(body []byte) (Input, error) {
	var w wire
	if err := httpx.DecodeBytes(body, &w); err != nil {
		return Input{}, err
	}
	return w.check()
}

// clip keeps echoed names short; they are the caller's own input.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// authorize says who is acting: ops, or a developer's app acting for its
// own user's device. An account's consent is the account holder's own
// (portal) or ops'; an app key cannot speak for it.
func (s *service) authorize(r *http.Request, subj privacy.Subject) (actor string, err error) {
	if httpx.IsOps(s.d.Config.OpsToken, r) {
		return "ops", nil
	}
	key := r.Header.Get(ingest.HeaderAppKey)
	if key == "" {
		return "", privacy.Errorf(privacy.EUNAUTHORIZED, "needs the ops token or an app key (%s)", ingest.HeaderAppKey)
	}
	app, err := ingest.AppByKey(r.Context(), s.d.DB, s.d.Keys, key)
	if err != nil {
		return "", err
	}
	if !subj.IsDevice() {
		return "", privacy.Errorf(privacy.EFORBIDDEN, "an app key may act only for device subjects")
	}
	return "app:" + app.ID, nil
}

// subject parses the path's subject and authorizes the caller for it.
func (s *service) subject(r *http.Request) (privacy.Subject, string, error) {
	subj, err := privacy.ParseSubject(r.PathValue("subject"))
	if err != nil {
		// Authentication first: an anonymous caller learns nothing, not
		// even which subjects parse.
		if _, aerr := s.authorize(r, privacy.Subject{Kind: "device"}); aerr != nil {
			return subj, "", aerr
		}
		return subj, "", err
	}
	actor, err := s.authorize(r, subj)
	return subj, actor, err
}

// View is a subject's consent as the API shows it.
type View struct {
	Subject       string                  `json:"subject"`
	Purposes      map[string]bool         `json:"purposes"`
	Guardian      *bool                   `json:"guardian,omitempty"`
	PolicyVersion string                  `json:"policy_version"`
	UpdatedAt     string                  `json:"updated_at"`
	History       []privacy.ConsentChange `json:"history"`
}

func view(subj privacy.Subject, c *privacy.Consent) View {
	v := View{Subject: subj.String(), Purposes: c.Purposes, Guardian: c.Guardian, PolicyVersion: c.PolicyVersion,
		UpdatedAt: c.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z07:00"), History: c.History}
	if v.Purposes == nil {
		v.Purposes = map[string]bool{}
	}
	if v.History == nil {
		v.History = []privacy.ConsentChange{}
	}
	return v
}

func (s *service) put(w http.ResponseWriter, r *http.Request) {
	subj, actor, err := s.subject(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var body wire
	if err := httpx.Decode(w, r, maxBody, &body); err != nil {
		httpx.Error(w, r, err)
		return
	}
	in, err := body.check()
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	c, err := s.Record(r.Context(), subj, actor, in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, view(subj, c))
}

// Record applies one decision to a subject's consent and emits
// com.veil.consent.changed.v1 in the same transaction, so the event exists
// exactly when the decision does.
func (s *service) Record(ctx context.Context, subj privacy.Subject, actor string, in Input) (*privacy.Consent, error) {
	key := s.d.Keys.SubjectKey(subj)
	var out *privacy.Consent
	err := s.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		repo := s.d.DB.Consents.In(tx)
		c, err := repo.Get(key)
		if privacy.IsNotFound(err) {
			c, err = &privacy.Consent{SubjectKey: key, SubjectHint: subj.Hint()}, nil
		}
		if err != nil {
			return err
		}
		if unchanged(c, in) {
			// Apps re-send the same decision at every launch; recording
			// each would grow the history without bound and tell
			// subscribers nothing.
			out = c
			return nil
		}
		ch := privacy.ConsentChange{At: s.d.Now().UTC(), Source: in.Source, Actor: actor,
			Purposes: in.Purposes, Guardian: in.Guardian, PolicyVersion: PolicyVersion}
		withdrawn := c.Apply(ch)
		if err := repo.Put(c); err != nil {
			return err
		}
		out = c
		e := events.Must(events.ConsentChanged, "", events.ConsentChangedData{SubjectKey: key,
			Purposes: c.Purposes, Withdrawn: withdrawn, Guardian: c.Guardian, Source: in.Source})
		return s.d.Bus.PublishTx(tx, e)
	})
	if err != nil {
		return nil, err
	}
	s.d.Log.Info().Str("subject_key", key).Str("actor", actor).Str("source", in.Source).Msg("consent recorded")
	return out, nil
}

// unchanged reports whether in decides nothing that c does not already say.
func unchanged(c *privacy.Consent, in Input) bool {
	if len(c.History) == 0 {
		return false
	}
	for p, v := range in.Purposes {
		if old, ok := c.Purposes[p]; !ok || old != v {
			return false
		}
	}
	return in.Guardian == nil || (c.Guardian != nil && *c.Guardian == *in.Guardian)
}

func (s *service) load(ctx context.Context, subj privacy.Subject) (*privacy.Consent, error) {
	c, err := s.d.DB.Consents.Get(ctx, s.d.Keys.SubjectKey(subj))
	if privacy.IsNotFound(err) {
		return nil, privacy.Errorf(privacy.ENOTFOUND, "no consent is recorded for this subject")
	}
	return c, err
}

func (s *service) get(w http.ResponseWriter, r *http.Request) {
	subj, _, err := s.subject(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	c, err := s.load(r.Context(), subj)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, view(subj, c))
}

// CheckResult is the answer of GET /v1/consents/{subject}/check.
type CheckResult struct {
	Purpose string `json:"purpose"`
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

func (s *service) check(w http.ResponseWriter, r *http.Request) {
	subj, _, err := s.subject(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	purpose := r.URL.Query().Get("purpose")
	if !privacy.ValidConsentPurpose(purpose) {
		httpx.Error(w, r, privacy.FieldError("purpose", "must be one of %s", strings.Join(privacy.ConsentPurposes(), ", ")))
		return
	}
	c, err := s.load(r.Context(), subj)
	if err != nil && !privacy.IsNotFound(err) {
		httpx.Error(w, r, err)
		return
	}
	allowed, reason := c.Check(purpose)
	httpx.JSON(w, http.StatusOK, CheckResult{Purpose: purpose, Allowed: allowed, Reason: reason})
}
