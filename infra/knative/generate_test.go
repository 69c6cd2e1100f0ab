package knative

import (
	"context"
	"strings"
	"testing"

	"github.com/veil-privacy/veil/events"
)

// TestBaseUpToDate is the drift check: the committed base must be what the
// generator makes from the functions registered now.
func TestBaseUpToDate(t *testing.T) {
	fns, err := Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(fns)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Compare(".", files)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Empty() {
		t.Fatalf("infra/knative/base is out of date with suite.Registry() (a function was added, removed, or consumes other events).\n"+
			"Regenerate and commit it:\n\n\tgo generate ./infra/knative   (or: go run ./infra/knative/gen)\n\n%s", d)
	}
}

func TestGenerate(t *testing.T) {
	files, err := Generate(sampleFunctions())
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Render(layoutFromFiles(t, files))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Decode(objs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fn         string
		triggers   int
		clusterLoc bool
		min, max   string
	}{
		{fn: "audit", triggers: len(events.Types()), clusterLoc: true, min: "1", max: "3"},
		{fn: "ingest", triggers: 0, clusterLoc: false, min: "2", max: "50"},
		{fn: "retention", triggers: 1, clusterLoc: true, min: "0", max: "2"},
		{fn: "requests", triggers: 1, clusterLoc: false, min: "1", max: "10"}, // public default
	}
	for _, tt := range tests {
		svc, ok := s.Services[tt.fn]
		if !ok {
			t.Errorf("%s: no Service", tt.fn)
			continue
		}
		n := 0
		for _, tr := range s.Triggers {
			if tr.Spec.Subscriber.Ref.Name == tt.fn {
				n++
			}
		}
		if n != tt.triggers {
			t.Errorf("%s: %d Triggers; want %d", tt.fn, n, tt.triggers)
		}
		if got := svc.Metadata.Labels[LabelVisibility] == "cluster-local"; got != tt.clusterLoc {
			t.Errorf("%s: cluster-local = %v; want %v", tt.fn, got, tt.clusterLoc)
		}
		ann := svc.Spec.Template.Metadata.Annotations
		if ann[AnnMinScale] != tt.min || ann[AnnMaxScale] != tt.max {
			t.Errorf("%s: scale %s..%s; want %s..%s", tt.fn, ann[AnnMinScale], ann[AnnMaxScale], tt.min, tt.max)
		}
	}
	if errs := Check(objs, sampleFunctions()); len(errs) > 0 {
		// The base alone has no namespace or veil-config; only those
		// complaints are expected here (the overlays supply both).
		for _, e := range errs {
			if !strings.Contains(e.Error(), "Namespace") && !strings.Contains(e.Error(), "veil-config") {
				t.Errorf("base: %v", e)
			}
		}
	}
}

func TestGenerateRefuses(t *testing.T) {
	tests := []struct {
		name string
		fns  []Function
		want string
	}{
		{"upper case", []Function{{Name: "Ingest"}}, "DNS label"},
		{"too long", []Function{{Name: strings.Repeat("a", 41)}}, "DNS label"},
		{"func deploy's name", []Function{{Name: FuncService}}, "taken"},
		{"dead-letter name", []Function{{Name: DeadLetters}}, "taken"},
		{"twice", []Function{{Name: "a"}, {Name: "a"}}, "twice"},
		{"unknown type", []Function{{Name: "a", Consumes: []string{"com.veil.nothing.v1"}}}, "not in the events catalog"},
	}
	for _, tt := range tests {
		_, err := Generate(tt.fns)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v; want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestTriggerName(t *testing.T) {
	tests := []struct{ fn, typ, want string }{
		{"audit", events.RequestVerified, "audit-request-verified-v1"},
		{"notify", events.NotificationRequested, "notify-notification-requested-v1"},
		{"x", "org.other.thing_done.v2", "x-org-other-thing-done-v2"},
	}
	for _, tt := range tests {
		if got := TriggerName(tt.fn, tt.typ); got != tt.want {
			t.Errorf("TriggerName(%q, %q) = %q; want %q", tt.fn, tt.typ, got, tt.want)
		}
	}
}

// layoutFromFiles writes generated files into a temporary infra/knative
// and returns its base directory.
func layoutFromFiles(t *testing.T, files Files) string {
	t.Helper()
	root := t.TempDir()
	if _, err := Write(root, files); err != nil {
		t.Fatal(err)
	}
	return root + "/" + BaseDir
}
