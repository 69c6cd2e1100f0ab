package knative

import (
	"testing"
	"time"
)

// FuzzManifests runs the manifest parser and checker — what the drift
// tests and deploy.sh --dry-run feed every rendered overlay through — on
// arbitrary YAML streams: they must answer with errors, never panic.
func FuzzManifests(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: veil\n"))
	f.Add([]byte("apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata:\n  name: tick\nspec:\n  schedule: \"*/15 * * * *\"\n  timezone: Asia/Shanghai\n---\n" +
		"apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: t\nspec:\n  broker: default\n  delivery:\n    retry: 5\n    backoffDelay: PT1S\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("---\n---\napiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{env: [{name: VEIL_FUNCTIONS, value: ingest}]}]}}}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		objs, err := DecodeAll(raw)
		if err != nil {
			return
		}
		for _, o := range objs {
			if str(o, "apiVersion") == "" || str(o, "kind") == "" || name(o) == "" {
				t.Fatalf("accepted an object without apiVersion, kind or name: %v", o)
			}
		}
		_ = Check(objs, nil)
	})
}

// FuzzParseCron checks the PingSource schedule parser: no panic, and the
// next firing time of an accepted schedule is later than the start and
// matches the schedule's month, hour and minute.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"*/15 * * * *", "0 3 * * *", "CRON_TZ=Asia/Shanghai 0 2 * * 1-5", "0 0 30 2 *", "@hourly",
		"5/15 1-3,7 ? JAN-mar sun", "TZ=../../etc/passwd 0 0 * * *", "0 0 * * 7", "59 23 31 12 6"} {
		f.Add(s)
	}
	start := time.Date(2026, 3, 8, 1, 59, 30, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := ParseCron(spec)
		if err != nil {
			return
		}
		at := start
		if c.Location != nil {
			at = start.In(c.Location)
		}
		next := c.Next(at)
		if next.IsZero() {
			return
		}
		if !next.After(at) {
			t.Fatalf("%q: next %v is not after %v", spec, next, at)
		}
		if c.month&(1<<uint(next.Month())) == 0 || c.hour&(1<<uint(next.Hour())) == 0 || c.minute&(1<<uint(next.Minute())) == 0 {
			t.Fatalf("%q: next %v does not match the schedule", spec, next)
		}
	})
}

// FuzzParseISODuration checks the delivery backoff parser: no panic, and
// never a negative duration (an overflow must be refused, not wrap).
func FuzzParseISODuration(f *testing.F) {
	for _, s := range []string{"PT1S", "PT0.5S", "P1DT12H", "PT2M", "P1Y", "PT", "P", "PT1,5S", "P106751DT23H47M16.854775807S", "PT9223372036.854775808S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseISODuration(s)
		if err == nil && d < 0 {
			t.Fatalf("%q → %v: negative", s, d)
		}
	})
}
