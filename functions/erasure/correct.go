package erasure

import (
	"context"
	"strings"

	"github.com/veil-privacy/veil/functions/erasure/fulfil"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// correct applies a correction request to the account's profile (R11).
// Real-name-verified fields, and names the profile does not have, need a
// person: the request goes to needs_review, and when ops approve it
// (requests' approve endpoint sends it back to verified) every correction
// is applied. Device data is what the SDK collected, not what a person
// entered: a person looks at what is wrong with it.
func (x *eraser) correct(ctx context.Context, req *privacy.Request) error {
	switch {
	case req.Email == "":
		return x.review(ctx, req, "a device's data is collected by the SDK, not entered by a person; our staff check what is wrong and answer")
	case len(req.Corrections) == 0:
		return x.review(ctx, req, "the correction is described in words; our staff apply it")
	}
	auto, review := privacy.SplitCorrections(req.Corrections)
	approved := approvedAfterReview(req)
	if len(review) > 0 && !approved {
		return x.review(ctx, req, "correcting "+strings.Join(review, ", ")+" needs a person to verify the change first (real-name-verified or not part of the profile)")
	}
	names := append(auto, review...)
	now := x.d.Now().UTC()
	actor := fulfil.Actor
	if approved {
		actor = "system, approved by ops"
	}
	err := x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		p, err := x.repos.Profiles.In(tx).Get(req.SubjectKey)
		if privacy.IsNotFound(err) {
			p, err = &privacy.Profile{SubjectKey: req.SubjectKey, Fields: map[string]string{}}, nil
		}
		if err != nil {
			return err
		}
		for _, h := range p.History {
			if h.RequestID == req.ID {
				return nil // applied by an earlier attempt
			}
		}
		if p.Fields == nil {
			p.Fields = map[string]string{}
		}
		for _, n := range names {
			p.Fields[n] = req.Corrections[n]
		}
		p.UpdatedAt = now
		p.History = append(p.History, privacy.ProfileChange{At: now, Actor: actor, RequestID: req.ID, Fields: names})
		return x.repos.Profiles.In(tx).Put(p)
	})
	if err != nil {
		return err
	}
	var zh, en []string
	for _, n := range names {
		if f, ok := privacy.ProfileFieldByName(n); ok {
			zh, en = append(zh, f.Zh), append(en, f.En)
		} else {
			zh, en = append(zh, n), append(en, n)
		}
	}
	reviewed := ""
	if approved && len(review) > 0 {
		reviewed = "yes"
	}
	_, err = x.run.Finish(ctx, req.ID, fulfil.Outcome{
		Result: "corrected: " + strings.Join(names, ", "),
		Notice: &fulfil.Notice{Template: "correction_done", Vars: map[string]string{"subject": req.SubjectHint,
			"fields_zh": strings.Join(zh, "、"), "fields_en": strings.Join(en, ", "), "reviewed": reviewed}},
	})
	return err
}

// review sends the request to needs_review with the reason.
func (x *eraser) review(ctx context.Context, req *privacy.Request, why string) error {
	_, err := x.run.Finish(ctx, req.ID, fulfil.Outcome{Status: privacy.StatusNeedsReview, Result: why})
	return err
}

// approvedAfterReview reports whether the request's latest verification
// was ops approving it out of review: what a person checked may be applied.
func approvedAfterReview(r *privacy.Request) bool {
	for i := len(r.History) - 1; i >= 0; i-- {
		t := r.History[i]
		if t.To == privacy.StatusVerified {
			return t.From == privacy.StatusNeedsReview && strings.HasPrefix(t.Actor, "ops")
		}
	}
	return false
}
