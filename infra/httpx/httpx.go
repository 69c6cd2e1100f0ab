// Package httpx is Veil's HTTP plumbing shared by every function: RFC 9457
// problem+json errors (the one place domain error codes become statuses),
// bounded strict JSON decoding, credential checks and the middleware that
// gives every log line a request id.
package httpx

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/privacy"
)

// statuses maps each domain error code to its HTTP status.
var statuses = map[string]int{
	privacy.EINVALID:      http.StatusBadRequest,
	privacy.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	privacy.EUNAUTHORIZED: http.StatusUnauthorized,
	privacy.EFORBIDDEN:    http.StatusForbidden,
	privacy.ENOTFOUND:     http.StatusNotFound,
	privacy.ECONFLICT:     http.StatusConflict,
	privacy.EGONE:         http.StatusGone,
	privacy.ERATELIMIT:    http.StatusTooManyRequests,
	privacy.ERESIDENCY:    http.StatusUnprocessableEntity,
	privacy.EUNAVAILABLE:  http.StatusServiceUnavailable,
	privacy.EINTERNAL:     http.StatusInternalServerError,
}

// Status is the HTTP status for a domain error code.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem detail with Veil's machine-readable code.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Code     string `json:"code"`
	Field    string `json:"field,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// Error writes err as problem+json. Internal errors are logged in full and
// shown to the caller only as "internal error".
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code := privacy.ErrorCode(err)
	status := Status(code)
	p := Problem{Type: "https://veil.example/problems/" + code, Title: http.StatusText(status),
		Status: status, Detail: privacy.ErrorMessage(err), Code: code, Instance: r.URL.Path}
	var de *privacy.Error
	if errors.As(err, &de) {
		p.Field = de.Field
	}
	l := zerolog.Ctx(r.Context())
	if status >= 500 {
		l.Error().Err(err).Int("status", status).Msg("request failed")
	} else {
		l.Info().Str("code", code).Str("detail", p.Detail).Int("status", status).Msg("request refused")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="veil"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// JSON writes v with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Decode reads a JSON body of at most limit bytes into v: unknown fields,
// trailing data and wrong types are EINVALID errors naming the field; an
// oversized body is ETOOLARGE. Nothing is partially applied by callers,
// because they act only after Decode returns nil.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return privacy.Errorf(privacy.EINVALID, "body must be application/json, not %q", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return privacy.Errorf(privacy.ETOOLARGE, "body larger than %d bytes", limit)
	} else if err != nil {
		return privacy.Errorf(privacy.EINVALID, "could not read body")
	}
	return DecodeBytes(body, v)
}

// DecodeBytes is Decode's parser, separate so fuzz targets can reach it.
func DecodeBytes(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return privacy.Errorf(privacy.EINVALID, "trailing data after the JSON body")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return privacy.FieldError(te.Field, "must be %s, not %s", te.Type.String(), te.Value)
	case errors.As(err, &se):
		return privacy.Errorf(privacy.EINVALID, "malformed JSON at byte %d", se.Offset)
	case errors.Is(err, io.EOF):
		return privacy.Errorf(privacy.EINVALID, "empty body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return privacy.FieldError(f, "unknown field")
	}
	return privacy.Errorf(privacy.EINVALID, "malformed JSON: %v", err)
}

// Bearer returns the bearer token of r, or "".
func Bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Equal compares secrets in constant time.
func Equal(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// RequireOps wraps h so it runs only with the ops token.
func RequireOps(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsOps(token, r) {
			Error(w, r, privacy.Errorf(privacy.EUNAUTHORIZED, "this endpoint needs the ops token (Authorization: Bearer …)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// IsOps reports whether r carries the ops token.
func IsOps(token string, r *http.Request) bool { return Equal(Bearer(r), token) }

// Errorf is a shortcut for writing a domain error.
func Errorf(w http.ResponseWriter, r *http.Request, code, format string, args ...any) {
	Error(w, r, privacy.Errorf(code, "%s", fmt.Sprintf(format, args...)))
}
