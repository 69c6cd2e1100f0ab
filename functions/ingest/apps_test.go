package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

// A key revoked by another replica stops working within appCacheTTL.
func TestRevocationReachesOtherReplicasWithinTheCacheTTL(t *testing.T) {
	d := testDeps(t)
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { return now }
	s, _ := newService(d)
	ctx := context.Background()
	app := &privacy.App{ID: "app_1", KeyHash: keyHash(d.Keys, "vk_secret"), DisclosesSDK: true}
	if err := d.DB.Apps.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app(ctx, "vk_secret"); err != nil {
		t.Fatal(err)
	}
	// Another replica revokes.
	if _, err := d.DB.Apps.Update(ctx, app.ID, func(a *privacy.App) error { a.Revoked = true; return nil }); err != nil {
		t.Fatal(err)
	}
	now = now.Add(appCacheTTL)
	if _, err := s.app(ctx, "vk_secret"); privacy.ErrorCode(err) != privacy.EUNAUTHORIZED {
		t.Fatalf("revoked key %s later: %v", appCacheTTL, err)
	}
	for _, key := range []string{"", "vk_other", string(make([]byte, 200))} {
		if _, err := s.app(ctx, key); privacy.ErrorCode(err) != privacy.EUNAUTHORIZED {
			t.Errorf("key %q: %v", key, err)
		}
	}
}
