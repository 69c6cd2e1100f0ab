package suite

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// gaugeCap bounds how many documents one scrape counts per gauge, so a
// scrape stays cheap however large the backlog; a gauge at the cap means
// "at least this many".
const gaugeCap = 10000

// gauges registers the scrape-time gauges over the request backlog: open
// requests by status, and those due within five working days or overdue.
func (s *Suite) gauges() {
	db, m := s.Deps.DB, s.Deps.Metrics
	count := func(q store.Query) float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, _ := store.Count(ctx, db.Backend, db.Requests.C.Name, q, gaugeCap) // a failed scrape shows what it counted
		return float64(n)
	}
	for _, st := range []privacy.Status{privacy.StatusUnverified, privacy.StatusVerified, privacy.StatusInProgress, privacy.StatusNeedsReview} {
		m.GaugeFunc("veil_requests_open", "Open rights requests by status (counted up to 10000).", prometheus.Labels{"status": string(st)},
			func() float64 {
				return count(store.Query{Filters: []store.Filter{store.Where("status", store.EQ, string(st))}})
			})
	}
	if s.Broker != nil {
		m.GaugeFunc("veil_events_pending", "Event deliveries queued in the in-process broker, due or awaiting a retry (counted up to 10000).", nil,
			func() float64 {
				n, err := s.Broker.Pending(context.Background(), gaugeCap)
				if err != nil {
					return -1
				}
				return float64(n)
			})
	}
	m.GaugeFunc("veil_requests_overdue", "Open requests past their legal due date.", nil, func() float64 {
		return count(store.Query{Filters: []store.Filter{store.Where("open", store.EQ, true), store.Where("due", store.GT, 0),
			store.Where("due", store.LT, s.Deps.Now().Unix())}, OrderBy: "due"})
	})
	m.GaugeFunc("veil_requests_due_soon", "Open requests due within five working days (not yet overdue).", nil, func() float64 {
		now := s.Deps.Now()
		soon, err := s.Deps.Calendar.AddWorkingDays(now, 5)
		if err != nil {
			return -1 // no calendar data: visible, alertable, never a guess
		}
		return count(store.Query{Filters: []store.Filter{store.Where("open", store.EQ, true), store.Where("due", store.GE, now.Unix()),
			store.Where("due", store.LE, soon.Unix())}, OrderBy: "due"})
	})
}
