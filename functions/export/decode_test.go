package export

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

// decodeReference is what decodeRecord must equal: encoding/json and
// privacy.ExportRecord, as the bundle did before it.
func decodeReference(data []byte) (*storedRecord, error) {
	var rec privacy.AdRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	return &storedRecord{e: privacy.ExportRecord(&rec, nil), subject: rec.SubjectKey, sealed: rec.Sealed}, nil
}

// checkDecode compares decodeRecord with the reference on data: both
// fail, or both give the same record and the same bundle line.
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	got, err := decodeRecord(data, len(fieldOrder))
	want, werr := decodeReference(data)
	if (err == nil) != (werr == nil) {
		t.Fatalf("decodeRecord(%q): error %v, encoding/json: %v", data, err, werr)
	}
	if err != nil {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeRecord(%q):\n got %+v\nwant %+v", data, got, want)
	}
	if a, b := appendRecord(nil, &got.e), appendRecord(nil, &want.e); !bytes.Equal(a, b) {
		t.Fatalf("bundle lines differ:\n%s%s", a, b)
	}
}

// checkOpen compares openFields with privacy.OpenSealed on plain.
func checkOpen(t *testing.T, plain []byte) {
	t.Helper()
	got := map[string]json.RawMessage{"brand": json.RawMessage(`"x"`)}
	want := map[string]json.RawMessage{"brand": json.RawMessage(`"x"`)}
	err := openFields(got, plain)
	sealed, werr := privacy.OpenSealed(plain)
	if (err == nil) != (werr == nil) {
		t.Fatalf("openFields(%q): error %v, OpenSealed: %v", plain, err, werr)
	}
	if err != nil {
		return
	}
	for k, v := range sealed {
		want[k] = v
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("openFields(%q):\n got %v\nwant %v", plain, got, want)
	}
}

func sampleRecords(t testing.TB) [][]byte {
	at := time.Date(2026, 3, 1, 8, 30, 15, 123456789, time.FixedZone("CST", 8*3600))
	full := &privacy.AdRecord{ID: "r-1", SubjectKey: "sk/1", AppID: "app_1", Platform: privacy.Android, Region: "CN",
		ReceivedAt: at, ExpiresAt: at.Add(180 * privacy.Day), Retention: privacy.ClassAdRequests, Personalized: true,
		Purposes: []privacy.Purpose{privacy.PurposeFraud, privacy.PurposeLocale},
		Fields: map[string]json.RawMessage{"brand": json.RawMessage(`"Huawei"`), "screen": json.RawMessage(`{"w":1080,"h":2340}`),
			"battery": json.RawMessage(`87`), "ua": json.RawMessage(`"Mozilla/5.0 \"quoted\" \u003cb\u003e 王"`), "sensors": json.RawMessage(`[{"type":"gyro"},null,true,-1.5e3]`)},
		IDHashes: map[string]string{"ids.oaid": "h"}, Sealed: []byte{0, 1, 2, 250, 251, 252},
		Isolated: "hold-1", CoarseGeo: &privacy.GeoPoint{Lat: 39.9, Lon: -116.45}}
	bare := &privacy.AdRecord{ID: "r-2"}
	empty := &privacy.AdRecord{ID: "r-3", Purposes: []privacy.Purpose{}, Fields: map[string]json.RawMessage{}, Sealed: []byte{}}
	var out [][]byte
	for _, r := range []*privacy.AdRecord{full, bare, empty} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestDecodeRecordMatchesJSON(t *testing.T) {
	docs := sampleRecords(t)
	for _, d := range docs {
		checkDecode(t, d)
		// What json.Marshal writes is what the one pass is for.
		if _, ok := fastRecord(d, 0); !ok {
			t.Errorf("fastRecord left %s to encoding/json", d)
		}
	}
	full := string(docs[0])
	// Shapes the one pass leaves to encoding/json, and broken documents.
	for _, d := range []string{
		" \n" + full + "\t",
		`{"id":"a","ID":"b"}`,
		`{"id":"a","id":"b"}`,
		`{"id":"\u0061"}`,
		`{"id":null,"purposes":null,"fields":null,"sealed":null,"coarse_geo":null,"received_at":null}`,
		`{"id":"a","extra":{"x":[1,2]}}`,
		`{"id":"a","fields":{"k\u0041":1,"b":2}}`,
		`{"id":"a","fields":{"a":1,"a":2}}`,
		`{"id":"a","fields":{"a":"\xff"}}`,
		`{"id":"\xff"}`,
		`{"id":"a","coarse_geo":{"lat":1,"LON":2}}`,
		`{"id":"a","coarse_geo":{"lat":1e400}}`,
		`{"id":"a","received_at":"2026-13-01T00:00:00Z"}`,
		`{"id":"a","sealed":"!!"}`,
		`{"id":"a","personalized":"true"}`,
		`{"id":"a","fields":{"a":01}}`,
		`{"id":"a","fields":{"a":[1,]}}`,
		`{"id":"a"} x`,
		`{"id":"a"`,
		`[]`,
		``,
	} {
		checkDecode(t, []byte(d))
	}
	for _, p := range []string{`{"ids.oaid":"a1","geo":{"lat":1,"lon":2},"installed_apps":["x"]}`, `{"brand":"sealed wins"}`,
		`{}`, `null`, `{"a":1,"a":2}`, `{"\u0061":1}`, `{"a":}`, `[1]`, ``} {
		checkOpen(t, []byte(p))
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, d := range sampleRecords(f) {
		f.Add(d)
	}
	f.Add([]byte(`{"id":"a","fields":{"k":{"x":[1,"\u00e9",null]}},"coarse_geo":{"lat":-0.5e-3,"lon":0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		checkOpen(t, data)
	})
}
