package oauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/ory/fosite"
)

// ClientAssertionType is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionAlgs are the JWS algorithms a client assertion may use.
var AssertionAlgs = []string{"ES256", "EdDSA", "RS256"}

// Bounds of client assertions.
const (
	maxAssertionBytes    = 8 << 10
	maxAssertionJTIBytes = 256
	maxAssertionLifetime = time.Hour
	assertionLeeway      = 30 * time.Second
)

// authenticateClient is fosite's client authentication strategy:
// private_key_jwt by this package (fosite's accepts only the token URL as
// aud, skips keys without "use", cannot verify EdDSA and requires a
// per-client signing alg), everything else by fosite's default strategy
// (client_secret_basic, client_secret_post, none), which enforces each
// client's registered method.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	typ, assertion := form.Get("client_assertion_type"), form.Get("client_assertion")
	if typ == "" && assertion == "" {
		return s.provider.DefaultClientAuthenticationStrategy(ctx, r, form)
	}
	if typ != ClientAssertionType {
		return nil, fosite.ErrInvalidRequest.WithHint("client_assertion_type must be " + ClientAssertionType + ".")
	}
	if _, _, basic := r.BasicAuth(); basic || form.Get("client_secret") != "" {
		return nil, fosite.ErrInvalidRequest.WithHint("The request uses more than one client authentication method.")
	}
	c, err := s.verifyAssertion(ctx, assertion, form.Get("client_id"))
	if err != nil {
		return nil, err
	}
	return fositeClient{c}, nil
}

// assertionHeader is the JOSE header of a client assertion.
type assertionHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// assertionClaims are the claims of a client assertion (RFC 7523 §3).
type assertionClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp *float64        `json:"exp"`
	Nbf *float64        `json:"nbf"`
	Iat *float64        `json:"iat"`
	JTI string          `json:"jti"`
}

// parsedAssertion is a client assertion decoded but not yet verified.
type parsedAssertion struct {
	header assertionHeader
	claims assertionClaims
	aud    []string
}

func badAssertion(hint string) error {
	return fosite.ErrInvalidClient.WithHint(hint)
}

// parseAssertion decodes a compact JWS client assertion without verifying
// it: bounded, three parts of unpadded base64url, JSON objects, no crit, a
// typ (when present) that names a plain JWT or a client assertion.
func parseAssertion(raw string) (*parsedAssertion, error) {
	if raw == "" || len(raw) > maxAssertionBytes {
		return nil, badAssertion("client_assertion is empty or larger than 8 KiB.")
	}
	parts := bytes.Split([]byte(raw), []byte("."))
	if len(parts) != 3 || len(parts[0]) == 0 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return nil, badAssertion("client_assertion is not a compact JWS.")
	}
	enc := base64.RawURLEncoding.Strict()
	hb, err1 := enc.DecodeString(string(parts[0]))
	cb, err2 := enc.DecodeString(string(parts[1]))
	_, err3 := enc.DecodeString(string(parts[2]))
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, badAssertion("client_assertion is not valid base64url.")
	}
	var p parsedAssertion
	if !isJSONObject(hb) || json.Unmarshal(hb, &p.header) != nil {
		return nil, badAssertion("client_assertion header is not a JSON object.")
	}
	if !isJSONObject(cb) || json.Unmarshal(cb, &p.claims) != nil {
		return nil, badAssertion("client_assertion claims are not a JSON object of the right types.")
	}
	switch {
	case p.header.Crit != nil:
		return nil, badAssertion("client_assertion crit is not supported.")
	case !slices.Contains(AssertionAlgs, p.header.Alg):
		return nil, badAssertion("client_assertion alg must be ES256, EdDSA or RS256.")
	case p.header.Typ != "" && p.header.Typ != "JWT" && p.header.Typ != "client-authentication+jwt":
		return nil, badAssertion("client_assertion typ must be JWT or client-authentication+jwt.")
	}
	var one string
	if json.Unmarshal(p.claims.Aud, &one) == nil {
		p.aud = []string{one}
	} else if json.Unmarshal(p.claims.Aud, &p.aud) != nil {
		return nil, badAssertion("client_assertion aud must be a string or an array of strings.")
	}
	return &p, nil
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// verifyAssertion authenticates a client by a private_key_jwt assertion:
// iss and sub are its client ID (and equal client_id when the form has
// one), the signature verifies with one of its registered keys, aud names
// this issuer or its token endpoint, exp is present and at most an hour
// ahead, nbf and iat are not in the future, and jti is used once per
// client (checked last, so that only verified assertions are recorded).
func (s *Server) verifyAssertion(ctx context.Context, raw, formClientID string) (*Client, error) {
	p, err := parseAssertion(raw)
	if err != nil {
		return nil, err
	}
	id := p.claims.Sub
	switch {
	case id == "":
		return nil, badAssertion("client_assertion sub is missing.")
	case p.claims.Iss != id:
		return nil, badAssertion("client_assertion iss and sub must both be the client_id.")
	case formClientID != "" && formClientID != id:
		return nil, badAssertion("client_id does not match the client_assertion sub.")
	}
	c, err := s.clients.Client(ctx, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCIMD) {
		return nil, fosite.ErrInvalidClient.WithHint("Unknown client or client metadata document.").WithWrap(err)
	}
	if err != nil {
		return nil, fosite.ErrServerError.WithWrap(err)
	}
	if c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		return nil, badAssertion("The client is not registered for private_key_jwt.")
	}
	if !verifyWithClientKeys(raw, p.header, c.JWKS) {
		return nil, badAssertion("client_assertion signature does not verify with the client's keys.")
	}

	if !slices.Contains(p.aud, s.issuer) && !slices.Contains(p.aud, s.tokenURL.String()) {
		return nil, badAssertion("client_assertion aud must name the issuer or the token endpoint.")
	}
	now := s.now()
	exp, ok := numericDate(p.claims.Exp)
	switch {
	case !ok:
		return nil, badAssertion("client_assertion exp is missing or invalid.")
	case !now.Before(exp.Add(assertionLeeway)):
		return nil, badAssertion("client_assertion has expired.")
	case exp.After(now.Add(maxAssertionLifetime + assertionLeeway)):
		return nil, badAssertion("client_assertion exp is more than an hour ahead.")
	}
	for _, t := range []*float64{p.claims.Nbf, p.claims.Iat} {
		if t == nil {
			continue
		}
		v, ok := numericDate(t)
		if !ok || v.After(now.Add(assertionLeeway)) {
			return nil, badAssertion("client_assertion nbf or iat is invalid or in the future.")
		}
	}
	if p.claims.JTI == "" || len(p.claims.JTI) > maxAssertionJTIBytes {
		return nil, badAssertion("client_assertion jti is missing or longer than 256 bytes.")
	}
	// jti is unique per issuer (RFC 7519 §4.1.7): the replay key is the
	// pair, so that no client can spend another's jti.
	err = s.store.SetClientAssertionJWT(ctx, id+"\x00"+p.claims.JTI, exp.Add(assertionLeeway))
	if errors.Is(err, fosite.ErrJTIKnown) {
		return nil, badAssertion("client_assertion jti has been used before.")
	}
	if err != nil {
		return nil, fosite.ErrServerError.WithWrap(err)
	}
	return c, nil
}

// numericDate converts a JWT NumericDate.
func numericDate(f *float64) (time.Time, bool) {
	if f == nil || math.IsNaN(*f) || *f < 0 || *f > 1<<40 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(*f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// verifyWithClientKeys verifies the assertion's signature with the
// client's keys: the one its kid names, or else each key that fits alg.
// A key fits when its use is sig or absent, its alg (if any) is the
// header's, and its type and size suit alg.
func verifyWithClientKeys(raw string, h assertionHeader, jwksJSON []byte) bool {
	if len(jwksJSON) == 0 {
		return false
	}
	set, err := jwk.Parse(jwksJSON)
	if err != nil {
		return false
	}
	alg := jwa.SignatureAlgorithm(h.Alg)
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if h.Kid != "" && k.KeyID() != h.Kid {
			continue
		}
		if u := k.KeyUsage(); u != "" && u != "sig" {
			continue
		}
		if a := k.Algorithm().String(); a != "" && a != h.Alg {
			continue
		}
		pub, ok := fittingKey(k, h.Alg)
		if !ok {
			continue
		}
		if _, err := jws.Verify([]byte(raw), jws.WithKey(alg, pub)); err == nil {
			return true
		}
	}
	return false
}

// fittingKey returns the raw public key of k when it suits alg.
func fittingKey(k jwk.Key, alg string) (any, bool) {
	var raw any
	if err := k.Raw(&raw); err != nil {
		return nil, false
	}
	switch pub := raw.(type) {
	case *ecdsa.PublicKey:
		return pub, alg == "ES256" && pub.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return pub, alg == "EdDSA"
	case *rsa.PublicKey:
		return pub, alg == "RS256" && pub.N.BitLen() >= 2048 && pub.N.BitLen() <= 8192
	}
	return nil, false
}
