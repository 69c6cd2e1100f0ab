// Package events is Veil's CloudEvent catalog and bus: the type names, their
// typed payloads and JSON Schemas (schemas/), validation on receipt, and the
// two brokers — Knative's (publish to K_SINK) and an in-process one with the
// same delivery semantics for `veil serve` and tests.
package events

import (
	"reflect"
	"sort"
	"time"
)

// Event types: com.veil.<noun>.<verb>.v1.
const (
	AdRequestReceived     = "com.veil.adrequest.received.v1"
	ConsentChanged        = "com.veil.consent.changed.v1"
	RequestReceived       = "com.veil.request.received.v1"
	RequestVerified       = "com.veil.request.verified.v1"
	RequestChanged        = "com.veil.request.changed.v1"
	RequestDueSoon        = "com.veil.request.duesoon.v1"
	RequestOverdue        = "com.veil.request.overdue.v1"
	ErasureRequested      = "com.veil.erasure.requested.v1"
	ErasureAcknowledged   = "com.veil.erasure.acknowledged.v1"
	RetentionExpired      = "com.veil.retention.expired.v1"
	ScheduleTicked        = "com.veil.schedule.ticked.v1"
	NotificationRequested = "com.veil.notification.requested.v1"
	NotificationDelivered = "com.veil.notification.delivered.v1"
	IncidentDeclared      = "com.veil.incident.declared.v1"
	PolicyPublished       = "com.veil.policy.published.v1"
	OperationsCeased      = "com.veil.operations.ceased.v1"
	ResidencyViolated     = "com.veil.residency.violated.v1"
	EventDeadLettered     = "com.veil.event.deadlettered.v1"
	FanoutContinued       = "com.veil.fanout.continued.v1"
	HoldPlaced            = "com.veil.hold.placed.v1"
	HoldLifted            = "com.veil.hold.lifted.v1"
)

// AdRequestReceivedData carries only what ingest kept.
type AdRequestReceivedData struct {
	RecordID     string   `json:"record_id"`
	SubjectKey   string   `json:"subject_key"`
	AppID        string   `json:"app_id"`
	Platform     string   `json:"platform"`
	Region       string   `json:"region"`
	Personalized bool     `json:"personalized"`
	Kept         []string `json:"kept"`
	Country      string   `json:"country,omitempty"`
	OSVersion    string   `json:"os_version,omitempty"`
}

// ConsentChangedData is a new consent decision.
type ConsentChangedData struct {
	SubjectKey string          `json:"subject_key"`
	Purposes   map[string]bool `json:"purposes"`
	Withdrawn  []string        `json:"withdrawn,omitempty"`
	Guardian   *bool           `json:"guardian,omitempty"`
	Source     string          `json:"source"`
}

// RequestData identifies a rights request and where it stands.
type RequestData struct {
	RequestID  string `json:"request_id"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	Channel    string `json:"channel,omitempty"`
	SubjectKey string `json:"subject_key,omitempty"`
	From       string `json:"from,omitempty"`
	Actor      string `json:"actor,omitempty"`
	Reason     string `json:"reason,omitempty"`
	DueAt      string `json:"due_at,omitempty"`
}

// ErasureData asks one recipient of disclosed data to delete it, or
// acknowledges that it did.
type ErasureData struct {
	ErasureID  string   `json:"erasure_id"`
	Recipient  string   `json:"recipient"`
	Pseudonym  string   `json:"pseudonym"`
	Categories []string `json:"categories,omitempty"`
	RequestID  string   `json:"request_id,omitempty"`
	Reason     string   `json:"reason,omitempty"`
}

// RetentionExpiredData names records a sweep found past their retention.
type RetentionExpiredData struct {
	Class      string   `json:"class"`
	Action     string   `json:"action"`
	SubjectKey string   `json:"subject_key,omitempty"`
	RecordIDs  []string `json:"record_ids"`
}

// ScheduleTickedData is what a PingSource (or veil serve's timer) sends.
type ScheduleTickedData struct {
	Job string `json:"job"`
}

// NotificationData asks notify to deliver one message. Key is the
// idempotency key: notify sends each key at most once.
type NotificationData struct {
	Key        string            `json:"key"`
	Channel    string            `json:"channel"` // email, push, letter
	To         string            `json:"to"`
	Template   string            `json:"template"`
	Lang       string            `json:"lang,omitempty"`
	Vars       map[string]string `json:"vars,omitempty"`
	SubjectKey string            `json:"subject_key,omitempty"`
	Ref        string            `json:"ref,omitempty"` // the incident, policy or request it belongs to
}

// DeliveryData reports the outcome of a notification.
type DeliveryData struct {
	Key     string `json:"key"`
	Channel string `json:"channel"`
	Ref     string `json:"ref,omitempty"`
	Status  string `json:"status"` // sent, failed
	Error   string `json:"error,omitempty"`
}

// RefData names the incident, policy or operation an event is about.
type RefData struct {
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// ResidencyData reports a write refused by the residency rule (R6).
type ResidencyData struct {
	Backend  string `json:"backend"`
	Location string `json:"location"`
	Region   string `json:"region"`
	What     string `json:"what"`
}

// DeadLetterData reports an event that exhausted its retries.
type DeadLetterData struct {
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
	Subscriber string `json:"subscriber"`
	Attempts   int    `json:"attempts"`
	Error      string `json:"error"`
}

// FanoutData asks the owner of a notification fan-out (incidents,
// policies) to go on with it from its stored cursor. Gen lets a stale
// continuation recognise itself and stop, so at most one chain runs.
type FanoutData struct {
	Job string `json:"job"`
	Gen int    `json:"gen"`
}

// HoldData is a legal hold placed on or lifted from a subject (R20): its
// records are kept, isolated, until the hold ends. Reason is the ops
// team's words (a case number, never personal data).
type HoldData struct {
	HoldID     string     `json:"hold_id"`
	SubjectKey string     `json:"subject_key"`
	Actor      string     `json:"actor"`
	Reason     string     `json:"reason"`
	Until      *time.Time `json:"until,omitempty"`
}

// catalog maps each type to its payload type. It is read-only.
var catalog = map[string]reflect.Type{
	AdRequestReceived:     reflect.TypeFor[AdRequestReceivedData](),
	ConsentChanged:        reflect.TypeFor[ConsentChangedData](),
	RequestReceived:       reflect.TypeFor[RequestData](),
	RequestVerified:       reflect.TypeFor[RequestData](),
	RequestChanged:        reflect.TypeFor[RequestData](),
	RequestDueSoon:        reflect.TypeFor[RequestData](),
	RequestOverdue:        reflect.TypeFor[RequestData](),
	ErasureRequested:      reflect.TypeFor[ErasureData](),
	ErasureAcknowledged:   reflect.TypeFor[ErasureData](),
	RetentionExpired:      reflect.TypeFor[RetentionExpiredData](),
	ScheduleTicked:        reflect.TypeFor[ScheduleTickedData](),
	NotificationRequested: reflect.TypeFor[NotificationData](),
	NotificationDelivered: reflect.TypeFor[DeliveryData](),
	IncidentDeclared:      reflect.TypeFor[RefData](),
	PolicyPublished:       reflect.TypeFor[RefData](),
	OperationsCeased:      reflect.TypeFor[RefData](),
	ResidencyViolated:     reflect.TypeFor[ResidencyData](),
	EventDeadLettered:     reflect.TypeFor[DeadLetterData](),
	FanoutContinued:       reflect.TypeFor[FanoutData](),
	HoldPlaced:            reflect.TypeFor[HoldData](),
	HoldLifted:            reflect.TypeFor[HoldData](),
}

// Types lists every type in the catalog.
func Types() []string {
	out := make([]string, 0, len(catalog))
	for t := range catalog {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Known reports whether t is in the catalog.
func Known(t string) bool { _, ok := catalog[t]; return ok }
