package oauth

import (
	"encoding/json"
	"net/http"
	"slices"
)

// Metadata is the RFC 8414 authorization server metadata this server
// serves. It names only endpoints and grants that are served.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported"`
}

// Metadata returns the server's metadata. Without an authorization
// endpoint (not yet served), it advertises neither that endpoint nor the
// grants and response types that need it.
func (s *Server) Metadata() Metadata {
	confidential := []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT}
	m := Metadata{
		Issuer:                            s.issuer,
		TokenEndpoint:                     s.tokenURL.String(),
		JWKSURI:                           s.endpoint(pathJWKS).String(),
		IntrospectionEndpoint:             s.endpoint(pathIntrospect).String(),
		RevocationEndpoint:                s.endpoint(pathRevoke).String(),
		ScopesSupported:                   slices.Clone(s.cfg.Scopes),
		GrantTypesSupported:               []string{GrantClientCredentials},
		TokenEndpointAuthMethodsSupported: append([]string{AuthNone}, confidential...),
		TokenEndpointAuthSigningAlgValuesSupported: slices.Clone(AssertionAlgs),
		IntrospectionEndpointAuthMethodsSupported:  confidential,
		RevocationEndpointAuthMethodsSupported:     append([]string{AuthNone}, confidential...),
		CodeChallengeMethodsSupported:              []string{"S256"},
		DPoPSigningAlgValuesSupported:              s.proofs.Algs(),
		ClientIDMetadataDocumentSupported:          s.cfg.CIMD.Enabled,
	}
	if s.cfg.Registration.Enabled {
		m.RegistrationEndpoint = s.endpoint(pathRegister).String()
	}
	if s.authorizeEndpoint != "" {
		m.AuthorizationEndpoint = s.authorizeEndpoint
		m.ResponseTypesSupported = []string{"code"}
		m.GrantTypesSupported = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}
		m.AuthorizationResponseISSParameterSupported = true
	}
	return m
}

// MetadataHandler serves the metadata at
// /.well-known/oauth-authorization-server (RFC 8414) and
// /.well-known/openid-configuration: the same document, the same issuer.
func (s *Server) MetadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		b, err := json.Marshal(s.Metadata())
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	})
}

// ProtectedResourceMetadata returns a handler of the RFC 9728 metadata of
// the protected resource whose identifier is resource (such as
// <issuer>/mcp), needing scopes, with this server as its authorization
// server; the resource mounts it at
// /.well-known/oauth-protected-resource<path>.
func (s *Server) ProtectedResourceMetadata(resource string, scopes []string) http.Handler {
	return s.ProtectedResourceMetadataDPoP(resource, scopes, s.cfg.DPoPRequired)
}

// ProtectedResourceMetadataDPoP is ProtectedResourceMetadata for a
// resource whose own policy may require DPoP-bound tokens when the
// authorization server does not.
func (s *Server) ProtectedResourceMetadataDPoP(resource string, scopes []string, dpopRequired bool) http.Handler {
	b, err := json.Marshal(struct {
		Resource                      string   `json:"resource"`
		AuthorizationServers          []string `json:"authorization_servers"`
		BearerMethodsSupported        []string `json:"bearer_methods_supported"`
		DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
		ScopesSupported               []string `json:"scopes_supported"`
		DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
	}{
		Resource:                      resource,
		AuthorizationServers:          []string{s.issuer},
		BearerMethodsSupported:        []string{"header"},
		DPoPSigningAlgValuesSupported: s.proofs.Algs(),
		ScopesSupported:               append([]string{}, scopes...),
		DPoPBoundAccessTokensRequired: dpopRequired || s.cfg.DPoPRequired,
	})
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	})
}
