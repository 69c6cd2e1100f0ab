package privacy

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// The SPEC's own words, restated independently of the table's Purposes so
// the tests check the table as well as the code: R3 names the
// personalization fields, R2 the location field.
var (
	specPersonalization = []string{"installed_apps", "sensors", "geo"}
	specLocation        = []string{"geo"}
)

// sample is a valid value for a row, built from its declared shape.
func sample(f Field) json.RawMessage {
	switch {
	case f.IsDeviceID():
		return json.RawMessage(`"AbCdEf-1234-` + strings.ReplaceAll(f.Path, ".", "-") + `"`)
	case f.Treatment == TruncateIP:
		return json.RawMessage(`"203.0.113.77"`)
	}
	switch f.Kind {
	case KindString:
		return json.RawMessage(`"v-` + f.Path + `"`)
	case KindNumber:
		return json.RawMessage(`0.75`)
	case KindInteger:
		return json.RawMessage(`64000000000`)
	case KindScalar:
		return json.RawMessage(`"2026-01-02T03:04:05Z"`)
	case KindStringArray:
		return json.RawMessage(`["com.example.a","com.example.b"]`)
	case KindArray:
		return json.RawMessage(`[{"type":"accelerometer","x":0.1}]`)
	case KindObject:
		parts := make([]string, len(f.Members))
		for i, m := range f.Members {
			v := "12.5"
			if f.MemberKind == KindString {
				v = `"v"`
			}
			parts[i] = fmt.Sprintf("%q:%s", m, v)
		}
		return json.RawMessage("{" + strings.Join(parts, ",") + "}")
	}
	panic("no sample for kind " + f.Kind)
}

// fullRequest carries every row of the table (app at the top level, as the
// contract has it).
func fullRequest(p Platform, c RequestConsent, age *int) *AdRequest {
	r := &AdRequest{SDK: SDKInfo{Platform: p, Version: "3.1.0"}, Consent: c, User: UserInfo{Age: age},
		Device: map[string]json.RawMessage{}}
	ids := map[string]json.RawMessage{}
	for _, f := range Fields() {
		switch {
		case f.Path == "app":
			r.App = sample(f)
		case strings.HasPrefix(f.Path, "ids."):
			ids[strings.TrimPrefix(f.Path, "ids.")] = sample(f)
		default:
			r.Device[f.Path] = sample(f)
		}
	}
	r.Device["ids"], _ = json.Marshal(ids)
	return r
}

func outcome(m *Minimized) map[string]string {
	out := map[string]string{}
	for _, k := range m.Kept {
		out[k.Field.Path] = "kept"
	}
	for _, d := range m.Dropped {
		if _, dup := out[d.Field]; dup {
			panic("field both kept and dropped: " + d.Field)
		}
		out[d.Field] = d.Reason
	}
	return out
}

func TestEveryRowOnBothPlatforms(t *testing.T) {
	full := RequestConsent{PersonalizedAds: true, Location: true}
	for _, p := range []Platform{Android, IOS} {
		for _, f := range Fields() {
			t.Run(string(p)+"/"+f.Path, func(t *testing.T) {
				// One request with only this field, and the full request:
				// the outcome for the row must be the same in both.
				single := &AdRequest{SDK: SDKInfo{Platform: p}, Consent: full, Device: map[string]json.RawMessage{}}
				switch {
				case f.Path == "app":
					single.App = sample(f)
				case strings.HasPrefix(f.Path, "ids."):
					single.Device["ids"] = json.RawMessage(`{"` + strings.TrimPrefix(f.Path, "ids.") + `":` + string(sample(f)) + `}`)
				default:
					single.Device[f.Path] = sample(f)
				}
				want := "kept"
				if !f.On(p) {
					want = ReasonUndeclared
				}
				for name, r := range map[string]*AdRequest{"alone": single, "in full request": fullRequest(p, full, nil)} {
					m, err := Minimize(r, &App{}, nil)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if got := outcome(m)[f.Path]; got != want {
						t.Errorf("%s: %s on %s = %q, want %q", name, f.Path, p, got, want)
					}
				}
			})
		}
	}
}

func TestPlatformTableMatchesSpec(t *testing.T) {
	androidOnly := []string{"ids.imei", "ids.oaid", "ids.gaid", "ids.android_id", "mac", "installed_apps"}
	iosOnly := []string{"ids.idfa"}
	for _, f := range Fields() {
		wantA := !slices.Contains(iosOnly, f.Path)
		wantI := !slices.Contains(androidOnly, f.Path)
		if f.On(Android) != wantA || f.On(IOS) != wantI {
			t.Errorf("%s: android=%v ios=%v, SPEC §2 says %v %v", f.Path, f.On(Android), f.On(IOS), wantA, wantI)
		}
		if f.Serves(PurposePersonalization) != slices.Contains(specPersonalization, f.Path) {
			t.Errorf("%s: personalization purpose disagrees with R3", f.Path)
		}
		if (f.Category == CatLocation) != slices.Contains(specLocation, f.Path) {
			t.Errorf("%s: location category disagrees with R2", f.Path)
		}
	}
}

// expect restates R1–R4 and the contract's reason order for one field.
func expect(f Field, p Platform, reqPers, reqLoc, minor, guardian, wdPers, wdLoc bool) string {
	if !f.On(p) {
		return ReasonUndeclared
	}
	isPers, isLoc := slices.Contains(specPersonalization, f.Path), slices.Contains(specLocation, f.Path)
	if !isPers && !isLoc {
		return "kept"
	}
	if minor && !guardian {
		return ReasonMinor
	}
	var reasons []string
	if isLoc && wdLoc || isPers && wdPers {
		reasons = append(reasons, ReasonWithdrawn)
	}
	if isLoc && !reqLoc {
		reasons = append(reasons, ReasonNoLocationConsent)
	}
	if isPers && !reqPers {
		reasons = append(reasons, ReasonPersonalizationOff)
	}
	if len(reasons) == 0 {
		return "kept"
	}
	return reasons[0]
}

func TestEveryConsentCombination(t *testing.T) {
	type minorCase struct {
		name     string
		age      *int
		guardian *bool // in the request
		ok       bool  // guardian consent holds
	}
	age := func(n int) *int { return &n }
	yes, no := true, false
	minors := []minorCase{
		{"adult", age(30), nil, false},
		{"age unknown", nil, nil, false},
		{"13 without guardian", age(13), nil, false},
		{"13 guardian refused", age(13), &no, false},
		{"13 with guardian", age(13), &yes, true},
		{"14 is not a minor", age(14), nil, false},
	}
	for _, p := range []Platform{Android, IOS} {
		for _, pers := range []bool{true, false} {
			for _, loc := range []bool{true, false} {
				for _, mc := range minors {
					for _, wd := range []string{"", ConsentPersonalizedAds, ConsentLocation, "both"} {
						name := fmt.Sprintf("%s/pers=%v/loc=%v/%s/withdrawn=%s", p, pers, loc, mc.name, wd)
						var rec *Consent
						if wd != "" {
							rec = &Consent{Purposes: map[string]bool{ConsentPersonalizedAds: wd == ConsentLocation, ConsentLocation: wd == ConsentPersonalizedAds}}
						}
						wdPers, wdLoc := wd == ConsentPersonalizedAds || wd == "both", wd == ConsentLocation || wd == "both"
						r := fullRequest(p, RequestConsent{PersonalizedAds: pers, Location: loc, Guardian: mc.guardian}, mc.age)
						m, err := Minimize(r, &App{}, rec)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						minor := mc.age != nil && *mc.age < 14
						got := outcome(m)
						for _, f := range Fields() {
							if want := expect(f, p, pers, loc, minor, mc.ok, wdPers, wdLoc); got[f.Path] != want {
								t.Errorf("%s: %s = %q, want %q", name, f.Path, got[f.Path], want)
							}
						}
						wantPers := pers && !wdPers && !(minor && !mc.ok)
						if m.Personalized != wantPers {
							t.Errorf("%s: personalized = %v, want %v", name, m.Personalized, wantPers)
						}
						if slices.Contains(m.Purposes, PurposePersonalization) && !wantPers {
							t.Errorf("%s: record carries the personalization purpose while personalization is off", name)
						}
					}
				}
			}
		}
	}
}

func TestGuardianAndChildDirected(t *testing.T) {
	yes, no := true, false
	eight := 8
	cases := []struct {
		name          string
		childDirected bool
		age           *int
		reqGuardian   *bool
		recGuardian   *bool
		strict        bool
	}{
		{"child-directed, nothing recorded", true, nil, nil, nil, true},
		{"child-directed, request claims guardian", true, nil, &yes, nil, true},
		{"child-directed, guardian recorded", true, nil, nil, &yes, false},
		{"child-directed, adult age still minor", true, nil, nil, nil, true},
		{"child-directed, recorded but request says no", true, nil, &no, &yes, true},
		{"8 years, guardian recorded", false, &eight, nil, &yes, false},
		{"8 years, recorded refusal beats request", false, &eight, &yes, &no, true},
		{"adult app, no age", false, nil, nil, &no, false},
	}
	for _, c := range cases {
		var rec *Consent
		if c.recGuardian != nil {
			rec = &Consent{Guardian: c.recGuardian}
		}
		r := fullRequest(Android, RequestConsent{PersonalizedAds: true, Location: true, Guardian: c.reqGuardian}, c.age)
		m, err := Minimize(r, &App{ChildDirected: c.childDirected}, rec)
		if err != nil {
			t.Fatal(err)
		}
		got := outcome(m)
		for _, p := range specPersonalization {
			if want := map[bool]string{true: ReasonMinor, false: "kept"}[c.strict]; got[p] != want {
				t.Errorf("%s: %s = %q, want %q", c.name, p, got[p], want)
			}
		}
		if m.Personalized == c.strict {
			t.Errorf("%s: personalized = %v", c.name, m.Personalized)
		}
	}
}

func TestRecordedFalseBeatsRequestTrue(t *testing.T) {
	// A request saying yes never overrides a recorded no, and a recorded
	// yes never overrides a request's no.
	rec := &Consent{Purposes: map[string]bool{ConsentPersonalizedAds: false, ConsentLocation: true}}
	m, err := Minimize(fullRequest(Android, RequestConsent{PersonalizedAds: true, Location: false}, nil), &App{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	got := outcome(m)
	if m.Personalized || got["installed_apps"] != ReasonWithdrawn || got["geo"] != ReasonWithdrawn {
		t.Fatalf("personalized=%v outcome=%v", m.Personalized, got)
	}
	if m.Value("brand") == nil {
		t.Fatal("fraud and attribution fields stay whatever the consent")
	}
}

func TestUndeclaredFieldsAreDroppedWithTheirPath(t *testing.T) {
	r := &AdRequest{SDK: SDKInfo{Platform: IOS}, Consent: RequestConsent{PersonalizedAds: true, Location: true}, Device: map[string]json.RawMessage{
		"ids":            json.RawMessage(`{"idfa":"ABCD-1","imei":"356938035643809","serial":"X1"}`),
		"contacts":       json.RawMessage(`["mum"]`),
		"screen":         json.RawMessage(`{"w":1170,"h":2532,"dpi":460}`),
		"installed_apps": json.RawMessage(`["x"]`),
	}}
	m, err := Minimize(r, &App{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ids.idfa": "kept", "ids.imei": ReasonUndeclared, "ids.serial": ReasonUndeclared,
		"contacts": ReasonUndeclared, "screen": "kept", "screen.dpi": ReasonUndeclared, "installed_apps": ReasonUndeclared}
	got := outcome(m)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if ids := m.DeviceIDs(); len(ids) != 1 || ids[0].ID != "abcd-1" {
		t.Errorf("device ids = %+v", ids)
	}
	if string(m.Value("screen")) != `{"h":2532,"w":1170}` {
		t.Errorf("screen stored as %s", m.Value("screen"))
	}
}

func TestWrongShapesNameTheField(t *testing.T) {
	cases := []struct {
		device string
		app    string
		field  string
	}{
		{`{"screen":{"w":"wide","h":2}}`, "", "device.screen.w"},
		{`{"ids":{"oaid":42}}`, "", "device.ids.oaid"},
		{`{"ids":"oaid"}`, "", "device.ids"},
		{`{"ids":{"a.b":"x"}}`, "", "device.ids"},
		{`{"ids.oaid":"posing-as-the-id"}`, "", "device"},
		{`{"ids":{"oaid":"has space"}}`, "", "device.ids.oaid"},
		{`{"storage_total":1.5}`, "", "device.storage_total"},
		{`{"battery":"full"}`, "", "device.battery"},
		{`{"boot_time":true}`, "", "device.boot_time"},
		{`{"installed_apps":["a",1]}`, "", "device.installed_apps.1"},
		{`{"sensors":{"x":1}}`, "", "device.sensors"},
		{`{"geo":{"lat":91,"lon":0}}`, "", "device.geo.lat"},
		{`{"geo":{"lat":1,"lon":-181}}`, "", "device.geo.lon"},
		{`{"geo":[1,2]}`, "", "device.geo"},
		{`{"ip":"300.1.1.1"}`, "", "device.ip"},
		{`{"brand":["x"]}`, "", "device.brand"},
		{`{}`, `{"name":7}`, "app.name"},
		{`{}`, `"app"`, "app"},
		{`{"app":{"name":"a"}}`, `{"name":"a"}`, "device.app"},
	}
	for _, c := range cases {
		r := &AdRequest{SDK: SDKInfo{Platform: Android}}
		if err := json.Unmarshal([]byte(c.device), &r.Device); err != nil {
			t.Fatal(err)
		}
		if c.app != "" {
			r.App = json.RawMessage(c.app)
		}
		_, err := Minimize(r, &App{}, nil)
		var e *Error
		if !asError(err, &e) || e.Code != EINVALID || e.Field != c.field {
			t.Errorf("%s %s: err = %v, want invalid %s", c.device, c.app, err, c.field)
		}
	}
	for _, r := range []*AdRequest{{SDK: SDKInfo{Platform: "windows"}}, {SDK: SDKInfo{Platform: Android}, User: UserInfo{Age: new(int)}}} {
		if r.User.Age != nil {
			*r.User.Age = -1
		}
		if _, err := Minimize(r, &App{}, nil); ErrorCode(err) != EINVALID {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

func asError(err error, e **Error) bool {
	var ok bool
	*e, ok = err.(*Error)
	return ok
}

func TestNullAndZeroIDsAreAbsent(t *testing.T) {
	r := &AdRequest{SDK: SDKInfo{Platform: IOS}, Device: map[string]json.RawMessage{
		"ids":   json.RawMessage(`{"idfa":"00000000-0000-0000-0000-000000000000"}`),
		"brand": json.RawMessage(`null`),
	}}
	m, err := Minimize(r, &App{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Kept) != 0 || len(m.Dropped) != 0 {
		t.Fatalf("kept %v dropped %v: a zeroed IDFA (tracking limited) names no one", m.KeptPaths(), m.Dropped)
	}
}

func TestNormalizeDeviceID(t *testing.T) {
	cases := map[[2]string]string{
		{"mac", "AA:BB:CC:00:11:22"}: "aabbcc001122",
		{"mac", "aa-bb-cc-00-11-22"}: "aabbcc001122",
		{"oaid", " ABC "}:            "abc",
		{"gaid", "0000-0000"}:        "",
		{"mac", "00:00:00:00:00:00"}: "",
		{"imei", ""}:                 "",
	}
	for in, want := range cases {
		if got := NormalizeDeviceID(in[0], in[1]); got != want {
			t.Errorf("%v = %q, want %q", in, got, want)
		}
	}
}

func TestTruncateIPAddress(t *testing.T) {
	cases := []struct{ in, want string }{
		{"203.0.113.77", "203.0.113.0/24"},
		{"::ffff:203.0.113.77", "203.0.113.0/24"},
		{"2001:db8:abcd:12ff:1:2:3:4", "2001:db8:abcd:1200::/56"},
		{"fe80::1%eth0", "fe80::/56"},
		{"nope", ""},
		{"", ""},
	}
	for _, c := range cases {
		got, err := TruncateIPAddress(c.in)
		if (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("%q = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestCoarsenGeoRoundsNegativeCoordinates(t *testing.T) {
	cases := []struct{ in, want float64 }{
		{-33.86, -33.9}, // truncation would say -33.8: 6 km off, always to the north
		{151.21, 151.2},
		{-0.04, 0},
		{39.95, 40.0},
		{-122.06, -122.1},
	}
	for _, c := range cases {
		if got := CoarsenGeo(c.in); got != c.want || math.Signbit(got) != math.Signbit(c.want) {
			t.Errorf("CoarsenGeo(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// FuzzJSONString: the fast path for plain strings agrees with the decoder.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `"\u00e9"`, `"é"`, `""`, `"`, `"a`, `5`, ` "x" `, "\"\x01\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		got, ok := jsonString(raw)
		var want string
		wantOK := json.Unmarshal(raw, &want) == nil
		if ok != wantOK || got != want {
			t.Fatalf("jsonString(%q) = %q %v, decoder %q %v", raw, got, ok, want, wantOK)
		}
	})
}
