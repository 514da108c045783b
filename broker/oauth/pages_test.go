package oauth_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/subzero-gateway/subzero/broker/oauth"
)

const (
	alicePassword = "correct horse battery"
	basePolicy    = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
	toolsClientID = "https://tools.example/agent.json"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// pagesEnv is an authorization server reduced to its pages: a stand-in
// authorize endpoint that calls Pages as the real one will and records
// each decision.
type pagesEnv struct {
	t        *testing.T
	srv      *httptest.Server
	pages    *oauth.Pages
	consents *oauth.Consents
	clock    *testClock
	alice    *oauth.User

	mu        sync.Mutex
	decisions []oauth.Outcome
	leaks     []string // form fields that reached the request given to fosite
}

var testClients = map[string]*oauth.Client{
	"agent":       {ID: "agent", ClientName: "Agent Smith"},
	toolsClientID: {ID: toolsClientID, ClientName: "Tool Agent", Source: oauth.SourceCIMD},
	"unnamed":     {ID: "unnamed"},
	"xss":         {ID: "xss", ClientName: `<script>alert("pwned")</script>`},
}

func newPagesEnv(t *testing.T) *pagesEnv {
	t.Helper()
	s, _ := testStore(t)
	e := &pagesEnv{t: t, clock: &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}}
	users := oauth.NewUsers(s, fastArgon2)
	var err error
	if e.alice, err = users.Add(t.Context(), "alice", alicePassword); err != nil {
		t.Fatal(err)
	}
	e.consents = oauth.NewConsents(s, e.clock.Now)
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/authorize", e.authorize)
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	cfg := oauth.DefaultPages()
	cfg.Issuer, _ = url.Parse(e.srv.URL)
	cfg.ScopeDescriptions = map[string]string{"mcp:tools": "Call your MCP tools"}
	e.pages, err = oauth.NewPages(cfg, users, e.consents, []byte(strings.Repeat("k", 32)), e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// authorize stands in for the authorization endpoint; where it reads the
// query, the real one has fosite parse and validate the request.
func (e *pagesEnv) authorize(w http.ResponseWriter, r *http.Request) {
	orig, err := e.pages.Resume(r)
	if err != nil {
		e.pages.WriteError(w, http.StatusBadRequest, "This request has expired.")
		return
	}
	if orig.Method != http.MethodGet || orig.Body != http.NoBody {
		e.leak("method or body")
	}
	for _, f := range []string{"username", "password", "csrf_token", "pending", "decision"} {
		if orig.FormValue(f) != "" {
			e.leak(f)
		}
	}
	q := orig.URL.Query()
	client := testClients[q.Get("client_id")]
	if client == nil {
		e.pages.WriteError(w, http.StatusBadRequest, "Unknown client.")
		return
	}
	d, ok, err := e.pages.Handle(w, r, oauth.PendingAuthorization{
		Query: orig.URL.RawQuery, Client: client, Scopes: strings.Fields(q.Get("scope")),
		Resource: q.Get("resource"), RedirectURI: q.Get("redirect_uri"),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if !ok {
		return
	}
	e.mu.Lock()
	e.decisions = append(e.decisions, d)
	e.mu.Unlock()
	fmt.Fprintf(w, "decided approved=%v sub=%s", d.Approved, d.Subject) // the real endpoint redirects
}

func (e *pagesEnv) leak(what string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.leaks = append(e.leaks, what)
}

func (e *pagesEnv) lastDecision(t *testing.T) oauth.Outcome {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.leaks) > 0 {
		t.Errorf("form fields reached the request for fosite: %v", e.leaks)
	}
	if len(e.decisions) == 0 {
		t.Fatal("no decision recorded")
	}
	return e.decisions[len(e.decisions)-1]
}

// authorizeURL returns an authorization request's URL.
func (e *pagesEnv) authorizeURL(clientID, scope, resource string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {"http://127.0.0.1:7777/cb"},
		"scope": {scope}, "state": {"st"}, "code_challenge": {"E9Melhoe2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"},
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	return e.srv.URL + "/oauth2/authorize?" + q.Encode()
}

// browser is an HTTP client with a cookie jar that reads and submits the
// pages' forms.
type browser struct {
	t *testing.T
	c *http.Client
}

func (e *pagesEnv) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *e.srv.Client() // a copy: the server's client is shared
	c.Jar = jar
	return &browser{t: t, c: &c}
}

// page is a response as a browser sees it.
type page struct {
	status int
	header http.Header
	body   string
	url    *url.URL
	doc    *html.Node
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &page{status: resp.StatusCode, header: resp.Header, body: string(body), url: resp.Request.URL}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(strings.NewReader(p.body)); err != nil {
			b.t.Fatal(err)
		}
	}
	return p
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// submit fills the page's form with set (over its inputs' values), clicks
// the submit button whose value is button (or the form's only one), and
// posts it as a browser would.
func (b *browser) submit(p *page, set map[string]string, button string) *page {
	b.t.Helper()
	action, form := p.form(b.t)
	for k, v := range set {
		form.Set(k, v)
	}
	if button != "" {
		form.Set("decision", button)
	}
	return b.post(action, form)
}

// form returns the page's form's absolute action and the values of its
// named inputs.
func (p *page) form(t *testing.T) (string, url.Values) {
	t.Helper()
	f := find(p.doc, func(n *html.Node) bool { return n.Data == "form" })
	if f == nil {
		t.Fatalf("no form on the page (status %d): %s", p.status, p.body)
	}
	if m := attr(f, "method"); m != "post" {
		t.Fatalf("form method %q, want post", m)
	}
	action, err := p.url.Parse(attr(f, "action"))
	if err != nil {
		t.Fatal(err)
	}
	vals := url.Values{}
	walk(f, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			vals.Set(attr(n, "name"), attr(n, "value"))
		}
	})
	return action.String(), vals
}

// inputs returns the names and types of the form's inputs and buttons.
func (p *page) inputs() map[string]string {
	m := map[string]string{}
	walk(p.doc, func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "input" || n.Data == "button") && attr(n, "name") != "" {
			m[attr(n, "name")+"="+attr(n, "value")] = attr(n, "type")
		}
	})
	return m
}

// text returns the text of the elements of class, in document order.
func (p *page) text(class string) []string {
	var out []string
	walk(p.doc, func(n *html.Node) {
		if n.Type == html.ElementNode && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ") {
			var sb strings.Builder
			walk(n, func(c *html.Node) {
				if c.Type == html.TextNode {
					sb.WriteString(c.Data)
				}
			})
			out = append(out, sb.String())
		}
	})
	return out
}

func (p *page) isLogin() bool {
	return p.status == http.StatusOK && p.inputs()["password="] == "password"
}
func (p *page) isConsent() bool {
	return p.status == http.StatusOK && p.inputs()["decision=approve"] == "submit"
}

func walk(n *html.Node, fn func(*html.Node)) {
	if n == nil {
		return
	}
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	var found *html.Node
	walk(n, func(c *html.Node) {
		if found == nil && c.Type == html.ElementNode && match(c) {
			found = c
		}
	})
	return found
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// login signs in on a login page and returns the page after.
func (b *browser) login(p *page, user, password string) *page {
	b.t.Helper()
	if !p.isLogin() {
		b.t.Fatalf("want the login page, got status %d: %s", p.status, p.body)
	}
	return b.submit(p, map[string]string{"username": user, "password": password}, "")
}

func checkPageHeaders(t *testing.T, p *page, wantCSP string) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": wantCSP, "X-Frame-Options": "DENY", "Cache-Control": "no-store",
		"Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// The policy of pages whose form ends in a redirect to the client.
const flowPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:7777; frame-ancestors 'none'"

func TestPagesApprove(t *testing.T) {
	e := newPagesEnv(t)
	b := e.browser(t)
	start := e.authorizeURL(toolsClientID, "mcp:tools email", "https://mcp.example/")

	login := b.get(start)
	if !login.isLogin() {
		t.Fatalf("first visit: want the login page, got %d: %s", login.status, login.body)
	}
	checkPageHeaders(t, login, flowPolicy)
	for _, in := range []string{"username=", "password=", "step=login"} {
		if _, ok := login.inputs()[in]; !ok {
			t.Errorf("login form has no input %s", in)
		}
	}
	if got := login.text("client-name"); len(got) != 1 || got[0] != "Tool Agent" {
		t.Errorf("login page names the client %q, want Tool Agent", got)
	}

	consent := b.login(login, "alice", alicePassword)
	if !consent.isConsent() {
		t.Fatalf("after login: want the consent page, got %d: %s", consent.status, consent.body)
	}
	checkPageHeaders(t, consent, flowPolicy)
	for class, want := range map[string][]string{
		"client-name":       {"Tool Agent"},
		"client-host":       {"(tools.example)"},
		"scope":             {"email", "mcp:tools"},
		"scope-description": {"Call your MCP tools"},
		"resource":          {"https://mcp.example/"},
		"redirect-host":     {"127.0.0.1:7777"},
		"username":          {"alice"},
	} {
		if got := consent.text(class); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("consent page %s = %q, want %q", class, got, want)
		}
	}
	if _, ok := consent.inputs()["decision=deny"]; !ok {
		t.Error("consent page has no Deny button")
	}

	done := b.submit(consent, nil, "approve")
	if done.body != "decided approved=true sub="+e.alice.Subject {
		t.Fatalf("after Approve: %d %s", done.status, done.body)
	}
	d := e.lastDecision(t)
	if !d.Approved || d.Remembered || d.Subject != e.alice.Subject || d.Username != "alice" || !d.AuthTime.Equal(e.clock.Now()) {
		t.Errorf("decision = %+v", d)
	}

	// Remembered: the same request goes straight through, scopes in any order.
	again := b.get(e.authorizeURL(toolsClientID, "email mcp:tools", "https://mcp.example/"))
	if again.body != "decided approved=true sub="+e.alice.Subject || !e.lastDecision(t).Remembered {
		t.Fatalf("remembered consent: %d %s, decision %+v", again.status, again.body, e.lastDecision(t))
	}
	// Another scope set or resource asks again.
	for _, u := range []string{
		e.authorizeURL(toolsClientID, "mcp:tools", "https://mcp.example/"),
		e.authorizeURL(toolsClientID, "mcp:tools email admin", "https://mcp.example/"),
		e.authorizeURL(toolsClientID, "mcp:tools email", "https://other.example/"),
	} {
		if p := b.get(u); !p.isConsent() {
			t.Errorf("%s: want the consent page, got %d: %s", u, p.status, p.body)
		}
	}
	// Revoked: asks again.
	if n, err := e.consents.Revoke(t.Context(), e.alice.Subject, toolsClientID); err != nil || n != 1 {
		t.Fatalf("Revoke = %d, %v", n, err)
	}
	if p := b.get(start); !p.isConsent() {
		t.Errorf("after Revoke: want the consent page, got %d: %s", p.status, p.body)
	}

	// Another browser logs in and, consent remembered again, goes straight through.
	b.submit(b.get(start), nil, "approve")
	b2 := e.browser(t)
	if p := b2.login(b2.get(start), "alice", alicePassword); p.body != "decided approved=true sub="+e.alice.Subject {
		t.Errorf("login with a remembered consent: %d %s", p.status, p.body)
	}
}

func TestPagesDeny(t *testing.T) {
	e := newPagesEnv(t)
	b := e.browser(t)
	start := e.authorizeURL("agent", "mcp:tools", "")
	consent := b.login(b.get(start), "alice", alicePassword)
	if got := consent.text("client-name"); len(got) != 1 || got[0] != "Agent Smith" || len(consent.text("client-host")) != 0 {
		t.Errorf("static client named %q, host %q; want Agent Smith, no host", got, consent.text("client-host"))
	}
	if got := consent.text("client-id"); len(got) != 1 || got[0] != "Client ID: agent" {
		t.Errorf("client ID line = %q", got)
	}
	done := b.submit(consent, nil, "deny")
	if done.body != "decided approved=false sub="+e.alice.Subject {
		t.Fatalf("after Deny: %d %s", done.status, done.body)
	}
	if d := e.lastDecision(t); d.Approved || d.Subject != e.alice.Subject {
		t.Errorf("decision = %+v", d)
	}
	if p := b.get(start); !p.isConsent() {
		t.Errorf("a denial was remembered: %d %s", p.status, p.body)
	}
	if b.submit(b.get(start), map[string]string{"decision": "maybe"}, "").status != http.StatusBadRequest {
		t.Error("an unknown decision was not refused")
	}
}

func TestPagesUnnamedClient(t *testing.T) {
	e := newPagesEnv(t)
	b := e.browser(t)
	consent := b.login(b.get(e.authorizeURL("unnamed", "", "")), "alice", alicePassword)
	if got := consent.text("client-name"); len(got) != 1 || got[0] != "unnamed" {
		t.Errorf("unnamed client shown as %q, want its client ID", got)
	}
	if len(consent.text("client-id")) != 0 || len(consent.text("scope")) != 0 || len(consent.text("resource")) != 0 {
		t.Errorf("unexpected client ID, scope or resource line: %s", consent.body)
	}
}

func TestPagesWrongPassword(t *testing.T) {
	e := newPagesEnv(t)
	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", "alice", "wrong password"},
		{"unknown user", "mallory", alicePassword},
		{"invalid user name", "<b>al ice</b>", alicePassword},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser(t)
			p := b.login(b.get(e.authorizeURL("agent", "mcp:tools", "")), tc.user, tc.password)
			if !p.isLogin() {
				t.Fatalf("want the login page again, got %d: %s", p.status, p.body)
			}
			if got := p.text("error"); len(got) != 1 || got[0] != "wrong username or password" {
				t.Errorf("error = %q, want the generic message", got)
			}
			_, form := p.form(t)
			if form.Get("username") != tc.user || form.Get("password") != "" {
				t.Errorf("form refilled with username %q, password %q; want the name only", form.Get("username"), form.Get("password"))
			}
			for _, c := range b.c.Jar.Cookies(p.url) {
				if strings.Contains(c.Name, "session") {
					t.Errorf("a failed login set %s", c.Name)
				}
			}
			// Still not logged in.
			if p := b.get(e.authorizeURL("agent", "mcp:tools", "")); !p.isLogin() {
				t.Errorf("after a failed login: %d %s", p.status, p.body)
			}
		})
	}
}

func TestPagesCSRF(t *testing.T) {
	e := newPagesEnv(t)
	start := e.authorizeURL("agent", "mcp:tools", "")

	// A login form and a consent form, each from its own browser.
	victim := e.browser(t)
	loginPage := victim.get(start)
	attacker := e.browser(t)
	attackerConsent := attacker.login(attacker.get(start), "alice", alicePassword)
	consentVictim := e.browser(t)
	consentPage := consentVictim.login(consentVictim.get(start), "alice", alicePassword)

	loginAction, loginForm := loginPage.form(t)
	loginForm.Set("username", "alice")
	loginForm.Set("password", alicePassword)
	consentAction, consentForm := consentPage.form(t)
	consentForm.Set("decision", "approve")
	_, otherToken := attackerConsent.form(t)

	with := func(v url.Values, k, val string) url.Values {
		c := url.Values{}
		for kk, vv := range v {
			c[kk] = append([]string(nil), vv...)
		}
		if val == "" {
			c.Del(k)
		} else {
			c.Set(k, val)
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		b       *browser
		action  string
		form    url.Values
		headers map[string]string
	}{
		{"login without token", victim, loginAction, with(loginForm, "csrf_token", ""), nil},
		{"login with forged token", victim, loginAction, with(loginForm, "csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), nil},
		{"login with another browser's token", victim, loginAction, with(loginForm, "csrf_token", otherToken.Get("csrf_token")), nil},
		{"login from a browser without the cookie", e.browser(t), loginAction, loginForm, nil},
		{"login with the consent token", consentVictim, loginAction, with(loginForm, "csrf_token", consentForm.Get("csrf_token")), nil},
		{"consent without token", consentVictim, consentAction, with(consentForm, "csrf_token", ""), nil},
		{"consent with another browser's token", consentVictim, consentAction, with(consentForm, "csrf_token", otherToken.Get("csrf_token")), nil},
		{"consent with the login token", consentVictim, consentAction, with(consentForm, "step", "login"), nil},
		{"cross-site POST", victim, loginAction, loginForm, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, tc.action, strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			p := tc.b.do(req)
			if p.status != http.StatusForbidden || p.doc == nil {
				t.Fatalf("status %d, %s; want a 403 page", p.status, p.body)
			}
			checkPageHeaders(t, p, basePolicy)
		})
	}
	e.mu.Lock()
	n := len(e.decisions)
	e.mu.Unlock()
	if n != 0 {
		t.Errorf("%d decisions recorded, want none", n)
	}
	// The genuine forms still work.
	if p := victim.post(loginAction, loginForm); !p.isConsent() {
		t.Errorf("genuine login: %d %s", p.status, p.body)
	}
	if p := consentVictim.post(consentAction, consentForm); p.body != "decided approved=true sub="+e.alice.Subject {
		t.Errorf("genuine consent: %d %s", p.status, p.body)
	}
}

func TestPagesSession(t *testing.T) {
	e := newPagesEnv(t)
	b := e.browser(t)
	start := e.authorizeURL("agent", "mcp:tools", "")
	if p := b.login(b.get(start), "alice", alicePassword); !p.isConsent() {
		t.Fatalf("login: %d %s", p.status, p.body)
	}
	srvURL, _ := url.Parse(e.srv.URL)
	var session *http.Cookie
	for _, c := range b.c.Jar.Cookies(srvURL) {
		if c.Name == "__Host-subzero_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no __Host-subzero_session cookie; have %v", b.c.Jar.Cookies(srvURL))
	}
	payload, sig, _ := strings.Cut(session.Value, ".")
	flip := func(s string) string { // one character of s changed
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	withSession := func(value string) *page {
		req, _ := http.NewRequest(http.MethodGet, start, nil)
		req.AddCookie(&http.Cookie{Name: session.Name, Value: value})
		c := e.srv.Client() // no jar: only this cookie
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		doc, _ := html.Parse(strings.NewReader(string(body)))
		return &page{status: resp.StatusCode, header: resp.Header, body: string(body), url: req.URL, doc: doc}
	}
	if p := withSession(session.Value); !p.isConsent() {
		t.Fatalf("the genuine cookie alone: %d %s", p.status, p.body)
	}
	for name, value := range map[string]string{
		"payload changed":   flip(payload) + "." + sig,
		"signature changed": payload + "." + flip(sig),
		"no signature":      payload,
		"garbage":           "!!!",
		"other subject":     strings.Replace(session.Value, payload, "eyJzdWIiOiJtYWxsb3J5IiwiaWF0IjoxLCJleHAiOjk5OTk5OTk5OTl9", 1),
	} {
		if p := withSession(value); !p.isLogin() {
			t.Errorf("%s: want the login page, got %d: %s", name, p.status, p.body)
		}
	}
	// A session ends after its lifetime.
	e.clock.Advance(12*time.Hour - time.Second)
	if p := b.get(start); !p.isConsent() {
		t.Errorf("session just before expiry: %d %s", p.status, p.body)
	}
	e.clock.Advance(time.Second)
	if p := b.get(start); !p.isLogin() {
		t.Errorf("expired session: want the login page, got %d: %s", p.status, p.body)
	}
}

func TestPagesSessionExpiresBetweenPages(t *testing.T) {
	e := newPagesEnv(t)
	b := e.browser(t)
	start := e.authorizeURL("agent", "mcp:tools", "")
	b.login(b.get(start), "alice", alicePassword)
	e.clock.Advance(12*time.Hour - 5*time.Minute)
	consent := b.get(start) // the session ends while the page is open
	if !consent.isConsent() {
		t.Fatalf("want the consent page, got %d: %s", consent.status, consent.body)
	}
	e.clock.Advance(5 * time.Minute)
	p := b.submit(consent, nil, "approve")
	if !p.isLogin() {
		t.Fatalf("consent posted after the session ended: want the login page, got %d: %s", p.status, p.body)
	}
	if p := b.submit(b.login(p, "alice", alicePassword), nil, "approve"); p.body != "decided approved=true sub="+e.alice.Subject {
		t.Errorf("after logging in again: %d %s", p.status, p.body)
	}
}

func TestPagesPendingExpires(t *testing.T) {
	e := newPagesEnv(t)
	b := e.browser(t)
	login := b.get(e.authorizeURL("agent", "mcp:tools", ""))
	e.clock.Advance(15 * time.Minute)
	p := b.login(login, "alice", alicePassword)
	if p.status != http.StatusBadRequest || p.doc == nil {
		t.Fatalf("stale form: status %d, %s; want a 400 page", p.status, p.body)
	}
	checkPageHeaders(t, p, basePolicy)

	// A pending ID signed for one request does not serve another.
	action, form := b.get(e.authorizeURL("agent", "mcp:tools", "")).form(t)
	pending := form.Get("pending")
	enc, sig, _ := strings.Cut(pending, ".")
	form.Set("pending", enc+"x."+sig)
	form.Set("username", "alice")
	form.Set("password", alicePassword)
	if p := b.post(action, form); p.status != http.StatusBadRequest {
		t.Errorf("forged pending ID: status %d, want 400", p.status)
	}
}

func TestPagesEscape(t *testing.T) {
	e := newPagesEnv(t)
	b := e.browser(t)
	evil := `"><script>alert(1)</script>`
	u := e.authorizeURL("xss", "mcp:tools <img/src=x> "+evil, "https://mcp.example/"+evil)
	login := b.get(u)
	consent := b.login(login, "alice", alicePassword)
	if got := consent.text("resource"); len(got) != 1 || got[0] != "https://mcp.example/"+evil {
		t.Errorf("resource = %q, want it as text", got)
	}
	for name, p := range map[string]*page{"login": login, "consent": consent} {
		if strings.Contains(p.body, "<script") || strings.Contains(p.body, "<img") {
			t.Errorf("%s page has markup from the request:\n%s", name, p.body)
		}
		if find(p.doc, func(n *html.Node) bool { return n.Data == "script" || n.Data == "img" }) != nil {
			t.Errorf("%s page parses with a script or img element", name)
		}
		if got := p.text("client-name"); len(got) != 1 || got[0] != `<script>alert("pwned")</script>` {
			t.Errorf("%s page client name = %q, want the name as text", name, got)
		}
	}
}

func TestPagesErrorPages(t *testing.T) {
	e := newPagesEnv(t)
	b := e.browser(t)
	notForm := mustRequest(t, http.MethodPost, e.srv.URL+"/oauth2/authorize")
	notForm.Header.Set("Content-Type", "application/json")
	for name, p := range map[string]*page{
		"not a form":     b.do(notForm),
		"empty form":     b.post(e.srv.URL+"/oauth2/authorize", nil),
		"unknown client": b.get(e.authorizeURL("nobody", "", "")),
		"no pending":     b.post(e.srv.URL+"/oauth2/authorize", url.Values{"step": {"login"}}),
		"method":         b.do(mustRequest(t, http.MethodPut, e.authorizeURL("agent", "", ""))),
	} {
		if p.status < 400 || p.doc == nil {
			t.Errorf("%s: status %d, %s; want an HTML error page", name, p.status, p.body)
			continue
		}
		checkPageHeaders(t, p, basePolicy)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestPagesPlainHTTPIssuer(t *testing.T) {
	s, _ := testStore(t)
	users := oauth.NewUsers(s, fastArgon2)
	if _, err := users.Add(t.Context(), "alice", alicePassword); err != nil {
		t.Fatal(err)
	}
	cfg := oauth.DefaultPages()
	cfg.Issuer, _ = url.Parse("http://127.0.0.1:8080")
	pages, err := oauth.NewPages(cfg, users, oauth.NewConsents(s, nil), []byte(strings.Repeat("k", 32)), nil)
	if err != nil {
		t.Fatal(err)
	}
	pa := oauth.PendingAuthorization{Query: "client_id=agent", Client: testClients["agent"], RedirectURI: "http://[::1]:9/cb"}
	w := httptest.NewRecorder()
	if _, ok, err := pages.Handle(w, httptest.NewRequest(http.MethodGet, "/oauth2/authorize?client_id=agent", nil), pa); ok || err != nil {
		t.Fatalf("Handle = %v, %v", ok, err)
	}
	// An IPv6 literal has no CSP host source: only 'self'.
	if got := w.Header().Get("Content-Security-Policy"); got != basePolicy {
		t.Errorf("CSP = %q, want %q", got, basePolicy)
	}
	csrf := w.Result().Cookies()
	if len(csrf) != 1 || csrf[0].Name != "subzero_csrf" || csrf[0].Secure || !csrf[0].HttpOnly || csrf[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookies = %+v, want subzero_csrf, HttpOnly, SameSite=Lax, not Secure", csrf)
	}
	doc, _ := html.Parse(w.Body)
	_, form := (&page{doc: doc, status: 200, url: &url.URL{Path: "/oauth2/authorize"}}).form(t)
	form.Set("username", "alice")
	form.Set("password", alicePassword)
	req := httptest.NewRequest(http.MethodPost, "/oauth2/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(csrf[0])
	w = httptest.NewRecorder()
	orig, err := pages.Resume(req)
	if err != nil || orig.URL.RawQuery != pa.Query {
		t.Fatalf("Resume = %v, %v", orig, err)
	}
	// Handle checks that the form belongs to the request it is given.
	other := pa
	other.Query = "client_id=agent&scope=admin"
	if _, ok, err := pages.Handle(w, req, other); ok || err != nil || w.Code != http.StatusBadRequest {
		t.Fatalf("Handle(another request's form) = %v, %v, status %d; want a 400 page", ok, err, w.Code)
	}
	w = httptest.NewRecorder()
	if _, ok, err := pages.Handle(w, req, pa); ok || err != nil {
		t.Fatalf("Handle(login) = %v, %v", ok, err)
	}
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/oauth2/authorize?client_id=agent" {
		t.Errorf("login answered %d to %q; want 303 to the authorization request", w.Code, w.Header().Get("Location"))
	}
	var session *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "subzero_session" {
			session = c
		}
	}
	if session == nil || session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.MaxAge != 12*3600 {
		t.Errorf("session cookie = %+v", session)
	}
}

func TestPagesConfig(t *testing.T) {
	s, _ := testStore(t)
	users, consents := oauth.NewUsers(s, fastArgon2), oauth.NewConsents(s, nil)
	key := []byte(strings.Repeat("k", 32))
	issuer, _ := url.Parse("https://auth.example")
	for _, tc := range []struct {
		name string
		mod  func(*oauth.PagesConfig)
		key  []byte
	}{
		{"no issuer", func(c *oauth.PagesConfig) { c.Issuer = nil }, key},
		{"ftp issuer", func(c *oauth.PagesConfig) { c.Issuer, _ = url.Parse("ftp://auth.example") }, key},
		{"short session", func(c *oauth.PagesConfig) { c.SessionLifetime = time.Second }, key},
		{"long pending", func(c *oauth.PagesConfig) { c.PendingLifetime = 2 * time.Hour }, key},
		{"no logins", func(c *oauth.PagesConfig) { c.MaxConcurrentLogins = 0 }, key},
		{"short key", func(*oauth.PagesConfig) {}, key[:31]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oauth.DefaultPages()
			cfg.Issuer = issuer
			tc.mod(&cfg)
			if _, err := oauth.NewPages(cfg, users, consents, tc.key, nil); err == nil {
				t.Error("NewPages accepted it")
			}
		})
	}
}
