package token

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Issuer mints access tokens with the current key of a [KeySet]. It is
// safe for concurrent use.
type Issuer struct {
	iss      string
	lifetime time.Duration
	keys     *KeySet
}

// NewIssuer returns an Issuer that mints tokens for the authorization
// server whose issuer identifier is issuer, signed with the current key
// of keys.
func NewIssuer(cfg Config, issuer string, keys *KeySet) (*Issuer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if issuer == "" {
		return nil, errors.New("token: issuer is empty")
	}
	if keys == nil {
		return nil, errors.New("token: key set is nil")
	}
	return &Issuer{iss: issuer, lifetime: cfg.AccessTokenLifetime, keys: keys}, nil
}

// Mint returns a signed access token (RFC 9068): a compact JWS with header
// typ at+jwt, alg and kid, carrying c. Mint sets Issuer (c.Issuer must be
// empty or this issuer) and IssuedAt (now, in whole seconds); it fills in
// JTI with [NewJTI] when empty and Expiry with access_token_lifetime from
// now when zero. A given Expiry must lie in that lifetime, so that a token
// can be made to expire earlier (as a delegated token must not outlive its
// subject token) but never later. c must have Subject, ClientID and at
// least one Audience; Scope entries must be RFC 6749 scope tokens; JKT,
// when set, a SHA-256 thumbprint; Act at most [MaxActorDepth] actors, each
// with Sub; and Extra no name of a registered claim. Mint does not modify
// the maps and actors of c.
func (i *Issuer) Mint(c Claims) (string, error) {
	if err := checkClaims(&c); err != nil {
		return "", fmt.Errorf("token: mint: %w", err)
	}
	if c.Issuer != "" && c.Issuer != i.iss {
		return "", errors.New("token: mint: iss is not this issuer")
	}
	now := i.keys.now()
	c.Issuer = i.iss
	c.IssuedAt = now.Truncate(time.Second)
	latest := c.IssuedAt.Add(i.lifetime)
	switch {
	case c.Expiry.IsZero():
		c.Expiry = latest
	case c.Expiry.After(latest):
		return "", errors.New("token: mint: exp is beyond the access token lifetime")
	case !c.Expiry.Truncate(time.Second).After(c.IssuedAt):
		return "", errors.New("token: mint: exp is not after iat")
	}
	c.Expiry = c.Expiry.Truncate(time.Second)
	c.NotBefore = c.NotBefore.Truncate(time.Second)
	if !c.NotBefore.IsZero() && !c.NotBefore.Before(c.Expiry) {
		return "", errors.New("token: mint: nbf is not before exp")
	}
	if c.JTI == "" {
		c.JTI = NewJTI()
	}
	payload, err := encodeClaims(&c)
	if err != nil {
		return "", fmt.Errorf("token: mint: %w", err)
	}

	k := i.keys.state.Load().current(now.UnixNano())
	enc := base64.RawURLEncoding
	b := make([]byte, 0, len(k.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	b = append(b, k.header...)
	b = append(b, '.')
	b = enc.AppendEncode(b, payload)
	sig, err := sign(k.alg, k.priv, b)
	if err != nil {
		return "", fmt.Errorf("token: mint: sign with %s: %w", k.id, err)
	}
	b = append(b, '.')
	b = enc.AppendEncode(b, sig)
	if len(b) > MaxTokenBytes {
		return "", fmt.Errorf("token: mint: token is longer than %d bytes", MaxTokenBytes)
	}
	return string(b), nil
}
