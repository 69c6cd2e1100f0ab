package privacy

// Platform is the SDK's operating system.
type Platform string

const (
	Android Platform = "android"
	IOS     Platform = "ios"
)

// Valid reports whether p is a platform the policy covers.
func (p Platform) Valid() bool { return p == Android || p == IOS }

// Purpose is a reason for processing, as the policy states them.
type Purpose string

const (
	PurposeFraud           Purpose = "fraud"
	PurposeAttribution     Purpose = "attribution"
	PurposeCreative        Purpose = "creative"
	PurposeLocale          Purpose = "locale_targeting"
	PurposeOS              Purpose = "os_targeting"
	PurposePersonalization Purpose = "personalization"
)

// Kind is the JSON shape a field must have; ingest rejects anything else.
type Kind string

const (
	KindString      Kind = "string"
	KindNumber      Kind = "number"
	KindInteger     Kind = "integer"
	KindScalar      Kind = "scalar" // string or number (timestamps arrive both ways)
	KindStringArray Kind = "string_array"
	KindArray       Kind = "array"
	KindObject      Kind = "object" // with Members
)

// Treatment is what must happen to a value before it is stored (R5).
type Treatment string

const (
	Keep         Treatment = ""
	Pseudonymize Treatment = "pseudonymize" // keyed hash for lookup + raw value encrypted under the subject's key
	TruncateIP   Treatment = "truncate_ip"  // IPv4 /24, IPv6 /56
	Encrypt      Treatment = "encrypt"      // personal but not an identifier: stored only encrypted
)

// Field is one row of the policy's collection table (SPEC §2). The table is
// the single source for ingest (what to keep), export (what to show),
// retention (how long) and the generated docs.
type Field struct {
	Path     string // as the SDK sends it under "device", dotted for ids
	Android  bool
	IOS      bool
	Purposes []Purpose
	Category Category
	Kind     Kind
	Members  []string // for KindObject: the allowed member names
	// MemberKind is the kind of every member of a KindObject; empty means
	// KindNumber (screen, geo). app{name,version} has string members.
	MemberKind Kind
	Sensitive  bool // sensitive personal information under PIPL (location)
	Treatment  Treatment
	Note       string // the policy's wording, for docs and exports
}

// Category groups fields for records of processing, incidents and exports.
type Category string

const (
	CatDeviceID    Category = "device_identifiers"
	CatDeviceInfo  Category = "device_information"
	CatNetwork     Category = "network_information"
	CatLocale      Category = "locale"
	CatOS          Category = "os_information"
	CatApp         Category = "app_information"
	CatAppList     Category = "installed_apps"
	CatSensors     Category = "sensor_data"
	CatLocation    Category = "precise_location"
	CatAccount     Category = "account_contact"
	CatConsent     Category = "consent_records"
	CatRequests    Category = "rights_requests"
	CatNotices     Category = "notices"
	CatSecurityLog Category = "network_security_logs"
)

var fraudAttribution = []Purpose{PurposeFraud, PurposeAttribution}

// fieldTable is the policy's table. It is unexported and returned by value
// from Fields so no caller can change the policy at run time.
var fieldTable = [...]Field{
	{Path: "ids.imei", Android: true, Purposes: fraudAttribution, Category: CatDeviceID, Kind: KindString, Treatment: Pseudonymize, Note: "IMEI"},
	{Path: "ids.oaid", Android: true, Purposes: fraudAttribution, Category: CatDeviceID, Kind: KindString, Treatment: Pseudonymize, Note: "OAID"},
	{Path: "ids.gaid", Android: true, Purposes: fraudAttribution, Category: CatDeviceID, Kind: KindString, Treatment: Pseudonymize, Note: "Google advertising ID"},
	{Path: "ids.android_id", Android: true, Purposes: fraudAttribution, Category: CatDeviceID, Kind: KindString, Treatment: Pseudonymize, Note: "Android ID"},
	{Path: "ids.idfa", IOS: true, Purposes: fraudAttribution, Category: CatDeviceID, Kind: KindString, Treatment: Pseudonymize, Note: "IDFA"},
	{Path: "brand", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatDeviceInfo, Kind: KindString, Note: "device brand"},
	{Path: "device_name", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatDeviceInfo, Kind: KindString, Treatment: Encrypt, Note: "device name"},
	{Path: "model", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatDeviceInfo, Kind: KindString, Note: "device model"},
	{Path: "ip", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatNetwork, Kind: KindString, Treatment: TruncateIP, Note: "IP address"},
	{Path: "ua", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatNetwork, Kind: KindString, Note: "user agent"},
	{Path: "wifi_ssid", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatNetwork, Kind: KindString, Treatment: Encrypt, Note: "Wi-Fi SSID"},
	{Path: "wifi_bssid", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatNetwork, Kind: KindString, Treatment: Encrypt, Note: "Wi-Fi BSSID"},
	{Path: "mac", Android: true, Purposes: fraudAttribution, Category: CatDeviceID, Kind: KindString, Treatment: Pseudonymize, Note: "MAC address"},
	{Path: "screen", Android: true, IOS: true, Purposes: []Purpose{PurposeCreative}, Category: CatDeviceInfo, Kind: KindObject, Members: []string{"w", "h"}, Note: "screen width and height"},
	{Path: "storage_total", Android: true, IOS: true, Purposes: []Purpose{PurposeCreative}, Category: CatDeviceInfo, Kind: KindInteger, Note: "total storage"},
	{Path: "storage_free", Android: true, IOS: true, Purposes: []Purpose{PurposeCreative}, Category: CatDeviceInfo, Kind: KindInteger, Note: "free storage"},
	{Path: "carrier", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatNetwork, Kind: KindString, Note: "carrier"},
	{Path: "network", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatNetwork, Kind: KindString, Note: "network type"},
	{Path: "boot_time", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatDeviceInfo, Kind: KindScalar, Note: "boot time"},
	{Path: "battery", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatDeviceInfo, Kind: KindNumber, Note: "battery level"},
	{Path: "bluetooth_name", Android: true, IOS: true, Purposes: fraudAttribution, Category: CatDeviceInfo, Kind: KindString, Treatment: Encrypt, Note: "Bluetooth name"},
	{Path: "language", Android: true, IOS: true, Purposes: []Purpose{PurposeLocale}, Category: CatLocale, Kind: KindString, Note: "language"},
	{Path: "timezone", Android: true, IOS: true, Purposes: []Purpose{PurposeLocale}, Category: CatLocale, Kind: KindString, Note: "time zone"},
	{Path: "country", Android: true, IOS: true, Purposes: []Purpose{PurposeLocale}, Category: CatLocale, Kind: KindString, Note: "country"},
	{Path: "os_version", Android: true, IOS: true, Purposes: []Purpose{PurposeOS}, Category: CatOS, Kind: KindString, Note: "OS version"},
	{Path: "os_update_time", Android: true, IOS: true, Purposes: []Purpose{PurposeOS}, Category: CatOS, Kind: KindScalar, Note: "OS update time"},
	{Path: "app", Android: true, IOS: true, Purposes: []Purpose{PurposeAttribution}, Category: CatApp, Kind: KindObject, Members: []string{"name", "version"}, MemberKind: KindString, Note: "app name and version"},
	{Path: "installed_apps", Android: true, Purposes: []Purpose{PurposeAttribution, PurposePersonalization}, Category: CatAppList, Kind: KindStringArray, Treatment: Encrypt, Note: "installed app list"},
	{Path: "sensors", Android: true, IOS: true, Purposes: []Purpose{PurposeFraud, PurposePersonalization}, Category: CatSensors, Kind: KindArray, Note: "sensor information"},
	{Path: "geo", Android: true, IOS: true, Purposes: []Purpose{PurposeFraud, PurposePersonalization}, Category: CatLocation, Kind: KindObject, Members: []string{"lat", "lon", "accuracy"}, Sensitive: true, Treatment: Encrypt, Note: "geographic location (sensitive)"},
}

// Fields returns the policy's field table in policy order. The slice is a
// fresh copy.
func Fields() []Field {
	out := make([]Field, len(fieldTable))
	copy(out, fieldTable[:])
	return out
}

// FieldByPath returns the table row for path.
func FieldByPath(path string) (Field, bool) {
	for _, f := range fieldTable {
		if f.Path == path {
			return f, true
		}
	}
	return Field{}, false
}

// On reports whether the policy lets the field be collected on p (R1).
func (f Field) On(p Platform) bool {
	switch p {
	case Android:
		return f.Android
	case IOS:
		return f.IOS
	}
	return false
}

// Serves reports whether the field is collected for purpose p.
func (f Field) Serves(p Purpose) bool {
	for _, q := range f.Purposes {
		if q == p {
			return true
		}
	}
	return false
}

// IsDeviceID reports whether the field identifies a device (it names a
// subject and is pseudonymized at rest).
func (f Field) IsDeviceID() bool { return f.Category == CatDeviceID }
