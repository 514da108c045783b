package oauth

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/broker/token"
	"github.com/subzero-gateway/subzero/internal/secret"
)

// Config configures the authorization server: the authorization, token,
// registration, introspection, revocation, JWKS and metadata endpoints.
type Config struct {
	// Issuer is the issuer identifier and public base URL: an https URL
	// (http only on a loopback host) without query, fragment or trailing
	// slash. Endpoints live under it: <issuer>/oauth2/token and so on.
	Issuer *url.URL `yaml:"issuer"`
	// Scopes are the scopes this server offers; clients register and
	// request only these.
	Scopes []string `yaml:"scopes"`
	// DefaultResource is the audience of tokens requested without an RFC
	// 8707 resource parameter; nil means <issuer>/mcp.
	DefaultResource *url.URL `yaml:"default_resource"`
	// Resources are further resources a client may name with the resource
	// parameter, besides default_resource. Each is compared exactly.
	Resources []*url.URL `yaml:"resources"`
	// Token configures access tokens and their signing keys.
	Token token.Config `yaml:"token"`
	// RefreshTokenLifetime is how long a refresh token stays usable; each
	// refresh issues a new one, so it bounds the idle time of a grant.
	RefreshTokenLifetime time.Duration `yaml:"refresh_token_lifetime"`
	// AuthCodeLifetime is how long an authorization code may be redeemed.
	AuthCodeLifetime time.Duration `yaml:"auth_code_lifetime"`
	// DPoP configures proof checks at the token endpoint.
	DPoP dpop.Config `yaml:"dpop"`
	// DPoPRequired makes every client bind its tokens to a DPoP key; a
	// client can also ask for it with dpop_bound_access_tokens.
	DPoPRequired bool `yaml:"dpop_required"`
	// Registration configures RFC 7591 dynamic client registration.
	Registration RegistrationConfig `yaml:"registration"`
	// CIMD configures Client ID Metadata Documents.
	CIMD CIMDConfig `yaml:"cimd"`
	// Clients are the statically configured clients.
	Clients []StaticClient `yaml:"clients"`
	// Users are users of the embedded identity store listed in the
	// config, with argon2id hashes (`subzero user hash`); they are written
	// to the store at start, beside those `subzero user add` adds.
	Users []StaticUser `yaml:"users"`
	// Pages configures the login and consent pages of the authorization
	// endpoint; their issuer is Issuer.
	Pages PagesConfig `yaml:"pages"`
}

// RegistrationConfig configures dynamic client registration.
type RegistrationConfig struct {
	// Enabled serves POST /oauth2/register to anyone.
	Enabled bool `yaml:"enabled"`
}

// StaticClient is a client listed in the configuration.
type StaticClient struct {
	ID string `yaml:"client_id"`
	// Secret is the client secret (client_secret_basic or _post), at
	// least 32 bytes; it is hashed when the server starts.
	Secret                  secret.Ref `yaml:"secret"`
	RedirectURIs            []string   `yaml:"redirect_uris"`
	GrantTypes              []string   `yaml:"grant_types"`
	Scope                   string     `yaml:"scope"`
	TokenEndpointAuthMethod string     `yaml:"token_endpoint_auth_method"`
	// JWKS is the client's public JWK Set, as JSON text, for
	// private_key_jwt.
	JWKS                  string `yaml:"jwks"`
	DPoPBoundAccessTokens bool   `yaml:"dpop_bound_access_tokens"`
	ClientName            string `yaml:"client_name"`
}

// Default returns the default configuration. It has no issuer, which the
// broker sets from its public URL.
func Default() Config {
	return Config{
		Scopes:               []string{"mcp", "llm"},
		Token:                token.Default(),
		RefreshTokenLifetime: 7 * 24 * time.Hour,
		AuthCodeLifetime:     60 * time.Second,
		DPoP:                 dpop.Default(),
		Registration:         RegistrationConfig{Enabled: true},
		CIMD:                 DefaultCIMD(),
		Pages:                DefaultPages(),
	}
}

// MinStaticSecretBytes is the shortest static client secret accepted:
// secrets are hashed with a fast keyed hash, which suits only secrets
// nobody can guess.
const MinStaticSecretBytes = 32

// Validate reports the first invalid field, named by its key path. It does
// not mutate c and does no I/O (static client secrets are read by
// [NewServer]).
func (c Config) Validate() error {
	if err := checkIssuer(c.Issuer); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	for i, u := range c.Users {
		if err := u.validate(); err != nil {
			return fmt.Errorf("users[%d].%w", i, err)
		}
	}
	if len(c.Scopes) == 0 {
		return errors.New("scopes: must not be empty")
	}
	for i, s := range c.Scopes {
		switch {
		case !isScopeToken(s):
			return fmt.Errorf("scopes[%d]: %q is not a scope token", i, clip(s))
		case slices.Contains(c.Scopes[:i], s):
			return fmt.Errorf("scopes[%d]: %q is listed twice", i, s)
		}
	}
	if c.DefaultResource != nil {
		if err := checkResource(c.DefaultResource); err != nil {
			return fmt.Errorf("default_resource: %w", err)
		}
	}
	for i, r := range c.Resources {
		if err := checkResource(r); err != nil {
			return fmt.Errorf("resources[%d]: %w", i, err)
		}
	}
	if err := c.Token.Validate(); err != nil {
		return fmt.Errorf("token.%w", err)
	}
	switch {
	case c.RefreshTokenLifetime < time.Minute || c.RefreshTokenLifetime > 90*24*time.Hour:
		return errors.New("refresh_token_lifetime: must be between 1m and 2160h")
	case c.AuthCodeLifetime < 10*time.Second || c.AuthCodeLifetime > 10*time.Minute:
		return errors.New("auth_code_lifetime: must be between 10s and 10m")
	}
	if err := c.DPoP.Validate(); err != nil {
		return fmt.Errorf("dpop.%w", err)
	}
	if err := c.CIMD.Validate(); err != nil {
		return fmt.Errorf("cimd.%w", err)
	}
	for i := range c.Clients {
		if err := c.Clients[i].validate(c.Scopes, c.Clients[:i]); err != nil {
			return fmt.Errorf("clients[%d]%w", i, err)
		}
	}
	pages := c.Pages // a copy: Validate does not mutate c
	pages.Issuer = c.Issuer
	if err := pages.Validate(); err != nil {
		return fmt.Errorf("pages.%w", err)
	}
	return nil
}

func checkIssuer(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("required")
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())):
		return errors.New("must be an https URL (http only on a loopback host)")
	case u.Host == "" || u.Opaque != "" || u.User != nil:
		return errors.New("must be an absolute URL with a host and no user info")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "":
		return errors.New("must not have a query or fragment")
	case strings.HasSuffix(u.Path, "/"):
		return errors.New("must not end with a slash")
	}
	return nil
}

// checkResource checks an RFC 8707 resource indicator: an absolute URI
// without a fragment.
func checkResource(u *url.URL) error {
	switch {
	case u == nil || !u.IsAbs():
		return errors.New("must be an absolute URI")
	case u.Fragment != "" || u.RawFragment != "":
		return errors.New("must not have a fragment")
	case len(u.String()) > maxURILen:
		return fmt.Errorf("longer than %d bytes", maxURILen)
	}
	return nil
}

// isScopeToken reports whether s is an RFC 6749 §3.3 scope token.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validate checks a static client; errors start with ".key: " or ": ",
// for the caller to put the client's key path in front.
func (sc *StaticClient) validate(scopes []string, before []StaticClient) error {
	switch {
	case sc.ID == "" || len(sc.ID) > 256:
		return errors.New(".client_id: must be 1 to 256 bytes")
	case IsClientIDURL(sc.ID):
		return errors.New(".client_id: must not be an https URL (those name metadata documents)")
	case slices.ContainsFunc(before, func(o StaticClient) bool { return o.ID == sc.ID }):
		return fmt.Errorf(".client_id: %q is listed twice", sc.ID)
	}
	if err := sc.Secret.Validate(); err != nil {
		return fmt.Errorf(".secret.%w", err)
	}
	c := sc.client()
	if err := c.validate(scopes); err != nil {
		var me *MetadataError
		if errors.As(err, &me) {
			return errors.New(": " + me.Description)
		}
		return fmt.Errorf(": %w", err)
	}
	switch hasSecret := !sc.Secret.IsZero(); c.TokenEndpointAuthMethod {
	case AuthClientSecretBasic, AuthClientSecretPost:
		if !hasSecret {
			return fmt.Errorf(".secret: required for %s", c.TokenEndpointAuthMethod)
		}
	default:
		if hasSecret {
			return fmt.Errorf(".secret: not used with %s", c.TokenEndpointAuthMethod)
		}
	}
	return nil
}

// client returns the static client without its secret, defaults filled
// as for registration.
func (sc *StaticClient) client() *Client {
	c := &Client{
		ID: sc.ID, RedirectURIs: sc.RedirectURIs, GrantTypes: sc.GrantTypes, Scope: sc.Scope,
		TokenEndpointAuthMethod: sc.TokenEndpointAuthMethod, ApplicationType: "web",
		ClientName: sc.ClientName, DPoPBoundAccessTokens: sc.DPoPBoundAccessTokens, Source: SourceStatic,
	}
	if sc.JWKS != "" {
		c.JWKS = []byte(sc.JWKS)
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode}
	}
	if c.HasGrant(GrantAuthorizationCode) {
		c.ResponseTypes = []string{"code"}
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthClientSecretBasic
	}
	return c
}

// AuditEvent is one security-relevant outcome of the authorization server.
// It never carries a token, secret or assertion.
type AuditEvent struct {
	// Type is "oauth".
	Type string
	// Action is one of the Action* constants.
	Action string
	// ClientID is the client concerned; for a denial before the client was
	// authenticated, the client ID the request claimed.
	ClientID string
	// Subject is the resource owner (the client itself for client
	// credentials), when known.
	Subject string
	// Decision is "allow" or "deny".
	Decision string
	// Reason says why, in words or as an OAuth error code and description.
	Reason string
}

// The actions of audit events.
const (
	ActionTokenIssued      = "token.issued"
	ActionTokenRefreshed   = "token.refreshed"
	ActionTokenRevoked     = "token.revoked"
	ActionTokenDenied      = "token.denied"
	ActionClientRegistered = "client.registered"
	ActionRegisterDenied   = "client.register_denied"
	// ActionConsentGiven: a user approved a client on the consent page.
	ActionConsentGiven = "consent.given"
	// ActionConsentDenied: a user denied a client on the consent page.
	ActionConsentDenied = "consent.denied"
	// ActionCodeIssued: the authorization endpoint issued a code.
	ActionCodeIssued = "code.issued"
	// ActionLoginFailed: a login at the authorization endpoint failed; the
	// reason names the username tried, never whether it exists.
	ActionLoginFailed = "login.failed"
)

// Decisions of audit events.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// Auditor records audit events. Record is called on the request's
// goroutine before the response is written; it must be safe for
// concurrent use and handle its own failures.
type Auditor interface {
	Record(ctx context.Context, e AuditEvent)
}

// Deps are the services a [Server] uses.
type Deps struct {
	// Store keeps clients, grants and records.
	Store Store
	// Replay remembers DPoP proofs and client assertions already used, on
	// every node.
	Replay dpop.ReplayStore
	// Keys keeps the access token signing keys.
	Keys token.KeyStore
	// Secret is at least 32 random bytes shared by every node; separate
	// keys for codes and refresh tokens, DPoP nonces and client secret
	// hashes are derived from it.
	Secret []byte
	// Auditor records outcomes; nil records nothing.
	Auditor Auditor
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Getenv resolves static client secrets given as environment
	// variables; nil means os.Getenv.
	Getenv func(string) string
	// RootCAs verifies the servers of metadata documents; nil means the
	// system's roots.
	RootCAs *x509.CertPool
	// Users are the accounts that log in at the authorization endpoint.
	// nil serves no authorization endpoint: [Server.AuthorizeHandler]
	// panics, and the metadata names neither the endpoint nor its grants.
	Users *Users
}

// Server is the authorization server on fosite: the authorization endpoint
// with its login and consent pages, and the token, registration,
// introspection, revocation, JWKS and metadata endpoints. The broker
// mounts its handlers under the issuer's URL, refreshes its
// [token.KeySet] and [RevocationList] on a timer, and builds the
// resources' guards from [Server.Validator] and [Server.DPoP].
//
// # Security
//
//   - fosite's defaults that do not fit are replaced: access tokens are
//     RFC 9068 JWTs from broker/token (typ at+jwt, cnf.jkt, RFC 8707 aud)
//     rather than fosite's JWTs; token_type is DPoP for bound tokens;
//     scopes match exactly; PKCE S256 is required of every client and
//     plain refused; private_key_jwt is verified here (aud may be the
//     issuer or the token endpoint, keys without "use" count, EdDSA
//     works, jti is single-use per client on every node); client secrets
//     are compared as HMAC-SHA-256 under a server key, not bcrypt.
//   - The authorization endpoint matches redirect URIs exactly (no loopback
//     port leeway), checks PKCE, resource and dpop_jkt before any page is
//     shown, sends iss (RFC 9207) with every response it redirects, and
//     shows an error page instead of redirecting until the client and its
//     redirect URI are established.
//   - Refresh tokens rotate on every use; presenting a used one revokes
//     its family, refresh and access tokens, as does a concurrent second
//     use. Refresh tokens of public clients are bound to the DPoP key they
//     were issued with.
//   - Access tokens are not stored; revoking one lists its jti until it
//     expires, and every validator made by this server consults the list.
//   - Responses and logs never contain secrets, tokens or assertions;
//     error descriptions name at most the client's own parameters.
//   - Each endpoint reads at most [MaxBodyBytes] of body; the token,
//     introspection and revocation endpoints take form bodies only, and
//     parameters (but resource) at most once.
type Server struct {
	cfg      Config
	issuer   string
	tokenURL *url.URL
	// allowedResources are the audiences a token may have; the first is
	// the default.
	allowedResources []string
	// authorizeEndpoint is the authorization endpoint's URL when one is
	// served (Deps.Users is set); otherwise metadata names neither it nor
	// its grants.
	authorizeEndpoint string
	// pages are the login and consent pages, nil without Deps.Users.
	pages *Pages

	provider  *fosite.Fosite
	store     *grantStore
	clients   *clientRegistry
	hasher    *SecretHasher
	keys      *token.KeySet
	validator *token.Validator
	revoked   *RevocationList
	proofs    *dpop.Verifier
	refresh   oauth2.RefreshTokenStrategy

	auditor Auditor
	logger  *slog.Logger
	now     func() time.Time
}

// Labels of the keys derived from Deps.Secret.
const (
	labelGlobal = "subzero oauth2 codes and refresh tokens v1"
	labelNonce  = "subzero dpop nonces v1"
	labelClient = "subzero client secret hashes v1"
	labelPages  = "subzero login and consent pages v1"
)

// MinSecretBytes is the shortest Deps.Secret accepted.
const MinSecretBytes = 32

// deriveKey derives the 32-byte key of label from secret (HKDF-SHA-256).
func deriveKey(secret []byte, label string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, label, 32)
	if err != nil {
		panic(err) // only for lengths beyond 255*32
	}
	return k
}

// NewServer builds the server: it loads (or creates) the signing keys,
// hashes the static clients' secrets and composes fosite with the
// strategies and storage of this package.
func NewServer(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	switch {
	case deps.Store == nil:
		return nil, errors.New("oauth: store is nil")
	case deps.Replay == nil:
		return nil, errors.New("oauth: replay store is nil")
	case deps.Keys == nil:
		return nil, errors.New("oauth: key store is nil")
	case len(deps.Secret) < MinSecretBytes:
		return nil, fmt.Errorf("oauth: server secret must be at least %d bytes", MinSecretBytes)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Auditor == nil {
		deps.Auditor = nopAuditor{}
	}
	if deps.Getenv == nil {
		deps.Getenv = os.Getenv
	}
	ctx := context.Background()

	s := &Server{
		cfg: cfg, issuer: cfg.Issuer.String(),
		auditor: deps.Auditor, logger: deps.Logger, now: deps.Now,
	}
	s.tokenURL = s.endpoint(pathToken)
	if cfg.DefaultResource != nil {
		s.allowedResources = append(s.allowedResources, cfg.DefaultResource.String())
	} else {
		s.allowedResources = append(s.allowedResources, s.issuer+"/mcp")
	}
	for _, r := range cfg.Resources {
		if !slices.Contains(s.allowedResources, r.String()) {
			s.allowedResources = append(s.allowedResources, r.String())
		}
	}

	var err error
	if s.hasher, err = NewSecretHasher(deriveKey(deps.Secret, labelClient)); err != nil {
		return nil, err
	}
	if s.keys, err = token.NewKeySet(ctx, cfg.Token, deps.Keys, deps.Now); err != nil {
		return nil, fmt.Errorf("oauth: signing keys: %w", err)
	}
	s.revoked = NewRevocationList(deps.Store, cfg.Token.Leeway, deps.Now)
	if err := s.revoked.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("oauth: revocations: %w", err)
	}
	issuer, err := token.NewIssuer(cfg.Token, s.issuer, s.keys)
	if err != nil {
		return nil, err
	}
	if s.validator, err = token.NewValidator(cfg.Token, s.issuer, s.keys, s.revoked); err != nil {
		return nil, err
	}
	if s.proofs, err = dpop.New(cfg.DPoP, deriveKey(deps.Secret, labelNonce), deps.Replay, deps.Now); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}

	static := map[string]*Client{}
	for i := range cfg.Clients {
		c, err := s.staticClient(&cfg.Clients[i], deps.Getenv)
		if err != nil {
			return nil, fmt.Errorf("oauth: clients[%d]: %w", i, err)
		}
		static[c.ID] = c
	}
	var cimd *CIMDFetcher
	if cfg.CIMD.Enabled {
		if cimd, err = NewCIMDFetcher(cfg.CIMD, deps.RootCAs); err != nil {
			return nil, err
		}
	}
	s.clients = newClientRegistry(static, deps.Store, cimd, cfg.Scopes)
	if deps.Users != nil {
		pc := cfg.Pages
		pc.Issuer = cfg.Issuer
		if s.pages, err = NewPages(pc, deps.Users, NewConsents(deps.Store, deps.Now), deriveKey(deps.Secret, labelPages), deps.Now); err != nil {
			return nil, err
		}
		s.pages.loginFailed = s.auditLoginFailed
		for _, u := range cfg.Users {
			if err := deps.Users.Ensure(context.Background(), u.Name, u.PasswordHash); err != nil {
				return nil, fmt.Errorf("oauth: users: %w", err)
			}
		}
		s.authorizeEndpoint = s.endpoint(pathAuthorize).String()
	}
	s.store = &grantStore{
		fositeStore: &fositeStore{s: deps.Store, clients: s.clients, replay: deps.Replay},
		revoked:     s.revoked,
		leeway:      cfg.Token.Leeway,
	}

	codes := newHMACStrategy(deriveKey(deps.Secret, labelGlobal), cfg)
	s.refresh = codes
	strategy := &coreStrategy{
		AccessTokenStrategy:   &accessStrategy{issuer: issuer, validator: s.validator, lifetime: cfg.Token.AccessTokenLifetime, now: deps.Now},
		RefreshTokenStrategy:  codes,
		AuthorizeCodeStrategy: codes,
	}

	fcfg := &fosite.Config{
		AccessTokenLifespan:            cfg.Token.AccessTokenLifetime,
		RefreshTokenLifespan:           cfg.RefreshTokenLifetime,
		AuthorizeCodeLifespan:          cfg.AuthCodeLifetime,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy, // set here: fosite's getter would set it lazily, racing
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		TokenURL:                       s.tokenURL.String(),
		AccessTokenIssuer:              s.issuer,
		IDTokenIssuer:                  s.issuer,
		GlobalSecret:                   deriveKey(deps.Secret, labelGlobal),
		ClientSecretsHasher:            fositeHasher{s.hasher},
		RefreshTokenScopes:             []string{}, // every code exchange of a client with the refresh_token grant gets one
		SendDebugMessagesToClients:     false,
		// https or loopback http only, as registration allows; the
		// endpoint also requires an exact match (see registeredRedirect).
		RedirectSecureChecker: fosite.IsRedirectURISecureStrict,
		// state is optional (OAuth 2.1 §4.1.1; PKCE, required here, is the
		// CSRF defence) and opaque: any length is returned as sent. fosite
		// insists on one; see fositeAuthorizeRequest.
		MinParameterEntropy: 1,
	}
	s.provider = compose.Compose(fcfg, s.store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2PKCEFactory,
	).(*fosite.Fosite)
	fcfg.ClientAuthenticationStrategy = s.authenticateClient
	return s, nil
}

// Interface guards for every fosite storage and strategy interface the
// composed handlers use.
var (
	_ fosite.Storage                = (*grantStore)(nil)
	_ fosite.ClientManager          = (*grantStore)(nil)
	_ oauth2.CoreStorage            = (*grantStore)(nil)
	_ oauth2.TokenRevocationStorage = (*grantStore)(nil)
	_ pkce.PKCERequestStorage       = (*grantStore)(nil)
	_ oauth2.CoreStrategy           = (*coreStrategy)(nil)
)

// staticClient builds a configured client, hashing its secret.
func (s *Server) staticClient(sc *StaticClient, getenv func(string) string) (*Client, error) {
	c := sc.client()
	if !sc.Secret.IsZero() {
		v, err := sc.Secret.Resolve(getenv)
		if err != nil {
			return nil, err
		}
		if len(v) < MinStaticSecretBytes {
			return nil, fmt.Errorf("secret: %s holds %d bytes, want at least %d", sc.Secret, len(v), MinStaticSecretBytes)
		}
		c.SecretHash = s.hasher.Hash(v)
	}
	return c, nil
}

// Keys returns the signing keys, for the broker's refresh timer, key
// rotation and the resources' validators.
func (s *Server) Keys() *token.KeySet { return s.keys }

// Validator returns the validator of the tokens this server issues, which
// also consults its revocations.
func (s *Server) Validator() *token.Validator { return s.validator }

// Revocations returns the list of revoked access tokens, which the broker
// refreshes on a timer and on change notifications.
func (s *Server) Revocations() *RevocationList { return s.revoked }

// DPoP returns the proof verifier, whose nonces every endpoint of this
// node shares.
func (s *Server) DPoP() *dpop.Verifier { return s.proofs }

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.issuer }

// Endpoint paths under the issuer.
const (
	pathAuthorize  = "/oauth2/authorize"
	pathToken      = "/oauth2/token"
	pathRegister   = "/oauth2/register"
	pathIntrospect = "/oauth2/introspect"
	pathRevoke     = "/oauth2/revoke"
	pathJWKS       = "/oauth2/jwks"
)

func (s *Server) endpoint(path string) *url.URL {
	u := *s.cfg.Issuer
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	return &u
}

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, AuditEvent) {}

// fositeHasher adapts a SecretHasher to fosite.
type fositeHasher struct{ h *SecretHasher }

var errSecretMismatch = errors.New("oauth: client secret does not match")

func (f fositeHasher) Compare(_ context.Context, hash, data []byte) error {
	if f.h.Check(string(data), hash) {
		return nil
	}
	return errSecretMismatch
}

func (f fositeHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return f.h.Hash(string(data)), nil
}
