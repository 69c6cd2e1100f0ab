// Package calendar is the mainland-China working-day calendar used to compute
// statutory deadlines such as "15 working days" (SPEC §3). It does no I/O.
//
// # Rules
//
// A date is judged in Asia/Shanghai, whatever zone the caller's time.Time
// carries, because the law counts days as lived in mainland China.
//
//  1. A date listed in the State Council holiday arrangement as a make-up
//     working day (调休上班, usually a Saturday or Sunday) is a working day.
//  2. A date listed as part of a statutory holiday is not a working day.
//  3. Any other date is a working day from Monday to Friday and not on
//     Saturday or Sunday.
//
// The arrangement is taken from github.com/6tail/lunar-go (HolidayUtil). The
// State Council publishes each year's arrangement only a few weeks before the
// year starts, so rule 3 alone is a guess for any later year. A guessed
// deadline is a legal risk, so the calendar refuses: a date in a year the
// library has no arrangement for yields a *NoDataError (errors.Is
// ErrNoHolidayData) naming that year. A year counts as covered when the library
// holds holiday entries belonging to that year's holidays; the covered years
// are computed once in New and reported by Calendar.Years.
//
// The New Year holiday of one year can reach back into the last days of
// December of the year before (e.g. 2023-12-30/31 were days off for New Year
// 2024, 2018-12-29 was a make-up working day for New Year 2019). So 29–31
// December of the last covered year are also refused, with an error naming the
// following year, until that year's arrangement is in the library.
//
// # Yearly update
//
// Every year, usually in November, the State Council (国务院办公厅) publishes
// the next year's holiday arrangement and lunar-go releases a version with it
// (e.g. v1.4.7 added 2027). When that happens:
//
//  1. go get github.com/6tail/lunar-go@latest
//  2. go test ./privacy/calendar/ — TestMatchesLibrary re-checks every covered
//     day against the library, and Calendar.Years must now end in the new year.
//  3. Spot-check the new year against the official notice (gov.cn) and add its
//     make-up working days to the table in calendar_test.go.
//
// Until then, deadlines that would run into the unpublished year fail loudly
// rather than silently using weekends only.
//
// A Calendar snapshots the library data in New and is immutable afterwards, so
// it is safe for concurrent use; build one and share it, as New scans the
// whole data set.
package calendar
