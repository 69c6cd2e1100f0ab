package knative

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// PatchOp is one RFC 6902 operation, as kustomize reads it from a patch
// file.
type PatchOp struct {
	Op    string `yaml:"op"`
	Path  string `yaml:"path"`
	Value any    `yaml:"value,omitempty"`
	From  string `yaml:"from,omitempty"`
}

// applyJSONPatch applies ops to doc in order (RFC 6902 add, remove,
// replace, test). The object is changed in place; on error it may be
// partly patched, which is fine because rendering stops.
func applyJSONPatch(doc map[string]any, ops []PatchOp) error {
	for _, op := range ops {
		tokens, err := pointer(op.Path)
		if err != nil {
			return err
		}
		if len(tokens) == 0 {
			return fmt.Errorf("%s %q: patching the whole document is not supported", op.Op, op.Path)
		}
		switch op.Op {
		case "add", "replace", "remove", "test":
		default:
			return fmt.Errorf("op %q at %q: only add, remove, replace and test are supported", op.Op, op.Path)
		}
		parent, err := walk(doc, tokens[:len(tokens)-1], op.Op == "add")
		if err != nil {
			return fmt.Errorf("%s %q: %w", op.Op, op.Path, err)
		}
		last := tokens[len(tokens)-1]
		if err := applyAt(doc, tokens[:len(tokens)-1], parent, last, op); err != nil {
			return fmt.Errorf("%s %q: %w", op.Op, op.Path, err)
		}
	}
	return nil
}

// pointer splits an RFC 6901 JSON pointer into unescaped tokens.
func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q must start with /", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return parts, nil
}

// walk follows tokens from doc. With create, missing map members on the
// way are an error too (RFC 6902: the parent of an added value must exist).
func walk(doc any, tokens []string, create bool) (any, error) {
	cur := doc
	for _, t := range tokens {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("no member %q", t)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("no element %q", t)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q is inside a scalar", t)
		}
	}
	return cur, nil
}

// applyAt performs op on member last of parent. Arrays change length on
// add and remove, so the new slice is stored back through its own parent.
func applyAt(doc map[string]any, parentPath []string, parent any, last string, op PatchOp) error {
	switch p := parent.(type) {
	case map[string]any:
		_, exists := p[last]
		switch op.Op {
		case "add":
			p[last] = op.Value
		case "replace":
			if !exists {
				return fmt.Errorf("no member %q to replace", last)
			}
			p[last] = op.Value
		case "remove":
			if !exists {
				return fmt.Errorf("no member %q to remove", last)
			}
			delete(p, last)
		case "test":
			if !exists || !reflect.DeepEqual(p[last], op.Value) {
				return fmt.Errorf("test failed: %v", p[last])
			}
		}
		return nil
	case []any:
		i := len(p)
		if last != "-" {
			n, err := strconv.Atoi(last)
			if err != nil || n < 0 || n > len(p) || (op.Op != "add" && n == len(p)) {
				return fmt.Errorf("no element %q", last)
			}
			i = n
		} else if op.Op != "add" {
			return fmt.Errorf("%q only works with add", last)
		}
		var next []any
		switch op.Op {
		case "add":
			next = append(append(append([]any{}, p[:i]...), op.Value), p[i:]...)
		case "replace":
			p[i] = op.Value
			return nil
		case "remove":
			next = append(append([]any{}, p[:i]...), p[i+1:]...)
		case "test":
			if !reflect.DeepEqual(p[i], op.Value) {
				return fmt.Errorf("test failed: %v", p[i])
			}
			return nil
		}
		if len(parentPath) == 0 {
			return fmt.Errorf("the document is not an array")
		}
		grand, err := walk(doc, parentPath[:len(parentPath)-1], false)
		if err != nil {
			return err
		}
		key := parentPath[len(parentPath)-1]
		switch g := grand.(type) {
		case map[string]any:
			g[key] = next
		case []any:
			n, _ := strconv.Atoi(key)
			g[n] = next
		}
		return nil
	default:
		return fmt.Errorf("parent of %q is a scalar", last)
	}
}
