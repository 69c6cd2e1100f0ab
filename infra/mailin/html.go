package mailin

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// decodeHTMLCharset is decodeCharset for text/html: when the MIME header
// names no charset, a <meta charset> in the document is the sender's only
// statement about its bytes, so it is honoured before guessing.
func decodeHTMLCharset(b []byte, label string) string {
	if label != "" || utf8.Valid(b) {
		return decodeCharset(b, label)
	}
	e, _, _ := charset.DetermineEncoding(b, "text/html")
	out, err := e.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// isBlock reports elements that end a line of rendered text, so that
// paragraphs and table rows of an HTML-only mail do not run together into
// one line, which would hide the structure the classifier relies on (quoted
// lines, forward headers).
func isBlock(a atom.Atom) bool {
	switch a {
	case atom.Address, atom.Article, atom.Aside, atom.Blockquote, atom.Body,
		atom.Caption, atom.Center, atom.Dd, atom.Div, atom.Dl, atom.Dt,
		atom.Fieldset, atom.Figcaption, atom.Figure, atom.Footer, atom.Form,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Header,
		atom.Hr, atom.Html, atom.Li, atom.Main, atom.Nav, atom.Ol, atom.P,
		atom.Pre, atom.Section, atom.Table, atom.Tr, atom.Ul:
		return true
	}
	return false
}

// isHidden reports elements whose text the reader never sees. All of them
// are raw-text elements for the tokenizer, so their content arrives as a
// single token and the skip counter cannot be left dangling by nested
// markup.
func isHidden(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Title, atom.Noscript, atom.Iframe,
		atom.Noembed, atom.Noframes:
		return true
	}
	return false
}

// htmlToText renders HTML as the plain text a reader would see. Blockquotes
// become "> " prefixes so that quoted replies in HTML mail are recognised as
// quotes by Classify, just as in plain-text mail.
func htmlToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var t textSink
	hidden, pre := 0, 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return tidyText(t.b.String())
		case html.TextToken:
			if hidden == 0 {
				t.text(string(z.Text()), pre > 0)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch {
			case isHidden(a):
				if tt == html.StartTagToken {
					hidden++
				}
			case a == atom.Br:
				t.lineBreak()
			case a == atom.Td || a == atom.Th:
				t.space()
			case isBlock(a):
				t.blockBreak()
				if tt == html.SelfClosingTagToken {
					break
				}
				switch a {
				case atom.Blockquote:
					t.quote++
				case atom.Pre:
					pre++
				case atom.Li:
					t.text("- ", true)
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch {
			case isHidden(a):
				if hidden > 0 {
					hidden--
				}
			case isBlock(a):
				switch a {
				case atom.Blockquote:
					if t.quote > 0 {
						t.quote--
					}
				case atom.Pre:
					if pre > 0 {
						pre--
					}
				}
				t.blockBreak()
			}
		}
	}
}

// textSink accumulates rendered text, collapsing HTML whitespace the way a
// browser would and prefixing lines inside blockquotes.
type textSink struct {
	b       strings.Builder
	quote   int
	pending bool // a collapsed space is owed before the next word
}

func (t *textSink) atLineStart() bool {
	s := t.b.String()
	return s == "" || s[len(s)-1] == '\n'
}

// maxQuotePrefix caps the "> " prefix: without it, a few hundred thousand
// nested <blockquote>s followed by many short lines would multiply a 10 MiB
// message into gigabytes of prefixes.
const maxQuotePrefix = 8

func (t *textSink) startLine() {
	if t.atLineStart() && t.quote > 0 {
		t.b.WriteString(strings.Repeat("> ", min(t.quote, maxQuotePrefix)))
	}
}

func (t *textSink) text(s string, verbatim bool) {
	s = strings.ReplaceAll(s, "\u00a0", " ")
	if verbatim {
		for i, line := range strings.Split(s, "\n") {
			if i > 0 {
				t.b.WriteByte('\n')
			}
			if line != "" {
				t.startLine()
				t.b.WriteString(line)
			}
		}
		t.pending = false
		return
	}
	words := strings.Fields(s)
	if len(words) == 0 {
		if s != "" {
			t.pending = true
		}
		return
	}
	lead := s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f'
	if (t.pending || lead) && !t.atLineStart() {
		t.b.WriteByte(' ')
	}
	t.startLine()
	t.b.WriteString(strings.Join(words, " "))
	last := s[len(s)-1]
	t.pending = last == ' ' || last == '\t' || last == '\n' || last == '\r' || last == '\f'
}

func (t *textSink) space() {
	if !t.atLineStart() {
		t.pending = true
	}
}

func (t *textSink) lineBreak() {
	t.b.WriteByte('\n')
	t.pending = false
}

func (t *textSink) blockBreak() {
	if !t.atLineStart() {
		t.b.WriteByte('\n')
	}
	t.pending = false
}

// tidyText normalises line endings, strips trailing blanks and control
// characters, and squeezes runs of blank lines, so every body — plain or
// converted — reaches callers in the same shape.
func tidyText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(stripControls(l), " \t\u00a0\u3000")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.Trim(strings.Join(out, "\n"), "\n")
}

func stripControls(s string) string {
	clean := true
	for _, r := range s {
		if (r < 0x20 && r != '\t') || (r >= 0x7f && r < 0xa0) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if (r < 0x20 && r != '\t') || (r >= 0x7f && r < 0xa0) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
