package consent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

const benchToken = "bench-ops-token-0123456789abcdef0123456789"

func benchDeps(b *testing.B) functions.Deps {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "veil.db"), "cn-local")
	if err != nil {
		b.Fatal(err)
	}
	kdb, err := sqlite.Open(ctx, filepath.Join(dir, "keyring.db"), "cn-local")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close(); kdb.Close() })
	sdb, err := store.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	ring, err := keys.New(ctx, kdb, make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	log := zerolog.New(io.Discard)
	router, err := events.NewRouter(ctx, db, log, nil)
	if err != nil {
		b.Fatal(err)
	}
	broker, err := events.NewBroker(ctx, db, router, events.DefaultDelivery, log)
	if err != nil {
		b.Fatal(err)
	}
	return functions.Deps{Config: config.Config{OpsToken: benchToken}, Log: log, DB: sdb, Keys: ring, Bus: broker, Now: time.Now}
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
