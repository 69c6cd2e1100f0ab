package knative

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// TestRenderMatchesKustomize renders every overlay with the Go renderer
// and with `kubectl kustomize` (wrapped in a kustomization that sets the
// image, as an operator's would) and wants the same objects. This is what
// lets deploy.sh --dry-run stand for `kubectl apply -k`. Skipped where
// kubectl is not installed; the renderer's own tests still run.
func TestRenderMatchesKustomize(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed; cannot compare with kustomize")
	}
	im, err := ImageFor(testImage)
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{".", layout(t, sampleFunctions())} {
		abs, err := filepath.Abs(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range overlays(t, root) {
			ours, err := Render(filepath.Join(abs, "overlays", o), im)
			if err != nil {
				t.Fatal(err)
			}
			wrap := t.TempDir()
			// kustomize refuses absolute resource paths.
			rel, err := filepath.Rel(wrap, filepath.Join(abs, "overlays", o))
			if err != nil {
				t.Fatal(err)
			}
			k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + rel +
				"\nimages:\n  - name: " + im.Name + "\n    newName: " + im.NewName + "\n    digest: " + im.Digest + "\n"
			if err := os.WriteFile(filepath.Join(wrap, "kustomization.yaml"), []byte(k), 0o644); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(kubectl, "kustomize", wrap)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: kubectl kustomize: %v\n%s", o, err, stderr.String())
			}
			theirs, err := DecodeAll(out)
			if err != nil {
				t.Fatal(err)
			}
			a, b := index(t, ours), index(t, theirs)
			for id, x := range a {
				y, ok := b[id]
				if !ok {
					t.Errorf("%s: only the Go renderer makes %s", o, id)
				} else if !reflect.DeepEqual(x, y) {
					t.Errorf("%s: %s differs\n go:        %s\n kustomize: %s", o, id, x, y)
				}
			}
			for id := range b {
				if _, ok := a[id]; !ok {
					t.Errorf("%s: only kustomize makes %s", o, id)
				}
			}
		}
	}
}

// index maps object ids to their JSON, which normalises number and map
// types between the two decoders.
func index(t *testing.T, objs []Object) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		m[objectID(o)] = string(b)
	}
	return m
}
