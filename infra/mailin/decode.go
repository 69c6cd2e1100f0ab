package mailin

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	xunicode "golang.org/x/text/encoding/unicode"
)

// lookupCharset resolves a MIME charset label. The WHATWG index comes first
// because it folds the labels real mailers emit (gb2312 → GBK, latin1 →
// windows-1252, x-gbk, …) onto decoders that accept what those mailers
// actually send; the IANA registry catches the long tail it does not list.
// It returns nil for labels neither knows.
func lookupCharset(label string) encoding.Encoding {
	label = strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	// RFC 2231 §5 lets an encoded-word carry a language: "utf-8*zh-cn".
	if i := strings.IndexByte(label, '*'); i >= 0 {
		label = label[:i]
	}
	if label == "" {
		return nil
	}
	if e, err := htmlindex.Get(label); err == nil && e != nil {
		return e
	}
	for _, idx := range []*ianaindex.Index{ianaindex.MIME, ianaindex.IANA} {
		if e, err := idx.Encoding(label); err == nil && e != nil {
			return e
		}
	}
	return nil
}

// charsetReader is the mime.WordDecoder hook. It never fails: a subject in
// an unheard-of charset is still worth reading with a few U+FFFD in it,
// whereas an error would cost us the whole request.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	if e := lookupCharset(label); e != nil {
		return e.NewDecoder().Reader(input), nil
	}
	return xunicode.UTF8.NewDecoder().Reader(input), nil
}

func newWordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: charsetReader}
}

// isASCIILabel reports whether a charset label promises plain ASCII, or is
// absent (RFC 2045 §5.2 defaults to us-ascii).
func isASCIILabel(label string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`)) {
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us":
		return true
	}
	return false
}

// decodeCharset turns bytes in the named charset into valid UTF-8.
//
// A declared (or defaulted) us-ascii body that is in fact valid UTF-8 is kept
// as UTF-8: ASCII is a subset, and modern clients routinely send UTF-8
// without saying so. Anything undecodable degrades to U+FFFD rather than an
// error, so one odd part never loses the request.
func decodeCharset(b []byte, label string) string {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if isASCIILabel(label) || utf8Label(label) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	e := lookupCharset(label)
	if e == nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	out, err := e.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

func utf8Label(label string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`)) {
	case "utf-8", "utf8", "unicode-1-1-utf-8":
		return true
	}
	return false
}

// decodeTransfer undoes a Content-Transfer-Encoding. Both decoders are
// lenient on purpose: mail from the wild has stray characters in base64 and
// bare "=" in quoted-printable, and RFC 2045 asks decoders to be robust.
// Unknown encodings (7bit, 8bit, binary, x-uuencode, …) pass through.
func decodeTransfer(cte string, b []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return decodeBase64(b)
	case "quoted-printable":
		return decodeQP(b)
	}
	return b
}

// decodeBase64 skips anything outside the alphabet (line breaks, spaces,
// padding, junk) and drops a dangling sextet instead of failing.
func decodeBase64(b []byte) []byte {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// decodeQP is a quoted-printable decoder that, unlike mime/quotedprintable,
// never gives up: an "=" not followed by two hex digits is kept literally
// (RFC 2045 §6.7 note 1) and control bytes pass through.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i+1], b[i+1:]
		} else {
			line, b = b, nil
		}
		ending := ""
		switch {
		case bytes.HasSuffix(line, []byte("\r\n")):
			ending = "\r\n"
		case bytes.HasSuffix(line, []byte("\n")):
			ending = "\n"
		}
		// Trailing whitespace was added in transit (RFC 2045 §6.7 rule 3).
		line = bytes.TrimRight(line, " \t\r\n")
		soft := bytes.HasSuffix(line, []byte("="))
		if soft {
			line = line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '=' && i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
				out = append(out, unhex(line[i+1])<<4|unhex(line[i+2]))
				i += 2
				continue
			}
			out = append(out, c)
		}
		if !soft {
			out = append(out, ending...)
		}
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

var encodedWord = regexp.MustCompile(`=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=`)

// mergeEncodedWords joins runs of adjacent encoded-words that share a
// charset into one. RFC 2047 §5 forbids splitting a multi-byte character
// across words, but several Chinese webmail and PHP mailers do it anyway;
// decoding word by word would then turn every split GBK character into
// U+FFFD. Concatenating the raw bytes first repairs them.
func mergeEncodedWords(s string) string {
	locs := encodedWord.FindAllStringSubmatchIndex(s, -1)
	if len(locs) < 2 {
		return s
	}
	var out strings.Builder
	last := 0
	for i := 0; i < len(locs); {
		j := i + 1
		cs := strings.ToLower(s[locs[i][2]:locs[i][3]])
		for j < len(locs) &&
			strings.TrimLeft(s[locs[j-1][1]:locs[j][0]], " \t\r\n") == "" &&
			strings.ToLower(s[locs[j][2]:locs[j][3]]) == cs {
			j++
		}
		if j-i == 1 {
			i++
			continue
		}
		var raw []byte
		for k := i; k < j; k++ {
			raw = append(raw, wordBytes(s[locs[k][4]:locs[k][5]], s[locs[k][6]:locs[k][7]])...)
		}
		out.WriteString(s[last:locs[i][0]])
		out.WriteString("=?")
		out.WriteString(s[locs[i][2]:locs[i][3]])
		out.WriteString("?B?")
		out.WriteString(base64.StdEncoding.EncodeToString(raw))
		out.WriteString("?=")
		last = locs[j-1][1]
		i = j
	}
	out.WriteString(s[last:])
	return out.String()
}

// wordBytes decodes the payload of one encoded-word to its charset bytes.
func wordBytes(enc, text string) []byte {
	if enc == "b" || enc == "B" {
		return decodeBase64([]byte(text))
	}
	b := []byte(strings.ReplaceAll(text, "_", " "))
	return decodeQP(b)
}

// decodeHeader turns a raw header value into clean UTF-8 text.
//
// Raw 8-bit bytes (not allowed by RFC 5322, common from older Chinese
// clients) are read in the message's own body charset when that is known,
// which is what those clients assume; otherwise invalid bytes become U+FFFD.
// Encoded-words are decoded afterwards; they are pure ASCII, so the first
// step cannot disturb them.
func decodeHeader(dec *mime.WordDecoder, raw, fallbackCharset string) string {
	s := raw
	if !utf8.ValidString(s) {
		s = decodeCharset([]byte(s), fallbackCharset)
	}
	s = mergeEncodedWords(s)
	if d, err := dec.DecodeHeader(s); err == nil {
		s = d
	}
	return cleanLine(strings.ToValidUTF8(s, "\uFFFD"))
}

// cleanLine collapses the whitespace left by header folding and removes
// control characters, which have no business in a subject or a name and
// could otherwise leak into logs and acknowledgement mails.
func cleanLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r), r == '\u200b', r == '\ufeff':
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
