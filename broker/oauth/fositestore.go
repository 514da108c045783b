package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
)

// Session is what the server keeps about one authorization: who granted
// it, when, and the DPoP key its tokens are bound to. It implements
// fosite.Session and is stored as JSON inside each grant record.
type Session struct {
	Subject   string                         `json:"sub"`
	Username  string                         `json:"username,omitempty"`
	AuthTime  time.Time                      `json:"auth_time,omitzero"`
	JKT       string                         `json:"jkt,omitempty"`      // RFC 7638 thumbprint of the DPoP key
	Resources []string                       `json:"resource,omitempty"` // RFC 8707 resources granted
	ExpiresAt map[fosite.TokenType]time.Time `json:"exp,omitempty"`
	// Audience is the aud of the access token being issued, when narrower
	// than Resources (a token request's resource parameter); not stored.
	Audience []string `json:"-"`
}

var _ fosite.Session = (*Session)(nil)

// SetExpiresAt implements fosite.Session.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = map[fosite.TokenType]time.Time{}
	}
	s.ExpiresAt[key] = exp
}

// GetExpiresAt implements fosite.Session.
func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time { return s.ExpiresAt[key] }

// GetUsername implements fosite.Session.
func (s *Session) GetUsername() string { return s.Username }

// GetSubject implements fosite.Session.
func (s *Session) GetSubject() string { return s.Subject }

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	c := *s
	c.Resources = append([]string(nil), s.Resources...)
	c.Audience = append([]string(nil), s.Audience...)
	if s.ExpiresAt != nil {
		c.ExpiresAt = make(map[fosite.TokenType]time.Time, len(s.ExpiresAt))
		for k, v := range s.ExpiresAt {
			c.ExpiresAt[k] = v
		}
	}
	return &c
}

// fositeClient adapts a Client to fosite.
type fositeClient struct{ c *Client }

var (
	_ fosite.Client              = fositeClient{}
	_ fosite.OpenIDConnectClient = fositeClient{}
)

func (f fositeClient) GetID() string                   { return f.c.ID }
func (f fositeClient) GetHashedSecret() []byte         { return f.c.SecretHash }
func (f fositeClient) GetRedirectURIs() []string       { return f.c.RedirectURIs }
func (f fositeClient) GetGrantTypes() fosite.Arguments { return f.c.GrantTypes }
func (f fositeClient) GetResponseTypes() fosite.Arguments {
	return f.c.ResponseTypes
}
func (f fositeClient) GetScopes() fosite.Arguments                  { return strings.Fields(f.c.Scope) }
func (f fositeClient) IsPublic() bool                               { return f.c.Public() }
func (f fositeClient) GetAudience() fosite.Arguments                { return nil }
func (f fositeClient) GetRequestURIs() []string                     { return nil }
func (f fositeClient) GetJSONWebKeysURI() string                    { return "" }
func (f fositeClient) GetRequestObjectSigningAlgorithm() string     { return "" }
func (f fositeClient) GetTokenEndpointAuthMethod() string           { return f.c.TokenEndpointAuthMethod }
func (f fositeClient) GetTokenEndpointAuthSigningAlgorithm() string { return "" }

// GetJSONWebKeys returns the client's registered keys for private_key_jwt.
func (f fositeClient) GetJSONWebKeys() *jose.JSONWebKeySet {
	if len(f.c.JWKS) == 0 {
		return nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(f.c.JWKS, &set); err != nil {
		return nil
	}
	return &set
}

// storedRequest is the JSON form of a fosite request inside a grant.
type storedRequest struct {
	ID              string     `json:"id"`
	RequestedAt     time.Time  `json:"requested_at"`
	ClientID        string     `json:"client_id"`
	Scopes          []string   `json:"scopes,omitempty"`
	GrantedScopes   []string   `json:"granted_scopes,omitempty"`
	Audience        []string   `json:"audience,omitempty"`
	GrantedAudience []string   `json:"granted_audience,omitempty"`
	Form            url.Values `json:"form,omitempty"`
	Session         *Session   `json:"session"`
}

// formKept lists the request parameters a stored grant keeps; fosite needs
// them when the grant is used (PKCE, redirect URI checks). Secrets such as
// client_secret, code_verifier or assertions are never stored.
var formKept = []string{"redirect_uri", "code_challenge", "code_challenge_method", "resource", "scope", "state", "grant_type", "response_type", "client_id", "audience"}

// ClientResolver resolves client IDs: registered ones from the store, URL
// ones through Client ID Metadata Documents.
type ClientResolver interface {
	Client(ctx context.Context, id string) (*Client, error)
}

// fositeStore implements every fosite storage interface the server uses
// on top of a [Store].
type fositeStore struct {
	s       Store
	clients ClientResolver
	replay  interface {
		Once(ctx context.Context, key string, until time.Time) (bool, error)
	}
}

var (
	_ fosite.ClientManager          = (*fositeStore)(nil)
	_ oauth2.CoreStorage            = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage       = (*fositeStore)(nil)
)

// GetClient implements fosite.ClientManager.
func (f *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := f.clients.Client(ctx, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCIMD) {
		return nil, fosite.ErrInvalidClient.WithHint("Unknown client or client metadata document.").WithWrap(err)
	}
	if err != nil {
		return nil, err
	}
	return fositeClient{c}, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager. The check and
// the marking happen together in SetClientAssertionJWT, atomically; this
// only reports a jti already marked.
func (f *fositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager: a jti is
// accepted once until exp, on every node. The replay key holds the
// SHA-256 of jti, so that any jti fits the replay store's keys.
func (f *fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	sum := sha256.Sum256([]byte(jti))
	first, err := f.replay.Once(ctx, "client_assertion:"+base64.RawURLEncoding.EncodeToString(sum[:]), exp)
	if err != nil {
		return err
	}
	if !first {
		return fosite.ErrJTIKnown
	}
	return nil
}

func (f *fositeStore) put(ctx context.Context, kind Kind, sig string, req fosite.Requester, exp time.Time) error {
	sess, ok := req.GetSession().(*Session)
	if !ok {
		return fmt.Errorf("oauth: session of type %T", req.GetSession())
	}
	form := url.Values{}
	for _, k := range formKept {
		if v, ok := req.GetRequestForm()[k]; ok {
			form[k] = v
		}
	}
	data, err := json.Marshal(storedRequest{
		ID: req.GetID(), RequestedAt: req.GetRequestedAt(), ClientID: req.GetClient().GetID(),
		Scopes: req.GetRequestedScopes(), GrantedScopes: req.GetGrantedScopes(),
		Audience: req.GetRequestedAudience(), GrantedAudience: req.GetGrantedAudience(),
		Form: form, Session: sess,
	})
	if err != nil {
		return err
	}
	if exp.IsZero() {
		exp = time.Now().Add(24 * time.Hour)
	}
	return f.s.PutGrant(ctx, kind, sig, Grant{RequestID: req.GetID(), Data: data, Active: true, Expires: exp})
}

// load decodes a grant into a fosite request, resolving its client.
func (f *fositeStore) load(ctx context.Context, g Grant) (fosite.Requester, error) {
	var sr storedRequest
	if err := json.Unmarshal(g.Data, &sr); err != nil {
		return nil, fmt.Errorf("oauth: stored grant: %w", err)
	}
	c, err := f.GetClient(ctx, sr.ClientID)
	if err != nil {
		return nil, err
	}
	if sr.Session == nil {
		sr.Session = &Session{}
	}
	return &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: c,
		RequestedScope: sr.Scopes, GrantedScope: sr.GrantedScopes,
		RequestedAudience: sr.Audience, GrantedAudience: sr.GrantedAudience,
		Form: sr.Form, Session: sr.Session,
	}, nil
}

func (f *fositeStore) get(ctx context.Context, kind Kind, sig string, inactive error) (fosite.Requester, error) {
	g, err := f.s.GetGrant(ctx, kind, sig)
	if errors.Is(err, ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	req, err := f.load(ctx, g)
	if err != nil {
		return nil, err
	}
	if !g.Active {
		return req, inactive
	}
	return req, nil
}

func (f *fositeStore) del(ctx context.Context, kind Kind, sig string) error {
	return f.s.DeleteGrant(ctx, kind, sig)
}

func expiry(req fosite.Requester, tt fosite.TokenType) time.Time {
	return req.GetSession().GetExpiresAt(tt)
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (f *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return f.put(ctx, KindCode, code, req, expiry(req, fosite.AuthorizeCode))
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (f *fositeStore) GetAuthorizeCodeSession(ctx context.Context, code string, _ fosite.Session) (fosite.Requester, error) {
	return f.get(ctx, KindCode, code, fosite.ErrInvalidatedAuthorizeCode)
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
// It is atomic: of two requests redeeming one code, one gets
// ErrInvalidatedAuthorizeCode, and fosite then revokes what the code
// issued.
func (f *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	_, err := f.s.Deactivate(ctx, KindCode, code)
	switch {
	case errors.Is(err, ErrInactive):
		return fosite.ErrInvalidatedAuthorizeCode
	case errors.Is(err, ErrNotFound):
		return fosite.ErrNotFound
	}
	return err
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (f *fositeStore) CreatePKCERequestSession(ctx context.Context, sig string, req fosite.Requester) error {
	return f.put(ctx, KindPKCE, sig, req, expiry(req, fosite.AuthorizeCode))
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (f *fositeStore) GetPKCERequestSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return f.get(ctx, KindPKCE, sig, fosite.ErrNotFound)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (f *fositeStore) DeletePKCERequestSession(ctx context.Context, sig string) error {
	return f.del(ctx, KindPKCE, sig)
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (f *fositeStore) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	return f.put(ctx, KindAccess, sig, req, expiry(req, fosite.AccessToken))
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (f *fositeStore) GetAccessTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return f.get(ctx, KindAccess, sig, fosite.ErrInactiveToken)
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (f *fositeStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return f.del(ctx, KindAccess, sig)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (f *fositeStore) CreateRefreshTokenSession(ctx context.Context, sig, _ string, req fosite.Requester) error {
	return f.put(ctx, KindRefresh, sig, req, expiry(req, fosite.RefreshToken))
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. A used
// (rotated) refresh token reads as inactive, which fosite treats as reuse
// and answers by revoking the whole family.
func (f *fositeStore) GetRefreshTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return f.get(ctx, KindRefresh, sig, fosite.ErrInactiveToken)
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (f *fositeStore) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return f.del(ctx, KindRefresh, sig)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the presented
// refresh token becomes inactive (kept, so that its reuse is detected) and
// the family's access tokens are revoked. Of two concurrent refreshes with
// one token, exactly one succeeds.
func (f *fositeStore) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	// Absent counts as used: reuse detection deletes the token it saw
	// reused, and a request that read it before must not rotate it.
	if _, err := f.s.Deactivate(ctx, KindRefresh, sig); errors.Is(err, ErrInactive) || errors.Is(err, ErrNotFound) {
		return fosite.ErrInactiveToken
	} else if err != nil {
		return err
	}
	_, err := f.s.RevokeRequest(ctx, requestID, KindAccess)
	return err
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage.
func (f *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	_, err := f.s.RevokeRequest(ctx, requestID, KindRefresh)
	return err
}

// RevokeRefreshTokenMaybeGracePeriod implements fosite's optional grace
// period interface without a grace period: revocation is immediate.
func (f *fositeStore) RevokeRefreshTokenMaybeGracePeriod(ctx context.Context, requestID, _ string) error {
	return f.RevokeRefreshToken(ctx, requestID)
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage.
func (f *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	_, err := f.s.RevokeRequest(ctx, requestID, KindAccess)
	return err
}
