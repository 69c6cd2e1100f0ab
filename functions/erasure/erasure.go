// Package erasure is the erasure function (SPEC R11–R14): on
// com.veil.request.verified.v1 it corrects (correct), deletes (delete),
// withdraws consent (withdraw_consent) and cancels accounts
// (cancel_account), completes the request with what was done, and mails
// the requester through notify.
//
// Deletion and cancellation, in this order, each step safe to repeat:
//
//  1. Legal holds (retention.Guard): a held subject's data is kept, its ad
//     records marked Isolated, the requester told what was kept and why;
//     the deletion runs when com.veil.hold.lifted.v1 lifts the last hold.
//  2. The erasure ledger gets the subject's hashed keys first (a
//     write-ahead record: should anything below fail, or a backup be
//     restored later, `veil ledger replay` deletes them again). It is a
//     store collection and, for the embedded install, an append-only file
//     $VEIL_DATA/erasure-ledger.jsonl beside the database, which a restore
//     of veil.db does not roll back.
//  3. Ad records and device links are deleted by query (store.Tx's
//     DeleteWhere, up to store.MaxDeleteLimit per transaction; Firestore
//     500), consents, profile and export bundles one by one; notify's
//     delivery records and letters and the subject's other requests keep
//     their evidence value but lose every personal field and name the
//     subject only by privacy.ErasedSubject; each disclosure is re-filed
//     the same way and com.veil.erasure.requested.v1 sent to its
//     recipient, whose com.veil.erasure.acknowledged.v1 is recorded on it.
//  4. Cancellation also stops service: apps registered with the account's
//     address are revoked and lose that address, and a tombstone (no key,
//     no address) in fulfil.AccountsCollection answers Accounts.Cancelled.
//  5. The subject's data keys are destroyed (crypto-shredding: every copy
//     of the sealed fields, backups included, is unreadable from now on).
//  6. The request is completed and stripped of the requester's address in
//     the transaction that mails them; then the backend is purged (SQLite:
//     WAL checkpoint; secure_delete has zeroed the freed pages), and again
//     on every retention tick, which also clears the copies events in
//     flight held.
//
// Withdrawal (R13) records the withdrawal (source "request") and strips
// the fields held only for the withdrawn purposes from records already
// kept; ingest reads the registry on every request, so collection stops at
// once; partners stop sharing and ask their partners to delete on the
// consent.changed event. Correction (R11) applies profile fields at once,
// except real-name-verified ones, which go to needs_review; when ops
// approve (POST /v1/requests/{id}/approve → verified again) they are
// applied.
package erasure

import (
	"context"
	"fmt"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/erasure/fulfil"
	"github.com/veil-privacy/veil/functions/notify"
	"github.com/veil-privacy/veil/functions/retention"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/notices"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name (VEIL_FUNCTIONS, the Knative Service).
const Name = "erasure"

// Job is the schedule job on whose ticks the store is purged again.
const Job = "retention"

var templates = []string{"deletion_done", "cancellation_done", "correction_done", "withdrawal_done", "fulfilment_failed"}

type eraser struct {
	d          functions.Deps
	run        *fulfil.Runner
	repos      fulfil.Repos
	guard      *retention.Guard
	ledger     store.Repo[LedgerEntry]
	deliveries store.Repo[notify.Delivery]
	letters    store.Repo[notify.Letter]
	// deleteBatch is the most documents one deleting transaction asks
	// for: store.MaxDeleteLimit, which SQLite deletes in one statement;
	// Firestore caps each call at its 500 writes per transaction itself.
	deleteBatch int
	shredded    func() // called once the keys are destroyed (benchmarks time it)
}

// New builds the erasure function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	x, err := newEraser(ctx, d)
	if err != nil {
		return nil, err
	}
	return x.function(), nil
}

func (x *eraser) function() *functions.Function {
	return &functions.Function{
		Name: Name,
		Events: map[string]events.Handler{
			events.RequestVerified:     x.run.Verified(x.Fulfil),
			events.EventDeadLettered:   x.run.DeadLettered,
			events.ErasureAcknowledged: x.acknowledged,
			events.HoldLifted:          x.holdLifted,
			events.ScheduleTicked:      x.tick,
		},
		Collections: Collections(),
		Processing:  Processing(),
	}
}

// Collections lists what erasure owns or writes (notify's are redacted).
func Collections() []store.Collection {
	return append(fulfil.Collections(), LedgerCollection, notify.DeliveriesCollection, notify.LettersCollection)
}

func newEraser(ctx context.Context, d functions.Deps) (*eraser, error) {
	set, err := notices.Load()
	if err != nil {
		return nil, err
	}
	for _, t := range templates {
		if !set.Has(t) {
			return nil, fmt.Errorf("erasure: notice template %q is missing", t)
		}
	}
	guard, err := retention.NewGuard(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	b := d.DB.Backend
	run := fulfil.New(d, Name, privacy.ReqCorrect, privacy.ReqDelete, privacy.ReqWithdrawConsent, privacy.ReqCancelAccount)
	return &eraser{d: d, run: run, repos: run.Repos, guard: guard, ledger: ledgerRepo(b), deleteBatch: store.MaxDeleteLimit,
		// notify's repositories as notify declares them, so the records
		// erasure redacts keep notify's indexes right.
		deliveries: store.Repo[notify.Delivery]{B: b, C: notify.DeliveriesCollection, ID: func(x *notify.Delivery) string { return x.ID },
			Keys: func(x *notify.Delivery) map[string]any {
				return map[string]any{"event": x.EventID, "ref": x.Ref, "subject": x.SubjectKey, "status": x.Status, "at": store.Unix(x.At)}
			}},
		letters: store.Repo[notify.Letter]{B: b, C: notify.LettersCollection, ID: func(x *notify.Letter) string { return x.ID },
			Keys: func(x *notify.Letter) map[string]any {
				return map[string]any{"created": store.Unix(x.CreatedAt), "subject": x.SubjectKey}
			}},
	}, nil
}

// Fulfil runs one request.
func (x *eraser) Fulfil(ctx context.Context, id string) error {
	req, err := x.run.Claim(ctx, id, "being fulfilled")
	if err != nil || req == nil {
		return err
	}
	switch req.Type {
	case privacy.ReqDelete, privacy.ReqCancelAccount:
		return x.erase(ctx, req)
	case privacy.ReqCorrect:
		return x.correct(ctx, req)
	case privacy.ReqWithdrawConsent:
		return x.withdraw(ctx, req)
	}
	return nil
}

// purge makes deleted content unrecoverable from the store's files where
// the backend can keep it (SQLite's WAL).
func (x *eraser) purge(ctx context.Context) error {
	if p, ok := x.d.DB.Backend.(store.Purger); ok {
		return p.Purge(ctx)
	}
	return nil
}

// tick purges again on the retention schedule: events staged by an
// erasure (its request.changed, its notice) were still queued when the
// erasure purged, and their copies go with this one.
func (x *eraser) tick(ctx context.Context, e events.Event) error {
	t, err := events.Decode[events.ScheduleTickedData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if t.Job != Job {
		return nil
	}
	return x.purge(ctx)
}

// subjectKeys is every key the subject's data may be filed under: the
// request's, and for a device the id hashes linked to it.
func (x *eraser) subjectKeys(ctx context.Context, subjectKey string) ([]string, error) {
	out := []string{subjectKey}
	err := x.d.DB.Devices.Each(ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, subjectKey)}, Limit: store.MaxLimit},
		func(l *privacy.DeviceLink) error {
			if l.IDHash != subjectKey {
				out = append(out, l.IDHash)
			}
			return nil
		})
	return out, err
}
