package broker_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// TestOAuthMounted drives the mounted authorization server as an agent
// would from nothing but the node's URL: discovery, dynamic registration,
// client credentials through golang.org/x/oauth2, introspection and
// revocation; and finds each step in the audit trail.
func TestOAuthMounted(t *testing.T) {
	n := startNode(t, nodeOptions{})
	var meta map[string]any
	resp, body := n.get(t, http.MethodGet, "/.well-known/oauth-authorization-server", nil)
	if resp.StatusCode != 200 || json.Unmarshal(body, &meta) != nil {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	if meta["issuer"] != n.base || meta["token_endpoint"] != n.base+"/oauth2/token" || meta["registration_endpoint"] != n.base+"/oauth2/register" {
		t.Fatalf("metadata does not describe this node: %v", meta)
	}
	_, oidc := n.get(t, http.MethodGet, "/.well-known/openid-configuration", nil)
	if !bytes.Equal(oidc, body) {
		t.Error("the two discovery documents differ")
	}
	if resp, jwks := n.get(t, http.MethodGet, "/oauth2/jwks", nil); resp.StatusCode != 200 || !strings.Contains(string(jwks), `"kid"`) {
		t.Fatalf("jwks: %d %s", resp.StatusCode, jwks)
	}

	reg, err := n.client.Post(n.base+"/oauth2/register", "application/json",
		strings.NewReader(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"mcp","client_name":"robot"}`))
	if err != nil {
		t.Fatal(err)
	}
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	regBody, _ := io.ReadAll(reg.Body)
	reg.Body.Close()
	if reg.StatusCode != http.StatusCreated || json.Unmarshal(regBody, &client) != nil || client.Secret == "" {
		t.Fatalf("register: %d %s", reg.StatusCode, regBody)
	}

	cc := clientcredentials.Config{ClientID: client.ID, ClientSecret: client.Secret, TokenURL: meta["token_endpoint"].(string), Scopes: []string{"mcp"}}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("token = %+v", tok)
	}
	wrong := cc
	wrong.ClientSecret = "not-the-secret-not-the-secret-not-the-secret"
	if _, err := wrong.Token(t.Context()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong secret: %v, want invalid_client", err)
	}

	post := func(path string, form url.Values) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, n.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(client.ID), url.QueryEscape(client.Secret))
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, out)
		}
		return out
	}
	if got := post("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}); got["active"] != true || got["client_id"] != client.ID {
		t.Fatalf("introspection of a fresh token: %v", got)
	}
	post("/oauth2/revoke", url.Values{"token": {tok.AccessToken}})
	if got := post("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}); got["active"] != false {
		t.Errorf("introspection after revocation: %v", got)
	}

	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(n.cfg.BoltPath(), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	events, err := audit.Query(t.Context(), db.Audit(), audit.Filter{Type: "oauth"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Action+"/"+string(e.Decision)] = true
		if strings.Contains(string(e.Encode()), client.Secret) || strings.Contains(string(e.Encode()), tok.AccessToken) {
			t.Errorf("a secret or token reached the audit trail: %s", e.Encode())
		}
	}
	for _, want := range []string{"client.registered/allow", "token.issued/allow", "token.denied/deny", "token.revoked/allow"} {
		if !seen[want] {
			t.Errorf("audit trail lacks %s; has %v", want, seen)
		}
	}
}

func TestEnsureDemoUser(t *testing.T) {
	n := startNode(t, nodeOptions{})
	first, err := n.srv.EnsureDemoUser(t.Context())
	if err != nil || len(first) < 16 {
		t.Fatalf("EnsureDemoUser = %q, %v; want a fresh password", first, err)
	}
	if again, err := n.srv.EnsureDemoUser(t.Context()); err != nil || again != "" {
		t.Errorf("second EnsureDemoUser = %q, %v; want no new password", again, err)
	}
}

// Browser-based clients may call the OAuth endpoints and resources
// cross-origin, without credentials; the authorization endpoint, which uses
// cookies, gets no CORS.
func TestCORS(t *testing.T) {
	n := startNode(t, nodeOptions{})
	pre := func(path, method string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, n.base+path, nil)
		req.Header.Set("Origin", "https://inspector.example")
		req.Header.Set("Access-Control-Request-Method", method)
		req.Header.Set("Access-Control-Request-Headers", "authorization, dpop, content-type")
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct{ path, method string }{
		{"/oauth2/token", "POST"}, {"/oauth2/register", "POST"}, {"/.well-known/oauth-authorization-server", "GET"}, {"/oauth2/userinfo", "GET"},
	} {
		resp := pre(tc.path, tc.method)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "DPoP") || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight %s: %d %v", tc.path, resp.StatusCode, resp.Header)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, n.base+"/oauth2/userinfo", nil)
	req.Header.Set("Origin", "https://inspector.example")
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("a cross-origin 401 does not expose its challenge: %v", resp.Header)
	}
	if resp := pre("/oauth2/authorize", "POST"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the authorization endpoint answers CORS: %v", resp.Header)
	}
}
