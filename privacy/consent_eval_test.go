package privacy

import (
	"slices"
	"testing"
	"time"
)

func TestStrongerReason(t *testing.T) {
	order := []string{ReasonUndeclared, ReasonMinor, ReasonWithdrawn, ReasonNoLocationConsent, ReasonPersonalizationOff}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j < i {
				want = b
			}
			if got := Stronger(a, b); got != want {
				t.Errorf("Stronger(%s, %s) = %s", a, b, got)
			}
		}
		if Stronger("", a) != a || Stronger(a, "") != a {
			t.Errorf("no reason is weaker than %s", a)
		}
	}
}

func TestMergeConsentsFalseWins(t *testing.T) {
	yes, no := true, false
	a := &Consent{Purposes: map[string]bool{ConsentPersonalizedAds: true, ConsentLocation: false}, Guardian: &yes}
	b := &Consent{Purposes: map[string]bool{ConsentPersonalizedAds: false, ConsentCrossBorder: true}, Guardian: &no}
	for _, order := range [][]*Consent{{a, b}, {b, a}, {nil, a, nil, b}} {
		m := MergeConsents(order...)
		if m.Purposes[ConsentPersonalizedAds] || m.Purposes[ConsentLocation] || !m.Purposes[ConsentCrossBorder] {
			t.Errorf("merged purposes = %v", m.Purposes)
		}
		if _, decided := m.Purposes[ConsentPartnerSharing]; decided {
			t.Error("a purpose nobody decided stays undecided")
		}
		if m.Guardian == nil || *m.Guardian {
			t.Error("a guardian refusal on any id wins")
		}
	}
	if MergeConsents(nil, nil) != nil {
		t.Error("nothing recorded merges to nil")
	}
	if a.Purposes[ConsentPersonalizedAds] != true {
		t.Error("merging changed its input")
	}
}

func TestCheck(t *testing.T) {
	no := false
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &Consent{}
	c.Apply(ConsentChange{At: at, Source: "api", Purposes: map[string]bool{ConsentPersonalizedAds: true, ConsentLocation: false}})
	c.Apply(ConsentChange{At: at.Add(time.Hour), Source: "portal", Purposes: map[string]bool{ConsentPersonalizedAds: false, ConsentCrossBorder: true}})
	cases := []struct {
		c       *Consent
		purpose string
		allowed bool
		reason  string
	}{
		{nil, ConsentLocation, false, CheckNotRecorded},
		{c, ConsentPersonalizedAds, false, CheckWithdrawn},
		{c, ConsentLocation, false, CheckRefused},
		{c, ConsentCrossBorder, true, CheckGranted},
		{c, ConsentPartnerSharing, false, CheckNotRecorded},
		{&Consent{Purposes: map[string]bool{ConsentLocation: true}, Guardian: &no}, ConsentLocation, false, CheckGuardianWithdrawn},
		{&Consent{Purposes: map[string]bool{ConsentCrossBorder: true}, Guardian: &no}, ConsentCrossBorder, true, CheckGranted},
	}
	for _, tc := range cases {
		allowed, reason := tc.c.Check(tc.purpose)
		if allowed != tc.allowed || reason != tc.reason {
			t.Errorf("%s: %v %s, want %v %s", tc.purpose, allowed, reason, tc.allowed, tc.reason)
		}
	}
}

func TestApplyKeepsUnnamedPurposesAndHistory(t *testing.T) {
	c := &Consent{}
	w := c.Apply(ConsentChange{Source: "api", Actor: "ops", Purposes: map[string]bool{ConsentPersonalizedAds: true, ConsentLocation: true}})
	if len(w) != 0 {
		t.Fatalf("granting withdrew %v", w)
	}
	w = c.Apply(ConsentChange{Source: "portal", Purposes: map[string]bool{ConsentLocation: false, ConsentPartnerSharing: false}})
	if !slices.Equal(w, []string{ConsentLocation, ConsentPartnerSharing}) {
		t.Fatalf("withdrawn = %v", w)
	}
	if !c.Purposes[ConsentPersonalizedAds] {
		t.Fatal("changing location's scope forgot the personalized-ads grant")
	}
	// Saying no again withdraws nothing new.
	if w = c.Apply(ConsentChange{Purposes: map[string]bool{ConsentLocation: false}}); len(w) != 0 {
		t.Fatalf("repeat withdrawal = %v", w)
	}
	if len(c.History) != 3 || c.History[0].Actor != "ops" || c.History[1].Source != "portal" {
		t.Fatalf("history = %+v", c.History)
	}
}
