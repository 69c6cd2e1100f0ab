package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"

	"github.com/veil-privacy/veil/tests/testclock"
)

// recorder is a function subscribed to every event type: it keeps a copy
// of each event in the order they were handled, so the test can hand the
// real events — realistic payloads, consistent with the stored state —
// to every other handler a second time.
type recorder struct {
	mu   sync.Mutex
	seen []events.Event
}

func (r *recorder) constructor(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	hs := map[string]events.Handler{}
	for _, t := range events.Types() {
		hs[t] = func(ctx context.Context, e events.Event) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.seen = append(r.seen, e.Clone())
			return nil
		}
	}
	return &functions.Function{Name: "recorder", Events: hs}, nil
}

func (r *recorder) all() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.seen...)
}

// state is what a handler's outcome is judged by: every stored document,
// the mail sent, and the events published (as the recorder saw them).
type state struct {
	docs   map[string]map[string][]byte
	mail   map[string]int // idempotency key (or recipient and subject) → messages
	events map[string]int // type → events published
}

func snapshot(t *testing.T, s *veiltest.Suite, rec *recorder) state {
	t.Helper()
	st := state{docs: docs(t, s.Suite), mail: map[string]int{}, events: map[string]int{}}
	for _, m := range s.Mails() {
		k := m.Key
		if k == "" {
			k = m.To + "|" + m.Subject
		}
		st.mail[k]++
	}
	for _, e := range rec.all() {
		st.events[e.Type()]++
	}
	return st
}

// diff lists how b differs from a. Values that are both RFC 3339 times
// are taken as equal: a handler that stamps "seen again at" has the same
// outcome.
func diff(a, b state) []string {
	var out []string
	for _, c := range sortedKeys(b.docs) {
		for id, raw := range b.docs[c] {
			old, ok := a.docs[c][id]
			if !ok {
				out = append(out, fmt.Sprintf("new %s/%s: %s", c, id, clip(raw)))
				continue
			}
			if p, same := sameJSON(old, raw, bookkeeping(c)); !same {
				out = append(out, fmt.Sprintf("changed %s/%s at %s: %s → %s", c, id, p, clip(old), clip(raw)))
			}
		}
		for id := range a.docs[c] {
			if _, ok := b.docs[c][id]; !ok {
				out = append(out, fmt.Sprintf("deleted %s/%s", c, id))
			}
		}
	}
	for k, n := range b.mail {
		if a.mail[k] != n {
			out = append(out, fmt.Sprintf("mail %q sent %d times, was %d", k, n, a.mail[k]))
		}
	}
	for k, n := range b.events {
		if a.events[k] != n {
			out = append(out, fmt.Sprintf("%d more %s published", n-a.events[k], k))
		}
	}
	sort.Strings(out)
	return out
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// bookkeeping names the top-level fields of a collection's documents
// that record deliveries rather than their outcome ("*": all of them), so
// a redelivery may change them:
//   - fulfilments count attempts per event, to trace a dead letter to its
//     request; a redelivery is one more attempt.
//   - retention_state is each sweep pass's checkpoint of its latest run; a
//     repeated tick is a new run over the same records, which are compared
//     themselves.
func bookkeeping(collection string) map[string]bool {
	switch collection {
	case "fulfilments":
		return map[string]bool{"attempts": true, "last_error": true}
	case "retention_state":
		return map[string]bool{"*": true}
	}
	return nil
}

// sameJSON compares two JSON documents, treating any two RFC 3339 times
// as equal and skipping the top-level fields in ignore; it returns the
// path of the first difference.
func sameJSON(a, b []byte, ignore map[string]bool) (string, bool) {
	if ignore["*"] {
		return "", true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return "", bytes.Equal(a, b)
	}
	for _, v := range []any{x, y} {
		if m, ok := v.(map[string]any); ok {
			for k := range ignore {
				delete(m, k)
			}
		}
	}
	return walk("$", x, y)
}

func walk(path string, x, y any) (string, bool) {
	switch xv := x.(type) {
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok || len(xv) != len(yv) {
			return path, false
		}
		for k, v := range xv {
			if p, same := walk(path+"."+k, v, yv[k]); !same {
				return p, false
			}
		}
		return "", true
	case []any:
		yv, ok := y.([]any)
		if !ok || len(xv) != len(yv) {
			return path, false
		}
		for i := range xv {
			if p, same := walk(fmt.Sprintf("%s[%d]", path, i), xv[i], yv[i]); !same {
				return p, false
			}
		}
		return "", true
	case string:
		ys, ok := y.(string)
		if ok && xv != ys && isTime(xv) && isTime(ys) {
			return "", true
		}
		return path, ok && xv == ys
	}
	return path, fmt.Sprint(x) == fmt.Sprint(y)
}

func isTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

// variant groups events of a type whose handlers take different paths
// (request types, schedule jobs, notification templates), so each path is
// redelivered, not just the last event of the type.
func variant(e events.Event) string {
	var d map[string]any
	_ = json.Unmarshal(e.Data(), &d)
	for _, k := range []string{"job", "template", "type", "status", "action", "subscriber"} {
		if v, ok := d[k].(string); ok {
			return k + "=" + v
		}
	}
	return ""
}

// scenario drives a suite through every feature that emits events, so the
// recorder holds a real instance of (nearly) every type.
func scenario(t *testing.T, s *veiltest.Suite, c *testclock.Offset) {
	t.Helper()
	_, key := app(s, "Redelivery")
	var partner struct {
		PartnerID string `json:"partner_id"`
		PullToken string `json:"pull_token"`
	}
	s.Must(s.Ops("POST", "/v1/partners", map[string]any{"name": "Fraud Lab", "purposes": []string{"fraud"}, "location": "cn-shanghai"}), 201, &partner)
	for _, d := range []string{"redeliver-1", "redeliver-2", "redeliver-3", "redeliver-4"} {
		s.Must(s.Do("POST", "/v1/ad-requests", adRequest(d, true), "X-Veil-App-Key", key), 200, nil)
	}
	c.Add(time.Minute)
	s.Must(s.Do("GET", "/v1/partners/feed?limit=50", nil, "Authorization", "Bearer "+partner.PullToken), 200, nil)

	// Consent: a withdrawal of partner sharing asks the partner to erase;
	// the partner acknowledges.
	s.Must(s.Do("PUT", "/v1/consents/device:oaid:redeliver-1", map[string]any{"purposes": map[string]bool{"partner_sharing": false, "personalized_ads": false}},
		"X-Veil-App-Key", key), 200, nil)
	s.Idle(30 * time.Second)
	var inbox struct {
		Erasures []struct {
			AckPath string `json:"ack_path"`
		} `json:"erasures"`
	}
	s.Must(s.Do("GET", "/v1/partners/erasures", nil, "Authorization", "Bearer "+partner.PullToken), 200, &inbox)
	for _, e := range inbox.Erasures {
		s.Must(s.Do("POST", e.AckPath, nil, "Authorization", "Bearer "+partner.PullToken), 200, nil)
	}

	// Rights requests of every path: attested (export, erasure), mailed
	// codes, a complaint in review, a portability whose endpoint fails
	// until its event dead-letters.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	t.Cleanup(failing.Close)
	for _, r := range []map[string]any{
		{"type": "copy", "subject": map[string]string{"device": "device:oaid:redeliver-2"}},
		{"type": "delete", "subject": map[string]string{"device": "device:oaid:redeliver-3"}},
		{"type": "withdraw_consent", "subject": map[string]string{"device": "device:oaid:redeliver-4"}},
		{"type": "portability", "subject": map[string]string{"device": "device:oaid:redeliver-4"}, "deliver_to": failing.URL + "/import"},
	} {
		s.Must(s.Do("POST", "/v1/requests", r, "X-Veil-App-Key", key), 202, nil)
	}
	for _, r := range []struct{ typ, email string }{{"access", "ann@example.com"}, {"complaint", "ben@example.com"}, {"cancel_account", "cat@example.com"}} {
		f := file(s, r.typ, r.email)
		s.Must(s.Do("POST", "/v1/requests/"+f.ID+"/verify", map[string]string{"code": requestCode(t, s, r.email)}), 200, nil)
	}

	// Incident, policy revision, legal hold.
	now := c.Now()
	var inc struct{ ID string }
	s.Must(s.Ops("POST", "/v1/incidents", map[string]any{
		"title": "Ad log bucket exposed", "what_happened": "A storage bucket holding ad logs was readable from the internet.",
		"occurred_at": now.Add(-72 * time.Hour).UTC().Format(time.RFC3339), "discovered_at": now.Add(-time.Hour).UTC().Format(time.RFC3339),
		"categories": []string{"device_identifiers"}, "affected": map[string]any{"subjects": []string{"account:ann@example.com", "device:oaid:redeliver-2"}},
		"impact": "Device identifiers may have been read.", "measures": "The bucket was closed.", "advice": "Reset your advertising ID.",
		"remedies": "Contact us for help.", "contact": "privacy@veil.example"}), 201, &inc)
	s.Must(s.Ops("POST", "/v1/policies", map[string]any{"version": "2027.1", "effective_at": now.Add(40 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"material": true, "summary": "Partners named", "changes": []string{"Section 4 names the partners"}}), 201, nil)
	var hold struct{ ID string }
	s.Must(s.Ops("POST", "/v1/holds", map[string]any{"subject": "device:oaid:redeliver-2", "reason": "court order 2026-17"}), 201, &hold)
	s.Idle(60 * time.Second)
	s.Must(s.Ops("DELETE", "/v1/holds/"+hold.ID, map[string]string{"reason": "case closed"}), 200, nil)
	s.Idle(60 * time.Second)

	// Time passes: reminders and escalation, then retention.
	for _, step := range []struct {
		by   time.Duration
		jobs []string
	}{{0, []string{"deadlines", "retention"}}, {14 * 24 * time.Hour, []string{"deadlines"}}, {10 * 24 * time.Hour, []string{"deadlines"}},
		{200 * 24 * time.Hour, []string{"retention", "deadlines"}}} {
		c.Add(step.by)
		for _, j := range step.jobs {
			s.Must(s.Ops("POST", "/v1/schedules/"+j, nil), 202, nil)
			s.Idle(60 * time.Second)
		}
	}
}

// synthetic builds events of the types the scenario cannot produce on a
// single machine, from the state it left behind.
func synthetic(t *testing.T, s *veiltest.Suite, c *testclock.Offset) map[string][]events.Event {
	t.Helper()
	out := map[string][]events.Event{
		events.OperationsCeased: {events.Must(events.OperationsCeased, "", events.RefData{ID: "cease-2027", At: c.Now().UTC(), Note: "the ad network closes"})},
		events.ResidencyViolated: {events.Must(events.ResidencyViolated, "", events.ResidencyData{Backend: "store", Location: "us-east-1",
			Region: "CN", What: "ad record"})},
	}
	for _, raw := range docs(t, s.Suite)["fanout_jobs"] {
		var j struct {
			ID  string `json:"id"`
			Gen int    `json:"gen"`
		}
		if json.Unmarshal(raw, &j) == nil && j.ID != "" {
			out[events.FanoutContinued] = append(out[events.FanoutContinued], events.Must(events.FanoutContinued, j.ID, events.FanoutData{Job: j.ID, Gen: j.Gen}))
		}
	}
	return out
}

// TestEveryHandlerIsIdempotent hands every event handler of every
// registered function the same event a second time, directly (as the
// broker does after a crash between the handler's work and the router's
// record of it), and requires the stored documents, the mail sent and the
// events published to be what they were after the first delivery.
func TestEveryHandlerIsIdempotent(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the whole suite through every feature")
	}
	c, rec := &testclock.Offset{}, &recorder{}
	s := veiltest.Start(t, nil, suite.WithClock(c.Now), suite.WithFunction(rec.constructor))
	scenario(t, s, c)
	// The only dead letter the scenario makes is the portability request's
	// (its endpoint always answers 500); any other is a handler that fails
	// on its first delivery.
	var dl struct {
		DeadLetters []events.DeadLetter `json:"dead_letters"`
	}
	s.Must(s.Ops("GET", "/v1/dead-letters", nil), 200, &dl)
	for _, d := range dl.DeadLetters {
		if d.Subscriber != "export" || d.Type != events.RequestVerified {
			t.Errorf("%s dead-lettered %s in the scenario: %s", d.Subscriber, d.Type, d.Error)
		}
	}
	captured := map[string][]events.Event{}
	for _, e := range rec.all() {
		captured[e.Type()] = append(captured[e.Type()], e)
	}
	made := synthetic(t, s, c)
	ctx := s.Deps.Log.WithContext(context.Background())
	handlers := 0
	for _, f := range s.Functions {
		if f.Name == "recorder" {
			continue
		}
		for _, typ := range sortedKeys(f.Events) {
			h := f.Events[typ]
			// The last event of each variant of the type, newest first.
			var pick []events.Event
			seen := map[string]bool{}
			evs := captured[typ]
			for i := len(evs) - 1; i >= 0 && len(pick) < 4; i-- {
				if v := variant(evs[i]); !seen[v] {
					seen[v] = true
					pick = append(pick, evs[i])
				}
			}
			fresh := len(pick) == 0
			if fresh {
				pick = made[typ]
			}
			if len(pick) == 0 {
				t.Errorf("%s handles %s, but no event of that type was produced or made: extend the scenario", f.Name, typ)
				continue
			}
			handlers++
			if fresh {
				t.Logf("%s ← %s: no instance in the scenario; %d made from its state", f.Name, typ, len(pick))
			}
			for _, e := range pick {
				name := fmt.Sprintf("%s ← %s %s %s", f.Name, typ, variant(e), e.ID())
				if fresh {
					// Never delivered: the first delivery is ours too.
					if err := h(ctx, e); err != nil {
						t.Errorf("%s: first delivery failed: %v", name, err)
						continue
					}
				}
				s.Idle(60 * time.Second)
				once := snapshot(t, s, rec)
				err := h(ctx, e)
				s.Idle(60 * time.Second)
				twice := snapshot(t, s, rec)
				if err != nil {
					t.Errorf("%s: the second delivery failed (the broker would retry and dead-letter it): %v", name, err)
				}
				for _, d := range diff(once, twice) {
					t.Errorf("%s: the second delivery changed the outcome: %s", name, d)
				}
			}
		}
	}
	if handlers < 30 {
		t.Fatalf("only %d handlers were exercised", handlers)
	}
	t.Logf("%d handlers redelivered", handlers)
}
