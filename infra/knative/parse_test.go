package knative

import (
	"strings"
	"testing"
	"time"
)

func TestParseISODuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"PT1S", time.Second, false},
		{"PT0.5S", 500 * time.Millisecond, false},
		{"PT0,25S", 250 * time.Millisecond, false},
		{"PT2M", 2 * time.Minute, false},
		{"PT1H30M", 90 * time.Minute, false},
		{"P1D", 24 * time.Hour, false},
		{"P1DT12H", 36 * time.Hour, false},
		{"P2W", 14 * 24 * time.Hour, false},
		{"PT0S", 0, false},
		{"1s", 0, true},     // Go syntax, not ISO-8601
		{"P", 0, true},      // no parts
		{"PT", 0, true},     // T without a time part
		{"P1H", 0, true},    // hours belong after T
		{"PT1D", 0, true},   // days belong before T
		{"PT1S1M", 0, true}, // out of order
		{"PT.5S", 0, true},  // fraction without integer part
		{"PT5.S", 0, true},
		{"-PT1S", 0, true},
		{"PT1X", 0, true},
		{"PT1", 0, true},
		{"PT1STT", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseISODuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseISODuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestISODurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 1500 * time.Millisecond, 90 * time.Second, 2*time.Hour + 3*time.Minute + 4*time.Second} {
		s := ISODuration(d)
		got, err := ParseISODuration(s)
		if err != nil || got != d {
			t.Errorf("ISODuration(%v) = %q, which parses back as %v, %v", d, s, got, err)
		}
	}
}

func TestParseCron(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 2, 10, 7, 30, 0, shanghai) // a Monday
	tests := []struct {
		spec string
		next []string // successive fire times after from, RFC 3339 in Shanghai
		err  bool
	}{
		{spec: "*/15 * * * *", next: []string{"2026-03-02T10:15:00+08:00", "2026-03-02T10:30:00+08:00", "2026-03-02T10:45:00+08:00"}},
		{spec: "0 * * * *", next: []string{"2026-03-02T11:00:00+08:00", "2026-03-02T12:00:00+08:00"}},
		{spec: "@hourly", next: []string{"2026-03-02T11:00:00+08:00"}},
		{spec: "30 2 * * *", next: []string{"2026-03-03T02:30:00+08:00", "2026-03-04T02:30:00+08:00"}},
		{spec: "0 9 * * MON-FRI", next: []string{"2026-03-03T09:00:00+08:00"}},
		{spec: "0 0 * * 7", next: []string{"2026-03-08T00:00:00+08:00"}}, // 7 is Sunday
		{spec: "0 0 1 JAN *", next: []string{"2027-01-01T00:00:00+08:00"}},
		{spec: "5/20 10 * * *", next: []string{"2026-03-02T10:25:00+08:00", "2026-03-02T10:45:00+08:00"}},
		{spec: "0 0 13 * FRI", next: []string{"2026-03-06T00:00:00+08:00", "2026-03-13T00:00:00+08:00"}}, // either day field matches
		{spec: "0 0 1,15 * *", next: []string{"2026-03-15T00:00:00+08:00", "2026-04-01T00:00:00+08:00"}},
		{spec: "CRON_TZ=UTC 0 0 * * *", next: []string{"2026-03-03T08:00:00+08:00"}},
		{spec: "0 0 30 2 *", next: []string{""}}, // never
		{spec: "60 * * * *", err: true},
		{spec: "* 24 * * *", err: true},
		{spec: "* * 0 * *", err: true},
		{spec: "* * * 13 *", err: true},
		{spec: "* * * * 8", err: true},
		{spec: "*/0 * * * *", err: true},
		{spec: "5-1 * * * *", err: true},
		{spec: "* * * *", err: true},
		{spec: "* * * * * *", err: true},
		{spec: "@every 5m", err: true},
		{spec: "CRON_TZ=Mars/Olympus 0 * * * *", err: true},
		{spec: "0 * * * BOGUS", err: true},
	}
	for _, tt := range tests {
		c, err := ParseCron(tt.spec)
		if (err != nil) != tt.err {
			t.Errorf("ParseCron(%q) error = %v; want error %v", tt.spec, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		at := from
		if c.Location != nil {
			at = from.In(c.Location)
		}
		for i, want := range tt.next {
			n := c.Next(at)
			got := ""
			if !n.IsZero() {
				got = n.In(shanghai).Format(time.RFC3339)
			}
			if got != want {
				t.Errorf("%q: fire %d after %s = %q; want %q", tt.spec, i+1, from.Format(time.RFC3339), got, want)
				break
			}
			at = n
		}
	}
}

func TestSplitImageAndImageFor(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		ref                 string
		name, tag, dig      string
		imageErr            bool
		wantNewName, wantDg string
	}{
		{ref: "veil", name: "veil", imageErr: true},
		{ref: "registry.example:5000/veil/veil:latest", name: "registry.example:5000/veil/veil", tag: "latest", imageErr: true},
		{ref: "registry.example:5000/veil/veil@" + digest, name: "registry.example:5000/veil/veil", dig: digest, wantNewName: "registry.example:5000/veil/veil", wantDg: digest},
		{ref: "r.example/veil:v1@" + digest, name: "r.example/veil", tag: "v1", dig: digest, wantNewName: "r.example/veil", wantDg: digest},
		{ref: "r.example/veil@sha256:abc", name: "r.example/veil", dig: "sha256:abc", imageErr: true},
	}
	for _, tt := range tests {
		n, tag, dig := SplitImage(tt.ref)
		if n != tt.name || tag != tt.tag || dig != tt.dig {
			t.Errorf("SplitImage(%q) = %q, %q, %q", tt.ref, n, tag, dig)
		}
		im, err := ImageFor(tt.ref)
		if (err != nil) != tt.imageErr {
			t.Errorf("ImageFor(%q) error = %v; want error %v", tt.ref, err, tt.imageErr)
		}
		if err == nil && (im.Name != ImageName || im.NewName != tt.wantNewName || im.Digest != tt.wantDg) {
			t.Errorf("ImageFor(%q) = %+v", tt.ref, im)
		}
	}
}

func TestApplyJSONPatch(t *testing.T) {
	doc := func() map[string]any {
		return map[string]any{"metadata": map[string]any{"annotations": map[string]any{"a/b": "1"}},
			"spec": map[string]any{"list": []any{"x", "y"}}}
	}
	tests := []struct {
		name string
		ops  []PatchOp
		want string // fmt of the resulting value at check
		get  func(map[string]any) any
		err  bool
	}{
		{name: "replace escaped key", ops: []PatchOp{{Op: "replace", Path: "/metadata/annotations/a~1b", Value: "2"}},
			get: func(d map[string]any) any {
				return d["metadata"].(map[string]any)["annotations"].(map[string]any)["a/b"]
			}, want: "2"},
		{name: "add member", ops: []PatchOp{{Op: "add", Path: "/spec/new", Value: 3}},
			get: func(d map[string]any) any { return d["spec"].(map[string]any)["new"] }, want: "3"},
		{name: "append to list", ops: []PatchOp{{Op: "add", Path: "/spec/list/-", Value: "z"}},
			get: func(d map[string]any) any { return d["spec"].(map[string]any)["list"] }, want: "[x y z]"},
		{name: "insert into list", ops: []PatchOp{{Op: "add", Path: "/spec/list/0", Value: "w"}},
			get: func(d map[string]any) any { return d["spec"].(map[string]any)["list"] }, want: "[w x y]"},
		{name: "remove from list", ops: []PatchOp{{Op: "remove", Path: "/spec/list/0"}},
			get: func(d map[string]any) any { return d["spec"].(map[string]any)["list"] }, want: "[y]"},
		{name: "remove member", ops: []PatchOp{{Op: "remove", Path: "/metadata/annotations/a~1b"}},
			get: func(d map[string]any) any { return len(d["metadata"].(map[string]any)["annotations"].(map[string]any)) }, want: "0"},
		{name: "test passes", ops: []PatchOp{{Op: "test", Path: "/spec/list/1", Value: "y"}},
			get: func(d map[string]any) any { return d["spec"].(map[string]any)["list"] }, want: "[x y]"},
		{name: "replace missing", ops: []PatchOp{{Op: "replace", Path: "/metadata/annotations/none", Value: "2"}}, err: true},
		{name: "add under missing parent", ops: []PatchOp{{Op: "add", Path: "/spec/none/x", Value: "2"}}, err: true},
		{name: "test fails", ops: []PatchOp{{Op: "test", Path: "/spec/list/1", Value: "q"}}, err: true},
		{name: "move unsupported", ops: []PatchOp{{Op: "move", From: "/spec", Path: "/x"}}, err: true},
		{name: "relative path", ops: []PatchOp{{Op: "add", Path: "spec/x", Value: 1}}, err: true},
		{name: "index out of range", ops: []PatchOp{{Op: "replace", Path: "/spec/list/2", Value: 1}}, err: true},
	}
	for _, tt := range tests {
		d := doc()
		err := applyJSONPatch(d, tt.ops)
		if (err != nil) != tt.err {
			t.Errorf("%s: error = %v; want error %v", tt.name, err, tt.err)
			continue
		}
		if err == nil {
			if got := strings.TrimSpace(fmtValue(tt.get(d))); got != tt.want {
				t.Errorf("%s: got %s; want %s", tt.name, got, tt.want)
			}
		}
	}
}
