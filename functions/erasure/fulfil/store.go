package fulfil

import (
	"context"
	"time"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Collections shared by export and erasure (and read by others).
var (
	// FulfilmentsCollection remembers, per function and request, the last
	// request.verified event worked on, so a dead-lettered event can be
	// traced back to its request and escalated; and deletions deferred by
	// a legal hold, found again by subject when the hold is lifted.
	FulfilmentsCollection = store.Collection{Name: "fulfilments",
		Keys: []store.Key{{Name: "event", Kind: store.String}, {Name: "subject", Kind: store.String}, {Name: "deferred", Kind: store.Bool}}}
	// BundlesCollection lists export bundles in the blob store with their
	// expiry: export deletes them when the link expires, erasure when
	// their subject is erased.
	BundlesCollection = store.Collection{Name: "export_bundles",
		Keys: []store.Key{{Name: "subject", Kind: store.String}, {Name: "expires", Kind: store.Int}, {Name: "request", Kind: store.String}}}
	// ProfilesCollection holds account holders' registration data
	// (privacy.Profile), by subject key.
	ProfilesCollection = store.Collection{Name: "profiles", Keys: []store.Key{{Name: "updated", Kind: store.Int}}}
	// AccountsCollection holds the tombstones of cancelled accounts (R14),
	// by privacy.ErasureHash of the subject key, so that the service stops
	// for them without keeping their key.
	AccountsCollection = store.Collection{Name: "accounts", Keys: []store.Key{{Name: "at", Kind: store.Int}}}
)

// Collections lists them for Function.Collections.
func Collections() []store.Collection {
	return []store.Collection{FulfilmentsCollection, BundlesCollection, ProfilesCollection, AccountsCollection}
}

// Fulfilment is one function's work on one request.
type Fulfilment struct {
	ID        string    `json:"id"` // <function>~<request id>
	Function  string    `json:"function"`
	RequestID string    `json:"request_id"`
	EventID   string    `json:"event_id"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	At        time.Time `json:"at"`
	// While a deletion is deferred by a legal hold: the subject key the
	// request names (indexed, to find it when a hold is lifted), every key
	// of the subject, and why. Cleared once the deletion is done.
	SubjectKey string   `json:"subject_key,omitempty"`
	Subjects   []string `json:"subjects,omitempty"`
	Deferred   string   `json:"deferred,omitempty"`
}

// Bundle is one export in the blob store.
type Bundle struct {
	ID          string     `json:"id"` // the blob key
	RequestID   string     `json:"request_id"`
	SubjectKey  string     `json:"subject_key"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	Bytes       int64      `json:"bytes"`
	Records     int        `json:"records"`
	DeliveredTo string     `json:"delivered_to,omitempty"` // portability: the host it was sent to
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// Account is a cancelled account's tombstone.
type Account struct {
	ID          string    `json:"id"` // privacy.ErasureHash(subject key)
	Status      string    `json:"status"`
	CancelledAt time.Time `json:"cancelled_at"`
	RequestID   string    `json:"request_id"`
}

// StatusCancelled is an account whose holder cancelled it.
const StatusCancelled = "cancelled"

// Repos are the typed repositories over the shared collections.
type Repos struct {
	Fulfilments store.Repo[Fulfilment]
	Bundles     store.Repo[Bundle]
	Profiles    store.Repo[privacy.Profile]
	Accounts    store.Repo[Account]
}

// NewRepos binds the repositories to b.
func NewRepos(b store.Backend) Repos {
	return Repos{
		Fulfilments: store.Repo[Fulfilment]{B: b, C: FulfilmentsCollection, ID: func(f *Fulfilment) string { return f.ID },
			Keys: func(f *Fulfilment) map[string]any {
				return map[string]any{"event": f.EventID, "subject": f.SubjectKey, "deferred": f.Deferred != ""}
			}},
		Bundles: store.Repo[Bundle]{B: b, C: BundlesCollection, ID: func(x *Bundle) string { return x.ID },
			Keys: func(x *Bundle) map[string]any {
				return map[string]any{"subject": x.SubjectKey, "expires": store.Unix(x.ExpiresAt), "request": x.RequestID}
			}},
		Profiles: store.Repo[privacy.Profile]{B: b, C: ProfilesCollection, ID: func(p *privacy.Profile) string { return p.SubjectKey },
			Keys: func(p *privacy.Profile) map[string]any { return map[string]any{"updated": store.Unix(p.UpdatedAt)} }},
		Accounts: store.Repo[Account]{B: b, C: AccountsCollection, ID: func(a *Account) string { return a.ID },
			Keys: func(a *Account) map[string]any { return map[string]any{"at": store.Unix(a.CancelledAt)} }},
	}
}

// Accounts answers whether an account was cancelled (R14). Ingest and
// requests build one in their New (it ensures its collection, so it works
// where erasure does not run) and refuse service to cancelled subjects.
type Accounts struct{ repo store.Repo[Account] }

// NewAccounts builds the check over db.
func NewAccounts(ctx context.Context, db *store.DB) (*Accounts, error) {
	if err := db.Backend.Ensure(ctx, AccountsCollection); err != nil {
		return nil, err
	}
	return &Accounts{repo: NewRepos(db.Backend).Accounts}, nil
}

// Cancelled reports whether the subject filed under subjectKey cancelled
// its account (one document read).
func (a *Accounts) Cancelled(ctx context.Context, subjectKey string) (bool, error) {
	acc, err := a.repo.Get(ctx, privacy.ErasureHash(subjectKey))
	if privacy.IsNotFound(err) {
		return false, nil
	}
	return err == nil && acc.Status == StatusCancelled, err
}
