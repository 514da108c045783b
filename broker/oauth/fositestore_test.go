package oauth_test

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/subzero-gateway/subzero/broker/oauth"
)

func newFositeStore(t *testing.T) (*oauth.FositeStore, oauth.Store) {
	s, db := testStore(t)
	clients := &staticClients{m: map[string]*oauth.Client{
		"agent": {ID: "agent", TokenEndpointAuthMethod: oauth.AuthNone, GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}, ResponseTypes: []string{"code"}, RedirectURIs: []string{"http://127.0.0.1:9/cb"}},
	}}
	return oauth.NewFositeStore(s, clients, db.Replay()), s
}

func testRequest(t *testing.T, f *oauth.FositeStore, id string) *fosite.Request {
	c, err := f.GetClient(t.Context(), "agent")
	if err != nil {
		t.Fatal(err)
	}
	sess := &oauth.Session{Subject: "user-1", JKT: "thumb"}
	exp := time.Now().Add(time.Minute)
	for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
		sess.SetExpiresAt(tt, exp)
	}
	return &fosite.Request{
		ID: id, RequestedAt: time.Now().UTC().Truncate(time.Second), Client: c, Session: sess,
		RequestedScope: fosite.Arguments{"mcp:tools"}, GrantedScope: fosite.Arguments{"mcp:tools"},
		Form: url.Values{"redirect_uri": {"http://127.0.0.1:9/cb"}, "code_verifier": {"secret-verifier"}, "client_secret": {"s3cret"}},
	}
}

func TestFositeStoreCodes(t *testing.T) {
	f, s := newFositeStore(t)
	ctx := t.Context()
	req := testRequest(t, f, "req-1")
	if err := f.CreateAuthorizeCodeSession(ctx, "code-sig", req); err != nil {
		t.Fatal(err)
	}
	got, err := f.GetAuthorizeCodeSession(ctx, "code-sig", &oauth.Session{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetID() != "req-1" || got.GetClient().GetID() != "agent" || got.GetSession().GetSubject() != "user-1" ||
		got.GetSession().(*oauth.Session).JKT != "thumb" || !got.GetGrantedScopes().Has("mcp:tools") {
		t.Errorf("round trip lost data: %+v", got)
	}
	g, _ := s.GetGrant(ctx, oauth.KindCode, "code-sig")
	if strings.Contains(string(g.Data), "secret-verifier") || strings.Contains(string(g.Data), "s3cret") {
		t.Errorf("a secret request parameter was stored: %s", g.Data)
	}
	if err := f.InvalidateAuthorizeCodeSession(ctx, "code-sig"); err != nil {
		t.Fatal(err)
	}
	if err := f.InvalidateAuthorizeCodeSession(ctx, "code-sig"); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("second invalidation = %v, want ErrInvalidatedAuthorizeCode", err)
	}
	got, err = f.GetAuthorizeCodeSession(ctx, "code-sig", &oauth.Session{})
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || got == nil || got.GetID() != "req-1" {
		t.Errorf("used code: %v, %v; want the request with ErrInvalidatedAuthorizeCode (fosite revokes its tokens)", got, err)
	}
	if _, err := f.GetAuthorizeCodeSession(ctx, "nope", &oauth.Session{}); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("unknown code = %v, want ErrNotFound", err)
	}
}

func TestFositeStoreConcurrentCodeRedemption(t *testing.T) {
	f, _ := newFositeStore(t)
	if err := f.CreateAuthorizeCodeSession(t.Context(), "code", testRequest(t, f, "r")); err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if f.InvalidateAuthorizeCodeSession(t.Context(), "code") == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d redemptions of one code succeeded, want 1", ok.Load())
	}
}

func TestFositeStoreRefreshRotation(t *testing.T) {
	f, _ := newFositeStore(t)
	ctx := t.Context()
	req := testRequest(t, f, "family-1")
	other := testRequest(t, f, "family-2")
	for sig, r := range map[string]*fosite.Request{"at-1": req, "at-other": other} {
		if err := f.CreateAccessTokenSession(ctx, sig, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.CreateRefreshTokenSession(ctx, "rt-1", "at-1", req); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetRefreshTokenSession(ctx, "rt-1", &oauth.Session{}); err != nil {
		t.Fatal(err)
	}
	if err := f.RotateRefreshToken(ctx, "family-1", "rt-1"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.GetRefreshTokenSession(ctx, "rt-1", &oauth.Session{}); !errors.Is(err, fosite.ErrInactiveToken) || got == nil {
		t.Errorf("rotated refresh token = %v, %v; want the request with ErrInactiveToken (reuse detection)", got, err)
	}
	if _, err := f.GetAccessTokenSession(ctx, "at-1", &oauth.Session{}); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("access token of a rotated family = %v, want ErrInactiveToken", err)
	}
	if _, err := f.GetAccessTokenSession(ctx, "at-other", &oauth.Session{}); err != nil {
		t.Errorf("another family's access token was revoked: %v", err)
	}
	if err := f.RotateRefreshToken(ctx, "family-1", "rt-1"); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("second rotation of one refresh token = %v, want ErrInactiveToken", err)
	}
	if err := f.RevokeRefreshToken(ctx, "family-2"); err != nil {
		t.Fatal(err)
	}
	if err := f.RevokeAccessToken(ctx, "family-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetAccessTokenSession(ctx, "at-other", &oauth.Session{}); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("revoked access token = %v, want ErrInactiveToken", err)
	}
}

func TestFositeStoreClientAssertionOnce(t *testing.T) {
	f, _ := newFositeStore(t)
	exp := time.Now().Add(time.Minute)
	if err := f.SetClientAssertionJWT(t.Context(), "jti-1", exp); err != nil {
		t.Fatal(err)
	}
	if err := f.SetClientAssertionJWT(t.Context(), "jti-1", exp); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Errorf("replayed client assertion = %v, want ErrJTIKnown", err)
	}
	if _, err := f.GetClient(t.Context(), "unknown"); !errors.Is(err, fosite.ErrInvalidClient) {
		t.Errorf("unknown client = %v, want ErrInvalidClient", err)
	}
}
