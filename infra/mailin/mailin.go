// Package mailin turns a raw RFC 5322 message sent to the privacy mailbox
// into a structured, classified Message (SPEC R18). It does no I/O beyond
// reading the message it is given.
package mailin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMessageBytes bounds what Parse will read: well above any legitimate
// request with an ID scan attached, well below what could hurt the server.
const MaxMessageBytes = 10 << 20 // 10 MiB

// Structural limits. Real mail nests three or four levels and has a handful
// of parts; the limits exist so that a crafted message cannot make Parse
// recurse or allocate without bound.
const (
	maxParts        = 100
	maxDepth        = 10
	maxHeaderFields = 1000 // per entity; a long Received chain is ~50
)

var (
	// ErrTooLarge is returned when the message exceeds MaxMessageBytes.
	ErrTooLarge = errors.New("mailin: message larger than 10 MiB")
	// ErrMalformed is wrapped by every error about a message that cannot be
	// understood; the wrapping text says what is wrong with it.
	ErrMalformed = errors.New("mailin: malformed message")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Message is an inbound privacy mail, reduced to what request intake needs.
type Message struct {
	From        string    // bare address, lower-cased, e.g. "li.lei@example.com"
	FromName    string    // decoded display name
	Subject     string    // decoded
	MessageID   string    // as sent, angle brackets included, ready for In-Reply-To
	Date        time.Time // zero when absent or unparseable
	Text        string    // best plain-text rendering of the body, forwarded mail included
	Attachments []Attachment
	Intent      string   // one of the Intent* constants, "" if unclassifiable
	Devices     []string // "device:<type>:<id>" subjects named in the body
}

// Attachment describes an attached file; its content is not kept, because
// intake only needs to know that, say, an ID scan was supplied.
type Attachment struct {
	Name        string
	ContentType string
	Size        int64 // decoded bytes
}

// Parse reads one message of at most MaxMessageBytes. It returns ErrTooLarge
// for a longer one and an error wrapping ErrMalformed when the message
// cannot be understood. Parse is lenient wherever leniency cannot
// mislabel the request: unknown charsets, broken base64 or quoted-printable,
// a missing Date or a truncated final part cost some characters, not the
// request.
func Parse(r io.Reader) (*Message, error) {
	if r == nil {
		return nil, malformed("there is no message to read")
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxMessageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("mailin: reading message: %w", err)
	}
	if len(data) > MaxMessageBytes {
		return nil, ErrTooLarge
	}
	data = skipEnvelopeLine(data)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, malformed("the message is empty")
	}
	raw, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, malformed("the header cannot be read (%v)", err)
	}
	h := textproto.MIMEHeader(raw.Header)
	if err := checkHeader(h); err != nil {
		return nil, err
	}

	dec := newWordDecoder()
	_, ctParams := contentType(h, "text/plain")
	fallback := ctParams["charset"]

	m := &Message{
		Subject:   decodeHeader(dec, h.Get("Subject"), fallback),
		MessageID: cleanLine(h.Get("Message-Id")),
	}
	if m.From, m.FromName, err = parseFrom(dec, h.Get("From"), fallback); err != nil {
		return nil, err
	}
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		m.Date = d
	}

	w := &walker{dec: dec}
	sec, err := w.entity(h, raw.Body, 0, "text/plain")
	if err != nil {
		return nil, err
	}
	m.Text = sec.text
	m.Attachments = w.attachments
	m.Intent = Classify(m.Subject, m.Text)
	m.Devices = extractDevices(m.Text)
	return m, nil
}

// skipEnvelopeLine drops an mbox "From " separator, which is what a message
// piped from an MTA delivery agent often starts with, and which would
// otherwise fail header parsing.
func skipEnvelopeLine(data []byte) []byte {
	if !bytes.HasPrefix(data, []byte("From ")) {
		return data
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[i+1:]
	}
	return nil
}

func checkHeader(h textproto.MIMEHeader) error {
	n := 0
	for _, v := range h {
		n += len(v)
	}
	if n > maxHeaderFields {
		return malformed("a header has %d fields; at most %d are accepted", n, maxHeaderFields)
	}
	return nil
}

var looseAddress = regexp.MustCompile(`[^\s<>"'(),;:@]+@[^\s<>"'(),;:@]+\.[^\s<>"'(),;:@]+`)

// parseFrom extracts the sender. The address is what we reply to and what
// identity verification starts from, so a message without one is
// malformed; but a sloppy header ("Li Lei <li@x.cn>" with raw UTF-8, stray
// quotes) still yields its address rather than an error.
func parseFrom(dec *mime.WordDecoder, raw, fallback string) (addr, name string, err error) {
	if strings.TrimSpace(raw) == "" {
		return "", "", malformed("there is no From header, so there is no one to reply to")
	}
	text := raw
	if !utf8.ValidString(text) {
		text = decodeCharset([]byte(text), fallback)
	}
	text = mergeEncodedWords(text)
	p := mail.AddressParser{WordDecoder: dec}
	if list, perr := p.ParseList(text); perr == nil && len(list) > 0 {
		return strings.ToLower(list[0].Address), cleanLine(list[0].Name), nil
	}
	decoded := decodeHeader(dec, raw, fallback)
	// The address is looked for outside encoded words: RFC 2047 allows
	// none in an address, and a display name could otherwise smuggle in
	// another one ("=?UTF-8?Q?x=0D=0Avictim@example.com?= <me@x.cn>"
	// would be answered at the victim's address).
	a := looseAddress.FindString(encodedWord.ReplaceAllString(text, " "))
	if a == "" {
		return "", "", malformed("the From header %q contains no email address", truncate(decoded, 80))
	}
	name = decoded
	if i := strings.Index(name, "<"); i >= 0 {
		name = name[:i]
	} else {
		name = strings.Replace(name, a, "", 1)
	}
	name = strings.Trim(cleanLine(name), ` "'`)
	return strings.ToLower(a), name, nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// walker carries the per-message state of one Parse call.
type walker struct {
	dec         *mime.WordDecoder
	parts       int
	attachments []Attachment
}

// section is the rendered text of one MIME entity. plain records whether any
// of it came from a text/plain part, which multipart/alternative prefers.
type section struct {
	text  string
	plain bool
}

func (w *walker) entity(h textproto.MIMEHeader, body io.Reader, depth int, defaultType string) (section, error) {
	w.parts++
	if w.parts > maxParts {
		return section{}, malformed("the message has more than %d MIME parts", maxParts)
	}
	if depth > maxDepth {
		return section{}, malformed("MIME parts are nested more than %d levels deep", maxDepth)
	}
	if err := checkHeader(h); err != nil {
		return section{}, err
	}
	mediatype, params := contentType(h, defaultType)
	switch {
	case strings.HasPrefix(mediatype, "multipart/"):
		return w.multipart(mediatype, params["boundary"], body, depth)
	case mediatype == "message/rfc822" || mediatype == "message/global":
		return w.forwarded(h, body, depth)
	}
	return w.leaf(h, mediatype, params, body)
}

// contentType follows RFC 2045 §5.2: no Content-Type means the context's
// default, and one that cannot be parsed means text/plain; us-ascii.
func contentType(h textproto.MIMEHeader, defaultType string) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return defaultType, map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if mt == "" || !strings.Contains(mt, "/") {
		return "text/plain", map[string]string{}
	}
	if err != nil || params == nil {
		params = map[string]string{}
	}
	return mt, params
}

func (w *walker) multipart(mediatype, boundary string, body io.Reader, depth int) (section, error) {
	if boundary == "" {
		return section{}, malformed("a %s part has no boundary, so its parts cannot be told apart", mediatype)
	}
	childType := "text/plain"
	if mediatype == "multipart/digest" {
		childType = "message/rfc822" // RFC 2046 §5.1.5
	}
	mr := multipart.NewReader(body, boundary)
	var children []section
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A message cut short after its last boundary still says what
			// it has to say; only a multipart with no readable part at all
			// is unusable.
			if i > 0 && isTruncation(err) {
				break
			}
			if i == 0 {
				return section{}, malformed("the %s body has no part delimited by its boundary %q (%v)", mediatype, boundary, err)
			}
			return section{}, malformed("part %d of a %s body cannot be read (%v)", i+1, mediatype, err)
		}
		sec, err := w.entity(p.Header, p, depth+1, childType)
		if err != nil {
			return section{}, err
		}
		children = append(children, sec)
	}
	if mediatype == "multipart/alternative" {
		return chooseAlternative(children), nil
	}
	var out section
	var texts []string
	for _, c := range children {
		if c.text != "" {
			texts = append(texts, c.text)
			out.plain = out.plain || c.plain
		}
	}
	out.text = strings.Join(texts, "\n\n")
	return out, nil
}

// chooseAlternative prefers the text/plain rendering: it is what the sender's
// client produced for exactly this purpose, while converted HTML is a guess.
func chooseAlternative(alts []section) section {
	for _, a := range alts {
		if a.plain && a.text != "" {
			return a
		}
	}
	for _, a := range alts {
		if a.text != "" {
			return a
		}
	}
	return section{}
}

// forwarded renders an attached message the way mail clients show a
// forward, so its header lines and text are visible to Classify (as quoted
// material) and to the person reviewing the request.
func (w *walker) forwarded(h textproto.MIMEHeader, body io.Reader, depth int) (section, error) {
	// RFC 2046 §5.2.1 forbids encoding message/rfc822, but some clients
	// base64 it anyway.
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64", "quoted-printable":
		b, err := readPart(body)
		if err != nil {
			return section{}, err
		}
		body = bytes.NewReader(decodeTransfer(h.Get("Content-Transfer-Encoding"), b))
	}
	cr := &countingReader{r: body}
	inner, err := mail.ReadMessage(bufio.NewReader(cr))
	if err != nil {
		// Not a message after all; keep it as an opaque attachment rather
		// than reject the mail that carries it.
		if _, err := io.Copy(io.Discard, cr); err != nil && !isTruncation(err) {
			return section{}, malformed("an attached message cannot be read (%v)", err)
		}
		w.attachments = append(w.attachments, Attachment{
			Name: attachmentName(w.dec, h), ContentType: "message/rfc822", Size: cr.n,
		})
		return section{}, nil
	}
	ih := textproto.MIMEHeader(inner.Header)
	_, params := contentType(ih, "text/plain")
	fallback := params["charset"]
	sec, err := w.entity(ih, inner.Body, depth+1, "text/plain")
	if err != nil {
		return section{}, err
	}
	var b strings.Builder
	b.WriteString("---------- Forwarded message ---------\n")
	for _, k := range []string{"From", "Date", "Subject", "To"} {
		if v := ih.Get(k); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, decodeHeader(w.dec, v, fallback))
		}
	}
	b.WriteString("\n")
	b.WriteString(sec.text)
	return section{text: strings.TrimRight(b.String(), "\n"), plain: true}, nil
}

func (w *walker) leaf(h textproto.MIMEHeader, mediatype string, params map[string]string, body io.Reader) (section, error) {
	b, err := readPart(body)
	if err != nil {
		return section{}, err
	}
	b = decodeTransfer(h.Get("Content-Transfer-Encoding"), b)

	disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := attachmentName(w.dec, h)
	isBody := (mediatype == "text/plain" || mediatype == "text/html") &&
		disp != "attachment" && (name == "" || disp == "inline")
	if !isBody {
		w.attachments = append(w.attachments, Attachment{Name: name, ContentType: mediatype, Size: int64(len(b))})
		return section{}, nil
	}
	if mediatype == "text/html" {
		return section{text: htmlToText(decodeHTMLCharset(b, params["charset"]))}, nil
	}
	return section{text: tidyText(decodeCharset(b, params["charset"])), plain: true}, nil
}

// readPart reads a whole part. A part cut off by the end of the message is
// kept as far as it goes; see multipart.
func readPart(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(r)
	if err != nil && !isTruncation(err) {
		return nil, malformed("a MIME part cannot be read (%v)", err)
	}
	return b, nil
}

func isTruncation(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// attachmentName takes the file name from Content-Disposition, else from
// the older Content-Type name parameter, decoding the RFC 2047 words many
// clients put there despite RFC 2231. Only the base name is kept: a path
// in a name is never meaningful to us and is a hazard downstream.
func attachmentName(dec *mime.WordDecoder, h textproto.MIMEHeader) string {
	var name string
	if _, p, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		name = p["filename"]
	}
	if name == "" {
		if _, p, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil {
			name = p["name"]
		}
	}
	name = decodeHeader(dec, name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return truncate(strings.TrimSpace(name), 255)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
