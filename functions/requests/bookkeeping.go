package requests

import (
	"context"
	"errors"
	"time"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// The function's own collections. Counters live in the store, not in
// memory, because Knative runs as many instances as load asks for.
var (
	limitsCollection  = store.Collection{Name: "request_limits", Keys: []store.Key{{Name: "until", Kind: store.Int}}}
	inboundCollection = store.Collection{Name: "request_inbound", Keys: []store.Key{{Name: "at", Kind: store.Int}}}
)

// Collections lists what this function owns (the deadlines function prunes
// them too, so it declares them as well).
func Collections() []store.Collection {
	return []store.Collection{limitsCollection, inboundCollection}
}

// counter counts one sender's new requests in a fixed window. Its id is a
// keyed hash of the sender, so the collection holds no address or IP.
type counter struct {
	ID    string    `json:"id"`
	Count int       `json:"count"`
	Until time.Time `json:"until"`
}

// inboundMail remembers a Message-ID already turned into a request, so a
// webhook that delivers the same mail twice does not file it twice.
type inboundMail struct {
	ID        string    `json:"id"` // keyed hash of the Message-ID
	RequestID string    `json:"request_id"`
	At        time.Time `json:"at"`
}

// inboundMemory is how long a Message-ID is remembered: far beyond any
// webhook's retry schedule.
const inboundMemory = 7 * 24 * time.Hour

func limitsRepo(b store.Backend) store.Repo[counter] {
	return store.Repo[counter]{B: b, C: limitsCollection, ID: func(c *counter) string { return c.ID },
		Keys: func(c *counter) map[string]any { return map[string]any{"until": store.Unix(c.Until)} }}
}

func inboundRepo(b store.Backend) store.Repo[inboundMail] {
	return store.Repo[inboundMail]{B: b, C: inboundCollection, ID: func(m *inboundMail) string { return m.ID },
		Keys: func(m *inboundMail) map[string]any { return map[string]any{"at": store.Unix(m.At)} }}
}

// sender is one identity a new request is counted against.
type sender struct {
	kind, value string
}

func (h *handler) counterID(s sender) string {
	return h.d.Keys.Hash("request-limit:" + s.kind + ":" + s.value)
}

// Prune deletes expired rate-limit windows and forgotten Message-IDs, a
// page at a time. The deadlines sweep calls it.
func Prune(ctx context.Context, b store.Backend, now time.Time) (int, error) {
	n := 0
	limits := limitsRepo(b)
	err := limits.Each(ctx, store.Query{Filters: []store.Filter{store.Where("until", store.LT, store.Unix(now))}, OrderBy: "until"},
		func(c *counter) error {
			n++
			return limits.Delete(ctx, c.ID)
		})
	inbound := inboundRepo(b)
	err2 := inbound.Each(ctx, store.Query{Filters: []store.Filter{store.Where("at", store.LT, store.Unix(now.Add(-inboundMemory)))}, OrderBy: "at"},
		func(m *inboundMail) error {
			n++
			return inbound.Delete(ctx, m.ID)
		})
	return n, errors.Join(err, err2)
}

// countSenders reads the senders' windows (inside tx, before any write) and
// returns them advanced by one, or a rate-limit error.
func (h *handler) countSenders(tx store.Tx, senders []sender, now time.Time) ([]*counter, error) {
	out := make([]*counter, 0, len(senders))
	for _, s := range senders {
		id := h.counterID(s)
		c, err := h.limits.In(tx).Get(id)
		if privacy.IsNotFound(err) || (err == nil && !now.Before(c.Until)) {
			c, err = &counter{ID: id, Until: now.Add(limitWindow)}, nil
		}
		if err != nil {
			return nil, err
		}
		if c.Count >= senderLimits[s.kind] {
			return nil, rateLimited(c.Until.Sub(now), "too many requests from this %s; try again later", s.kind)
		}
		c.Count++
		out = append(out, c)
	}
	return out, nil
}
