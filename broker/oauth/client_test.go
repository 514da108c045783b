package oauth

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMetadata(t *testing.T) {
	scopes := []string{"mcp:tools", "mcp:read"}
	for _, tc := range []struct {
		name, body string
		code       string // "" for valid
		check      func(*testing.T, *Client)
	}{
		{"public MCP client", `{"redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none","client_name":"Agent","grant_types":["authorization_code","refresh_token"]}`, "",
			func(t *testing.T, c *Client) {
				if !c.Public() || c.ApplicationType != "web" || len(c.ResponseTypes) != 1 || c.ResponseTypes[0] != "code" {
					t.Errorf("defaults not filled: %+v", c)
				}
			}},
		{"defaults", `{"redirect_uris":["https://app.example/cb"]}`, "",
			func(t *testing.T, c *Client) {
				if c.TokenEndpointAuthMethod != AuthClientSecretBasic || !c.HasGrant(GrantAuthorizationCode) {
					t.Errorf("RFC 7591 defaults not applied: %+v", c)
				}
			}},
		{"machine client", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","scope":"mcp:tools"}`, "", nil},
		{"private_key_jwt", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`, "", nil},
		{"ipv6 loopback", `{"redirect_uris":["http://[::1]:8080/cb"],"token_endpoint_auth_method":"none"}`, "", nil},
		{"localhost", `{"redirect_uris":["http://localhost:8080/cb"],"token_endpoint_auth_method":"none","application_type":"native"}`, "", nil},

		{"not json", `redirect_uris=x`, "invalid_client_metadata", nil},
		{"http off loopback", `{"redirect_uris":["http://app.example/cb"]}`, "invalid_redirect_uri", nil},
		{"fragment", `{"redirect_uris":["https://app.example/cb#x"]}`, "invalid_redirect_uri", nil},
		{"relative", `{"redirect_uris":["/cb"]}`, "invalid_redirect_uri", nil},
		{"custom scheme", `{"redirect_uris":["com.example.app:/cb"]}`, "invalid_redirect_uri", nil},
		{"javascript", `{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri", nil},
		{"user info", `{"redirect_uris":["https://user:pw@app.example/cb"]}`, "invalid_redirect_uri", nil},
		{"code without redirect", `{"grant_types":["authorization_code"]}`, "invalid_redirect_uri", nil},
		{"unknown grant", `{"redirect_uris":["https://a.example/cb"],"grant_types":["authorization_code","implicit"]}`, "invalid_client_metadata", nil},
		{"password grant", `{"grant_types":["password"]}`, "invalid_client_metadata", nil},
		{"token response type", `{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, "invalid_client_metadata", nil},
		{"unknown auth method", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"tls_client_auth"}`, "invalid_client_metadata", nil},
		{"public machine client", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, "invalid_client_metadata", nil},
		{"private_key_jwt without keys", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata", nil},
		{"private key in jwks", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}]}}`, "invalid_client_metadata", nil},
		{"jwks_uri", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/jwks"}`, "invalid_client_metadata", nil},
		{"bad application type", `{"redirect_uris":["https://a.example/cb"],"application_type":"service"}`, "invalid_client_metadata", nil},
		{"scope not offered", `{"grant_types":["client_credentials"],"scope":"admin"}`, "invalid_client_metadata", nil},
		{"http client_uri", `{"redirect_uris":["https://a.example/cb"],"client_uri":"http://a.example"}`, "invalid_client_metadata", nil},
		{"too big", `{"client_name":"` + strings.Repeat("x", MaxMetadataBytes) + `"}`, "invalid_client_metadata", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseMetadata([]byte(tc.body), scopes)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("ParseMetadata: %v", err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			var me *MetadataError
			if !errors.As(err, &me) || me.Code != tc.code {
				t.Fatalf("ParseMetadata error = %v, want %s", err, tc.code)
			}
		})
	}
}

func TestSecretHasher(t *testing.T) {
	if _, err := NewSecretHasher(make([]byte, 16)); err == nil {
		t.Fatal("accepted a 16-byte key")
	}
	h, err := NewSecretHasher([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	secret, hash := h.NewSecret()
	if len(secret) != 43 || !h.Check(secret, hash) {
		t.Fatalf("secret %q does not check against its hash", secret)
	}
	if h.Check(secret+"x", hash) || h.Check(secret, hash[:16]) {
		t.Error("a wrong secret or a short hash checked")
	}
	other, _ := NewSecretHasher([]byte(strings.Repeat("o", 32)))
	if other.Check(secret, hash) {
		t.Error("a hash checked under another key")
	}
	if s2, _ := h.NewSecret(); s2 == secret {
		t.Error("two secrets are equal")
	}
}

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none"}`))
	f.Add([]byte(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}`))
	f.Add([]byte(`{"redirect_uris":["https://a.example/cb#frag"],"scope":"mcp:tools mcp:read"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseMetadata(body, []string{"mcp:tools", "mcp:read"})
		if err != nil {
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// What is accepted holds the invariants later code relies on.
		for _, r := range c.RedirectURIs {
			if checkRedirectURI(r) != nil {
				t.Fatalf("accepted redirect URI %q", r)
			}
		}
		if c.Public() && c.HasGrant(GrantClientCredentials) {
			t.Fatal("accepted a public client_credentials client")
		}
	})
}
