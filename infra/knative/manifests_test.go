package knative

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/veil-privacy/veil/events"
)

var testImage = "registry.veil.example/veil/veil@sha256:" + strings.Repeat("0a", 32)

// TestCommittedOverlays renders each committed overlay and checks it
// against the functions registered now: what a cluster, or Veil at
// start-up, would reject.
func TestCommittedOverlays(t *testing.T) {
	fns, err := Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	im, err := ImageFor(testImage)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range overlays(t, ".") {
		t.Run(o, func(t *testing.T) {
			objs, err := Render(filepath.Join("overlays", o), im)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range Check(objs, fns) {
				t.Error(e)
			}
			s, err := Decode(objs)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fns {
				svc, ok := s.Services[f.Name]
				if !ok {
					continue // Check reported it
				}
				if got := svc.Spec.Template.Spec.Containers[0].Image; got != testImage {
					t.Errorf("Service %s runs %q; want the deployed digest %q", f.Name, got, testImage)
				}
			}
			if len(s.PingSources) != len(Jobs()) {
				t.Errorf("%d PingSources; want one per job (%d)", len(s.PingSources), len(Jobs()))
			}
			for n, p := range s.PingSources {
				if p.Spec.Timezone != Timezone {
					t.Errorf("PingSource %s: timezone %q; want %s", n, p.Spec.Timezone, Timezone)
				}
			}
		})
	}
}

// TestSampleOverlays does the same for an inventory that uses every
// generator path, so the overlays are exercised even while few functions
// are registered.
func TestSampleOverlays(t *testing.T) {
	root := layout(t, sampleFunctions())
	for _, o := range overlays(t, root) {
		objs, err := Render(filepath.Join(root, "overlays", o))
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		for _, e := range Check(objs, sampleFunctions()) {
			t.Errorf("%s: %v", o, e)
		}
	}
}

// TestCheckCatches breaks a good rendered set one way at a time and
// expects Check to name the problem.
func TestCheckCatches(t *testing.T) {
	root := layout(t, sampleFunctions())
	fresh := func() []Object {
		objs, err := Render(filepath.Join(root, "overlays", "dev"))
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	find := func(objs []Object, kind, n string) Object {
		for _, o := range objs {
			if str(o, "kind") == kind && name(o) == n {
				return o
			}
		}
		t.Fatalf("no %s %s", kind, n)
		return nil
	}
	at := func(o Object, path ...string) map[string]any {
		m := map[string]any(o)
		for _, p := range path {
			m = m[p].(map[string]any)
		}
		return m
	}
	trig := TriggerName("retention", events.ScheduleTicked)
	tests := []struct {
		name   string
		fns    []Function
		break_ func([]Object) []Object
		want   string
	}{
		{name: "unknown trigger type", want: "not in the events catalog", break_: func(objs []Object) []Object {
			at(find(objs, "Trigger", trig), "spec", "filter", "attributes")["type"] = "com.veil.nothing.v1"
			return objs
		}},
		{name: "missing subscriber", want: `subscriber Service "gone" does not exist`, break_: func(objs []Object) []Object {
			at(find(objs, "Trigger", trig), "spec", "subscriber", "ref")["name"] = "gone"
			return objs
		}},
		{name: "type the subscriber does not consume", want: "does not consume it", break_: func(objs []Object) []Object {
			at(find(objs, "Trigger", trig), "spec", "subscriber", "ref")["name"] = "ingest"
			return objs
		}},
		{name: "consumed type without trigger", want: "no Trigger routes it", break_: func(objs []Object) []Object {
			out := objs[:0]
			for _, o := range objs {
				if !(str(o, "kind") == "Trigger" && name(o) == trig) {
					out = append(out, o)
				}
			}
			return out
		}},
		{name: "Go-style backoff", want: "backoffDelay", break_: func(objs []Object) []Object {
			at(find(objs, "Trigger", trig), "spec", "delivery")["backoffDelay"] = "1s"
			return objs
		}},
		{name: "dead letters to a function", want: "must not go to a function Service", break_: func(objs []Object) []Object {
			at(find(objs, "Broker", BrokerName), "spec", "delivery", "deadLetterSink", "ref")["name"] = "audit"
			return objs
		}},
		{name: "missing dead-letter sink", want: `dead-letter Service "nowhere" does not exist`, break_: func(objs []Object) []Object {
			at(find(objs, "Trigger", trig), "spec", "delivery", "deadLetterSink", "ref")["name"] = "nowhere"
			return objs
		}},
		{name: "bad cron", want: "outside 0-59", break_: func(objs []Object) []Object {
			at(find(objs, "PingSource", "veil-retention"), "spec")["schedule"] = "61 * * * *"
			return objs
		}},
		{name: "bad timezone", want: "timezone", break_: func(objs []Object) []Object {
			at(find(objs, "PingSource", "veil-retention"), "spec")["timezone"] = "Asia/Shangai"
			return objs
		}},
		{name: "ping straight to the broker", want: "dev.knative.sources.ping", break_: func(objs []Object) []Object {
			at(find(objs, "PingSource", "veil-retention"), "spec", "sink")["ref"] = map[string]any{"apiVersion": EventingV1, "kind": "Broker", "name": BrokerName}
			return objs
		}},
		{name: "ping data not a tick", want: "payload with a job", break_: func(objs []Object) []Object {
			at(find(objs, "PingSource", "veil-retention"), "spec")["data"] = `{"when":"now"}`
			return objs
		}},
		{name: "transform emits unknown type", want: "emits type", break_: func(objs []Object) []Object {
			at(find(objs, "EventTransform", ScheduleTicks), "spec", "jsonata")["expression"] = `{"type": "dev.knative.sources.ping"}`
			return objs
		}},
		{name: "unregistered function", want: "not a registered function",
			fns:    []Function{{Name: "audit", Consumes: events.Types()}, {Name: "retention", Consumes: []string{events.ScheduleTicked}}, {Name: "requests", Consumes: []string{events.RequestOverdue}}},
			break_: func(objs []Object) []Object { return objs }},
		{name: "registered function without service", want: "function export has no Service",
			fns:    append(sampleFunctions(), Function{Name: "export"}),
			break_: func(objs []Object) []Object { return objs }},
		{name: "configuration Veil refuses", want: "VEIL_STORE", break_: func(objs []Object) []Object {
			at(find(objs, "ConfigMap", ConfigMapName), "data")["VEIL_STORE"] = "postgres"
			return objs
		}},
		{name: "missing configmap", want: `ConfigMap "veil-config" does not exist`, break_: func(objs []Object) []Object {
			out := objs[:0]
			for _, o := range objs {
				if !(str(o, "kind") == "ConfigMap" && name(o) == ConfigMapName) {
					out = append(out, o)
				}
			}
			return out
		}},
		{name: "secret from elsewhere", want: "must come from Secret", break_: func(objs []Object) []Object {
			c := find(objs, "Service", "ingest")["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
			c["env"].([]any)[1].(map[string]any)["valueFrom"].(map[string]any)["secretKeyRef"].(map[string]any)["name"] = "other"
			return objs
		}},
		{name: "unbound service", want: "no SinkBinding selects it", break_: func(objs []Object) []Object {
			delete(at(find(objs, "Service", "ingest"), "metadata", "labels"), LabelBroker)
			return objs
		}},
		{name: "scale upside down", want: "above max-scale", break_: func(objs []Object) []Object {
			at(find(objs, "Service", "ingest"), "spec", "template", "metadata", "annotations")[AnnMinScale] = "99"
			return objs
		}},
	}
	for _, tt := range tests {
		fns := tt.fns
		if fns == nil {
			fns = sampleFunctions()
		}
		errs := Check(tt.break_(fresh()), fns)
		var msgs []string
		found := false
		for _, e := range errs {
			msgs = append(msgs, e.Error())
			found = found || strings.Contains(e.Error(), tt.want)
		}
		if !found {
			t.Errorf("%s: want an error containing %q; got:\n  %s", tt.name, tt.want, strings.Join(msgs, "\n  "))
		}
	}
}

// TestEveryManifestIsUsed: each YAML file in infra/knative is either a
// kustomization or listed by one (as a resource or a patch), so nothing
// sits in the tree looking deployed while it is not.
func TestEveryManifestIsUsed(t *testing.T) {
	used := map[string]bool{}
	var walkErr error
	filepath.WalkDir(".", func(p string, e os.DirEntry, err error) error {
		if err != nil {
			walkErr = err
			return err
		}
		if e.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return nil
		}
		if filepath.Base(p) == "kustomization.yaml" {
			dir := filepath.Dir(p)
			k, err := LoadKustomization(dir)
			if err != nil {
				t.Error(err)
				return nil
			}
			used[p] = true
			for _, r := range k.Resources {
				full := filepath.Join(dir, r)
				if _, err := os.Stat(full); err != nil {
					t.Errorf("%s lists %s, which does not exist", p, r)
				}
				used[full] = true
			}
			for _, c := range k.Components {
				if _, err := os.Stat(filepath.Join(dir, c)); err != nil {
					t.Errorf("%s lists component %s, which does not exist", p, c)
				}
			}
			for _, pt := range k.Patches {
				used[filepath.Join(dir, pt.Path)] = true
			}
		}
		return nil
	})
	if walkErr != nil {
		t.Fatal(walkErr)
	}
	var unused []string
	filepath.WalkDir(".", func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".yaml") && !used[p] {
			unused = append(unused, p)
		}
		return nil
	})
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("YAML files no kustomization uses: %v", unused)
	}
}

// TestRenderRefuses: kustomization features the renderer does not
// implement are errors, never silently ignored.
func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unsupported field", map[string]string{"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncommonLabels: {a: b}\n"}, "commonLabels"},
		{"missing resource", map[string]string{"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [gone.yaml]\n"}, "gone.yaml"},
		{"patch without target", map[string]string{
			"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\npatches: [{path: p.yaml}]\n",
			"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
			"p.yaml":             "- {op: add, path: /data, value: {}}\n"}, "target"},
		{"strategic merge patch", map[string]string{
			"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\npatches: [{path: p.yaml, target: {kind: ConfigMap}}]\n",
			"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
			"p.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: y}\n"}, "JSON 6902"},
		{"duplicate object", map[string]string{
			"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml, b.yaml]\n",
			"a.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
			"b.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}, "defined twice"},
		{"nameless object", map[string]string{
			"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n",
			"a.yaml":             "apiVersion: v1\nkind: ConfigMap\n"}, "metadata.name"},
		{"component as resource kind", map[string]string{"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"}, "want kind Kustomization"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		for n, c := range tt.files {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Render(dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v; want one containing %q", tt.name, err, tt.want)
		}
	}
}
