package knative

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Object is one decoded manifest.
type Object = map[string]any

// Render builds the kustomization in dir the way `kubectl kustomize` does,
// for the subset of kustomize Veil's layout uses: resources (files and
// directories), components, namespace, images and JSON 6902 patches with
// a target. Any other kustomization field is refused rather than ignored,
// so a layout change that needs more of kustomize fails here, not
// silently in a dry run. images are applied last, as an outer
// kustomization's `images:` would (deploy.sh's image digest).
func Render(dir string, images ...Image) ([]Object, error) {
	objs, err := build(dir, "Kustomization", 0)
	if err != nil {
		return nil, err
	}
	for _, im := range images {
		setImage(objs, im)
	}
	sortObjects(objs)
	return objs, nil
}

// LoadKustomization reads dir's kustomization file, refusing unknown
// fields.
func LoadKustomization(dir string) (Kustomization, error) {
	var k Kustomization
	var raw []byte
	var err error
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		raw, err = os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			break
		}
	}
	if err != nil {
		return k, fmt.Errorf("%s: no kustomization file: %w", dir, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		return k, fmt.Errorf("%s/kustomization.yaml: %w (the renderer implements resources, components, namespace, images and patches only)", dir, err)
	}
	return k, nil
}

func build(dir, kind string, depth int) ([]Object, error) {
	if depth > 10 {
		return nil, fmt.Errorf("%s: kustomizations nested too deep (a cycle?)", dir)
	}
	k, err := LoadKustomization(dir)
	if err != nil {
		return nil, err
	}
	wantAPI := map[string]string{"Kustomization": KustomizeV1Beta1, "Component": KustomizeV1Alpha1}[kind]
	if k.Kind != kind || k.APIVersion != wantAPI {
		return nil, fmt.Errorf("%s: want kind %s (%s), found %s (%s)", dir, kind, wantAPI, k.Kind, k.APIVersion)
	}
	var objs []Object
	for _, r := range k.Resources {
		more, err := loadResource(dir, r, depth)
		if err != nil {
			return nil, err
		}
		objs = append(objs, more...)
	}
	for _, c := range k.Components {
		cdir := filepath.Join(dir, c)
		ck, err := LoadKustomization(cdir)
		if err != nil {
			return nil, err
		}
		if ck.Kind != "Component" || ck.APIVersion != KustomizeV1Alpha1 {
			return nil, fmt.Errorf("%s: listed under components but is not a Component", cdir)
		}
		for _, r := range ck.Resources {
			more, err := loadResource(cdir, r, depth)
			if err != nil {
				return nil, err
			}
			objs = append(objs, more...)
		}
		if objs, err = transform(cdir, ck, objs); err != nil {
			return nil, err
		}
	}
	if objs, err = transform(dir, k, objs); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, o := range objs {
		id := objectID(o)
		if seen[id] {
			return nil, fmt.Errorf("%s: %s is defined twice", dir, id)
		}
		seen[id] = true
	}
	return objs, nil
}

func loadResource(dir, r string, depth int) ([]Object, error) {
	p := filepath.Join(dir, r)
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%s: resource %q: %w", dir, r, err)
	}
	if st.IsDir() {
		return build(p, "Kustomization", depth+1)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	objs, err := DecodeAll(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return objs, nil
}

// DecodeAll decodes a multi-document YAML stream, skipping empty
// documents; every document must have apiVersion, kind and a name.
func DecodeAll(raw []byte) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var out []Object
	for i := 0; ; i++ {
		var o Object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if o == nil {
			continue
		}
		if str(o, "apiVersion") == "" || str(o, "kind") == "" || name(o) == "" {
			return nil, fmt.Errorf("document %d: apiVersion, kind and metadata.name are required", i+1)
		}
		out = append(out, o)
	}
}

// transform applies one kustomization's patches, namespace and images, in
// kustomize's order.
func transform(dir string, k Kustomization, objs []Object) ([]Object, error) {
	for _, p := range k.Patches {
		if p.Path == "" || p.Target == nil {
			return nil, fmt.Errorf("%s: every patch needs a path and a target (JSON 6902 patches only)", dir)
		}
		raw, err := os.ReadFile(filepath.Join(dir, p.Path))
		if err != nil {
			return nil, fmt.Errorf("%s: patch: %w", dir, err)
		}
		var ops []PatchOp
		if err := yaml.Unmarshal(raw, &ops); err != nil {
			return nil, fmt.Errorf("%s/%s: not a JSON 6902 patch (a list of operations): %w", dir, p.Path, err)
		}
		sel, err := newSelector(*p.Target)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, p.Path, err)
		}
		for _, o := range objs {
			if !sel.matches(o) {
				continue
			}
			if err := applyJSONPatch(o, cloneOps(ops)); err != nil {
				return nil, fmt.Errorf("%s/%s on %s: %w", dir, p.Path, objectID(o), err)
			}
		}
	}
	if k.Namespace != "" {
		for _, o := range objs {
			if !clusterScoped(str(o, "kind")) {
				meta(o)["namespace"] = k.Namespace
			}
		}
	}
	for _, im := range k.Images {
		setImage(objs, im)
	}
	return objs, nil
}

// cloneOps deep-copies patch values so that objects patched by the same
// operation do not share (and later mutate) one value.
func cloneOps(ops []PatchOp) []PatchOp {
	out := make([]PatchOp, len(ops))
	for i, op := range ops {
		op.Value = deepCopy(op.Value)
		out[i] = op
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

type selector struct {
	t      Target
	name   *regexp.Regexp
	labels map[string]string
}

func newSelector(t Target) (selector, error) {
	s := selector{t: t}
	if t.Name != "" {
		re, err := regexp.Compile("^(?:" + t.Name + ")$")
		if err != nil {
			return s, fmt.Errorf("target name: %w", err)
		}
		s.name = re
	}
	if t.LabelSelector != "" {
		s.labels = map[string]string{}
		for _, term := range strings.Split(t.LabelSelector, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(term), "=")
			if !ok || strings.ContainsAny(k, "!<>() ") || strings.HasPrefix(v, "=") {
				return s, fmt.Errorf("labelSelector %q: only key=value terms are supported", t.LabelSelector)
			}
			s.labels[k] = v
		}
	}
	return s, nil
}

func (s selector) matches(o Object) bool {
	group, version := splitAPIVersion(str(o, "apiVersion"))
	if s.t.Kind != "" && s.t.Kind != str(o, "kind") ||
		s.t.Group != "" && s.t.Group != group ||
		s.t.Version != "" && s.t.Version != version ||
		s.name != nil && !s.name.MatchString(name(o)) {
		return false
	}
	labels, _ := meta(o)["labels"].(map[string]any)
	for k, v := range s.labels {
		if got, _ := labels[k].(string); got != v {
			return false
		}
	}
	return true
}

func splitAPIVersion(av string) (group, version string) {
	if g, v, ok := strings.Cut(av, "/"); ok {
		return g, v
	}
	return "", av
}

// clusterScoped lists the cluster-scoped kinds a Veil overlay might hold;
// the namespace transformer leaves them alone.
func clusterScoped(kind string) bool {
	switch kind {
	case "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume", "StorageClass", "PriorityClass":
		return true
	}
	return false
}

// setImage rewrites every container image named im.Name, wherever a
// containers or initContainers list appears (kustomize's image
// transformer does the same).
func setImage(objs []Object, im Image) {
	var visit func(v any)
	visit = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "containers" || k == "initContainers" {
					if list, ok := e.([]any); ok {
						for _, c := range list {
							if cm, ok := c.(map[string]any); ok {
								if s, ok := cm["image"].(string); ok {
									cm["image"] = replaceImage(s, im)
								}
							}
						}
					}
				}
				visit(e)
			}
		case []any:
			for _, e := range x {
				visit(e)
			}
		}
	}
	for _, o := range objs {
		visit(o)
	}
}

// replaceImage applies one images: entry to one image reference.
func replaceImage(ref string, im Image) string {
	n, tag, digest := SplitImage(ref)
	if n != im.Name {
		return ref
	}
	if im.NewName != "" {
		n = im.NewName
	}
	switch {
	case im.Digest != "":
		return n + "@" + im.Digest
	case im.NewTag != "":
		return n + ":" + im.NewTag
	case digest != "":
		return n + "@" + digest
	case tag != "":
		return n + ":" + tag
	}
	return n
}

// SplitImage splits an image reference into name, tag and digest. A colon
// after the last slash starts a tag; one before it is a registry port.
func SplitImage(ref string) (name, tag, digest string) {
	name = ref
	if i := strings.Index(name, "@"); i >= 0 {
		name, digest = name[:i], name[i+1:]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// ImageFor turns a built image reference (registry/veil@sha256:…) into
// the images: entry that puts it in place of the placeholder.
func ImageFor(ref string) (Image, error) {
	n, tag, digest := SplitImage(ref)
	if n == "" {
		return Image{}, fmt.Errorf("image %q: no name", ref)
	}
	if digest == "" {
		return Image{}, fmt.Errorf("image %q: deploy by digest (name@sha256:…), so a moved tag cannot change a running revision", ref)
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(digest) {
		return Image{}, fmt.Errorf("image %q: digest is not sha256:<64 hex digits>", ref)
	}
	_ = tag // a tag beside a digest is informational; the digest wins
	return Image{Name: ImageName, NewName: n, Digest: digest}, nil
}

// kindOrder puts what others depend on first, as kustomize's legacy
// order does, so `kubectl apply -f` creates the namespace before
// anything in it.
func kindOrder(kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "ServiceAccount":
		return 1
	case "ConfigMap", "Secret":
		return 2
	case "Broker":
		return 3
	}
	return 4
}

func sortObjects(objs []Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if oa, ob := kindOrder(str(a, "kind")), kindOrder(str(b, "kind")); oa != ob {
			return oa < ob
		}
		return objectID(a) < objectID(b)
	})
}

// Encode writes objects as one multi-document YAML stream.
func Encode(w io.Writer, objs []Object) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	for _, o := range objs {
		if err := enc.Encode(o); err != nil {
			return err
		}
	}
	return enc.Close()
}

func str(o Object, k string) string { s, _ := o[k].(string); return s }

func meta(o Object) map[string]any {
	m, ok := o["metadata"].(map[string]any)
	if !ok {
		m = map[string]any{}
		o["metadata"] = m
	}
	return m
}

func name(o Object) string { s, _ := meta(o)["name"].(string); return s }

func namespace(o Object) string { s, _ := meta(o)["namespace"].(string); return s }

// objectID names an object as kustomize does in its errors.
func objectID(o Object) string {
	id := str(o, "apiVersion") + "/" + str(o, "kind") + "/"
	if ns := namespace(o); ns != "" {
		id += ns + "/"
	}
	return id + name(o)
}
