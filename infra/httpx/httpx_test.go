package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/privacy"
)

func TestErrorIsProblemJSON(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
		detail string
	}{
		{privacy.FieldError("device.ip", "must be a string"), 400, "invalid", "must be a string"},
		{privacy.Errorf(privacy.ENOTFOUND, "request not found"), 404, "not_found", "request not found"},
		{privacy.Errorf(privacy.ETOOLARGE, "big"), 413, "too_large", "big"},
		{privacy.Errorf(privacy.ERESIDENCY, "abroad"), 422, "residency", "abroad"},
		{errors.New("db password=hunter2 failed"), 500, "internal", "internal error"},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		Error(w, httptest.NewRequest("GET", "/x", nil), c.err)
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.status || p.Status != c.status || p.Code != c.code || p.Detail != c.detail ||
			w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%v: %d %+v", c.err, w.Code, p)
		}
		if strings.Contains(w.Body.String(), "hunter2") {
			t.Error("internal error details leaked to the caller")
		}
	}
}

func TestDecode(t *testing.T) {
	type body struct {
		Name string `json:"name"`
		N    int    `json:"n"`
		Sub  struct {
			W int `json:"w"`
		} `json:"sub"`
	}
	cases := []struct {
		in, ct string
		code   string
		field  string
	}{
		{`{"name":"a","n":1}`, "application/json", "", ""},
		{`{"name":1}`, "application/json", "invalid", "name"},
		{`{"sub":{"w":"x"}}`, "application/json", "invalid", "sub.w"},
		{`{"nope":1}`, "application/json", "invalid", "nope"},
		{`{"name":"a"} {}`, "application/json", "invalid", ""},
		{``, "application/json", "invalid", ""},
		{`{"name":"` + strings.Repeat("a", 200) + `"}`, "application/json", "too_large", ""},
		{`{}`, "text/plain", "invalid", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/", strings.NewReader(c.in))
		r.Header.Set("Content-Type", c.ct)
		var b body
		err := Decode(httptest.NewRecorder(), r, 128, &b)
		var de *privacy.Error
		errors.As(err, &de)
		if privacy.ErrorCode(err) != c.code || (c.field != "" && (de == nil || de.Field != c.field)) {
			t.Errorf("%q: err = %v", c.in, err)
		}
	}
}

func TestOpsAuth(t *testing.T) {
	h := RequireOps("right-token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for hdr, want := range map[string]int{"": 401, "Bearer wrong": 401, "Bearer right-token": 204, "bearer right-token": 204, "Basic right-token": 401} {
		r := httptest.NewRequest("GET", "/", nil)
		if hdr != "" {
			r.Header.Set("Authorization", hdr)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%q: %d, want %d", hdr, w.Code, want)
		}
	}
	if RequireOps("", nil) != nil && IsOps("", httptest.NewRequest("GET", "/", nil)) {
		t.Fatal("an empty ops token must never authenticate")
	}
}

func TestMiddlewareRecoversAndTagsRequests(t *testing.T) {
	var logs strings.Builder
	h := Middleware(zerolog.New(&logs), nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer secret-token-value")
	h.ServeHTTP(w, r)
	if w.Code != 500 || w.Header().Get("X-Request-Id") == "" {
		t.Fatalf("panic → %d", w.Code)
	}
	if strings.Contains(logs.String(), "secret-token-value") {
		t.Fatal("a secret reached the logs")
	}
	if !strings.Contains(logs.String(), `"request_id"`) {
		t.Fatal("log lines carry the request id")
	}
}

func FuzzDecodeBytes(f *testing.F) {
	f.Add([]byte(`{"name":"a","n":1,"sub":{"w":2}}`))
	f.Add([]byte(`{"n":1e400}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var v struct {
			Name string         `json:"name"`
			N    int            `json:"n"`
			M    map[string]any `json:"m"`
		}
		err := DecodeBytes(in, &v)
		if err != nil && privacy.ErrorCode(err) != privacy.EINVALID {
			t.Fatalf("decode errors are always invalid input: %v", err)
		}
	})
}
