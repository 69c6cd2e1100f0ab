// Package fulfiltest is the test bed of the export and erasure functions:
// a SQLite store, a key ring in its own file (as `veil serve` keeps it), a
// directory blob store, and the ingest, consent and requests functions'
// routes, so tests make data and requests the way clients do. The
// in-process broker is never started: every published event stays queued
// for a probe subscriber, so a test reads exactly what was staged and
// hands events to the function under test itself, in order.
package fulfiltest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/functions/functionstest"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/privacy/calendar"
)

// OpsToken is the test ops token.
const OpsToken = "fulfil-test-ops-token-0123456789abcdef"

// Env is one test bed.
type Env struct {
	T       testing.TB
	Ctx     context.Context
	D       functions.Deps
	DB      *sqlite.DB // veil.db
	KeyDB   *sqlite.DB // keyring.db
	Dir     string     // VEIL_DATA
	Broker  *events.Broker
	Mux     *http.ServeMux
	Now     time.Time
	Logs    *bytes.Buffer
	handled map[string]bool // function~event id
}

// Options adjust the bed.
type Options struct {
	Env map[string]string // VEIL_* overrides
}

// New builds a bed with the functions ctors build, in order (the
// client-facing ones the test needs — ingest, consent, requests — and the
// one under test), and returns them. The bed imports none of them itself:
// requests imports export, so export's tests cannot have requests.
func New(t testing.TB, o Options, ctors ...functions.Constructor) (*Env, []*functions.Function) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	vars := map[string]string{"VEIL_DATA": dir, "VEIL_OPS_TOKEN": OpsToken, "VEIL_PUBLIC_URL": "http://veil.test"}
	for k, v := range o.Env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.MasterKey = bytes.Repeat([]byte{9}, 32)
	st := functionstest.OpenStores(t, dir, cfg.StoreLocation, cfg.MasterKey)
	logs := &bytes.Buffer{}
	log := zerolog.New(logs)
	broker := functionstest.QueuedBroker(t, st.Docs, log)
	e := &Env{T: t, Ctx: ctx, DB: st.Docs, KeyDB: st.KeyDB, Dir: dir, Broker: broker, Mux: http.NewServeMux(), Logs: logs,
		Now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), handled: map[string]bool{}}
	e.D = functions.Deps{Config: cfg, Log: log, DB: st.DB, Keys: st.Keys, Bus: broker, Calendar: calendar.New(),
		Blobs: &blob.Dir{Root: filepath.Join(dir, "blobs"), BaseURL: "http://veil.test", Secret: []byte("links"), Loc: cfg.BlobLocation,
			Now: func() time.Time { return e.Now }},
		Now: func() time.Time { return e.Now }}
	var fns []*functions.Function
	for _, c := range ctors {
		f, err := c(ctx, e.D)
		if err != nil {
			t.Fatal(err)
		}
		for _, coll := range f.Collections {
			if err := st.Docs.Ensure(ctx, coll); err != nil {
				t.Fatal(err)
			}
		}
		for p, h := range f.Routes {
			e.Mux.Handle(p, h)
		}
		fns = append(fns, f)
	}
	return e, fns
}

// Do calls the routes. body is nil, a string or a value sent as JSON.
func (e *Env) Do(method, path string, body any, headers ...string) (int, []byte) {
	e.T.Helper()
	var rd io.Reader = http.NoBody
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd).WithContext(e.Ctx)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.Mux.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// Must checks the status and decodes the answer into out.
func (e *Env) Must(status int, out any, method, path string, body any, headers ...string) {
	e.T.Helper()
	code, raw := e.Do(method, path, body, headers...)
	if code != status {
		e.T.Fatalf("%s %s: %d, want %d: %s", method, path, code, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.T.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// Ops is the ops token header.
func Ops() []string { return []string{"Authorization", "Bearer " + OpsToken} }

// App registers an app and returns its id and key.
func (e *Env) App(name, developer string) (id, key string) {
	e.T.Helper()
	var out struct{ AppID, AppKey string }
	var raw map[string]string
	e.Must(http.StatusCreated, &raw, "POST", "/v1/apps", map[string]any{"name": name, "platform": "android",
		"developer_email": developer, "discloses_sdk": true}, Ops()...)
	out.AppID, out.AppKey = raw["app_id"], raw["app_key"]
	return out.AppID, out.AppKey
}

// AdRequest is an Android ad request with every field the policy allows,
// geo and installed apps included (personalized, with location consent).
func AdRequest(oaid, imei string, n int) map[string]any {
	return map[string]any{
		"sdk":     map[string]any{"platform": "android", "version": "3.1.0"},
		"app":     map[string]any{"name": "Demo", "version": "1.0"},
		"consent": map[string]any{"personalized_ads": true, "location": true},
		"device": map[string]any{
			"ids":            map[string]any{"oaid": oaid, "imei": imei},
			"brand":          "Huawei",
			"model":          "P40",
			"device_name":    "Wang's phone",
			"ip":             "203.0.113.77",
			"ua":             "Mozilla/5.0 (Linux; Android 12)",
			"wifi_ssid":      "HomeNet-5G",
			"language":       "zh-CN",
			"country":        "CN",
			"os_version":     "12",
			"battery":        n % 100,
			"installed_apps": []string{"com.example.chat", "com.example.pay"},
			"sensors":        []any{map[string]any{"type": "gyro"}},
			"geo":            map[string]any{"lat": 39.9042, "lon": 116.4074, "accuracy": 10},
		},
	}
}

// Ingest sends ad requests for a device through the SDK route.
func (e *Env) Ingest(appKey string, body map[string]any) {
	e.T.Helper()
	e.Must(http.StatusOK, nil, "POST", "/v1/ad-requests", body, "X-Veil-App-Key", appKey)
}

// DeviceRequest files a request for a device, attested by the app (it
// starts verified).
func (e *Env) DeviceRequest(appKey, typ, device string, extra map[string]any) string {
	e.T.Helper()
	body := map[string]any{"type": typ, "subject": map[string]any{"device": device}}
	for k, v := range extra {
		body[k] = v
	}
	var out struct{ ID, Status string }
	e.Must(http.StatusAccepted, &out, "POST", "/v1/requests", body, "X-Veil-App-Key", appKey)
	if out.Status != "verified" {
		e.T.Fatalf("attested request is %s", out.Status)
	}
	return out.ID
}

// Request reads request id from the store.
func (e *Env) Request(id string) *privacy.Request {
	e.T.Helper()
	r, err := e.D.DB.Requests.Get(e.Ctx, id)
	if err != nil {
		e.T.Fatal(err)
	}
	return r
}

// Notifications returns the notification requests staged with template,
// oldest first.
func (e *Env) Notifications(template string) []events.NotificationData {
	var out []events.NotificationData
	for _, ev := range e.Queued(events.NotificationRequested) {
		d, _ := events.Decode[events.NotificationData](ev)
		if d.Template == template {
			out = append(out, d)
		}
	}
	return out
}

// Queued returns the events staged for the probe, by type, oldest first.
func (e *Env) Queued(typ string) []events.Event {
	e.T.Helper()
	var out []events.Event
	q := store.Query{OrderBy: "next", Limit: store.MaxLimit}
	for {
		docs, err := e.DB.Query(e.Ctx, "events_deliveries", q)
		if err != nil {
			e.T.Fatal(err)
		}
		for _, d := range docs {
			var p struct {
				Event json.RawMessage `json:"event"`
			}
			var ev events.Event
			if err := json.Unmarshal(d.Data, &p); err != nil || json.Unmarshal(p.Event, &ev) != nil {
				e.T.Fatalf("queued delivery %s unreadable", d.ID)
			}
			if typ == "" || ev.Type() == typ {
				out = append(out, ev)
			}
		}
		if len(docs) < q.Limit {
			return out
		}
		q.After = docs[len(docs)-1]
	}
}

// Deliver hands f every queued event of typ it has not had yet, as the
// broker would, and returns the first handler error.
func (e *Env) Deliver(f *functions.Function, typ string) error {
	e.T.Helper()
	h := f.Events[typ]
	if h == nil {
		e.T.Fatalf("%s does not consume %s", f.Name, typ)
	}
	for _, ev := range e.Queued(typ) {
		key := f.Name + "~" + ev.ID()
		if e.handled[key] {
			continue
		}
		if err := h(e.Ctx, ev); err != nil {
			return err
		}
		e.handled[key] = true
	}
	return nil
}

// Event builds an event as another function would publish it.
func Event(typ, subject string, data any) events.Event { return events.Must(typ, subject, data) }

// AccountRequest files a request of an account holder as the requests
// function leaves it once the mailed code is verified: verified, with its
// request.verified event queued.
func (e *Env) AccountRequest(email, typ string, change func(r *privacy.Request)) *privacy.Request {
	e.T.Helper()
	s, err := privacy.AccountSubject(email)
	if err != nil {
		e.T.Fatal(err)
	}
	r := &privacy.Request{ID: uuid.NewString(), Type: privacy.RequestType(typ), Channel: "web", SubjectKey: e.D.Keys.SubjectKey(s),
		SubjectHint: s.Hint(), Email: s.Value}
	if change != nil {
		change(r)
	}
	return e.file(r, "subject", "code verified")
}

// AttestedRequest files a device request as the requests function does
// when an app's developer attests it (SPEC §5): verified at once, filed
// under the key the device's records are, its request.verified queued.
func (e *Env) AttestedRequest(appID, typ, device string, change func(r *privacy.Request)) *privacy.Request {
	e.T.Helper()
	s, err := privacy.ParseSubject(device)
	if err != nil {
		e.T.Fatal(err)
	}
	key, err := ingest.ResolveSubjectKey(e.Ctx, e.D.DB, e.D.Keys, s)
	if err != nil {
		e.T.Fatal(err)
	}
	r := &privacy.Request{ID: uuid.NewString(), Type: privacy.RequestType(typ), Channel: "api", SubjectKey: key,
		SubjectHint: s.Hint(), AppID: appID}
	if change != nil {
		change(r)
	}
	return e.file(r, "app:"+appID, "attested by the app's developer")
}

func (e *Env) file(r *privacy.Request, actor, reason string) *privacy.Request {
	e.T.Helper()
	now := e.Now
	r.CreatedAt, r.UpdatedAt, r.History = now, now, []privacy.Transition{}
	if err := r.Move(privacy.StatusVerified, actor, reason, now); err != nil {
		e.T.Fatal(err)
	}
	err := e.D.DB.Backend.Tx(e.Ctx, func(tx store.Tx) error {
		if err := e.D.DB.Requests.In(tx).Create(r); err != nil {
			return err
		}
		return e.D.Bus.PublishTx(tx, events.Must(events.RequestVerified, r.ID, events.RequestData{RequestID: r.ID,
			Type: string(r.Type), Status: string(r.Status), Channel: r.Channel, SubjectKey: r.SubjectKey}))
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return r
}

// Drain empties the event queue, as a running broker would once every
// subscriber has the events.
func (e *Env) Drain() {
	e.T.Helper()
	for {
		docs, err := e.DB.Query(e.Ctx, "events_deliveries", store.Query{Limit: store.MaxLimit})
		if err != nil {
			e.T.Fatal(err)
		}
		if len(docs) == 0 {
			return
		}
		err = e.DB.Tx(e.Ctx, func(tx store.Tx) error {
			for _, d := range docs {
				if err := tx.Delete("events_deliveries", d.ID); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			e.T.Fatal(err)
		}
	}
}

// Backup copies veil.db (checkpointed first, so the copy is complete) to
// path: a backup taken at this moment.
func (e *Env) Backup(path string) {
	e.T.Helper()
	if err := e.DB.Purge(e.Ctx); err != nil {
		e.T.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(e.Dir, "veil.db"))
	if err != nil {
		e.T.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		e.T.Fatal(err)
	}
}

// Files returns the bytes of veil.db and its WAL as they are on disk.
func (e *Env) Files() map[string][]byte {
	e.T.Helper()
	out := map[string][]byte{}
	for _, name := range []string{"veil.db", "veil.db-wal", "veil.db-journal"} {
		raw, err := os.ReadFile(filepath.Join(e.Dir, name))
		if err == nil {
			out[name] = raw
		} else if !os.IsNotExist(err) {
			e.T.Fatal(err)
		}
	}
	return out
}

// Seed stores n ad records of one device directly through the store, in
// transactions of store.MaxLimit, as ingest would have filed them (sealed
// ids and fields under the device's key, a device link): benchmarks need
// 100,000 of them faster than the SDK route makes them. It returns the
// device's subject key.
func (e *Env) Seed(oaid string, n int) string {
	e.T.Helper()
	s, err := privacy.DeviceSubject("oaid", oaid)
	if err != nil {
		e.T.Fatal(err)
	}
	key := e.D.Keys.SubjectKey(s)
	kb, err := e.D.Keys.Batch(e.Ctx, key, true)
	if err != nil {
		e.T.Fatal(err)
	}
	plain, _ := json.Marshal(privacy.SealedFields{
		"ids.oaid":       json.RawMessage(`"` + oaid + `"`),
		"device_name":    json.RawMessage(`"Wang's phone"`),
		"wifi_ssid":      json.RawMessage(`"HomeNet-5G"`),
		"installed_apps": json.RawMessage(`["com.example.chat","com.example.pay","com.example.news"]`),
		"geo":            json.RawMessage(`{"lat":39.9042,"lon":116.4074,"accuracy":10}`),
	})
	fields := map[string]json.RawMessage{"brand": json.RawMessage(`"Huawei"`), "model": json.RawMessage(`"P40"`),
		"ip": json.RawMessage(`"203.0.113.0/24"`), "ua": json.RawMessage(`"Mozilla/5.0 (Linux; Android 12; P40)"`),
		"language": json.RawMessage(`"zh-CN"`), "country": json.RawMessage(`"CN"`), "os_version": json.RawMessage(`"12"`),
		"screen": json.RawMessage(`{"w":1080,"h":2340}`), "battery": json.RawMessage(`87`), "sensors": json.RawMessage(`[{"type":"gyro"}]`),
		"app": json.RawMessage(`{"name":"Demo","version":"1.0"}`)}
	at := e.Now.Add(-time.Duration(n) * time.Second)
	link := &privacy.DeviceLink{IDHash: key, SubjectKey: key, IDType: "oaid", LinkedAt: at}
	if err := e.D.DB.Devices.Put(e.Ctx, link); err != nil {
		e.T.Fatal(err)
	}
	for i := 0; i < n; i += store.MaxLimit {
		err := e.D.DB.Backend.Tx(e.Ctx, func(tx store.Tx) error {
			for j := i; j < min(i+store.MaxLimit, n); j++ {
				sealed, err := kb.Seal(plain)
				if err != nil {
					return err
				}
				rec := &privacy.AdRecord{ID: privacy.NewRecordID(), SubjectKey: key, AppID: "app_bench", Platform: privacy.Android, Region: "CN",
					ReceivedAt: at.Add(time.Duration(j) * time.Second), Retention: privacy.ClassAdRequests, Personalized: true,
					Purposes: []privacy.Purpose{privacy.PurposeFraud, privacy.PurposeAttribution, privacy.PurposeCreative,
						privacy.PurposeLocale, privacy.PurposeOS, privacy.PurposePersonalization},
					Fields: fields, IDHashes: map[string]string{"ids.oaid": key}, Sealed: sealed,
					CoarseGeo: &privacy.GeoPoint{Lat: 39.9, Lon: 116.4}}
				rec.ExpiresAt = rec.ReceivedAt.Add(180 * privacy.Day)
				if err := e.D.DB.Records.In(tx).Create(rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			e.T.Fatal(err)
		}
	}
	return key
}

// DeviceRequestAt files a verified request for a device directly in the
// store (as an attested request is filed), without the requests route.
func (e *Env) DeviceRequestAt(key, typ, appID string) *privacy.Request {
	e.T.Helper()
	r := &privacy.Request{ID: uuid.NewString(), Type: privacy.RequestType(typ), Channel: "api", SubjectKey: key,
		SubjectHint: "device:oaid:…", AppID: appID, CreatedAt: e.Now, UpdatedAt: e.Now, History: []privacy.Transition{}}
	if err := r.Move(privacy.StatusVerified, "app:"+appID, "attested", e.Now); err != nil {
		e.T.Fatal(err)
	}
	if err := e.D.DB.Requests.Create(e.Ctx, r); err != nil {
		e.T.Fatal(err)
	}
	return r
}
