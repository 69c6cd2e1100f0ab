package portal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/veil-privacy/veil/notices"
)

// The portal's words live in messages.json, one object per language with
// the same keys (a test holds them to that), next to the templates that
// use them; notices/ holds what is mailed, this what is shown.

// catalog is the parsed messages: language → key → text.
type catalog map[string]map[string]string

func loadCatalog(raw []byte) (catalog, error) {
	var c catalog
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("portal: messages.json: %w", err)
	}
	zh, en := c[notices.Chinese], c[notices.English]
	if len(zh) == 0 || len(en) == 0 {
		return nil, fmt.Errorf("portal: messages.json needs %q and %q", notices.Chinese, notices.English)
	}
	var missing []string
	for k := range zh {
		if _, ok := en[k]; !ok {
			missing = append(missing, "en:"+k)
		}
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			missing = append(missing, "zh:"+k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("portal: messages.json lacks %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// text returns key in lang; a missing key is an error so that a template
// naming a key nobody wrote fails its test instead of showing a blank.
func (c catalog) text(lang, key string, args ...any) (string, error) {
	s, ok := c[lang][key]
	if !ok {
		return "", fmt.Errorf("portal: no message %q", key)
	}
	if len(args) > 0 {
		s = fmt.Sprintf(s, args...)
	}
	return s, nil
}

// label names a value of a closed set (a status, a type, a reason): its
// message when there is one, else the value itself, so that a status
// added to the API later still shows, in its code form.
func (c catalog) label(lang, set, value string) string {
	if s, ok := c[lang][set+"."+value]; ok {
		return s
	}
	return value
}

const langCookie = "veil_lang"

// language picks the page language: an explicit ?lang= (the switch link,
// remembered in a cookie), then the cookie, then Accept-Language — Chinese
// unless the browser asks for English, as the policy's governing text is
// Chinese.
func (p *portal) language(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == notices.Chinese || l == notices.English {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == notices.Chinese || c.Value == notices.English) {
		return c.Value
	}
	return notices.Lang(r.Header.Get("Accept-Language"))
}
