package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions/erasure/fulfil"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Reasons erasure requests carry to recipients.
const (
	ReasonDeletion     = "subject_deletion"
	ReasonCancellation = "account_cancelled"
)

// Report counts what an erasure did.
type Report struct {
	Records      int      `json:"records"`
	DeviceIDs    int      `json:"device_ids"`
	Consents     int      `json:"consents"`
	Profiles     int      `json:"profiles"`
	Bundles      int      `json:"bundles"`
	Notices      int      `json:"notices"`
	Requests     int      `json:"requests"`
	Recipients   []string `json:"recipients"`
	AppsRevoked  int      `json:"apps_revoked"`
	AppsKept     int      `json:"apps_kept"`
	KeysShredded int      `json:"keys_shredded"`
}

// erase deletes (or, under a legal hold, isolates) everything of the
// subject of a delete or cancel_account request.
func (x *eraser) erase(ctx context.Context, req *privacy.Request) error {
	keys, err := x.subjectKeys(ctx, req.SubjectKey)
	if err != nil {
		return err
	}
	now := x.d.Now().UTC()
	for _, k := range keys {
		held, why, err := x.guard.Held(ctx, k, now)
		if err != nil {
			return err
		}
		if held {
			return x.hold(ctx, req, keys, why)
		}
	}
	cancel := req.Type == privacy.ReqCancelAccount
	rep, err := x.wipe(ctx, req, keys, cancel)
	if err != nil {
		return err
	}
	template := "deletion_done"
	if cancel {
		template = "cancellation_done"
	}
	vars := x.reportVars(req, rep, cancel)
	_, err = x.run.Finish(ctx, req.ID, fulfil.Outcome{
		Result:     resultText(rep, cancel),
		Change:     strip,
		SubjectKey: req.SubjectKey,
		Notice:     &fulfil.Notice{Template: template, Vars: vars, Anonymous: true},
	})
	if err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Int("records", rep.Records).Int("recipients", len(rep.Recipients)).Bool("cancel", cancel).Msg("subject erased")
	return x.purge(ctx)
}

// strip removes what identifies the requester from a request kept as
// evidence: the address, the free text they wrote, the subject key (the
// erased form links it to the ledger and the audit log).
func strip(r *privacy.Request) {
	if !privacy.IsErased(r.SubjectKey) {
		r.SubjectKey = privacy.ErasedSubject(r.SubjectKey)
	}
	r.SubjectHint, r.Email, r.Details, r.Corrections, r.DeliverTo, r.Devices, r.DownloadURL = "erased", "", "", nil, "", nil, ""
}

// wipe is steps 2–5 of the package comment.
func (x *eraser) wipe(ctx context.Context, req *privacy.Request, keys []string, cancel bool) (*Report, error) {
	rep := &Report{}
	if err := x.appendLedger(ctx, req, keys); err != nil {
		return nil, err
	}
	// Keys first: the sealed fields are unreadable everywhere at once,
	// while deleting the documents themselves takes a while.
	if err := x.shred(ctx, keys, rep); err != nil {
		return nil, err
	}
	if x.shredded != nil {
		x.shredded()
	}
	for _, k := range keys {
		n, err := x.deleteAll(ctx, x.d.DB.Records.C, k)
		if err != nil {
			return nil, err
		}
		rep.Records += n
	}
	if err := x.deleteLinks(ctx, keys, rep); err != nil {
		return nil, err
	}
	for _, k := range keys {
		for _, del := range []struct {
			n    *int
			repo func(string) error
			get  func(string) error
		}{
			{&rep.Consents, func(id string) error { return x.d.DB.Consents.Delete(ctx, id) }, func(id string) error { _, err := x.d.DB.Consents.Get(ctx, id); return err }},
			{&rep.Profiles, func(id string) error { return x.repos.Profiles.Delete(ctx, id) }, func(id string) error { _, err := x.repos.Profiles.Get(ctx, id); return err }},
		} {
			err := del.get(k)
			if privacy.IsNotFound(err) {
				continue
			} else if err != nil {
				return nil, err
			}
			if err := del.repo(k); err != nil {
				return nil, err
			}
			*del.n++
		}
		if err := x.deleteBundles(ctx, k, rep); err != nil {
			return nil, err
		}
		if err := x.redactNotices(ctx, k, rep); err != nil {
			return nil, err
		}
		if err := x.stripRequests(ctx, req.ID, k, rep); err != nil {
			return nil, err
		}
		if err := x.propagate(ctx, req, k, cancel, rep); err != nil {
			return nil, err
		}
	}
	if err := x.apps(ctx, req, cancel, rep); err != nil {
		return nil, err
	}
	if cancel {
		if err := x.tombstone(ctx, req, keys); err != nil {
			return nil, err
		}
	}
	// Again: a record ingested while this ran was sealed under a new key.
	if err := x.shred(ctx, keys, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// shred destroys the subject's data keys: from then on every copy of its
// sealed fields, backups included, is unreadable.
func (x *eraser) shred(ctx context.Context, keys []string, rep *Report) error {
	for _, k := range keys {
		has, err := x.d.Keys.Has(ctx, k)
		if err != nil {
			return err
		}
		if !has {
			continue
		}
		if err := x.d.Keys.Destroy(ctx, k); err != nil {
			return err
		}
		rep.KeysShredded++
	}
	return nil
}

// deleteAll deletes every document of coll filed under subject key k:
// one DeleteWhere per transaction of at most x.deleteBatch documents (the
// backend may delete fewer: Firestore 500), until one deletes nothing, so
// a document written meanwhile under k goes too. The order is the one the
// collection's declaration serves (ad records: by "received", their
// subject being a Composite key; see store.Key): neighbours share pages in
// SQLite, so each transaction rewrites few of them.
func (x *eraser) deleteAll(ctx context.Context, coll store.Collection, k string) (int, error) {
	q := store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, Limit: x.deleteBatch}
	n := 0
	for {
		got := 0
		err := x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.DeleteWhere(coll.Name, q)
			return err
		})
		if err != nil {
			return n, err
		}
		if got == 0 {
			return n, nil
		}
		n += got
	}
}

// deleteLinks deletes the device's id links: those filed under its keys,
// and the links of its own ids.
func (x *eraser) deleteLinks(ctx context.Context, keys []string, rep *Report) error {
	for _, k := range keys {
		n, err := x.deleteAll(ctx, x.d.DB.Devices.C, k)
		if err != nil {
			return err
		}
		rep.DeviceIDs += n
		if _, err := x.d.DB.Devices.Get(ctx, k); err == nil {
			if err := x.d.DB.Devices.Delete(ctx, k); err != nil {
				return err
			}
			rep.DeviceIDs++
		} else if !privacy.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// deleteBundles deletes the subject's export bundles and their blobs.
func (x *eraser) deleteBundles(ctx context.Context, k string, rep *Report) error {
	for {
		bs, err := x.repos.Bundles.Find(ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, Limit: 100})
		if err != nil || len(bs) == 0 {
			return err
		}
		for _, b := range bs {
			if err := x.d.Blobs.Delete(ctx, b.ID); err != nil {
				return err
			}
			if err := x.repos.Bundles.Delete(ctx, b.ID); err != nil {
				return err
			}
			rep.Bundles++
		}
	}
}

// redactNotices keeps notify's records of notices sent (evidence that
// incident and policy notices were given, R21–R22) without the subject:
// the subject key becomes its erased form, a letter loses its address.
func (x *eraser) redactNotices(ctx context.Context, k string, rep *Report) error {
	erased := privacy.ErasedSubject(k)
	q := store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, Limit: store.MaxLimit}
	for {
		n := 0
		err := x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
			ds, err := x.deliveries.In(tx).Find(q)
			if err != nil {
				return err
			}
			ls, err := x.letters.In(tx).Find(q)
			if err != nil {
				return err
			}
			n = len(ds) + len(ls)
			for _, d := range ds {
				d.SubjectKey = erased
				if err := x.deliveries.In(tx).Put(d); err != nil {
					return err
				}
			}
			for _, l := range ls {
				l.SubjectKey, l.Address = erased, ""
				if err := x.letters.In(tx).Put(l); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		rep.Notices += n
		if n == 0 {
			return nil
		}
	}
}

// stripRequests strips the subject's other requests (the one being
// fulfilled is stripped when it completes, after its requester is mailed).
func (x *eraser) stripRequests(ctx context.Context, current, k string, rep *Report) error {
	var ids []string
	q := store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, OrderBy: "created", Limit: store.MaxLimit}
	err := x.d.DB.Requests.Each(ctx, q, func(r *privacy.Request) error {
		if r.ID != current {
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := x.d.DB.Requests.Update(ctx, id, func(r *privacy.Request) error { strip(r); return nil }); err != nil {
			return err
		}
		rep.Requests++
	}
	return nil
}

// erasureID is the id of the erasure request sent to one recipient for one
// request: the same on a retry, so the recipient gets it once.
func erasureID(requestID, recipient string) string {
	s := sha256.Sum256([]byte(requestID + "~" + recipient))
	return "er-" + hex.EncodeToString(s[:12])
}

// propagate asks every recipient the subject's data was disclosed to to
// delete it (R12). The disclosure record is kept to track the
// acknowledgement, re-filed under the erased subject (the id follows the
// partners function's recipient~subject convention, so its
// acknowledgement finds the record); the pseudonym the recipient knows the
// subject by stays until the recipient acknowledges.
func (x *eraser) propagate(ctx context.Context, req *privacy.Request, k string, cancel bool, rep *Report) error {
	reason := ReasonDeletion
	if cancel {
		reason = ReasonCancellation
	}
	erased := privacy.ErasedSubject(k)
	for {
		ds, err := x.d.DB.Disclosures.Find(ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, Limit: 100})
		if err != nil || len(ds) == 0 {
			return err
		}
		for _, old := range ds {
			now := x.d.Now().UTC()
			err := x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
				d, err := x.d.DB.Disclosures.In(tx).Get(old.ID)
				if privacy.IsNotFound(err) {
					return nil
				} else if err != nil {
					return err
				}
				moved := *d
				moved.ID, moved.SubjectKey = d.Recipient+"~"+erased, erased
				moved.ErasureID, moved.ErasureSentAt, moved.AcknowledgedAt = erasureID(req.ID, d.Recipient), &now, nil
				if err := x.d.DB.Disclosures.In(tx).Delete(d.ID); err != nil {
					return err
				}
				if err := x.d.DB.Disclosures.In(tx).Put(&moved); err != nil {
					return err
				}
				cats := make([]string, len(d.Categories))
				for i, c := range d.Categories {
					cats[i] = string(c)
				}
				return x.d.Bus.PublishTx(tx, events.Must(events.ErasureRequested, req.ID, events.ErasureData{
					ErasureID: moved.ErasureID, Recipient: d.Recipient, Pseudonym: d.Pseudonym, Categories: cats,
					RequestID: req.ID, Reason: reason}))
			})
			if err != nil {
				return err
			}
			rep.Recipients = append(rep.Recipients, old.Recipient)
		}
	}
}

// apps handles the apps an account holder registered with the account's
// address: cancellation revokes them (service stops) and removes the
// address; a deletion alone keeps them, because running an app needs its
// developer's contact — the requester is told, and told how to remove it.
func (x *eraser) apps(ctx context.Context, req *privacy.Request, cancel bool, rep *Report) error {
	if req.Email == "" {
		return nil
	}
	var ids []string
	err := x.d.DB.Apps.Each(ctx, store.Query{Limit: store.MaxLimit}, func(a *privacy.App) error {
		if strings.EqualFold(a.DeveloperEmail, req.Email) {
			ids = append(ids, a.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !cancel {
		rep.AppsKept = len(ids)
		return nil
	}
	now := x.d.Now().UTC()
	for _, id := range ids {
		_, err := x.d.DB.Apps.Update(ctx, id, func(a *privacy.App) error {
			if !a.Revoked {
				a.Revoked, a.RevokedAt = true, &now
			}
			a.DeveloperEmail = ""
			return nil
		})
		if err != nil {
			return err
		}
		rep.AppsRevoked++
	}
	return nil
}

// tombstone marks the account cancelled under every key of the subject.
func (x *eraser) tombstone(ctx context.Context, req *privacy.Request, keys []string) error {
	now := x.d.Now().UTC()
	return x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		for _, k := range keys {
			a := &fulfil.Account{ID: privacy.ErasureHash(k), Status: fulfil.StatusCancelled, CancelledAt: now, RequestID: req.ID}
			if err := x.repos.Accounts.In(tx).Put(a); err != nil {
				return err
			}
		}
		return nil
	})
}

// hold keeps a held subject's data, isolated from further processing
// (R20), completes the request saying so, and defers the deletion until
// the hold is lifted.
func (x *eraser) hold(ctx context.Context, req *privacy.Request, keys []string, why string) error {
	n, err := x.isolate(ctx, keys, why)
	if err != nil {
		return err
	}
	_, err = x.repos.Fulfilments.Update(ctx, Name+"~"+req.ID, func(f *fulfil.Fulfilment) error {
		f.SubjectKey, f.Subjects, f.Deferred = req.SubjectKey, keys, why
		return nil
	})
	if err != nil {
		return err
	}
	template := "deletion_done"
	if req.Type == privacy.ReqCancelAccount {
		template = "cancellation_done"
	}
	vars := map[string]string{"subject": req.SubjectHint,
		"deleted_zh":    "由于该主体的信息处于法律保全（legal hold）之下，我们暂时无法删除，已将其与其他处理隔离，不再用于任何其他目的。保全解除后我们将立即删除，并再次通知您。",
		"deleted_en":    "Because the subject's information is under a legal hold, we cannot delete it yet. It is isolated from any other processing, and we delete it as soon as the hold ends and tell you again.",
		"kept_zh":       fmt.Sprintf("- 全部信息（含 %d 条广告请求记录）：依法律程序要求保全（%s）", n, why),
		"kept_en":       fmt.Sprintf("- everything, including %d ad request records: kept under a legal hold (%s)", n, why),
		"recipients_zh": "", "recipients_en": ""}
	if req.Type == privacy.ReqCancelAccount {
		if err := x.tombstone(ctx, req, keys); err != nil {
			return err
		}
		vars["deleted_zh"] = "我们已停止为该账号提供服务。" + vars["deleted_zh"]
		vars["deleted_en"] = "We stopped providing our service to the account. " + vars["deleted_en"]
	}
	_, err = x.run.Finish(ctx, req.ID, fulfil.Outcome{
		Result: fmt.Sprintf("kept and isolated under a legal hold (%s): %d ad records; deleted when the hold is lifted", why, n),
		Notice: &fulfil.Notice{Template: template, Vars: vars},
	})
	return err
}

// isolate marks the subject's ad records as isolated by the hold.
func (x *eraser) isolate(ctx context.Context, keys []string, why string) (int, error) {
	n := 0
	for _, k := range keys {
		var ids []string
		q := store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, OrderBy: "received", Limit: store.MaxLimit}
		err := x.d.DB.Records.Each(ctx, q, func(r *privacy.AdRecord) error {
			n++
			if r.Isolated != why {
				ids = append(ids, r.ID)
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		for len(ids) > 0 {
			batch := ids[:min(len(ids), store.MaxLimit/2)]
			ids = ids[len(batch):]
			err := x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
				var recs []*privacy.AdRecord
				for _, id := range batch {
					r, err := x.d.DB.Records.In(tx).Get(id)
					if privacy.IsNotFound(err) {
						continue
					} else if err != nil {
						return err
					}
					recs = append(recs, r)
				}
				for _, r := range recs {
					r.Isolated = why
					if err := x.d.DB.Records.In(tx).Put(r); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// holdLifted runs deletions deferred by the hold just lifted, once no
// other hold covers their subject.
func (x *eraser) holdLifted(ctx context.Context, e events.Event) error {
	h, err := events.Decode[events.HoldData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	subjects := []string{h.SubjectKey}
	if l, err := x.d.DB.Devices.Get(ctx, h.SubjectKey); err == nil && l.SubjectKey != h.SubjectKey {
		subjects = append(subjects, l.SubjectKey)
	} else if err != nil && !privacy.IsNotFound(err) {
		return err
	}
	for _, s := range subjects {
		fs, err := x.repos.Fulfilments.Find(ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, s),
			store.Where("deferred", store.EQ, true)}, Limit: 100})
		if err != nil {
			return err
		}
		for _, f := range fs {
			if err := x.resume(ctx, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// resume deletes a deferred subject and tells the requester.
func (x *eraser) resume(ctx context.Context, f *fulfil.Fulfilment) error {
	now := x.d.Now().UTC()
	for _, k := range f.Subjects {
		held, _, err := x.guard.Held(ctx, k, now)
		if err != nil || held {
			return err
		}
	}
	req, err := x.d.DB.Requests.Get(ctx, f.RequestID)
	if err != nil {
		return err
	}
	cancel := req.Type == privacy.ReqCancelAccount
	rep, err := x.wipe(ctx, req, f.Subjects, cancel)
	if err != nil {
		return err
	}
	vars := x.reportVars(req, rep, cancel)
	err = x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		r, err := x.d.DB.Requests.In(tx).Get(req.ID)
		if err != nil {
			return err
		}
		ff, err := x.repos.Fulfilments.In(tx).Get(f.ID)
		if err != nil {
			return err
		}
		to := r.Email
		if to == "" && r.AppID != "" {
			if app, err := x.d.DB.Apps.In(tx).Get(r.AppID); err == nil {
				to = app.DeveloperEmail
			}
		}
		strip(r)
		r.Result += "; the legal hold was lifted and the data deleted on " + now.Format(time.DateOnly)
		r.UpdatedAt = now
		ff.SubjectKey, ff.Subjects, ff.Deferred = "", nil, ""
		if err := x.d.DB.Requests.In(tx).Put(r); err != nil {
			return err
		}
		if err := x.repos.Fulfilments.In(tx).Put(ff); err != nil {
			return err
		}
		if to == "" {
			return nil
		}
		n := fulfil.Notification(r.ID, "", req.Lang, to, "deletion_done", vars)
		d, _ := events.Decode[events.NotificationData](n)
		d.Key = "deletion-after-hold/" + r.ID // a second notice on the same request
		return x.d.Bus.PublishTx(tx, events.Must(events.NotificationRequested, r.ID, d))
	})
	if err != nil {
		return err
	}
	return x.purge(ctx)
}

// acknowledged records a recipient's acknowledgement of an erasure request
// on the disclosure it was about, and forgets the pseudonym of an erased
// subject: with the recipient's deletion confirmed nothing needs it.
func (x *eraser) acknowledged(ctx context.Context, e events.Event) error {
	a, err := events.Decode[events.ErasureData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if a.RequestID == "" {
		return nil // not an erasure this function asked for (a withdrawal's, handled by partners)
	}
	// Disclosures are filed under the subject key of the records shared,
	// the request's: propagate re-filed it under the erased form of it.
	req, err := x.d.DB.Requests.Get(ctx, a.RequestID)
	if privacy.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	erased := req.SubjectKey
	if !privacy.IsErased(erased) {
		erased = privacy.ErasedSubject(erased)
	}
	found, err := x.d.DB.Disclosures.Get(ctx, a.Recipient+"~"+erased)
	if privacy.IsNotFound(err) || (err == nil && found.ErasureID != a.ErasureID) {
		return nil
	} else if err != nil {
		return err
	}
	_, err = x.d.DB.Disclosures.Update(ctx, found.ID, func(d *privacy.Disclosure) error {
		if d.AcknowledgedAt == nil {
			now := x.d.Now().UTC()
			d.AcknowledgedAt = &now
		}
		if privacy.IsErased(d.SubjectKey) {
			d.Pseudonym = ""
		}
		return nil
	})
	if privacy.IsNotFound(err) {
		return nil
	}
	return err
}
