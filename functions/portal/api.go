package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/incidents"
	"github.com/veil-privacy/veil/functions/policies"
	"github.com/veil-privacy/veil/functions/requests"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// apiRoutes are the public API routes (SPEC §5) the portal is a client of.
// They are served in-process by the owning functions' own handlers, built
// from the portal's Deps: the portal never re-implements intake,
// verification or policy answers, and a request filed through a form goes
// through exactly the validation, rate limits and mail an API call does.
//
// Why in-process rather than over HTTP: on Knative each function is its
// own Service with its own host, so the portal cannot count on /v1/... of
// its own origin, and a call through the public ingress would arrive from
// the portal's address, putting every visitor under one per-IP rate limit.
// Handing the owner's handler the visitor's RemoteAddr and
// X-Forwarded-For keeps the limits per person.
var apiRoutes = []string{
	"POST /v1/requests",
	"GET /v1/requests/{id}",
	"POST /v1/requests/{id}/verify",
	"POST /v1/requests/{id}/resend",
	"GET /v1/policies",
	"POST /v1/policies/{version}/acknowledge",
	"POST /v1/policies/{version}/consent",
	"GET /v1/announcements",
	"GET /v1/announcements/{id}",
}

// api calls the public API in-process.
type api struct {
	mux *http.ServeMux
}

// newAPI builds the owning functions and keeps the routes the portal uses.
// It returns the collections those handlers touch, so that a portal
// deployed alone (VEIL_FUNCTIONS=portal) has them ensured too.
func newAPI(ctx context.Context, d functions.Deps) (*api, []store.Collection, error) {
	mux := http.NewServeMux()
	have := map[string]http.Handler{}
	var colls []store.Collection
	for _, c := range []functions.Constructor{requests.New, policies.New, incidents.New} {
		f, err := c(ctx, d)
		if err != nil {
			return nil, nil, err
		}
		for p, h := range f.Routes {
			have[p] = h
		}
		colls = append(colls, f.Collections...)
	}
	for _, p := range apiRoutes {
		h, ok := have[p]
		if !ok {
			// A renamed route would otherwise surface as a 404 in front of
			// a person; fail at start instead.
			return nil, nil, fmt.Errorf("portal: the API no longer serves %q", p)
		}
		mux.Handle(p, h)
	}
	return &api{mux: mux}, colls, nil
}

// apiError is a problem+json answer from the API.
type apiError struct {
	httpx.Problem
	RetryAfter string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Detail }

// capture is a minimal ResponseWriter that keeps the answer in memory.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(s int) {
	if c.status == 0 {
		c.status = s
	}
}
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}

// call sends one API request on behalf of the visitor whose request from
// is, decoding a 2xx answer into out (when non-nil). A 4xx/5xx answer is an
// *apiError. headers are name/value pairs.
func (a *api) call(ctx context.Context, from *http.Request, method, path string, body, out any, headers ...string) error {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	in, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "bad API path")
	}
	// The visitor, not the portal, is who the API's rate limits count.
	in.RemoteAddr = from.RemoteAddr
	for _, v := range from.Header.Values("X-Forwarded-For") {
		in.Header.Add("X-Forwarded-For", v)
	}
	if body != nil {
		in.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		in.Header.Set(headers[i], headers[i+1])
	}
	rec := &capture{header: http.Header{}}
	a.mux.ServeHTTP(rec, in)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 400 {
		e := &apiError{RetryAfter: rec.header.Get("Retry-After")}
		if err := json.Unmarshal(rec.body.Bytes(), &e.Problem); err != nil || e.Code == "" {
			e.Problem = httpx.Problem{Status: rec.status, Code: privacy.EINTERNAL, Detail: http.StatusText(rec.status)}
		}
		e.Status = rec.status
		return e
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return fmt.Errorf("portal: decoding %s %s: %w", method, path, err)
		}
	}
	return nil
}
