package oauth

import (
	"context"
	"net/http"
	"time"
)

// Test-only access for the external tests (package oauth_test), which
// may import the store backends that import this package.

type FositeStore = fositeStore

func NewFositeStore(s Store, clients ClientResolver, replay interface {
	Once(ctx context.Context, key string, until time.Time) (bool, error)
}) *FositeStore {
	return &fositeStore{s: s, clients: clients, replay: replay}
}

func WarmDummyHash(u *Users) { u.dummy() }

// AuthorizeForTest drives fosite's authorization endpoint in process,
// without the login and consent pages or the checks the real endpoint
// ([Server.AuthorizeHandler]) adds (exact redirect URIs, resource,
// dpop_jkt): the request's query is parsed and checked by fosite (client,
// redirect URI, PKCE S256, scopes), every requested scope is granted, and
// the code issued for sess is returned. Tests of the token side use it to
// get codes with sessions of their choosing.
func AuthorizeForTest(s *Server, r *http.Request, sess *Session) (string, error) {
	ctx := r.Context()
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		return "", err
	}
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		return "", err
	}
	return resp.GetCode(), nil
}
