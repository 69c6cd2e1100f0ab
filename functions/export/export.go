// Package export is the export function (SPEC R9, R10): on
// com.veil.request.verified.v1 for an access, copy or portability request
// it gathers everything held about the subject — profile, consents and
// their history, ad records with their sealed fields opened with the
// subject's key, requests and their history, notices sent, disclosures —
// into a ZIP of JSON and CSV with a bilingual summary, streamed into the
// blob store so memory stays bounded however much there is.
//
//   - access and copy: the requester (or, for a device attested by a
//     developer, that developer) is mailed an unguessable link that expires
//     after VEIL_EXPORT_TTL; GET /v1/requests/{id} shows it too. With the
//     directory blob store the link is served here, at
//     GET /v1/downloads/{key...}; S3 links are presigned and served by S3.
//     On each "retention" schedule tick expired bundles are deleted.
//   - portability: the bundle is POSTed to the endpoint the subject named
//     (https; in production only public addresses, checked at dial time).
//
// Access and copy are fulfilled alike: the policy's "访问" and "副本" are
// both answered with the complete copy.
package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/erasure/fulfil"
	"github.com/veil-privacy/veil/functions/notify"
	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/notices"
	"github.com/veil-privacy/veil/privacy"
)

// Name is the function's name (VEIL_FUNCTIONS, the Knative Service).
const Name = "export"

// Job is the schedule job whose ticks delete expired bundles: the
// retention sweep's, since expired exports are retention's business too
// (class "exports").
const Job = "retention"

// Templates this function asks notify to render.
var templates = []string{"export_ready", "portability_done", "fulfilment_failed"}

type exporter struct {
	d        functions.Deps
	run      *fulfil.Runner
	repos    fulfil.Repos
	client   *http.Client
	partSize int // PartSize; tests make it small
}

// New builds the export function.
func New(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	x, err := newExporter(d)
	if err != nil {
		return nil, err
	}
	return x.function(), nil
}

func (x *exporter) function() *functions.Function {
	return &functions.Function{
		Name: Name,
		Events: map[string]events.Handler{
			events.RequestVerified:   x.run.Verified(x.fulfil),
			events.ScheduleTicked:    x.tick,
			events.EventDeadLettered: x.run.DeadLettered,
		},
		Routes: map[string]http.Handler{
			"GET /v1/downloads/{key...}": http.HandlerFunc(x.download),
		},
		// notify's collections are read for the notices sent; ensuring
		// them here lets export run as its own Service.
		Collections: append(fulfil.Collections(), notify.DeliveriesCollection, notify.LettersCollection),
		Processing:  Processing(),
	}
}

func newExporter(d functions.Deps) (*exporter, error) {
	set, err := notices.Load()
	if err != nil {
		return nil, err
	}
	for _, t := range templates {
		if !set.Has(t) {
			return nil, fmt.Errorf("export: notice template %q is missing", t)
		}
	}
	run := fulfil.New(d, Name, privacy.ReqAccess, privacy.ReqCopy, privacy.ReqPortability)
	return &exporter{d: d, run: run, repos: run.Repos, client: newClient(d.Config.Production), partSize: PartSize}, nil
}

// Fulfil runs one request (the event handler's work; tests and ops call it
// directly).
func (x *exporter) fulfil(ctx context.Context, id string) error {
	req, err := x.run.Claim(ctx, id, "preparing a copy of everything held about the subject")
	if err != nil || req == nil {
		return err
	}
	var dest *url.URL
	if req.Type == privacy.ReqPortability {
		// Checked before any work: a bad endpoint needs a person, not a
		// bundle.
		if dest, err = CheckEndpoint(req.DeliverTo, x.d.Config.Production); err != nil {
			_, err = x.run.Finish(ctx, id, fulfil.Outcome{Status: privacy.StatusNeedsReview,
				Result: "the portability endpoint cannot be used: " + privacy.ErrorMessage(err) + "; a person contacts the requester"})
			return err
		}
	}
	b, err := x.bundle(ctx, req)
	if err != nil {
		return err
	}
	records := strconv.Itoa(b.Records)
	if dest != nil {
		return x.port(ctx, req, b, dest, records)
	}
	link, err := x.d.Blobs.URL(ctx, b.ID, b.ExpiresAt.Sub(x.d.Now()))
	if err != nil {
		return err
	}
	expires := b.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
	_, err = x.run.Finish(ctx, id, fulfil.Outcome{
		Result: fmt.Sprintf("a copy of everything held about the subject (%s ad records) was prepared; its download link works until %s", records, expires),
		Change: func(r *privacy.Request) { r.DownloadURL = link },
		Notice: &fulfil.Notice{Template: "export_ready", Vars: map[string]string{"link": link, "expires_at": expires,
			"records": records, "subject": req.SubjectHint}},
	})
	if err == nil {
		zerolog.Ctx(ctx).Info().Str("bundle", b.ID).Str("records", records).Msg("export ready")
	}
	return err
}

// port sends the bundle to the subject's chosen recipient (R10).
func (x *exporter) port(ctx context.Context, req *privacy.Request, b *fulfil.Bundle, u *url.URL, records string) error {
	if b.DeliveredAt == nil {
		rc, err := x.d.Blobs.Open(ctx, b.ID)
		if err != nil {
			return err
		}
		err = x.deliver(ctx, u, req.ID, rc, b.Bytes)
		rc.Close()
		if errors.Is(err, errForbiddenAddress) {
			_, err = x.run.Finish(ctx, req.ID, fulfil.Outcome{Status: privacy.StatusNeedsReview,
				Result: "the portability endpoint resolves to an address that is not public; nothing was sent; a person contacts the requester"})
			return err
		}
		if err != nil {
			return err
		}
		now := x.d.Now().UTC()
		if _, err := x.repos.Bundles.Update(ctx, b.ID, func(x *fulfil.Bundle) error {
			x.DeliveredTo, x.DeliveredAt = u.Host, &now
			return nil
		}); err != nil {
			return err
		}
	}
	_, err := x.run.Finish(ctx, req.ID, fulfil.Outcome{
		Result: fmt.Sprintf("a copy of everything held about the subject (%s ad records) was sent to %s", records, u.Host),
		Notice: &fulfil.Notice{Template: "portability_done", Vars: map[string]string{"destination": u.Host,
			"records": records, "subject": req.SubjectHint}},
	})
	return err
}

// bundle returns the request's bundle: one already written by an earlier
// attempt if it is complete and unexpired, else a new one.
func (x *exporter) bundle(ctx context.Context, req *privacy.Request) (*fulfil.Bundle, error) {
	now := x.d.Now().UTC()
	have, err := x.repos.Bundles.Find(ctx, store.Query{Filters: []store.Filter{store.Where("request", store.EQ, req.ID)}, Limit: 10})
	if err != nil {
		return nil, err
	}
	for _, b := range have {
		if b.Bytes > 0 && b.ExpiresAt.After(now.Add(time.Hour)) {
			return b, nil
		}
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	// The random part makes the key unguessable even where links are not
	// signed; the request id lets ops find it.
	b := &fulfil.Bundle{ID: "exports/" + req.ID + "-" + hex.EncodeToString(rnd[:]) + ".zip", RequestID: req.ID,
		SubjectKey: req.SubjectKey, CreatedAt: now, ExpiresAt: now.Add(x.d.Config.ExportTTL)}
	// Recorded before the blob exists, so a crash mid-write leaves a
	// record the expiry sweep deletes the blob by.
	if err := x.repos.Bundles.Put(ctx, b); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	cw := &counter{w: pw}
	type result struct {
		sum *privacy.BundleSummary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := x.write(ctx, cw, req)
		pw.CloseWithError(err)
		done <- result{sum, err}
	}()
	putErr := x.d.Blobs.Put(ctx, b.ID, pr, "application/zip")
	pr.CloseWithError(errors.Join(putErr, errors.New("blob store stopped reading"))) // unblocks the writer if Put gave up
	res := <-done
	if res.err != nil {
		return nil, res.err
	}
	if putErr != nil {
		return nil, putErr
	}
	records := 0
	for _, s := range res.sum.Sections {
		if s.Name == "ad_records" {
			records = s.Count
		}
	}
	b.Bytes, b.Records = cw.n, records
	if err := x.repos.Bundles.Put(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

// counter counts what passes through.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// download serves a directory-store bundle through its signed link.
func (x *exporter) download(w http.ResponseWriter, r *http.Request) {
	dir, ok := x.d.Blobs.(*blob.Dir)
	if !ok {
		httpx.Error(w, r, privacy.Errorf(privacy.ENOTFOUND, "download links are served by the blob store"))
		return
	}
	key := r.PathValue("key")
	q := r.URL.Query()
	if err := blob.CheckKey(key); err != nil || !strings.HasPrefix(key, "exports/") {
		httpx.Error(w, r, privacy.Errorf(privacy.ENOTFOUND, "download link not found"))
		return
	}
	if err := dir.Verify(key, q.Get("expires"), q.Get("sig")); err != nil {
		httpx.Error(w, r, err)
		return
	}
	f, err := dir.Open(r.Context(), key)
	if privacy.IsNotFound(err) {
		// Signed and unexpired but gone: deleted with its subject.
		httpx.Error(w, r, privacy.Errorf(privacy.EGONE, "this copy was deleted"))
		return
	} else if err != nil {
		httpx.Error(w, r, err)
		return
	}
	defer f.Close()
	name := strings.TrimSuffix(strings.TrimPrefix(key, "exports/"), ".zip")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		name = name[:i] // the random part stays out of file names people share
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="personal-information-`+name+`.zip"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if _, err := io.Copy(w, f); err != nil {
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("download interrupted")
	}
}

// tick deletes expired bundles on the retention job's schedule.
func (x *exporter) tick(ctx context.Context, e events.Event) error {
	t, err := events.Decode[events.ScheduleTickedData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if t.Job != Job {
		return nil
	}
	n, err := x.Expire(ctx)
	if n > 0 {
		zerolog.Ctx(ctx).Info().Int("bundles", n).Msg("expired export bundles deleted")
	}
	return err
}

// Expire deletes every bundle whose link has expired, and the link from
// its request.
func (x *exporter) Expire(ctx context.Context) (int, error) {
	now := x.d.Now().UTC()
	n := 0
	q := store.Query{Filters: []store.Filter{store.Where("expires", store.LE, store.Unix(now))}, OrderBy: "expires", Limit: 100}
	for {
		bs, err := x.repos.Bundles.Find(ctx, q)
		if err != nil || len(bs) == 0 {
			return n, err
		}
		for _, b := range bs {
			if err := x.d.Blobs.Delete(ctx, b.ID); err != nil {
				return n, err
			}
			_, err := x.d.DB.Requests.Update(ctx, b.RequestID, func(r *privacy.Request) error {
				if strings.Contains(r.DownloadURL, b.ID) {
					r.DownloadURL = ""
				}
				return nil
			})
			if err != nil && !privacy.IsNotFound(err) {
				return n, err
			}
			if err := x.repos.Bundles.Delete(ctx, b.ID); err != nil {
				return n, err
			}
			n++
		}
	}
}
