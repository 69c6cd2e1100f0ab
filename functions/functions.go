// Package functions defines what a Veil function is. Each subpackage
// (functions/ingest, functions/requests, …) is one function with one
// concern; suite wires them together, and the root package's Handle serves
// whichever VEIL_FUNCTIONS selects. A function never knows whether it runs
// alone on Knative or with all the others in `veil serve`.
package functions

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/metrics"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/privacy/calendar"
)

// Deps is everything a function may use, passed in, never reached for.
type Deps struct {
	Config   config.Config
	Log      zerolog.Logger
	DB       *store.DB
	Keys     *keys.Ring
	Blobs    blob.Store
	Mail     mail.Sender
	Bus      events.Publisher
	Calendar *calendar.Calendar
	Now      func() time.Time
	Metrics  *metrics.Metrics // nil-safe: a nil *Metrics records nothing
}

// Function is one deployable concern: its HTTP routes (Go 1.22 ServeMux
// patterns such as "POST /v1/ad-requests"), the event types it consumes
// (each becomes a Knative Trigger), and the collections it owns.
type Function struct {
	Name   string
	Routes map[string]http.Handler
	Events map[string]events.Handler
	// Batch optionally handles several events of a type in Events at once,
	// in the in-process broker's transaction (events.BatchHandler): `veil
	// serve` uses it when several are due; on Knative each event arrives
	// alone.
	Batch       map[string]events.BatchHandler
	Collections []store.Collection
	// Processing declares what personal data the function processes, for
	// the records of processing (R25): `veil processing` prints them and
	// tests hold them to the code and to the impact assessments.
	Processing []privacy.Activity
	// Start, when set, runs background work tied to the process (none may
	// be needed on Knative, where schedules arrive as events).
	Start func(ctx context.Context)
}

// Constructor builds a function from its dependencies.
type Constructor func(ctx context.Context, d Deps) (*Function, error)
