package privacy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCSVCell(t *testing.T) {
	cases := []struct{ raw, want string }{
		{`"Huawei"`, "Huawei"},
		{`"=HYPERLINK(\"http://x\")"`, `'=HYPERLINK("http://x")`},
		{`"@SUM(A1)"`, "'@SUM(A1)"},
		{`"+86 10"`, "'+86 10"},
		{`-3.5`, "-3.5"},
		{`42`, "42"},
		{`true`, "true"},
		{`{"w": 1080, "h": 2340}`, `{"w":1080,"h":2340}`},
		{`["a", "=b"]`, `["a","=b"]`},
		{`null`, ""},
		{``, ""},
	}
	for _, c := range cases {
		if got := CSVCell(json.RawMessage(c.raw)); got != c.want {
			t.Errorf("CSVCell(%s) = %q, want %q", c.raw, got, c.want)
		}
	}
}

func TestExportedRowFollowsTheFieldTable(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	r := &AdRecord{ID: "r1", AppID: "a1", Platform: Android, Region: "CN", ReceivedAt: at, ExpiresAt: at.Add(180 * Day),
		Retention: ClassAdRequests, Purposes: []Purpose{PurposeFraud, PurposeAttribution},
		Fields: map[string]json.RawMessage{"brand": json.RawMessage(`"Huawei"`), "screen": json.RawMessage(`{"w":1,"h":2}`)}}
	e := ExportRecord(r, SealedFields{"ids.oaid": json.RawMessage(`"oaid-1"`)})
	cols, row := RecordColumns(), e.Row()
	if len(cols) != len(row) {
		t.Fatalf("%d columns, %d cells", len(cols), len(row))
	}
	want := map[string]string{"id": "r1", "received_at": "2026-03-01T08:00:00Z", "purposes": "fraud;attribution",
		"brand": "Huawei", "screen": `{"w":1,"h":2}`, "ids.oaid": "oaid-1", "geo": ""}
	for col, v := range want {
		i := slices.Index(cols, col)
		if i < 0 || row[i] != v {
			t.Errorf("column %s = %q, want %q", col, row[i], v)
		}
	}
	// The field columns are the policy's table, in its order.
	fields := Fields()
	for i, f := range fields {
		if cols[len(cols)-len(fields)+i] != f.Path {
			t.Fatalf("column %d is %s, want %s", i, cols[len(cols)-len(fields)+i], f.Path)
		}
	}
}

func TestWithdrawal(t *testing.T) {
	cases := []struct {
		details string
		want    []string
		paths   []string
	}{
		{"", ConsentPurposes(), []string{"installed_apps", "sensors", "geo"}},
		{"please stop using my location", []string{ConsentLocation}, []string{"geo"}},
		{"撤回 personalized_ads 和 location", []string{ConsentPersonalizedAds, ConsentLocation}, []string{"installed_apps", "sensors", "geo"}},
		{"partner_sharing", []string{ConsentPartnerSharing}, nil},
	}
	for _, c := range cases {
		got := WithdrawalPurposes(c.details)
		if !slices.Equal(got, c.want) {
			t.Errorf("WithdrawalPurposes(%q) = %v, want %v", c.details, got, c.want)
		}
		if paths := WithdrawnPaths(got); !slices.Equal(paths, c.paths) {
			t.Errorf("WithdrawnPaths(%v) = %v, want %v", got, paths, c.paths)
		}
	}
}

func TestStrip(t *testing.T) {
	newRec := func() (*AdRecord, SealedFields) {
		return &AdRecord{Personalized: true, CoarseGeo: &GeoPoint{Lat: 39.9, Lon: 116.4},
				Purposes: []Purpose{PurposeFraud, PurposeAttribution, PurposePersonalization},
				Fields:   map[string]json.RawMessage{"brand": json.RawMessage(`"x"`), "sensors": json.RawMessage(`[1]`)}},
			SealedFields{"ids.oaid": json.RawMessage(`"o"`), "installed_apps": json.RawMessage(`["a"]`), "geo": json.RawMessage(`{"lat":1,"lon":2}`)}
	}
	cases := []struct {
		name         string
		withdrawn    []string
		changed      bool
		personalized bool
		geo          bool
		purposes     []Purpose
	}{
		{"personalization", []string{ConsentPersonalizedAds}, true, false, false, []Purpose{PurposeFraud, PurposeAttribution}},
		{"location only", []string{ConsentLocation}, true, true, false, []Purpose{PurposeFraud, PurposeAttribution, PurposePersonalization}},
		{"partner sharing", []string{ConsentPartnerSharing}, false, true, true, []Purpose{PurposeFraud, PurposeAttribution, PurposePersonalization}},
	}
	for _, c := range cases {
		r, s := newRec()
		changed := r.Strip(WithdrawnPaths(c.withdrawn), s, slices.Contains(c.withdrawn, ConsentPersonalizedAds))
		_, hasGeo := s["geo"]
		if changed != c.changed || r.Personalized != c.personalized || hasGeo != c.geo || (r.CoarseGeo != nil) != c.geo || !slices.Equal(r.Purposes, c.purposes) {
			t.Errorf("%s: changed=%v personalized=%v geo=%v/%v purposes=%v", c.name, changed, r.Personalized, hasGeo, r.CoarseGeo, r.Purposes)
		}
		if _, ok := s["ids.oaid"]; !ok {
			t.Errorf("%s: the device id went too", c.name)
		}
	}
}

func TestErasedSubject(t *testing.T) {
	k := strings.Repeat("ab", 32)
	e := ErasedSubject(k)
	if !IsErased(e) || IsErased(k) || strings.Contains(e, k) || len(ErasureHash(k)) != 64 || e != "erased:"+ErasureHash(k) {
		t.Fatalf("ErasedSubject(%s) = %s", k, e)
	}
}

func TestSplitCorrections(t *testing.T) {
	auto, review := SplitCorrections(map[string]string{"phone": "1", "name": "n", "address": "a", "email": "e", "id_number": "i"})
	if !slices.Equal(auto, []string{"address", "phone"}) || !slices.Equal(review, []string{"email", "id_number", "name"}) {
		t.Fatalf("auto %v, review %v", auto, review)
	}
}

func TestSummaryText(t *testing.T) {
	s := BundleSummary{RequestID: "req-1", SubjectHint: "device:oaid:abcd…wxyz", GeneratedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		Sections: []BundleSection{{Name: "ad_records", Zh: "广告请求记录", En: "ad requests", Count: 3, Files: []string{"ad_records/part-00001.jsonl"}}},
		Contact:  "privacy@veil.example", Retention: []RetentionClass{{Name: ClassAdRequests, Period: 180 * Day, Action: RetainAnonymize}}}
	s.AddCategory(CatLocation)
	s.AddCategory(CatDeviceID)
	s.AddPurpose(PurposePersonalization)
	s.AddPurpose(PurposeFraud)
	s.Seen(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	text := s.Text()
	for _, want := range []string{"广告请求记录：3 条", "ad requests: 3", "设备标识符、精确地理位置", "device identifiers, precise location",
		"反作弊、个性化广告", "ad_requests：180 天", "privacy@veil.example", "2026-02-01", "complaint"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "个人信息副本说明") > strings.Index(text, "About this copy") {
		t.Error("Chinese comes first")
	}
}
