package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRegister sends arbitrary registration bodies: the handler never
// panics or fails with a 5xx, and what it accepts it answers with a
// client ID.
func FuzzRegister(f *testing.F) {
	for _, seed := range []string{
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"mcp:tools"}`,
		`{"redirect_uris":["http://127.0.0.1:8080/cb"],"token_endpoint_auth_method":"none","dpop_bound_access_tokens":true}`,
		`{"redirect_uris":["https://app.example/cb"],"grant_types":["authorization_code","refresh_token"],"client_name":"x","logo_uri":"https://app.example/l.png"}`,
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}`,
		`{"redirect_uris":["https://app.example/cb#f"]}`,
		`{"jwks_uri":"https://app.example/jwks"}`,
		`{"grant_types":[1,2]}`,
		`[]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add(seed)
	}
	h := newHarness(f, nil)
	handler := h.srv.RegisterHandler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, h.issuer+"/oauth2/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated:
			var out struct {
				ClientID string `json:"client_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.ClientID == "" {
				t.Fatalf("201 without a client_id: %s", rec.Body)
			}
		case http.StatusBadRequest:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzClientAssertion sends arbitrary client assertions to the token
// endpoint: it never panics or fails with a 5xx, and accepts none it did
// not sign.
func FuzzClientAssertion(f *testing.F) {
	h := newHarness(f, nil)
	valid := h.assertion(f, h.jwtKeys[0], h.issuer, nil)
	valid2 := h.assertion(f, h.jwtKeys[1], []string{h.tokenURL}, nil)
	genuine := map[string]bool{valid: true, valid2: true}
	parts := strings.Split(valid, ".")
	for _, seed := range []struct{ assertion, clientID string }{
		{valid, ""},
		{valid, "svc-jwt"},
		{valid2, ""},
		{parts[0] + "." + parts[1] + ".", ""},
		{parts[0] + ".." + parts[2], ""},
		{"eyJhbGciOiJub25lIn0.eyJpc3MiOiJzdmMtand0Iiwic3ViIjoic3ZjLWp3dCJ9.", ""},
		{`{"payload":"e30","signatures":[]}`, ""},
		{"a.b.c.d.e", "svc-jwt"},
		{"", "svc-basic"},
	} {
		f.Add(seed.assertion, seed.clientID)
	}
	handler := h.srv.TokenHandler()
	f.Fuzz(func(t *testing.T, assertion, clientID string) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
		if clientID != "" {
			form.Set("client_id", clientID)
		}
		req := httptest.NewRequest(http.MethodPost, h.tokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		case rec.Code == http.StatusOK && !genuine[assertion]:
			t.Fatalf("accepted an assertion that was never signed: %q", assertion)
		}
	})
}
