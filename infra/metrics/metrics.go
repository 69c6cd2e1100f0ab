// Package metrics is Veil's Prometheus instrumentation: one registry per
// suite (no global state), the metrics every function may bump, and the
// /metrics handler. Labels never carry personal data: routes are patterns,
// never paths with ids; reasons and types come from fixed catalogs.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the suite's metrics. A nil *Metrics is valid and records
// nothing, so tests and tools need not build one.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests  *prometheus.CounterVec   // route, status
	HTTPDuration  *prometheus.HistogramVec // route
	IngestDropped *prometheus.CounterVec   // reason
	IngestKept    prometheus.Counter
	Events        *prometheus.CounterVec // type, subscriber, outcome (handled|failed|deadlettered|skipped)
	Notices       *prometheus.CounterVec // channel, status
	SweepRecords  *prometheus.CounterVec // class, action
	SweepRuns     *prometheus.CounterVec // outcome
}

// New builds a registry with Go runtime and process metrics and Veil's own.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_http_requests_total",
			Help: "HTTP requests by route pattern and status."}, []string{"route", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "veil_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}},
			[]string{"route"}),
		IngestDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_ingest_dropped_fields_total",
			Help: "Fields dropped by minimization, by reason."}, []string{"reason"}),
		IngestKept: prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_ingest_kept_fields_total",
			Help: "Fields kept by minimization."}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_events_total",
			Help: "Event deliveries by type, subscriber and outcome (handled, failed, deadlettered, skipped)."},
			[]string{"type", "subscriber", "outcome"}),
		Notices: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_notices_total",
			Help: "Notifications by channel and status (sent, failed, unreachable, duplicate)."}, []string{"channel", "status"}),
		SweepRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_retention_records_total",
			Help: "Records a retention sweep deleted, anonymized or isolated, by class and action."}, []string{"class", "action"}),
		SweepRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_retention_sweeps_total",
			Help: "Retention sweeps by outcome."}, []string{"outcome"}),
	}
	r.MustRegister(m.HTTPRequests, m.HTTPDuration, m.IngestDropped, m.IngestKept, m.Events, m.Notices, m.SweepRecords, m.SweepRuns)
	return m
}

// ObserveHTTP records one finished request (httpx.Middleware's observer).
func (m *Metrics) ObserveHTTP(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.HTTPRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.HTTPDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Event records one delivery outcome.
func (m *Metrics) Event(typ, subscriber, outcome string) {
	if m == nil {
		return
	}
	m.Events.WithLabelValues(typ, subscriber, outcome).Inc()
}

// Dropped records a field dropped by ingest minimization.
func (m *Metrics) Dropped(reason string) {
	if m == nil {
		return
	}
	m.IngestDropped.WithLabelValues(reason).Inc()
}

// Kept records fields kept by ingest.
func (m *Metrics) Kept(n int) {
	if m == nil {
		return
	}
	m.IngestKept.Add(float64(n))
}

// Notice records a notification outcome.
func (m *Metrics) Notice(channel, status string) {
	if m == nil {
		return
	}
	m.Notices.WithLabelValues(channel, status).Inc()
}

// Swept records records handled by a retention sweep.
func (m *Metrics) Swept(class, action string, n int) {
	if m == nil {
		return
	}
	m.SweepRecords.WithLabelValues(class, action).Add(float64(n))
}

// Sweep records the outcome of a sweep run.
func (m *Metrics) Sweep(outcome string) {
	if m == nil {
		return
	}
	m.SweepRuns.WithLabelValues(outcome).Inc()
}

// GaugeFunc registers a gauge computed at scrape time (open requests by
// status, requests due soon). fn must be cheap and bounded.
func (m *Metrics) GaugeFunc(name, help string, labels prometheus.Labels, fn func() float64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, fn))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
