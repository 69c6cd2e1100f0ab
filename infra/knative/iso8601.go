package knative

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// ParseISODuration parses an ISO-8601 duration as Knative's delivery spec
// takes it (PT1S, PT0.5S, PT2M, P1DT12H): 'P', optional years, months,
// weeks and days, then 'T' and optional hours, minutes and seconds; each
// number may have a decimal fraction. Years and months have no fixed
// length, so they count as 365 and 30 days; nothing Veil configures uses
// them. Negative durations are refused.
func ParseISODuration(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("ISO-8601 duration %q: %s", s, why)
	}
	if len(s) < 3 || s[0] != 'P' {
		return bad("must start with P and name at least one part, as in PT1S")
	}
	const day = 24 * time.Hour
	dateUnits := []struct {
		u byte
		d time.Duration
	}{{'Y', 365 * day}, {'M', 30 * day}, {'W', 7 * day}, {'D', day}}
	timeUnits := []struct {
		u byte
		d time.Duration
	}{{'H', time.Hour}, {'M', time.Minute}, {'S', time.Second}}
	var total float64
	rest := s[1:]
	parts := 0
	inTime := false
	next := 0 // index of the first unit still allowed, so order is enforced
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return bad("T appears twice")
			}
			inTime, next = true, 0
			rest = rest[1:]
			if rest == "" {
				return bad("T must be followed by hours, minutes or seconds")
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.' || rest[i] == ',') {
			i++
		}
		if i == 0 || i == len(rest) {
			return bad("each part is a number followed by a unit letter")
		}
		num := rest[:i]
		if num[0] == '.' || num[0] == ',' || num[len(num)-1] == '.' || num[len(num)-1] == ',' {
			return bad("a fraction needs digits on both sides")
		}
		n, err := strconv.ParseFloat(replaceComma(num), 64)
		if err != nil {
			return bad("bad number " + num)
		}
		unit := rest[i]
		units := dateUnits
		if inTime {
			units = timeUnits
		}
		found := false
		for k := next; k < len(units); k++ {
			if units[k].u == unit {
				total += n * float64(units[k].d)
				next, found = k+1, true
				break
			}
		}
		if !found {
			return bad(fmt.Sprintf("unit %q out of place (order is Y M W D, then T H M S)", unit))
		}
		parts++
		rest = rest[i+1:]
	}
	if parts == 0 {
		return bad("no parts")
	}
	// float64(MaxInt64) rounds up to 2^63, which no Duration holds: equal
	// is too long as well (found by FuzzParseISODuration).
	if total >= math.MaxInt64 {
		return bad("too long")
	}
	return time.Duration(total), nil
}

func replaceComma(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == ',' {
			b[i] = '.'
		}
	}
	return string(b)
}
