package store

import (
	"context"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

// DB holds the repositories several functions share. A function's private
// collections are declared in the function's own package and ensured by the
// suite through functions.Function.Collections.
type DB struct {
	Backend  Backend
	Apps     Repo[privacy.App]
	Consents Repo[privacy.Consent]
	Devices  Repo[privacy.DeviceLink]
	Records  Repo[privacy.AdRecord]
	Requests Repo[privacy.Request]
	// Disclosures is written by the partners function and read by erasure.
	Disclosures Repo[privacy.Disclosure]
}

// Shared collections.
var (
	AppsCollection     = Collection{Name: "apps", Keys: []Key{{Name: "key_hash", Kind: String}}}
	ConsentsCollection = Collection{Name: "consents", Keys: []Key{{Name: "updated", Kind: Int}}}
	DevicesCollection  = Collection{Name: "devices", Keys: []Key{{Name: "subject", Kind: String}}}
	// Ad records are the largest collection by far, written on every ad
	// request and deleted a subject at a time: they carry only the
	// indexes their queries use (a subject's records in the order they
	// came; expiry and age for retention sweeps).
	RecordsCollection = Collection{Name: "adrecords",
		Keys:    []Key{{Name: "subject", Kind: String, Composite: true}, {Name: "expires", Kind: Int}, {Name: "received", Kind: Int}},
		Indexes: [][]string{{"subject", "received"}}}
	RequestsCollection = Collection{Name: "requests",
		Keys:    []Key{{Name: "subject", Kind: String}, {Name: "status", Kind: String}, {Name: "type", Kind: String}, {Name: "due", Kind: Int}, {Name: "created", Kind: Int}, {Name: "open", Kind: Bool}},
		Indexes: [][]string{{"subject", "created"}, {"status", "created"}, {"open", "due"}, {"type", "created"}}}
)

// DisclosuresCollection indexes disclosures by subject (erasure) and by
// recipient (acknowledgement lists).
var DisclosuresCollection = Collection{Name: "disclosures",
	Keys:    []Key{{Name: "subject", Kind: String}, {Name: "recipient", Kind: String}, {Name: "last", Kind: Int}, {Name: "pending_ack", Kind: Bool}},
	Indexes: [][]string{{"recipient", "last"}, {"recipient", "pending_ack"}}}

// Open binds the shared repositories to b and ensures their collections.
func Open(ctx context.Context, b Backend) (*DB, error) {
	db := &DB{
		Backend: b,
		Apps: Repo[privacy.App]{B: b, C: AppsCollection,
			ID:   func(a *privacy.App) string { return a.ID },
			Keys: func(a *privacy.App) map[string]any { return map[string]any{"key_hash": a.KeyHash} }},
		Consents: Repo[privacy.Consent]{B: b, C: ConsentsCollection,
			ID:   func(c *privacy.Consent) string { return c.SubjectKey },
			Keys: func(c *privacy.Consent) map[string]any { return map[string]any{"updated": Unix(c.UpdatedAt)} }},
		Devices: Repo[privacy.DeviceLink]{B: b, C: DevicesCollection,
			ID:   func(d *privacy.DeviceLink) string { return d.IDHash },
			Keys: func(d *privacy.DeviceLink) map[string]any { return map[string]any{"subject": d.SubjectKey} }},
		Records: Repo[privacy.AdRecord]{B: b, C: RecordsCollection,
			ID: func(r *privacy.AdRecord) string { return r.ID },
			Keys: func(r *privacy.AdRecord) map[string]any {
				return map[string]any{"subject": r.SubjectKey, "expires": Unix(r.ExpiresAt), "received": Unix(r.ReceivedAt)}
			}},
		Requests: Repo[privacy.Request]{B: b, C: RequestsCollection,
			ID: func(r *privacy.Request) string { return r.ID },
			Keys: func(r *privacy.Request) map[string]any {
				due := int64(0)
				if r.DueAt != nil {
					due = Unix(*r.DueAt)
				}
				return map[string]any{"subject": r.SubjectKey, "status": string(r.Status), "type": string(r.Type),
					"due": due, "created": Unix(r.CreatedAt), "open": r.Open()}
			}},
		Disclosures: Repo[privacy.Disclosure]{B: b, C: DisclosuresCollection,
			ID: func(d *privacy.Disclosure) string { return d.ID },
			Keys: func(d *privacy.Disclosure) map[string]any {
				return map[string]any{"subject": d.SubjectKey, "recipient": d.Recipient, "last": Unix(d.Last),
					"pending_ack": d.ErasureSentAt != nil && d.AcknowledgedAt == nil}
			}},
	}
	for _, c := range Shared() {
		if err := b.Ensure(ctx, c); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// Shared lists the collections of DB (for Ensure and for generating
// firestore.indexes.json).
func Shared() []Collection {
	return []Collection{AppsCollection, ConsentsCollection, DevicesCollection, RecordsCollection, RequestsCollection, DisclosuresCollection}
}

// Unix is how times are stored in indexed keys: seconds, UTC; zero time → 0.
func Unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
