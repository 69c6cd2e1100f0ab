package suite_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/suite"
	"github.com/veil-privacy/veil/tests/veiltest"
)

// probe is a test function that records the events it receives and can be
// told to fail or to be slow.
type probe struct {
	mu    sync.Mutex
	seen  []string
	calls atomic.Int32
	fail  bool
	delay time.Duration
}

func (p *probe) constructor(ctx context.Context, d functions.Deps) (*functions.Function, error) {
	return &functions.Function{Name: "probe", Events: map[string]events.Handler{
		events.ScheduleTicked: func(ctx context.Context, e events.Event) error {
			p.calls.Add(1)
			time.Sleep(p.delay)
			if p.fail {
				return errors.New("probe told to fail")
			}
			p.mu.Lock()
			p.seen = append(p.seen, e.ID())
			p.mu.Unlock()
			return nil
		},
	}}, nil
}

func (p *probe) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func TestHealthAndReady(t *testing.T) {
	s := veiltest.Start(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := s.Do("GET", path, nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	if r := s.Do("GET", "/healthz", nil); r.Header.Get("X-Request-Id") == "" {
		t.Fatal("responses carry a request id")
	}
}

func TestCloudEventBinaryAndStructuredReachHandler(t *testing.T) {
	p := &probe{}
	s := veiltest.Start(t, nil, suite.WithFunction(p.constructor))

	binary := s.Do("POST", "/", `{"job":"probe"}`,
		"Ce-Specversion", "1.0", "Ce-Id", "bin-1", "Ce-Type", events.ScheduleTicked, "Ce-Source", "/test",
		"Content-Type", "application/json")
	if binary.Status != 202 {
		t.Fatalf("binary mode: %d %s", binary.Status, binary.Body)
	}
	structured := s.Do("POST", "/", `{"specversion":"1.0","id":"st-1","type":"`+events.ScheduleTicked+`","source":"/test","datacontenttype":"application/json","data":{"job":"probe"}}`,
		"Content-Type", "application/cloudevents+json")
	if structured.Status != 202 {
		t.Fatalf("structured mode: %d %s", structured.Status, structured.Body)
	}
	if got := p.got(); len(got) != 2 || got[0] != "bin-1" || got[1] != "st-1" {
		t.Fatalf("handler saw %v", got)
	}
	// Redelivery of the same id (at-least-once) runs the handler once.
	s.Do("POST", "/", `{"job":"probe"}`, "Ce-Specversion", "1.0", "Ce-Id", "bin-1", "Ce-Type", events.ScheduleTicked, "Ce-Source", "/test", "Content-Type", "application/json")
	if n := p.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times for 2 distinct events", n)
	}
	if !strings.Contains(s.Logs.String(), `"event_id":"bin-1"`) {
		t.Fatal("log lines of an event carry its id")
	}
}

func TestInvalidCloudEventsAreRefused(t *testing.T) {
	p := &probe{}
	// Only ingest and the probe: nothing here consumes request events, as
	// on a Knative Service that runs one function.
	s := veiltest.Start(t, map[string]string{"VEIL_FUNCTIONS": "ingest"}, suite.WithFunction(p.constructor))
	cases := []struct {
		name    string
		body    string
		headers []string
		status  int
	}{
		{"schema violation", `{"job":42}`, []string{"Ce-Type", events.ScheduleTicked}, 400},
		{"unknown field", `{"job":"x","extra":1}`, []string{"Ce-Type", events.ScheduleTicked}, 400},
		{"not json", `{"job":`, []string{"Ce-Type", events.ScheduleTicked}, 400},
		{"unknown type", `{}`, []string{"Ce-Type", "com.veil.nope.v1"}, 400},
		{"no consumer here", `{"request_id":"r","type":"access","status":"verified"}`, []string{"Ce-Type", events.RequestVerified}, 400},
		{"too large", `{"job":"` + strings.Repeat("x", events.MaxEventBytes) + `"}`, []string{"Ce-Type", events.ScheduleTicked}, 413},
	}
	for _, c := range cases {
		h := append([]string{"Ce-Specversion", "1.0", "Ce-Id", "x-" + c.name, "Ce-Source", "/test", "Content-Type", "application/json"}, c.headers...)
		r := s.Do("POST", "/", c.body, h...)
		if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s %s", c.name, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	}
	if n := p.calls.Load(); n != 0 {
		t.Fatalf("invalid events reached the handler %d times", n)
	}
}

func TestFailingHandlerLandsInDeadLetterStore(t *testing.T) {
	p := &probe{fail: true}
	s := veiltest.Start(t, nil, suite.WithFunction(p.constructor))
	e := events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: "probe"})
	if err := s.Deps.Bus.Publish(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	var dl struct {
		DeadLetters []events.DeadLetter `json:"dead_letters"`
	}
	s.Eventually(5*time.Second, "dead letter", func() bool {
		s.Must(s.Ops("GET", "/v1/dead-letters", nil), 200, &dl)
		return len(dl.DeadLetters) > 0
	})
	d := dl.DeadLetters[0]
	if d.Attempts != 3 || d.Subscriber != "probe" || !strings.Contains(d.Error, "probe told to fail") {
		t.Fatalf("dead letter = %+v (want 3 attempts: first + 2 retries)", d)
	}
	if n := p.calls.Load(); n != 3 {
		t.Fatalf("handler called %d times, want 3", n)
	}
	if !strings.Contains(s.Logs.String(), "event dead-lettered") {
		t.Fatal("a dead letter is visible in the logs")
	}
	if r := s.Do("GET", "/v1/dead-letters", nil); r.Status != 401 {
		t.Fatalf("dead letters without ops token: %d", r.Status)
	}
	// Redrive after fixing the cause delivers it.
	p.fail = false
	s.Must(s.Ops("POST", "/v1/dead-letters/"+d.ID+"/redrive", nil), 202, nil)
	s.Eventually(5*time.Second, "redriven delivery", func() bool { return len(p.got()) == 1 })
}

func TestCloseDrainsInFlightEvents(t *testing.T) {
	p := &probe{delay: 300 * time.Millisecond}
	s := veiltest.Start(t, nil, suite.WithFunction(p.constructor))
	if err := s.Deps.Bus.Publish(context.Background(), events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: "slow"})); err != nil {
		t.Fatal(err)
	}
	s.Eventually(2*time.Second, "handler start", func() bool { return p.calls.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.got()) != 1 {
		t.Fatal("shutdown returned before the in-flight event finished")
	}
}

func TestEventsSurviveRestart(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"VEIL_DATA": data, "VEIL_OPS_TOKEN": veiltest.OpsToken}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// First life: publish while nobody delivers (never started), then stop.
	p1 := &probe{}
	s1, err := suite.New(context.Background(), cfg, suite.WithFunction(p1.constructor), suite.WithLogOutput(&veiltest.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Deps.Bus.Publish(context.Background(), events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: "persist"})); err != nil {
		t.Fatal(err)
	}
	s1.Close(context.Background())
	// Second life delivers it.
	p2 := &probe{}
	s2, err := suite.New(context.Background(), cfg, suite.WithFunction(p2.constructor), suite.WithLogOutput(&veiltest.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	s2.Start(context.Background(), nil)
	deadline := time.Now().Add(5 * time.Second)
	for len(p2.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(p2.got()) != 1 {
		t.Fatal("an event published before a restart was not delivered after it")
	}
}

func TestUnknownFunctionIsAConfigError(t *testing.T) {
	env := map[string]string{"VEIL_DATA": t.TempDir(), "VEIL_FUNCTIONS": "nonsense"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	_, err = suite.New(context.Background(), cfg, suite.WithLogOutput(&veiltest.Buffer{}))
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "VEIL_FUNCTIONS" || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("err = %v", err)
	}
}

func TestManualScheduleTick(t *testing.T) {
	p := &probe{}
	s := veiltest.Start(t, nil, suite.WithFunction(p.constructor))
	var out map[string]string
	s.Must(s.Ops("POST", "/v1/schedules/retention", nil), 202, &out)
	s.Eventually(5*time.Second, "tick delivered", func() bool { return len(p.got()) == 1 && p.got()[0] == out["event_id"] })
	if r := s.Do("POST", "/v1/schedules/retention", nil); r.Status != 401 {
		t.Fatalf("tick without ops token: %d", r.Status)
	}
	if r := s.Ops("POST", "/v1/schedules/Bad%20Job", nil); r.Status != 400 {
		t.Fatalf("bad job name: %d %s", r.Status, r.Body)
	}
}

// Retries that all run out within a notification's lease are refused at
// start-up, naming the variables; enough of them start.
func TestRetryWindowMustOutlastANotificationLease(t *testing.T) {
	for _, c := range []struct {
		retry, backoff string
		ok             bool
	}{{"8", "50ms", false}, {"10", "50ms", true}, {"0", "50ms", true}, {"5", "1s", true}} {
		env := map[string]string{"VEIL_DATA": t.TempDir(), "VEIL_OPS_TOKEN": veiltest.OpsToken,
			"VEIL_EVENT_RETRY": c.retry, "VEIL_EVENT_BACKOFF": c.backoff}
		cfg, err := config.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		s, err := suite.New(context.Background(), cfg, suite.WithLogOutput(&veiltest.Buffer{}))
		if s != nil {
			s.Close(context.Background())
		}
		switch {
		case c.ok && err != nil:
			t.Errorf("retry %s, backoff %s: %v", c.retry, c.backoff, err)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), "VEIL_EVENT_RETRY")):
			t.Errorf("retry %s, backoff %s: want a start-up error naming VEIL_EVENT_RETRY, got %v", c.retry, c.backoff, err)
		}
	}
}
