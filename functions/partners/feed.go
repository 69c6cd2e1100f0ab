package partners

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// The feed is read from the ad records themselves, in (received, id)
// order, so what was deleted (erasure, retention) is never shared
// afterwards and there is no second copy of the data to keep in step.

// settle is how old a record must be before it is served: ingest stamps
// a record before its transaction commits, so a younger record could
// still appear behind a cursor that has moved past it.
const settle = 10 * time.Second

// Page sizes. Each page is one transaction that writes one disclosure per
// distinct subject plus the partner, so it must stay under the store's
// 500 writes.
const (
	defaultPage = 100
	maxPage     = 200
)

// neverShared are fields kept in plain form that partners still do not
// get: boot time, OS update time and storage sizes are the inputs of
// device fingerprints (CAID-style), so together with a pseudonym they
// would let a partner re-identify a device across apps and partners.
var neverShared = map[string]bool{"boot_time": true, "os_update_time": true, "storage_total": true, "storage_free": true}

// Item is one de-identified record as a partner receives it: no device
// id, no record id, no precise time or position.
type Item struct {
	// ID identifies the item to this partner only (for deduplication on
	// replay); two partners cannot match items by it.
	ID string `json:"id"`
	// Pseudonym is the subject as this partner knows it: a keyed
	// pseudonym under a key of its own (R7).
	Pseudonym    string                     `json:"pseudonym"`
	AppID        string                     `json:"app_id"`
	Platform     privacy.Platform           `json:"platform"`
	Region       string                     `json:"region"`
	Hour         time.Time                  `json:"hour"` // received, truncated to the hour
	Personalized bool                       `json:"personalized"`
	Fields       map[string]json.RawMessage `json:"fields"`
	Geo          *privacy.GeoPoint          `json:"geo,omitempty"` // coarse (privacy.GeoDecimals)
}

// Page is one answer of the feed.
type Page struct {
	Items      []Item `json:"items"`
	NextCursor string `json:"next_cursor"`
	More       bool   `json:"more"`
}

// position is where a partner stands in the feed: behind the record with
// this (received, id); id "" is the start of second at.
type position struct {
	At int64
	ID string
}

func (p position) String() string { return strconv.FormatInt(p.At, 10) + ":" + p.ID }

func parsePosition(s string) (position, bool) {
	at, id, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || n < 0 || len(id) > 64 {
		return position{}, false
	}
	return position{At: n, ID: id}, true
}

// Cursors are sealed because they hold a record id: two partners
// comparing plain cursors could match the records at their page
// boundaries and so join their pseudonyms. The key is derived per partner
// from the master key, so a cursor opens only for the partner it was
// given to, and nothing is stored for it.
func (s *service) cursorAEAD(partnerID string) (cipher.AEAD, error) {
	key, err := hex.DecodeString(s.d.Keys.Hash("partner-cursor:" + partnerID))
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (s *service) sealCursor(partnerID string, p position) (string, error) {
	aead, err := s.cursorAEAD(partnerID)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(p.String()), []byte(partnerID))), nil
}

func (s *service) openCursor(partnerID, c string) (position, error) {
	bad := privacy.FieldError("cursor", "not a cursor this feed gave you")
	aead, err := s.cursorAEAD(partnerID)
	if err != nil {
		return position{}, err
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(c) > 512 || len(raw) < aead.NonceSize() {
		return position{}, bad
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], []byte(partnerID))
	if err != nil {
		return position{}, bad
	}
	p, ok := parsePosition(string(plain))
	if !ok {
		return position{}, bad
	}
	return p, nil
}

func (s *service) feed(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r, false)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	limit := defaultPage
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxPage {
			httpx.Error(w, r, privacy.FieldError("limit", "1 to %d", maxPage))
			return
		}
	}
	var from *position
	if c := q.Get("cursor"); c != "" {
		pos, err := s.openCursor(p.ID, c)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		from = &pos
	}
	page, err := s.Pull(r.Context(), p.ID, from, limit)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, page)
}

// Pull serves one page of the partner's feed behind from (nil: from its
// registration) and records every disclosure in the transaction that
// advances the partner's cursor: data leaves only if its record exists.
func (s *service) Pull(ctx context.Context, partnerID string, from *position, limit int) (*Page, error) {
	now := s.d.Now().UTC()
	var (
		items  []Item
		next   position
		more   bool
		shared map[string]*privacy.Disclosure
	)
	err := s.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		items, more, shared = nil, false, map[string]*privacy.Disclosure{}
		p, err := s.partners.In(tx).Get(partnerID)
		if err != nil {
			return err
		}
		if p.Revoked {
			return privacy.Errorf(privacy.EFORBIDDEN, "this partner's feed is revoked")
		}
		// Nothing collected before the partner was registered is
		// shared: the partner was not a recipient when it was collected.
		start := position{At: store.Unix(p.CreatedAt)}
		if from == nil || from.At < start.At {
			from = &start
		}
		next = *from
		q := store.Query{OrderBy: "received", Limit: limit,
			Filters: []store.Filter{store.Where("received", store.LE, store.Unix(now.Add(-settle)))}}
		if from.ID == "" {
			q.Filters = append(q.Filters, store.Where("received", store.GE, from.At))
		} else {
			q.After = &store.Doc{ID: from.ID, Keys: map[string]any{"received": from.At}}
		}
		recs, err := s.d.DB.Records.In(tx).Find(q)
		if err != nil {
			return err
		}
		more = len(recs) == limit
		consents := map[string]*privacy.Consent{}
		for _, rec := range recs {
			next = position{At: store.Unix(rec.ReceivedAt), ID: rec.ID}
			c, err := s.consentOf(tx, rec, consents)
			if err != nil {
				return err
			}
			item, cats, purposes, ok := Deidentify(rec, p, c)
			if !ok {
				continue
			}
			item.Pseudonym = s.d.Keys.Pseudonym(p.ID, rec.SubjectKey)
			item.ID = s.d.Keys.Pseudonym(p.ID, "record:"+rec.ID)
			items = append(items, item)
			d := shared[rec.SubjectKey]
			if d == nil {
				d = &privacy.Disclosure{ID: p.ID + "~" + rec.SubjectKey, Recipient: p.ID, SubjectKey: rec.SubjectKey, Pseudonym: item.Pseudonym}
				shared[rec.SubjectKey] = d
			}
			d.Count++
			d.Categories = union(d.Categories, cats)
			d.Purposes = union(d.Purposes, purposes)
		}
		// Reads before writes: the disclosure records as they are.
		have := map[string]*privacy.Disclosure{}
		for key, d := range shared {
			old, err := s.d.DB.Disclosures.In(tx).Get(d.ID)
			if privacy.IsNotFound(err) {
				continue
			} else if err != nil {
				return err
			}
			have[key] = old
		}
		for key, d := range shared {
			if err := s.d.DB.Disclosures.In(tx).Put(merge(have[key], d, now)); err != nil {
				return err
			}
		}
		p.Cursor = next.String()
		p.Shared += int64(len(items))
		return s.partners.In(tx).Put(p)
	})
	if err != nil {
		return nil, err
	}
	cursor, err := s.sealCursor(partnerID, next)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []Item{}
	}
	if len(items) > 0 {
		s.d.Log.Info().Str("partner_id", partnerID).Int("items", len(items)).Int("subjects", len(shared)).Msg("partner feed served")
	}
	return &Page{Items: items, NextCursor: cursor, More: more}, nil
}

// merge folds one page's disclosures of a subject into its record. A
// record whose erasure was acknowledged starts a new cycle: the partner
// deleted what it had, and what it gets now must be erasable again.
func merge(old, page *privacy.Disclosure, now time.Time) *privacy.Disclosure {
	if old == nil || (old.ErasureSentAt != nil && old.AcknowledgedAt != nil) {
		page.First, page.Last = now, now
		return page
	}
	old.Pseudonym = page.Pseudonym
	old.Count += page.Count
	old.Last = now
	old.Categories = union(old.Categories, page.Categories)
	old.Purposes = union(old.Purposes, page.Purposes)
	return old
}

// consentOf merges the consent recorded under every id of the record's
// device and under the subject it is filed under, as ingest does: a
// refusal recorded under any of them governs the device. Documents are
// cached for the page.
func (s *service) consentOf(tx store.Tx, rec *privacy.AdRecord, cache map[string]*privacy.Consent) (*privacy.Consent, error) {
	keys := []string{rec.SubjectKey}
	for _, path := range sortedKeys(rec.IDHashes) {
		keys = append(keys, rec.IDHashes[path])
	}
	var found []*privacy.Consent
	for _, k := range keys {
		c, seen := cache[k]
		if !seen {
			var err error
			c, err = s.d.DB.Consents.In(tx).Get(k)
			if privacy.IsNotFound(err) {
				c = nil
			} else if err != nil {
				return nil, err
			}
			cache[k] = c
		}
		found = append(found, c)
	}
	return privacy.MergeConsents(found...), nil
}

// Deidentify decides what of one record a partner may receive now, under
// the subject's consent as recorded now (nil: nothing recorded):
//
//   - nothing for a subject who refused partner_sharing, refused guardian
//     consent, or whose record is isolated (legal hold);
//   - nothing of CN data for a partner outside mainland China without the
//     subject's cross-border consent (R6);
//   - only fields serving a purpose both the partner was registered for
//     and the record was collected for, minus personalization when the
//     subject refused personalized ads;
//   - no field sealed at rest (ids, names, Wi-Fi, app lists) and no
//     fingerprinting field (neverShared); IP as stored (truncated);
//   - geo only coarse, only if location is not refused.
//
// The pseudonym and item id are the caller's (they need the key ring).
// It returns the categories and purposes disclosed, and false when
// nothing may be shared.
func Deidentify(rec *privacy.AdRecord, p *Partner, c *privacy.Consent) (Item, []privacy.Category, []privacy.Purpose, bool) {
	refused := func(purpose string) bool {
		if c == nil {
			return false
		}
		v, ok := c.Purposes[purpose]
		return ok && !v
	}
	guardianRefused := c != nil && c.Guardian != nil && !*c.Guardian
	if rec.Isolated != "" || refused(privacy.ConsentPartnerSharing) || guardianRefused {
		return Item{}, nil, nil, false
	}
	crossBorder := c != nil && c.Purposes[privacy.ConsentCrossBorder]
	if privacy.CheckResidency(rec.Region, p.Location, crossBorder) != nil {
		return Item{}, nil, nil, false
	}
	var allowed []privacy.Purpose
	for _, pu := range p.Purposes {
		if !slices.Contains(rec.Purposes, pu) {
			continue
		}
		if pu == privacy.PurposePersonalization && (refused(privacy.ConsentPersonalizedAds) || !rec.Personalized) {
			continue
		}
		allowed = append(allowed, pu)
	}
	item := Item{AppID: rec.AppID, Platform: rec.Platform, Region: rec.Region, Hour: rec.ReceivedAt.UTC().Truncate(time.Hour),
		Personalized: rec.Personalized, Fields: map[string]json.RawMessage{}}
	var cats []privacy.Category
	var purposes []privacy.Purpose
	serves := func(f privacy.Field) bool {
		hit := false
		for _, pu := range allowed {
			if f.Serves(pu) {
				purposes = union(purposes, []privacy.Purpose{pu})
				hit = true
			}
		}
		if hit {
			cats = union(cats, []privacy.Category{f.Category})
		}
		return hit
	}
	for _, path := range sortedKeys(rec.Fields) {
		f, ok := privacy.FieldByPath(path)
		if !ok || neverShared[path] || f.IsDeviceID() || f.Treatment == privacy.Pseudonymize || f.Treatment == privacy.Encrypt {
			continue
		}
		if serves(f) {
			item.Fields[path] = rec.Fields[path]
		}
	}
	if geo, ok := privacy.FieldByPath("geo"); ok && rec.CoarseGeo != nil && !refused(privacy.ConsentLocation) && serves(geo) {
		g := privacy.GeoPoint{Lat: privacy.CoarsenGeo(rec.CoarseGeo.Lat), Lon: privacy.CoarsenGeo(rec.CoarseGeo.Lon)}
		item.Geo = &g
	}
	if len(cats) == 0 {
		// A pseudonym alone serves no purpose: do not disclose it.
		return Item{}, nil, nil, false
	}
	// The pseudonym is derived from the device identifiers: the partner
	// holds a (pseudonymous) identifier of the subject.
	cats = union([]privacy.Category{privacy.CatDeviceID}, cats)
	return item, cats, purposes, true
}

func union[T comparable](a, b []T) []T {
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
