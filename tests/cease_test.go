package tests

import (
	"testing"
	"time"

	"github.com/veil-privacy/veil/tests/veiltest"
)

// Ceasing operations (R23) stops collection at once: the SDK's next ad
// request is answered 410 Gone and nothing more is stored.
func TestCeasingStopsIngest(t *testing.T) {
	s := veiltest.Start(t, nil)
	var app struct {
		AppKey string `json:"app_key"`
	}
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "C", "platform": "android", "developer_email": "d@example.com", "discloses_sdk": true}), 201, &app)
	body := `{"sdk":{"platform":"android","version":"1"},"app":{"name":"C","version":"1"},"consent":{"personalized_ads":false,"location":false},"device":{"model":"P60"}}`
	if r := s.Do("POST", "/v1/ad-requests", body, "X-Veil-App-Key", app.AppKey); r.Status != 200 {
		t.Fatalf("before ceasing: %d %s", r.Status, r.Body)
	}
	s.Must(s.Ops("POST", "/v1/operations/cease", map[string]any{"reason": "business closed"}), 202, nil)
	s.Eventually(5*time.Second, "ingest refused", func() bool {
		return s.Do("POST", "/v1/ad-requests", body, "X-Veil-App-Key", app.AppKey).Status == 410
	})
	if r := s.Do("POST", "/v1/ad-requests", body, "X-Veil-App-Key", "wrong"); r.Status != 401 {
		t.Fatalf("an unknown key is still refused as unknown: %d", r.Status)
	}
}
