package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/subzero-gateway/subzero/broker/dpop"
)

// nonceAt returns the nonce a node with the tests' secret issues at t.
func nonceAt(t *testing.T, at time.Time) string {
	t.Helper()
	v, err := dpop.New(dpop.Default(), secret, newMemReplay(time.Now), func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	return v.Nonce()
}

// tamper flips a bit in the last byte of a base64url string's decoding.
func tamper(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

// compact makes an unsigned compact JWS of raw header and claims JSON.
func compact(header, claims string) string {
	b := base64.RawURLEncoding
	return b.EncodeToString([]byte(header)) + "." + b.EncodeToString([]byte(claims)) + ".AAAA"
}

func with(c map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestVerify(t *testing.T) {
	es, ed, rs, ps := newAgent(t, jwa.ES256), newAgent(t, jwa.EdDSA), newAgent(t, jwa.RS256), newAgent(t, jwa.PS256)
	es384, es512 := newAgent(t, jwa.ES384), newAgent(t, jwa.ES512)
	ecPriv, err := jwk.FromRaw(signer(t, jwa.ES256))
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, err := jwk.FromRaw(signer(t, jwa.RS256))
	if err != nil {
		t.Fatal(err)
	}
	oct, err := jwk.FromRaw([]byte("a symmetric key of 32 bytes....."))
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Proofs signed by one key that carry another key's jwk.
	esWithEdKey := &agent{alg: jwa.EdDSA, priv: ed.priv, pub: es.pub}
	esByOther := &agent{alg: jwa.ES256, priv: other, pub: es.pub}
	es384AsES256 := &agent{alg: jwa.ES256, priv: es384.priv, pub: es384.pub}
	rsWithESKey := &agent{alg: jwa.RS256, priv: rs.priv, pub: es.pub}
	hs := &agent{alg: jwa.HS256, pub: es.pub}

	nonce, prevNonce := nonceAt(t, t0), nonceAt(t, t0.Add(-5*time.Minute))
	resource := with(claims("j1"), "htm", "GET", "htu", resourceURL, "ath", ath(accessToken))
	required := func(c *dpop.Config) { c.Nonce = dpop.NonceRequired }
	optional := func(c *dpop.Config) { c.Nonce = dpop.NonceOptional }
	const bad = dpop.CodeInvalidProof

	for _, tc := range []struct {
		name   string
		cfg    func(*dpop.Config)
		proof  func(t *testing.T) string
		method string // default POST
		target string // default tokenURL
		token  string
		skew   time.Duration // the verifier's clock is t0+skew
		code   string        // empty: valid
		desc   string
		want   *dpop.Proof // checked for valid proofs, JKT and IAT filled in
	}{
		// Valid proofs.
		{name: "ES256 token endpoint", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) },
			want: &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES256"}},
		{name: "EdDSA resource", proof: func(t *testing.T) string { return ed.sign(t, resource, nil) },
			method: "GET", target: resourceURL, token: accessToken,
			want: &dpop.Proof{JTI: "j1", HTM: "GET", HTU: resourceURL, Alg: "EdDSA"}},
		{name: "RS256", proof: func(t *testing.T) string { return rs.sign(t, claims("j1"), nil) },
			want: &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "RS256"}},
		{name: "PS256", proof: func(t *testing.T) string { return ps.sign(t, claims("j1"), nil) },
			want: &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "PS256"}},
		{name: "ES384", proof: func(t *testing.T) string { return es384.sign(t, claims("j1"), nil) },
			want: &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES384"}},
		{name: "ES512 when allowed", cfg: func(c *dpop.Config) { c.Algs = []string{"ES512"} },
			proof: func(t *testing.T) string { return es512.sign(t, claims("j1"), nil) },
			want:  &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES512"}},
		{name: "ath ignored at token endpoint", proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "ath", "whatever"), nil) },
			want: &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES256"}},
		{name: "query and fragment stripped on both sides",
			proof:  func(t *testing.T) string { return es.sign(t, with(claims("j1"), "htu", tokenURL+"?a=1#frag"), nil) },
			target: tokenURL + "?b=2",
			want:   &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL + "?a=1#frag", Alg: "ES256"}},
		{name: "scheme host case and default port",
			proof: func(t *testing.T) string {
				return es.sign(t, with(claims("j1"), "htu", "HTTPS://AS.Example.COM:443/oauth2/./token"), nil)
			},
			target: "https://as.example.com/oauth2/%74oken",
			want:   &dpop.Proof{JTI: "j1", HTM: "POST", HTU: "HTTPS://AS.Example.COM:443/oauth2/./token", Alg: "ES256"}},
		{name: "iat at max_age", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, skew: time.Minute,
			want: &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES256"}},
		{name: "iat at max_skew", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, skew: -5 * time.Second,
			want: &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES256"}},
		{name: "fractional iat", proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "iat", float64(t0.Unix())+0.5), nil) },
			want: &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES256"}},
		{name: "nonce required and valid", cfg: required,
			proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "nonce", nonce), nil) },
			want:  &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES256", Nonce: nonce}},
		{name: "nonce from previous bucket", cfg: required,
			proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "nonce", prevNonce), nil) },
			want:  &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES256", Nonce: prevNonce}},
		{name: "nonce optional and absent", cfg: optional,
			proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) },
			want:  &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES256"}},
		{name: "nonce off ignores a bad nonce",
			proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "nonce", "junk"), nil) },
			want:  &dpop.Proof{JTI: "j1", HTM: "POST", HTU: tokenURL, Alg: "ES256"}},

		// The form of the proof.
		{name: "empty", proof: func(*testing.T) string { return "" }, code: bad, desc: "DPoP proof is missing"},
		{name: "oversize", proof: func(t *testing.T) string {
			return es.sign(t, with(claims("j1"), "pad", strings.Repeat("x", dpop.MaxProofBytes)), nil)
		}, code: bad, desc: "DPoP proof is larger than 8 KiB"},
		{name: "multiple proofs", proof: func(t *testing.T) string {
			return es.sign(t, claims("j1"), nil) + ", " + es.sign(t, claims("j2"), nil)
		}, code: bad, desc: "more than one DPoP proof"},
		{name: "multiple proofs without space", proof: func(t *testing.T) string {
			return es.sign(t, claims("j1"), nil) + "," + es.sign(t, claims("j2"), nil)
		}, code: bad, desc: "more than one DPoP proof"},
		{name: "two parts", proof: func(*testing.T) string { return "eyJhbGciOiJFUzI1NiJ9.e30" }, code: bad, desc: "DPoP proof is not a compact JWS"},
		{name: "four parts", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) + ".e30" }, code: bad, desc: "DPoP proof is not a compact JWS"},
		{name: "padding", proof: func(*testing.T) string { return "e30=.e30=.AAAA" }, code: bad, desc: "DPoP proof is not a compact JWS"},
		{name: "garbage base64", proof: func(*testing.T) string { return "e30.A.AAAA" }, code: bad, desc: "DPoP proof is not valid base64url"},
		{name: "garbage characters", proof: func(*testing.T) string { return "e30.e30.AA+/" }, code: bad, desc: "DPoP proof is not a compact JWS"},
		{name: "unknown alg", proof: func(*testing.T) string { return compact(`{"typ":"dpop+jwt","alg":"XY\"Z"}`, `{}`) },
			code: bad, desc: "alg is not allowed"},
		{name: "missing alg", proof: func(*testing.T) string { return compact(`{"typ":"dpop+jwt"}`, `{}`) },
			code: bad, desc: "alg is missing"},
		{name: "null jwk", proof: func(*testing.T) string { return compact(`{"typ":"dpop+jwt","alg":"ES256","jwk":null}`, `{}`) },
			code: bad, desc: "jwk header is missing"},
		{name: "claims not an object", proof: func(*testing.T) string { return compact(`{"typ":"dpop+jwt","alg":"ES256","jwk":{}}`, `[]`) },
			code: bad, desc: "DPoP proof claims are not a valid JSON object"},
		{name: "header not JSON", proof: func(*testing.T) string { return "bm90IGpzb24.e30.AAAA" }, code: bad, desc: "DPoP proof header is not a valid JSON object"},

		// The header.
		{name: "wrong typ", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), set(jws.TypeKey, "JWT")) },
			code: bad, desc: "typ must be dpop+jwt"},
		{name: "missing typ", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), del(jws.TypeKey)) },
			code: bad, desc: "typ must be dpop+jwt"},
		{name: "HS256", proof: func(t *testing.T) string { return hs.sign(t, claims("j1"), nil) },
			code: bad, desc: "alg HS256 is not allowed"},
		{name: "alg none", proof: func(t *testing.T) string {
			h := jws.NewHeaders()
			set(jws.TypeKey, "dpop+jwt")(h)
			set(jws.JWKKey, es.pub)(h)
			out, err := jws.Sign([]byte(`{"jti":"j1","htm":"POST","htu":"`+tokenURL+`","iat":1760000000}`),
				jws.WithInsecureNoSignature(jws.WithProtectedHeaders(h)))
			if err != nil {
				t.Fatal(err)
			}
			return string(out)
		}, code: bad, desc: "alg none is not allowed"},
		{name: "alg not configured", proof: func(t *testing.T) string { return es512.sign(t, claims("j1"), nil) },
			code: bad, desc: "alg ES512 is not allowed"},
		{name: "crit", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), set("crit", []string{"exp"})) },
			code: bad, desc: "crit is not supported"},
		{name: "missing jwk", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), del(jws.JWKKey)) },
			code: bad, desc: "jwk header is missing"},
		{name: "EC private key in jwk", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), set(jws.JWKKey, ecPriv)) },
			code: bad, desc: "jwk contains private key material"},
		{name: "RSA private key in jwk", proof: func(t *testing.T) string { return rs.sign(t, claims("j1"), set(jws.JWKKey, rsaPriv)) },
			code: bad, desc: "jwk contains private key material"},
		{name: "symmetric jwk", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), set(jws.JWKKey, oct)) },
			code: bad, desc: "jwk contains private key material"},
		{name: "EdDSA with EC key", proof: func(t *testing.T) string { return esWithEdKey.sign(t, claims("j1"), nil) },
			code: bad, desc: "alg does not match the jwk"},
		{name: "ES256 with P-384 key", proof: func(t *testing.T) string { return es384AsES256.sign(t, claims("j1"), nil) },
			code: bad, desc: "alg does not match the jwk"},
		{name: "RS256 with EC key", proof: func(t *testing.T) string { return rsWithESKey.sign(t, claims("j1"), nil) },
			code: bad, desc: "alg does not match the jwk"},
		{name: "jwk alg differs", proof: func(t *testing.T) string {
			pub, err := jwk.FromRaw(es.priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Set(jwk.AlgorithmKey, jwa.ES384); err != nil {
				t.Fatal(err)
			}
			return es.sign(t, claims("j1"), set(jws.JWKKey, pub))
		}, code: bad, desc: "alg does not match the jwk"},
		{name: "signature by another key", proof: func(t *testing.T) string { return esByOther.sign(t, claims("j1"), nil) },
			code: bad, desc: "DPoP proof signature is invalid"},
		{name: "signature of other claims", proof: func(t *testing.T) string {
			a, b := es.sign(t, claims("j1"), nil), es.sign(t, claims("j2"), nil)
			return a[:strings.LastIndexByte(a, '.')] + b[strings.LastIndexByte(b, '.'):]
		}, code: bad, desc: "DPoP proof signature is invalid"},
		{name: "ASN.1 ES256 signature", proof: func(t *testing.T) string {
			p := es.sign(t, claims("j1"), nil)
			i := strings.LastIndexByte(p, '.')
			sum := sha256Sum(p[:i])
			sig, err := ecdsa.SignASN1(rand.Reader, es.priv.(*ecdsa.PrivateKey), sum)
			if err != nil {
				t.Fatal(err)
			}
			return p[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
		}, code: bad, desc: "DPoP proof signature is invalid"},

		// The claims.
		{name: "missing jti", proof: func(t *testing.T) string { return es.sign(t, with(claims(""), "jti", nil), nil) },
			code: bad, desc: "jti claim is missing"},
		{name: "empty jti", proof: func(t *testing.T) string { return es.sign(t, claims(""), nil) },
			code: bad, desc: "jti claim is missing"},
		{name: "long jti", proof: func(t *testing.T) string { return es.sign(t, claims(strings.Repeat("j", 257)), nil) },
			code: bad, desc: "jti claim is longer than 256 bytes"},
		{name: "jti number", proof: func(t *testing.T) string { return es.sign(t, with(claims(""), "jti", 7), nil) },
			code: bad, desc: "DPoP proof claims are not a valid JSON object"},
		{name: "wrong htm", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, method: "GET",
			code: bad, desc: "htm claim does not match the request method"},
		{name: "htm case", proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "htm", "post"), nil) },
			code: bad, desc: "htm claim does not match the request method"},
		{name: "missing htm", proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "htm", nil), nil) },
			code: bad, desc: "htm claim is missing"},
		{name: "htu other path", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, target: "https://as.example.com/oauth2/revoke",
			code: bad, desc: "htu claim does not match the request URI"},
		{name: "htu other host", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, target: "https://evil.example.com/oauth2/token",
			code: bad, desc: "htu claim does not match the request URI"},
		{name: "htu other scheme", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, target: "http://as.example.com/oauth2/token",
			code: bad, desc: "htu claim does not match the request URI"},
		{name: "htu other port", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, target: "https://as.example.com:8443/oauth2/token",
			code: bad, desc: "htu claim does not match the request URI"},
		{name: "htu trailing slash", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, target: tokenURL + "/",
			code: bad, desc: "htu claim does not match the request URI"},
		{name: "htu encoded slash", proof: func(t *testing.T) string {
			return es.sign(t, with(claims("j1"), "htu", "https://as.example.com/oauth2%2Ftoken"), nil)
		},
			code: bad, desc: "htu claim does not match the request URI"},
		{name: "htu relative", proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "htu", "/oauth2/token"), nil) },
			code: bad, desc: "htu claim is not an absolute http or https URI"},
		{name: "htu with userinfo", proof: func(t *testing.T) string {
			return es.sign(t, with(claims("j1"), "htu", "https://u@as.example.com/oauth2/token"), nil)
		}, code: bad, desc: "htu claim is not an absolute http or https URI"},
		{name: "missing htu", proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "htu", nil), nil) },
			code: bad, desc: "htu claim is missing"},
		{name: "stale iat", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, skew: time.Minute + time.Second,
			code: bad, desc: "iat claim is too old"},
		{name: "future iat", proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) }, skew: -6 * time.Second,
			code: bad, desc: "iat claim is in the future"},
		{name: "missing iat", proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "iat", nil), nil) },
			code: bad, desc: "iat claim is missing"},
		{name: "iat string", proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "iat", "1760000000"), nil) },
			code: bad, desc: "DPoP proof claims are not a valid JSON object"},
		{name: "negative iat", proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "iat", -1), nil) },
			code: bad, desc: "iat claim is not a valid time"},
		{name: "wrong ath", proof: func(t *testing.T) string { return es.sign(t, with(resource, "ath", ath("other token")), nil) },
			method: "GET", target: resourceURL, token: accessToken, code: bad, desc: "ath claim does not match the access token"},
		{name: "missing ath", proof: func(t *testing.T) string { return es.sign(t, with(resource, "ath", nil), nil) },
			method: "GET", target: resourceURL, token: accessToken, code: bad, desc: "ath claim is missing"},
		{name: "padded ath", proof: func(t *testing.T) string { return es.sign(t, with(resource, "ath", ath(accessToken)+"="), nil) },
			method: "GET", target: resourceURL, token: accessToken, code: bad, desc: "ath claim does not match the access token"},

		// Nonces.
		{name: "nonce required and missing", cfg: required, proof: func(t *testing.T) string { return es.sign(t, claims("j1"), nil) },
			code: dpop.CodeUseNonce, desc: "nonce claim is missing"},
		{name: "nonce required and empty", cfg: required, proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "nonce", ""), nil) },
			code: dpop.CodeUseNonce, desc: "nonce claim is missing"},
		{name: "nonce from expired bucket", cfg: required, proof: func(t *testing.T) string {
			return es.sign(t, with(claims("j1"), "nonce", nonceAt(t, t0.Add(-10*time.Minute))), nil)
		}, code: dpop.CodeUseNonce, desc: "nonce has expired"},
		{name: "nonce from the future", cfg: required, proof: func(t *testing.T) string {
			return es.sign(t, with(claims("j1"), "nonce", nonceAt(t, t0.Add(5*time.Minute))), nil)
		}, code: dpop.CodeUseNonce, desc: "nonce is not valid yet"},
		{name: "nonce with bad MAC", cfg: required, proof: func(t *testing.T) string {
			return es.sign(t, with(claims("j1"), "nonce", tamper(t, nonce)), nil)
		}, code: dpop.CodeUseNonce, desc: "nonce is invalid"},
		{name: "nonce of another secret", cfg: required, proof: func(t *testing.T) string {
			v, err := dpop.New(dpop.Default(), []byte(strings.Repeat("s", 32)), newMemReplay(time.Now), func() time.Time { return t0 })
			if err != nil {
				t.Fatal(err)
			}
			return es.sign(t, with(claims("j1"), "nonce", v.Nonce()), nil)
		}, code: dpop.CodeUseNonce, desc: "nonce is invalid"},
		{name: "nonce garbage", cfg: required, proof: func(t *testing.T) string { return es.sign(t, with(claims("j1"), "nonce", "x"), nil) },
			code: dpop.CodeUseNonce, desc: "nonce is invalid"},
		{name: "nonce optional and invalid", cfg: optional, proof: func(t *testing.T) string {
			return es.sign(t, with(claims("j1"), "nonce", tamper(t, nonce)), nil)
		}, code: dpop.CodeUseNonce, desc: "nonce is invalid"},
		{name: "nonce required, signature checked first", cfg: required, proof: func(t *testing.T) string { return esByOther.sign(t, claims("j1"), nil) },
			code: bad, desc: "DPoP proof signature is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, now, _ := newVerifier(t, tc.cfg)
			*now = t0.Add(tc.skew)
			method, target := tc.method, tc.target
			if method == "" {
				method = "POST"
			}
			if target == "" {
				target = tokenURL
			}
			proof := tc.proof(t)
			got, err := v.Verify(t.Context(), proof, method, mustURL(t, target), tc.token)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Verify = %v, want a valid proof", err)
				}
				want := *tc.want
				want.JKT, want.IAT = got.JKT, got.IAT
				if diff := cmp.Diff(&want, got); diff != "" {
					t.Errorf("Proof (-want +got):\n%s", diff)
				}
				return
			}
			e, ok := errors.AsType[*dpop.Error](err)
			if !ok {
				t.Fatalf("Verify = %v (%T), want *dpop.Error %s: %s", err, err, tc.code, tc.desc)
			}
			if e.Code != tc.code || e.Description != tc.desc {
				t.Errorf("Verify = %s: %s, want %s: %s", e.Code, e.Description, tc.code, tc.desc)
			}
			if e.Code == dpop.CodeUseNonce && e.Nonce != v.Nonce() {
				t.Errorf("Error.Nonce = %q, want the current nonce %q", e.Nonce, v.Nonce())
			}
			if e.Code != dpop.CodeUseNonce && e.Nonce != "" {
				t.Errorf("Error.Nonce = %q with %s, want none", e.Nonce, e.Code)
			}
			if s := err.Error(); proof != "" && strings.Contains(s, proof) || strings.Contains(s, accessToken) {
				t.Errorf("error %q reveals the proof or the token", s)
			}
		})
	}
}

func TestVerifyFields(t *testing.T) {
	v, _, _ := newVerifier(t, nil)
	a := newAgent(t, jwa.ES256)
	got, err := v.Verify(t.Context(), a.sign(t, claims("j1"), nil), "POST", mustURL(t, tokenURL), "")
	if err != nil {
		t.Fatal(err)
	}
	want := &dpop.Proof{JKT: a.jkt(t), JTI: "j1", HTM: "POST", HTU: tokenURL, IAT: t0, Alg: "ES256"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Proof (-want +got):\n%s", diff)
	}
	if !got.Matches(a.jkt(t)) {
		t.Error("Matches(own thumbprint) = false")
	}
	if got.Matches(newAgent(t, jwa.EdDSA).jkt(t)) || got.Matches("") || got.Matches(a.jkt(t)[1:]) {
		t.Error("Matches(another thumbprint) = true")
	}
	if (*dpop.Proof)(nil).Matches(a.jkt(t)) {
		t.Error("nil Proof matches")
	}
}

func TestReplay(t *testing.T) {
	es, ed := newAgent(t, jwa.ES256), newAgent(t, jwa.EdDSA)
	want := "DPoP proof has been used before"
	check := func(t *testing.T, v *dpop.Verifier, proof string, wantErr string) {
		t.Helper()
		_, err := v.Verify(t.Context(), proof, "POST", mustURL(t, tokenURL), "")
		switch e, _ := errors.AsType[*dpop.Error](err); {
		case wantErr == "" && err != nil:
			t.Fatalf("Verify = %v, want a valid proof", err)
		case wantErr != "" && (e == nil || e.Code != dpop.CodeInvalidProof || e.Description != wantErr):
			t.Fatalf("Verify = %v, want %s: %s", err, dpop.CodeInvalidProof, wantErr)
		}
	}
	t.Run("one node", func(t *testing.T) {
		v, _, _ := newVerifier(t, nil)
		p := es.sign(t, claims("j1"), nil)
		check(t, v, p, "")
		check(t, v, p, want)
		// The same jti in a new proof is a replay too.
		check(t, v, es.sign(t, with(claims("j1"), "htm", "POST", "extra", 1), nil), want)
		// Another key may use the same jti.
		check(t, v, ed.sign(t, claims("j1"), nil), "")
	})
	t.Run("two nodes", func(t *testing.T) {
		clock := func() time.Time { return t0 }
		store := newMemReplay(clock)
		n1, err := dpop.New(dpop.Default(), secret, store, clock)
		if err != nil {
			t.Fatal(err)
		}
		n2, err := dpop.New(dpop.Default(), secret, store, clock)
		if err != nil {
			t.Fatal(err)
		}
		p := es.sign(t, claims("j2"), nil)
		check(t, n1, p, "")
		check(t, n2, p, want)
	})
	t.Run("record outlives the proof", func(t *testing.T) {
		v, now, store := newVerifier(t, nil)
		p := es.sign(t, claims("j3"), nil)
		*now = t0.Add(-5 * time.Second) // iat at the skew limit
		check(t, v, p, "")
		var until time.Time
		for _, u := range store.keys {
			until = u
		}
		if want := t0.Add(65 * time.Second); !until.Equal(want) {
			t.Errorf("recorded until %v, want iat+max_age+max_skew = %v", until, want)
		}
		*now = t0.Add(60 * time.Second)
		check(t, v, p, want)
		*now = t0.Add(61 * time.Second)
		check(t, v, p, "iat claim is too old")
	})
	t.Run("store keys", func(t *testing.T) {
		v, _, store := newVerifier(t, nil)
		check(t, v, es.sign(t, claims(strings.Repeat("j", 256)), nil), "")
		check(t, v, es.sign(t, claims("\x00:\n"), nil), "")
		for k := range store.keys {
			if !strings.HasPrefix(k, "dpop:"+es.jkt(t)+":") || len(k) != 92 {
				t.Errorf("replay key %q: want dpop:<jkt>:<hash>, 92 bytes", k)
			}
			for _, c := range []byte(k) {
				if c < 0x21 || c > 0x7e {
					t.Errorf("replay key %q has byte %#x", k, c)
				}
			}
		}
	})
}

// failingReplay is a ReplayStore that is down.
type failingReplay struct{}

func (failingReplay) Once(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

func TestReplayStoreError(t *testing.T) {
	v, err := dpop.New(dpop.Default(), secret, failingReplay{}, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(t.Context(), newAgent(t, jwa.ES256).sign(t, claims("j1"), nil), "POST", mustURL(t, tokenURL), "")
	if _, ok := errors.AsType[*dpop.Error](err); ok || err == nil || !strings.Contains(err.Error(), "dpop: replay store: connection refused") {
		t.Errorf("Verify = %v, want the store's error, not a *dpop.Error", err)
	}
}

func TestKeyCache(t *testing.T) {
	v, _, _ := newVerifier(t, nil)
	es, ed := newAgent(t, jwa.ES256), newAgent(t, jwa.EdDSA)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(p string) error {
		_, err := v.Verify(t.Context(), p, "POST", mustURL(t, tokenURL), "")
		return err
	}
	// A forged proof first: its key must not be cached as verified.
	forged := &agent{alg: jwa.ES256, priv: other, pub: es.pub}
	for i, tc := range []struct {
		proof string
		want  string
	}{
		{forged.sign(t, claims("f1"), nil), "DPoP proof signature is invalid"},
		{es.sign(t, claims("j1"), nil), ""},
		{es.sign(t, claims("j2"), nil), ""}, // from the cache
		{forged.sign(t, claims("f2"), nil), "DPoP proof signature is invalid"},
		{(&agent{alg: jwa.EdDSA, priv: ed.priv, pub: es.pub}).sign(t, claims("f3"), nil), "alg does not match the jwk"},
		{es.sign(t, claims("j1"), nil), "DPoP proof has been used before"},
		{es.sign(t, claims("j3"), set(jws.KeyIDKey, "k1")), ""}, // another header, the cached key
		{es.sign(t, claims("j4"), set(jws.KeyIDKey, "k1")), ""}, // that header from the cache
		{(&agent{alg: jwa.ES256, priv: other, pub: es.pub}).sign(t, claims("f4"), set(jws.KeyIDKey, "k1")), "DPoP proof signature is invalid"},
	} {
		err := verify(tc.proof)
		got := ""
		if err != nil {
			got = err.(*dpop.Error).Description
		}
		if got != tc.want {
			t.Errorf("proof %d: Verify = %q, want %q", i, got, tc.want)
		}
	}
}

func TestVerifyTarget(t *testing.T) {
	v, _, _ := newVerifier(t, nil)
	p := newAgent(t, jwa.ES256).sign(t, claims("j1"), nil)
	for _, target := range []string{"/oauth2/token", "ftp://as.example.com/oauth2/token"} {
		_, err := v.Verify(t.Context(), p, "POST", mustURL(t, target), "")
		if _, ok := errors.AsType[*dpop.Error](err); ok || err == nil {
			t.Errorf("Verify(target %q) = %v, want a caller error", target, err)
		}
	}
	if _, err := v.Verify(t.Context(), p, "POST", nil, ""); err == nil {
		t.Error("Verify(nil target) succeeded")
	}
}

func TestNonce(t *testing.T) {
	v, now, _ := newVerifier(t, func(c *dpop.Config) { c.Nonce = dpop.NonceRequired })
	n := v.Nonce()
	if len(n) != 32 {
		t.Errorf("Nonce() = %q, want 32 characters", n)
	}
	if again := v.Nonce(); again != n {
		t.Errorf("Nonce() changed within a bucket: %q then %q", n, again)
	}
	// Two nodes with one secret issue and accept the same nonces.
	if other := nonceAt(t, t0); other != n {
		t.Errorf("another node's nonce = %q, want %q", other, n)
	}
	a := newAgent(t, jwa.ES256)
	verify := func(jti string) error {
		_, err := v.Verify(t.Context(), a.sign(t, with(claims(jti), "nonce", n, "iat", now.Unix()), nil), "POST", mustURL(t, tokenURL), "")
		return err
	}
	// t0 is 200s into its 300s bucket: the nonce lives until the end of
	// the next bucket, 400s later.
	for _, tc := range []struct {
		at    time.Duration
		valid bool
	}{{0, true}, {99 * time.Second, true}, {100 * time.Second, true}, {399 * time.Second, true}, {400 * time.Second, false}} {
		*now = t0.Add(tc.at)
		err := verify("j" + tc.at.String())
		if (err == nil) != tc.valid {
			t.Errorf("at t0+%s: Verify = %v, want valid %v", tc.at, err, tc.valid)
		}
	}
	*now = t0.Add(400 * time.Second)
	if v.Nonce() == n {
		t.Error("Nonce() did not change with the bucket")
	}
}

func TestNew(t *testing.T) {
	bad := dpop.Default()
	bad.Algs = []string{"HS256"}
	for _, tc := range []struct {
		name   string
		cfg    dpop.Config
		secret []byte
		store  dpop.ReplayStore
		want   string
	}{
		{"bad config", bad, secret, newMemReplay(time.Now), `dpop: algs: "HS256" is not an asymmetric algorithm`},
		{"short secret", dpop.Default(), secret[:31], newMemReplay(time.Now), "dpop: nonce secret must be at least 32 bytes"},
		{"nil store", dpop.Default(), secret, nil, "dpop: replay store is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dpop.New(tc.cfg, tc.secret, tc.store, nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("New = %v, want %q", err, tc.want)
			}
		})
	}
	cfg := dpop.Default()
	v, err := dpop.New(cfg, secret, newMemReplay(time.Now), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Algs[0] = "ES512"
	if diff := cmp.Diff(dpop.Default().Algs, v.Algs()); diff != "" {
		t.Errorf("Algs (-want +got), after the caller changed its config:\n%s", diff)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v, _, _ := newVerifier(t, nil)
	es, ed := newAgent(t, jwa.ES256), newAgent(t, jwa.EdDSA)
	const n = 16
	var proofs []string
	for i := range n {
		proofs = append(proofs, es.sign(t, claims("c"+strconv.Itoa(i)), nil), ed.sign(t, claims("c"+strconv.Itoa(i)), nil))
	}
	same, target := es.sign(t, claims("same"), nil), mustURL(t, tokenURL)
	var wg sync.WaitGroup
	var accepted atomic.Int32
	for _, p := range proofs {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), p, "POST", target, ""); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), same, "POST", target, ""); err == nil {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if got := accepted.Load(); got != 1 {
		t.Errorf("one proof sent %d times concurrently was accepted %d times, want 1", len(proofs), got)
	}
}
