package deadlines_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/notices"
	"github.com/veil-privacy/veil/privacy/calendar"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"

	"github.com/veil-privacy/veil/tests/testclock"
)

func warnings(t *testing.T, p *veiltest.Probe, id string) []string {
	t.Helper()
	set, err := notices.Load()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range p.Events("", id) {
		if e.Type() != events.NotificationRequested {
			out = append(out, e.Type())
			continue
		}
		n, err := events.Decode[events.NotificationData](e)
		if err != nil {
			t.Fatal(err)
		}
		if n.To != "privacy-team@veil.example" {
			continue
		}
		// notify renders it later; a missing variable must fail here.
		if _, err := set.Render(n.Template, n.Lang, n.Vars); err != nil {
			t.Fatalf("%s does not render: %v", n.Template, err)
		}
		out = append(out, n.Template+" "+n.Vars["days_left"]+n.Vars["due_date"])
	}
	return out
}

var shanghai = time.FixedZone("CST", 8*3600)

// sameSet compares as multisets: an event and its notification are
// delivered independently, in either order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestRemindersAndEscalationsHappenOnce(t *testing.T) {
	c := testclock.At(time.Date(2025, 9, 26, 10, 0, 0, 0, shanghai))
	p := &veiltest.Probe{Types: []string{events.RequestDueSoon, events.RequestOverdue, events.NotificationRequested}} // stands in for audit and notify
	s := veiltest.Start(t, map[string]string{"VEIL_FUNCTIONS": "requests,ingest,deadlines"},
		suite.WithClock(c.Now), suite.WithFunction(p.Function))
	var app map[string]string
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "Demo", "platform": "android",
		"developer_email": "dev@example.com", "discloses_sdk": true}), 201, &app)
	file := func(typ, device string) string {
		var out struct{ ID string }
		s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": typ, "subject": map[string]string{"device": device}},
			"X-Veil-App-Key", app["app_key"]), 202, &out)
		return out.ID
	}
	tick := func(at time.Time) {
		c.Set(at)
		s.Must(s.Ops("POST", "/v1/schedules/deadlines", nil), 202, nil)
		s.Idle(10 * time.Second)
	}
	copyID := file("copy", "device:oaid:dl-0001-aaaa")           // due Thu 2025-10-23
	complaintID := file("complaint", "device:oaid:dl-0002-bbbb") // due Sat 2025-10-11
	closedID := file("delete", "device:oaid:dl-0003-cccc")
	s.Must(s.Ops("POST", "/v1/requests/"+closedID+"/refuse", map[string]string{"reason": "legal_obligation"}), 200, nil)

	steps := []struct {
		name      string
		at        time.Time
		copy      []string
		complaint []string
	}{
		// Working days left on Mon 2025-09-29: for the copy, 30 Sep, 9–11 Oct
		// (11th a make-up Saturday), 13–17, 20–23 = 13; for the complaint,
		// due Sat 11 Oct, 30 Sep and 9–11 Oct = 4, though it has 12
		// calendar days: the team has four days of work to answer it.
		{"copy on time, complaint due soon", time.Date(2025, 9, 29, 9, 0, 0, 0, shanghai), nil,
			[]string{events.RequestDueSoon, "request_duesoon 42025-10-11"}},
		// 2025-10-14: working days left for the copy are 15–17 and 20–23.
		{"seven working days left; the complaint is overdue", time.Date(2025, 10, 14, 9, 0, 0, 0, shanghai), nil,
			[]string{events.RequestOverdue, "request_overdue 2025-10-11"}},
		{"five working days left", time.Date(2025, 10, 16, 9, 0, 0, 0, shanghai),
			[]string{events.RequestDueSoon, "request_duesoon 52025-10-23"}, nil},
		{"the same tick again", time.Date(2025, 10, 16, 9, 5, 0, 0, shanghai), nil, nil},
		{"the due day", time.Date(2025, 10, 23, 18, 0, 0, 0, shanghai), nil, nil},
		{"a minute after the due date", time.Date(2025, 10, 24, 0, 1, 0, 0, shanghai),
			[]string{events.RequestOverdue, "request_overdue 2025-10-23"}, nil},
		{"and a day later", time.Date(2025, 10, 25, 0, 1, 0, 0, shanghai), nil, nil},
	}
	var wantCopy, wantComplaint []string
	for _, st := range steps {
		tick(st.at)
		wantCopy, wantComplaint = append(wantCopy, st.copy...), append(wantComplaint, st.complaint...)
		if got := warnings(t, p, copyID); !sameSet(got, wantCopy) {
			t.Fatalf("%s: copy warnings %v, want %v", st.name, got, wantCopy)
		}
		if got := warnings(t, p, complaintID); !sameSet(got, wantComplaint) {
			t.Fatalf("%s: complaint warnings %v, want %v", st.name, got, wantComplaint)
		}
		if got := warnings(t, p, closedID); len(got) != 0 {
			t.Fatalf("%s: a refused request was chased: %v", st.name, got)
		}
	}
	// Another job's tick is not ours.
	c.Set(time.Date(2025, 10, 30, 0, 0, 0, 0, shanghai))
	s.Must(s.Ops("POST", "/v1/schedules/retention", nil), 202, nil)
	s.Idle(10 * time.Second)
}

func TestRequestWithoutHolidayDataIsEscalatedNotGuessed(t *testing.T) {
	_, last := calendar.New().Years()
	c := testclock.At(time.Date(last+1, time.March, 2, 10, 0, 0, 0, shanghai))
	p := &veiltest.Probe{Types: []string{events.RequestDueSoon, events.RequestOverdue, events.NotificationRequested}} // stands in for audit and notify
	s := veiltest.Start(t, map[string]string{"VEIL_FUNCTIONS": "requests,ingest,deadlines"},
		suite.WithClock(c.Now), suite.WithFunction(p.Function))
	var app map[string]string
	s.Must(s.Ops("POST", "/v1/apps", map[string]any{"name": "Demo", "platform": "ios",
		"developer_email": "dev@example.com", "discloses_sdk": true}), 201, &app)
	var out struct{ ID, Status string }
	s.Must(s.Do("POST", "/v1/requests", map[string]any{"type": "copy", "subject": map[string]string{"device": "device:idfa:nodata-0001"}},
		"X-Veil-App-Key", app["app_key"]), 202, &out)
	var v struct {
		Status   string     `json:"status"`
		DueAt    *time.Time `json:"due_at"`
		DueError string     `json:"due_error"`
	}
	s.Must(s.Ops("GET", "/v1/requests/"+out.ID, nil), 200, &v)
	if v.Status != "verified" || v.DueAt != nil || !strings.Contains(v.DueError, "no holiday data") {
		t.Fatalf("a request past the calendar's data must stay verified without a guessed due date: %+v", v)
	}
	if !strings.Contains(s.Logs.String(), "has no due date") {
		t.Fatal("the missing due date was not logged as an error")
	}
	for range 2 {
		s.Must(s.Ops("POST", "/v1/schedules/deadlines", nil), 202, nil)
		s.Idle(10 * time.Second)
	}
	if got := warnings(t, p, out.ID); len(got) != 1 || !strings.HasPrefix(got[0], "request_due_unknown") {
		t.Fatalf("escalations %v, want one request_due_unknown", got)
	}
}
