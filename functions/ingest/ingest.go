// Package ingest is the SDK-facing function (SPEC §2, R1–R6): it
// authenticates the app, minimizes each ad request by the policy's field
// table and the consent in force, pseudonymizes what it keeps and stores it
// with its device links and its event in one transaction. It also holds
// the app registry, because an app key is what the SDK authenticates with.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/retention"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name (VEIL_FUNCTIONS, Knative Service).
const Name = "ingest"

// MaxBody is the largest ad request accepted (413 above it). A real one is
// 2–6 KiB even with a long installed-app list.
const MaxBody = 64 << 10

// service is the function's state: its dependencies only.
type service struct {
	d         functions.Deps
	retention privacy.Retention
	commit    *store.Group[*job] // group commit of the records (commit.go)
	apps      appCache
	guard     *retention.Guard // ceasing operations (R23) stops collection
}

// New builds the ingest function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	s, err := newService(d)
	if err != nil {
		return nil, err
	}
	if s.guard, err = retention.NewGuard(ctx, d.DB); err != nil {
		return nil, err
	}
	ops := func(h http.HandlerFunc) http.Handler { return httpx.RequireOps(d.Config.OpsToken, h) }
	return &functions.Function{
		Name: Name,
		Routes: map[string]http.Handler{
			"POST /v1/ad-requests":      http.HandlerFunc(s.handleAdRequest),
			"POST /v1/apps":             ops(s.registerApp),
			"GET /v1/apps":              ops(s.listApps),
			"POST /v1/apps/{id}/revoke": ops(s.revokeApp),
		},
		Processing: Processing(),
	}, nil
}

func newService(d functions.Deps) (*service, error) {
	// The retention policy in force (VEIL_RETENTION_AD_REQUESTS included)
	// sets each record's expiry when it is written.
	policy, err := d.Config.Retention()
	if err != nil {
		return nil, err
	}
	return &service{d: d, retention: policy, commit: newCommitter(d.DB, d.Bus)}, nil
}

// Response is the contract's answer to an ad request (SPEC §5).
type Response struct {
	RequestID    string            `json:"request_id"`
	Personalized bool              `json:"personalized"`
	Kept         []string          `json:"kept"`
	Dropped      []privacy.Dropped `json:"dropped"`
}

func (s *service) handleAdRequest(w http.ResponseWriter, r *http.Request) {
	app, err := s.app(r.Context(), r.Header.Get(HeaderAppKey))
	if err == nil && s.guard != nil {
		err = s.guard.Collecting(r.Context(), s.d.Now())
	}
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var req privacy.AdRequest
	if err := httpx.Decode(w, r, MaxBody, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	resp, err := s.Ingest(r.Context(), app, &req)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, resp)
}

// Decode is the ad-request parser: strict JSON for the envelope, then every
// declared device value checked against the field table.
func Decode(body []byte) (*privacy.AdRequest, *privacy.Inspected, error) {
	var req privacy.AdRequest
	if err := httpx.DecodeBytes(body, &req); err != nil {
		return nil, nil, err
	}
	in, err := privacy.Inspect(&req)
	if err != nil {
		return nil, nil, err
	}
	return &req, in, nil
}

// errRelinked says a device link appeared between reading the links and
// storing; the request is sealed again under the subject now linked.
var errRelinked = errors.New("ingest: device linked concurrently")

// Ingest minimizes, pseudonymizes and stores one ad request. Nothing is
// stored unless everything is: the record, its device links and its event
// commit together.
func (s *service) Ingest(ctx context.Context, app *privacy.App, req *privacy.AdRequest) (*Response, error) {
	in, err := privacy.Inspect(req)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		// A device linked by a concurrent request may bring that
		// subject's consent with it: everything is decided again.
		resp, err := s.ingest(ctx, app, in)
		if !errors.Is(err, errRelinked) || attempt == 3 {
			return resp, err
		}
	}
}

func (s *service) ingest(ctx context.Context, app *privacy.App, in *privacy.Inspected) (*Response, error) {
	ids := in.DeviceIDs()
	hashes := make([]string, len(ids))
	for i, id := range ids {
		hashes[i] = s.d.Keys.SubjectKey(privacy.Subject{Kind: "device", IDType: id.IDType, Value: id.ID})
	}
	links, err := s.links(ctx, hashes)
	if err != nil {
		return nil, err
	}
	// The registry is read now, synchronously, so a withdrawal recorded
	// before this request arrived governs it.
	recorded, err := s.recordedConsent(ctx, hashes, links)
	if err != nil {
		return nil, err
	}
	m := in.Minimize(app, recorded)
	region := privacy.RegionOf(in.Country())
	if err := privacy.CheckResidency(region, s.d.DB.Backend.Location(), m.Consent.CrossBorder); err != nil {
		s.refused(ctx, region)
		return nil, err
	}

	now := s.d.Now().UTC()
	rec := &privacy.AdRecord{ID: privacy.NewRecordID(), AppID: app.ID, Platform: m.Platform, Region: region,
		ReceivedAt: now, Retention: privacy.ClassAdRequests, ExpiresAt: s.retention.ExpiresAt(privacy.ClassAdRequests, now),
		Personalized: m.Personalized, Purposes: m.Purposes, Fields: map[string]json.RawMessage{}, IDHashes: map[string]string{}}
	sealed := privacy.SealedFields{}
	for _, k := range m.Kept {
		switch k.Field.Treatment {
		case privacy.Pseudonymize, privacy.Encrypt:
			sealed[k.Field.Path] = k.Value
		default: // Keep, and TruncateIP already applied by Inspect
			rec.Fields[k.Field.Path] = k.Value
		}
		if k.Field.Path == "geo" {
			rec.CoarseGeo = coarse(k.Value)
		}
	}
	for i, id := range ids {
		rec.IDHashes[id.Field.Path] = hashes[i]
	}
	plain, err := json.Marshal(sealed)
	if err != nil {
		return nil, err
	}
	data := events.AdRequestReceivedData{RecordID: rec.ID, AppID: app.ID, Platform: string(m.Platform), Region: region,
		Personalized: m.Personalized, Kept: m.KeptPaths(), Country: str(m.Value("country")), OSVersion: str(m.Value("os_version"))}
	rec.SubjectKey = primary(hashes, links, s.d.Keys.Hash("anonymous-app:"+app.ID))
	if rec.Sealed, err = s.d.Keys.Seal(ctx, rec.SubjectKey, plain); err != nil {
		return nil, err
	}
	data.SubjectKey = rec.SubjectKey
	j := &job{rec: rec, event: events.Must(events.AdRequestReceived, rec.ID, data)}
	for i, id := range ids {
		if _, ok := links[hashes[i]]; !ok {
			j.links = append(j.links, &privacy.DeviceLink{IDHash: hashes[i], SubjectKey: rec.SubjectKey, IDType: id.IDType, LinkedAt: rec.ReceivedAt})
		}
	}
	if err := s.commit.Do(ctx, j); err != nil {
		return nil, err
	}
	// Counted only once stored: the metric reports decisions that took
	// effect, by reason (never by value or subject).
	s.d.Metrics.Kept(len(m.Kept))
	for _, d := range m.Dropped {
		s.d.Metrics.Dropped(string(d.Reason))
	}
	return &Response{RequestID: rec.ID, Personalized: m.Personalized, Kept: m.KeptPaths(), Dropped: m.Dropped}, nil
}

// links reads the device links of the given id hashes: id hash → subject
// key.
func (s *service) links(ctx context.Context, hashes []string) (map[string]string, error) {
	ls, err := s.d.DB.Devices.GetAll(ctx, hashes)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(hashes))
	for i, l := range ls {
		if l != nil {
			out[hashes[i]] = l.SubjectKey
		}
	}
	return out, nil
}

// recordedConsent merges what the registry holds for every id of the
// device and for the subject its records are filed under (one read): a
// refusal recorded under any of them governs the device.
func (s *service) recordedConsent(ctx context.Context, hashes []string, links map[string]string) (*privacy.Consent, error) {
	seen := make(map[string]bool, len(hashes)+len(links))
	keys := make([]string, 0, len(hashes)+len(links))
	for _, h := range hashes {
		for _, k := range []string{h, links[h]} {
			if k != "" && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	cs, err := s.d.DB.Consents.GetAll(ctx, keys)
	if err != nil {
		return nil, err
	}
	found := cs[:0]
	for _, c := range cs {
		if c != nil {
			found = append(found, c)
		}
	}
	return privacy.MergeConsents(found...), nil
}

// primary chooses the subject a record is filed under: the subject an id
// of this device is already linked to (first in PrimaryIDOrder), else the
// first id's own key. A request with no usable id (a zeroed IDFA) belongs
// to no one who could ever ask for it; it is filed under the app's
// anonymous subject so its sealed fields still have a key to be shredded
// with, without one data key per request.
func primary(hashes []string, links map[string]string, anonymous string) string {
	for _, h := range hashes {
		if l, ok := links[h]; ok {
			return l
		}
	}
	if len(hashes) > 0 {
		return hashes[0]
	}
	return anonymous
}

// refused tells ops that a write was refused by the residency rule (R6).
// The refusal itself is the caller's answer; failing to report it must not
// change that answer, so the error is only logged.
func (s *service) refused(ctx context.Context, region string) {
	e := events.Must(events.ResidencyViolated, "", events.ResidencyData{Backend: "store",
		Location: s.d.DB.Backend.Location(), Region: region, What: "ad request"})
	if err := s.d.Bus.Publish(ctx, e); err != nil {
		s.d.Log.Warn().Err(err).Msg("residency refusal not reported")
	}
}

// coarse is the rounded position of a kept geo value.
func coarse(v json.RawMessage) *privacy.GeoPoint {
	var g struct {
		Lat, Lon *float64
	}
	if json.Unmarshal(v, &g) != nil || g.Lat == nil || g.Lon == nil {
		return nil
	}
	return &privacy.GeoPoint{Lat: privacy.CoarsenGeo(*g.Lat), Lon: privacy.CoarsenGeo(*g.Lon)}
}

// str is a JSON string's value, "" for anything else.
func str(v json.RawMessage) string {
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}
