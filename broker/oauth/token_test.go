package oauth_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/broker/oauth"
)

func TestClientCredentials(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		name, id, secret string
		style            oauth2.AuthStyle
		scopes           []string
		wantScope        string
	}{
		{"basic", "svc-basic", basicSecret, oauth2.AuthStyleInHeader, []string{"mcp:admin"}, "mcp:admin"},
		{"basic default scopes", "svc-basic", basicSecret, oauth2.AuthStyleInHeader, nil, "mcp:tools mcp:admin"},
		{"post", "svc-post", postSecret, oauth2.AuthStyleInParams, []string{"mcp:tools"}, "mcp:tools"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := clientcredentials.Config{ClientID: tc.id, ClientSecret: tc.secret, TokenURL: h.tokenURL, Scopes: tc.scopes, AuthStyle: tc.style}
			tok, err := cc.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Expiry.IsZero() {
				t.Errorf("token type %q, refresh %q, expiry %v; want Bearer, none, set", tok.TokenType, tok.RefreshToken, tok.Expiry)
			}
			c, err := h.srv.Validator().Validate(t.Context(), tok.AccessToken, h.issuer+"/mcp")
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != tc.id || c.ClientID != tc.id || strings.Join(c.Scope, " ") != tc.wantScope || c.JKT != "" {
				t.Errorf("claims sub %q client_id %q scope %q jkt %q; want %s, %s, %q, none", c.Subject, c.ClientID, c.Scope, c.JKT, tc.id, tc.id, tc.wantScope)
			}
		})
	}
	if got := h.audit.find(oauth.ActionTokenIssued); len(got) != 3 || got[0].ClientID != "svc-basic" || got[0].Decision != oauth.DecisionAllow {
		t.Errorf("issued events = %+v", got)
	}
}

func TestClientCredentialsErrors(t *testing.T) {
	h := newHarness(t, nil)
	cc := func(id, secret string, style oauth2.AuthStyle, scopes ...string) error {
		c := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: h.tokenURL, AuthStyle: style, Scopes: scopes}
		_, err := c.Token(t.Context())
		return err
	}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"wrong secret", cc("svc-basic", basicSecret+"x", oauth2.AuthStyleInHeader), 401, "invalid_client"},
		{"unknown client", cc("nobody", basicSecret, oauth2.AuthStyleInHeader), 401, "invalid_client"},
		{"basic client posting its secret", cc("svc-basic", basicSecret, oauth2.AuthStyleInParams), 401, "invalid_client"},
		{"post client using basic", cc("svc-post", postSecret, oauth2.AuthStyleInHeader), 401, "invalid_client"},
		{"scope not registered", cc("svc-post", postSecret, oauth2.AuthStyleInParams, "mcp:admin"), 400, "invalid_scope"},
		{"wildcard scope", cc("svc-post", postSecret, oauth2.AuthStyleInParams, "mcp:*"), 400, "invalid_scope"},
		{"scope prefix", cc("svc-post", postSecret, oauth2.AuthStyleInParams, "mcp"), 400, "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var re *oauth2.RetrieveError
			if !errors.As(tc.err, &re) {
				t.Fatalf("err = %v, want a RetrieveError", tc.err)
			}
			if re.Response.StatusCode != tc.status || re.ErrorCode != tc.code {
				t.Errorf("got %d %s, want %d %s", re.Response.StatusCode, re.ErrorCode, tc.status, tc.code)
			}
		})
	}
	if got := h.audit.find(oauth.ActionTokenDenied); len(got) != 7 || got[0].ClientID != "svc-basic" || !strings.Contains(got[0].Reason, "invalid_client") {
		t.Errorf("denied events = %+v", got)
	}
}

func TestTokenEndpointRequests(t *testing.T) {
	h := newHarness(t, nil)
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"password grant", form("grant_type", "password", "username", "a", "password", "b"), 400, "unsupported_grant_type"},
		{"jwt-bearer grant (not served yet)", form("grant_type", oauth.GrantJWTBearer, "assertion", "x"), 400, "unsupported_grant_type"},
		{"implicit", form("grant_type", "implicit"), 400, "unsupported_grant_type"},
		{"no grant type", form("scope", "mcp:tools"), 400, "invalid_request"},
		{"repeated parameter", form("grant_type", "client_credentials", "scope", "a", "scope", "b"), 400, "invalid_request"},
		{"relative resource", form("grant_type", "client_credentials", "resource", "/mcp"), 400, "invalid_target"},
		{"resource with fragment", form("grant_type", "client_credentials", "resource", "https://x.example/mcp#f"), 400, "invalid_target"},
		{"resource not served", form("grant_type", "client_credentials", "resource", "https://elsewhere.example/mcp"), 400, "invalid_target"},
		{"grant the client lacks", form("grant_type", "refresh_token", "refresh_token", "szrt_a.b"), 400, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.post(t, "/oauth2/token", tc.form, "svc-basic", basicSecret), tc.status, tc.code)
		})
	}
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"malformed refresh token", form("grant_type", "refresh_token", "refresh_token", "garbage")},
		{"refresh token with a huge signature", form("grant_type", "refresh_token", "refresh_token", "szrt_a."+strings.Repeat("b", 600))},
		{"unknown code", form("grant_type", "authorization_code", "code", "szac_a.b", "redirect_uri", "https://app.example/cb", "code_verifier", strings.Repeat("v", 43))},
		{"empty code", form("grant_type", "authorization_code", "code", "", "redirect_uri", "https://app.example/cb")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.post(t, "/oauth2/token", tc.form, "webapp", webSecret), 400, "invalid_grant")
		})
	}

	t.Run("resource becomes aud", func(t *testing.T) {
		r := h.post(t, "/oauth2/token", form("grant_type", "client_credentials", "resource", h.issuer+"/mcp"), "svc-basic", basicSecret)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		if aud := claimsOf(t, r.str("access_token"))["aud"]; aud != h.issuer+"/mcp" {
			t.Errorf("aud = %v", aud)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}
	})

	t.Run("method", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, h.tokenURL+"?grant_type=client_credentials", nil)
		r := h.do(t, req)
		wantError(t, r, 405, "invalid_request")
		if r.header.Get("Allow") != "POST" {
			t.Errorf("Allow = %q", r.header.Get("Allow"))
		}
	})
	t.Run("content type", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.tokenURL, strings.NewReader(`{"grant_type":"client_credentials"}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("svc-basic", basicSecret)
		wantError(t, h.do(t, req), 400, "invalid_request")
	})
	t.Run("body too large", func(t *testing.T) {
		big := form("grant_type", "client_credentials", "pad", strings.Repeat("a", oauth.MaxBodyBytes))
		wantError(t, h.post(t, "/oauth2/token", big, "svc-basic", basicSecret), 413, "invalid_request")
	})
	t.Run("token in the query string is ignored", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.tokenURL+"?grant_type=client_credentials", strings.NewReader("x=1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc-basic", basicSecret)
		wantError(t, h.do(t, req), 400, "invalid_request")
	})
}

func TestRegisterThenClientCredentials(t *testing.T) {
	h := newHarness(t, nil)
	body := `{"client_name":"build bot","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"mcp:tools"}`
	r := h.postJSON(t, "/oauth2/register", body)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	id, sec := r.str("client_id"), r.str("client_secret")
	if id == "" || len(sec) < 43 || r.body["client_secret_expires_at"] != 0.0 || r.body["client_id_issued_at"] == nil {
		t.Fatalf("registration response %s", r.raw)
	}
	if _, ok := r.body["secret_hash"]; ok {
		t.Errorf("response leaks the secret hash: %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	stored, err := h.store.GetClient(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), sec) || !strings.Contains(string(stored), `"secret_hash"`) {
		t.Errorf("stored client %s: want a hash, not the secret", stored)
	}

	cc := clientcredentials.Config{ClientID: id, ClientSecret: sec, TokenURL: h.tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := h.srv.Validator().Validate(t.Context(), tok.AccessToken, h.issuer+"/mcp"); err != nil || c.ClientID != id {
		t.Fatalf("token of the registered client: %v, %+v", err, c)
	}
	cc.ClientSecret = sec[:len(sec)-1]
	if _, err := cc.Token(t.Context()); err == nil {
		t.Error("a wrong secret of a registered client was accepted")
	}
	if got := h.audit.find(oauth.ActionClientRegistered); len(got) != 1 || got[0].ClientID != id {
		t.Errorf("registration events = %+v", got)
	}

	t.Run("public client gets no secret", func(t *testing.T) {
		r := h.postJSON(t, "/oauth2/register", `{"redirect_uris":["http://127.0.0.1:33418/cb"],"token_endpoint_auth_method":"none","dpop_bound_access_tokens":true}`)
		if r.status != http.StatusCreated || r.str("client_secret") != "" || r.body["client_secret_expires_at"] != nil {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		if diff := cmp.Diff([]any{"authorization_code"}, r.body["grant_types"]); diff != "" {
			t.Errorf("grant_types (-want +got):\n%s", diff)
		}
		if r.body["dpop_bound_access_tokens"] != true {
			t.Errorf("dpop_bound_access_tokens lost: %s", r.raw)
		}
	})

	for _, tc := range []struct{ name, body, code string }{
		{"not JSON", `grant_types=client_credentials`, "invalid_client_metadata"},
		{"http redirect", `{"redirect_uris":["http://app.example/cb"]}`, "invalid_redirect_uri"},
		{"fragment redirect", `{"redirect_uris":["https://app.example/cb#x"]}`, "invalid_redirect_uri"},
		{"public client credentials", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, "invalid_client_metadata"},
		{"unknown grant", `{"grant_types":["password"]}`, "invalid_client_metadata"},
		{"unknown auth method", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_jwt"}`, "invalid_client_metadata"},
		{"scope not offered", `{"grant_types":["client_credentials"],"scope":"admin"}`, "invalid_client_metadata"},
		{"client picks its ID", `{"client_id":"mine","grant_types":["client_credentials"]}`, "invalid_client_metadata"},
		{"client picks its secret", `{"client_secret":"0123456789abcdef0123456789abcdef","grant_types":["client_credentials"]}`, "invalid_client_metadata"},
		{"private key in jwks", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}]}}`, "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.postJSON(t, "/oauth2/register", tc.body), 400, tc.code)
		})
	}
	t.Run("form body", func(t *testing.T) {
		r := h.post(t, "/oauth2/register", url.Values{"grant_types": {"client_credentials"}}, "", "")
		wantError(t, r, 400, "invalid_client_metadata")
	})
	t.Run("disabled", func(t *testing.T) {
		h := newHarness(t, func(c *oauth.Config) { c.Registration.Enabled = false })
		wantError(t, h.postJSON(t, "/oauth2/register", body), 404, "invalid_request")
	})
}

// postJSON posts a JSON body.
func (h *harness) postJSON(t testing.TB, path, body string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.issuer+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return h.do(t, req)
}

func TestPrivateKeyJWT(t *testing.T) {
	h := newHarness(t, nil)
	assertionForm := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {a}}
	}
	for _, tc := range []struct {
		name string
		key  int
		aud  any
	}{
		{"ES256, aud issuer", 0, h.issuer},
		{"ES256, aud token URL", 0, h.tokenURL},
		{"EdDSA, aud array with the issuer", 1, []string{"https://other.example", h.issuer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// golang.org/x/oauth2 sends the assertion as extra parameters.
			cc := clientcredentials.Config{
				TokenURL: h.tokenURL, AuthStyle: oauth2.AuthStyleInParams,
				EndpointParams: url.Values{"client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {h.assertion(t, h.jwtKeys[tc.key], tc.aud, nil)}},
			}
			tok, err := cc.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if c := claimsOf(t, tok.AccessToken); c["client_id"] != "svc-jwt" {
				t.Errorf("client_id = %v", c["client_id"])
			}
		})
	}

	t.Run("replayed jti", func(t *testing.T) {
		a := h.assertion(t, h.jwtKeys[0], h.issuer, nil)
		if r := h.post(t, "/oauth2/token", assertionForm(a), "", ""); r.status != 200 {
			t.Fatalf("first use: %d %s", r.status, r.raw)
		}
		wantError(t, h.post(t, "/oauth2/token", assertionForm(a), "", ""), 401, "invalid_client")
		// The same jti in a fresh assertion is a replay too.
		b := h.assertion(t, h.jwtKeys[1], h.issuer, func(c map[string]any) { c["jti"] = claimsOf(t, a)["jti"] })
		wantError(t, h.post(t, "/oauth2/token", assertionForm(b), "", ""), 401, "invalid_client")
	})

	other := newProver(t) // an unregistered key
	for _, tc := range []struct {
		name string
		a    string
		form url.Values
		code string
	}{
		{"aud elsewhere", h.assertion(t, h.jwtKeys[0], "https://elsewhere.example/token", nil), nil, "invalid_client"},
		{"aud issuer with a slash", h.assertion(t, h.jwtKeys[0], h.issuer+"/", nil), nil, "invalid_client"},
		{"expired", h.assertion(t, h.jwtKeys[0], h.issuer, func(c map[string]any) { c["exp"] = c["iat"].(int64) - 120 }), nil, "invalid_client"},
		{"no exp", h.assertion(t, h.jwtKeys[0], h.issuer, func(c map[string]any) { delete(c, "exp") }), nil, "invalid_client"},
		{"exp a day ahead", h.assertion(t, h.jwtKeys[0], h.issuer, func(c map[string]any) { c["exp"] = c["iat"].(int64) + 86400 }), nil, "invalid_client"},
		{"no jti", h.assertion(t, h.jwtKeys[0], h.issuer, func(c map[string]any) { delete(c, "jti") }), nil, "invalid_client"},
		{"iss is not sub", h.assertion(t, h.jwtKeys[0], h.issuer, func(c map[string]any) { c["iss"] = "svc-basic" }), nil, "invalid_client"},
		{"another client's sub", h.assertion(t, h.jwtKeys[0], h.issuer, func(c map[string]any) { c["iss"], c["sub"] = "svc-basic", "svc-basic" }), nil, "invalid_client"},
		{"unregistered key", h.assertion(t, signingKey{"ES256", "k-es256", other.priv}, h.issuer, nil), nil, "invalid_client"},
		{"kid of the other key", h.assertion(t, signingKey{"ES256", "k-ed25519", h.jwtKeys[0].priv}, h.issuer, nil), nil, "invalid_client"},
		{"not a JWS", "a.b", nil, "invalid_client"},
		{"client_id disagrees", h.assertion(t, h.jwtKeys[0], h.issuer, nil), url.Values{"client_id": {"svc-basic"}}, "invalid_client"},
		{"assertion and secret", h.assertion(t, h.jwtKeys[0], h.issuer, nil), url.Values{"client_secret": {"x"}}, "invalid_request"},
		{"unknown assertion type", "", url.Values{"client_assertion_type": {"urn:x"}, "client_assertion": {"a.b.c"}}, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := assertionForm(tc.a)
			for k, v := range tc.form {
				f[k] = v
			}
			wantError(t, h.post(t, "/oauth2/token", f, "", ""), map[string]int{"invalid_client": 401, "invalid_request": 400}[tc.code], tc.code)
		})
	}
}

func TestDPoPClientCredentials(t *testing.T) {
	h := newHarness(t, nil)
	p := newProver(t)
	cc := url.Values{"grant_type": {"client_credentials"}}

	r := h.post(t, "/oauth2/token", cc, "svc-basic", basicSecret, "DPoP", p.proof(t, h.tokenURL, ""))
	if r.status != 200 || r.str("token_type") != "DPoP" {
		t.Fatalf("got %d %s, want a DPoP token", r.status, r.raw)
	}
	tok := r.str("access_token")
	if cnf, _ := claimsOf(t, tok)["cnf"].(map[string]any); cnf["jkt"] != p.jkt {
		t.Errorf("cnf = %v, want jkt %s", cnf, p.jkt)
	}
	c, err := h.srv.Validator().Validate(t.Context(), tok, h.issuer+"/mcp")
	if err != nil || c.JKT != p.jkt {
		t.Fatalf("validate: %v, jkt %q", err, c.JKT)
	}
	if h.audit.find(oauth.ActionTokenIssued)[0].Reason != "client_credentials, DPoP-bound" {
		t.Errorf("audit reason = %q", h.audit.find(oauth.ActionTokenIssued)[0].Reason)
	}

	replayed := p.proof(t, h.tokenURL, "")
	h.post(t, "/oauth2/token", cc, "svc-basic", basicSecret, "DPoP", replayed)
	for _, tc := range []struct {
		name, client, secret string
		headers              []string
		code                 string
	}{
		{"client requires DPoP", "svc-dpop", basicSecret, nil, dpop.CodeInvalidProof},
		{"wrong htu", "svc-basic", basicSecret, []string{"DPoP", p.proof(t, h.issuer+"/oauth2/other", "")}, dpop.CodeInvalidProof},
		{"replayed proof", "svc-basic", basicSecret, []string{"DPoP", replayed}, dpop.CodeInvalidProof},
		{"two proofs", "svc-basic", basicSecret, []string{"DPoP", p.proof(t, h.tokenURL, ""), "DPoP", p.proof(t, h.tokenURL, "")}, dpop.CodeInvalidProof},
		{"garbage proof", "svc-basic", basicSecret, []string{"DPoP", "e30.e30.e30"}, dpop.CodeInvalidProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.post(t, "/oauth2/token", cc, tc.client, tc.secret, tc.headers...), 400, tc.code)
		})
	}
	t.Run("required client with a proof", func(t *testing.T) {
		r := h.post(t, "/oauth2/token", cc, "svc-dpop", basicSecret, "DPoP", p.proof(t, h.tokenURL, ""))
		if r.status != 200 || r.str("token_type") != "DPoP" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
	t.Run("server requires DPoP", func(t *testing.T) {
		h := newHarness(t, func(c *oauth.Config) { c.DPoPRequired = true })
		wantError(t, h.post(t, "/oauth2/token", cc, "svc-basic", basicSecret), 400, dpop.CodeInvalidProof)
	})
}

func TestDPoPNonce(t *testing.T) {
	h := newHarness(t, func(c *oauth.Config) { c.DPoP.Nonce = dpop.NonceRequired })
	p := newProver(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	r := h.post(t, "/oauth2/token", cc, "svc-basic", basicSecret, "DPoP", p.proof(t, h.tokenURL, ""))
	wantError(t, r, 400, dpop.CodeUseNonce)
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no DPoP-Nonce header")
	}
	if len(h.audit.find(oauth.ActionTokenDenied)) != 0 {
		t.Error("a nonce challenge was audited as a denial")
	}
	r = h.post(t, "/oauth2/token", cc, "svc-basic", basicSecret, "DPoP", p.proof(t, h.tokenURL, nonce))
	if r.status != 200 || r.str("token_type") != "DPoP" || r.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("retry with the nonce: %d %s (DPoP-Nonce %q)", r.status, r.raw, r.header.Get("DPoP-Nonce"))
	}
	wantError(t, h.post(t, "/oauth2/token", cc, "svc-basic", basicSecret, "DPoP", p.proof(t, h.tokenURL, "bm9wZQ")), 400, dpop.CodeUseNonce)
}

// codeExchange redeems a code for client agent (public), with a DPoP
// proof when p is not nil.
func (h *harness) codeExchange(t testing.TB, code, verifier string, p *prover, extra ...string) *response {
	t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "client_id": {"agent"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "code_verifier": {verifier}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Add(extra[i], extra[i+1])
	}
	var hdr []string
	if p != nil {
		hdr = []string{"DPoP", p.proof(t, h.tokenURL, "")}
	}
	return h.post(t, "/oauth2/token", f, "", "", hdr...)
}

// refresh uses a refresh token of client agent.
func (h *harness) refresh(t testing.TB, rt string, p *prover) *response {
	t.Helper()
	var hdr []string
	if p != nil {
		hdr = []string{"DPoP", p.proof(t, h.tokenURL, "")}
	}
	return h.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"agent"}, "refresh_token": {rt}}, "", "", hdr...)
}

func TestAuthorizationCodeFlow(t *testing.T) {
	h := newHarness(t, nil)
	verifier, challenge := pkcePair()
	code := h.authorize(t, "agent", "http://127.0.0.1:9/cb", challenge, nil, "")

	// golang.org/x/oauth2 redeems the code as a public client with PKCE.
	conf := oauth2.Config{ClientID: "agent", RedirectURL: "http://127.0.0.1:9/cb", Endpoint: oauth2.Endpoint{TokenURL: h.tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.RefreshToken, "szrt_") || tok.TokenType != "Bearer" {
		t.Fatalf("token %+v: want a Bearer token and a refresh token", tok)
	}
	c, err := h.srv.Validator().Validate(t.Context(), tok.AccessToken, h.issuer+"/mcp")
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "user-1" || c.ClientID != "agent" || !c.HasScope("mcp:tools") {
		t.Errorf("claims %+v", c)
	}

	t.Run("code reuse revokes what it issued", func(t *testing.T) {
		_, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("reused code: %v, want invalid_grant", err)
		}
		if _, err := h.srv.Validator().Validate(t.Context(), tok.AccessToken, h.issuer+"/mcp"); err == nil {
			t.Error("the access token of a reused code is still valid")
		}
		wantError(t, h.refresh(t, tok.RefreshToken, nil), 400, "invalid_grant")
	})

	for _, tc := range []struct {
		name   string
		mutate func(url.Values)
		code   string
	}{
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"missing PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"redirect off by one character", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9/cb/") }, "invalid_request"},
		{"scope not registered", func(q url.Values) { q.Set("scope", "mcp:admin") }, "invalid_scope"},
	} {
		t.Run("authorize: "+tc.name, func(t *testing.T) {
			q := url.Values{"response_type": {"code"}, "client_id": {"agent"}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "scope": {"mcp:tools"}, "state": {"state-0123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
			tc.mutate(q)
			_, err := h.authorizeQuery(t, q, &oauth.Session{Subject: "user-1"})
			var rfc interface{ StatusCode() int }
			if err == nil || !errors.As(err, &rfc) || !strings.Contains(errorCode(err), tc.code) {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}

	t.Run("wrong verifier", func(t *testing.T) {
		_, ch := pkcePair()
		code := h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, "")
		wantError(t, h.codeExchange(t, code, verifier, nil), 400, "invalid_grant")
	})
	t.Run("no verifier", func(t *testing.T) {
		v, ch := pkcePair()
		_ = v
		code := h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, "")
		wantError(t, h.codeExchange(t, code, "", nil), 400, "invalid_grant")
	})
	t.Run("resource within the authorization", func(t *testing.T) {
		v, ch := pkcePair()
		other := "http://127.0.0.1:1/v1"
		h := newHarness(t, func(c *oauth.Config) {
			u, _ := url.Parse(other)
			c.Resources = append(c.Resources, u)
		})
		code := h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, []string{h.issuer + "/mcp", other}, "")
		r := h.codeExchange(t, code, v, nil, "resource", other)
		if r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.raw)
		}
		if aud := claimsOf(t, r.str("access_token"))["aud"]; aud != other {
			t.Errorf("aud = %v, want %s", aud, other)
		}
		// The refresh token keeps both resources.
		r = h.refresh(t, r.str("refresh_token"), nil)
		if diff := cmp.Diff([]any{h.issuer + "/mcp", other}, claimsOf(t, r.str("access_token"))["aud"]); diff != "" {
			t.Errorf("aud after refresh (-want +got):\n%s", diff)
		}
		code = h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, []string{h.issuer + "/mcp"}, "")
		wantError(t, h.codeExchange(t, code, v, nil, "resource", other), 400, "invalid_target")
	})
}

// errorCode returns the OAuth error code of a fosite error.
func errorCode(err error) string {
	var e interface{ Error() string }
	if errors.As(err, &e) {
		return e.Error()
	}
	return ""
}

func TestRefreshRotationAndReuse(t *testing.T) {
	h := newHarness(t, nil)
	v, ch := pkcePair()
	r := h.codeExchange(t, h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, ""), v, nil)
	at1, rt1 := r.str("access_token"), r.str("refresh_token")

	r = h.refresh(t, rt1, nil)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	at2, rt2 := r.str("access_token"), r.str("refresh_token")
	if rt2 == "" || rt2 == rt1 || at2 == at1 {
		t.Fatal("refresh did not rotate the refresh token")
	}
	if claimsOf(t, at2)["sub"] != "user-1" {
		t.Errorf("refreshed token lost its subject")
	}
	valid := func(tok string) bool {
		_, err := h.srv.Validator().Validate(t.Context(), tok, h.issuer+"/mcp")
		return err == nil
	}
	if valid(at1) || !valid(at2) {
		t.Errorf("after rotation: old access token valid %v, new %v; want false, true", valid(at1), valid(at2))
	}
	if got := h.audit.find(oauth.ActionTokenRefreshed); len(got) != 1 || got[0].Subject != "user-1" {
		t.Errorf("refresh events %+v", got)
	}

	// Reusing the first refresh token revokes the family: the current
	// refresh token and access token too.
	wantError(t, h.refresh(t, rt1, nil), 400, "invalid_grant")
	if valid(at2) {
		t.Error("reuse left the family's access token valid")
	}
	wantError(t, h.refresh(t, rt2, nil), 400, "invalid_grant")
	if got := h.audit.find(oauth.ActionTokenRevoked); len(got) == 0 || !strings.Contains(got[0].Reason, "reuse") {
		t.Errorf("revocation events %+v", got)
	}

	t.Run("another client's refresh token", func(t *testing.T) {
		v, ch := pkcePair()
		r := h.codeExchange(t, h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, ""), v, nil)
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}}
		wantError(t, h.post(t, "/oauth2/token", f, "webapp", webSecret), 400, "invalid_grant")
		// Unharmed: the owner can still use it.
		if r := h.refresh(t, r.str("refresh_token"), nil); r.status != 200 {
			t.Errorf("owner's refresh: %d %s", r.status, r.raw)
		}
	})
}

func TestDPoPBoundRefresh(t *testing.T) {
	h := newHarness(t, nil)
	a, b := newProver(t), newProver(t)
	v, ch := pkcePair()
	r := h.codeExchange(t, h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, ""), v, a)
	if r.status != 200 || r.str("token_type") != "DPoP" {
		t.Fatalf("code exchange: %d %s", r.status, r.raw)
	}
	rt := r.str("refresh_token")
	wantError(t, h.refresh(t, rt, nil), 400, dpop.CodeInvalidProof)
	wantError(t, h.refresh(t, rt, b), 400, "invalid_grant")
	r = h.refresh(t, rt, a) // the refused attempts did not use it up
	if r.status != 200 || r.str("token_type") != "DPoP" {
		t.Fatalf("refresh with the bound key: %d %s", r.status, r.raw)
	}
	if cnf, _ := claimsOf(t, r.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != a.jkt {
		t.Errorf("cnf = %v", cnf)
	}

	t.Run("code bound by dpop_jkt", func(t *testing.T) {
		v, ch := pkcePair()
		code := h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, a.jkt)
		wantError(t, h.codeExchange(t, code, v, nil), 400, dpop.CodeInvalidProof)
		code = h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, a.jkt)
		wantError(t, h.codeExchange(t, code, v, b), 400, dpop.CodeInvalidProof)
		// A refused attempt uses the code up (fosite spends its PKCE
		// session first), so only a fresh code shows the bound key works.
		wantError(t, h.codeExchange(t, code, v, a), 400, "invalid_grant")
		code = h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, a.jkt)
		if r := h.codeExchange(t, code, v, a); r.status != 200 || claimsOf(t, r.str("access_token"))["cnf"] == nil {
			t.Fatalf("exchange with the bound key: %d %s", r.status, r.raw)
		}
	})
}

func TestIntrospectionAndRevocation(t *testing.T) {
	h := newHarness(t, nil)
	p := newProver(t)
	r := h.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc-basic", basicSecret, "DPoP", p.proof(t, h.tokenURL, ""))
	at := r.str("access_token")
	introspect := func(tok string, user, pass string, extra ...string) *response {
		f := url.Values{"token": {tok}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return h.post(t, "/oauth2/introspect", f, user, pass)
	}

	r = introspect(at, "svc-post", "") // wrong method for svc-post
	wantError(t, r, 401, "invalid_client")
	r = h.post(t, "/oauth2/introspect", url.Values{"token": {at}, "client_id": {"svc-post"}, "client_secret": {postSecret}}, "", "")
	if r.status != 200 || r.body["active"] != true {
		t.Fatalf("introspect: %d %s", r.status, r.raw)
	}
	want := map[string]any{
		"active": true, "client_id": "svc-basic", "sub": "svc-basic", "scope": "mcp:tools mcp:admin",
		"aud": h.issuer + "/mcp", "iss": h.issuer, "token_type": "DPoP", "cnf": map[string]any{"jkt": p.jkt},
	}
	got := map[string]any{}
	for k := range want {
		got[k] = r.body[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("introspection (-want +got):\n%s", diff)
	}
	for _, k := range []string{"exp", "iat", "jti"} {
		if r.body[k] == nil {
			t.Errorf("introspection lacks %s", k)
		}
	}
	if r := introspect("not-a-token", "svc-basic", basicSecret); r.status != 200 || r.body["active"] != false || len(r.body) != 1 {
		t.Errorf("garbage token: %d %s", r.status, r.raw)
	}
	wantError(t, introspect(at, "svc-basic", "wrong"), 401, "invalid_client")
	wantError(t, introspect("", "svc-basic", basicSecret), 400, "invalid_request")

	// Another client cannot revoke it.
	if r := h.post(t, "/oauth2/revoke", url.Values{"token": {at}}, "webapp", webSecret); r.status != 200 {
		t.Fatalf("revoke by another client: %d %s", r.status, r.raw)
	}
	if r := introspect(at, "svc-basic", basicSecret); r.body["active"] != true {
		t.Fatal("another client revoked the token")
	}
	if r := h.post(t, "/oauth2/revoke", url.Values{"token": {at}, "token_type_hint": {"access_token"}}, "svc-basic", basicSecret); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if r := introspect(at, "svc-basic", basicSecret); r.status != 200 || r.body["active"] != false {
		t.Errorf("revoked token introspects as %s", r.raw)
	}
	if _, err := h.srv.Validator().Validate(t.Context(), at, h.issuer+"/mcp"); err == nil {
		t.Error("a revoked token still validates")
	}
	if got := h.audit.find(oauth.ActionTokenRevoked); len(got) != 2 || got[0].Decision != oauth.DecisionDeny || got[1].Decision != oauth.DecisionAllow || got[1].ClientID != "svc-basic" {
		t.Errorf("revocation events %+v", got)
	}
	if r := h.post(t, "/oauth2/revoke", url.Values{"token": {"whatever"}}, "svc-basic", basicSecret); r.status != 200 {
		t.Errorf("revoking an unknown token: %d, want 200", r.status)
	}

	t.Run("revocation reaches another node", func(t *testing.T) {
		l := oauth.NewRevocationList(h.store, 0, nil)
		if err := l.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		if ok, _ := l.IsRevoked(t.Context(), claimsOf(t, at)["jti"].(string)); !ok {
			t.Error("a fresh list does not load the revocation")
		}
	})
	t.Run("public clients may not introspect", func(t *testing.T) {
		wantError(t, h.post(t, "/oauth2/introspect", url.Values{"token": {at}, "client_id": {"agent"}}, "", ""), 401, "invalid_client")
	})
}

func TestRevokeRefreshToken(t *testing.T) {
	h := newHarness(t, nil)
	v, ch := pkcePair()
	r := h.codeExchange(t, h.authorize(t, "agent", "http://127.0.0.1:9/cb", ch, nil, ""), v, nil)
	at, rt := r.str("access_token"), r.str("refresh_token")

	if r := h.post(t, "/oauth2/revoke", url.Values{"token": {rt}}, "webapp", webSecret); r.status != 200 {
		t.Fatalf("revoke by another client: %d", r.status)
	}
	ir := h.post(t, "/oauth2/introspect", url.Values{"token": {rt}}, "webapp", webSecret)
	if ir.body["active"] != false {
		t.Errorf("another client introspected a refresh token: %s", ir.raw)
	}
	if r := h.post(t, "/oauth2/revoke", url.Values{"token": {rt}, "client_id": {"agent"}}, "", ""); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	wantError(t, h.refresh(t, rt, nil), 400, "invalid_grant")
	if _, err := h.srv.Validator().Validate(t.Context(), at, h.issuer+"/mcp"); err == nil {
		t.Error("revoking the refresh token left its access token valid")
	}
}

func TestMetadata(t *testing.T) {
	h := newHarness(t, func(c *oauth.Config) { c.CIMD.Enabled = true })
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		req, _ := http.NewRequest(http.MethodGet, h.issuer+path, nil)
		r := h.do(t, req)
		if r.status != 200 || !strings.Contains(r.header.Get("Cache-Control"), "max-age=300") {
			t.Fatalf("%s: %d %v", path, r.status, r.header)
		}
		want := map[string]any{
			"issuer":                   h.issuer,
			"token_endpoint":           h.tokenURL,
			"jwks_uri":                 h.issuer + "/oauth2/jwks",
			"registration_endpoint":    h.issuer + "/oauth2/register",
			"introspection_endpoint":   h.issuer + "/oauth2/introspect",
			"revocation_endpoint":      h.issuer + "/oauth2/revoke",
			"scopes_supported":         []any{"mcp:tools", "mcp:admin"},
			"authorization_endpoint":   h.issuer + "/oauth2/authorize",
			"response_types_supported": []any{"code"},
			"grant_types_supported":    []any{"authorization_code", "refresh_token", "client_credentials"},
			"authorization_response_iss_parameter_supported":   true,
			"token_endpoint_auth_methods_supported":            []any{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
			"token_endpoint_auth_signing_alg_values_supported": []any{"ES256", "EdDSA", "RS256"},
			"introspection_endpoint_auth_methods_supported":    []any{"client_secret_basic", "client_secret_post", "private_key_jwt"},
			"revocation_endpoint_auth_methods_supported":       []any{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
			"code_challenge_methods_supported":                 []any{"S256"},
			"dpop_signing_alg_values_supported":                []any{"ES256", "ES384", "EdDSA", "RS256", "PS256"},
			"client_id_metadata_document_supported":            true,
		}
		if diff := cmp.Diff(want, r.body); diff != "" {
			t.Errorf("%s (-want +got):\n%s", path, diff)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, h.issuer+"/.well-known/oauth-protected-resource/mcp", nil)
	r := h.do(t, req)
	want := map[string]any{
		"resource": h.issuer + "/mcp", "authorization_servers": []any{h.issuer}, "bearer_methods_supported": []any{"header"},
		"dpop_signing_alg_values_supported": []any{"ES256", "ES384", "EdDSA", "RS256", "PS256"}, "scopes_supported": []any{"mcp:tools"},
	}
	if diff := cmp.Diff(want, r.body); diff != "" {
		t.Errorf("protected resource metadata (-want +got):\n%s", diff)
	}

	req, _ = http.NewRequest(http.MethodPost, h.issuer+"/.well-known/oauth-authorization-server", nil)
	if r := h.do(t, req); r.status != 405 {
		t.Errorf("POST to metadata: %d", r.status)
	}

	t.Run("without an authorization endpoint", func(t *testing.T) {
		h := startHarness(t, nil, false)
		m := h.srv.Metadata()
		if m.AuthorizationEndpoint != "" || m.ResponseTypesSupported != nil || m.AuthorizationResponseISSParameterSupported ||
			!slices.Equal(m.GrantTypesSupported, []string{"client_credentials"}) {
			t.Errorf("a server without users advertises the code flow: %+v", m)
		}
		defer func() {
			if recover() == nil {
				t.Error("AuthorizeHandler of a server without users did not panic")
			}
		}()
		h.srv.AuthorizeHandler()
	})
}

func TestJWKS(t *testing.T) {
	h := newHarness(t, nil)
	req, _ := http.NewRequest(http.MethodGet, h.issuer+"/oauth2/jwks", nil)
	r := h.do(t, req)
	if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	keys, _ := r.body["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("jwks %s", r.raw)
	}
	k := keys[0].(map[string]any)
	if k["kid"] != h.srv.Keys().Current().ID || k["d"] != nil || k["use"] != "sig" {
		t.Errorf("key %v", k)
	}
	tok := h.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc-basic", basicSecret).str("access_token")
	if hdr := strings.Split(tok, ".")[0]; !slices.Contains([]string{"ES256"}, claimsOfHeader(t, hdr)["alg"].(string)) || claimsOfHeader(t, hdr)["typ"] != "at+jwt" {
		t.Errorf("token header %v", claimsOfHeader(t, hdr))
	}
}

func claimsOfHeader(t testing.TB, h string) map[string]any {
	return claimsOf(t, "x."+h+".x")
}
