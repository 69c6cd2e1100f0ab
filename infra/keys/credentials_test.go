package keys

import (
	"regexp"
	"testing"
)

func TestCredentials(t *testing.T) {
	cases := []struct {
		name string
		make func() string
		want *regexp.Regexp
	}{
		{"id", func() string { return NewID("app_") }, regexp.MustCompile(`^app_[0-9a-f]{16}$`)},
		{"secret", func() string { return NewSecret("vk_") }, regexp.MustCompile(`^vk_[A-Za-z0-9_-]{43}$`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seen := map[string]bool{}
			for i := 0; i < 1000; i++ {
				v := c.make()
				if !c.want.MatchString(v) {
					t.Fatalf("%q does not match %s", v, c.want)
				}
				if seen[v] {
					t.Fatalf("%q made twice", v)
				}
				seen[v] = true
			}
		})
	}
}
