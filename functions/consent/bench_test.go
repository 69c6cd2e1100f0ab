package consent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/functionstest"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/privacy"
)

const benchToken = "bench-ops-token-0123456789abcdef0123456789"

func benchDeps(b *testing.B) functions.Deps {
	d, _ := functionstest.Deps(b, config.Config{OpsToken: benchToken})
	return d
}

// BenchmarkConsentCheck is GET /v1/consents/{subject}/check with the ops
// token: parse the subject, hash it, read the record, answer (the handler,
// without the HTTP server). "domain" is the answer alone.
func BenchmarkConsentCheck(b *testing.B) {
	d := benchDeps(b)
	s := &service{d: d}
	subj, _ := privacy.ParseSubject("device:oaid:bench-0001")
	if _, err := s.Record(context.Background(), subj, "ops", Input{Source: "api",
		Purposes: map[string]bool{privacy.ConsentPersonalizedAds: true, privacy.ConsentLocation: false}}); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/consents/{subject}/check", s.check)
	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r := httptest.NewRequest("GET", "/v1/consents/device:oaid:bench-0001/check?purpose=location", nil)
			r.Header.Set("Authorization", "Bearer "+benchToken)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
	c, err := s.load(context.Background(), subj)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("domain", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if ok, _ := c.Check(privacy.ConsentLocation); ok {
				b.Fatal("withdrawn location allowed")
			}
		}
	})
}

// BenchmarkConsentRecord is PUT's work: read, apply, write, stage the event
// (over 100 subjects, so histories stay realistic).
func BenchmarkConsentRecord(b *testing.B) {
	d := benchDeps(b)
	s := &service{d: d}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		subj, _ := privacy.ParseSubject(fmt.Sprintf("device:oaid:bench-%d", i%100))
		if _, err := s.Record(context.Background(), subj, "ops", Input{Source: "api",
			Purposes: map[string]bool{privacy.ConsentLocation: (i/100)%2 == 0}}); err != nil {
			b.Fatal(err)
		}
	}
}
