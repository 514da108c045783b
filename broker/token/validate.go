package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
)

// Validator validates access tokens signed by a [KeySet]. It is safe for
// concurrent use.
type Validator struct {
	iss     string
	leeway  int64 // nanoseconds
	keys    *KeySet
	revoked RevocationList
	cache   *otter.Cache[string, cached] // nil when turned off
}

// cached is a verified token in the cache.
type cached struct {
	claims *Claims
	until  int64  // Unix nanoseconds: exp + leeway, or the key's retirement if earlier
	epoch  uint64 // the key set's epoch before verification
}

// cacheEntryBytes approximates the memory of a cache entry besides the
// token and the decoded claims (which take less than the token again).
const cacheEntryBytes = 256

// NewValidator returns a Validator of the tokens that the authorization
// server with the issuer identifier issuer signed with keys. revoked, when
// not nil, is asked about every token that passes the other checks.
func NewValidator(cfg Config, issuer string, keys *KeySet, revoked RevocationList) (*Validator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if issuer == "" {
		return nil, errors.New("token: issuer is empty")
	}
	if keys == nil {
		return nil, errors.New("token: key set is nil")
	}
	v := &Validator{iss: issuer, leeway: int64(cfg.Leeway), keys: keys, revoked: revoked}
	if cfg.CacheBytes > 0 {
		v.cache = otter.Must(&otter.Options[string, cached]{
			MaximumWeight: uint64(cfg.CacheBytes),
			Weigher: func(tok string, _ cached) uint32 {
				return uint32(2*len(tok) + cacheEntryBytes) // tokens are at most MaxTokenBytes
			},
			ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[string, cached]) time.Duration {
				return time.Duration(e.Value.until - keys.now().UnixNano())
			}),
		})
	}
	return v, nil
}

// Validate checks token, an access token presented to the resource
// audience, and returns its claims. The claims are shared: the caller
// must not modify them.
//
// A rejected token yields an [*Error]. Validate checks, in this order, the
// token's size and form (one compact JWS), the header (typ at+jwt, a
// supported alg, no crit, the kid of a key of this set that is not
// retired, and that key's alg), the claims (the registered claims RFC 9068
// requires, iss, exp, nbf and iat with leeway), the signature, that
// audience is one of the token's audiences, and that the token is not
// revoked. A token that passed is cached until it expires, so that
// presenting it again costs only the audience, expiry and revocation
// checks. Errors other than [*Error] come from the [RevocationList] or
// from an empty audience.
func (v *Validator) Validate(ctx context.Context, token, audience string) (*Claims, error) {
	if audience == "" {
		return nil, errors.New("token: validate: empty audience")
	}
	now := v.keys.now().UnixNano()
	if v.cache != nil {
		if e, ok := v.cache.GetIfPresent(token); ok && now < e.until && e.epoch == v.keys.epoch.Load() {
			return v.accept(ctx, e.claims, audience)
		}
	}
	epoch := v.keys.epoch.Load() // before the key state verify reads
	c, until, e := v.verify(token, now)
	if e != nil {
		return nil, e
	}
	if v.cache != nil {
		v.cache.Set(token, cached{claims: c, until: until, epoch: epoch})
	}
	return v.accept(ctx, c, audience)
}

// accept runs the checks that depend on the call: audience and
// revocation.
func (v *Validator) accept(ctx context.Context, c *Claims, audience string) (*Claims, error) {
	if !c.HasAudience(audience) {
		return nil, invalid("aud claim does not contain this resource")
	}
	if v.revoked != nil {
		revoked, err := v.revoked.IsRevoked(ctx, c.JTI)
		if err != nil {
			return nil, fmt.Errorf("token: revocation check: %w", err)
		}
		if revoked {
			return nil, invalid("token has been revoked")
		}
	}
	return c, nil
}

// header is the JOSE header of a token.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// headerNames are the header parameters whose names a scan checks; bit 3
// is crit.
var headerNames = []string{"alg", "kid", "typ", "crit"}

// verify runs the checks that depend only on the token and the time, and
// returns its claims and until when they may be cached.
func (v *Validator) verify(token string, now int64) (*Claims, int64, *Error) {
	h64, hb, cb, sig, input, e := split(token)
	if e != nil {
		return nil, 0, e
	}
	st := v.keys.state.Load()
	// A header exactly as Mint writes it names its key; any other header
	// is decoded and checked.
	k := st.byHeader[h64]
	if k == nil {
		if k, e = st.headerKey(hb); e != nil {
			return nil, 0, e
		}
	}
	if k.retiredAt(now) {
		return nil, 0, invalid("signing key is retired")
	}

	c, e := decodeClaims(cb)
	if e != nil {
		return nil, 0, e
	}
	exp := c.Expiry.UnixNano()
	switch {
	case c.Issuer != v.iss:
		return nil, 0, invalid("iss claim is not this issuer")
	case now >= exp+v.leeway:
		return nil, 0, invalid("token has expired")
	case !c.NotBefore.IsZero() && now+v.leeway < c.NotBefore.UnixNano():
		return nil, 0, invalid("token is not yet valid")
	case now+v.leeway < c.IssuedAt.UnixNano():
		return nil, 0, invalid("iat claim is in the future")
	}

	if !k.pub.verify(k.alg, input, sig) {
		return nil, 0, invalid("token signature is invalid")
	}
	until := exp + v.leeway
	if k.retire != 0 && k.retire < until {
		until = k.retire
	}
	return c, until, nil
}

// headerKey checks a token's JOSE header, hb, and returns the key it
// names.
func (st *keyState) headerKey(hb []byte) (*stateKey, *Error) {
	var h header
	if !isObject(hb) || json.Unmarshal(hb, &h) != nil {
		return nil, invalid("token header is not a valid JSON object")
	}
	seen, _, ok := scanNames(hb, headerNames)
	switch {
	case !ok:
		return nil, invalid("token header repeats a parameter or varies its name")
	case !typIsAccessToken(h.Typ):
		return nil, invalid("typ must be at+jwt")
	case seen&(1<<3) != 0:
		return nil, invalid("crit is not supported")
	}
	a := lookupAlg(h.Alg)
	if a == nil {
		return nil, algNotAllowed(h.Alg)
	}
	if h.Kid == "" {
		return nil, invalid("kid is missing")
	}
	k := st.byID[h.Kid]
	switch {
	case k == nil:
		return nil, invalid("kid is unknown")
	case k.alg != a:
		return nil, invalid("alg does not match the key")
	}
	return k, nil
}

// typIsAccessToken reports whether typ names the media type
// application/at+jwt (RFC 9068 §4): compared without case, with the
// "application/" prefix optional (RFC 7515 §4.1.9).
func typIsAccessToken(typ string) bool {
	const prefix = "application/"
	if len(typ) > len(prefix) && strings.EqualFold(typ[:len(prefix)], prefix) {
		typ = typ[len(prefix):]
	}
	return strings.EqualFold(typ, "at+jwt")
}

// algNotAllowed names alg in the description only when it is a well-known
// JWS algorithm name, so that no arbitrary header text reaches the client.
func algNotAllowed(name string) *Error {
	switch {
	case name == "":
		return invalid("alg is missing")
	case slices.Contains(wellKnownAlgs, name):
		return invalid("alg " + name + " is not allowed")
	}
	return invalid("alg is not allowed")
}

// split checks the token's form and decodes its parts: the base64url
// header as given, the header and claims JSON, the signature, and the
// signing input.
func split(token string) (h64 string, hdr, cl, sig, input []byte, e *Error) {
	switch {
	case token == "":
		return "", nil, nil, nil, nil, invalid("token is missing")
	case len(token) > MaxTokenBytes:
		return "", nil, nil, nil, nil, invalid("token is larger than 8 KiB")
	}
	i, j, dots := -1, -1, 0
	for n := 0; n < len(token); n++ {
		switch c := token[n]; {
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_':
		case c == '.':
			dots++
			if i < 0 {
				i = n
			} else {
				j = n
			}
		default:
			return "", nil, nil, nil, nil, invalid("token is not a compact JWS")
		}
	}
	if dots != 2 || i == 0 || j == i+1 || j == len(token)-1 {
		return "", nil, nil, nil, nil, invalid("token is not a compact JWS")
	}
	// One buffer for the signing input and the three decoded parts.
	enc := base64.RawURLEncoding.Strict()
	h64, c64, s64 := token[:i], token[i+1:j], token[j+1:]
	buf := make([]byte, len(token)+enc.DecodedLen(len(h64))+enc.DecodedLen(len(c64))+enc.DecodedLen(len(s64)))
	raw := buf[:copy(buf, token)]
	out := buf[len(token):]
	n1, err1 := enc.Decode(out, raw[:i])
	n2, err2 := enc.Decode(out[n1:], raw[i+1:j])
	n3, err3 := enc.Decode(out[n1+n2:], raw[j+1:])
	if err1 != nil || err2 != nil || err3 != nil {
		return "", nil, nil, nil, nil, invalid("token is not valid base64url")
	}
	return h64, out[:n1], out[n1 : n1+n2], out[n1+n2 : n1+n2+n3], raw[:j], nil
}
