package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Grant types a client may register for.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// Client authentication methods at the token endpoint.
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

var (
	knownGrants      = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantTokenExchange, GrantJWTBearer}
	knownAuthMethods = []string{AuthNone, AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT}
)

// ClientSource says where a client came from.
type ClientSource string

// The sources of clients.
const (
	SourceStatic  ClientSource = "static"  // listed in the config
	SourceDynamic ClientSource = "dynamic" // RFC 7591 registration
	SourceCIMD    ClientSource = "cimd"    // a Client ID Metadata Document
)

// Client is a registered OAuth client, as stored. Its JSON names follow
// RFC 7591 client metadata.
type Client struct {
	ID                      string          `json:"client_id"`
	SecretHash              []byte          `json:"secret_hash,omitempty"` // HMAC-SHA-256 of the secret
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	Scope                   string          `json:"scope,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	ApplicationType         string          `json:"application_type"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	DPoPBoundAccessTokens   bool            `json:"dpop_bound_access_tokens,omitempty"`
	IssuedAt                int64           `json:"client_id_issued_at,omitempty"`
	Source                  ClientSource    `json:"source"`
}

// Public reports whether the client has no credentials of its own.
func (c *Client) Public() bool { return c.TokenEndpointAuthMethod == AuthNone }

// HasGrant reports whether the client registered grant type g.
func (c *Client) HasGrant(g string) bool { return slices.Contains(c.GrantTypes, g) }

// MetadataError is an RFC 7591 registration error.
type MetadataError struct {
	Code        string // invalid_redirect_uri or invalid_client_metadata
	Description string
}

func (e *MetadataError) Error() string { return e.Code + ": " + e.Description }

func invalidMetadata(format string, args ...any) error {
	return &MetadataError{Code: "invalid_client_metadata", Description: fmt.Sprintf(format, args...)}
}

func invalidRedirect(format string, args ...any) error {
	return &MetadataError{Code: "invalid_redirect_uri", Description: fmt.Sprintf(format, args...)}
}

// MaxMetadataBytes bounds a registration request or metadata document.
const MaxMetadataBytes = 16 << 10

// Limits on registered metadata.
const (
	maxRedirectURIs = 16
	maxURILen       = 2048
	maxNameLen      = 256
)

// ParseMetadata reads an RFC 7591 registration request (or a Client ID
// Metadata Document) and validates it: redirect URIs must be absolute https
// URLs, or http on a loopback address, with no fragment; grant types,
// response types, application type and the authentication method must be
// ones this server serves, and consistent. allowedScopes, when not nil,
// bounds the scope a client may register. It fills defaults (RFC 7591
// §2): grant_types [authorization_code], response_types [code],
// token_endpoint_auth_method client_secret_basic, application_type web.
func ParseMetadata(body []byte, allowedScopes []string) (*Client, error) {
	if len(body) > MaxMetadataBytes {
		return nil, invalidMetadata("metadata larger than %d bytes", MaxMetadataBytes)
	}
	var m struct {
		RedirectURIs            []string        `json:"redirect_uris"`
		GrantTypes              []string        `json:"grant_types"`
		ResponseTypes           []string        `json:"response_types"`
		Scope                   string          `json:"scope"`
		TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
		JWKS                    json.RawMessage `json:"jwks"`
		JWKSURI                 string          `json:"jwks_uri"`
		ApplicationType         string          `json:"application_type"`
		ClientName              string          `json:"client_name"`
		ClientURI               string          `json:"client_uri"`
		LogoURI                 string          `json:"logo_uri"`
		DPoPBoundAccessTokens   bool            `json:"dpop_bound_access_tokens"`
		ClientID                string          `json:"client_id"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, invalidMetadata("body is not a JSON object of client metadata")
	}
	c := &Client{
		RedirectURIs: m.RedirectURIs, GrantTypes: m.GrantTypes, ResponseTypes: m.ResponseTypes,
		Scope: m.Scope, TokenEndpointAuthMethod: m.TokenEndpointAuthMethod, JWKS: m.JWKS,
		ApplicationType: m.ApplicationType, ClientName: m.ClientName, ClientURI: m.ClientURI,
		LogoURI: m.LogoURI, DPoPBoundAccessTokens: m.DPoPBoundAccessTokens, ID: m.ClientID,
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode}
	}
	if len(c.ResponseTypes) == 0 && c.HasGrant(GrantAuthorizationCode) {
		c.ResponseTypes = []string{"code"}
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthClientSecretBasic
	}
	if c.ApplicationType == "" {
		c.ApplicationType = "web"
	}
	if m.JWKSURI != "" {
		return nil, invalidMetadata("jwks_uri is not supported; register keys inline with jwks")
	}
	if err := c.validate(allowedScopes); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) validate(allowedScopes []string) error {
	for _, g := range c.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			return invalidMetadata("unsupported grant type %q", clip(g))
		}
	}
	for _, rt := range c.ResponseTypes {
		if rt != "code" {
			return invalidMetadata("unsupported response type %q: only code", clip(rt))
		}
	}
	if c.HasGrant(GrantAuthorizationCode) != slices.Contains(c.ResponseTypes, "code") {
		return invalidMetadata("grant type authorization_code and response type code go together")
	}
	if !slices.Contains(knownAuthMethods, c.TokenEndpointAuthMethod) {
		return invalidMetadata("unsupported token_endpoint_auth_method %q", clip(c.TokenEndpointAuthMethod))
	}
	if c.Public() && c.HasGrant(GrantClientCredentials) {
		return invalidMetadata("client_credentials needs a confidential client, not token_endpoint_auth_method none")
	}
	if c.TokenEndpointAuthMethod == AuthPrivateKeyJWT && len(c.JWKS) == 0 {
		return invalidMetadata("private_key_jwt needs jwks")
	}
	if len(c.JWKS) > 0 {
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if json.Unmarshal(c.JWKS, &set) != nil || len(set.Keys) == 0 || len(set.Keys) > 8 {
			return invalidMetadata("jwks must be a JWK set of 1 to 8 keys")
		}
		for _, k := range set.Keys {
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := k[private]; ok {
					return invalidMetadata("jwks must hold public keys only")
				}
			}
		}
	}
	switch c.ApplicationType {
	case "web", "native":
	default:
		return invalidMetadata("application_type must be web or native")
	}
	if c.HasGrant(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return invalidRedirect("redirect_uris is required for the authorization_code grant")
	}
	if len(c.RedirectURIs) > maxRedirectURIs {
		return invalidRedirect("at most %d redirect_uris", maxRedirectURIs)
	}
	for _, r := range c.RedirectURIs {
		if err := checkRedirectURI(r); err != nil {
			return err
		}
	}
	for _, s := range strings.Fields(c.Scope) {
		if allowedScopes != nil && !slices.Contains(allowedScopes, s) {
			return invalidMetadata("scope %q is not offered by this server", clip(s))
		}
	}
	if len(c.ClientName) > maxNameLen || len(c.ClientURI) > maxURILen || len(c.LogoURI) > maxURILen {
		return invalidMetadata("client_name, client_uri or logo_uri too long")
	}
	for _, u := range []string{c.ClientURI, c.LogoURI} {
		if u != "" && !isHTTPSURL(u) {
			return invalidMetadata("client_uri and logo_uri must be https URLs")
		}
	}
	return nil
}

// checkRedirectURI allows absolute https URLs and http URLs on a loopback
// address (RFC 8252 §7.3), without fragments or user info.
func checkRedirectURI(raw string) error {
	if len(raw) > maxURILen {
		return invalidRedirect("redirect URI longer than %d bytes", maxURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return invalidRedirect("redirect URI %q is not an absolute URL", clip(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalidRedirect("redirect URI %q has a fragment", clip(raw))
	}
	if u.User != nil {
		return invalidRedirect("redirect URI %q has user info", clip(raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return invalidRedirect("redirect URI %q: http is allowed only on a loopback address", clip(raw))
	}
	return invalidRedirect("redirect URI %q: scheme must be https (or http on loopback)", clip(raw))
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func isHTTPSURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// clip bounds client-supplied text quoted in errors.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// SecretHasher hashes client secrets with HMAC-SHA-256 under a server key:
// a secret of 256 random bits needs no slow password hash, and a keyed
// hash keeps a stolen database from confirming guesses.
type SecretHasher struct{ key []byte }

// NewSecretHasher returns a hasher keyed with key (at least 32 bytes).
func NewSecretHasher(key []byte) (*SecretHasher, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("oauth: secret hashing key of %d bytes, want at least 32", len(key))
	}
	return &SecretHasher{key: key}, nil
}

// NewSecret returns a fresh client secret (256 bits, base64url) and its
// hash to store.
func (h *SecretHasher) NewSecret() (secret string, hash []byte) {
	var b [32]byte
	rand.Read(b[:]) // never fails
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	return secret, h.Hash(secret)
}

// Hash returns the stored form of secret.
func (h *SecretHasher) Hash(secret string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Check compares secret with a stored hash in constant time.
func (h *SecretHasher) Check(secret string, hash []byte) bool {
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(h.Hash(secret), hash) == 1
}
