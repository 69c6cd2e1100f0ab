package export

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/veil-privacy/veil/functions/notify"
	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// PartSize is how many ad records go in one part of the bundle. Zip
// entries are written one after the other, so a record's JSON line and its
// CSV row cannot go to two open files at once; each part's CSV rows are
// buffered while its JSON Lines entry streams, then written as the part's
// CSV entry. Memory is bounded by one part (about 4 MiB of CSV), however
// many records the subject has, and the store is read once.
const PartSize = 10_000

// bundleWriter writes one subject's bundle.
type bundleWriter struct {
	x    *exporter
	ctx  context.Context
	req  *privacy.Request
	zw   *zip.Writer
	keys []string // the subject's keys: the request's, then its devices' id hashes
	sum  privacy.BundleSummary
}

// subjectKeys is every key the subject's data may be filed under: the
// request's subject key, and for a device the id hashes linked to it (a
// consent given under one of its other ids is filed under that id).
func subjectKeys(ctx context.Context, db *store.DB, subjectKey string) ([]string, []*privacy.DeviceLink, error) {
	out := []string{subjectKey}
	var links []*privacy.DeviceLink
	err := db.Devices.Each(ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, subjectKey)}, Limit: store.MaxLimit},
		func(l *privacy.DeviceLink) error {
			links = append(links, l)
			if !slices.Contains(out, l.IDHash) {
				out = append(out, l.IDHash)
			}
			return nil
		})
	return out, links, err
}

// write streams the bundle of req to w.
func (x *exporter) write(ctx context.Context, w io.Writer, req *privacy.Request) (*privacy.BundleSummary, error) {
	keys, links, err := subjectKeys(ctx, x.d.DB, req.SubjectKey)
	if err != nil {
		return nil, err
	}
	zw := zip.NewWriter(w)
	// Exports are large and mostly repetitive text: the fastest level
	// compresses them well enough, at a fraction of the default's time.
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	b := &bundleWriter{x: x, ctx: ctx, req: req, zw: zw, keys: keys,
		sum: privacy.BundleSummary{RequestID: req.ID, SubjectHint: req.SubjectHint, GeneratedAt: x.d.Now().UTC(), Contact: x.d.Config.MailFrom}}
	steps := []func() error{
		b.profile,
		func() error { return b.deviceLinks(links) },
		b.consents,
		b.adRecords,
		b.requests,
		b.notices,
		b.disclosures,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	policy, err := x.d.Config.Retention()
	if err != nil {
		return nil, err
	}
	for _, name := range []string{privacy.ClassAdRequests, privacy.ClassConsents, privacy.ClassRequests, privacy.ClassNotices, privacy.ClassExports} {
		if c, ok := policy.Class(name); ok {
			b.sum.Retention = append(b.sum.Retention, c)
		}
	}
	f, err := zw.Create("summary.txt")
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(f, b.sum.Text()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &b.sum, nil
}

// section writes name.json (v as indented JSON) and name.csv (header and
// rows), and notes the section in the summary.
func (b *bundleWriter) section(name, zh, en string, count int, v any, header []string, rows [][]string) error {
	f, err := b.zw.Create(name + ".json")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	if err := b.csvEntry(name+".csv", header, rows); err != nil {
		return err
	}
	b.sum.Sections = append(b.sum.Sections, privacy.BundleSection{Name: name, Zh: zh, En: en, Count: count,
		Files: []string{name + ".json", name + ".csv"}})
	return nil
}

// csvEntry writes a CSV file with a UTF-8 byte-order mark, which is what
// makes spreadsheet programs read Chinese text correctly.
func (b *bundleWriter) csvEntry(name string, header []string, rows [][]string) error {
	f, err := b.zw.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(safeRow(r)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func safeRow(r []string) []string {
	out := make([]string, len(r))
	for i, c := range r {
		out[i] = privacy.SafeCell(c)
	}
	return out
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func tsp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return ts(*t)
}

// profile is an account holder's registration data, and the apps they
// registered with the account's address (both are theirs).
func (b *bundleWriter) profile() error {
	var p *privacy.Profile
	for _, k := range b.keys {
		got, err := b.x.repos.Profiles.Get(b.ctx, k)
		if err == nil {
			p = got
			break
		} else if !privacy.IsNotFound(err) {
			return err
		}
	}
	if p != nil {
		b.sum.AddCategory(privacy.CatAccount)
		b.sum.AddPurpose(privacy.PurposeAccounts)
		var rows [][]string
		names := make([]string, 0, len(p.Fields))
		for n := range p.Fields {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			rows = append(rows, []string{n, p.Fields[n]})
		}
		if err := b.section("profile", "账号资料", "account profile", len(p.Fields), p, []string{"field", "value"}, rows); err != nil {
			return err
		}
	}
	if b.req.Email == "" || strings.HasPrefix(b.req.SubjectHint, "device:") {
		return nil
	}
	var apps []*privacy.App
	err := b.x.d.DB.Apps.Each(b.ctx, store.Query{Limit: store.MaxLimit}, func(a *privacy.App) error {
		if strings.EqualFold(a.DeveloperEmail, b.req.Email) {
			c := *a
			c.KeyHash = "" // a credential's hash, not information about the person
			apps = append(apps, &c)
		}
		return nil
	})
	if err != nil || len(apps) == 0 {
		return err
	}
	b.sum.AddCategory(privacy.CatAccount)
	b.sum.AddPurpose(privacy.PurposeAccounts)
	rows := make([][]string, len(apps))
	for i, a := range apps {
		rows[i] = []string{a.ID, a.Name, string(a.Platform), a.DeveloperEmail, ts(a.CreatedAt), strconv.FormatBool(a.Revoked)}
	}
	return b.section("apps", "您注册的应用", "apps you registered", len(apps), apps,
		[]string{"app_id", "name", "platform", "developer_email", "created_at", "revoked"}, rows)
}

// linkView is a device link as the subject sees it: which kinds of id of
// the device we know, since when (the ids themselves are in the records).
type linkView struct {
	IDType   string    `json:"id_type"`
	LinkedAt time.Time `json:"linked_at"`
}

func (b *bundleWriter) deviceLinks(links []*privacy.DeviceLink) error {
	if len(links) == 0 {
		return nil
	}
	views := make([]linkView, len(links))
	rows := make([][]string, len(links))
	for i, l := range links {
		views[i] = linkView{IDType: l.IDType, LinkedAt: l.LinkedAt.UTC()}
		rows[i] = []string{l.IDType, ts(l.LinkedAt)}
	}
	b.sum.AddCategory(privacy.CatDeviceID)
	return b.section("device_ids", "设备标识符类型", "kinds of device id", len(views), views, []string{"id_type", "linked_at"}, rows)
}

// consentView is a consent record without its subject key.
type consentView struct {
	Purposes      map[string]bool         `json:"purposes"`
	Guardian      *bool                   `json:"guardian,omitempty"`
	PolicyVersion string                  `json:"policy_version,omitempty"`
	UpdatedAt     time.Time               `json:"updated_at"`
	History       []privacy.ConsentChange `json:"history"`
}

func (b *bundleWriter) consents() error {
	var views []consentView
	var rows [][]string
	for _, k := range b.keys {
		c, err := b.x.d.DB.Consents.Get(b.ctx, k)
		if privacy.IsNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		views = append(views, consentView{Purposes: c.Purposes, Guardian: c.Guardian, PolicyVersion: c.PolicyVersion,
			UpdatedAt: c.UpdatedAt.UTC(), History: c.History})
		for _, h := range c.History {
			ps := make([]string, 0, len(h.Purposes))
			for p := range h.Purposes {
				ps = append(ps, p)
			}
			sort.Strings(ps)
			for _, p := range ps {
				rows = append(rows, []string{ts(h.At), h.Source, h.Actor, p, strconv.FormatBool(h.Purposes[p]), h.PolicyVersion})
			}
			if h.Guardian != nil {
				rows = append(rows, []string{ts(h.At), h.Source, h.Actor, "guardian", strconv.FormatBool(*h.Guardian), h.PolicyVersion})
			}
		}
	}
	if len(views) == 0 {
		return nil
	}
	b.sum.AddCategory(privacy.CatConsent)
	b.sum.AddPurpose(privacy.PurposeConsentRecords)
	return b.section("consents", "同意记录及其历史", "consents and their history", len(views), views,
		[]string{"at", "source", "actor", "purpose", "granted", "policy_version"}, rows)
}

// adRecords streams the subject's ad records in parts of partSize, each
// as JSON Lines and CSV, opened with the subject's data key. Reading
// (SQLite and decoding, by decodeRecord: only what the bundle shows) runs
// in its own goroutine, a page ahead of the encoding and compression
// here, so the two halves use both cores. One page waits between them:
// reading is now the faster half, and every page waiting is 500 decoded
// records of heap.
func (b *bundleWriter) adRecords() error {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	pages := make(chan []*storedRecord, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(pages)
		coll := b.x.d.DB.Records.C.Name
		for _, k := range b.keys {
			q := store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, OrderBy: "received", Limit: store.MaxLimit}
			for {
				docs, err := b.x.d.DB.Backend.Query(ctx, coll, q)
				if err != nil {
					readErr <- err
					return
				}
				page := make([]*storedRecord, len(docs))
				for i, d := range docs {
					if page[i], err = decodeRecord(d.Data, len(fieldOrder)); err != nil {
						readErr <- fmt.Errorf("store: decode %s/%s: %w", coll, d.ID, err)
						return
					}
				}
				if len(page) > 0 {
					select {
					case pages <- page:
					case <-ctx.Done():
						readErr <- ctx.Err()
						return
					}
				}
				if len(docs) < q.Limit {
					break
				}
				q.After = docs[len(docs)-1]
			}
		}
		readErr <- nil
	}()

	var files []string
	count, part := 0, 0
	// A part's CSV waits while its JSON Lines entry streams (zip entries
	// go one after the other). It waits compressed, as the zip stores it
	// (deflate, the bundle's level), a sixth of its 6 MiB, and goes in with
	// CreateRaw: heap and RSS stay lower, and the compression is the same
	// work the zip would have done.
	var csvZ bytes.Buffer
	fz, err := flate.NewWriter(&csvZ, flate.BestSpeed)
	if err != nil {
		return err
	}
	csvCRC := crc32.NewIEEE()
	var csvLen byteCount
	csvOut := io.MultiWriter(fz, csvCRC, &csvLen)
	var cw *csv.Writer
	var jsonl io.Writer
	line := make([]byte, 0, 4096)
	row := make([]string, 0, len(privacy.RecordColumns()))
	flush := func() error {
		if jsonl == nil {
			return nil
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if err := fz.Close(); err != nil {
			return err
		}
		name := fmt.Sprintf("ad_records/part-%05d.csv", part)
		f, err := b.zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CreatorVersion: 20, ReaderVersion: 20,
			CRC32: csvCRC.Sum32(), CompressedSize64: uint64(csvZ.Len()), UncompressedSize64: uint64(csvLen)})
		if err != nil {
			return err
		}
		if _, err := f.Write(csvZ.Bytes()); err != nil {
			return err
		}
		files = append(files, name)
		jsonl = nil
		return nil
	}
	open := func() error {
		part++
		name := fmt.Sprintf("ad_records/part-%05d.jsonl", part)
		f, err := b.zw.Create(name)
		if err != nil {
			return err
		}
		files = append(files, name)
		jsonl = f
		csvZ.Reset()
		fz.Reset(&csvZ)
		csvCRC.Reset()
		csvLen = 0
		if _, err := io.WriteString(csvOut, "\uFEFF"); err != nil {
			return err
		}
		cw = csv.NewWriter(csvOut)
		return cw.Write(privacy.RecordColumns())
	}
	batches := map[string]*keys.Batch{}
	seen := map[string]bool{} // field paths met, for the summary's categories
	write := func(r *storedRecord) error {
		if err := b.open(batches, r); err != nil {
			return err
		}
		if jsonl == nil {
			if err := open(); err != nil {
				return err
			}
		}
		e := &r.e
		line = appendRecord(line[:0], e)
		if _, err := jsonl.Write(line); err != nil {
			return err
		}
		row = e.AppendRow(row[:0])
		if err := cw.Write(row); err != nil {
			return err
		}
		count++
		b.sum.Seen(e.ReceivedAt)
		for path := range e.Fields {
			if !seen[path] {
				seen[path] = true
				if f, ok := privacy.FieldByPath(path); ok {
					b.sum.AddCategory(f.Category)
				}
			}
		}
		for _, p := range e.Purposes {
			b.sum.AddPurpose(p)
		}
		if count%b.x.partSize == 0 {
			return flush()
		}
		return nil
	}
	for page := range pages {
		for _, r := range page {
			if err := write(r); err != nil {
				cancel()
				for range pages { // let the reader see the cancellation
				}
				<-readErr
				return err
			}
		}
	}
	if err := <-readErr; err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if count > 0 {
		b.sum.Sections = append(b.sum.Sections, privacy.BundleSection{Name: "ad_records", Zh: "广告请求记录（含解密后的设备标识符）",
			En: "ad requests (device ids decrypted)", Count: count, Files: files})
	}
	return nil
}

// appendRecord appends e as one JSON line, the same document
// json.Marshal(e) gives, without reflection: the field values are the
// store's own JSON (validated when it was decoded), copied as they are,
// in the policy table's order. A bundle of 100,000 records spends most of
// its time here and in decoding.
func appendRecord(buf []byte, e *privacy.ExportedRecord) []byte {
	buf = append(buf, `{"id":`...)
	buf = appendString(buf, e.ID)
	buf = append(buf, `,"received_at":"`...)
	buf = e.ReceivedAt.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","app_id":`...)
	buf = appendString(buf, e.AppID)
	buf = append(buf, `,"platform":`...)
	buf = appendString(buf, string(e.Platform))
	buf = append(buf, `,"region":`...)
	buf = appendString(buf, e.Region)
	buf = append(buf, `,"personalized":`...)
	buf = strconv.AppendBool(buf, e.Personalized)
	if e.Purposes == nil {
		buf = append(buf, `,"purposes":null`...)
	} else {
		buf = append(buf, `,"purposes":[`...)
		for i, p := range e.Purposes {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, string(p))
		}
		buf = append(buf, ']')
	}
	buf = append(buf, `,"retention":`...)
	buf = appendString(buf, e.Retention)
	buf = append(buf, `,"expires_at":"`...)
	buf = e.ExpiresAt.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, '"')
	if e.Isolated != "" {
		buf = append(buf, `,"isolated":`...)
		buf = appendString(buf, e.Isolated)
	}
	buf = append(buf, `,"fields":{`...)
	first := true
	field := func(path string, v json.RawMessage) {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, path)
		buf = append(buf, ':')
		buf = append(buf, v...)
	}
	n := 0
	for _, f := range fieldOrder {
		if v, ok := e.Fields[f]; ok {
			field(f, v)
			n++
		}
	}
	if n < len(e.Fields) { // paths outside the table (none today): sorted after it
		var extra []string
		for path := range e.Fields {
			if _, ok := privacy.FieldByPath(path); !ok {
				extra = append(extra, path)
			}
		}
		sort.Strings(extra)
		for _, path := range extra {
			field(path, e.Fields[path])
		}
	}
	buf = append(buf, '}')
	if e.CoarseGeo != nil {
		buf = append(buf, `,"coarse_geo":{"lat":`...)
		buf = strconv.AppendFloat(buf, e.CoarseGeo.Lat, 'f', -1, 64)
		buf = append(buf, `,"lon":`...)
		buf = strconv.AppendFloat(buf, e.CoarseGeo.Lon, 'f', -1, 64)
		buf = append(buf, '}')
	}
	return append(buf, '}', '\n')
}

// fieldOrder is the policy table's paths, in order.
var fieldOrder = func() []string {
	var out []string
	for _, f := range privacy.Fields() {
		out = append(out, f.Path)
	}
	return out
}()

// appendString appends s as a JSON string: plain ASCII directly, anything
// else through encoding/json.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(buf, q...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// open decrypts a record's sealed fields with the data key of the subject
// it is filed under, read once per subject, into its line's fields.
func (b *bundleWriter) open(batches map[string]*keys.Batch, r *storedRecord) error {
	if len(r.sealed) == 0 {
		return nil
	}
	kb, ok := batches[r.subject]
	if !ok {
		var err error
		if kb, err = b.x.d.Keys.Batch(b.ctx, r.subject, false); err != nil {
			return err
		}
		batches[r.subject] = kb
	}
	plain, err := kb.Open(r.sealed)
	if err != nil {
		return privacy.Errorf(privacy.EINTERNAL, "record %s does not open under its subject's key", r.e.ID)
	}
	return openFields(r.e.Fields, plain)
}

// byteCount counts the bytes written to it.
type byteCount int64

func (c *byteCount) Write(p []byte) (int, error) {
	*c += byteCount(len(p))
	return len(p), nil
}

// requestView is a rights request as its requester sees it, with what
// they wrote (details, corrections, endpoint); codes and tokens are not
// information about them and are left out.
type requestView struct {
	ID          string               `json:"id"`
	Type        privacy.RequestType  `json:"type"`
	Channel     string               `json:"channel"`
	Status      privacy.Status       `json:"status"`
	CreatedAt   time.Time            `json:"created_at"`
	DueAt       *time.Time           `json:"due_at,omitempty"`
	ClosedAt    *time.Time           `json:"closed_at,omitempty"`
	Email       string               `json:"email,omitempty"`
	Details     string               `json:"details,omitempty"`
	Corrections map[string]string    `json:"corrections,omitempty"`
	DeliverTo   string               `json:"deliver_to,omitempty"`
	Result      string               `json:"result,omitempty"`
	Answer      string               `json:"answer,omitempty"`
	History     []privacy.Transition `json:"history"`
}

func (b *bundleWriter) requests() error {
	var views []requestView
	var rows [][]string
	for _, k := range b.keys {
		q := store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, OrderBy: "created", Limit: store.MaxLimit}
		err := b.x.d.DB.Requests.Each(b.ctx, q, func(r *privacy.Request) error {
			views = append(views, requestView{ID: r.ID, Type: r.Type, Channel: r.Channel, Status: r.Status, CreatedAt: r.CreatedAt.UTC(),
				DueAt: r.DueAt, ClosedAt: r.ClosedAt, Email: r.Email, Details: r.Details, Corrections: r.Corrections,
				DeliverTo: r.DeliverTo, Result: r.Result, Answer: r.Answer, History: r.History})
			for _, t := range r.History {
				rows = append(rows, []string{r.ID, string(r.Type), ts(t.At), string(t.From), string(t.To), t.Actor, t.Reason})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(views) == 0 {
		return nil
	}
	b.sum.AddCategory(privacy.CatRequests)
	b.sum.AddPurpose(privacy.PurposeRights)
	return b.section("requests", "权利请求及其处理记录", "rights requests and their history", len(views), views,
		[]string{"request_id", "type", "at", "from", "to", "actor", "reason"}, rows)
}

// noticeView is one notice sent to the subject (notify's delivery record;
// letters with their text).
type noticeView struct {
	Template string     `json:"template"`
	Channel  string     `json:"channel"`
	Ref      string     `json:"ref,omitempty"`
	Status   string     `json:"status"`
	FirstAt  time.Time  `json:"first_at"`
	SentAt   *time.Time `json:"sent_at,omitempty"`
	Subject  string     `json:"subject,omitempty"`
	Text     string     `json:"text,omitempty"`
	Address  string     `json:"address,omitempty"`
}

func (b *bundleWriter) notices() error {
	b2 := b.x.d.DB.Backend
	deliveries := store.Repo[notify.Delivery]{B: b2, C: notify.DeliveriesCollection, ID: func(x *notify.Delivery) string { return x.ID }}
	letters := store.Repo[notify.Letter]{B: b2, C: notify.LettersCollection, ID: func(x *notify.Letter) string { return x.ID }}
	var views []noticeView
	for _, k := range b.keys {
		q := store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, Limit: store.MaxLimit}
		err := deliveries.Each(b.ctx, q, func(x *notify.Delivery) error {
			if x.Channel == notify.Postal {
				return nil // the letter itself follows
			}
			views = append(views, noticeView{Template: x.Template, Channel: x.Channel, Ref: x.Ref, Status: x.Status,
				FirstAt: x.FirstAt.UTC(), SentAt: x.SentAt})
			return nil
		})
		if err != nil {
			return err
		}
		err = letters.Each(b.ctx, q, func(l *notify.Letter) error {
			views = append(views, noticeView{Template: "letter", Channel: notify.Postal, Ref: l.Ref, Status: "listed",
				FirstAt: l.CreatedAt.UTC(), SentAt: l.PostedAt, Subject: l.Subject, Text: l.Text, Address: l.Address})
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(views) == 0 {
		return nil
	}
	sort.SliceStable(views, func(i, j int) bool { return views[i].FirstAt.Before(views[j].FirstAt) })
	rows := make([][]string, len(views))
	for i, v := range views {
		rows[i] = []string{ts(v.FirstAt), v.Channel, v.Template, v.Ref, v.Status, tsp(v.SentAt)}
	}
	b.sum.AddCategory(privacy.CatNotices)
	b.sum.AddPurpose(privacy.PurposeNotices)
	return b.section("notices", "发送给您的通知", "notices sent to you", len(views), views,
		[]string{"at", "channel", "template", "ref", "status", "sent_at"}, rows)
}

// disclosureView is one recipient the subject's de-identified data went to.
type disclosureView struct {
	Recipient      string             `json:"recipient"`
	Pseudonym      string             `json:"pseudonym"`
	Categories     []privacy.Category `json:"categories"`
	Purposes       []privacy.Purpose  `json:"purposes"`
	First          time.Time          `json:"first"`
	Last           time.Time          `json:"last"`
	Count          int                `json:"count"`
	ErasureSentAt  *time.Time         `json:"erasure_sent_at,omitempty"`
	AcknowledgedAt *time.Time         `json:"acknowledged_at,omitempty"`
}

func (b *bundleWriter) disclosures() error {
	var views []disclosureView
	for _, k := range b.keys {
		q := store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, Limit: store.MaxLimit}
		err := b.x.d.DB.Disclosures.Each(b.ctx, q, func(d *privacy.Disclosure) error {
			views = append(views, disclosureView{Recipient: d.Recipient, Pseudonym: d.Pseudonym, Categories: d.Categories,
				Purposes: d.Purposes, First: d.First.UTC(), Last: d.Last.UTC(), Count: d.Count,
				ErasureSentAt: d.ErasureSentAt, AcknowledgedAt: d.AcknowledgedAt})
			if !slices.Contains(b.sum.Recipients, d.Recipient) {
				b.sum.Recipients = append(b.sum.Recipients, d.Recipient)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(views) == 0 {
		return nil
	}
	rows := make([][]string, len(views))
	for i, v := range views {
		cats := make([]string, len(v.Categories))
		for j, c := range v.Categories {
			cats[j] = string(c)
		}
		rows[i] = []string{v.Recipient, v.Pseudonym, strings.Join(cats, ";"), ts(v.First), ts(v.Last), strconv.Itoa(v.Count),
			tsp(v.ErasureSentAt), tsp(v.AcknowledgedAt)}
	}
	return b.section("disclosures", "向第三方提供的记录", "disclosures to third parties", len(views), views,
		[]string{"recipient", "pseudonym", "categories", "first", "last", "count", "erasure_sent_at", "acknowledged_at"}, rows)
}
