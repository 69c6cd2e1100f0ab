package portal

import (
	"strings"
	"testing"

	"github.com/veil-privacy/veil/privacy"
)

func TestParseCorrections(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		want  map[string]string
		field string // the error's field, "" for none
	}{
		{"lines", "name: Li Lei\r\nphone: 138 0000 0000\n\n", map[string]string{"name": "Li Lei", "phone": "138 0000 0000"}, ""},
		{"full-width colon", "姓名：李雷", map[string]string{"姓名": "李雷"}, ""},
		{"value with a colon", "note: a: b", map[string]string{"note": "a: b"}, ""},
		{"empty value clears", "nickname:", map[string]string{"nickname": ""}, ""},
		{"nothing", "  \n ", map[string]string{}, ""},
		{"no colon", "just words", nil, "corrections"},
		{"no field", ": value", nil, "corrections"},
		{"twice", "a: 1\na: 2", nil, "corrections"},
		{"long name", strings.Repeat("n", 65) + ": v", nil, "corrections"},
		{"NUL", "a: \x00", nil, "corrections"},
		{"too many", strings.Repeat("x: y\n", 1) + manyLines(51), nil, "corrections"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseCorrections(c.in)
			if c.field != "" {
				var de *privacy.Error
				if err == nil || !asPrivacy(err, &de) || de.Field != c.field {
					t.Fatalf("err = %v, want one on %s", err, c.field)
				}
				return
			}
			if err != nil || len(got) != len(c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Fatalf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func manyLines(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("field" + strings.Repeat("x", i) + ": v\n")
	}
	return b.String()
}

func asPrivacy(err error, de **privacy.Error) bool {
	e, ok := err.(*privacy.Error)
	*de = e
	return ok
}

func TestCatalogNeedsBothLanguages(t *testing.T) {
	cases := []struct{ name, raw, err string }{
		{"both", `{"zh":{"a":"甲"},"en":{"a":"A"}}`, ""},
		{"missing in English", `{"zh":{"a":"甲","b":"乙"},"en":{"a":"A"}}`, "en:b"},
		{"missing in Chinese", `{"zh":{"a":"甲"},"en":{"a":"A","c":"C"}}`, "zh:c"},
		{"no English", `{"zh":{"a":"甲"}}`, `"en"`},
		{"not JSON", `{`, "messages.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadCatalog([]byte(c.raw))
			if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
		})
	}
	// And the shipped catalog loads.
	raw, err := assets.ReadFile("messages.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadCatalog(raw); err != nil {
		t.Fatal(err)
	}
}

func TestProcessingDeclarationIsValid(t *testing.T) {
	for _, a := range Processing() {
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
	}
}
