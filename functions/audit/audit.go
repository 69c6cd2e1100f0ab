// Package audit is the audit function (R24): every event in the catalog is
// appended to a hash-chained log (each entry holds the hash of the one
// before), which `veil audit verify` and GET /v1/audit/verify check and
// `veil audit export` / GET /v1/audit/export hand to a regulator. Entries
// carry hashes and digests only, never personal data.
//
// Schedule ticks are audited too: they are events, and a gap in the
// retention ticks is itself evidence (a sweep that did not run).
package audit

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name.
const Name = "audit"

type fn struct {
	d   functions.Deps
	log *Log
}

// New builds the audit function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	policy, err := d.Config.Retention()
	if err != nil {
		return nil, err
	}
	l, err := Open(ctx, d.DB.Backend)
	if err != nil {
		return nil, err
	}
	f := &fn{d: d, log: l}
	handlers := map[string]events.Handler{}
	batch := map[string]events.BatchHandler{}
	for _, t := range events.Types() {
		handlers[t] = f.record
		batch[t] = f.recordAllTx
	}
	// Ticks prune too, one at a time.
	delete(batch, events.ScheduleTicked)
	// The audit class's period applies to the log itself; pruning rides
	// on the retention job's tick.
	handlers[events.ScheduleTicked] = func(ctx context.Context, e events.Event) error {
		if err := f.record(ctx, e); err != nil {
			return err
		}
		t, err := events.Decode[events.ScheduleTickedData](e)
		if err != nil || t.Job != "retention" {
			return nil
		}
		now := f.now()
		n, err := f.log.Prune(ctx, now.Add(-policy.Period(privacy.ClassAudit)), now)
		if n > 0 {
			d.Log.Info().Int64("entries", n).Msg("audit entries past retention pruned")
		}
		return err
	}
	ops := func(h http.HandlerFunc) http.Handler { return httpx.RequireOps(d.Config.OpsToken, h) }
	return &functions.Function{
		Name:   Name,
		Events: handlers,
		Batch:  batch,
		Routes: map[string]http.Handler{
			"GET /v1/audit/verify": ops(f.verify),
			"GET /v1/audit/export": ops(f.export),
			"GET /v1/audit/head":   ops(f.head),
		},
		Collections: Collections(),
		Processing:  Processing(),
	}, nil
}

// Collections lists what the log needs ensured.
func Collections() []store.Collection { return []store.Collection{EntriesCollection, StateCollection} }

// record appends one event. The CloudEvent subject and the payload's
// subject_key are hashed; the payload is digested.
func (f *fn) record(ctx context.Context, e events.Event) error {
	return f.recordAll(ctx, []events.Event{e})
}

// recordAll appends several events in one transaction.
func (f *fn) recordAll(ctx context.Context, es []events.Event) error {
	_, err := f.log.AppendAll(ctx, f.records(es))
	return err
}

// recordAllTx appends several events in the broker's transaction.
func (f *fn) recordAllTx(ctx context.Context, tx store.Tx, es []events.Event) error {
	_, err := f.log.AppendAllTx(tx, f.records(es))
	return err
}

// records are what the log keeps of es.
func (f *fn) records(es []events.Event) []Record {
	rs := make([]Record, len(es))
	for i, e := range es {
		var p struct {
			SubjectKey string `json:"subject_key"`
		}
		_ = json.Unmarshal(e.Data(), &p) // payloads without subject_key are fine
		at := e.Time()
		if at.IsZero() {
			at = f.now()
		}
		rs[i] = Record{EventID: e.ID(), Type: e.Type(), Subject: e.Subject(), SubjectKey: p.SubjectKey, Data: e.Data(), At: at}
	}
	return rs
}

func (f *fn) now() time.Time {
	if f.d.Now != nil {
		return f.d.Now().UTC()
	}
	return time.Now().UTC()
}

func (f *fn) verify(w http.ResponseWriter, r *http.Request) {
	v, err := f.log.Verify(r.Context())
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	if !v.OK {
		f.d.Log.Error().Int64("seq", v.Broken.Seq).Str("entry", v.Broken.ID).Str("alert", "audit").Msg("audit chain broken")
	}
	httpx.JSON(w, http.StatusOK, v)
}

func (f *fn) head(w http.ResponseWriter, r *http.Request) {
	h, err := f.log.Head(r.Context())
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, h)
}

// export streams the entries of [from, to) as JSON lines; the last line is
// {"manifest": …} with the head hash and the digest of the lines above it.
func (f *fn) export(w http.ResponseWriter, r *http.Request) {
	from, to, err := ParseRange(r.URL.Query().Get("from"), r.URL.Query().Get("to"), f.now())
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	cw := &countingWriter{w: w}
	m, err := f.log.Export(r.Context(), from, to, f.now(), cw)
	if err != nil {
		if cw.n == 0 {
			httpx.Error(w, r, err)
			return
		}
		// The status is sent; the missing manifest line tells the
		// reader the export is incomplete.
		f.d.Log.Error().Err(err).Msg("audit export failed part-way")
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"manifest": m})
}

// countingWriter tells whether anything (and so the status) was sent.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
