package calendar

import (
	"errors"
	"fmt"
	"time"

	// Embedded so that Asia/Shanghai resolves even in scratch/distroless
	// images without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/6tail/lunar-go/HolidayUtil"
)

const (
	// Bounds of the scan for years with holiday data. 1949 predates any
	// possible data; the upper bound leaves lunar-go room for decades of
	// updates while keeping New cheap.
	scanFirstYear = 1949
	scanLastYear  = 2199

	// earliestNewYearSpill is the first December day whose status can depend
	// on the next year's New Year arrangement. A three-day New Year break
	// joined to a weekend reaches back at most to 29 December (make-up working
	// day on 2007-12-29 and 2018-12-29, day off on 2017-12-30 and 2023-12-30).
	earliestNewYearSpill = 29

	endOfDayNanos = int(time.Second - time.Nanosecond)
)

// ErrNoHolidayData matches, via errors.Is, every error caused by a date whose
// year has no holiday arrangement in the library.
var ErrNoHolidayData = errors.New("calendar: no holiday data")

// NoDataError reports the year whose holiday arrangement is missing. It is
// returned instead of a weekends-only guess so callers cannot miss it.
type NoDataError struct {
	Year int
}

func (e *NoDataError) Error() string {
	return fmt.Sprintf("calendar: no holiday data for %d; update github.com/6tail/lunar-go", e.Year)
}

// Is lets callers test with errors.Is(err, ErrNoHolidayData) without knowing
// the year.
func (e *NoDataError) Is(target error) bool { return target == ErrNoHolidayData }

// Calendar answers working-day questions for mainland China. Build it with New.
type Calendar struct {
	loc *time.Location
	// first and last bound the contiguous run of covered years; both are 0 if
	// the library has no data at all, which makes every query fail.
	first, last int
	// days maps yyyymmdd to true for make-up working days and false for
	// holidays. A snapshot, because HolidayUtil.Fix can rewrite the library's
	// global data at run time and is not safe for concurrent use.
	days map[int]bool
}

// New returns the mainland-China calendar in Asia/Shanghai. It panics if the
// lunar-go data can no longer be parsed, which can only follow a library
// upgrade and is caught by this package's tests.
func New() *Calendar {
	c := &Calendar{loc: shanghai(), days: make(map[int]bool)}
	covered := make(map[int]bool)
	for y := scanFirstYear; y <= scanLastYear; y++ {
		for e := HolidayUtil.GetHolidaysByYear(y).Front(); e != nil; e = e.Next() {
			h := e.Value.(*HolidayUtil.Holiday)
			key := dayKey(mustParseDay(h.GetDay()))
			// GetHoliday returns the first entry of a day; keep the same one.
			if _, seen := c.days[key]; !seen {
				c.days[key] = h.IsWork()
			}
			// Coverage follows the holiday an entry belongs to, not the day it
			// falls on: 2001-12-29 is in the data only as a make-up day for New
			// Year 2002, which says nothing about the rest of 2001.
			covered[mustParseDay(h.GetTarget()).Year()] = true
		}
	}
	// Only a contiguous run is trusted: a hole would mean a year of weekend
	// guesses between covered ones.
	for y := scanFirstYear; y <= scanLastYear+1; y++ {
		if covered[y] {
			if c.first == 0 {
				c.first = y
			}
			c.last = y
		} else if c.first != 0 {
			break
		}
	}
	return c
}

func shanghai() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	// China has had no DST since 1991, so a fixed offset is exact for any
	// date the holiday data covers.
	return time.FixedZone("CST", 8*3600)
}

func mustParseDay(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(fmt.Sprintf("calendar: unexpected lunar-go holiday date %q: %v", s, err))
	}
	return d
}

func dayKey(d time.Time) int {
	y, m, dd := d.Date()
	return y*10000 + int(m)*100 + dd
}

// Location returns Asia/Shanghai, the zone in which dates are judged.
func (c *Calendar) Location() *time.Location { return c.loc }

// Years returns the first and last year with holiday data (0, 0 if none).
// 29–31 December of the last year still fail until the next year is added,
// because the next New Year holiday may claim them.
func (c *Calendar) Years() (first, last int) { return c.first, c.last }

// IsWorkingDay reports whether the Shanghai date of t is a working day.
func (c *Calendar) IsWorkingDay(t time.Time) (bool, error) {
	return c.isWorking(c.dateOf(t))
}

// AddWorkingDays returns the deadline n working days after t: the last
// nanosecond, Shanghai time, of the n-th working day after t's Shanghai date.
// The day of t never counts, however early t is, because a period counted in
// days starts on the following day. n must be at least 1.
func (c *Calendar) AddWorkingDays(t time.Time, n int) (time.Time, error) {
	if n < 1 {
		return time.Time{}, fmt.Errorf("calendar: AddWorkingDays needs n >= 1, got %d", n)
	}
	d := c.dateOf(t)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		ok, err := c.isWorking(d)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			n--
		}
	}
	y, m, dd := d.Date()
	return time.Date(y, m, dd, 23, 59, 59, endOfDayNanos, c.loc), nil
}

// WorkingDaysBetween counts the working days after from's Shanghai date up to
// and including to's Shanghai date, so it inverts AddWorkingDays. It is 0 when
// to's date is not after from's. Only the counted days need holiday data.
func (c *Calendar) WorkingDaysBetween(from, to time.Time) (int, error) {
	last := c.dateOf(to)
	count := 0
	for d := c.dateOf(from).AddDate(0, 0, 1); !d.After(last); d = d.AddDate(0, 0, 1) {
		ok, err := c.isWorking(d)
		if err != nil {
			return 0, err
		}
		if ok {
			count++
		}
	}
	return count, nil
}

// dateOf returns t's Shanghai calendar date as midnight UTC, so that stepping
// with AddDate is pure date arithmetic.
func (c *Calendar) dateOf(t time.Time) time.Time {
	y, m, d := t.In(c.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (c *Calendar) isWorking(d time.Time) (bool, error) {
	y, m, dd := d.Date()
	switch {
	case c.first == 0 || y < c.first || y > c.last:
		return false, &NoDataError{Year: y}
	case y == c.last && m == time.December && dd >= earliestNewYearSpill:
		return false, &NoDataError{Year: y + 1}
	}
	if work, listed := c.days[dayKey(d)]; listed {
		return work, nil
	}
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday, nil
}
