package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/veil-privacy/veil/privacy"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// Observer is told about every finished request (metrics).
type Observer func(route string, status int, d time.Duration)

// Middleware gives every request an id (X-Request-Id, accepted from the
// caller when well-formed), a logger carrying it, panic recovery into a 500
// problem, and one access log line. It never logs headers or bodies: they
// carry tokens, keys and personal data.
func Middleware(log zerolog.Logger, observe Observer, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = newID()
		}
		w.Header().Set("X-Request-Id", id)
		l := log.With().Str("request_id", id).Logger()
		if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
			l = l.With().Str("trace_id", sc.TraceID().String()).Logger()
		}
		if ce := r.Header.Get("Ce-Id"); ce != "" && len(ce) <= 128 {
			l = l.With().Str("event_id", ce).Logger()
		}
		r = r.WithContext(l.WithContext(r.Context()))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				l.Error().Interface("panic", p).Msg("handler panic")
				if !rec.wrote {
					Error(rec, r, privacy.Errorf(privacy.EINTERNAL, "panic"))
				}
			}
			d := time.Since(start)
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			if observe != nil {
				observe(route, rec.status, d)
			}
			// The tracing span was started before routing; name it now.
			if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
				span.SetName(route)
				span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", rec.status))
			}
			l.Info().Str("method", r.Method).Str("route", route).Int("status", rec.status).Dur("duration", d).Msg("http")
		}()
		h.ServeHTTP(rec, r)
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(s int) {
	if !r.wrote {
		r.status, r.wrote = s, true
	}
	r.ResponseWriter.WriteHeader(s)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
