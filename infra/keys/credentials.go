package keys

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// NewID returns prefix and 64 random bits in hex: an identifier that is
// unguessable enough not to enumerate, and short enough to read out.
func NewID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return prefix + hex.EncodeToString(b)
}

// NewSecret returns prefix and 256 random bits, URL-safe: a credential
// (an app key, a partner's pull token) that is shown once and stored only
// as its keyed hash.
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}
