package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzYAMLToJSON: whatever file ops point `-f` at, the conversion either
// refuses it or yields one JSON object — never a panic, never a body the
// API would misread.
func FuzzYAMLToJSON(f *testing.F) {
	for _, seed := range []string{
		incidentYAML,
		"version: \"2026.2\"\neffective_at: 2026-03-01\nmaterial: true\nsummary: s\nchanges: [a, b]\n",
		"a: &x [1, 2]\nb: *x\n",
		"<<: {a: 1}\n",
		"- just\n- a list\n",
		"a: 1\n---\nb: 2\n",
		"a: .inf\n",
		"a: !!binary aGVsbG8=\n",
		"? [complex]\n: key\n",
		"a: {b: {c: {d: [1, {e: null}]}}}\n",
		"title: \"\\u00e9\\t\"\ncount: 0x1F\nt: 2001-12-14 21:59:43.10 -5\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := yamlToJSON(src)
		if err != nil {
			return
		}
		if !json.Valid(out) || !bytes.HasPrefix(out, []byte("{")) {
			t.Fatalf("not a JSON object: %q", out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("does not decode as an object: %v", err)
		}
	})
}

func TestYAMLToJSON(t *testing.T) {
	cases := []struct {
		name, src, want, err string
	}{
		{"timestamps become RFC 3339", "at: 2026-01-02T03:04:05Z\n", `{"at":"2026-01-02T03:04:05Z"}`, ""},
		{"a date is midnight Beijing time", "at: 2026-01-03\n", `{"at":"2026-01-03T00:00:00+08:00"}`, ""},
		{"quoted stays a string", "version: \"2026.1\"\n", `{"version":"2026.1"}`, ""},
		{"numbers and bools", "n: 3\nf: 1.5\nb: true\nz: null\n", `{"b":true,"f":1.5,"n":3,"z":null}`, ""},
		{"lists and maps", "a: [x, {y: 1}]\n", `{"a":["x",{"y":1}]}`, ""},
		{"aliases refused", "a: &x 1\nb: *x\n", "", "aliases"},
		{"merge keys refused", "b: {c: 1}\n<<: {a: 1}\n", "", "keys must be plain names"},
		{"duplicate keys refused", "a: 1\na: 2\n", "", "\"a\" given twice"},
		{"a list is not a declaration", "- a\n", "", "must be a mapping"},
		{"two documents", "a: 1\n---\nb: 2\n", "", "one document only"},
		{"infinity is not JSON", "a: .inf\n", "", "not a JSON number"},
		{"syntax error names the line", "a: [1\nb: 2\n", "", "line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := yamlToJSON([]byte(c.src))
			if c.err != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.err)) {
					t.Fatalf("error %v, want one containing %q (got %s)", err, c.err, got)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Fatalf("got %s, %v; want %s", got, err, c.want)
			}
		})
	}
}
