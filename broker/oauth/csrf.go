package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
)

// csrfField is the form field carrying the CSRF token.
const csrfField = "csrf_token"

// csrfGuard protects the pages' forms with double-submit tokens: the
// browser holds a random value in an HttpOnly cookie, and each form
// carries an HMAC of that value and the form's purpose, under a server
// key. A cross-site page can make the browser send the cookie but can
// neither read it nor compute the token; and with the __Host- prefix
// (https) no sibling host can plant a cookie of its own.
type csrfGuard struct {
	key    []byte
	cookie string // cookie name
	secure bool
}

// keyed returns the HMAC-SHA-256 under key of parts, each length-prefixed
// so that no two part lists hash alike.
func pageMAC(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// browser returns the browser's CSRF value, or "" when it has none or not
// one this server could have set.
func (g *csrfGuard) browser(r *http.Request) string {
	c, err := r.Cookie(g.cookie)
	if err != nil {
		return ""
	}
	if b, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil || len(b) != 32 {
		return ""
	}
	return c.Value
}

// ensure returns the browser's CSRF value, setting a fresh one when it has
// none.
func (g *csrfGuard) ensure(w http.ResponseWriter, r *http.Request) string {
	if v := g.browser(r); v != "" {
		return v
	}
	var b [32]byte
	rand.Read(b[:]) // never fails
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: g.cookie, Value: v, Path: "/", HttpOnly: true, Secure: g.secure, SameSite: http.SameSiteLaxMode,
	})
	return v
}

// token returns the token a form for purpose carries in this browser.
func (g *csrfGuard) token(browser string, purpose ...string) string {
	return base64.RawURLEncoding.EncodeToString(pageMAC(g.key, append([]string{browser}, purpose...)...))
}

// valid reports, in constant time, whether r's browser has a CSRF value
// and the form's token matches it and purpose. r's form must be parsed.
func (g *csrfGuard) valid(r *http.Request, purpose ...string) bool {
	browser := g.browser(r)
	got, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get(csrfField))
	if browser == "" || err != nil {
		return false
	}
	return hmac.Equal(got, pageMAC(g.key, append([]string{browser}, purpose...)...))
}
