package oauth

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// PagesConfig configures the login and consent pages.
type PagesConfig struct {
	// Issuer is the authorization server's issuer URL, set from the
	// server's config. With https, cookies are Secure and __Host- prefixed.
	Issuer *url.URL `yaml:"-"`
	// SessionLifetime is how long a login lasts.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// PendingLifetime bounds the time between showing a page and posting
	// its form.
	PendingLifetime time.Duration `yaml:"pending_lifetime"`
	// ScopeDescriptions explain scopes on the consent page.
	ScopeDescriptions map[string]string `yaml:"scope_descriptions"`
	// MaxConcurrentLogins bounds the password checks in flight (each
	// argon2id check holds its memory cost); further logins wait.
	MaxConcurrentLogins int `yaml:"max_concurrent_logins"`
}

// DefaultPages returns the default configuration, without an issuer.
func DefaultPages() PagesConfig {
	return PagesConfig{SessionLifetime: 12 * time.Hour, PendingLifetime: 15 * time.Minute, MaxConcurrentLogins: 4}
}

// Validate reports the first invalid field.
func (c PagesConfig) Validate() error {
	switch {
	case c.Issuer == nil:
		return errors.New("issuer: required")
	case (c.Issuer.Scheme != "https" && c.Issuer.Scheme != "http") || c.Issuer.Host == "":
		return errors.New("issuer: must be an http or https URL")
	case c.SessionLifetime < time.Minute || c.SessionLifetime > 30*24*time.Hour:
		return errors.New("session_lifetime: must be between 1m and 720h")
	case c.PendingLifetime < time.Minute || c.PendingLifetime > time.Hour:
		return errors.New("pending_lifetime: must be between 1m and 1h")
	case c.MaxConcurrentLogins < 1 || c.MaxConcurrentLogins > 1024:
		return errors.New("max_concurrent_logins: must be between 1 and 1024")
	}
	for s, d := range c.ScopeDescriptions {
		if s == "" || len(d) > 512 {
			return fmt.Errorf("scope_descriptions: %q: want a scope and at most 512 bytes of text", clip(s))
		}
	}
	return nil
}

// PendingAuthorization is an authorization request the endpoint has
// parsed and validated, waiting for a user.
type PendingAuthorization struct {
	// Query is the request's raw query string, exactly as the endpoint
	// parsed it: the RawQuery of the request [Pages.Resume] returned.
	// The pages' forms carry it signed (the pending ID), so that their
	// POST comes back to the same request.
	Query string
	// Client is the requesting client.
	Client *Client
	// Scopes are the requested scopes.
	Scopes []string
	// Resource is the RFC 8707 resource requested ("" for none).
	Resource string
	// RedirectURI is where the endpoint will send the browser, as fosite
	// resolved it; the pages name its host, and allow it as a form target
	// (see [Pages]).
	RedirectURI string
}

// Outcome is how a pending authorization ended.
type Outcome struct {
	Subject    string    // the logged-in user's subject
	Username   string    // and name
	AuthTime   time.Time // when the user logged in
	Approved   bool      // false: the user denied; answer access_denied
	Remembered bool      // approved by a remembered consent, no page shown
}

// ErrPending is returned by [Pages.Resume] for a form whose pending ID is
// missing, forged or expired.
var ErrPending = errors.New("oauth: pending authorization missing, forged or expired")

// Form fields and limits.
const (
	pendingField   = "pending"
	stepField      = "step"
	maxFormBytes   = 64 << 10
	maxQueryBytes  = 16 << 10
	stepLogin      = "login"
	stepConsent    = "consent"
	loginFailedMsg = "wrong username or password"
)

// Pages serves the login and consent pages of the authorization endpoint.
// The endpoint keeps the OAuth protocol; Pages only finds out who the user
// is and what they decided. On every request to the endpoint:
//
//	orig, err := pages.Resume(r) // GET: r; POST: the original GET request
//	if err != nil { pages.WriteError(w, http.StatusBadRequest, "..."); return }
//	ar, err := provider.NewAuthorizeRequest(ctx, orig)
//	if err != nil { ...answer as OAuth says; return }
//	out, ok, err := pages.Handle(w, r, oauth.PendingAuthorization{Query: orig.URL.RawQuery, ...})
//	if err != nil { ...server_error; return }
//	if !ok { return } // a page was written
//	// out.Approved: issue the code for out.Subject; else access_denied
//
// The pending ID is stateless: the original query string and an expiry,
// signed with HMAC-SHA-256. An unauthenticated GET writes nothing to the
// store, and any node can resume any form.
//
// # Security
//
// Every form carries a CSRF token bound to the browser and the form's
// purpose (see csrfGuard), and POSTs must also pass
// [http.CrossOriginProtection]. The session cookie is HttpOnly,
// SameSite=Lax, HMAC-signed, and Secure with the __Host- prefix under an
// https issuer. Pages are html/template output with a restrictive CSP.
// Its form-action names 'self' and, on the login and consent pages, the
// origin of the request's redirect URI: Chrome and Safari apply
// form-action to the redirects that follow a form submission, and the
// flow ends in a redirect to the client. A failed login gets one generic
// error, whether the user exists or not.
type Pages struct {
	cfg           PagesConfig
	users         *Users
	consents      *Consents
	now           func() time.Time
	secure        bool
	sessionCookie string
	sessionKey    []byte
	pendingKey    []byte
	csrf          csrfGuard
	logins        chan struct{}
	cop           *http.CrossOriginProtection
	// loginFailed, when set, hears of every failed login with the name
	// tried (the authorization endpoint audits it); set before serving.
	loginFailed func(r *http.Request, pa PendingAuthorization, username string)
}

// NewPages returns the pages. key (at least 32 bytes) signs sessions,
// CSRF tokens and pending IDs, and must be the same on every node; now is
// the clock (nil: time.Now).
func NewPages(cfg PagesConfig, users *Users, consents *Consents, key []byte, now func() time.Time) (*Pages, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("oauth: pages: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("oauth: pages: key of %d bytes, want at least 32", len(key))
	}
	if users == nil || consents == nil {
		return nil, errors.New("oauth: pages: users and consents are required")
	}
	if now == nil {
		now = time.Now
	}
	p := &Pages{
		cfg: cfg, users: users, consents: consents, now: now,
		secure:     cfg.Issuer.Scheme == "https",
		sessionKey: pageMAC(key, "subzero oauth pages", "session"),
		pendingKey: pageMAC(key, "subzero oauth pages", "pending"),
		logins:     make(chan struct{}, cfg.MaxConcurrentLogins),
		cop:        http.NewCrossOriginProtection(),
	}
	p.sessionCookie, p.csrf.cookie = "subzero_session", "subzero_csrf"
	if p.secure {
		p.sessionCookie, p.csrf.cookie = "__Host-subzero_session", "__Host-subzero_csrf"
	}
	p.csrf.key, p.csrf.secure = pageMAC(key, "subzero oauth pages", "csrf"), p.secure
	return p, nil
}

// Resume returns the authorization request the endpoint must parse. For
// a GET (or any method but POST) that is r itself. A POST must be one of
// the pages' forms: Resume parses its body (at most 64 KiB) and returns a
// GET request like r carrying the original query string from the signed
// pending ID, with no body or form, so that the form's fields (the
// password among them) never reach fosite. It fails with ErrPending when
// the pending ID is missing, forged or expired; the endpoint then answers
// with [Pages.WriteError], as it has no valid redirect URI.
func (p *Pages) Resume(r *http.Request) (*http.Request, error) {
	if r.Method != http.MethodPost {
		return r, nil
	}
	if err := parsePageForm(r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPending, err)
	}
	query, err := p.openPending(r.PostForm.Get(pendingField))
	if err != nil {
		return nil, err
	}
	orig := r.Clone(r.Context())
	u := *r.URL
	u.RawQuery, u.ForceQuery = query, false
	orig.Method, orig.URL, orig.RequestURI = http.MethodGet, &u, u.RequestURI()
	orig.Body, orig.GetBody, orig.ContentLength = http.NoBody, nil, 0
	orig.Form, orig.PostForm, orig.MultipartForm = nil, nil, nil
	orig.Header.Del("Content-Type")
	orig.Header.Del("Content-Length")
	return orig, nil
}

// Handle takes a parsed, valid authorization request one step on. r is
// the request as the endpoint received it (not Resume's result).
//
//   - With no logged-in user, it writes the login form (GET) or checks its
//     POST: a right password sets the session cookie and redirects (303)
//     to the endpoint with the original query, a wrong one shows the form
//     again (200) with a generic error.
//   - With a logged-in user and a remembered consent for the client,
//     scopes and resource, it returns an approving Outcome.
//   - Otherwise it writes the consent page (GET) or takes its POST: Approve
//     remembers the consent and returns an approving Outcome, Deny returns
//     a denying one.
//
// ok is false when Handle wrote the response (a page, a redirect, 403 for
// a missing or bad CSRF token, 400 for a malformed form); the endpoint
// must then write nothing. ok is true only with an Outcome, and nothing
// written: the endpoint issues the code (Approved) or answers
// access_denied. err (store or hashing failures) means nothing was
// written; the endpoint answers server_error.
func (p *Pages) Handle(w http.ResponseWriter, r *http.Request, pa PendingAuthorization) (out Outcome, ok bool, err error) {
	if pa.Client == nil {
		return Outcome{}, false, errors.New("oauth: pages: pending authorization without a client")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s, ok := p.session(r)
		if !ok {
			p.renderLogin(w, r, pa, "", "")
			return Outcome{}, false, nil
		}
		return p.consentOrDecide(w, r, pa, s)
	case http.MethodPost:
		return p.submit(w, r, pa)
	}
	w.Header().Set("Allow", "GET, HEAD, POST")
	p.WriteError(w, http.StatusMethodNotAllowed, "This page accepts only GET and POST.")
	return Outcome{}, false, nil
}

func (p *Pages) consentOrDecide(w http.ResponseWriter, r *http.Request, pa PendingAuthorization, s browserSession) (Outcome, bool, error) {
	if p.consents.Has(r.Context(), s.Subject, pa.Client.ID, pa.Scopes, pa.Resource) {
		out := s.outcome(true)
		out.Remembered = true
		return out, true, nil
	}
	p.renderConsent(w, r, pa, s)
	return Outcome{}, false, nil
}

// submit takes the POST of a login or consent form.
func (p *Pages) submit(w http.ResponseWriter, r *http.Request, pa PendingAuthorization) (Outcome, bool, error) {
	if err := p.cop.Check(r); err != nil {
		p.WriteError(w, http.StatusForbidden, "This form was sent from another site.")
		return Outcome{}, false, nil
	}
	if err := parsePageForm(r); err != nil {
		p.WriteError(w, http.StatusBadRequest, "The form could not be read.")
		return Outcome{}, false, nil
	}
	if query, err := p.openPending(r.PostForm.Get(pendingField)); err != nil || query != pa.Query {
		p.WriteError(w, http.StatusBadRequest, "This sign-in request has expired. Go back to the application and start again.")
		return Outcome{}, false, nil
	}
	switch r.PostForm.Get(stepField) {
	case stepLogin:
		if !p.csrf.valid(r, stepLogin) {
			p.csrfFailed(w)
			return Outcome{}, false, nil
		}
		return Outcome{}, false, p.login(w, r, pa)
	case stepConsent:
		s, ok := p.session(r)
		if !ok {
			p.renderLogin(w, r, pa, "", "Your session has ended. Sign in again.")
			return Outcome{}, false, nil
		}
		if !p.csrf.valid(r, stepConsent, s.Subject, pa.Query) {
			p.csrfFailed(w)
			return Outcome{}, false, nil
		}
		switch r.PostForm.Get("decision") {
		case "approve":
			if err := p.consents.Grant(r.Context(), s.Subject, pa.Client.ID, pa.Scopes, pa.Resource); err != nil {
				return Outcome{}, false, err
			}
			return s.outcome(true), true, nil
		case "deny":
			return s.outcome(false), true, nil
		}
	}
	p.WriteError(w, http.StatusBadRequest, "The form could not be read.")
	return Outcome{}, false, nil
}

func (p *Pages) csrfFailed(w http.ResponseWriter) {
	p.WriteError(w, http.StatusForbidden, "This form has expired or did not come from this site. Go back, reload the page and try again.")
}

// login checks the login form's credentials.
func (p *Pages) login(w http.ResponseWriter, r *http.Request, pa PendingAuthorization) error {
	name, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	lookup := name
	if !userNamePattern.MatchString(name) {
		lookup = "-" // no user has this name: the check still costs a hash
	}
	select {
	case p.logins <- struct{}{}:
	case <-r.Context().Done():
		return r.Context().Err()
	}
	usr, err := p.users.Authenticate(r.Context(), lookup, password)
	<-p.logins
	if errors.Is(err, ErrBadCredentials) {
		if p.loginFailed != nil {
			p.loginFailed(r, pa, name)
		}
		p.renderLogin(w, r, pa, name, loginFailedMsg)
		return nil
	}
	if err != nil {
		return err
	}
	p.setSession(w, usr)
	setPageHeaders(w.Header(), "")
	http.Redirect(w, r, r.URL.EscapedPath()+"?"+pa.Query, http.StatusSeeOther)
	return nil
}

// parsePageForm reads an urlencoded POST body of at most maxFormBytes; a
// parsed form stays.
func parsePageForm(r *http.Request) error {
	if r.PostForm != nil {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return errors.New("form must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	return r.ParseForm()
}

// Pending IDs.

// sealPending returns the pending ID of query: base64url(expiry || query)
// "." base64url(HMAC).
func (p *Pages) sealPending(query string) string {
	payload := binary.BigEndian.AppendUint64(nil, uint64(p.now().Add(p.cfg.PendingLifetime).Unix()))
	payload = append(payload, query...)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(pageMAC(p.pendingKey, string(payload)))
}

// openPending returns the query string a pending ID carries.
func (p *Pages) openPending(id string) (string, error) {
	enc, sig, ok := strings.Cut(id, ".")
	if !ok || len(enc) > base64.RawURLEncoding.EncodedLen(8+maxQueryBytes) {
		return "", ErrPending
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || len(payload) < 8 || !hmac.Equal(mac, pageMAC(p.pendingKey, string(payload))) {
		return "", ErrPending
	}
	if exp := int64(binary.BigEndian.Uint64(payload)); p.now().Unix() >= exp {
		return "", ErrPending
	}
	return string(payload[8:]), nil
}

// Sessions.

// browserSession is what the session cookie carries.
type browserSession struct {
	Subject  string `json:"sub"`
	Username string `json:"name,omitempty"`
	AuthTime int64  `json:"iat"`
	Expires  int64  `json:"exp"`
}

func (s browserSession) outcome(approved bool) Outcome {
	return Outcome{Subject: s.Subject, Username: s.Username, AuthTime: time.Unix(s.AuthTime, 0), Approved: approved}
}

// setSession logs usr in: base64url(JSON) "." base64url(HMAC).
func (p *Pages) setSession(w http.ResponseWriter, usr *User) {
	now := p.now()
	payload, _ := json.Marshal(browserSession{
		Subject: usr.Subject, Username: usr.Name, AuthTime: now.Unix(), Expires: now.Add(p.cfg.SessionLifetime).Unix(),
	})
	http.SetCookie(w, &http.Cookie{
		Name:  p.sessionCookie,
		Value: base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(pageMAC(p.sessionKey, string(payload))),
		Path:  "/", MaxAge: int(p.cfg.SessionLifetime / time.Second),
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
	})
}

// session returns the logged-in user; a missing, tampered or expired
// cookie reads as none.
func (p *Pages) session(r *http.Request) (browserSession, bool) {
	c, err := r.Cookie(p.sessionCookie)
	if err != nil {
		return browserSession{}, false
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return browserSession{}, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, pageMAC(p.sessionKey, string(payload))) {
		return browserSession{}, false
	}
	var s browserSession
	if json.Unmarshal(payload, &s) != nil || s.Subject == "" || p.now().Unix() >= s.Expires {
		return browserSession{}, false
	}
	return s, true
}

// Rendering.

//go:embed templates/*.html
var pageTemplates embed.FS

func parsePage(name string) *template.Template {
	return template.Must(template.ParseFS(pageTemplates, "templates/layout.html", "templates/"+name))
}

var (
	loginPage   = parsePage("login.html")
	consentPage = parsePage("consent.html")
	errorPage   = parsePage("error.html")
)

const pagePolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

// setPageHeaders sets the security headers of every page. formTarget, when
// not empty, is a CSP source also allowed as a form target.
func setPageHeaders(h http.Header, formTarget string) {
	csp := pagePolicy
	if formTarget != "" {
		csp = strings.Replace(csp, "form-action 'self'", "form-action 'self' "+formTarget, 1)
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

var cspHost = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)

// redirectOrigin returns the redirect URI's origin as a CSP source, or ""
// when it has none CSP can name (an IPv6 literal, say).
func redirectOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || !cspHost.MatchString(u.Hostname()) {
		return ""
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return ""
		}
		return u.Scheme + "://" + u.Hostname() + ":" + port
	}
	return u.Scheme + "://" + u.Hostname()
}

func redirectHost(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

// renderPage writes a page; the templates are fixed, so only a programmer
// error makes one fail.
func renderPage(w http.ResponseWriter, t *template.Template, status int, formTarget string, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("<!doctype html><title>Error</title><p>Internal error.</p>")
	}
	setPageHeaders(w.Header(), formTarget)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// WriteError writes an error page with status and a message for the user.
// The authorization endpoint uses it for errors it must not redirect
// (ErrPending, an invalid client or redirect URI).
func (p *Pages) WriteError(w http.ResponseWriter, status int, msg string) {
	renderPage(w, errorPage, status, "", struct {
		Title, Message string
		Status         int
	}{http.StatusText(status), msg, status})
}

// clientView is how a page names a client.
type clientView struct {
	Name string // client_name, or the client ID
	Host string // a URL client ID's host
	ID   string // the client ID, when Name is not it
}

func viewClient(c *Client) clientView {
	v := clientView{Name: c.ClientName}
	if v.Name == "" {
		v.Name = c.ID
	} else {
		v.ID = c.ID
	}
	if IsClientIDURL(c.ID) && v.Name != c.ID {
		if u, err := url.Parse(c.ID); err == nil {
			v.Host = u.Host
		}
	}
	return v
}

type scopeView struct{ Name, Description string }

type formView struct {
	Title        string
	Action       string
	Pending      string
	CSRF         string
	Step         string
	Client       clientView
	RedirectHost string
	Username     string
	Error        string
	Scopes       []scopeView
	Resource     string
}

func (p *Pages) form(w http.ResponseWriter, r *http.Request, pa PendingAuthorization, step string, purpose ...string) formView {
	browser := p.csrf.ensure(w, r)
	action := r.URL.EscapedPath()
	if action == "" {
		action = "/"
	}
	return formView{
		Action: action, Pending: p.sealPending(pa.Query), CSRF: p.csrf.token(browser, append([]string{step}, purpose...)...),
		Step: step, Client: viewClient(pa.Client), RedirectHost: redirectHost(pa.RedirectURI),
	}
}

func (p *Pages) renderLogin(w http.ResponseWriter, r *http.Request, pa PendingAuthorization, username, errMsg string) {
	v := p.form(w, r, pa, stepLogin)
	v.Title, v.Username, v.Error = "Sign in", username, errMsg
	renderPage(w, loginPage, http.StatusOK, redirectOrigin(pa.RedirectURI), v)
}

func (p *Pages) renderConsent(w http.ResponseWriter, r *http.Request, pa PendingAuthorization, s browserSession) {
	v := p.form(w, r, pa, stepConsent, s.Subject, pa.Query)
	v.Title, v.Username, v.Resource = "Authorize "+v.Client.Name, cmp.Or(s.Username, s.Subject), pa.Resource
	for _, sc := range normScopes(pa.Scopes) {
		v.Scopes = append(v.Scopes, scopeView{Name: sc, Description: p.cfg.ScopeDescriptions[sc]})
	}
	renderPage(w, consentPage, http.StatusOK, redirectOrigin(pa.RedirectURI), v)
}
