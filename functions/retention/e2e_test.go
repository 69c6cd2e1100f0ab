package retention_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// TestRetentionThroughTheSuite runs the whole suite: a hold placed through
// the ops API, a schedule tick as PingSource would send it, and the audit
// log recording all of it in a chain that verifies.
func TestRetentionThroughTheSuite(t *testing.T) {
	s := veiltest.Start(t, nil)
	now := time.Now().UTC()
	put := func(id, subject string, age time.Duration) {
		received := now.Add(-age)
		r := &privacy.AdRecord{ID: id, SubjectKey: subject, AppID: "app-e2e", Platform: "ios", Region: "CN", ReceivedAt: received,
			ExpiresAt: privacy.DefaultRetention().ExpiresAt(privacy.ClassAdRequests, received), Retention: privacy.ClassAdRequests}
		if err := s.Deps.DB.Records.Put(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	free, held := fmt.Sprintf("%064x", 1), fmt.Sprintf("%064x", 2)
	put("old-free", free, 200*privacy.Day)
	put("old-held", held, 200*privacy.Day)
	put("new-free", free, privacy.Day)

	var hold struct {
		ID string `json:"id"`
	}
	s.Must(s.Ops("POST", "/v1/holds", map[string]any{"subject_key": held, "reason": "court order 17"}, "X-Veil-Actor", "e2e"), 201, &hold)
	s.Must(s.Ops("POST", "/v1/schedules/retention", nil), 202, nil)
	s.Idle(20 * time.Second)

	for _, c := range []struct {
		id   string
		kept bool
	}{{"old-free", false}, {"old-held", true}, {"new-free", true}} {
		_, err := s.Deps.DB.Records.Get(t.Context(), c.id)
		if kept := err == nil; kept != c.kept {
			t.Errorf("%s kept=%v (%v)", c.id, kept, err)
		}
	}
	rec, err := s.Deps.DB.Records.Get(t.Context(), "old-held")
	if err != nil || !strings.Contains(rec.Isolated, hold.ID) {
		t.Fatalf("held record not isolated: %+v %v", rec, err)
	}
	day := now.Add(-200 * privacy.Day).Format(time.DateOnly)
	var stats struct {
		Stats []struct {
			Requests int64  `json:"requests"`
			Country  string `json:"country"`
		} `json:"stats"`
	}
	s.Must(s.Ops("GET", "/v1/retention/stats?day="+day, nil), 200, &stats)
	if len(stats.Stats) != 1 || stats.Stats[0].Requests != 1 || stats.Stats[0].Country != "CN" {
		t.Fatalf("statistics of %s: %+v", day, stats)
	}

	var v struct {
		OK      bool  `json:"ok"`
		Entries int64 `json:"entries"`
	}
	s.Must(s.Ops("GET", "/v1/audit/verify", nil), 200, &v)
	if !v.OK || v.Entries < 3 {
		t.Fatalf("audit: %+v", v)
	}
	exp := s.Ops("GET", "/v1/audit/export?from="+now.Add(-time.Hour).Format(time.RFC3339), nil)
	body := string(exp.Body)
	for _, typ := range []string{"com.veil.hold.placed.v1", "com.veil.schedule.ticked.v1", "com.veil.retention.expired.v1", `"manifest"`} {
		if !strings.Contains(body, typ) {
			t.Errorf("audit export lacks %s", typ)
		}
	}
	if strings.Contains(body, held) || strings.Contains(body, "court order") {
		t.Error("audit export carries a raw subject key or payload")
	}

	// Ceasing: progress is visible, and the next sweep leaves only what
	// is held.
	s.Must(s.Ops("POST", "/v1/operations/cease", map[string]any{"reason": "service closed"}), 202, nil)
	s.Must(s.Ops("POST", "/v1/retention/sweep", nil), 200, nil)
	s.Idle(20 * time.Second)
	var ops struct {
		Ceased    bool `json:"ceased"`
		Remaining map[string]struct {
			N int `json:"n"`
		} `json:"remaining"`
	}
	s.Must(s.Ops("GET", "/v1/operations", nil), 200, &ops)
	if !ops.Ceased || ops.Remaining[store.RecordsCollection.Name].N != 1 {
		t.Fatalf("after ceasing: %+v", ops)
	}
}
