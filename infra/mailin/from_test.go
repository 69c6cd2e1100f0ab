package mailin

import (
	"strings"
	"testing"
)

// TestFromAddressIsNeverTakenFromAnEncodedWord: replies and codes go to
// the From address, so a display name must not be able to name another
// one — by encoded line breaks, an address-like name, or both.
func TestFromAddressIsNeverTakenFromAnEncodedWord(t *testing.T) {
	for _, from := range []string{
		"=?UTF-8?Q?Mallory=0D=0ABcc:_victim@example.com?= <mallory@example.com>",
		"=?UTF-8?B?dmljdGltQGV4YW1wbGUuY29t?= <mallory@example.com>",
		"=?UTF-8?Q?victim@example.com?= <mallory@example.com>",
		"\"=?UTF-8?Q?victim@example.com_=0A?=\" <mallory@example.com>",
	} {
		raw := "From: " + from + "\r\nTo: privacy@veil.example\r\nSubject: delete\r\n\r\nplease delete my data\r\n"
		m, err := Parse(strings.NewReader(raw))
		if err != nil {
			t.Errorf("%s: %v", from, err)
			continue
		}
		if m.From != "mallory@example.com" {
			t.Errorf("From %s parsed as %q, want the sender's own address", from, m.From)
		}
		if strings.ContainsAny(m.FromName, "\r\n") {
			t.Errorf("From %s: display name %q keeps a line break", from, m.FromName)
		}
	}
}
