package privacy

import "strings"

// Region of collected data. Veil serves the mainland-China market, so data
// is CN unless the device reports another country (R6).
const RegionCN = "CN"

// RegionOf maps a device's reported country to a residency region.
func RegionOf(country string) string {
	c := strings.ToUpper(strings.TrimSpace(country))
	if c == "" || c == "CN" || c == "CHN" {
		return RegionCN
	}
	return c
}

// InMainland reports whether a backend location is in mainland China.
// Locations are declared by configuration: cloud region names
// ("cn-north-1", "cn-shanghai", "asia-east2" is NOT mainland) or
// "cn-local" for an embedded install on a host in China.
func InMainland(location string) bool {
	l := strings.ToLower(location)
	return strings.HasPrefix(l, "cn-") || strings.HasPrefix(l, "cn:") || l == "cn"
}

// CheckResidency fails closed when personal data of region would be
// written to location without recorded cross-border consent (R6).
func CheckResidency(region, location string, crossBorderConsent bool) error {
	if region != RegionCN || InMainland(location) || crossBorderConsent {
		return nil
	}
	return Errorf(ERESIDENCY, "personal data collected in mainland China may not be stored in %q without cross-border consent", location)
}
