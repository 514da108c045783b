package token_test

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/subzero-gateway/subzero/broker/token"
)

const cryptoSHA256 = crypto.SHA256

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// kidOf returns the kid of a token's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Signatures()[0].ProtectedHeaders().KeyID()
}

// payload decodes a token's claims as generic JSON.
func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMintJWX has an independent implementation, jwx, verify and parse
// the tokens Mint makes, for each algorithm.
func TestMintJWX(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, nil, func(c *token.Config) { c.Alg = alg })
			in := claims()
			in.Audience = []string{resource, "https://other.example"}
			in.JKT = jkt
			in.NotBefore = t0
			in.Act = &token.Actor{Sub: "agent-2", ClientID: "agent-client", Act: &token.Actor{Sub: "agent-1"}}
			in.Extra = map[string]json.RawMessage{"roles": json.RawMessage(`["admin"]`)}
			tok := f.mint(t, in)

			set, err := jwk.Parse(f.keys.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set)); err != nil {
				t.Fatalf("jws.Verify: %v", err)
			}
			msg, err := jws.Parse([]byte(tok))
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Signatures()[0].ProtectedHeaders()
			if h.Type() != "at+jwt" || h.Algorithm() != jwa.SignatureAlgorithm(alg) || h.KeyID() != f.keys.Current().ID {
				t.Errorf("header typ %q alg %q kid %q; want at+jwt %s %s", h.Type(), h.Algorithm(), h.KeyID(), alg, f.keys.Current().ID)
			}

			jt, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithValidate(true),
				jwt.WithClock(jwt.ClockFunc(f.clock.now)), jwt.WithIssuer(issuer), jwt.WithAudience(resource),
				jwt.WithRequiredClaim("client_id"), jwt.WithRequiredClaim("jti"), jwt.WithRequiredClaim("iat"))
			if err != nil {
				t.Fatalf("jwt.Parse: %v", err)
			}
			if jt.Subject() != "user-1" || !jt.IssuedAt().Equal(t0) || !jt.Expiration().Equal(t0.Add(5*time.Minute)) ||
				!jt.NotBefore().Equal(t0) || len(jt.JwtID()) != 22 {
				t.Errorf("jwx claims: sub %q iat %s exp %s nbf %s jti %q", jt.Subject(), jt.IssuedAt(), jt.Expiration(), jt.NotBefore(), jt.JwtID())
			}
			if diff := cmp.Diff([]string{resource, "https://other.example"}, jt.Audience()); diff != "" {
				t.Errorf("aud (-want +got):\n%s", diff)
			}
			want := map[string]any{
				"client_id": "client-1",
				"scope":     "tools:read tools:call",
				"cnf":       map[string]any{"jkt": jkt},
				"act":       map[string]any{"sub": "agent-2", "client_id": "agent-client", "act": map[string]any{"sub": "agent-1"}},
				"roles":     []any{"admin"},
			}
			if diff := cmp.Diff(want, jt.PrivateClaims()); diff != "" {
				t.Errorf("private claims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMintAudienceForm(t *testing.T) {
	f := newFixture(t, nil, nil)
	if aud := payload(t, f.mint(t, claims()))["aud"]; aud != resource {
		t.Errorf("one audience encodes as %#v, want the string", aud)
	}
	c := claims()
	c.Audience = []string{resource, "b"}
	if aud := payload(t, f.mint(t, c))["aud"]; !cmp.Equal(aud, []any{resource, "b"}) {
		t.Errorf("two audiences encode as %#v, want an array", aud)
	}
	c = claims()
	c.Scope = nil
	if _, ok := payload(t, f.mint(t, c))["scope"]; ok {
		t.Error("no scope encodes a scope claim")
	}
	c.JTI = "my-jti"
	if got := payload(t, f.mint(t, c))["jti"]; got != "my-jti" {
		t.Errorf("jti = %v, want the caller's", got)
	}
}

func TestMintExpiry(t *testing.T) {
	f := newFixture(t, nil, nil)
	c := claims()
	c.Expiry = t0.Add(time.Minute + 500*time.Millisecond)
	got, err := f.val.Validate(t.Context(), f.mint(t, c), resource)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expiry.Equal(t0.Add(time.Minute)) {
		t.Errorf("exp = %s, want the caller's, in whole seconds", got.Expiry)
	}
}

func TestMintRejects(t *testing.T) {
	f := newFixture(t, nil, nil)
	deep := &token.Actor{Sub: "a"}
	for range token.MaxActorDepth {
		deep = &token.Actor{Sub: "a", Act: deep}
	}
	for _, tc := range []struct {
		name string
		edit func(c *token.Claims)
		want string
	}{
		{"no sub", func(c *token.Claims) { c.Subject = "" }, "token: mint: sub is empty"},
		{"no client_id", func(c *token.Claims) { c.ClientID = "" }, "token: mint: client_id is empty"},
		{"no aud", func(c *token.Claims) { c.Audience = nil }, "token: mint: aud is empty"},
		{"empty aud", func(c *token.Claims) { c.Audience = []string{resource, ""} }, "token: mint: aud contains an empty audience"},
		{"scope with space", func(c *token.Claims) { c.Scope = []string{"a b"} }, "token: mint: scope contains an invalid scope token"},
		{"scope with quote", func(c *token.Claims) { c.Scope = []string{`a"`} }, "token: mint: scope contains an invalid scope token"},
		{"empty scope", func(c *token.Claims) { c.Scope = []string{""} }, "token: mint: scope contains an invalid scope token"},
		{"long jti", func(c *token.Claims) { c.JTI = strings.Repeat("j", 257) }, "token: mint: jti is longer than 256 bytes"},
		{"bad jkt", func(c *token.Claims) { c.JKT = "abc" }, "token: mint: cnf.jkt is not a base64url SHA-256 thumbprint"},
		{"act without sub", func(c *token.Claims) { c.Act = &token.Actor{ClientID: "c"} }, "token: mint: act has an actor without sub"},
		{"act too deep", func(c *token.Claims) { c.Act = deep }, "token: mint: act is nested deeper than 16"},
		{"extra registered", func(c *token.Claims) { c.Extra = map[string]json.RawMessage{"exp": json.RawMessage("1")} }, `token: mint: extra claim "exp" has a field of its own`},
		{"extra empty name", func(c *token.Claims) { c.Extra = map[string]json.RawMessage{"": json.RawMessage("1")} }, "token: mint: extra claim with an empty name"},
		{"extra invalid", func(c *token.Claims) { c.Extra = map[string]json.RawMessage{"x": json.RawMessage("{")} }, `token: mint: extra claim "x" is not valid JSON`},
		{"other issuer", func(c *token.Claims) { c.Issuer = "https://evil.example" }, "token: mint: iss is not this issuer"},
		{"exp beyond lifetime", func(c *token.Claims) { c.Expiry = t0.Add(5*time.Minute + time.Second) }, "token: mint: exp is beyond the access token lifetime"},
		{"exp past", func(c *token.Claims) { c.Expiry = t0.Add(-time.Second) }, "token: mint: exp is not after iat"},
		{"exp within the second", func(c *token.Claims) { c.Expiry = t0.Add(500 * time.Millisecond) }, "token: mint: exp is not after iat"},
		{"nbf after exp", func(c *token.Claims) { c.NotBefore = t0.Add(time.Hour) }, "token: mint: nbf is not before exp"},
		{"too large", func(c *token.Claims) { c.Subject = strings.Repeat("s", token.MaxTokenBytes) }, "token: mint: token is longer than 8192 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims()
			tc.edit(&c)
			tok, err := f.issuer.Mint(c)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Mint = %q, %v; want error %q", tok, err, tc.want)
			}
		})
	}
	c := claims()
	c.Issuer = issuer
	if _, err := f.issuer.Mint(c); err != nil {
		t.Errorf("Mint with our own issuer set: %v", err)
	}
}
