package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// yamlToJSON turns a YAML document (an incident declaration, a policy
// revision) into the JSON body the API takes. The keys are the API's own,
// so one reference documents both; the API refuses unknown keys, so a
// typo is named rather than ignored. Timestamps (YAML's or written as
// strings) become RFC 3339 strings. The document must be one mapping with
// string keys.
func yamlToJSON(src []byte) ([]byte, error) {
	if len(src) > maxFile {
		return nil, fmt.Errorf("the YAML document is larger than %d bytes", maxFile)
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("YAML: one document only (found a second after ---)")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("YAML: the document must be a mapping of the API's fields (title: …, what_happened: …)")
	}
	v, err := yamlValue(doc.Content[0], 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// maxDepth bounds nesting; declarations are three levels deep.
const maxDepth = 32

// yamlValue converts a node to a JSON-ready value. Aliases are refused:
// nobody writes them in a declaration, and expanding them is how a small
// document becomes a huge one.
func yamlValue(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("YAML line %d: nested deeper than %d levels", n.Line, maxDepth)
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			// Plain names only: this also refuses merge keys (<<, tagged
			// !!merge), which would splice in fields nobody wrote here.
			if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool") {
				return nil, fmt.Errorf("YAML line %d: keys must be plain names", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("YAML line %d: %q given twice", k.Line, k.Value)
			}
			val, err := yamlValue(v, depth+1)
			if err != nil {
				return nil, err
			}
			out[k.Value] = val
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := yamlValue(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	case yaml.AliasNode:
		return nil, fmt.Errorf("YAML line %d: aliases (*name) are not supported", n.Line)
	case yaml.ScalarNode:
		return yamlScalar(n)
	}
	return nil, fmt.Errorf("YAML line %d: unexpected node", n.Line)
}

func yamlScalar(n *yaml.Node) (any, error) {
	switch n.Tag {
	case "!!null":
		return nil, nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("YAML line %d: %w", n.Line, err)
		}
		if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			return nil, fmt.Errorf("YAML line %d: %s is not a JSON number", n.Line, n.Value)
		}
		return v, nil
	case "!!timestamp":
		var t time.Time
		if err := n.Decode(&t); err != nil {
			return nil, fmt.Errorf("YAML line %d: %w", n.Line, err)
		}
		if !strings.ContainsAny(n.Value, "Tt ") {
			// A bare date is midnight in Beijing time, the policy's zone,
			// not UTC.
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
		}
		return t.Format(time.RFC3339Nano), nil
	case "!!str", "":
		return n.Value, nil
	case "!!binary":
		return nil, fmt.Errorf("YAML line %d: binary values are not supported", n.Line)
	}
	// A custom tag (!foo) is kept as its text.
	return n.Value, nil
}
