package notices

import (
	"strings"
	"testing"
)

func TestEveryTemplateExistsInBothLanguagesAndRenders(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for key := range s.t {
		names[strings.Split(key, ".")[0]] = true
	}
	for name := range names {
		if !s.Has(name) {
			t.Errorf("%s lacks a Chinese or an English version", name)
		}
	}
}

func TestRenderVerificationCode(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"code": "123456", "request_id": "r1", "type": "copy", "type_zh": "副本", "verify_url": "http://x/v"}
	n, err := s.Render("verification_code", "", vars)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(n.Subject, "验证码") || !strings.Contains(n.Subject, "verification code") || strings.Count(n.Text, "123456") != 2 {
		t.Fatalf("bilingual notice wrong: %+v", n)
	}
	delete(vars, "code")
	if _, err := s.Render("verification_code", "en", vars); err == nil {
		t.Fatal("a missing variable must be an error, not a blank in a notice")
	}
}

func TestLang(t *testing.T) {
	for hint, want := range map[string]string{"": "zh", "en-US,en;q=0.9": "en", "zh-CN": "zh", "fr": "zh"} {
		if got := Lang(hint); got != want {
			t.Errorf("Lang(%q) = %s", hint, got)
		}
	}
}
