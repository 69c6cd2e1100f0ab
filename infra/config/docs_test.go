package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/veil-privacy/veil/privacy"
)

// Every variable the code reads is documented for operators.
func TestEveryVariableIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`"((?:VEIL|K)_[A-Z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		names[m[1]] = true
	}
	for _, class := range privacy.RetentionClassNames() {
		names[privacy.RetentionVar(class)] = true
	}
	if len(names) < 20 {
		t.Fatalf("found only %d variable names in config.go", len(names))
	}
	for n := range names {
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("%s is read by the code but not documented in docs/configuration.md", n)
		}
	}
}
