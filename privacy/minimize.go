package privacy

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// AdRequest is the SDK's ad-request body (SPEC §5). The envelope is decoded
// strictly; device values stay raw until Minimize has checked each one
// against the field table, because only the table says what they may be.
type AdRequest struct {
	SDK     SDKInfo                    `json:"sdk"`
	App     json.RawMessage            `json:"app,omitempty"`
	User    UserInfo                   `json:"user"`
	Consent RequestConsent             `json:"consent"`
	Device  map[string]json.RawMessage `json:"device"`
}

// SDKInfo says which SDK build sent the request.
type SDKInfo struct {
	Platform Platform `json:"platform"`
	Version  string   `json:"version"`
}

// UserInfo is what the app knows about its user.
type UserInfo struct {
	Age *int `json:"age,omitempty"`
}

// MaxAge bounds user.age; anything above is an SDK bug, not a person.
const MaxAge = 150

// KeptField is one value that minimization kept, in its stored form:
// compact JSON, ids normalised, IP already truncated.
type KeptField struct {
	Field Field
	Value json.RawMessage
	// IDType and ID are set for device ids: the subject type and the
	// normalised id that names the device (ParseSubject's form).
	IDType, ID string
}

// Dropped is one field not kept, and why (SPEC §5 response shape).
type Dropped struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Minimized is the outcome of minimizing one request.
type Minimized struct {
	Platform     Platform
	Personalized bool
	Consent      Effective
	Kept         []KeptField // in table order
	Dropped      []Dropped   // sorted by field
	Purposes     []Purpose   // of the kept fields, in policy order
}

// KeptPaths lists the kept fields' table paths.
func (m *Minimized) KeptPaths() []string {
	out := make([]string, len(m.Kept))
	for i, k := range m.Kept {
		out[i] = k.Field.Path
	}
	return out
}

// Value returns the kept value at path, or nil.
func (m *Minimized) Value(path string) json.RawMessage {
	for _, k := range m.Kept {
		if k.Field.Path == path {
			return k.Value
		}
	}
	return nil
}

// DeviceIDs returns the kept device ids in PrimaryIDOrder.
func (m *Minimized) DeviceIDs() []KeptField {
	var out []KeptField
	for _, t := range PrimaryIDOrder {
		for _, k := range m.Kept {
			if k.IDType == t {
				out = append(out, k)
			}
		}
	}
	return out
}

// PrimaryIDOrder decides which of a device's ids its records are filed
// under when none is linked yet: the resettable advertising ids first
// (they are what users see and reset), the hardware ids last.
var PrimaryIDOrder = []string{"oaid", "gaid", "idfa", "android_id", "imei", "mac"}

// Check validates the envelope: the platform and the user's age. Device
// values are checked by Minimize.
func (r *AdRequest) Check() error {
	if !r.SDK.Platform.Valid() {
		return FieldError("sdk.platform", "must be android or ios")
	}
	if len(r.SDK.Version) > 64 {
		return FieldError("sdk.version", "at most 64 characters")
	}
	if a := r.User.Age; a != nil && (*a < 0 || *a > MaxAge) {
		return FieldError("user.age", "must be a whole number from 0 to %d", MaxAge)
	}
	return nil
}

// Inspected is a request whose every declared value has been type-checked
// and put in stored form, before consent is applied. Device ids are known
// at this point, so the caller can look up what the registry holds for
// them and then call Minimize.
type Inspected struct {
	Platform Platform
	req      *AdRequest
	values   []KeptField // declared for the platform, in table order
	dropped  []Dropped   // undeclared
}

// Inspect checks a request against the field table: the envelope, every
// value the platform declares (a declared field of the wrong shape is a
// 400 naming it, even when consent would drop it, so an SDK bug shows up
// whatever the user chose), and lists what the table does not declare for
// the platform (R1). Undeclared values are not inspected at all.
func Inspect(r *AdRequest) (*Inspected, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	in := &Inspected{Platform: r.SDK.Platform, req: r}

	// The table's paths are relative to "device"; the contract puts app at
	// the top level, where it is the table's "app" row.
	values := make(map[string]json.RawMessage, len(r.Device)+4)
	inputName := make(map[string]string, len(r.Device)+4)
	for k, v := range r.Device {
		switch {
		case k == "ids":
		case strings.Contains(k, "."):
			// Paths are dotted, so a dotted name could pose as another
			// field ("ids.oaid" beside ids{oaid}) in the report.
			return nil, FieldError("device", "field names may not contain dots")
		default:
			values[k], inputName[k] = v, "device."+k
		}
	}
	if len(r.App) > 0 && !isNull(r.App) {
		if _, both := values["app"]; both {
			return nil, FieldError("device.app", "app is sent once, at the top level")
		}
		values["app"], inputName["app"] = r.App, "app"
	}
	if raw, ok := r.Device["ids"]; ok && !isNull(raw) {
		var ids map[string]json.RawMessage
		if kindOf(raw) != '{' || json.Unmarshal(raw, &ids) != nil {
			return nil, FieldError("device.ids", "must be an object of device ids")
		}
		for k, v := range ids {
			if strings.Contains(k, ".") {
				return nil, FieldError("device.ids", "id names may not contain dots")
			}
			values["ids."+k], inputName["ids."+k] = v, "device.ids."+k
		}
	}

	for _, f := range fieldTable {
		raw, ok := values[f.Path]
		if !ok {
			continue
		}
		delete(values, f.Path)
		if isNull(raw) {
			continue // absent, as far as the policy is concerned
		}
		if !f.On(in.Platform) {
			in.dropped = append(in.dropped, Dropped{Field: f.Path, Reason: ReasonUndeclared})
			continue
		}
		kept, unknown, err := checkValue(f, inputName[f.Path], raw)
		if err != nil {
			return nil, err
		}
		for _, u := range unknown {
			in.dropped = append(in.dropped, Dropped{Field: f.Path + "." + u, Reason: ReasonUndeclared})
		}
		if kept.Value != nil { // nil: an id that names nothing (empty, all zeros)
			in.values = append(in.values, kept)
		}
	}
	for path := range values { // not in the table at all
		in.dropped = append(in.dropped, Dropped{Field: path, Reason: ReasonUndeclared})
	}
	return in, nil
}

// DeviceIDs returns the request's usable device ids in PrimaryIDOrder.
// Ids are never consent-gated, so these are the ids a minimized record
// keeps.
func (in *Inspected) DeviceIDs() []KeptField {
	var out []KeptField
	for _, t := range PrimaryIDOrder {
		for _, k := range in.values {
			if k.IDType == t {
				out = append(out, k)
			}
		}
	}
	return out
}

// Country is the country the device reports ("" when it does not).
func (in *Inspected) Country() string {
	for _, k := range in.values {
		if k.Field.Path == "country" {
			s, _ := jsonString(k.Value)
			return s
		}
	}
	return ""
}

// Minimize applies consent to an inspected request (R2–R4): the request's
// flags and the registry's record (nil when none), the stricter winning,
// with the minors' rule for app. Every field not kept is reported once,
// with the strongest reason (see Stronger).
func (in *Inspected) Minimize(app *App, recorded *Consent) *Minimized {
	r := in.req
	eff := Evaluate(r.Consent, r.User.Age, app != nil && app.ChildDirected, recorded)
	m := &Minimized{Platform: in.Platform, Consent: eff, Personalized: eff.Personalized,
		Kept: make([]KeptField, 0, len(in.values)), Dropped: make([]Dropped, 0, len(in.dropped)+4)}
	m.Dropped = append(m.Dropped, in.dropped...)
	for _, k := range in.values {
		if reason := eff.DropReason(k.Field); reason != "" {
			m.Dropped = append(m.Dropped, Dropped{Field: k.Field.Path, Reason: reason})
			continue
		}
		m.Kept = append(m.Kept, k)
	}
	sort.Slice(m.Dropped, func(i, j int) bool { return m.Dropped[i].Field < m.Dropped[j].Field })
	for _, pu := range []Purpose{PurposeFraud, PurposeAttribution, PurposeCreative, PurposeLocale, PurposeOS, PurposePersonalization} {
		for _, k := range m.Kept {
			if k.Field.Serves(pu) {
				m.Purposes = append(m.Purposes, pu)
				break
			}
		}
	}
	return m
}

// Minimize is Inspect then Minimize, for callers that already hold the
// registry's record.
func Minimize(r *AdRequest, app *App, recorded *Consent) (*Minimized, error) {
	in, err := Inspect(r)
	if err != nil {
		return nil, err
	}
	return in.Minimize(app, recorded), nil
}

// checkValue type-checks raw against f's kind and returns it in stored
// form, with the names of undeclared members of an object (dropped, not an
// error: R1 drops what the table does not declare).
func checkValue(f Field, name string, raw json.RawMessage) (KeptField, []string, error) {
	k := KeptField{Field: f}
	bad := func(want string) (KeptField, []string, error) {
		return KeptField{}, nil, FieldError(name, "must be %s", want)
	}
	switch f.Kind {
	case KindString:
		s, ok := jsonString(raw)
		if !ok {
			return bad("a string")
		}
		switch {
		case f.IsDeviceID():
			typ := DeviceIDType(f.Path)
			id := NormalizeDeviceID(typ, s)
			if id == "" {
				return k, nil, nil
			}
			subj, err := DeviceSubject(typ, id)
			if err != nil {
				return KeptField{}, nil, FieldError(name, "not a usable device id: 1–128 characters without spaces")
			}
			k.IDType, k.ID = typ, subj.Value
			k.Value, _ = json.Marshal(s) // raw as sent: it is sealed, and an export shows what was collected
		case f.Treatment == TruncateIP:
			t, err := TruncateIPAddress(s)
			if err != nil {
				return KeptField{}, nil, FieldError(name, "must be an IPv4 or IPv6 address")
			}
			k.Value, _ = json.Marshal(t)
		default:
			k.Value, _ = json.Marshal(s)
		}
	case KindNumber:
		if _, ok := jsonNumber(raw); !ok {
			return bad("a number")
		}
		k.Value = compact(raw)
	case KindInteger:
		if !jsonInteger(raw) {
			return bad("a whole number")
		}
		k.Value = compact(raw)
	case KindScalar:
		if _, ok := jsonNumber(raw); !ok {
			if _, ok := jsonString(raw); !ok {
				return bad("a string or a number")
			}
		}
		k.Value = compact(raw)
	case KindStringArray:
		var a []json.RawMessage
		if kindOf(raw) != '[' || json.Unmarshal(raw, &a) != nil {
			return bad("an array of strings")
		}
		for i, e := range a {
			if _, ok := jsonString(e); !ok {
				return KeptField{}, nil, FieldError(name+"."+strconv.Itoa(i), "must be a string")
			}
		}
		k.Value = compact(raw)
	case KindArray:
		if kindOf(raw) != '[' {
			return bad("an array")
		}
		k.Value = compact(raw)
	case KindObject:
		var obj map[string]json.RawMessage
		if kindOf(raw) != '{' || json.Unmarshal(raw, &obj) != nil {
			return bad("an object")
		}
		out := map[string]any{}
		var unknown []string
		for member, v := range obj {
			if !slices.Contains(f.Members, member) {
				unknown = append(unknown, member)
				continue
			}
			if isNull(v) {
				continue
			}
			if f.MemberKind == KindString {
				s, ok := jsonString(v)
				if !ok {
					return KeptField{}, nil, FieldError(name+"."+member, "must be a string")
				}
				out[member] = s
				continue
			}
			n, ok := jsonNumber(v)
			if !ok {
				return KeptField{}, nil, FieldError(name+"."+member, "must be a number")
			}
			if err := checkRange(f.Path+"."+member, name+"."+member, n); err != nil {
				return KeptField{}, nil, err
			}
			out[member] = json.Number(compact(v))
		}
		sort.Strings(unknown)
		if len(out) == 0 {
			return k, unknown, nil
		}
		k.Value, _ = json.Marshal(out)
		return k, unknown, nil
	default:
		return bad("a value of kind " + string(f.Kind))
	}
	return k, nil, nil
}

// checkRange rejects values no device can report, so nonsense never
// reaches storage or statistics.
func checkRange(path, name string, v float64) error {
	lo, hi := math.Inf(-1), math.Inf(1)
	switch path {
	case "geo.lat":
		lo, hi = -90, 90
	case "geo.lon":
		lo, hi = -180, 180
	case "geo.accuracy":
		lo = 0
	case "screen.w", "screen.h":
		lo, hi = 0, 1<<20
	}
	if v < lo || v > hi {
		if math.IsInf(hi, 1) {
			return FieldError(name, "must be at least %g", lo)
		}
		return FieldError(name, "must be from %g to %g", lo, hi)
	}
	return nil
}

// NormalizeDeviceID puts a device id in the form subjects use: lower case,
// no separators in MAC addresses. An empty or all-zero id (what the OS
// reports when the user limited ad tracking) names no device: "" is
// returned, so millions of such devices are not merged into one subject.
func NormalizeDeviceID(idType, id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if idType == "mac" {
		id = strings.NewReplacer(":", "", "-", "", ".", "").Replace(id)
	}
	if strings.Trim(id, "0-:.") == "" {
		return ""
	}
	return id
}

// TruncateIPAddress keeps the network part of an address: IPv4 /24, IPv6
// /56 (R5). IPv4-mapped IPv6 addresses are treated as IPv4.
func TruncateIPAddress(s string) (string, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return "", err
	}
	a = a.Unmap().WithZone("")
	bits := 56
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// GeoDecimals is the precision of coarse geo (about 11 km): enough for
// city-level statistics and partner feeds (R7, R8), not enough to find a
// home.
const GeoDecimals = 1

// CoarsenGeo rounds a coordinate to GeoDecimals. It rounds, never
// truncates: truncation moves every negative coordinate the same way (east
// and north), which biases southern and western positions.
func CoarsenGeo(v float64) float64 {
	scale := math.Pow(10, GeoDecimals)
	r := math.Round(v*scale) / scale
	if r == 0 {
		return 0 // no "-0" in output
	}
	return r
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// kindOf returns the first byte of a JSON value: '{', '[', '"', 't', 'f',
// 'n', or a number's first character.
func kindOf(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	// Most values are plain ASCII or UTF-8 without escapes: no need for
	// the decoder (the body already parsed as JSON).
	plain := raw[len(raw)-1] == '"'
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func jsonNumber(raw json.RawMessage) (float64, bool) {
	c := kindOf(raw)
	if c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func jsonInteger(raw json.RawMessage) bool {
	f, ok := jsonNumber(raw)
	if !ok {
		return false
	}
	if _, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64); err == nil {
		return true
	}
	return f == math.Trunc(f) && math.Abs(f) < 1<<53
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return b.Bytes()
}
