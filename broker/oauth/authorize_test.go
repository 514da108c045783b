package oauth_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/broker/oauth"
)

// The redirect URIs of the test clients agent (public, loopback) and
// webapp (confidential).
const (
	agentRedirect = "http://127.0.0.1:9/cb"
	webRedirect   = "https://app.example/cb"
	testState     = "state-0123456789"
)

// browser returns a browser with a cookie jar that follows redirects
// within the server and stops at the first one elsewhere: the last hop,
// to the client's redirect URI, is what the tests read.
func (h *harness) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := url.Parse(h.issuer)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != issuer.Host {
			return http.ErrUseLastResponse
		}
		if len(via) > 5 {
			return errors.New("too many redirects")
		}
		return nil
	}}}
}

// discover reads the server's metadata (RFC 8414) and returns the
// golang.org/x/oauth2 configuration of client agent.
func (h *harness) discover(t *testing.T) *oauth2.Config {
	t.Helper()
	resp, err := http.Get(h.issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		ISSParameter          bool   `json:"authorization_response_iss_parameter_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.Issuer != h.issuer || m.AuthorizationEndpoint != h.issuer+"/oauth2/authorize" || !m.ISSParameter {
		t.Fatalf("metadata %+v", m)
	}
	return &oauth2.Config{
		ClientID: "agent", RedirectURL: agentRedirect, Scopes: []string{"mcp:tools"},
		Endpoint: oauth2.Endpoint{AuthURL: m.AuthorizationEndpoint, TokenURL: m.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// authQuery returns an authorization request of client agent with the S256
// challenge.
func authQuery(challenge string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {"agent"}, "redirect_uri": {agentRedirect},
		"scope": {"mcp:tools"}, "state": {testState},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

func (h *harness) authURL(q url.Values) string { return h.issuer + "/oauth2/authorize?" + q.Encode() }

// callback checks that p redirects to the redirect URI redirect with iss
// equal to the issuer (RFC 9207) and returns the redirect's parameters.
func (h *harness) callback(t *testing.T, p *page, redirect string) url.Values {
	t.Helper()
	if p.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303 to the client: %s", p.status, p.body)
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	loc.RawQuery = ""
	if loc.String() != redirect {
		t.Fatalf("redirected to %s, want %s", p.header.Get("Location"), redirect)
	}
	if got := q["iss"]; len(got) != 1 || got[0] != h.issuer {
		t.Errorf("iss = %q, want [%s]", got, h.issuer)
	}
	if p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", p.header.Get("Cache-Control"))
	}
	return q
}

// approve sends the browser to the authorization request q, logs alice in
// and approves if asked, and returns the parameters of the redirect to
// the client.
func (h *harness) approve(t *testing.T, b *browser, q url.Values) url.Values {
	t.Helper()
	p := b.get(h.authURL(q))
	if p.isLogin() {
		p = b.login(p, "alice", alicePassword)
	}
	if p.isConsent() {
		p = b.submit(p, nil, "approve")
	}
	return h.callback(t, p, q.Get("redirect_uri"))
}

// loggedIn returns a browser in which alice is logged in and has approved
// client agent for mcp:tools on the default resource.
func (h *harness) loggedIn(t *testing.T) *browser {
	t.Helper()
	b := h.browser(t)
	_, ch := pkcePair()
	if q := h.approve(t, b, authQuery(ch)); q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	return b
}

// introspect reports whether the server calls tok active, asking as
// client user.
func (h *harness) introspect(t *testing.T, tok, user, pass string) bool {
	t.Helper()
	r := h.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, user, pass)
	if r.status != http.StatusOK {
		t.Fatalf("introspect: %d %s", r.status, r.raw)
	}
	return r.body["active"] == true
}

// TestAuthorizeFlow drives the code flow as an MCP client would: discovery,
// golang.org/x/oauth2 with PKCE, the login and consent forms submitted as a
// browser submits them, the code exchange, a refresh and revocation.
func TestAuthorizeFlow(t *testing.T) {
	h := newHarness(t, nil)
	conf := h.discover(t)
	b := h.browser(t)
	verifier, state := oauth2.GenerateVerifier(), randText()
	start := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", h.issuer+"/mcp"))

	login := b.get(start)
	if !login.isLogin() {
		t.Fatalf("want the login page, got %d: %s", login.status, login.body)
	}
	again := b.login(login, "alice", "not the password")
	if !again.isLogin() || len(again.text("error")) != 1 {
		t.Fatalf("a wrong password: want the login page with an error, got %d: %s", again.status, again.body)
	}
	again = b.login(again, "mallory", "not the password")
	consent := b.login(again, "alice", alicePassword)
	if !consent.isConsent() {
		t.Fatalf("want the consent page, got %d: %s", consent.status, consent.body)
	}
	for class, want := range map[string]string{"scope": "mcp:tools", "resource": h.issuer + "/mcp", "username": "alice", "redirect-host": "127.0.0.1:9"} {
		if got := consent.text(class); len(got) != 1 || got[0] != want {
			t.Errorf("consent page %s = %q, want %q", class, got, want)
		}
	}

	q := h.callback(t, b.submit(consent, nil, "approve"), agentRedirect)
	code := q.Get("code")
	if q.Get("state") != state || !strings.HasPrefix(code, "szac_") || q.Get("scope") != "mcp:tools" || q.Has("error") {
		t.Fatalf("callback %v: want a code, the state and the scope", q)
	}
	tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || !strings.HasPrefix(tok.RefreshToken, "szrt_") {
		t.Fatalf("token %+v: want a Bearer token and a refresh token", tok)
	}
	c, err := h.srv.Validator().Validate(t.Context(), tok.AccessToken, h.issuer+"/mcp")
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != h.alice.Subject || c.ClientID != "agent" || !c.HasScope("mcp:tools") || c.HasScope("mcp:admin") {
		t.Errorf("claims %+v", c)
	}

	// Refresh: golang.org/x/oauth2 refreshes an expired token and gets a
	// new refresh token.
	expired := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
	fresh, err := conf.TokenSource(t.Context(), expired).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || fresh.RefreshToken == "" {
		t.Fatal("the refresh did not rotate the tokens")
	}
	if claimsOf(t, fresh.AccessToken)["sub"] != h.alice.Subject {
		t.Errorf("the refreshed token lost its subject")
	}
	if !h.introspect(t, fresh.AccessToken, "svc-basic", basicSecret) || h.introspect(t, tok.AccessToken, "svc-basic", basicSecret) {
		t.Error("after the refresh, want the new access token active and the old one not")
	}

	// Revocation of the refresh token revokes its family.
	if r := h.post(t, "/oauth2/revoke", url.Values{"token": {fresh.RefreshToken}, "client_id": {"agent"}}, "", ""); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if h.introspect(t, fresh.AccessToken, "svc-basic", basicSecret) {
		t.Error("the access token of a revoked refresh token is active")
	}
	expired.RefreshToken = fresh.RefreshToken
	_, err = conf.TokenSource(t.Context(), expired).Token()
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "invalid_grant" {
		t.Errorf("refresh with a revoked token: %v, want invalid_grant", err)
	}

	// Audit: two failed logins, named and alike; the consent; the code.
	failed := h.audit.find(oauth.ActionLoginFailed)
	if len(failed) != 2 || failed[0].Subject != "" || failed[0].ClientID != "agent" || failed[0].Decision != oauth.DecisionDeny ||
		!strings.Contains(failed[0].Reason, `"alice"`) || !strings.Contains(failed[1].Reason, `"mallory"`) ||
		strings.ReplaceAll(failed[0].Reason, "alice", "mallory") != failed[1].Reason {
		t.Errorf("login failures %+v: want two, named, alike but for the name", failed)
	}
	logMu.Lock()
	logs := h.logs.String()
	logMu.Unlock()
	h.audit.mu.Lock()
	for _, e := range h.audit.events {
		logs += e.Reason + e.Subject + "\n"
	}
	h.audit.mu.Unlock()
	for _, secret := range []string{"not the password", alicePassword, code, tok.AccessToken, tok.RefreshToken, verifier} {
		if strings.Contains(logs, secret) {
			t.Errorf("a password, code, token or verifier (%.12s…) is in the log or the audit trail", secret)
		}
	}
	given := h.audit.find(oauth.ActionConsentGiven)
	if len(given) != 1 || given[0].Subject != h.alice.Subject || given[0].ClientID != "agent" || given[0].Decision != oauth.DecisionAllow ||
		!strings.Contains(given[0].Reason, "mcp:tools") || !strings.Contains(given[0].Reason, h.issuer+"/mcp") {
		t.Errorf("consent events %+v", given)
	}
	if issued := h.audit.find(oauth.ActionCodeIssued); len(issued) != 1 || issued[0].Subject != h.alice.Subject || issued[0].ClientID != "agent" {
		t.Errorf("code events %+v", issued)
	}

	t.Run("consent remembered", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		p := b.get(conf.AuthCodeURL(testState, oauth2.S256ChallengeOption(verifier))) // the default resource: the same consent
		q := h.callback(t, p, agentRedirect)
		if _, err := conf.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatal(err)
		}
		if n := len(h.audit.find(oauth.ActionConsentGiven)); n != 1 {
			t.Errorf("%d consent events, want still 1", n)
		}
		if issued := h.audit.find(oauth.ActionCodeIssued); len(issued) != 2 || !strings.Contains(issued[1].Reason, "remembered") {
			t.Errorf("code events %+v", issued)
		}
		// Another scope set is another consent.
		_, ch := pkcePair()
		q2 := authQuery(ch)
		q2.Del("scope") // every scope agent registered: mcp:tools, but no scope parameter
		if p := b.get(h.authURL(q2)); p.status != http.StatusSeeOther {
			t.Errorf("no scope (the client's scopes, consented): %d", p.status)
		}
	})
}

// TestAuthorizeRedirectErrors checks the requests whose errors go to the
// client: each redirect carries the exact error code, the state and iss.
func TestAuthorizeRedirectErrors(t *testing.T) {
	h := newHarness(t, nil)
	b := h.loggedIn(t)
	_, ch := pkcePair()
	for _, tc := range []struct {
		name string
		edit func(url.Values)
		code string
		desc string // in error_description
	}{
		{"PKCE missing", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request", "code_challenge"},
		{"PKCE plain", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request", "plain is not allowed"},
		{"PKCE method missing (plain)", func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request", "plain is not allowed"},
		{"PKCE method unknown", func(q url.Values) { q.Set("code_challenge_method", "S512") }, "invalid_request", "use S256"},
		{"PKCE challenge not a hash", func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request", "SHA-256"},
		{"resource not allowed", func(q url.Values) { q.Set("resource", "https://evil.example/mcp") }, "invalid_target", ""},
		{"resource with a fragment", func(q url.Values) { q.Set("resource", h.issuer+"/mcp#f") }, "invalid_target", ""},
		{"resource relative", func(q url.Values) { q.Set("resource", "/mcp") }, "invalid_target", ""},
		{"two resources", func(q url.Values) { q["resource"] = []string{h.issuer + "/mcp", h.issuer + "/mcp"} }, "invalid_target", ""},
		{"scope not registered", func(q url.Values) { q.Set("scope", "mcp:admin") }, "invalid_scope", ""},
		{"scope unknown", func(q url.Values) { q.Set("scope", "mcp:tools email") }, "invalid_scope", ""},
		{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type", ""},
		{"response_type missing", func(q url.Values) { q.Del("response_type") }, "unsupported_response_type", ""},
		{"parameter repeated", func(q url.Values) { q.Add("scope", "mcp:tools") }, "invalid_request", "repeated"},
		{"dpop_jkt not a thumbprint", func(q url.Values) { q.Set("dpop_jkt", "abc") }, "invalid_request", "dpop_jkt"},
		{"request object", func(q url.Values) { q.Set("request", "eyJhbGciOiJub25lIn0.e30.") }, "request_not_supported", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := authQuery(ch)
			tc.edit(q)
			got := h.callback(t, b.get(h.authURL(q)), agentRedirect)
			if got.Get("error") != tc.code || got.Get("state") != testState || got.Has("code") {
				t.Fatalf("redirect %v: want error %s and state %s", got, tc.code, testState)
			}
			if !strings.Contains(got.Get("error_description"), tc.desc) {
				t.Errorf("error_description %q lacks %q", got.Get("error_description"), tc.desc)
			}
		})
	}
	if n := len(h.audit.find(oauth.ActionCodeIssued)); n != 1 {
		t.Errorf("%d codes issued, want only loggedIn's", n)
	}
}

// TestAuthorizeErrorPages checks the requests that must not redirect: their
// client or redirect URI is not established.
func TestAuthorizeErrorPages(t *testing.T) {
	h := newHarness(t, nil)
	b := h.loggedIn(t)
	_, ch := pkcePair()
	for _, tc := range []struct {
		name string
		edit func(url.Values)
	}{
		{"redirect URI off by one character", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9/cc") }},
		{"redirect URI with a trailing slash", func(q url.Values) { q.Set("redirect_uri", agentRedirect+"/") }},
		{"loopback port variant", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:10/cb") }},
		{"loopback without port", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1/cb") }},
		{"localhost for 127.0.0.1", func(q url.Values) { q.Set("redirect_uri", "http://localhost:9/cb") }},
		{"redirect URI with a query", func(q url.Values) { q.Set("redirect_uri", agentRedirect+"?x=1") }},
		{"redirect URI empty", func(q url.Values) { q.Set("redirect_uri", "") }},
		{"redirect URI twice", func(q url.Values) { q["redirect_uri"] = []string{agentRedirect, agentRedirect} }},
		{"another client's redirect URI", func(q url.Values) { q.Set("redirect_uri", webRedirect) }},
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }},
		{"no client", func(q url.Values) { q.Del("client_id") }},
		{"client twice", func(q url.Values) { q.Add("client_id", "webapp") }},
		{"request_uri", func(q url.Values) { q.Set("request_uri", "urn:ietf:params:oauth:request_uri:abc") }},
		{"client without redirect URIs", func(q url.Values) { q.Set("client_id", "svc-basic") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := authQuery(ch)
			tc.edit(q)
			p := b.get(h.authURL(q))
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Fatalf("got %d (Location %q, %s), want a 400 error page and no redirect", p.status, p.header.Get("Location"), p.header.Get("Content-Type"))
			}
			if len(p.text("message")) != 1 || strings.Contains(p.body, "code=") {
				t.Errorf("error page %s", p.body)
			}
		})
	}

	t.Run("fosite alone accepts the port variant", func(t *testing.T) {
		// Why the endpoint compares redirect URIs itself: fosite lets
		// loopback ports vary (RFC 8252 §7.3). If it stops, this can go.
		q := authQuery(ch)
		q.Set("redirect_uri", "http://127.0.0.1:10/cb")
		if _, err := h.authorizeQuery(t, q, &oauth.Session{Subject: "user-1"}); err != nil {
			t.Skipf("fosite no longer accepts it: %v", err)
		}
	})
	t.Run("the long query is refused before the pages", func(t *testing.T) {
		q := authQuery(ch)
		q.Set("x", strings.Repeat("a", 17<<10))
		if p := b.get(h.authURL(q)); p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
			t.Errorf("got %d, want 400 and no redirect", p.status)
		}
	})
	t.Run("form post without a pending request", func(t *testing.T) {
		p := b.post(h.issuer+"/oauth2/authorize", url.Values{"username": {"alice"}, "password": {alicePassword}})
		if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
			t.Errorf("got %d, want a 400 page", p.status)
		}
	})
	t.Run("methods", func(t *testing.T) {
		for _, m := range []string{http.MethodHead, http.MethodPut} {
			req, _ := http.NewRequest(m, h.authURL(authQuery(ch)), nil)
			if p := b.do(req); p.status != http.StatusMethodNotAllowed || p.header.Get("Allow") != "GET, POST" {
				t.Errorf("%s: %d, Allow %q", m, p.status, p.header.Get("Allow"))
			}
		}
	})
	if n := len(h.audit.find(oauth.ActionCodeIssued)); n != 1 {
		t.Errorf("%d codes issued, want only loggedIn's", n)
	}
}

func TestAuthorizeDeny(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser(t)
	_, ch := pkcePair()
	p := b.login(b.get(h.authURL(authQuery(ch))), "alice", alicePassword)
	if !p.isConsent() {
		t.Fatalf("want the consent page: %d %s", p.status, p.body)
	}
	q := h.callback(t, b.submit(p, nil, "deny"), agentRedirect)
	if q.Get("error") != "access_denied" || q.Get("state") != testState || q.Has("code") {
		t.Fatalf("redirect %v: want access_denied and the state", q)
	}
	if got := h.audit.find(oauth.ActionConsentDenied); len(got) != 1 || got[0].Subject != h.alice.Subject || got[0].Decision != oauth.DecisionDeny {
		t.Errorf("denial events %+v", got)
	}
	if len(h.audit.find(oauth.ActionCodeIssued))+len(h.audit.find(oauth.ActionConsentGiven)) != 0 {
		t.Error("a denial issued a code or recorded consent")
	}
	// Nothing remembered: the next request asks again.
	if p := b.get(h.authURL(authQuery(ch))); !p.isConsent() {
		t.Errorf("after a denial: %d, want the consent page again", p.status)
	}
}

func TestAuthorizeState(t *testing.T) {
	h := newHarness(t, nil)
	b := h.loggedIn(t)
	for _, state := range []string{"", "xyz", "a b&c=d/é"} {
		v, ch := pkcePair()
		q := authQuery(ch)
		if state == "" {
			q.Del("state")
		} else {
			q.Set("state", state)
		}
		got := h.approve(t, b, q)
		if got.Has("error") || got.Get("state") != state || got.Has("state") != (state != "") {
			t.Errorf("state %q came back as %v", state, got)
		}
		if r := h.codeExchange(t, got.Get("code"), v, nil); r.status != http.StatusOK {
			t.Errorf("state %q: exchange %d %s", state, r.status, r.raw)
		}
		q.Set("code_challenge_method", "plain") // and on errors
		if got := h.callback(t, b.get(h.authURL(q)), agentRedirect); got.Get("state") != state || got.Has("state") != (state != "") {
			t.Errorf("state %q came back on an error as %v", state, got)
		}
	}
}

// TestAuthorizeCodeExchangeErrors redeems codes of the real endpoint
// wrongly.
func TestAuthorizeCodeExchangeErrors(t *testing.T) {
	h := newHarness(t, nil)
	b := h.loggedIn(t)

	t.Run("wrong verifier", func(t *testing.T) {
		_, ch := pkcePair()
		other, _ := pkcePair()
		code := h.approve(t, b, authQuery(ch)).Get("code")
		wantError(t, h.codeExchange(t, code, other, nil), 400, "invalid_grant")
	})
	t.Run("no verifier", func(t *testing.T) {
		_, ch := pkcePair()
		code := h.approve(t, b, authQuery(ch)).Get("code")
		wantError(t, h.codeExchange(t, code, "", nil), 400, "invalid_grant")
	})
	t.Run("another redirect URI", func(t *testing.T) {
		v, ch := pkcePair()
		code := h.approve(t, b, authQuery(ch)).Get("code")
		f := url.Values{"grant_type": {"authorization_code"}, "client_id": {"agent"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:10/cb"}, "code_verifier": {v}}
		wantError(t, h.post(t, "/oauth2/token", f, "", ""), 400, "invalid_grant")
	})

	// A confidential client, so that it can introspect its refresh token.
	conf := &oauth2.Config{
		ClientID: "webapp", ClientSecret: webSecret, RedirectURL: webRedirect, Scopes: []string{"mcp:tools"},
		Endpoint: oauth2.Endpoint{AuthURL: h.issuer + "/oauth2/authorize", TokenURL: h.tokenURL, AuthStyle: oauth2.AuthStyleInHeader},
	}
	t.Run("code reused", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		p := b.get(conf.AuthCodeURL(testState, oauth2.S256ChallengeOption(verifier)))
		if !p.isConsent() {
			t.Fatalf("want webapp's consent page: %d %s", p.status, p.body)
		}
		code := h.callback(t, b.submit(p, nil, "approve"), webRedirect).Get("code")
		tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if !h.introspect(t, tok.AccessToken, "webapp", webSecret) || !h.introspect(t, tok.RefreshToken, "webapp", webSecret) {
			t.Fatal("the tokens of the first exchange are not active")
		}
		_, err = conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "invalid_grant" {
			t.Fatalf("second exchange: %v, want invalid_grant", err)
		}
		if h.introspect(t, tok.AccessToken, "webapp", webSecret) || h.introspect(t, tok.RefreshToken, "webapp", webSecret) {
			t.Error("reusing the code left the first exchange's tokens active")
		}
		if got := h.audit.find(oauth.ActionTokenRevoked); len(got) == 0 || got[len(got)-1].ClientID != "webapp" {
			t.Errorf("revocation events %+v", got)
		}
	})
}

// TestAuthorizeResource carries the RFC 8707 resource from the
// authorization request into the tokens' aud.
func TestAuthorizeResource(t *testing.T) {
	other := "http://127.0.0.1:1/v1"
	h := newHarness(t, func(c *oauth.Config) {
		u, _ := url.Parse(other)
		c.Resources = append(c.Resources, u)
	})
	b := h.loggedIn(t) // consent for the default resource

	v, ch := pkcePair()
	q := authQuery(ch)
	q.Set("resource", other)
	p := b.get(h.authURL(q))
	if !p.isConsent() || p.text("resource")[0] != other {
		t.Fatalf("another resource: want its consent page, got %d %s", p.status, p.body)
	}
	code := h.callback(t, b.submit(p, nil, "approve"), agentRedirect).Get("code")
	r := h.codeExchange(t, code, v, nil)
	if r.status != http.StatusOK || claimsOf(t, r.str("access_token"))["aud"] != other {
		t.Fatalf("exchange: %d %s, want aud %s", r.status, r.raw, other)
	}
	if r := h.refresh(t, r.str("refresh_token"), nil); claimsOf(t, r.str("access_token"))["aud"] != other {
		t.Errorf("refreshed aud %v, want %s", claimsOf(t, r.str("access_token"))["aud"], other)
	}

	t.Run("token request names the authorized resource", func(t *testing.T) {
		v, ch := pkcePair()
		q := authQuery(ch)
		q.Set("resource", other)
		code := h.approve(t, b, q).Get("code")
		if r := h.codeExchange(t, code, v, nil, "resource", other); r.status != http.StatusOK {
			t.Errorf("exchange: %d %s", r.status, r.raw)
		}
	})
	t.Run("token request names another resource", func(t *testing.T) {
		v, ch := pkcePair()
		q := authQuery(ch)
		q.Set("resource", other)
		code := h.approve(t, b, q).Get("code")
		wantError(t, h.codeExchange(t, code, v, nil, "resource", h.issuer+"/mcp"), 400, "invalid_target")
	})
	t.Run("no resource: the default", func(t *testing.T) {
		v, ch := pkcePair()
		code := h.approve(t, b, authQuery(ch)).Get("code")
		wantError(t, h.codeExchange(t, code, v, nil, "resource", other), 400, "invalid_target")
		code = h.approve(t, b, authQuery(ch)).Get("code")
		if r := h.codeExchange(t, code, v, nil); claimsOf(t, r.str("access_token"))["aud"] != h.issuer+"/mcp" {
			t.Errorf("aud %v, want the default resource", claimsOf(t, r.str("access_token"))["aud"])
		}
	})
}

// TestAuthorizeDPoPJKT binds codes to a DPoP key with dpop_jkt (RFC 9449
// §10).
func TestAuthorizeDPoPJKT(t *testing.T) {
	h := newHarness(t, nil)
	b := h.loggedIn(t)
	key, other := newProver(t), newProver(t)
	code := func() (code, verifier string) {
		v, ch := pkcePair()
		q := authQuery(ch)
		q.Set("dpop_jkt", key.jkt)
		return h.approve(t, b, q).Get("code"), v
	}

	c, v := code()
	wantError(t, h.codeExchange(t, c, v, nil), 400, dpop.CodeInvalidProof)
	c, v = code()
	wantError(t, h.codeExchange(t, c, v, other), 400, dpop.CodeInvalidProof)
	c, v = code()
	r := h.codeExchange(t, c, v, key)
	if r.status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Fatalf("exchange with the bound key: %d %s", r.status, r.raw)
	}
	if cnf, _ := claimsOf(t, r.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
		t.Errorf("cnf %v, want jkt %s", cnf, key.jkt)
	}
	if issued := h.audit.find(oauth.ActionCodeIssued); !strings.Contains(issued[len(issued)-1].Reason, "DPoP") {
		t.Errorf("code event %+v does not say it is bound", issued[len(issued)-1])
	}
}

// FuzzAuthorize sends arbitrary query strings to the authorization
// endpoint from a browser without a session: it never panics or fails with
// a 5xx, never issues a code, and redirects only to a redirect URI
// registered exactly, with iss.
func FuzzAuthorize(f *testing.F) {
	_, ch := pkcePair()
	valid := authQuery(ch)
	f.Add(valid.Encode())
	for _, edit := range []func(url.Values){
		func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:10/cb") },
		func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9/cb?x=1") },
		func(q url.Values) { q.Set("code_challenge_method", "plain") },
		func(q url.Values) { q.Set("resource", "https://evil.example/") },
		func(q url.Values) { q.Set("client_id", "webapp"); q.Set("redirect_uri", webRedirect) },
		func(q url.Values) { q.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") },
		func(q url.Values) { q.Set("scope", "openid"); q.Set("request", "eyJhbGciOiJub25lIn0.e30.") },
		func(q url.Values) { q.Del("state"); q.Del("redirect_uri") },
	} {
		q := authQuery(ch)
		edit(q)
		f.Add(q.Encode())
	}
	f.Add("client_id=agent&client_id=agent")
	f.Add("%zz")
	f.Add("")
	h := newHarness(f, nil)
	handler := h.srv.AuthorizeHandler()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, h.issuer+"/oauth2/authorize", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest:
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Fatalf("status %d with Location %s", rec.Code, loc)
			}
		case http.StatusSeeOther:
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			q := loc.Query()
			loc.RawQuery = ""
			if s := loc.String(); s != agentRedirect && s != webRedirect {
				t.Fatalf("redirected to %s", rec.Header().Get("Location"))
			}
			if q.Get("iss") != h.issuer || q.Has("code") || q.Get("error") == "" {
				t.Fatalf("redirect without a session: %v", q)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
