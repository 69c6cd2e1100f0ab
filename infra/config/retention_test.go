package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

func TestRetentionOverrides(t *testing.T) {
	cases := []struct {
		name    string
		vars    map[string]string
		badVar  string // empty: accepted
		class   string
		want    time.Duration
		message string // part of the error
	}{
		{name: "defaults", class: privacy.ClassNetworkSecurityLogs, want: 180 * privacy.Day},
		{name: "days", vars: map[string]string{"VEIL_RETENTION_AD_REQUESTS": "365d"}, class: privacy.ClassAdRequests, want: 365 * privacy.Day},
		{name: "hours", vars: map[string]string{"VEIL_RETENTION_EXPORTS": "48h"}, class: privacy.ClassExports, want: 48 * time.Hour},
		{name: "logs under six months", vars: map[string]string{"VEIL_RETENTION_NETWORK_SECURITY_LOGS": "90d"},
			badVar: "VEIL_RETENTION_NETWORK_SECURITY_LOGS", message: "at least 180d"},
		{name: "logs in hours under six months", vars: map[string]string{"VEIL_RETENTION_NETWORK_SECURITY_LOGS": "4319h"},
			badVar: "VEIL_RETENTION_NETWORK_SECURITY_LOGS"},
		{name: "loose syntax", vars: map[string]string{"VEIL_RETENTION_CONSENTS": "3 years"}, badVar: "VEIL_RETENTION_CONSENTS"},
		{name: "go duration", vars: map[string]string{"VEIL_RETENTION_CONSENTS": "1h30m"}, badVar: "VEIL_RETENTION_CONSENTS"},
		{name: "logs raised above audit", vars: map[string]string{"VEIL_RETENTION_NETWORK_SECURITY_LOGS": "4000d"}, badVar: "VEIL_RETENTION_NETWORK_SECURITY_LOGS", message: "VEIL_RETENTION_AUDIT"},
		{name: "audit lowered under logs", vars: map[string]string{"VEIL_RETENTION_NETWORK_SECURITY_LOGS": "400d", "VEIL_RETENTION_AUDIT": "300d"}, badVar: "VEIL_RETENTION_AUDIT"},
		{name: "both raised together", vars: map[string]string{"VEIL_RETENTION_NETWORK_SECURITY_LOGS": "4000d", "VEIL_RETENTION_AUDIT": "4000d"},
			class: privacy.ClassAudit, want: 4000 * privacy.Day},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(func(k string) string { return c.vars[k] })
			if c.badVar != "" {
				var ce *Error
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.badVar+":") || !strings.Contains(err.Error(), c.message) {
					t.Fatalf("error %v does not name %s (%q)", err, c.badVar, c.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := cfg.Retention()
			if err != nil || p.Period(c.class) != c.want {
				t.Fatalf("%s: %v, %v; want %v", c.class, p.Period(c.class), err, c.want)
			}
		})
	}
}

func TestRetentionOfHandBuiltConfig(t *testing.T) {
	_, err := Config{RetentionOverrides: map[string]time.Duration{privacy.ClassNetworkSecurityLogs: privacy.Day}}.Retention()
	if err == nil || !strings.Contains(err.Error(), "VEIL_RETENTION_NETWORK_SECURITY_LOGS") {
		t.Fatalf("want the variable named, got %v", err)
	}
	p, err := Config{}.Retention()
	if err != nil || p.Period(privacy.ClassExports) != 7*privacy.Day {
		t.Fatalf("zero config: %v %v", p.Period(privacy.ClassExports), err)
	}
}

func TestAllowCrossBorder(t *testing.T) {
	cases := []struct {
		v    string
		want bool
		bad  bool
	}{{"", false, false}, {"true", true, false}, {"false", false, false}, {"yes please", false, true}}
	for _, c := range cases {
		cfg, err := Load(func(k string) string {
			if k == "VEIL_ALLOW_CROSS_BORDER" {
				return c.v
			}
			return ""
		})
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), "VEIL_ALLOW_CROSS_BORDER:") {
				t.Errorf("%q: %v", c.v, err)
			}
			continue
		}
		if err != nil || cfg.AllowCrossBorder != c.want {
			t.Errorf("%q: %v %v", c.v, cfg.AllowCrossBorder, err)
		}
	}
}

// FuzzRetentionOverride feeds arbitrary values to every retention variable:
// Load must never panic, and whatever it accepts must be a policy that
// keeps network logs at least six months.
func FuzzRetentionOverride(f *testing.F) {
	f.Add(uint8(0), "365d")
	f.Add(uint8(5), "179d")
	f.Add(uint8(6), "2700000h")
	f.Add(uint8(3), "")
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		names := privacy.RetentionClassNames()
		name := privacy.RetentionVar(names[int(which)%len(names)])
		cfg, err := Load(func(k string) string {
			if k == name {
				return v
			}
			return ""
		})
		if err != nil {
			if !strings.Contains(err.Error(), name+":") {
				t.Fatalf("error %v does not name %s", err, name)
			}
			return
		}
		p, err := cfg.Retention()
		if err != nil {
			t.Fatalf("Load accepted %s=%q but the policy is invalid: %v", name, v, err)
		}
		if p.Period(privacy.ClassNetworkSecurityLogs) < privacy.MinNetworkLogRetention {
			t.Fatalf("%s=%q shortened network logs to %v", name, v, p.Period(privacy.ClassNetworkSecurityLogs))
		}
	})
}
