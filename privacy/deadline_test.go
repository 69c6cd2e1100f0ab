package privacy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/privacy/calendar"
)

// Expected dates are counted by hand from the State Council's published
// holiday arrangements (2025 National Day: 1–8 Oct off, Sun 28 Sep and
// Sat 11 Oct worked; 2026 Spring Festival: 15–23 Feb off, Sat 14 Feb and
// Sat 28 Feb worked), not produced by the code under test.
func TestDueDate(t *testing.T) {
	cal := calendar.New()
	sh := cal.Location()
	at := func(y int, m time.Month, d, h int, loc *time.Location) time.Time {
		return time.Date(y, m, d, h, 0, 0, 0, loc)
	}
	end := func(y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, 23, 59, 59, 999999999, sh)
	}
	tests := []struct {
		name     string
		typ      privacy.RequestType
		verified time.Time
		want     time.Time
	}{
		{"copy across National Day 2025", privacy.ReqCopy, at(2025, 9, 26, 10, sh), end(2025, 10, 23)},
		{"every right has the same period", privacy.ReqDelete, at(2025, 9, 26, 18, sh), end(2025, 10, 23)},
		// 01:00 in Shanghai on 29 Sep is still 28 Sep in UTC; the Shanghai
		// date decides: 30 Sep, 9–11 Oct, 13–17, 20–24, 27 Oct.
		{"the Shanghai date counts, not the UTC one", privacy.ReqAccess, at(2025, 9, 28, 17, time.UTC), end(2025, 10, 27)},
		// 14 Feb (Sat, worked), 24–27 Feb, 28 Feb (Sat, worked), 2–6 Mar, 9–12 Mar.
		{"working Saturdays around Spring Festival 2026", privacy.ReqPortability, at(2026, 2, 13, 9, sh), end(2026, 3, 12)},
		{"ordinary weeks", privacy.ReqWithdrawConsent, at(2025, 3, 3, 9, sh), end(2025, 3, 24)},
		{"complaints count calendar days", privacy.ReqComplaint, at(2025, 9, 26, 10, sh), end(2025, 10, 11)},
		{"appeals count calendar days, holidays included", privacy.ReqAppeal, at(2025, 9, 30, 23, sh), end(2025, 10, 15)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := privacy.DueDate(cal, tt.typ, tt.verified)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("DueDate(%s, %v) = %v, want %v", tt.typ, tt.verified, got, tt.want)
			}
		})
	}
}

func TestDueDateRefusesToGuess(t *testing.T) {
	cal := calendar.New()
	_, last := cal.Years()
	verified := time.Date(last+1, time.March, 2, 10, 0, 0, 0, cal.Location())
	if _, err := privacy.DueDate(cal, privacy.ReqCopy, verified); !errors.Is(err, calendar.ErrNoHolidayData) {
		t.Fatalf("a year without holiday data must be an error, got %v", err)
	}
	// A complaint's period is in calendar days and needs no holiday data.
	if _, err := privacy.DueDate(cal, privacy.ReqComplaint, verified); err != nil {
		t.Fatalf("complaint due date: %v", err)
	}
	if _, err := privacy.DueDate(cal, "", verified); privacy.ErrorCode(err) != privacy.EINVALID {
		t.Fatalf("an unclassified request has no due date, got %v", err)
	}
	if _, err := privacy.DueDate(cal, privacy.ReqCopy, time.Time{}); privacy.ErrorCode(err) != privacy.EINVALID {
		t.Fatalf("an unverified request has no due date, got %v", err)
	}
}

func TestUrgencyAt(t *testing.T) {
	cal := calendar.New()
	sh := cal.Location()
	due := time.Date(2025, 10, 23, 23, 59, 59, 999999999, sh) // Thursday
	tests := []struct {
		name string
		now  time.Time
		want privacy.Urgency
		left int
	}{
		// Working days after 14 Oct up to 23 Oct: 15–17, 20–23.
		{"seven working days left", time.Date(2025, 10, 14, 9, 0, 0, 0, sh), privacy.OnTime, 7},
		// After 16 Oct: 17, 20, 21, 22, 23.
		{"five working days left", time.Date(2025, 10, 16, 9, 0, 0, 0, sh), privacy.DueSoon, 5},
		{"the due day itself", time.Date(2025, 10, 23, 20, 0, 0, 0, sh), privacy.DueSoon, 0},
		{"a second late", due.Add(time.Second), privacy.Overdue, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, left, err := privacy.UrgencyAt(cal, tt.now, due)
			if err != nil {
				t.Fatal(err)
			}
			if u != tt.want || left != tt.left {
				t.Errorf("UrgencyAt(%v) = %v, %d; want %v, %d", tt.now, u, left, tt.want, tt.left)
			}
		})
	}
}
