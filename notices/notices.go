// Package notices holds the words Veil sends people: every mail and push
// is a template here, in Chinese and English, so that legal wording lives
// in one reviewed place. notify renders them; requests renders the
// one-time-code mail itself (the code must not travel on the bus).
package notices

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var files embed.FS

// Languages the templates exist in.
const (
	Chinese = "zh"
	English = "en"
)

// Notice is a rendered message.
type Notice struct {
	Subject string
	Text    string
}

// Set is the parsed template set. Build it once with Load.
type Set struct {
	t map[string]*template.Template // "<name>.<lang>"
}

// Load parses every template. A template file is named <name>.<lang>.tmpl;
// its first line is "Subject: …", then a blank line, then the body.
func Load() (*Set, error) {
	s := &Set{t: map[string]*template.Template{}}
	paths, err := fs.Glob(files, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		raw, err := files.ReadFile(p)
		if err != nil {
			return nil, err
		}
		key := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".tmpl")
		if !strings.HasPrefix(string(raw), "Subject: ") || !strings.Contains(string(raw), "\n\n") {
			return nil, fmt.Errorf("notices: %s must start with a Subject: line and a blank line", p)
		}
		t, err := template.New(key).Option("missingkey=error").Parse(string(raw))
		if err != nil {
			return nil, fmt.Errorf("notices: %s: %w", p, err)
		}
		s.t[key] = t
	}
	return s, nil
}

// Has reports whether a template exists in both languages.
func (s *Set) Has(name string) bool {
	return s.t[name+"."+Chinese] != nil && s.t[name+"."+English] != nil
}

// Render renders template name in lang ("zh" or "en"); an empty lang gives
// both, Chinese first, as a bilingual notice. vars missing from the
// template's needs are an error, never an empty hole in a legal notice.
func (s *Set) Render(name, lang string, vars map[string]string) (Notice, error) {
	if lang == "" {
		zh, err := s.Render(name, Chinese, vars)
		if err != nil {
			return Notice{}, err
		}
		en, err := s.Render(name, English, vars)
		if err != nil {
			return Notice{}, err
		}
		return Notice{Subject: zh.Subject + " / " + en.Subject, Text: zh.Text + "\n\n----------\n\n" + en.Text}, nil
	}
	t := s.t[name+"."+lang]
	if t == nil {
		return Notice{}, fmt.Errorf("notices: no template %q in %q", name, lang)
	}
	if vars == nil {
		vars = map[string]string{}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, vars); err != nil {
		return Notice{}, fmt.Errorf("notices: %s.%s: %w", name, lang, err)
	}
	head, body, _ := strings.Cut(b.String(), "\n\n")
	subject := strings.TrimSpace(strings.TrimPrefix(head, "Subject: "))
	if strings.ContainsAny(subject, "\r\n") {
		return Notice{}, fmt.Errorf("notices: %s.%s: subject spans lines", name, lang)
	}
	return Notice{Subject: subject, Text: strings.TrimSpace(body) + "\n"}, nil
}

// Lang picks "zh" or "en" from an Accept-Language-like hint; Chinese is the
// default, as the policy's governing text is Chinese.
func Lang(hint string) string {
	h := strings.ToLower(strings.TrimSpace(hint))
	if strings.HasPrefix(h, "en") {
		return English
	}
	return Chinese
}
