package dpop_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/subzero-gateway/subzero/broker/dpop"
)

func TestConfigValidate(t *testing.T) {
	if err := dpop.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *dpop.Config)
		want string
	}{
		{"every alg", func(c *dpop.Config) {
			c.Algs = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
		}, ""},
		{"nonce required", func(c *dpop.Config) { c.Nonce = dpop.NonceRequired }, ""},
		{"no skew", func(c *dpop.Config) { c.MaxSkew = 0 }, ""},
		{"no algs", func(c *dpop.Config) { c.Algs = nil }, "algs: must not be empty"},
		{"HS256", func(c *dpop.Config) { c.Algs = []string{"ES256", "HS256"} }, `algs: "HS256" is not an asymmetric algorithm`},
		{"HS512", func(c *dpop.Config) { c.Algs = []string{"HS512"} }, `algs: "HS512" is not an asymmetric algorithm`},
		{"none", func(c *dpop.Config) { c.Algs = []string{"none"} }, `algs: "none" is not an asymmetric algorithm`},
		{"unknown", func(c *dpop.Config) { c.Algs = []string{"ES256K"} }, `algs: "ES256K" is not supported`},
		{"case", func(c *dpop.Config) { c.Algs = []string{"es256"} }, `algs: "es256" is not supported`},
		{"twice", func(c *dpop.Config) { c.Algs = []string{"ES256", "EdDSA", "ES256"} }, `algs: "ES256" is listed twice`},
		{"max_age zero", func(c *dpop.Config) { c.MaxAge = 0 }, "max_age: must be positive"},
		{"max_age long", func(c *dpop.Config) { c.MaxAge = 2 * time.Hour }, "max_age: must be at most 1h0m0s"},
		{"max_skew negative", func(c *dpop.Config) { c.MaxSkew = -time.Second }, "max_skew: must not be negative"},
		{"max_skew over max_age", func(c *dpop.Config) { c.MaxSkew = 2 * time.Minute }, "max_skew: must not exceed max_age"},
		{"nonce mode", func(c *dpop.Config) { c.Nonce = 7 }, "nonce: must be off, optional or required"},
		{"nonce_lifetime", func(c *dpop.Config) { c.NonceLifetime = time.Millisecond }, "nonce_lifetime: must be at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dpop.Default()
			tc.edit(&c)
			before := c
			before.Algs = append([]string(nil), c.Algs...)
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() = %q, want %q", got, tc.want)
			}
			if diff := cmp.Diff(before, c); diff != "" {
				t.Errorf("Validate mutated the config:\n%s", diff)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	in := "algs: [ES256, EdDSA]\nmax_age: 30s\nmax_skew: 2s\nnonce: required\nnonce_lifetime: 1m\n"
	var c dpop.Config
	if err := yaml.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	want := dpop.Config{Algs: []string{"ES256", "EdDSA"}, MaxAge: 30 * time.Second, MaxSkew: 2 * time.Second,
		Nonce: dpop.NonceRequired, NonceLifetime: time.Minute}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	out, err := yaml.Marshal(dpop.Default())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "nonce: \"off\"") && !strings.Contains(string(out), "nonce: off") {
		t.Errorf("encoded default has no nonce: off:\n%s", out)
	}
	var m dpop.NonceMode
	if err := m.UnmarshalText([]byte("sometimes")); err == nil || err.Error() != `must be off, optional or required, not "sometimes"` {
		t.Errorf("UnmarshalText(sometimes) = %v", err)
	}
	for _, m := range []dpop.NonceMode{dpop.NonceOff, dpop.NonceOptional, dpop.NonceRequired} {
		b, err := m.MarshalText()
		var back dpop.NonceMode
		if err != nil || back.UnmarshalText(b) != nil || back != m || m.String() != string(b) {
			t.Errorf("%v: MarshalText = %q, %v; round trip %v", m, b, err, back)
		}
	}
	if _, err := dpop.NonceMode(9).MarshalText(); err == nil {
		t.Error("MarshalText(9) succeeded")
	}
	if s := dpop.NonceMode(9).String(); s != "NonceMode(9)" {
		t.Errorf("String() = %q", s)
	}
}

func TestChallenge(t *testing.T) {
	algs := []string{"ES256", "EdDSA"}
	for _, tc := range []struct {
		name string
		err  error
		algs []string
		want string
	}{
		{"no error", nil, algs, `DPoP algs="ES256 EdDSA"`},
		{"other error", errors.New("store down"), algs, `DPoP algs="ES256 EdDSA"`},
		{"invalid proof", &dpop.Error{Code: dpop.CodeInvalidProof, Description: "iat claim is too old"}, algs,
			`DPoP error="invalid_dpop_proof", error_description="iat claim is too old", algs="ES256 EdDSA"`},
		{"nonce", &dpop.Error{Code: dpop.CodeUseNonce, Description: "nonce claim is missing", Nonce: "n"}, nil,
			`DPoP error="use_dpop_nonce", error_description="nonce claim is missing"`},
		{"wrapped", errors.Join(errors.New("ctx"), &dpop.Error{Code: dpop.CodeInvalidProof}), nil,
			`DPoP error="invalid_dpop_proof"`},
		{"unsafe characters", &dpop.Error{Code: dpop.CodeInvalidProof, Description: "a \"quoted\"\\ \r\nline ü"}, nil,
			`DPoP error="invalid_dpop_proof", error_description="a quoted line "`},
		{"none", nil, nil, "DPoP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dpop.Challenge(tc.err, tc.algs); got != tc.want {
				t.Errorf("Challenge = %s\nwant        %s", got, tc.want)
			}
		})
	}
	e := &dpop.Error{Code: dpop.CodeInvalidProof, Description: "jti claim is missing"}
	if got, want := e.Error(), "dpop: invalid_dpop_proof: jti claim is missing"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestThumbprint(t *testing.T) {
	// RFC 7638 §3.1.
	const rfc = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	if got, err := dpop.Thumbprint([]byte(rfc)); err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("Thumbprint(RFC 7638 key) = %q, %v", got, err)
	}
	// RFC 8037 §A.3.
	const okp = `{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	if got, err := dpop.Thumbprint([]byte(okp)); err != nil || got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("Thumbprint(RFC 8037 key) = %q, %v", got, err)
	}
	for _, tc := range []struct{ name, jwk, want string }{
		{"private OKP", `{"crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, "dpop: jwk contains private key material"},
		{"oct", `{"kty":"oct"}`, "dpop: jwk must be an asymmetric public key"},
		{"unknown kty", `{"kty":"XYZ"}`, "dpop: jwk kty is not supported"},
		{"no kty", `{}`, "dpop: jwk kty is missing"},
		{"not an object", `[]`, "dpop: jwk is not a JSON object"},
		{"X25519", `{"crv":"X25519","kty":"OKP","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}`, "dpop: jwk curve cannot sign"},
		{"short RSA", `{"kty":"RSA","n":"AQAB","e":"AQAB"}`, "dpop: jwk RSA modulus is shorter than 2048 bits"},
		{"alg not a string", `{"kty":"EC","alg":5}`, "dpop: jwk alg is not a string"},
		{"RSA even exponent", `{"kty":"RSA","n":"` + strings.Repeat("_", 342) + `w","e":"Ag"}`, "dpop: jwk RSA exponent is invalid"},
		{"RSA long", `{"kty":"RSA","n":"` + strings.Repeat("_", 1400) + `","e":"AQAB"}`, "dpop: jwk RSA modulus is longer than 8192 bits"},
		{"EC off curve", `{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}`, "dpop: jwk is not a valid public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dpop.Thumbprint([]byte(tc.jwk))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Thumbprint = %v, want %q", err, tc.want)
			}
		})
	}
}
