package privacy_test

import (
	"testing"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

var allStatuses = []privacy.Status{privacy.StatusUnverified, privacy.StatusVerified, privacy.StatusInProgress,
	privacy.StatusNeedsReview, privacy.StatusCompleted, privacy.StatusRefused, privacy.StatusDuplicate}

// The lifecycle's promises, each as a person would notice it.
func TestLifecycleRules(t *testing.T) {
	// R17: nothing is acted on before the requester is identified.
	for _, to := range allStatuses {
		want := to == privacy.StatusVerified || to == privacy.StatusRefused || to == privacy.StatusDuplicate
		if got := privacy.CanTransition(privacy.StatusUnverified, to); got != want {
			t.Errorf("identity_unverified → %s allowed = %v, want %v", to, got, want)
		}
	}
	// A closed request stays closed.
	for _, from := range []privacy.Status{privacy.StatusCompleted, privacy.StatusRefused, privacy.StatusDuplicate} {
		for _, to := range allStatuses {
			if privacy.CanTransition(from, to) {
				t.Errorf("final %s → %s is allowed", from, to)
			}
		}
	}
	// New requests start unverified, attested (verified), as a duplicate,
	// or — an unclear mail — in review; never done or in progress.
	for _, to := range allStatuses {
		want := to == privacy.StatusUnverified || to == privacy.StatusVerified || to == privacy.StatusDuplicate || to == privacy.StatusNeedsReview
		if got := privacy.CanTransition("", to); got != want {
			t.Errorf("new → %s allowed = %v, want %v", to, got, want)
		}
	}
	// Review can send an unverified mail back to verification.
	if !privacy.CanTransition(privacy.StatusNeedsReview, privacy.StatusUnverified) {
		t.Error("needs_review → identity_unverified must be possible")
	}
}

func TestMove(t *testing.T) {
	at := time.Date(2025, 9, 26, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		path   []privacy.Status
		reason string
		ok     bool
	}{
		{"verify then complete", []privacy.Status{privacy.StatusUnverified, privacy.StatusVerified, privacy.StatusCompleted}, "", true},
		{"refuse with a listed reason", []privacy.Status{privacy.StatusUnverified, privacy.StatusRefused}, "abuse_of_rights", true},
		{"refuse without a reason", []privacy.Status{privacy.StatusUnverified, privacy.StatusRefused}, "", false},
		{"refuse for a reason the policy does not list", []privacy.Status{privacy.StatusUnverified, privacy.StatusRefused}, "too_busy", false},
		{"skip verification", []privacy.Status{privacy.StatusUnverified, privacy.StatusInProgress}, "", false},
		{"reopen a completed request", []privacy.Status{privacy.StatusVerified, privacy.StatusCompleted, privacy.StatusVerified}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &privacy.Request{ID: "r1"}
			var err error
			for i, s := range tt.path {
				reason := ""
				if i == len(tt.path)-1 {
					reason = tt.reason
				}
				if err = r.Move(s, "ops:alice", reason, at.Add(time.Duration(i)*time.Minute)); err != nil {
					break
				}
			}
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				if len(r.History) != len(tt.path)-1 {
					t.Fatalf("a refused move was recorded: %+v", r.History)
				}
				return
			}
			last := r.History[len(r.History)-1]
			if r.Status != tt.path[len(tt.path)-1] || last.To != r.Status || last.Actor != "ops:alice" || last.At.IsZero() {
				t.Fatalf("history %+v, status %s", r.History, r.Status)
			}
			if r.Status == privacy.StatusRefused && (r.Refusal != privacy.RefusalReason(tt.reason) || last.Reason != tt.reason) {
				t.Fatalf("refusal not recorded: %+v", r)
			}
			if r.Status.Final() != (r.ClosedAt != nil) {
				t.Fatalf("closed_at %v for %s", r.ClosedAt, r.Status)
			}
			if r.VerifiedAt != nil && !r.VerifiedAt.Equal(at.Add(time.Minute)) && tt.path[0] == privacy.StatusUnverified {
				t.Fatalf("verified_at %v", r.VerifiedAt)
			}
		})
	}
}
