package events

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The published schemas must be what the payload structs generate: a
// change to a payload without `go generate ./events` fails here.
func TestSchemaFilesAreCurrent(t *testing.T) {
	for _, typ := range Types() {
		want, err := GenerateSchema(typ)
		if err != nil {
			t.Fatal(err)
		}
		got, err := schemaFiles.ReadFile(SchemaFile(typ))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing: run go generate ./events", SchemaFile(typ))
		}
	}
}

func TestTypeNamesFollowConvention(t *testing.T) {
	for _, typ := range Types() {
		parts := strings.Split(typ, ".")
		if len(parts) != 5 || parts[0] != "com" || parts[1] != "veil" || parts[4] != "v1" {
			t.Errorf("%s is not com.veil.<noun>.<verb>.v1", typ)
		}
	}
}

func TestValidator(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		typ, data string
		ok        bool
	}{
		{ScheduleTicked, `{"job":"retention"}`, true},
		{ScheduleTicked, `{}`, false},
		{ScheduleTicked, `{"job":"x","more":1}`, false},
		{ScheduleTicked, `{"job":7}`, false},
		{RequestVerified, `{"request_id":"r","type":"copy","status":"verified"}`, true},
		{RequestVerified, `{"request_id":"r"}`, false},
		{"com.veil.unknown.v1", `{}`, false},
		{ScheduleTicked, `not json`, false},
	}
	for _, c := range cases {
		if err := v.Validate(c.typ, []byte(c.data)); (err == nil) != c.ok {
			t.Errorf("%s %s: err=%v", c.typ, c.data, err)
		}
	}
	// Every payload struct's zero value with required strings filled is
	// accepted: New must never build an event its own schema rejects.
	e := Must(NotificationRequested, "", NotificationData{Key: "k", Channel: "email", To: "a@b.c", Template: "t"})
	if err := v.Validate(e.Type(), e.Data()); err != nil {
		t.Fatal(err)
	}
}

func TestBackoffIsExponentialAndCapped(t *testing.T) {
	d := Delivery{Retry: 5, BackoffDelay: time.Second, MaxBackoff: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := d.Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
}

func FuzzFromHTTP(f *testing.F) {
	f.Add([]byte(`{"job":"x"}`), "1.0", ScheduleTicked, "application/json", false)
	f.Add([]byte(`{"specversion":"1.0","id":"1","type":"`+ScheduleTicked+`","source":"/s","data":{"job":"x"}}`), "", "", "application/cloudevents+json", true)
	f.Add([]byte(`{"specversion":"1.0","id":1}`), "", "", "application/cloudevents+json", true)
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	r := &Router{validator: v}
	f.Fuzz(func(t *testing.T, body []byte, spec, typ, ct string, structured bool) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if !structured {
			req.Header.Set("Ce-Specversion", spec)
			req.Header.Set("Ce-Id", "id-1")
			req.Header.Set("Ce-Source", "/fuzz")
			req.Header.Set("Ce-Type", typ)
		}
		e, err := FromHTTP(httptest.NewRecorder(), req)
		if err != nil {
			return
		}
		// Whatever parses must be checkable without a panic.
		_ = r.Check(*e)
	})
}
