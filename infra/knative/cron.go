package knative

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cron is a parsed five-field cron schedule (minute hour day-of-month
// month day-of-week), the syntax PingSource accepts: numbers, names
// (JAN–DEC, SUN–SAT), *, ranges a-b, steps */n and a-b/n, lists, and the
// @hourly-style descriptors. Day-of-week 7 is Sunday, as in Vixie cron.
type Cron struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
	// Location is set when the schedule itself names one (CRON_TZ=… or
	// TZ=… prefix); otherwise the PingSource's timezone applies.
	Location *time.Location
}

type cronField struct {
	min, max int
	names    []string // names[i] stands for min+i
}

func cronFields() []cronField {
	return []cronField{
		{0, 59, nil},
		{0, 23, nil},
		{1, 31, nil},
		{1, 12, []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
		{0, 7, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
	}
}

// ParseCron parses spec.
func ParseCron(spec string) (*Cron, error) {
	c := &Cron{}
	s := strings.TrimSpace(spec)
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if strings.HasPrefix(s, prefix) {
			tz, rest, ok := strings.Cut(s[len(prefix):], " ")
			if !ok {
				return nil, fmt.Errorf("cron %q: a time zone prefix must be followed by the schedule", spec)
			}
			loc, err := time.LoadLocation(tz)
			if err != nil {
				return nil, fmt.Errorf("cron %q: %w", spec, err)
			}
			c.Location, s = loc, strings.TrimSpace(rest)
		}
	}
	switch s {
	case "@yearly", "@annually":
		s = "0 0 1 1 *"
	case "@monthly":
		s = "0 0 1 * *"
	case "@weekly":
		s = "0 0 * * 0"
	case "@daily", "@midnight":
		s = "0 0 * * *"
	case "@hourly":
		s = "0 * * * *"
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), found %d", spec, len(fields))
	}
	defs := cronFields()
	out := []*uint64{&c.minute, &c.hour, &c.dom, &c.month, &c.dow}
	for i, f := range fields {
		bits, err := parseCronField(f, defs[i])
		if err != nil {
			return nil, fmt.Errorf("cron %q: field %d (%s): %w", spec, i+1, f, err)
		}
		*out[i] = bits
	}
	if c.dow&(1<<7) != 0 {
		c.dow = c.dow&^(1<<7) | 1
	}
	c.domStar = fields[2] == "*" || fields[2] == "?"
	c.dowStar = fields[4] == "*" || fields[4] == "?"
	return c, nil
}

func parseCronField(f string, def cronField) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(f, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q is not a positive number", stepStr)
			}
			step = n
		}
		lo, hi := def.min, def.max
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = cronValue(a, def); err != nil {
				return 0, err
			}
			if hi, err = cronValue(b, def); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %s runs backwards", rng)
			}
		default:
			v, err := cronValue(rng, def)
			if err != nil {
				return 0, err
			}
			lo = v
			if hasStep {
				hi = def.max // "5/15" means from 5 to the end, every 15
			} else {
				hi = v
			}
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func cronValue(s string, def cronField) (int, error) {
	for i, n := range def.names {
		if strings.EqualFold(s, n) {
			return def.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < def.min || v > def.max {
		return 0, fmt.Errorf("%d is outside %d-%d", v, def.min, def.max)
	}
	return v, nil
}

func (c *Cron) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow // both restricted: either one matches, as in cron
}

// Next returns the first time after t (in t's location) that the schedule
// fires, or the zero time if it never does within five years (such as
// 30 February).
func (c *Cron) Next(t time.Time) time.Time {
	t = t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		prev := t
		switch {
		case c.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, t.Location())
		case !c.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
		case c.hour&(1<<uint(t.Hour())) == 0:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, t.Location())
		case c.minute&(1<<uint(t.Minute())) == 0:
			t = t.Add(time.Minute)
		default:
			return t
		}
		if !t.After(prev) {
			// A daylight-saving gap can normalise a jump back onto
			// itself; step past it instead of looping.
			t = prev.Add(time.Minute)
		}
	}
	return time.Time{}
}
