// Package requests is the requests function (SPEC R9, R15–R19, §5): intake
// of rights requests through the privacy center, the API (developer
// attestation) and the privacy mailbox; identity verification with mailed
// one-time codes; the lifecycle with duplicates and refusals; and the review
// queue ops work through for complaints, appeals and unclear mail.
//
// Decisions worth knowing:
//   - A request's token (returned once by POST /v1/requests, or put in the
//     acknowledgement mail for mailed requests) is the only way besides the
//     ops token to read it; without it every answer is 404, so nobody learns
//     whether a request exists.
//   - POST /v1/requests/{id}/verify needs only the code: the code is the
//     secret mailed to the owner, which is exactly what a mailed request's
//     sender holds (they never saw a token). Five wrong codes lock it; a
//     resend (at most three, a minute apart) issues a fresh code.
//   - Duplicates are decided when the requester's identity is established
//     (code verified, or developer attestation), against the subject's open
//     verified requests. Deciding earlier would let anyone who types someone
//     else's address block that person's real request with a forged one, and
//     would tell them which requests that person has open.
//   - POST /v1/inbound-email takes VEIL_INBOUND_TOKEN (the mailbox webhook's
//     own credential, so it need not hold the ops token) or the ops token.
package requests

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/notices"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name in VEIL_FUNCTIONS and on Knative.
const Name = "requests"

// Limits of the API. Codes follow R17: short-lived, few attempts.
const (
	bodyLimit     = 64 << 10
	codeTTL       = 10 * time.Minute
	maxAttempts   = 5
	maxResends    = 3
	resendGap     = time.Minute
	maxDetails    = 8000 // bytes of free text kept from a form or a mail
	maxListLimit  = 200
	defaultListed = 50
)

// Rate limits per sender and hour (R19, abusive repetition). A person may
// well file several kinds of request at once, hence not 1; an app files on
// behalf of all its users, hence far more.
var senderLimits = map[string]int{
	"email": 10,
	"ip":    60,
	"app":   1000,
}

const limitWindow = time.Hour

type handler struct {
	d       functions.Deps
	notices *notices.Set
	limits  store.Repo[counter]
	inbound store.Repo[inboundMail]
}

// mailTemplates are the notices this function renders itself (they carry a
// code or a token) or asks notify to render; New refuses to start without
// any of them.
var mailTemplates = []string{"verification_code", "request_acknowledgement",
	"request_verified", "request_refused", "request_answered"}

// New builds the requests function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	set, err := notices.Load()
	if err != nil {
		return nil, err
	}
	for _, t := range mailTemplates {
		if !set.Has(t) {
			return nil, fmt.Errorf("requests: notice template %q is missing", t)
		}
	}
	h := &handler{d: d, notices: set, limits: limitsRepo(d.DB.Backend), inbound: inboundRepo(d.DB.Backend)}
	ops := func(f http.HandlerFunc) http.Handler { return httpx.RequireOps(d.Config.OpsToken, f) }
	return &functions.Function{
		Name: Name,
		Routes: map[string]http.Handler{
			"POST /v1/requests":              http.HandlerFunc(h.submit),
			"GET /v1/requests":               ops(h.list),
			"GET /v1/requests/{id}":          http.HandlerFunc(h.get),
			"POST /v1/requests/{id}/verify":  http.HandlerFunc(h.verify),
			"POST /v1/requests/{id}/resend":  http.HandlerFunc(h.resend),
			"POST /v1/requests/{id}/refuse":  ops(h.refuse),
			"POST /v1/requests/{id}/answer":  ops(h.answer),
			"POST /v1/requests/{id}/approve": ops(h.approve),
			"POST /v1/inbound-email":         http.HandlerFunc(h.inboundEmail),
		},
		Collections: Collections(),
		Processing:  Processing(),
	}, nil
}

// limitError is a rate-limit refusal that knows when to try again.
type limitError struct {
	err   *privacy.Error
	retry time.Duration
}

func (e *limitError) Error() string { return e.err.Error() }
func (e *limitError) Unwrap() error { return e.err }

func rateLimited(retry time.Duration, format string, args ...any) error {
	return &limitError{err: privacy.Errorf(privacy.ERATELIMIT, format, args...), retry: retry}
}

// fail writes err, with Retry-After when it is a rate limit.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	var le *limitError
	if errors.As(err, &le) && le.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(le.retry.Round(time.Second)/time.Second)+1))
	}
	httpx.Error(w, r, err)
}

// errNoRequest is every "not yours or not there" answer: the same text for
// an unknown id and a wrong token.
var errNoRequest = privacy.Errorf(privacy.ENOTFOUND, "no such request, or not yours to see")

var requestID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// load fetches the request named by the path, or errNoRequest.
func (h *handler) load(r *http.Request) (*privacy.Request, error) {
	id := r.PathValue("id")
	if !requestID.MatchString(id) {
		return nil, errNoRequest
	}
	req, err := h.d.DB.Requests.Get(r.Context(), id)
	if privacy.IsNotFound(err) {
		return nil, errNoRequest
	}
	return req, err
}

var operatorName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// opsActor names the operator for the history: the ops CLI sends its user
// in X-Veil-Operator; without it the actor is plain "ops".
func opsActor(r *http.Request) string {
	if n := r.Header.Get("X-Veil-Operator"); operatorName.MatchString(n) {
		return "ops:" + n
	}
	return "ops"
}

// clientIP is the address a rate limit counts. Behind Knative's ingress the
// peer is a proxy, which appends the address it saw to X-Forwarded-For; the
// last entry is that proxy's observation, while earlier ones are whatever
// the client claimed.
func clientIP(r *http.Request) string {
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		parts := strings.Split(xff[len(xff)-1], ",")
		if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
