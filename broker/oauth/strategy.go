package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/hmac"

	"github.com/subzero-gateway/subzero/broker/token"
)

// coreStrategy is what fosite's handlers mint with: RFC 9068 JWT access
// tokens, and opaque HMAC refresh tokens and authorization codes.
type coreStrategy struct {
	oauth2.AccessTokenStrategy
	oauth2.RefreshTokenStrategy
	oauth2.AuthorizeCodeStrategy
}

// accessStrategy mints access tokens with broker/token in place of
// fosite's JWT strategy, which writes typ JWT and knows neither cnf nor
// RFC 8707 audiences. The "signature" fosite stores a token under is its
// jti, the key of revocation.
type accessStrategy struct {
	issuer    *token.Issuer
	validator *token.Validator
	lifetime  time.Duration
	now       func() time.Time
}

// GenerateAccessToken mints a token for the request: sub, aud and cnf.jkt
// from the [Session], client_id, the granted scopes, a fresh jti and exp
// one lifetime from now, which it also records as the session's access
// token expiry (so that expires_in matches exp).
func (a *accessStrategy) GenerateAccessToken(_ context.Context, req fosite.Requester) (string, string, error) {
	sess, ok := req.GetSession().(*Session)
	if !ok {
		return "", "", fmt.Errorf("oauth: session of type %T", req.GetSession())
	}
	aud := sess.Audience
	if len(aud) == 0 {
		aud = sess.Resources
	}
	c := token.Claims{
		Subject:  sess.Subject,
		Audience: aud,
		ClientID: req.GetClient().GetID(),
		Scope:    req.GetGrantedScopes(),
		JTI:      token.NewJTI(),
		Expiry:   a.now().Truncate(time.Second).Add(a.lifetime),
		JKT:      sess.JKT,
	}
	tok, err := a.issuer.Mint(c)
	if err != nil {
		return "", "", err
	}
	sess.SetExpiresAt(fosite.AccessToken, c.Expiry)
	return tok, c.JTI, nil
}

// AccessTokenSignature returns the token's jti, read without verification
// (fosite uses it only as a storage key), or "" for a malformed token.
func (a *accessStrategy) AccessTokenSignature(_ context.Context, tok string) string {
	p, ok := peekClaims(tok)
	if !ok {
		return ""
	}
	return p.JTI
}

// ValidateAccessToken validates a token for the first resource of the
// request it was issued in.
func (a *accessStrategy) ValidateAccessToken(ctx context.Context, req fosite.Requester, tok string) error {
	sess, ok := req.GetSession().(*Session)
	if !ok || len(sess.Resources) == 0 {
		return fosite.ErrInactiveToken
	}
	if _, err := a.validator.Validate(ctx, tok, sess.Resources[0]); err != nil {
		return fosite.ErrInactiveToken.WithWrap(err)
	}
	return nil
}

// peeked holds claims read from a JWT without verifying it: only to pick
// the audience to validate it for, or a storage key.
type peeked struct {
	JTI string          `json:"jti"`
	Aud json.RawMessage `json:"aud"`
}

// peekClaims decodes the claims of a compact JWS without verifying it.
func peekClaims(tok string) (*peeked, bool) {
	if len(tok) > token.MaxTokenBytes || strings.Count(tok, ".") != 2 {
		return nil, false
	}
	_, rest, _ := strings.Cut(tok, ".")
	payload, _, _ := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, false
	}
	var p peeked
	if json.Unmarshal(b, &p) != nil {
		return nil, false
	}
	return &p, true
}

// audiences returns the aud claim as a list.
func (p *peeked) audiences() []string {
	var one string
	if json.Unmarshal(p.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(p.Aud, &many) == nil {
		return many
	}
	return nil
}

// hmacStrategy makes refresh tokens and authorization codes with fosite's
// HMAC strategy, prefixed "szrt_" and "szac_" so that secret scanners can
// recognize them.
type hmacStrategy struct {
	inner *oauth2.HMACSHAStrategyUnPrefixed
}

const (
	prefixRefresh = "szrt_"
	prefixCode    = "szac_"
)

// hmacConfig provides what fosite's HMAC strategy reads.
type hmacConfig struct {
	secret []byte
	cfg    Config
}

func (c *hmacConfig) GetAccessTokenLifespan(context.Context) time.Duration {
	return c.cfg.Token.AccessTokenLifetime
}
func (c *hmacConfig) GetRefreshTokenLifespan(context.Context) time.Duration {
	return c.cfg.RefreshTokenLifetime
}
func (c *hmacConfig) GetAuthorizeCodeLifespan(context.Context) time.Duration {
	return c.cfg.AuthCodeLifetime
}
func (c *hmacConfig) GetTokenEntropy(context.Context) int                       { return 32 }
func (c *hmacConfig) GetGlobalSecret(context.Context) ([]byte, error)           { return c.secret, nil }
func (c *hmacConfig) GetRotatedGlobalSecrets(context.Context) ([][]byte, error) { return nil, nil }
func (c *hmacConfig) GetHMACHasher(context.Context) func() hash.Hash            { return nil }

func newHMACStrategy(secret []byte, cfg Config) *hmacStrategy {
	hc := &hmacConfig{secret: secret, cfg: cfg}
	return &hmacStrategy{inner: oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: hc}, hc)}
}

var errMalformed = errors.New("oauth: malformed token")

func (h *hmacStrategy) RefreshTokenSignature(ctx context.Context, tok string) string {
	return h.inner.RefreshTokenSignature(ctx, tok)
}

func (h *hmacStrategy) GenerateRefreshToken(ctx context.Context, req fosite.Requester) (string, string, error) {
	tok, sig, err := h.inner.GenerateRefreshToken(ctx, req)
	return prefixRefresh + tok, sig, err
}

func (h *hmacStrategy) ValidateRefreshToken(ctx context.Context, req fosite.Requester, tok string) error {
	raw, ok := strings.CutPrefix(tok, prefixRefresh)
	if !ok {
		return errMalformed
	}
	return h.inner.ValidateRefreshToken(ctx, req, raw)
}

func (h *hmacStrategy) AuthorizeCodeSignature(ctx context.Context, tok string) string {
	return h.inner.AuthorizeCodeSignature(ctx, tok)
}

func (h *hmacStrategy) GenerateAuthorizeCode(ctx context.Context, req fosite.Requester) (string, string, error) {
	tok, sig, err := h.inner.GenerateAuthorizeCode(ctx, req)
	return prefixCode + tok, sig, err
}

func (h *hmacStrategy) ValidateAuthorizeCode(ctx context.Context, req fosite.Requester, tok string) error {
	raw, ok := strings.CutPrefix(tok, prefixCode)
	if !ok {
		return errMalformed
	}
	return h.inner.ValidateAuthorizeCode(ctx, req, raw)
}
