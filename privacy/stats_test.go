package privacy

import (
	"testing"
	"time"
)

func TestStatsCountry(t *testing.T) {
	for _, c := range []struct{ reported, region, want string }{
		{"cn", "CN", "CN"}, {"CHN", "CN", "CN"}, {"", "CN", "CN"}, {" us ", "US", "US"},
		{"Narnia", "NARNIA", "ZZ"}, {"1", "1", "ZZ"}, {"", "", "ZZ"},
	} {
		if got := StatsCountry(c.reported, c.region); got != c.want {
			t.Errorf("StatsCountry(%q, %q) = %q, want %q", c.reported, c.region, got, c.want)
		}
	}
	if d := StatsDay(time.Date(2026, 11, 28, 23, 30, 0, 0, time.FixedZone("CST", -8*3600))); d != "2026-11-29" {
		t.Errorf("day %s: days are UTC", d)
	}
}

func TestSuppressCells(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	cells := []StatsCell{
		{AppID: "small", Requests: 9, Personalized: n(5)},
		{AppID: "k", Requests: 10, Personalized: n(0)},
		{AppID: "mixed", Requests: 40, Personalized: n(20)},
		{AppID: "few-off", Requests: 40, Personalized: n(33)},
		{AppID: "few-on", Requests: 40, Personalized: n(3)},
	}
	shown, withheld := SuppressCells(cells, StatsK)
	if withheld != 1 || len(shown) != 4 {
		t.Fatalf("shown %d, withheld %d", len(shown), withheld)
	}
	want := map[string]*int64{"k": nil, "mixed": n(20), "few-off": nil, "few-on": nil}
	for _, c := range shown {
		w := want[c.AppID]
		if (w == nil) != (c.Personalized == nil) || (w != nil && *w != *c.Personalized) {
			t.Errorf("%s: personalized %v, want %v", c.AppID, c.Personalized, w)
		}
	}
	if cells[1].Personalized == nil {
		t.Error("the caller's cells were changed")
	}
}
