// Package privacy is Veil's domain: the policy's data catalog, consent
// evaluation, the rights-request lifecycle and the error type every layer
// speaks. It does no I/O; adapters live under infra/ and the functions that
// use both live under functions/.
package privacy

import (
	"errors"
	"fmt"
)

// Error codes. They are machine-readable (clients switch on them) and each
// maps to exactly one HTTP status in infra/httpx — the only place that knows
// about HTTP.
const (
	EINVALID      = "invalid"      // the input breaks a rule; Field names where
	ETOOLARGE     = "too_large"    // the input is over a size limit
	EUNAUTHORIZED = "unauthorized" // no or wrong credentials
	EFORBIDDEN    = "forbidden"    // credentials fine, action not allowed
	ENOTFOUND     = "not_found"    // absent, or not yours to see
	ECONFLICT     = "conflict"     // state does not allow it (exists, already final…)
	EGONE         = "gone"         // collection has ceased
	ERATELIMIT    = "rate_limited" // too many attempts
	ERESIDENCY    = "residency"    // a write would move CN data abroad
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retry later
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is the domain error. Message is safe to show to the caller: it never
// carries secrets or other subjects' data.
type Error struct {
	Code    string
	Message string
	Field   string // the offending input field, when there is one
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// Errorf builds a domain error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError builds an EINVALID error naming the field at fault.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of a domain error anywhere in err's chain, and
// EINTERNAL for anything else: unknown failures are never shown in detail.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// IsNotFound reports whether err is an ENOTFOUND domain error.
func IsNotFound(err error) bool { return ErrorCode(err) == ENOTFOUND }
