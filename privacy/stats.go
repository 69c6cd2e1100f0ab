package privacy

import (
	"regexp"
	"strings"
	"time"
)

// De-identified statistics (R8): counts of ad requests per app, country,
// OS and day. A cell holds no subject key, record id or anything finer
// than a day, so it stays when the records it counted are deleted.

// StatsK is the k-anonymity threshold: a cell counting fewer than StatsK
// requests is not shown, because a small count can single a person out
// (the only user of an app in a country on a day). The policy gives no
// number; 10 is the common floor for published aggregates.
const StatsK = 10

// StatsCell is one cell.
type StatsCell struct {
	Day          string `json:"day"` // YYYY-MM-DD, UTC
	AppID        string `json:"app_id"`
	Country      string `json:"country"`
	OS           string `json:"os"`
	Requests     int64  `json:"requests"`
	Personalized *int64 `json:"personalized"` // nil when shown it would allow differencing
}

var statsCountry = regexp.MustCompile(`^[A-Z]{2,3}$`)

// StatsCountry is the country a request is counted under: what the device
// reported, normalised; its residency region when it reported nothing;
// "ZZ" (unknown) for anything that is not a country code, so a free-text
// value can never become a cell of its own.
func StatsCountry(reported, region string) string {
	c := strings.ToUpper(strings.TrimSpace(reported))
	if c == "" {
		c = strings.ToUpper(region)
	}
	if c == "CHN" {
		c = RegionCN
	}
	if !statsCountry.MatchString(c) {
		return "ZZ"
	}
	return c
}

// StatsDay is the UTC day a time is counted under.
func StatsDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// SuppressCells returns the cells that may be shown and how many were
// withheld: a cell under k requests is withheld; a shown cell's
// personalized count is withheld (nil) when it or its complement is under
// k, because "3 of 40 requests were personalized" (or "0 of 40") tells
// what the few — or all — in the group chose.
func SuppressCells(cells []StatsCell, k int64) (shown []StatsCell, withheld int) {
	shown = make([]StatsCell, 0, len(cells))
	for _, c := range cells {
		if c.Requests < k {
			withheld++
			continue
		}
		if p := c.Personalized; p != nil && (*p < k || c.Requests-*p < k) {
			c.Personalized = nil
		}
		shown = append(shown, c)
	}
	return shown, withheld
}
