package privacy

import (
	"strings"
	"testing"
	"time"
)

func TestRetentionDefaultsAreComplete(t *testing.T) {
	r := DefaultRetention()
	if err := r.Check(); err != nil {
		t.Fatalf("defaults break a rule: %v", err)
	}
	for _, name := range RetentionClassNames() {
		c, ok := r.Class(name)
		switch {
		case !ok:
			t.Errorf("%s: no row", name)
		case c.Period <= 0 || c.Period < c.Min:
			t.Errorf("%s: period %v under its floor %v", name, c.Period, c.Min)
		case c.Action != RetainDelete && c.Action != RetainAnonymize:
			t.Errorf("%s: action %q", name, c.Action)
		case c.From == "" || c.Basis == "":
			t.Errorf("%s: says neither when the period starts nor why", name)
		}
	}
	if c, _ := r.Class(ClassNetworkSecurityLogs); c.Period < 180*Day {
		t.Errorf("network logs kept %v; the law says at least six months", c.Period)
	}
	if (Retention{}).Period(ClassExports) != r.Period(ClassExports) {
		t.Error("the zero policy must read as the defaults")
	}
}

func TestRetentionWith(t *testing.T) {
	cases := []struct {
		name   string
		class  string
		period time.Duration
		field  string // empty: accepted
	}{
		{"longer ad requests", ClassAdRequests, 365 * Day, ""},
		{"hours", ClassExports, 48 * time.Hour, ""},
		{"logs a year", ClassNetworkSecurityLogs, 365 * Day, ""},
		{"logs under six months", ClassNetworkSecurityLogs, 179 * Day, ClassNetworkSecurityLogs},
		{"logs longer than audit", ClassNetworkSecurityLogs, 4 * 365 * Day, ClassAudit},
		{"audit under its floor", ClassAudit, 30 * Day, ClassAudit},
		{"zero", ClassExports, 0, ClassExports},
		{"negative", ClassExports, -Day, ClassExports},
		{"over the ceiling", ClassRequests, MaxRetention + Day, ClassRequests},
		{"unknown class", "cookies", Day, "cookies"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := DefaultRetention()
			r, err := base.With(c.class, c.period)
			if err == nil {
				err = r.Check()
			}
			if c.field == "" {
				if err != nil || r.Period(c.class) != c.period {
					t.Fatalf("got %v, %v", r.Period(c.class), err)
				}
				if base.Period(c.class) == c.period {
					t.Fatal("With changed its receiver")
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Field != c.field {
				t.Fatalf("error %v does not name %s", err, c.field)
			}
		})
	}
}

func TestParseRetention(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration // 0: refused
	}{
		{"365d", 365 * Day},
		{"8760h", 8760 * time.Hour},
		{"1d", Day},
		{"36500d", MaxRetention},
		{"36501d", 0},
		{"876001h", 0},
		{"2700000h", 0}, // overflowed a Duration before the bound check
		{"0d", 0},
		{"007d", 0},
		{"-5d", 0},
		{"+5d", 0},
		{"5", 0},
		{"d", 0},
		{"", 0},
		{"5 d", 0},
		{" 5d", 0},
		{"5D", 0},
		{"1.5d", 0},
		{"5m", 0},
		{"1d12h", 0},
		{"99999999d", 0},
		{"٣d", 0}, // Arabic-Indic digit
	}
	for _, c := range cases {
		got, err := ParseRetention(c.in)
		if c.want == 0 {
			if err == nil || ErrorCode(err) != EINVALID {
				t.Errorf("%q: accepted as %v", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestFormatRetentionRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{Day, 180 * Day, 36 * time.Hour, MaxRetention} {
		got, err := ParseRetention(FormatRetention(d))
		if err != nil || got != d {
			t.Errorf("%v → %q → %v, %v", d, FormatRetention(d), got, err)
		}
	}
	if v := RetentionVar(ClassNetworkSecurityLogs); v != "VEIL_RETENTION_NETWORK_SECURITY_LOGS" {
		t.Errorf("variable %s", v)
	}
}

// FuzzParseRetention checks the parser never panics, accepts only what it
// can print back identically (so there is exactly one spelling per
// accepted value), and never returns a period outside the bounds.
func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"365d", "8760h", "0d", "-1h", "1d12h", "99999999h", "", "1.5d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseRetention(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q", s)
			}
			return
		}
		if d <= 0 || d > MaxRetention {
			t.Fatalf("%q → %v out of bounds", s, d)
		}
		if back := FormatRetention(d); back != s && !(strings.HasSuffix(s, "h") && d%Day == 0) {
			t.Fatalf("%q → %v → %q", s, d, back)
		}
	})
}
