package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Parser bounds.
const (
	// MaxProofBytes bounds the DPoP header value.
	MaxProofBytes = 8 << 10
	// MaxJTIBytes bounds the jti claim.
	MaxJTIBytes = 256
)

// cacheWeight bounds each of the two caches, of headers and of keys, in
// approximate bytes.
const cacheWeight = 4 << 20

// Proof is a verified DPoP proof.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's public key,
	// base64url without padding: the cnf.jkt of tokens bound to it.
	JKT string
	// JTI is the proof's unique identifier.
	JTI string
	// HTM is the HTTP method the proof was made for.
	HTM string
	// HTU is the HTTP URI the proof was made for, as the client wrote it.
	HTU string
	// IAT is when the client made the proof.
	IAT time.Time
	// Nonce is the server nonce the proof carried, when the verifier checks
	// nonces and the proof had one; otherwise empty.
	Nonce string
	// Alg is the JWS algorithm of the proof's signature.
	Alg string
}

// Verifier verifies DPoP proofs. It is safe for concurrent use.
type Verifier struct {
	cfg      Config
	allowed  []*alg
	secret   []byte
	replay   ReplayStore
	now      func() time.Time
	headers  *otter.Cache[string, verified]   // header segment -> alg and key
	keys     *otter.Cache[string, *publicKey] // jwk JSON text -> key
	nonceSet atomic.Pointer[nonceSet]
}

// New returns a Verifier. nonceSecret keys the HMAC of nonces; it must be
// at least [MinNonceSecretBytes] random bytes, the same on every node, and
// used for nothing else. replay is shared by every node that accepts
// proofs. now is the clock; nil means [time.Now].
func New(cfg Config, nonceSecret []byte, replay ReplayStore, now func() time.Time) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	if len(nonceSecret) < MinNonceSecretBytes {
		return nil, fmt.Errorf("dpop: nonce secret must be at least %d bytes", MinNonceSecretBytes)
	}
	if replay == nil {
		return nil, errors.New("dpop: replay store is nil")
	}
	if now == nil {
		now = time.Now
	}
	cfg.Algs = slices.Clone(cfg.Algs)
	v := &Verifier{
		cfg:    cfg,
		secret: slices.Clone(nonceSecret),
		replay: replay,
		now:    now,
		headers: otter.Must(&otter.Options[string, verified]{
			MaximumWeight: cacheWeight,
			Weigher:       func(h64 string, _ verified) uint32 { return uint32(len(h64) + 128) },
		}),
		keys: otter.Must(&otter.Options[string, *publicKey]{
			MaximumWeight: cacheWeight,
			Weigher:       func(raw string, _ *publicKey) uint32 { return uint32(2*len(raw) + 256) },
		}),
	}
	for _, name := range cfg.Algs {
		v.allowed = append(v.allowed, lookupAlg(name))
	}
	return v, nil
}

// Algs returns the allowed algorithms, for dpop_signing_alg_values_supported
// and [Challenge].
func (v *Verifier) Algs() []string { return slices.Clone(v.cfg.Algs) }

// Verify checks proof, the value of the request's single DPoP header, for a
// request with the given method to target, the absolute URI at which this
// server received it. accessToken is the DPoP access token the request
// presents; it is empty at the token endpoint, where ath is then ignored.
//
// A rejected proof yields an [*Error]. Verify checks, in this order, the
// proof's size and form (one compact JWS), the header (typ dpop+jwt, an
// allowed alg, no crit, a jwk), the claims (jti, htm, htu, iat and, with an
// access token, ath), the key (public, fitting alg) and the signature, the
// nonce if the configuration asks for one, and last that the proof was not
// used before. Errors other than [*Error] come from the [ReplayStore] or
// from a target that is not an absolute http or https URL.
func (v *Verifier) Verify(ctx context.Context, proof, method string, target *url.URL, accessToken string) (*Proof, error) {
	if target == nil {
		return nil, errors.New("dpop: verify: nil target URL")
	}
	want, ok := normalURI(target)
	if !ok {
		return nil, errors.New("dpop: verify: target must be an absolute http or https URL")
	}
	now := v.now()
	p, exp, e := v.check(proof, method, want, accessToken, now)
	if e != nil {
		return nil, e
	}
	first, refused, err := v.once(ctx, p, now, exp)
	if err != nil {
		return nil, fmt.Errorf("dpop: replay store: %w", err)
	}
	if refused != "" {
		return nil, invalid(refused)
	}
	if !first {
		return nil, invalid("DPoP proof has been used before")
	}
	return p, nil
}

// header is the JOSE header of a proof.
type header struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
}

// claims are a proof's claims; pointers tell absent from empty.
type claims struct {
	JTI   *string  `json:"jti"`
	HTM   *string  `json:"htm"`
	HTU   *string  `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

// verified is what a protected header that came with a valid signature
// yields: an allowed alg and a public key that fits it.
type verified struct {
	alg *alg
	key *publicKey
}

// check runs every check but the replay check, and returns the proof and
// until when its jti must be remembered.
func (v *Verifier) check(proof, method, wantURI, accessToken string, now time.Time) (*Proof, time.Time, *Error) {
	var zero time.Time
	h64, input, cb, sig, e := split(proof)
	if e != nil {
		return nil, zero, e
	}

	// The header: an agent sends the same one with every proof, so the
	// result of checking it is cached once a signature verified with it.
	hv, cached := v.headers.GetIfPresent(h64)
	var jwk json.RawMessage
	if !cached {
		if hv.alg, jwk, e = v.header(h64); e != nil {
			return nil, zero, e
		}
	}

	var c claims
	if json.Unmarshal(cb, &c) != nil {
		return nil, zero, invalid("DPoP proof claims are not a valid JSON object")
	}
	switch {
	case c.JTI == nil || *c.JTI == "":
		return nil, zero, invalid("jti claim is missing")
	case len(*c.JTI) > MaxJTIBytes:
		return nil, zero, invalid("jti claim is longer than 256 bytes")
	case c.HTM == nil:
		return nil, zero, invalid("htm claim is missing")
	case *c.HTM != method:
		return nil, zero, invalid("htm claim does not match the request method")
	case c.HTU == nil:
		return nil, zero, invalid("htu claim is missing")
	}
	if *c.HTU != wantURI { // else it is normal already, and equal
		if got, ok := parseURI(*c.HTU); !ok {
			return nil, zero, invalid("htu claim is not an absolute http or https URI")
		} else if got != wantURI {
			return nil, zero, invalid("htu claim does not match the request URI")
		}
	}
	if c.IAT == nil {
		return nil, zero, invalid("iat claim is missing")
	}
	iat, ok := numericDate(*c.IAT)
	switch {
	case !ok:
		return nil, zero, invalid("iat claim is not a valid time")
	case iat.Before(now.Add(-v.cfg.MaxAge)):
		return nil, zero, invalid("iat claim is too old")
	case iat.After(now.Add(v.cfg.MaxSkew)):
		return nil, zero, invalid("iat claim is in the future")
	}
	if accessToken != "" {
		if c.ATH == nil {
			return nil, zero, invalid("ath claim is missing")
		}
		if !athMatches(*c.ATH, accessToken) {
			return nil, zero, invalid("ath claim does not match the access token")
		}
	}

	// The key and the signature. Nothing is cached before a signature
	// made with the key verified.
	keyCached := true
	if !cached {
		if hv.key, keyCached = v.keys.GetIfPresent(string(jwk)); !keyCached {
			if hv.key, e = parseKey(jwk); e != nil {
				return nil, zero, e
			}
		}
		if !hv.key.fits(hv.alg) {
			return nil, zero, invalid("alg does not match the jwk")
		}
	}
	if !hv.key.verify(hv.alg, input, sig) {
		return nil, zero, invalid("DPoP proof signature is invalid")
	}
	if !keyCached {
		v.keys.Set(string(jwk), hv.key)
	}
	if !cached {
		v.headers.Set(strings.Clone(h64), hv) // not a slice pinning the proof
	}

	p := &Proof{JKT: hv.key.jkt, JTI: *c.JTI, HTM: *c.HTM, HTU: *c.HTU, IAT: iat, Alg: hv.alg.name}
	if v.cfg.Nonce != NonceOff {
		switch {
		case c.Nonce != nil && *c.Nonce != "":
			if e := v.checkNonce(*c.Nonce); e != nil {
				return nil, zero, e
			}
			p.Nonce = *c.Nonce
		case v.cfg.Nonce == NonceRequired:
			return nil, zero, &Error{Code: CodeUseNonce, Description: "nonce claim is missing", Nonce: v.Nonce()}
		}
	}
	return p, iat.Add(v.cfg.MaxAge + v.cfg.MaxSkew), nil
}

// header decodes and checks a protected header: typ dpop+jwt, an allowed
// alg, no crit, a jwk. It returns the alg and the jwk's JSON text.
func (v *Verifier) header(h64 string) (*alg, json.RawMessage, *Error) {
	hb, err := base64.RawURLEncoding.Strict().DecodeString(h64)
	if err != nil {
		return nil, nil, invalid("DPoP proof is not valid base64url")
	}
	var h header
	if json.Unmarshal(hb, &h) != nil {
		return nil, nil, invalid("DPoP proof header is not a valid JSON object")
	}
	if h.Typ != "dpop+jwt" {
		return nil, nil, invalid("typ must be dpop+jwt")
	}
	a := v.allowedAlg(h.Alg)
	if a == nil {
		return nil, nil, algNotAllowed(h.Alg)
	}
	if h.Crit != nil {
		return nil, nil, invalid("crit is not supported")
	}
	if len(h.JWK) == 0 || string(h.JWK) == "null" {
		return nil, nil, invalid("jwk header is missing")
	}
	return a, h.JWK, nil
}

func (v *Verifier) allowedAlg(name string) *alg {
	for _, a := range v.allowed {
		if a.name == name {
			return a
		}
	}
	return nil
}

// algNotAllowed names alg in the description only when it is a known JWS
// algorithm name, so that no arbitrary header text reaches the client.
func algNotAllowed(name string) *Error {
	if lookupAlg(name) != nil || slices.Contains(symmetric, name) {
		return invalid("alg " + name + " is not allowed")
	}
	if name == "" {
		return invalid("alg is missing")
	}
	return invalid("alg is not allowed")
}

// split checks the proof's form and returns its header segment, still
// encoded, and, in one buffer, the signing input and the decoded claims
// and signature.
func split(proof string) (h64 string, input, cl, sig []byte, e *Error) {
	switch {
	case proof == "":
		return "", nil, nil, nil, invalid("DPoP proof is missing")
	case len(proof) > MaxProofBytes:
		return "", nil, nil, nil, invalid("DPoP proof is larger than 8 KiB")
	}
	dots := 0
	for i := 0; i < len(proof); i++ {
		switch c := proof[i]; {
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_':
		case c == '.':
			dots++
		case c == ',' || c == ' ' || c == '\t':
			return "", nil, nil, nil, invalid("more than one DPoP proof")
		default:
			return "", nil, nil, nil, invalid("DPoP proof is not a compact JWS")
		}
	}
	if dots != 2 {
		return "", nil, nil, nil, invalid("DPoP proof is not a compact JWS")
	}
	i := strings.IndexByte(proof, '.')
	j := i + 1 + strings.IndexByte(proof[i+1:], '.')
	h64, c64, s64 := proof[:i], proof[i+1:j], proof[j+1:]
	if h64 == "" || c64 == "" {
		return "", nil, nil, nil, invalid("DPoP proof is not a compact JWS")
	}
	enc := base64.RawURLEncoding.Strict()
	buf := make([]byte, j+enc.DecodedLen(len(c64))+enc.DecodedLen(len(s64)))
	copy(buf, proof[:j])
	n1, err1 := enc.Decode(buf[j:], []byte(c64))
	n2, err2 := enc.Decode(buf[j+n1:], []byte(s64))
	if err1 != nil || err2 != nil {
		return "", nil, nil, nil, invalid("DPoP proof is not valid base64url")
	}
	return h64, buf[:j], buf[j : j+n1], buf[j+n1 : j+n1+n2], nil
}

// numericDate converts a JWT NumericDate, which may have a fraction.
func numericDate(f float64) (time.Time, bool) {
	if math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)), true
}

// athMatches reports, in constant time, whether ath is the unpadded
// base64url SHA-256 of the access token (RFC 9449 §4.2).
func athMatches(ath, accessToken string) bool {
	sum := sha256.Sum256([]byte(accessToken))
	var want [43]byte
	base64.RawURLEncoding.Encode(want[:], sum[:])
	return subtle.ConstantTimeCompare([]byte(ath), want[:]) == 1
}
