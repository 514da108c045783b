package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/broker/token"
)

const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

// TestValidate checks each rejection with its exact description, on the
// first presentation (a cache miss) and the second (a hit when the first
// passed).
func TestValidate(t *testing.T) {
	f := newFixture(t, fixedStore(t), nil)
	f.revoked.revoke("revoked-jti")
	priv := parseSigner(t, []byte(fixedJWK))
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Unix()
	hdr := obj{"alg": "ES256", "kid": fixedKID, "typ": "at+jwt"}
	cl := obj{
		"iss": issuer, "sub": "user-1", "aud": resource, "client_id": "client-1", "jti": "jti-1",
		"iat": now - 10, "exp": now + 290, "scope": "tools:read tools:call",
	}
	sign := func(h, c obj) string { return forge(t, "ES256", priv, jsonText(t, h), jsonText(t, c)) }
	signText := func(h, c string) string { return forge(t, "ES256", priv, h, c) }
	valid := sign(hdr, cl)
	b64 := base64.RawURLEncoding.EncodeToString
	hs256 := func() string { // an HMAC keyed with the public key, the classic confusion
		h := b64([]byte(jsonText(t, hdr.with("alg", "HS256")))) + "." + b64([]byte(jsonText(t, cl)))
		pub := priv.Public().(*ecdsa.PublicKey)
		x, _ := pub.ECDH()
		m := hmac.New(sha256.New, x.Bytes())
		m.Write([]byte(h))
		return h + "." + b64(m.Sum(nil))
	}
	flip := func(tok string) string {
		i := strings.LastIndexByte(tok, '.')
		sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
		sig[10] ^= 1
		return tok[:i+1] + b64(sig)
	}
	act := &token.Actor{Sub: "a"}
	for range token.MaxActorDepth {
		act = &token.Actor{Sub: "a", Act: act}
	}
	parts := strings.Split(valid, ".")

	for _, tc := range []struct {
		name, tok, want string
	}{
		{"valid", valid, ""},
		{"typ application/at+jwt", sign(hdr.with("typ", "application/at+jwt"), cl), ""},
		{"typ upper case", sign(hdr.with("typ", "Application/AT+JWT"), cl), ""},
		{"aud list", sign(hdr, cl.with("aud", []string{"https://other.example", resource})), ""},
		{"exp within leeway", sign(hdr, cl.with("iat", now-300, "exp", now-4)), ""},
		{"nbf within leeway", sign(hdr, cl.with("nbf", now+4)), ""},
		{"iat within leeway", sign(hdr, cl.with("iat", now+4)), ""},
		{"fractional times", sign(hdr, cl.with("iat", float64(now)-0.5, "exp", float64(now)+0.5)), ""},
		{"extra claims", sign(hdr, cl.with("roles", []string{"admin"}, "auth_time", now-60)), ""},
		{"cnf", sign(hdr, cl.with("cnf", obj{"jkt": jkt})), ""},
		{"act", sign(hdr, cl.with("act", obj{"sub": "agent", "act": obj{"sub": "agent-0"}})), ""},
		{"unknown header parameter", sign(hdr.with("x5u", "https://evil.example/k"), cl), ""},

		{"empty", "", "token is missing"},
		{"too large", strings.Repeat("a", token.MaxTokenBytes+1), "token is larger than 8 KiB"},
		{"one part", parts[0], "token is not a compact JWS"},
		{"two parts", parts[0] + "." + parts[1], "token is not a compact JWS"},
		{"extra part", valid + "." + parts[2], "token is not a compact JWS"},
		{"JWE", parts[0] + ".a.b.c." + parts[2], "token is not a compact JWS"},
		{"empty signature", parts[0] + "." + parts[1] + ".", "token is not a compact JWS"},
		{"empty header", "." + parts[1] + "." + parts[2], "token is not a compact JWS"},
		{"empty claims", parts[0] + ".." + parts[2], "token is not a compact JWS"},
		{"bearer prefix", "Bearer " + valid, "token is not a compact JWS"},
		{"trailing space", valid + " ", "token is not a compact JWS"},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], "token is not a compact JWS"},
		{"standard base64", parts[0] + "." + parts[1] + "+/." + parts[2], "token is not a compact JWS"},
		{"bad base64 length", "AAAAA." + parts[1] + "." + parts[2], "token is not valid base64url"},
		{"non-canonical base64", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B", "token is not valid base64url"},
		{"header not JSON", signText("not json", jsonText(t, cl)), "token header is not a valid JSON object"},
		{"header null", signText("null", jsonText(t, cl)), "token header is not a valid JSON object"},
		{"header array", signText(`["at+jwt"]`, jsonText(t, cl)), "token header is not a valid JSON object"},
		{"header alg number", sign(hdr.with("alg", 256), cl), "token header is not a valid JSON object"},
		{"header repeats alg", signText(`{"alg":"ES256","kid":"`+fixedKID+`","typ":"at+jwt","alg":"ES256"}`, jsonText(t, cl)), "token header repeats a parameter or varies its name"},
		{"header ALG", signText(`{"ALG":"ES256","kid":"`+fixedKID+`","typ":"at+jwt"}`, jsonText(t, cl)), "token header repeats a parameter or varies its name"},
		{"typ JWT", sign(hdr.with("typ", "JWT"), cl), "typ must be at+jwt"},
		{"typ missing", sign(hdr.with("typ", nil), cl), "typ must be at+jwt"},
		{"typ application/jwt", sign(hdr.with("typ", "application/jwt"), cl), "typ must be at+jwt"},
		{"typ dpop+jwt", sign(hdr.with("typ", "dpop+jwt"), cl), "typ must be at+jwt"},
		{"crit", sign(hdr.with("crit", []string{"exp"}), cl), "crit is not supported"},
		{"alg none", sign(hdr.with("alg", "none"), cl), "alg none is not allowed"},
		{"alg HS256 with a known kid", hs256(), "alg HS256 is not allowed"},
		{"alg missing", sign(hdr.with("alg", nil), cl), "alg is missing"},
		{"alg arbitrary", sign(hdr.with("alg", "<script>"), cl), "alg is not allowed"},
		{"alg ES256 lower case", sign(hdr.with("alg", "es256"), cl), "alg is not allowed"},
		{"alg EdDSA for an ES256 key", sign(hdr.with("alg", "EdDSA"), cl), "alg does not match the key"},
		{"alg RS256 for an ES256 key", sign(hdr.with("alg", "RS256"), cl), "alg does not match the key"},
		{"kid missing", sign(hdr.with("kid", nil), cl), "kid is missing"},
		{"unknown kid", sign(hdr.with("kid", "r14wRA0KYGKaD6pdd6lIfCeHVZanKld7I85OE3EJy3V"), cl), "kid is unknown"},
		{"claims not JSON", signText(jsonText(t, hdr), "{"), "token claims are not a valid JSON object"},
		{"claims null", signText(jsonText(t, hdr), "null"), "token claims are not a valid JSON object"},
		{"claims string", signText(jsonText(t, hdr), `"claims"`), "token claims are not a valid JSON object"},
		{"exp string", sign(hdr, cl.with("exp", "soon")), "token claims are not a valid JSON object"},
		{"aud number", sign(hdr, cl.with("aud", 1)), "token claims are not a valid JSON object"},
		{"aud list of numbers", sign(hdr, cl.with("aud", []int{1})), "token claims are not a valid JSON object"},
		{"act string", sign(hdr, cl.with("act", "agent")), "token claims are not a valid JSON object"},
		{"iss repeated", signText(jsonText(t, hdr), strings.Replace(jsonText(t, cl), "{", `{"iss":"`+issuer+`",`, 1)), "token claims repeat a claim or vary its name"},
		{"ISS", signText(jsonText(t, hdr), strings.Replace(jsonText(t, cl.with("iss", nil)), "{", `{"ISS":"`+issuer+`",`, 1)), "token claims repeat a claim or vary its name"},
		{"escaped name", signText(jsonText(t, hdr), strings.Replace(jsonText(t, cl.with("iss", nil)), "{", `{"\u0069ss":"`+issuer+`",`, 1)), "token claims repeat a claim or vary its name"},
		{"iss missing", sign(hdr, cl.with("iss", nil)), "iss claim is missing"},
		{"sub missing", sign(hdr, cl.with("sub", nil)), "sub claim is missing"},
		{"sub empty", sign(hdr, cl.with("sub", "")), "sub claim is missing"},
		{"aud missing", sign(hdr, cl.with("aud", nil)), "aud claim is missing"},
		{"aud empty list", sign(hdr, cl.with("aud", []string{})), "aud claim is missing"},
		{"client_id missing", sign(hdr, cl.with("client_id", nil)), "client_id claim is missing"},
		{"jti missing", sign(hdr, cl.with("jti", nil)), "jti claim is missing"},
		{"exp missing", sign(hdr, cl.with("exp", nil)), "exp claim is missing"},
		{"iat missing", sign(hdr, cl.with("iat", nil)), "iat claim is missing"},
		{"exp negative", sign(hdr, cl.with("exp", -1)), "exp, iat or nbf claim is not a valid time"},
		{"exp in 2300", sign(hdr, cl.with("exp", 10_413_792_000)), "exp, iat or nbf claim is not a valid time"},
		{"nbf huge", sign(hdr, cl.with("nbf", 1e300)), "exp, iat or nbf claim is not a valid time"},
		{"cnf x5t", sign(hdr, cl.with("cnf", obj{"x5t#S256": jkt})), "cnf claim has an unsupported confirmation method"},
		{"cnf jkt and x5t", sign(hdr, cl.with("cnf", obj{"jkt": jkt, "x5t#S256": jkt})), "cnf claim has an unsupported confirmation method"},
		{"cnf string", sign(hdr, cl.with("cnf", jkt)), "cnf claim has an unsupported confirmation method"},
		{"cnf jkt short", sign(hdr, cl.with("cnf", obj{"jkt": "abc"})), "cnf claim is malformed"},
		{"act too deep", sign(hdr, cl.with("act", act)), "act claim is malformed or nested too deeply"},
		{"act without sub", sign(hdr, cl.with("act", obj{"client_id": "c"})), "act claim is malformed or nested too deeply"},
		{"wrong iss", sign(hdr, cl.with("iss", "https://evil.example")), "iss claim is not this issuer"},
		{"iss with slash", sign(hdr, cl.with("iss", issuer+"/")), "iss claim is not this issuer"},
		{"expired", sign(hdr, cl.with("iat", now-300, "exp", now-5)), "token has expired"},
		{"not yet valid", sign(hdr, cl.with("nbf", now+6)), "token is not yet valid"},
		{"iat in the future", sign(hdr, cl.with("iat", now+6)), "iat claim is in the future"},
		{"wrong signature", flip(valid), "token signature is invalid"},
		{"signature of other claims", parts[0] + "." + parts[1] + "." + strings.Split(sign(hdr, cl.with("sub", "user-2")), ".")[2], "token signature is invalid"},
		{"signed by another key", forge(t, "ES256", otherKey, jsonText(t, hdr), jsonText(t, cl)), "token signature is invalid"},
		{"ASN.1 signature", asn1Sig(t, valid), "token signature is invalid"},
		{"other audience", sign(hdr, cl.with("aud", "https://other.example")), "aud claim does not contain this resource"},
		{"audience prefix", sign(hdr, cl.with("aud", "https://mcp.example.com")), "aud claim does not contain this resource"},
		{"revoked", sign(hdr, cl.with("jti", "revoked-jti")), "token has been revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, presentation := range []string{"first", "second"} {
				c, err := f.val.Validate(t.Context(), tc.tok, resource)
				if tc.want == "" {
					if err != nil {
						t.Fatalf("%s Validate = %v, want success", presentation, err)
					}
					if c.Subject != "user-1" || c.Issuer != issuer || !c.HasAudience(resource) {
						t.Errorf("%s Validate = %+v", presentation, c)
					}
					continue
				}
				if c != nil {
					t.Errorf("%s Validate returned claims with an error", presentation)
				}
				wantInvalid(t, err, tc.want, tc.tok)
			}
		})
	}
}

// asn1Sig replaces a token's raw ES256 signature with its ASN.1 form,
// which JWS does not allow.
func asn1Sig(t *testing.T, tok string) string {
	i := strings.LastIndexByte(tok, '.')
	raw, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	der := []byte{0x30, 68, 0x02, 32}
	der = append(der, raw[:32]...)
	der = append(der, 0x02, 32)
	der = append(der, raw[32:]...)
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(der)
}

func TestValidateClaims(t *testing.T) {
	f := newFixture(t, nil, nil)
	in := claims()
	in.Audience = []string{"https://other.example", resource}
	in.JKT = jkt
	in.NotBefore = t0.Add(-time.Minute)
	in.Act = &token.Actor{Sub: "agent-2", ClientID: "agent-client", Act: &token.Actor{Sub: "agent-1"}}
	in.Extra = map[string]json.RawMessage{"roles": json.RawMessage(`["admin", "ops"]`), "auth_time": json.RawMessage(`1759999000`)}
	f.clock.set(t0.Add(1500 * time.Millisecond)) // iat is whole seconds
	tok := f.mint(t, in)
	got, err := f.val.Validate(t.Context(), tok, resource)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Issuer = issuer
	want.JTI = got.JTI
	want.IssuedAt = t0.Add(time.Second)
	want.Expiry = want.IssuedAt.Add(5 * time.Minute)
	want.Extra = map[string]json.RawMessage{"roles": json.RawMessage(`["admin","ops"]`), "auth_time": json.RawMessage(`1759999000`)}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if len(got.JTI) != 22 {
		t.Errorf("jti %q is not 128 bits in base64url", got.JTI)
	}
	if !got.HasScope("tools:call") || got.HasScope("tools") {
		t.Errorf("HasScope wrong for %v", got.Scope)
	}
}

func TestValidateEmptyAudience(t *testing.T) {
	f := newFixture(t, nil, nil)
	_, err := f.val.Validate(t.Context(), f.mint(t, claims()), "")
	if err == nil {
		t.Fatal("Validate with an empty audience succeeded")
	}
	if _, ok := errors.AsType[*token.Error](err); ok {
		t.Errorf("Validate with an empty audience = %v, want a programming error, not a *token.Error", err)
	}
}

func TestRevocationError(t *testing.T) {
	f := newFixture(t, nil, nil)
	tok := f.mint(t, claims())
	boom := errors.New("revocation list unavailable")
	f.revoked.err = boom
	for _, presentation := range []string{"first", "second"} {
		if _, err := f.val.Validate(t.Context(), tok, resource); !errors.Is(err, boom) {
			t.Errorf("%s Validate = %v, want the revocation list's error", presentation, err)
		}
	}
	f.revoked.err = nil
	if _, err := f.val.Validate(t.Context(), tok, resource); err != nil {
		t.Errorf("Validate once the list answers = %v", err)
	}
}

func TestNilRevocationList(t *testing.T) {
	f := newFixture(t, nil, nil)
	v, err := token.NewValidator(f.cfg, issuer, f.keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(t.Context(), f.mint(t, claims()), resource); err != nil {
		t.Errorf("Validate without a revocation list = %v", err)
	}
}

// TestCache checks that a hit returns the verified claims without
// allocating, and still checks expiry, audience and revocation.
func TestCache(t *testing.T) {
	f := newFixture(t, nil, nil)
	c := claims()
	c.Audience = []string{resource, "https://second.example"}
	tok := f.mint(t, c)
	ctx := t.Context()
	first, err := f.val.Validate(ctx, tok, resource)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.val.Validate(ctx, tok, "https://second.example")
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("second Validate returned other claims: not a cache hit")
	}
	if _, err := f.val.Validate(ctx, tok, "https://third.example"); err == nil {
		t.Error("cache hit for another audience succeeded")
	} else {
		wantInvalid(t, err, "aud claim does not contain this resource", tok)
	}

	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := f.val.Validate(ctx, tok, resource); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("cache hit allocates %v times, want 0", allocs)
	}

	f.revoked.revoke(first.JTI)
	_, err = f.val.Validate(ctx, tok, resource)
	wantInvalid(t, err, "token has been revoked", tok)

	tok = f.mint(t, claims())
	if _, err := f.val.Validate(ctx, tok, resource); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(5*time.Minute + 4*time.Second) // within leeway
	if _, err := f.val.Validate(ctx, tok, resource); err != nil {
		t.Errorf("Validate within leeway of exp = %v", err)
	}
	f.clock.advance(time.Second)
	_, err = f.val.Validate(ctx, tok, resource)
	wantInvalid(t, err, "token has expired", tok)
}

func TestCacheOff(t *testing.T) {
	f := newFixture(t, nil, func(c *token.Config) { c.CacheBytes = 0 })
	tok := f.mint(t, claims())
	a, err := f.val.Validate(t.Context(), tok, resource)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.val.Validate(t.Context(), tok, resource)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("without a cache, two validations returned the same claims")
	}
}

func TestCachedTokenOfDeletedKey(t *testing.T) {
	f := newFixture(t, nil, func(c *token.Config) { c.ActivationDelay = 0 })
	old := f.keys.Current().ID
	tok := f.mint(t, claims())
	if _, err := f.val.Validate(t.Context(), tok, resource); err != nil {
		t.Fatal(err)
	}
	// Withdraw the key: rotate, delete, refresh.
	if _, err := f.keys.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.store.DeleteKey(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if _, err := f.val.Validate(t.Context(), tok, resource); err != nil {
		t.Errorf("Validate before the refresh = %v", err)
	}
	if err := f.keys.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := f.val.Validate(t.Context(), tok, resource)
	wantInvalid(t, err, "kid is unknown", tok)
	if _, err := f.val.Validate(t.Context(), f.mint(t, claims()), resource); err != nil {
		t.Errorf("token of the new key: %v", err)
	}
}

func TestValidatorConcurrent(t *testing.T) {
	f := newFixture(t, nil, nil)
	toks := make([]string, 8)
	for i := range toks {
		toks[i] = f.mint(t, claims())
	}
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5 {
			if _, err := f.keys.Rotate(ctx); err != nil {
				t.Error(err)
			}
		}
	}()
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 200 {
				if _, err := f.val.Validate(ctx, toks[(g+i)%len(toks)], resource); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	<-done
}
