package oauth_test

import (
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/internal/secret"
	"github.com/subzero-gateway/subzero/internal/yamlconf"
)

func validConfig() oauth.Config {
	c := oauth.Default()
	c.Issuer, _ = url.Parse("https://broker.example")
	return c
}

func TestConfigValidate(t *testing.T) {
	if err := func() error { c := validConfig(); return c.Validate() }(); err != nil {
		t.Fatalf("default config with an issuer: %v", err)
	}
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		name   string
		mutate func(*oauth.Config)
		want   string
	}{
		{"no issuer", func(c *oauth.Config) { c.Issuer = nil }, "issuer: required"},
		{"http issuer", func(c *oauth.Config) { c.Issuer = mustURL("http://broker.example") }, "issuer: must be an https URL"},
		{"issuer with a slash", func(c *oauth.Config) { c.Issuer = mustURL("https://broker.example/") }, "issuer: must not end with a slash"},
		{"issuer with a query", func(c *oauth.Config) { c.Issuer = mustURL("https://broker.example?a=b") }, "issuer: must not have a query"},
		{"no scopes", func(c *oauth.Config) { c.Scopes = nil }, "scopes: must not be empty"},
		{"bad scope", func(c *oauth.Config) { c.Scopes = []string{"a b"} }, "scopes[0]:"},
		{"relative resource", func(c *oauth.Config) { c.Resources = []*url.URL{mustURL("/v1")} }, "resources[0]: must be an absolute URI"},
		{"token lifetime", func(c *oauth.Config) { c.Token.AccessTokenLifetime = time.Second }, "token.access_token_lifetime:"},
		{"refresh lifetime", func(c *oauth.Config) { c.RefreshTokenLifetime = 0 }, "refresh_token_lifetime:"},
		{"code lifetime", func(c *oauth.Config) { c.AuthCodeLifetime = time.Hour }, "auth_code_lifetime:"},
		{"dpop algs", func(c *oauth.Config) { c.DPoP.Algs = []string{"HS256"} }, "dpop.algs:"},
		{"cimd timeout", func(c *oauth.Config) { c.CIMD.Timeout = 0 }, "cimd.timeout:"},
		{"pages session lifetime", func(c *oauth.Config) { c.Pages.SessionLifetime = 0 }, "pages.session_lifetime:"},
		{"client without ID", func(c *oauth.Config) { c.Clients = []oauth.StaticClient{{}} }, "clients[0].client_id:"},
		{"client ID twice", func(c *oauth.Config) {
			c.Clients = []oauth.StaticClient{{ID: "a", TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://a.example/cb"}}, {ID: "a", TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://a.example/cb"}}}
		}, "clients[1].client_id: \"a\" is listed twice"},
		{"client secret missing", func(c *oauth.Config) {
			c.Clients = []oauth.StaticClient{{ID: "a", GrantTypes: []string{"client_credentials"}}}
		}, "clients[0].secret: required for client_secret_basic"},
		{"secret of a public client", func(c *oauth.Config) {
			c.Clients = []oauth.StaticClient{{ID: "a", Secret: secret.Ref{Env: "X"}, TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://a.example/cb"}}}
		}, "clients[0].secret: not used with none"},
		{"client scope not offered", func(c *oauth.Config) {
			c.Clients = []oauth.StaticClient{{ID: "a", Secret: secret.Ref{Env: "X"}, GrantTypes: []string{"client_credentials"}, Scope: "admin"}}
		}, "clients[0]: scope \"admin\" is not offered"},
		{"client redirect", func(c *oauth.Config) {
			c.Clients = []oauth.StaticClient{{ID: "a", TokenEndpointAuthMethod: "none", RedirectURIs: []string{"http://a.example/cb"}}}
		}, "clients[0]: redirect URI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	c := oauth.Default()
	doc := `
issuer: https://broker.example
scopes: [mcp, llm]
default_resource: https://broker.example/mcp
resources: [https://broker.example/v1]
token: {access_token_lifetime: 2m}
refresh_token_lifetime: 24h
dpop: {nonce: required}
dpop_required: true
registration: {enabled: false}
cimd: {enabled: false}
clients:
  - client_id: ci
    secret: {env: CI_SECRET}
    grant_types: [client_credentials]
    scope: mcp
  - client_id: signer
    token_endpoint_auth_method: private_key_jwt
    grant_types: [client_credentials]
    jwks: '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}'
`
	if err := yamlconf.Decode([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Issuer.Host != "broker.example" || len(c.Clients) != 2 || c.Clients[0].Secret.Env != "CI_SECRET" || !c.DPoPRequired || c.Token.AccessTokenLifetime != 2*time.Minute {
		t.Errorf("decoded %+v", c)
	}
}

func TestNewServerChecksDeps(t *testing.T) {
	store, db := testStore(t)
	cfg := validConfig()
	short := oauth.Deps{Store: store, Replay: db.Replay(), Keys: db.SigningKeys(), Secret: []byte("short")}
	if _, err := oauth.NewServer(cfg, short); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Errorf("short secret: %v", err)
	}
	cfg.Clients = []oauth.StaticClient{{ID: "ci", Secret: secret.Ref{Env: "CI"}, GrantTypes: []string{"client_credentials"}}}
	deps := oauth.Deps{Store: store, Replay: db.Replay(), Keys: db.SigningKeys(), Secret: []byte(strings.Repeat("k", 32)),
		Getenv: func(string) string { return "weak" }}
	if _, err := oauth.NewServer(cfg, deps); err == nil || !strings.Contains(err.Error(), "clients[0]: secret: env:CI holds 4 bytes") || strings.Contains(err.Error(), "weak") {
		t.Errorf("weak static secret: %v", err)
	}
}

func TestConcurrentRefresh(t *testing.T) {
	h := newHarness(t, nil)
	v, ch := pkcePair()
	rt := h.codeExchange(t, h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, ""), v, nil).str("refresh_token")
	var ok atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if r := h.refresh(t, rt, nil); r.status == 200 {
				ok.Add(1)
				winner.Store(r.str("refresh_token"))
			} else if r.str("error") != "invalid_grant" {
				t.Errorf("a losing refresh got %d %s, want invalid_grant", r.status, r.raw)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent refreshes with one token succeeded, want 1", ok.Load())
	}
}

func TestConcurrentCodeRedemption(t *testing.T) {
	h := newHarness(t, nil)
	v, ch := pkcePair()
	code := h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, "")
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if r := h.codeExchange(t, code, v, nil); r.status == 200 {
				ok.Add(1)
			} else if r.str("error") != "invalid_grant" {
				t.Errorf("a losing redemption got %d %s, want invalid_grant", r.status, r.raw)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent redemptions of one code succeeded, want 1", ok.Load())
	}
}

// TestNoSecretsInLogsOrAudit plants secrets and tokens in requests that
// fail in various ways and checks that neither the log nor the audit
// trail repeats them.
func TestNoSecretsInLogsOrAudit(t *testing.T) {
	h := newHarness(t, nil)
	p := newProver(t)
	planted := "planted-secret-0123456789abcdefghijklmnop"
	r := h.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc-basic", basicSecret, "DPoP", p.proof(t, h.tokenURL, ""))
	at := r.str("access_token")
	h.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc-basic", planted)
	h.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc-post"}, "client_secret": {planted}}, "", "")
	h.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"szrt_" + planted + "." + planted}}, "webapp", webSecret)
	h.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {planted + "." + planted + "." + planted}}, "", "")
	h.post(t, "/oauth2/introspect", url.Values{"token": {at}}, "svc-basic", planted)
	h.post(t, "/oauth2/revoke", url.Values{"token": {at}}, "svc-basic", basicSecret)
	h.postJSON(t, "/oauth2/register", `{"grant_types":["client_credentials"],"client_secret":"`+planted+`"}`)
	r = h.postJSON(t, "/oauth2/register", `{"grant_types":["client_credentials"]}`)
	issued := r.str("client_secret")

	logMu.Lock()
	logs := h.logs.String()
	logMu.Unlock()
	var audit strings.Builder
	for _, e := range h.audit.events {
		audit.WriteString(e.Reason + e.ClientID + e.Subject + "\n")
	}
	for _, s := range []string{planted, basicSecret, webSecret, at, issued} {
		if strings.Contains(logs, s) || strings.Contains(audit.String(), s) {
			t.Errorf("a secret or token (%.12s…) appears in the log or the audit trail", s)
		}
	}
}

func TestRevocationList(t *testing.T) {
	store, _ := testStore(t)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	l := oauth.NewRevocationList(store, 5*time.Second, clock)
	ctx := t.Context()
	if err := l.Revoke(ctx, "jti-1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := l.Revoke(ctx, "jti-old", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	for jti, want := range map[string]bool{"jti-1": true, "jti-old": false, "other": false} {
		if got, err := l.IsRevoked(ctx, jti); err != nil || got != want {
			t.Errorf("IsRevoked(%s) = %v, %v; want %v", jti, got, err, want)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { l.IsRevoked(ctx, "jti-1") }); allocs != 0 {
		t.Errorf("IsRevoked allocates %v times", allocs)
	}
	other := oauth.NewRevocationList(store, 5*time.Second, clock)
	if err := other.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := other.IsRevoked(ctx, "jti-1"); !ok || other.Len() != 1 {
		t.Errorf("another node's list: revoked %v, %d entries; want true, 1", ok, other.Len())
	}
	now = now.Add(2 * time.Minute) // past exp plus leeway: pruned at the next refresh
	if err := other.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if other.Len() != 0 {
		t.Errorf("%d entries after expiry, want 0", other.Len())
	}
}
