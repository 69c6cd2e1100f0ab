package erasure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions/erasure/fulfil"
	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// SourceRequest is the consent history's source for a withdrawal made by
// a rights request.
const SourceRequest = "request"

// consentNames are the consent purposes as notices name them.
var consentNames = map[string][2]string{
	privacy.ConsentPersonalizedAds: {"个性化广告", "personalized ads"},
	privacy.ConsentLocation:        {"精确位置信息", "precise location"},
	privacy.ConsentCrossBorder:     {"向境外提供个人信息", "transfer abroad"},
	privacy.ConsentPartnerSharing:  {"向合作伙伴提供（去标识化）信息", "sharing (de-identified) with partners"},
}

// withdraw records the withdrawal of the purposes the request names (all
// of them when it names none) and deletes what was held only for them
// (R13). Ingest reads the registry on every ad request, so collection for
// those purposes stops with the very next one; the partners function
// stops sharing and asks its partners to delete on consent.changed.
func (x *eraser) withdraw(ctx context.Context, req *privacy.Request) error {
	purposes := privacy.WithdrawalPurposes(req.Details)
	now := x.d.Now().UTC()
	actor := "request:" + req.ID
	err := x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		c, err := x.d.DB.Consents.In(tx).Get(req.SubjectKey)
		if privacy.IsNotFound(err) {
			c, err = &privacy.Consent{SubjectKey: req.SubjectKey, SubjectHint: req.SubjectHint}, nil
		}
		if err != nil {
			return err
		}
		for _, h := range c.History {
			if h.Actor == actor {
				return nil // recorded by an earlier attempt
			}
		}
		off := make(map[string]bool, len(purposes))
		for _, p := range purposes {
			off[p] = false
		}
		withdrawn := c.Apply(privacy.ConsentChange{At: now, Source: SourceRequest, Actor: actor, Purposes: off, PolicyVersion: c.PolicyVersion})
		if err := x.d.DB.Consents.In(tx).Put(c); err != nil {
			return err
		}
		return x.d.Bus.PublishTx(tx, events.Must(events.ConsentChanged, "", events.ConsentChangedData{SubjectKey: req.SubjectKey,
			Purposes: c.Purposes, Withdrawn: withdrawn, Guardian: c.Guardian, Source: SourceRequest}))
	})
	if err != nil {
		return err
	}
	subjects, err := x.subjectKeys(ctx, req.SubjectKey)
	if err != nil {
		return err
	}
	stripped, err := x.stripPurposes(ctx, subjects, purposes)
	if err != nil {
		return err
	}
	var pZh, pEn, eZh, eEn []string
	for _, p := range purposes {
		n := consentNames[p]
		pZh, pEn = append(pZh, n[0]), append(pEn, n[1])
		switch p {
		case privacy.ConsentPersonalizedAds:
			eZh = append(eZh, fmt.Sprintf("- 个性化广告：已停止；已从既有的 %d 条记录中删除仅为此目的保存的应用安装列表、传感器信息和精确位置", stripped))
			eEn = append(eEn, fmt.Sprintf("- personalized ads: stopped; the installed app list, sensor data and precise location kept only for them were deleted from %d existing records", stripped))
		case privacy.ConsentLocation:
			eZh = append(eZh, "- 精确位置：不再收集，既有记录中的位置信息已删除")
			eEn = append(eEn, "- precise location: no longer collected; the positions in existing records were deleted")
		case privacy.ConsentPartnerSharing:
			eZh = append(eZh, "- 不再向合作伙伴提供；曾获得该主体信息的合作伙伴将被要求删除")
			eEn = append(eEn, "- no longer shared with partners; partners that received the subject's information are asked to delete it")
		case privacy.ConsentCrossBorder:
			eZh = append(eZh, "- 不再向境外提供该主体的个人信息")
			eEn = append(eEn, "- the subject's personal information is no longer transferred abroad")
		}
	}
	_, err = x.run.Finish(ctx, req.ID, fulfil.Outcome{
		Result: fmt.Sprintf("consent withdrawn for %s; %d records stripped of data held only for those purposes", strings.Join(purposes, ", "), stripped),
		Notice: &fulfil.Notice{Template: "withdrawal_done", Vars: map[string]string{"subject": req.SubjectHint,
			"purposes_zh": strings.Join(pZh, "、"), "purposes_en": strings.Join(pEn, ", "),
			"effects_zh": strings.Join(eZh, "\n"), "effects_en": strings.Join(eEn, "\n")}},
	})
	return err
}

// stripPage is how many records one re-sealing transaction rewrites.
const stripPage = store.MaxLimit / 2

// stripPurposes removes, from every record of the subject, the fields held
// only for the withdrawn purposes, re-sealing what stays sealed. It
// returns how many records changed. A record deleted meanwhile (retention)
// is not brought back: each page is re-read inside its transaction.
func (x *eraser) stripPurposes(ctx context.Context, subjects, purposes []string) (int, error) {
	paths := privacy.WithdrawnPaths(purposes)
	noPers := slices.Contains(purposes, privacy.ConsentPersonalizedAds)
	if len(paths) == 0 && !noPers {
		return 0, nil
	}
	changed := 0
	for _, k := range subjects {
		var kb *keys.Batch
		shredded := false
		q := store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, k)}, OrderBy: "received", Limit: stripPage}
		for {
			page, err := x.d.DB.Records.Find(ctx, q)
			if err != nil {
				return changed, err
			}
			ids := make([]string, 0, len(page))
			for _, r := range page {
				ids = append(ids, r.ID)
			}
			n := 0
			err = x.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
				n = 0
				var out []*privacy.AdRecord
				for _, id := range ids {
					r, err := x.d.DB.Records.In(tx).Get(id)
					if privacy.IsNotFound(err) {
						continue
					} else if err != nil {
						return err
					}
					sealed := privacy.SealedFields{}
					if len(r.Sealed) > 0 && !shredded {
						if kb == nil {
							kb, err = x.d.Keys.Batch(ctx, r.SubjectKey, false)
							if errors.Is(err, keys.ErrShredded) {
								// Erased meanwhile: the sealed fields are
								// unreadable for good; the plain ones go.
								shredded, err = true, nil
							}
							if err != nil {
								return err
							}
						}
					}
					if len(r.Sealed) > 0 && !shredded {
						plain, err := kb.Open(r.Sealed)
						if err != nil {
							return privacy.Errorf(privacy.EINTERNAL, "record %s does not open under its subject's key", r.ID)
						}
						if sealed, err = privacy.OpenSealed(plain); err != nil {
							return err
						}
					}
					if !r.Strip(paths, sealed, noPers) {
						continue
					}
					if len(r.Sealed) > 0 && !shredded {
						plain, err := json.Marshal(sealed)
						if err != nil {
							return err
						}
						if r.Sealed, err = kb.Seal(plain); err != nil {
							return err
						}
					}
					out = append(out, r)
				}
				for _, r := range out {
					if err := x.d.DB.Records.In(tx).Put(r); err != nil {
						return err
					}
				}
				n = len(out)
				return nil
			})
			if err != nil {
				return changed, err
			}
			changed += n
			if len(page) < q.Limit {
				break
			}
			last := page[len(page)-1]
			q.After = &store.Doc{ID: last.ID, Keys: map[string]any{"received": store.Unix(last.ReceivedAt)}}
		}
	}
	return changed, nil
}
