package calendar

import (
	"errors"
	"testing"
	"time"

	"github.com/6tail/lunar-go/HolidayUtil"
)

// Expected values come from the published holiday arrangements, not from this
// package, and each listed day is also checked against the raw HolidayUtil
// entry so a data change in lunar-go is reported as such.

func shanghaiTime(t *testing.T, c *Calendar, y int, m time.Month, d, hour int) time.Time {
	t.Helper()
	return time.Date(y, m, d, hour, 0, 0, 0, c.Location())
}

func endOfDay(c *Calendar, y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 23, 59, 59, 999999999, c.Location())
}

// libraryWorking is an independent oracle built on HolidayUtil.GetHoliday, the
// library's per-day lookup, rather than on the snapshot taken by New.
func libraryWorking(d time.Time) bool {
	if h := HolidayUtil.GetHoliday(d.Format(time.DateOnly)); h != nil {
		return h.IsWork()
	}
	return d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
}

func TestIsWorkingDay(t *testing.T) {
	c := New()
	tests := []struct {
		name    string
		y       int
		m       time.Month
		d       int
		want    bool
		listed  bool // the library must list the day as holiday/make-up
		weekday time.Weekday
	}{
		{"New Year's Day 2025", 2025, time.January, 1, false, true, time.Wednesday},
		{"make-up Sunday before Spring Festival 2025", 2025, time.January, 26, true, true, time.Sunday},
		{"Spring Festival 2025", 2025, time.January, 29, false, true, time.Wednesday},
		{"ordinary Saturday", 2025, time.March, 8, false, false, time.Saturday},
		{"ordinary Monday", 2025, time.March, 10, true, false, time.Monday},
		{"make-up Sunday before National Day 2025", 2025, time.September, 28, true, true, time.Sunday},
		{"National Day 2025 first day", 2025, time.October, 1, false, true, time.Wednesday},
		{"National Day 2025 last day", 2025, time.October, 8, false, true, time.Wednesday},
		{"first working day after National Day 2025", 2025, time.October, 9, true, false, time.Thursday},
		{"make-up Saturday after National Day 2025", 2025, time.October, 11, true, true, time.Saturday},
		{"make-up Saturday before Spring Festival 2026", 2026, time.February, 14, true, true, time.Saturday},
		{"Spring Festival 2026 Monday", 2026, time.February, 16, false, true, time.Monday},
		{"make-up Saturday after Spring Festival 2026", 2026, time.February, 28, true, true, time.Saturday},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			day := shanghaiTime(t, c, tt.y, tt.m, tt.d, 12)
			if got := day.Weekday(); got != tt.weekday {
				t.Fatalf("test data: %s is a %v, not %v", day.Format(time.DateOnly), got, tt.weekday)
			}
			h := HolidayUtil.GetHoliday(day.Format(time.DateOnly))
			if (h != nil) != tt.listed || (h != nil && h.IsWork() != tt.want) {
				t.Fatalf("lunar-go disagrees with the official arrangement for %s: %v", day.Format(time.DateOnly), h)
			}
			got, err := c.IsWorkingDay(day)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("IsWorkingDay(%s) = %v, want %v", day.Format(time.DateOnly), got, tt.want)
			}
		})
	}
}

func TestAddWorkingDays(t *testing.T) {
	c := New()
	tests := []struct {
		name string
		from time.Time
		n    int
		want time.Time
	}{
		// 09-27 Sat off, 09-28 Sun make-up (1), 09-29/30 (2,3), 10-01..08 off,
		// 10-09/10 (4,5), 10-11 Sat make-up (6), 10-13..17 (7-11), 10-20..23 (12-15).
		{"15 days across National Day 2025", shanghaiTime(t, c, 2025, time.September, 26, 10), 15, endOfDay(c, 2025, time.October, 23)},
		{"start hour does not matter", time.Date(2025, time.September, 26, 0, 0, 0, 0, c.Location()), 15, endOfDay(c, 2025, time.October, 23)},
		{"late evening still counts from that day", time.Date(2025, time.September, 26, 23, 59, 59, 0, c.Location()), 15, endOfDay(c, 2025, time.October, 23)},
		{"next working day is a make-up Sunday", shanghaiTime(t, c, 2025, time.September, 26, 10), 1, endOfDay(c, 2025, time.September, 28)},
		{"skips the whole holiday week", shanghaiTime(t, c, 2025, time.September, 30, 10), 1, endOfDay(c, 2025, time.October, 9)},
		{"make-up Saturday then Spring Festival 2026", shanghaiTime(t, c, 2026, time.February, 13, 10), 2, endOfDay(c, 2026, time.February, 24)},
		{"across a covered year boundary", shanghaiTime(t, c, 2025, time.December, 31, 10), 3, endOfDay(c, 2026, time.January, 6)},
		{"ordinary week", shanghaiTime(t, c, 2025, time.March, 7, 10), 5, endOfDay(c, 2025, time.March, 14)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.AddWorkingDays(tt.from, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) || got.Location() != c.Location() {
				t.Errorf("AddWorkingDays(%v, %d) = %v, want %v", tt.from, tt.n, got, tt.want)
			}
		})
	}

	for _, n := range []int{0, -1} {
		if _, err := c.AddWorkingDays(shanghaiTime(t, c, 2025, time.March, 7, 10), n); err == nil {
			t.Errorf("AddWorkingDays(n=%d) succeeded, want error", n)
		}
	}
}

func TestShanghaiDayBoundary(t *testing.T) {
	c := New()
	// 20:00Z on Friday 26 September is 04:00 on Saturday 27 September in
	// Shanghai; judging by the UTC date would call it a working Friday.
	sat := time.Date(2025, time.September, 26, 20, 0, 0, 0, time.UTC)
	if ok, err := c.IsWorkingDay(sat); err != nil || ok {
		t.Errorf("IsWorkingDay(%v) = %v, %v; want false (Saturday in Shanghai)", sat, ok, err)
	}
	fri := time.Date(2025, time.September, 26, 15, 59, 0, 0, time.UTC) // 23:59 Friday in Shanghai
	if ok, err := c.IsWorkingDay(fri); err != nil || !ok {
		t.Errorf("IsWorkingDay(%v) = %v, %v; want true (Friday in Shanghai)", fri, ok, err)
	}

	// 20:00Z on Thursday 25 September is already Friday 26 in Shanghai, so the
	// first working day after it is the make-up Sunday, not Friday.
	got, err := c.AddWorkingDays(time.Date(2025, time.September, 25, 20, 0, 0, 0, time.UTC), 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := endOfDay(c, 2025, time.September, 28); !got.Equal(want) {
		t.Errorf("deadline = %v, want %v", got, want)
	}
	if want := time.Date(2025, time.September, 28, 15, 59, 59, 999999999, time.UTC); !got.Equal(want) {
		t.Errorf("deadline = %v, want %v in UTC", got, want)
	}
}

func TestWorkingDaysBetween(t *testing.T) {
	c := New()
	tests := []struct {
		name     string
		from, to time.Time
		want     int
	}{
		{"inverse of the National Day deadline", shanghaiTime(t, c, 2025, time.September, 26, 10), endOfDay(c, 2025, time.October, 23), 15},
		{"to's day counts, from's does not", shanghaiTime(t, c, 2025, time.September, 26, 10), shanghaiTime(t, c, 2025, time.September, 28, 0), 1},
		{"only holidays in between", shanghaiTime(t, c, 2025, time.September, 30, 10), endOfDay(c, 2025, time.October, 8), 0},
		{"same day", shanghaiTime(t, c, 2025, time.March, 10, 9), shanghaiTime(t, c, 2025, time.March, 10, 18), 0},
		{"to before from", shanghaiTime(t, c, 2025, time.March, 14, 9), shanghaiTime(t, c, 2025, time.March, 10, 9), 0},
		{"to before from, far outside the data", time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		// Officially announced totals: 251 working days in 2024, 248 in 2025.
		{"whole year 2024", shanghaiTime(t, c, 2023, time.December, 31, 12), shanghaiTime(t, c, 2024, time.December, 31, 12), 251},
		{"whole year 2025", shanghaiTime(t, c, 2024, time.December, 31, 12), shanghaiTime(t, c, 2025, time.December, 31, 12), 248},
		{"Shanghai dates, not UTC", time.Date(2025, time.September, 25, 17, 0, 0, 0, time.UTC), time.Date(2025, time.September, 26, 12, 0, 0, 0, time.UTC), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.WorkingDaysBetween(tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("WorkingDaysBetween(%v, %v) = %d, want %d", tt.from, tt.to, got, tt.want)
			}
		})
	}
}

func TestYears(t *testing.T) {
	c := New()
	first, last := c.Years()
	// 2001 appears in the data only through make-up days for New Year 2002.
	if first != 2002 {
		t.Errorf("first covered year = %d, want 2002", first)
	}
	if last < 2026 {
		t.Errorf("last covered year = %d, want at least 2026", last)
	}
	for y := first; y <= last; y++ {
		if HolidayUtil.GetHolidaysByYear(y).Len() == 0 {
			t.Errorf("year %d reported as covered but lunar-go lists no holidays in it", y)
		}
	}
	if HolidayUtil.GetHolidaysByYear(last+1).Len() != 0 {
		t.Errorf("lunar-go has entries in %d but Years() ends at %d", last+1, last)
	}
}

func TestNoHolidayData(t *testing.T) {
	c := New()
	first, last := c.Years()
	tests := []struct {
		name     string
		call     func() error
		wantYear int
	}{
		{"IsWorkingDay in 2040", func() error {
			_, err := c.IsWorkingDay(time.Date(2040, time.March, 7, 12, 0, 0, 0, c.Location()))
			return err
		}, 2040},
		{"IsWorkingDay in the year after the data", func() error {
			_, err := c.IsWorkingDay(time.Date(last+1, time.March, 7, 12, 0, 0, 0, c.Location()))
			return err
		}, last + 1},
		{"IsWorkingDay before the data", func() error {
			_, err := c.IsWorkingDay(time.Date(first-1, time.June, 1, 12, 0, 0, 0, c.Location()))
			return err
		}, first - 1},
		{"IsWorkingDay on 29 December of the last year", func() error {
			_, err := c.IsWorkingDay(time.Date(last, time.December, 29, 12, 0, 0, 0, c.Location()))
			return err
		}, last + 1},
		{"AddWorkingDays into the year after the data", func() error {
			_, err := c.AddWorkingDays(time.Date(last, time.December, 20, 12, 0, 0, 0, c.Location()), 15)
			return err
		}, last + 1},
		{"AddWorkingDays from 2039 into 2040", func() error {
			_, err := c.AddWorkingDays(time.Date(2039, time.December, 30, 12, 0, 0, 0, c.Location()), 15)
			return err
		}, 2039},
		{"WorkingDaysBetween into the year after the data", func() error {
			_, err := c.WorkingDaysBetween(time.Date(last, time.December, 1, 12, 0, 0, 0, c.Location()),
				time.Date(last+1, time.January, 31, 12, 0, 0, 0, c.Location()))
			return err
		}, last + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, ErrNoHolidayData) {
				t.Fatalf("err = %v, want ErrNoHolidayData", err)
			}
			var nd *NoDataError
			if !errors.As(err, &nd) || nd.Year != tt.wantYear {
				t.Fatalf("err = %#v, want *NoDataError for %d", err, tt.wantYear)
			}
		})
	}

	err := &NoDataError{Year: 2031}
	if want := "calendar: no holiday data for 2031; update github.com/6tail/lunar-go"; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}

	// The day before the New Year spill window is still answerable.
	if _, err := c.IsWorkingDay(time.Date(last, time.December, 28, 12, 0, 0, 0, c.Location())); err != nil {
		t.Errorf("28 December %d: %v", last, err)
	}
}

// TestMatchesLibrary re-checks every answerable day against the library so a
// lunar-go upgrade that changes the data format or ordering is caught.
func TestMatchesLibrary(t *testing.T) {
	c := New()
	first, last := c.Years()
	end := time.Date(last, time.December, earliestNewYearSpill, 0, 0, 0, 0, time.UTC)
	for d := time.Date(first, time.January, 1, 0, 0, 0, 0, time.UTC); d.Before(end); d = d.AddDate(0, 0, 1) {
		got, err := c.IsWorkingDay(time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, c.Location()))
		if err != nil {
			t.Fatalf("%s: %v", d.Format(time.DateOnly), err)
		}
		if want := libraryWorking(d); got != want {
			t.Errorf("%s: IsWorkingDay = %v, library says %v", d.Format(time.DateOnly), got, want)
		}
	}
}

// TestRoundTrip checks that WorkingDaysBetween inverts AddWorkingDays and that
// every deadline lands on a working day.
func TestRoundTrip(t *testing.T) {
	c := New()
	for d := time.Date(2024, time.January, 1, 9, 0, 0, 0, c.Location()); d.Year() < 2026; d = d.AddDate(0, 0, 3) {
		for _, n := range []int{1, 5, 15, 30} {
			deadline, err := c.AddWorkingDays(d, n)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := c.IsWorkingDay(deadline); err != nil || !ok {
				t.Errorf("deadline %v for %v+%d is not a working day", deadline, d, n)
			}
			if got, err := c.WorkingDaysBetween(d, deadline); err != nil || got != n {
				t.Errorf("WorkingDaysBetween(%v, %v) = %d, %v; want %d", d, deadline, got, err, n)
			}
			if got, _ := c.WorkingDaysBetween(d, deadline.AddDate(0, 0, -1)); got != n-1 {
				t.Errorf("deadline %v for %v+%d is not the earliest one", deadline, d, n)
			}
		}
	}
}

func TestLocation(t *testing.T) {
	loc := New().Location()
	if loc.String() != "Asia/Shanghai" {
		t.Errorf("Location() = %q, want Asia/Shanghai", loc)
	}
	if _, off := time.Date(2025, 7, 1, 0, 0, 0, 0, loc).Zone(); off != 8*3600 {
		t.Errorf("offset = %d, want 28800", off)
	}
}

func BenchmarkAddWorkingDays15(b *testing.B) {
	c := New()
	from := time.Date(2025, time.September, 26, 10, 0, 0, 0, c.Location())
	for b.Loop() {
		if _, err := c.AddWorkingDays(from, 15); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		New()
	}
}
