package ingest

import (
	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Ad requests arriving together are written in one transaction
// (store.Group): each still gets its answer only after its own record is
// durable, and a batch that fails is retried one request at a time.

// writesPerEvent is a generous guess at PublishTx's writes (one per
// subscriber of adrequest.received), so a batch stays within Firestore's
// writes per transaction.
const writesPerEvent = 8

// job is one ad request's writes.
type job struct {
	links []*privacy.DeviceLink
	rec   *privacy.AdRecord
	event events.Event
}

func (j *job) writes() int { return len(j.links) + 1 + writesPerEvent }

func newCommitter(db *store.DB, bus events.Publisher) *store.Group[*job] {
	return &store.Group[*job]{B: db.Backend, Writes: (*job).writes,
		Write: func(tx store.Tx, j *job) error { return writeJob(db, bus, tx, j) }}
}

// writeJob writes one request. Links are created, never overwritten: a
// link that appeared since the request read them means another request
// filed this device first, and this one must be sealed again under that
// subject (errRelinked).
func writeJob(db *store.DB, bus events.Publisher, tx store.Tx, j *job) error {
	for _, l := range j.links {
		if err := db.Devices.In(tx).Create(l); err != nil {
			if privacy.ErrorCode(err) == privacy.ECONFLICT {
				return errRelinked
			}
			return err
		}
	}
	if err := db.Records.In(tx).Create(j.rec); err != nil {
		return err
	}
	return bus.PublishTx(tx, j.event)
}
