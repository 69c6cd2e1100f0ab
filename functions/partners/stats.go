package partners

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// De-identified statistics (R8). Each ad request is counted once, when
// it arrives, into its (app, country, OS, day) cell. A cell holds no
// subject key or record id, so deleting records — by erasure or by the
// retention sweep — leaves the counts as they were.
//
// Why not the retention function's statistics: retention folds records
// into its own cells when they expire (180 days later), and records
// deleted on a subject's request never reach them, so they cannot answer
// "how many requests did this app get last week". These cells are counted
// on arrival; retention's describe what the sweep anonymized.

// statsDoc is a stored cell.
type statsDoc struct {
	ID           string `json:"id"`
	DayUnix      int64  `json:"day_unix"`
	Day          string `json:"day"`
	AppID        string `json:"app_id"`
	Country      string `json:"country"`
	OS           string `json:"os"`
	Requests     int64  `json:"requests"`
	Personalized int64  `json:"personalized"`
}

// counted marks an ad record as counted. The router skips an event id a
// subscriber handled, but a crash between the count and that record
// redelivers the event; the marker, written in the count's transaction,
// makes the second delivery a no-op. Markers are kept countedFor, well
// past the broker's redelivery window, then pruned a few per event.
type counted struct {
	ID string    `json:"id"` // the ad record id
	At time.Time `json:"at"`
}

const (
	countedFor = 7 * 24 * time.Hour
	prunePer   = 20
)

func cellID(day, app, country, os string) string {
	sum := sha256.Sum256([]byte(app + "\x00" + country + "\x00" + os))
	return "c_" + day + "_" + hex.EncodeToString(sum[:12])
}

// count adds one ad request to its cell.
func (s *service) count(ctx context.Context, e events.Event) error {
	return s.countAll(ctx, []events.Event{e})
}

// arrival is an ad request to count: its record and its cell.
type arrival struct {
	record       string
	cell         statsDoc
	personalized bool
}

// countAll adds ad requests to their cells in one transaction: each record
// once (by its marker), each touched cell read and written once.
func (s *service) countAll(ctx context.Context, es []events.Event) error {
	return s.d.DB.Backend.Tx(ctx, func(tx store.Tx) error { return s.countAllTx(ctx, tx, es) })
}

// countAllTx counts es in tx (the broker's, for a batch), reading before
// it writes.
func (s *service) countAllTx(ctx context.Context, tx store.Tx, es []events.Event) error {
	now := s.d.Now().UTC()
	as := make([]arrival, 0, len(es))
	for _, e := range es {
		data, err := events.Decode[events.AdRequestReceivedData](e)
		if err != nil {
			return privacy.Errorf(privacy.EINVALID, "%v", err)
		}
		if !docID.MatchString(data.RecordID) {
			return privacy.Errorf(privacy.EINVALID, "record id is not usable as an id")
		}
		at := e.Time()
		if at.IsZero() {
			at = now
		}
		day := privacy.StatsDay(at)
		dayT, _ := time.Parse(time.DateOnly, day)
		country := privacy.StatsCountry(data.Country, data.Region)
		os := string(data.Platform)
		if !privacy.Platform(os).Valid() {
			os = "unknown"
		}
		as = append(as, arrival{record: data.RecordID, personalized: data.Personalized,
			cell: statsDoc{ID: cellID(day, data.AppID, country, os), DayUnix: dayT.Unix(), Day: day, AppID: data.AppID, Country: country, OS: os}})
	}
	// Reads first (Firestore's rule): markers, cells, what to prune.
	todo := as[:0:0]
	seen := map[string]bool{}
	for _, a := range as {
		if seen[a.record] {
			continue
		}
		seen[a.record] = true
		if _, err := s.counted.In(tx).Get(a.record); err == nil {
			continue
		} else if !privacy.IsNotFound(err) {
			return err
		}
		todo = append(todo, a)
	}
	if len(todo) == 0 { // a redelivery: nothing to count, nothing to prune
		return nil
	}
	cells := map[string]*statsDoc{}
	var order []string
	for _, a := range todo {
		if cells[a.cell.ID] != nil {
			continue
		}
		cell, err := s.stats.In(tx).Get(a.cell.ID)
		if privacy.IsNotFound(err) {
			c := a.cell
			cell, err = &c, nil
		}
		if err != nil {
			return err
		}
		cells[a.cell.ID] = cell
		order = append(order, a.cell.ID)
	}
	old, err := s.counted.In(tx).Find(store.Query{Filters: []store.Filter{store.Where("at", store.LT, store.Unix(now.Add(-countedFor)))}, Limit: prunePer})
	if err != nil {
		return err
	}
	for _, a := range todo {
		cells[a.cell.ID].Requests++
		if a.personalized {
			cells[a.cell.ID].Personalized++
		}
	}
	for _, id := range order {
		if err := s.stats.In(tx).Put(cells[id]); err != nil {
			return err
		}
	}
	for _, o := range old {
		if err := s.counted.In(tx).Delete(o.ID); err != nil {
			return err
		}
	}
	for _, a := range todo {
		if err := s.counted.In(tx).Create(&counted{ID: a.record, At: now}); err != nil {
			return err
		}
	}
	return nil
}

// maxStatsDays bounds one statistics query.
const maxStatsDays = 92

// StatsAnswer is the answer of GET /v1/stats.
type StatsAnswer struct {
	From     string              `json:"from"`
	To       string              `json:"to"`
	K        int64               `json:"k"`
	Cells    []privacy.StatsCell `json:"cells"`
	Withheld int                 `json:"withheld"`
}

// showStats answers GET /v1/stats?from=YYYY-MM-DD&to=YYYY-MM-DD (ops),
// days inclusive, cells under k withheld.
func (s *service) showStats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := time.Parse(time.DateOnly, q.Get("from"))
	if err != nil {
		httpx.Error(w, r, privacy.FieldError("from", "a day, YYYY-MM-DD"))
		return
	}
	to := from
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.DateOnly, v); err != nil {
			httpx.Error(w, r, privacy.FieldError("to", "a day, YYYY-MM-DD"))
			return
		}
	}
	if to.Before(from) || to.Sub(from) > maxStatsDays*24*time.Hour {
		httpx.Error(w, r, privacy.FieldError("to", "on or after from, at most %d days later", maxStatsDays))
		return
	}
	ans, err := s.Stats(r.Context(), from, to)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, ans)
}

// Stats returns the cells of the days from..to, suppressed.
func (s *service) Stats(ctx context.Context, from, to time.Time) (*StatsAnswer, error) {
	var cells []privacy.StatsCell
	q := store.Query{OrderBy: "day", Limit: store.MaxLimit, Filters: []store.Filter{
		store.Where("day", store.GE, from.Unix()), store.Where("day", store.LE, to.Unix())}}
	err := s.stats.Each(ctx, q, func(c *statsDoc) error {
		p := c.Personalized
		cells = append(cells, privacy.StatsCell{Day: c.Day, AppID: c.AppID, Country: c.Country, OS: c.OS, Requests: c.Requests, Personalized: &p})
		return nil
	})
	if err != nil {
		return nil, err
	}
	shown, withheld := privacy.SuppressCells(cells, privacy.StatsK)
	return &StatsAnswer{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), K: privacy.StatsK, Cells: shown, Withheld: withheld}, nil
}
