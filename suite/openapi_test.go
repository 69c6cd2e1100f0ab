package suite_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// The OpenAPI document and the server agree: every route the server
// registers is documented, every documented route exists, and every
// example is sent through the real handlers and answers as documented.
func TestOpenAPIMatchesServerAndExamplesRun(t *testing.T) {
	s := veiltest.Start(t, nil)
	registered := map[string]bool{}
	for _, p := range s.Routes() {
		registered[p] = true
	}
	documented := map[string]bool{}
	for _, op := range suite.API() {
		if documented[op.Pattern] {
			t.Errorf("%s documented twice", op.Pattern)
		}
		documented[op.Pattern] = true
		if !registered[op.Pattern] {
			t.Errorf("documented route %q is not registered", op.Pattern)
		}
	}
	for p := range registered {
		if !documented[p] {
			t.Errorf("registered route %q is missing from the OpenAPI table (suite/openapi.go)", p)
		}
	}

	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	r := s.Do("GET", "/openapi.json", nil)
	if r.Status != 200 {
		t.Fatalf("/openapi.json: %d", r.Status)
	}
	r.Decode(t, &doc)
	ops := 0
	for _, methods := range doc.Paths {
		ops += len(methods)
	}
	if doc.OpenAPI != "3.1.0" || ops != len(registered) {
		t.Fatalf("document has %d operations for %d routes (openapi %q)", ops, len(registered), doc.OpenAPI)
	}

	vars := map[string]string{}
	sub := func(v string) string {
		for k, val := range vars {
			v = strings.ReplaceAll(v, "{"+k+"}", val)
		}
		return v
	}
	for _, op := range suite.API() {
		ex := op.Example
		if ex == nil {
			continue
		}
		method, _, _ := strings.Cut(op.Pattern, " ")
		var headers []string
		switch op.Auth {
		case "ops", "inbound":
			headers = append(headers, "Authorization", "Bearer "+veiltest.OpsToken)
		case "app":
			headers = append(headers, "X-Veil-App-Key", vars["app_key"])
		case "partner":
			headers = append(headers, "Authorization", "Bearer "+vars["partner_token"])
		}
		var body any
		if ex.Body != "" {
			body = sub(ex.Body)
		}
		if ex.ContentType != "" {
			headers = append(headers, "Content-Type", ex.ContentType)
		}
		resp := s.Do(method, sub(ex.Path), body, headers...)
		if resp.Status != ex.Status {
			t.Errorf("%s example %s: status %d, documented %d: %.300s", op.Pattern, sub(ex.Path), resp.Status, ex.Status, resp.Body)
			continue
		}
		if resp.Status >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") &&
			!strings.HasPrefix(op.Pattern, "GET /privacy") && !strings.HasPrefix(op.Pattern, "POST /privacy") {
			t.Errorf("%s: error answer is not problem+json", op.Pattern)
		}
		if len(ex.Capture) > 0 {
			var got map[string]any
			if err := json.Unmarshal(resp.Body, &got); err != nil {
				t.Fatalf("%s: %v", op.Pattern, err)
			}
			for v, field := range ex.Capture {
				val, ok := got[field].(string)
				if !ok || val == "" {
					t.Fatalf("%s: answer has no %q to capture: %s", op.Pattern, field, resp.Body)
				}
				vars[v] = val
			}
		}
	}
}
