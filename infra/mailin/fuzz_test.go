package mailin

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no corpus in testdata: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(multipartMail(3)))
	f.Add([]byte(nestedMail(4)))
	f.Add([]byte("From: a@b.c\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nRnJvbTogYkBjLmQKCmhp\n"))
	f.Add([]byte("From: a@b.c\nContent-Type: text/html\n\n<blockquote><pre>x</pre></blockquote><script>"))

	intents := []string{"", IntentAccess, IntentCopy, IntentPortability, IntentCorrect,
		IntentDelete, IntentWithdrawConsent, IntentCancelAccount, IntentComplaint, IntentAppeal}
	deviceSubject := regexp.MustCompile(`^device:(?:oaid|gaid|idfa|imei|android_id):[0-9a-f-]+$`)

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps neither sentinel: %v", err)
			}
			if m != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		for _, s := range []string{m.From, m.FromName, m.Subject, m.MessageID, m.Text} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in %q", s)
			}
		}
		if m.From == "" {
			t.Fatal("accepted a message without a From address")
		}
		if !slices.Contains(intents, m.Intent) {
			t.Fatalf("unknown intent %q", m.Intent)
		}
		if len(m.Attachments) > maxParts {
			t.Fatalf("%d attachments exceed the part limit", len(m.Attachments))
		}
		for _, a := range m.Attachments {
			if a.Size < 0 || a.Size > MaxMessageBytes || !utf8.ValidString(a.Name) {
				t.Fatalf("bad attachment %+v", a)
			}
		}
		if len(m.Devices) > maxDevices {
			t.Fatalf("%d devices", len(m.Devices))
		}
		for _, d := range m.Devices {
			if !deviceSubject.MatchString(d) {
				t.Fatalf("bad device subject %q", d)
			}
		}
		if len(m.Text) > 4*MaxMessageBytes {
			t.Fatalf("Text of %d bytes from %d input bytes", len(m.Text), len(data))
		}
	})
}
