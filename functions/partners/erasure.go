package partners

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Deletions reach partners through com.veil.erasure.requested.v1, one
// event per recipient: the erasure function emits them for every
// disclosure of a deleted subject; this function emits them itself when a
// subject withdraws partner_sharing (consentChanged). Each lands in the
// partner's inbox, is pushed to its webhook when it has one, and stays
// pending until the partner acknowledges it; the acknowledgement is
// published as com.veil.erasure.acknowledged.v1.

// Erasure is one erasure request in a partner's inbox.
type Erasure struct {
	ID         string     `json:"id"` // the erasure id
	PartnerID  string     `json:"partner_id"`
	Pseudonym  string     `json:"pseudonym"`
	Categories []string   `json:"categories,omitempty"`
	RequestID  string     `json:"request_id,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	ReceivedAt time.Time  `json:"received_at"`
	PushedAt   *time.Time `json:"pushed_at,omitempty"`
	AckedAt    *time.Time `json:"acked_at,omitempty"`
	// SubjectKey is set when the disclosure record the erasure is about
	// was found, so the acknowledgement can be written to it.
	SubjectKey string `json:"subject_key,omitempty"`
}

// ReasonWithdrawn is the reason of erasures this function starts.
const ReasonWithdrawn = "consent_withdrawn"

// docID bounds what an event may use as a document id.
var docID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

// Notice is what a partner receives for one erasure, pulled or pushed.
type Notice struct {
	ErasureID   string    `json:"erasure_id"`
	Pseudonym   string    `json:"pseudonym"`
	Categories  []string  `json:"categories,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	AckPath     string    `json:"ack_path"`
}

func noticeOf(e *Erasure) Notice {
	return Notice{ErasureID: e.ID, Pseudonym: e.Pseudonym, Categories: e.Categories, Reason: e.Reason,
		RequestedAt: e.ReceivedAt, AckPath: "/v1/partners/erasures/" + e.ID + "/ack"}
}

// deliverErasure files an erasure request in its partner's inbox and
// pushes it to the partner's webhook. Recipients that are not partners
// (none yet) are someone else's. Redelivery is harmless: the inbox entry
// is created once and pushed until a push succeeds.
func (s *service) deliverErasure(ctx context.Context, e events.Event) error {
	data, err := events.Decode[events.ErasureData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if !docID.MatchString(data.ErasureID) {
		return privacy.Errorf(privacy.EINVALID, "erasure id is not usable as an id")
	}
	p, err := s.partners.Get(ctx, data.Recipient)
	if privacy.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	subject, err := s.disclosureOf(ctx, p.ID, data)
	if err != nil {
		return err
	}
	var inbox *Erasure
	err = s.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		have, err := s.erasures.In(tx).Get(data.ErasureID)
		if err == nil {
			if have.PartnerID != p.ID {
				return privacy.Errorf(privacy.EINVALID, "erasure %s was filed for another recipient", data.ErasureID)
			}
			inbox = have
			return nil
		} else if !privacy.IsNotFound(err) {
			return err
		}
		inbox = &Erasure{ID: data.ErasureID, PartnerID: p.ID, Pseudonym: data.Pseudonym, Categories: data.Categories,
			RequestID: data.RequestID, Reason: data.Reason, ReceivedAt: s.d.Now().UTC(), SubjectKey: subject}
		return s.erasures.In(tx).Create(inbox)
	})
	if err != nil {
		return err
	}
	if p.Webhook == "" || inbox.PushedAt != nil || inbox.AckedAt != nil {
		return nil
	}
	if err := s.push(ctx, p, noticeOf(inbox)); err != nil {
		// Retried by the broker; the partner can pull it meanwhile.
		return err
	}
	_, err = s.erasures.Update(ctx, inbox.ID, func(x *Erasure) error {
		if x.PushedAt == nil {
			now := s.d.Now().UTC()
			x.PushedAt = &now
		}
		return nil
	})
	return err
}

// disclosureOf finds the subject key of the partner's disclosure record
// the erasure is about: the record the erasure function marked as sent
// under this erasure id, or one whose pseudonym matches. "" when none is
// found; the acknowledgement is still published.
func (s *service) disclosureOf(ctx context.Context, partnerID string, data events.ErasureData) (string, error) {
	found := ""
	q := store.Query{Filters: []store.Filter{store.Where("recipient", store.EQ, partnerID), store.Where("pending_ack", store.EQ, true)}}
	errFound := errors.New("found")
	err := s.d.DB.Disclosures.Each(ctx, q, func(d *privacy.Disclosure) error {
		if d.ErasureID == data.ErasureID && d.Pseudonym == data.Pseudonym {
			found = d.SubjectKey
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", err
	}
	return found, nil
}

// push posts a notice to the partner's webhook, signed with the secret it
// was given at registration (X-Veil-Signature: sha256=HMAC(secret, body)).
func (s *service) push(ctx context.Context, p *Partner, n Notice) error {
	body, err := json.Marshal(map[string]any{"type": events.ErasureRequested, "erasure": n})
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, []byte(s.webhookSecret(p.ID)))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Webhook, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("partner webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", n.ErasureID)
	req.Header.Set("X-Veil-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("partner %s webhook unreachable: %w", p.ID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("partner %s webhook answered %d", p.ID, resp.StatusCode)
	}
	return nil
}

// pendingErasures lists the erasure requests the partner has not
// acknowledged, oldest first. A revoked partner still sees them.
func (s *service) pendingErasures(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r, true)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	es, err := s.erasures.Find(r.Context(), store.Query{OrderBy: "received", Limit: store.MaxLimit,
		Filters: []store.Filter{store.Where("partner", store.EQ, p.ID), store.Where("pending", store.EQ, true)}})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out := make([]Notice, 0, len(es))
	for _, e := range es {
		out = append(out, noticeOf(e))
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"erasures": out})
}

// ack records the partner's acknowledgement and publishes it in the same
// transaction; acknowledging twice is answered like the first time.
func (s *service) ack(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r, true)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	id := r.PathValue("id")
	var out *Erasure
	err = s.d.DB.Backend.Tx(r.Context(), func(tx store.Tx) error {
		e, err := s.erasures.In(tx).Get(id)
		if privacy.IsNotFound(err) || (err == nil && e.PartnerID != p.ID) {
			return privacy.Errorf(privacy.ENOTFOUND, "no such erasure request for this partner")
		} else if err != nil {
			return err
		}
		out = e
		if e.AckedAt != nil {
			return nil
		}
		var d *privacy.Disclosure
		if e.SubjectKey != "" {
			if d, err = s.d.DB.Disclosures.In(tx).Get(p.ID + "~" + e.SubjectKey); privacy.IsNotFound(err) {
				d = nil
			} else if err != nil {
				return err
			}
		}
		now := s.d.Now().UTC()
		e.AckedAt = &now
		if err := s.erasures.In(tx).Put(e); err != nil {
			return err
		}
		if d != nil && d.ErasureID == e.ID && d.AcknowledgedAt == nil {
			d.AcknowledgedAt = &now
			if err := s.d.DB.Disclosures.In(tx).Put(d); err != nil {
				return err
			}
		}
		return s.d.Bus.PublishTx(tx, events.Must(events.ErasureAcknowledged, e.RequestID, events.ErasureData{ErasureID: e.ID,
			Recipient: p.ID, Pseudonym: e.Pseudonym, Categories: e.Categories, RequestID: e.RequestID, Reason: e.Reason}))
	})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	s.d.Log.Info().Str("partner_id", p.ID).Str("erasure_id", out.ID).Msg("erasure acknowledged by partner")
	httpx.JSON(w, http.StatusOK, map[string]any{"erasure_id": out.ID, "acknowledged_at": out.AckedAt})
}

// consentChanged propagates a withdrawal of partner_sharing (R13): every
// partner that received the subject's data is asked to delete it. The
// feed already stops at once, because it reads consent when it shares.
// The erasure id is derived from the event and the recipient, so a
// redelivered event changes nothing.
func (s *service) consentChanged(ctx context.Context, e events.Event) error {
	data, err := events.Decode[events.ConsentChangedData](e)
	if err != nil {
		return privacy.Errorf(privacy.EINVALID, "%v", err)
	}
	if !slices.Contains(data.Withdrawn, privacy.ConsentPartnerSharing) {
		return nil
	}
	// Records, and so disclosures, are filed under the device's primary
	// subject; the consent may have been given under another of its ids.
	subjects := []string{data.SubjectKey}
	if l, err := s.d.DB.Devices.Get(ctx, data.SubjectKey); err == nil && l.SubjectKey != data.SubjectKey {
		subjects = append(subjects, l.SubjectKey)
	} else if err != nil && !privacy.IsNotFound(err) {
		return err
	}
	for _, subject := range subjects {
		ds, err := s.d.DB.Disclosures.Find(ctx, store.Query{Filters: []store.Filter{store.Where("subject", store.EQ, subject)}, Limit: store.MaxLimit})
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := s.requestErasure(ctx, d.ID, withdrawalID(e.ID(), d.Recipient)); err != nil {
				return err
			}
		}
	}
	return nil
}

func withdrawalID(eventID, recipient string) string {
	sum := sha256.Sum256([]byte(eventID + "~" + recipient))
	return "wd-" + hex.EncodeToString(sum[:12])
}

// requestErasure marks one disclosure as sent for erasure and emits the
// request, in one transaction.
func (s *service) requestErasure(ctx context.Context, disclosureID, erasureID string) error {
	return s.d.DB.Backend.Tx(ctx, func(tx store.Tx) error {
		d, err := s.d.DB.Disclosures.In(tx).Get(disclosureID)
		if err != nil {
			return err
		}
		if d.ErasureID == erasureID {
			return nil // this event was handled before
		}
		now := s.d.Now().UTC()
		d.ErasureID, d.ErasureSentAt, d.AcknowledgedAt = erasureID, &now, nil
		if err := s.d.DB.Disclosures.In(tx).Put(d); err != nil {
			return err
		}
		cats := make([]string, len(d.Categories))
		for i, c := range d.Categories {
			cats[i] = string(c)
		}
		return s.d.Bus.PublishTx(tx, events.Must(events.ErasureRequested, "", events.ErasureData{ErasureID: erasureID,
			Recipient: d.Recipient, Pseudonym: d.Pseudonym, Categories: cats, Reason: ReasonWithdrawn}))
	})
}
