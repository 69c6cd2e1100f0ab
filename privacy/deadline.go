package privacy

import (
	"fmt"
	"time"
)

// Periods the policy promises (section 六). The copy is promised within 15
// working days (R9); the same period is applied to every other right, so that
// a person is never told two different clocks for one mailbox. Complaints are
// promised an answer within 15 days (R15), which the policy counts in calendar
// days; an appeal of an automated decision (R16) is a complaint about a
// decision and gets the same period.
const (
	RightsWorkingDays   = 15
	ComplaintDays       = 15
	ReminderWorkingDays = 5 // the privacy team is warned this many working days before a due date
)

// WorkingCalendar is the part of privacy/calendar the deadline rules need;
// an interface so the domain stays free of the holiday data.
type WorkingCalendar interface {
	AddWorkingDays(t time.Time, n int) (time.Time, error)
	WorkingDaysBetween(from, to time.Time) (int, error)
	Location() *time.Location
}

// DueDate is when a request of type t, verified at verified, must be
// answered: the end of the last day of its period, judged in the calendar's
// zone (Asia/Shanghai). Like AddWorkingDays, the period starts on the day
// after verification. A calendar without holiday data for the period is an
// error: a weekends-only guess could promise a date after the legal one.
func DueDate(cal WorkingCalendar, t RequestType, verified time.Time) (time.Time, error) {
	switch {
	case !t.Valid():
		return time.Time{}, Errorf(EINVALID, "a request needs a known type before it has a due date")
	case verified.IsZero():
		return time.Time{}, Errorf(EINVALID, "a request has no due date before its identity is verified")
	case t.Reviewed():
		loc := cal.Location()
		y, m, d := verified.In(loc).Date()
		return time.Date(y, m, d+ComplaintDays, 23, 59, 59, int(time.Second-time.Nanosecond), loc), nil
	}
	due, err := cal.AddWorkingDays(verified, RightsWorkingDays)
	if err != nil {
		return time.Time{}, fmt.Errorf("due date of a %s request verified on %s: %w",
			t, verified.In(cal.Location()).Format(time.DateOnly), err)
	}
	return due, nil
}

// Urgency is where an open request stands against its due date.
type Urgency int

const (
	OnTime  Urgency = iota // more than ReminderWorkingDays working days left
	DueSoon                // ReminderWorkingDays or fewer working days left
	Overdue                // the due date has passed
)

// UrgencyAt classifies a due date at now, with the number of working days
// left (0 once overdue). It needs holiday data only for the days it counts.
func UrgencyAt(cal WorkingCalendar, now, due time.Time) (Urgency, int, error) {
	if now.After(due) {
		return Overdue, 0, nil
	}
	left, err := cal.WorkingDaysBetween(now, due)
	if err != nil {
		return OnTime, 0, err
	}
	if left <= ReminderWorkingDays {
		return DueSoon, left, nil
	}
	return OnTime, left, nil
}
