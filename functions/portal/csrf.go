package portal

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"regexp"

	"github.com/veil-privacy/veil/privacy"
)

// CSRF protection is a signed double-submit token: the browser holds a
// random value in an HttpOnly, SameSite=Strict cookie, and every form
// carries a keyed hash of that value. A cross-site page can neither read
// the cookie nor compute the hash, and a cookie planted from a sibling
// domain is useless without the key (the weakness of a plain double
// submit). SameSite=Strict alone would already keep the cookie off
// cross-site posts in current browsers; the token does not rely on it.

var csrfValue = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// csrfCookie names the cookie; the __Host- prefix (Secure, Path=/, no
// Domain) is only possible over https.
func (p *portal) csrfCookie() string {
	if p.secure {
		return "__Host-veil_csrf"
	}
	return "veil_csrf"
}

// csrfToken returns the form token for this visitor, setting a fresh
// cookie when they have none (or a malformed one).
func (p *portal) csrfToken(w http.ResponseWriter, r *http.Request) string {
	v := ""
	if c, err := r.Cookie(p.csrfCookie()); err == nil && csrfValue.MatchString(c.Value) {
		v = c.Value
	} else {
		var b [32]byte
		_, _ = rand.Read(b[:]) // crypto/rand does not fail on supported platforms
		v = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{Name: p.csrfCookie(), Value: v, Path: "/", HttpOnly: true,
			Secure: p.secure, SameSite: http.SameSiteStrictMode})
	}
	return p.csrfSign(v)
}

func (p *portal) csrfSign(cookie string) string {
	return p.d.Keys.Hash("veil/portal-csrf/v1|" + cookie)
}

// checkCSRF verifies a posted form's token against the cookie. A browser
// that says the post is cross-site (Sec-Fetch-Site) is refused outright.
func (p *portal) checkCSRF(r *http.Request) error {
	bad := privacy.Errorf(privacy.EFORBIDDEN, "the form has expired; reload the page and submit it again")
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return bad
	}
	c, err := r.Cookie(p.csrfCookie())
	if err != nil || !csrfValue.MatchString(c.Value) {
		return bad
	}
	got := r.PostFormValue("csrf")
	want := p.csrfSign(c.Value)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return bad
	}
	return nil
}
