package suite

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// Operation documents one route for the OpenAPI document. The table in
// api() is kept beside the code it describes; a test fails when a
// registered route has no entry, or an entry names no route, and it sends
// every Example through the real handlers in table order.
type Operation struct {
	Pattern string // as registered: "POST /v1/requests/{id}/verify"
	Tag     string
	Summary string
	// Auth is how the caller authenticates: "" (public), "ops" (ops
	// token), "app" (X-Veil-App-Key), "token" (request token), "partner"
	// (partner bearer token), "inbound" (mailbox webhook token),
	// "form" (privacy-center form with CSRF token).
	Auth    string
	Example *Example
}

// Example is a request sent by the OpenAPI test. {name} in Path, Body and
// header values is replaced by values captured from earlier answers.
type Example struct {
	Path        string
	Body        string
	ContentType string // default application/json when Body is set
	Status      int
	Capture     map[string]string // variable → top-level JSON field of the answer
}

// api is the documentation table.
func api() []Operation {
	const device = "device:oaid:0a1b2c3d-0000-4000-8000-00000000aaaa"
	adRequest := `{"sdk":{"platform":"android","version":"5.1"},"app":{"name":"Demo","version":"1.0"},"user":{"age":30},` +
		`"consent":{"personalized_ads":true,"location":false},"device":{"ids":{"oaid":"0a1b2c3d-0000-4000-8000-00000000aaaa"},` +
		`"model":"P60","ip":"203.0.113.77","geo":{"lat":31.23,"lon":121.47,"accuracy":10},"installed_apps":["a"],"contacts":["x"]}}`
	return []Operation{
		{"GET /healthz", "ops", "Liveness: the process is up", "", &Example{Path: "/healthz", Status: 200}},
		{"GET /readyz", "ops", "Readiness: the document store answers", "", &Example{Path: "/readyz", Status: 200}},
		{"GET /version", "ops", "Build version", "", &Example{Path: "/version", Status: 200}},
		{"GET /openapi.json", "ops", "This document", "", &Example{Path: "/openapi.json", Status: 200}},
		{"GET /metrics", "ops", "Prometheus metrics", "ops", &Example{Path: "/metrics", Status: 200}},

		{"POST /v1/apps", "apps", "Register an app; its developer must attest that the app's privacy policy discloses the SDK. The key is shown once.", "ops",
			&Example{Path: "/v1/apps", Body: `{"name":"Demo","platform":"android","developer_email":"dev@example.com","discloses_sdk":true}`, Status: 201,
				Capture: map[string]string{"app_id": "app_id", "app_key": "app_key"}}},
		{"GET /v1/apps", "apps", "List apps", "ops", &Example{Path: "/v1/apps", Status: 200}},
		{"POST /v1/ad-requests", "ingest", "An ad request from the SDK: minimized by the field table and consent, pseudonymized, stored (R1–R6)", "app",
			&Example{Path: "/v1/ad-requests", Body: adRequest, Status: 200}},

		{"PUT /v1/consents/{subject}", "consent", "Record a consent decision (grant, change scope, withdraw) with its source", "app",
			&Example{Path: "/v1/consents/" + device, Body: `{"purposes":{"personalized_ads":false,"location":false},"source":"sdk"}`, Status: 200}},
		{"GET /v1/consents/{subject}", "consent", "Current consent and its full history", "app", &Example{Path: "/v1/consents/" + device, Status: 200}},
		{"GET /v1/consents/{subject}/check", "consent", "Is a purpose allowed now, and why", "app",
			&Example{Path: "/v1/consents/" + device + "/check?purpose=personalized_ads", Status: 200}},

		{"POST /v1/requests", "requests", "Exercise a right (access, copy, portability, correct, delete, withdraw_consent, cancel_account, complaint, appeal). Account subjects get a one-time code by mail; device subjects are attested by the app's developer (X-Veil-App-Key).", "",
			&Example{Path: "/v1/requests", Body: `{"type":"access","subject":{"email":"li.lei@example.com"}}`, Status: 202,
				Capture: map[string]string{"request_id": "id", "request_token": "token"}}},
		{"GET /v1/requests/{id}", "requests", "A request's status, due date and history (request token, or ops token)", "token",
			&Example{Path: "/v1/requests/{request_id}?token={request_token}", Status: 200}},
		{"POST /v1/requests/{id}/verify", "requests", "Verify identity with the mailed one-time code (R17)", "token",
			&Example{Path: "/v1/requests/{request_id}/verify?token={request_token}", Body: `{"code":"000000"}`, Status: 400}},
		{"POST /v1/requests/{id}/resend", "requests", "Send a new code (limited)", "token",
			&Example{Path: "/v1/requests/{request_id}/resend?token={request_token}", Status: 429}},
		{"GET /v1/requests", "requests", "List requests with filters (ops)", "ops", &Example{Path: "/v1/requests?status=identity_unverified", Status: 200}},
		{"POST /v1/requests/{id}/approve", "requests", "Approve a request waiting for review (ops)", "ops",
			&Example{Path: "/v1/requests/{request_id}/approve", Body: `{}`, Status: 409}},
		{"POST /v1/requests/{id}/refuse", "requests", "Refuse with one of the policy's reasons (ops, R19)", "ops",
			&Example{Path: "/v1/requests/{request_id}/refuse", Body: `{"reason":"because","note":"x"}`, Status: 400}},
		{"POST /v1/requests/{id}/answer", "requests", "Answer a complaint or appeal; the answer is mailed (ops, R15, R16)", "ops",
			&Example{Path: "/v1/requests/{request_id}/answer", Body: `{"answer":"We looked into it."}`, Status: 409}},
		{"POST /v1/inbound-email", "requests", "A raw RFC 5322 message to the privacy mailbox becomes a request (R18)", "inbound",
			&Example{Path: "/v1/inbound-email", ContentType: "message/rfc822", Status: 202,
				Body: "From: Han Meimei <han.meimei@example.com>\r\nTo: privacy@veil.example\r\nSubject: =?UTF-8?B?6K+35Yig6Zmk5oiR55qE5pWw5o2u?=\r\nMessage-ID: <openapi@example.com>\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nPlease delete my data.\r\n"}},

		{"GET /v1/downloads/{key...}", "export", "Download a copy through its signed, expiring link", "",
			&Example{Path: "/v1/downloads/exports/none.zip?expires=1&sig=00", Status: 404}},

		{"POST /v1/holds", "retention", "Place a legal hold on a subject (kept, isolated from processing)", "ops",
			&Example{Path: "/v1/holds", Body: `{"subject":"` + device + `","reason":"court order 2026-17"}`, Status: 201, Capture: map[string]string{"hold_id": "id"}}},
		{"GET /v1/holds", "retention", "List holds", "ops", &Example{Path: "/v1/holds", Status: 200}},
		{"GET /v1/holds/{id}", "retention", "One hold", "ops", &Example{Path: "/v1/holds/{hold_id}", Status: 200}},
		{"DELETE /v1/holds/{id}", "retention", "Lift a hold, with a reason", "ops", &Example{Path: "/v1/holds/{hold_id}", Body: `{"reason":"case closed"}`, Status: 200}},
		{"GET /v1/retention/policy", "retention", "Retention classes in force", "ops", &Example{Path: "/v1/retention/policy", Status: 200}},
		{"POST /v1/retention/sweep", "retention", "Run a retention sweep now", "ops", &Example{Path: "/v1/retention/sweep", Status: 200}},
		{"GET /v1/retention/sweep", "retention", "Sweep progress", "ops", &Example{Path: "/v1/retention/sweep", Status: 200}},
		{"GET /v1/retention/stats", "retention", "De-identified statistics kept after deletion (R8)", "ops", &Example{Path: "/v1/retention/stats?day=2026-11-01", Status: 200}},
		{"GET /v1/operations", "retention", "Ceasing-operations state and progress (R23)", "ops", &Example{Path: "/v1/operations", Status: 200}},
		{"POST /v1/operations/cease", "retention", "Cease operations: stop collection, notify everyone, delete or anonymize all personal data (R23)", "ops",
			&Example{Path: "/v1/operations/cease", Body: `{}`, Status: 400}},

		{"GET /v1/audit/verify", "audit", "Verify the hash chain; names the first broken link (R24)", "ops", &Example{Path: "/v1/audit/verify", Status: 200}},
		{"GET /v1/audit/head", "audit", "The chain's head hash", "ops", &Example{Path: "/v1/audit/head", Status: 200}},
		{"GET /v1/audit/export", "audit", "Evidence for a period as JSON lines", "ops", &Example{Path: "/v1/audit/export?from=2020-01-01T00:00:00Z&to=2099-01-01T00:00:00Z", Status: 200}},

		{"POST /v1/incidents", "incidents", "Declare a security incident; affected people are notified (R21)", "ops",
			&Example{Path: "/v1/incidents", Status: 201, Capture: map[string]string{"incident_id": "id"},
				Body: `{"title":"Misdirected export","what_happened":"A bucket was public for 2 hours","occurred_at":"2026-11-01T02:00:00Z","discovered_at":"2026-11-01T04:00:00Z",` +
					`"categories":["device_identifiers"],"affected":{"subjects":["account:li.lei@example.com"]},"impact":"Device ids could have been read",` +
					`"measures":"Bucket closed, keys rotated","advice":"Reset your advertising id","remedies":"Contact us for support","contact":"privacy@veil.example"}`}},
		{"GET /v1/incidents", "incidents", "List incidents", "ops", &Example{Path: "/v1/incidents", Status: 200}},
		{"GET /v1/incidents/{id}", "incidents", "Delivery progress: targeted, sent, failed, unreachable", "ops", &Example{Path: "/v1/incidents/{incident_id}", Status: 200}},
		{"GET /v1/incidents/{id}/report", "incidents", "The report for the regulator", "ops", &Example{Path: "/v1/incidents/{incident_id}/report", Status: 200}},
		{"GET /v1/announcements", "incidents", "Public announcements for people who could not be reached one by one", "", &Example{Path: "/v1/announcements", Status: 200}},
		{"GET /v1/announcements/{id}", "incidents", "One announcement", "", &Example{Path: "/v1/announcements/none", Status: 404}},

		{"POST /v1/policies", "policies", "Publish a policy revision with its effective date (R22)", "ops",
			&Example{Path: "/v1/policies", Body: `{"version":"2027.1","effective_at":"2027-01-15T00:00:00+08:00","material":true,"summary":"New partner category"}`, Status: 201}},
		{"GET /v1/policies", "policies", "Published versions with summaries", "", &Example{Path: "/v1/policies", Status: 200}},
		{"GET /v1/policies/{version}", "policies", "A version with notified, acknowledged and consented counts", "", &Example{Path: "/v1/policies/2027.1", Status: 200}},
		{"POST /v1/policies/{version}/acknowledge", "policies", "Acknowledge a revision (signed link token from the notice, or ops on a person's behalf)", "token",
			&Example{Path: "/v1/policies/2027.1/acknowledge", Body: `{"token":"forged"}`, Status: 401}},
		{"POST /v1/policies/{version}/consent", "policies", "Consent to a material revision", "token",
			&Example{Path: "/v1/policies/2027.1/consent", Body: `{"token":"forged"}`, Status: 401}},

		{"GET /v1/letters", "notify", "The letter list: people reached by post", "ops", &Example{Path: "/v1/letters", Status: 200}},
		{"POST /v1/letters/{id}/posted", "notify", "Mark a letter posted", "ops", &Example{Path: "/v1/letters/none/posted", Body: `{}`, Status: 404}},
		{"GET /v1/notifications/{key}", "notify", "Delivery record of one notification", "ops", &Example{Path: "/v1/notifications/none", Status: 404}},

		{"POST /v1/partners", "partners", "Register a partner; the pull token is shown once (R7)", "ops",
			&Example{Path: "/v1/partners", Body: `{"name":"Measure Co","purposes":["attribution"],"location":"cn-north-1"}`, Status: 201,
				Capture: map[string]string{"partner_id": "partner_id", "partner_token": "pull_token"}}},
		{"GET /v1/partners", "partners", "List partners", "ops", &Example{Path: "/v1/partners", Status: 200}},
		{"GET /v1/partners/feed", "partners", "De-identified records for the calling partner, from a cursor", "partner", &Example{Path: "/v1/partners/feed", Status: 200}},
		{"GET /v1/partners/erasures", "partners", "Deletions the calling partner must apply", "partner", &Example{Path: "/v1/partners/erasures", Status: 200}},
		{"POST /v1/partners/erasures/{id}/ack", "partners", "Acknowledge a deletion", "partner", &Example{Path: "/v1/partners/erasures/none/ack", Body: `{}`, Status: 404}},
		{"POST /v1/partners/{id}/revoke", "partners", "Revoke a partner", "ops", &Example{Path: "/v1/partners/{partner_id}/revoke", Body: `{}`, Status: 200}},
		{"GET /v1/stats", "partners", "Aggregate counts with small cells suppressed (k = 10, R8)", "ops", &Example{Path: "/v1/stats?from=2026-11-01&to=2026-11-30", Status: 200}},

		{"GET /v1/dead-letters", "ops", "Events that exhausted their retries", "ops", &Example{Path: "/v1/dead-letters", Status: 200}},
		{"POST /v1/dead-letters/{id}/redrive", "ops", "Put a dead letter back on the queue", "ops", &Example{Path: "/v1/dead-letters/none/redrive", Status: 404}},
		{"POST /v1/schedules/{job}", "ops", "Fire a schedule tick now (what PingSources send)", "ops", &Example{Path: "/v1/schedules/deadlines", Status: 202}},
		{"POST /v1/apps/{id}/revoke", "apps", "Revoke an app key", "ops", &Example{Path: "/v1/apps/{app_id}/revoke", Body: `{}`, Status: 200}},

		{"GET /{$}", "privacy center", "The privacy center (HTML, Chinese and English)", "", &Example{Path: "/", Status: 200}},
		{"GET /privacy", "privacy center", "The privacy center home", "", &Example{Path: "/privacy", Status: 200}},
		{"GET /privacy/{$}", "privacy center", "The privacy center home", "", &Example{Path: "/privacy/", Status: 200}},
		{"GET /privacy/requests/new", "privacy center", "Form to submit a request", "", &Example{Path: "/privacy/requests/new", Status: 200}},
		{"POST /privacy/requests", "privacy center", "Submit the request form", "form", &Example{Path: "/privacy/requests", Body: "type=access", ContentType: "application/x-www-form-urlencoded", Status: 403}},
		{"GET /privacy/requests/{id}", "privacy center", "A request's status page (request cookie)", "", &Example{Path: "/privacy/requests/none", Status: 404}},
		{"GET /requests/{id}", "privacy center", "Short link to a request's status page (from mail)", "", nil},
		{"POST /privacy/requests/{id}/verify", "privacy center", "Enter the code", "form", &Example{Path: "/privacy/requests/none/verify", Body: "code=1", ContentType: "application/x-www-form-urlencoded", Status: 404}},
		{"POST /privacy/requests/{id}/resend", "privacy center", "Ask for a new code", "form", &Example{Path: "/privacy/requests/none/resend", Body: "", ContentType: "application/x-www-form-urlencoded", Status: 404}},
		{"POST /privacy/requests/{id}/{action}", "privacy center", "Unknown request action", "form", nil},
		{"GET /privacy/consent", "privacy center", "Manage consent (withdrawal goes through a verified request)", "", &Example{Path: "/privacy/consent", Status: 200}},
		{"GET /privacy/policies", "privacy center", "Policy versions and what changed", "", &Example{Path: "/privacy/policies", Status: 200}},
		{"GET /privacy/policies/{version}", "privacy center", "One version, with acknowledge / consent for signed links", "", nil},
		{"POST /privacy/policies/{version}", "privacy center", "Acknowledge or consent from a signed link", "form", nil},
		{"POST /privacy/policies/{version}/{any}", "privacy center", "Acknowledge or consent from a signed link", "form", nil},
		{"GET /privacy/announcements", "privacy center", "Incident announcements", "", &Example{Path: "/privacy/announcements", Status: 200}},
		{"GET /privacy/announcements/{id}", "privacy center", "One announcement", "", nil},
		{"GET /privacy/static/{name}", "privacy center", "Static assets (CSS, JS)", "", nil},
		{"GET /privacy/{rest...}", "privacy center", "Anything else under /privacy is not found", "", &Example{Path: "/privacy/nothing-here", Status: 404}},
	}
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// OpenAPI renders the OpenAPI 3.1 document for the routes this process
// serves.
func (s *Suite) OpenAPI() []byte {
	routes := map[string]bool{}
	for _, p := range s.Routes() {
		routes[p] = true
	}
	paths := map[string]map[string]any{}
	for _, op := range api() {
		if !routes[op.Pattern] {
			continue // a function not enabled in this process
		}
		method, path, _ := strings.Cut(op.Pattern, " ")
		path = strings.ReplaceAll(path, "{$}", "")
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		path = pathParam.ReplaceAllString(path, "{$1}")
		o := map[string]any{"summary": op.Summary, "tags": []string{op.Tag},
			"responses": map[string]any{"default": map[string]any{"description": "an RFC 9457 problem (application/problem+json) with a machine-readable code",
				"content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}}}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if sec := security(op.Auth); sec != nil {
			o["security"] = sec
		}
		if ex := op.Example; ex != nil {
			resp := map[string]any{"description": http.StatusText(ex.Status)}
			o["responses"].(map[string]any)[itoa(ex.Status)] = resp
			if ex.Body != "" {
				ct := ex.ContentType
				if ct == "" {
					ct = "application/json"
				}
				o["requestBody"] = map[string]any{"content": map[string]any{ct: map[string]any{"example": exampleValue(ct, ex.Body)}}}
			}
			o["x-veil-example"] = map[string]any{"path": ex.Path, "status": ex.Status}
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = o
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Veil", "version": Version,
			"description": "The privacy back end of a mobile ad network: ingest minimized by consent, rights requests, retention, incidents, policy revisions and evidence. Errors are RFC 9457 problem+json with a machine-readable code."},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"ops":     map[string]any{"type": "http", "scheme": "bearer", "description": "VEIL_OPS_TOKEN"},
				"app":     map[string]any{"type": "apiKey", "in": "header", "name": "X-Veil-App-Key"},
				"token":   map[string]any{"type": "apiKey", "in": "query", "name": "token", "description": "the request's token (or header X-Veil-Request-Token), or a signed link token"},
				"partner": map[string]any{"type": "http", "scheme": "bearer", "description": "a partner's pull token"},
				"inbound": map[string]any{"type": "http", "scheme": "bearer", "description": "VEIL_INBOUND_TOKEN or the ops token"},
				"form":    map[string]any{"type": "apiKey", "in": "cookie", "name": "veil_csrf", "description": "double-submit CSRF token of the privacy center"},
			},
			"schemas": map[string]any{"Problem": map[string]any{"type": "object",
				"required":   []string{"type", "title", "status", "detail", "code"},
				"properties": map[string]any{"type": str(), "title": str(), "status": map[string]any{"type": "integer"}, "detail": str(), "code": str(), "field": str(), "instance": str()}}},
		},
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}

// Routes lists every route pattern this process serves.
func (s *Suite) Routes() []string {
	out := append([]string(nil), s.ownRoutes...)
	for _, f := range s.Functions {
		for p := range f.Routes {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// API is the documentation table (for the OpenAPI test).
func API() []Operation { return api() }

func security(auth string) []any {
	if auth == "" {
		return nil
	}
	return []any{map[string]any{auth: []string{}}}
}

func exampleValue(ct, body string) any {
	if ct == "application/json" {
		var v any
		if json.Unmarshal([]byte(body), &v) == nil {
			return v
		}
	}
	return body
}

func str() map[string]any { return map[string]any{"type": "string"} }

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func (s *Suite) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.OpenAPI())
}
