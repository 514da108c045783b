package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
)

// registration is the RFC 7591 §3.2.1 response: the client's metadata
// with its ID and, for a confidential client, its secret, shown once.
type registration struct {
	ClientID                string          `json:"client_id"`
	ClientIDIssuedAt        int64           `json:"client_id_issued_at"`
	ClientSecret            string          `json:"client_secret,omitempty"`
	ClientSecretExpiresAt   *int64          `json:"client_secret_expires_at,omitempty"`
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
}

// newClientID returns a fresh client ID: 128 random bits, base64url.
func newClientID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// RegisterHandler serves POST /oauth2/register, RFC 7591 dynamic client
// registration, open to anyone when enabled (404 otherwise). The metadata
// is validated by [ParseMetadata]; the server picks the client ID, and for
// client_secret_basic and client_secret_post a 256-bit secret, returned
// once and stored as its keyed hash. Errors are 400 with
// invalid_client_metadata or invalid_redirect_uri.
func (s *Server) RegisterHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if !s.cfg.Registration.Enabled {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "invalid_request", "error_description": "Dynamic client registration is disabled."})
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "The request method is not allowed."})
			return
		}
		c, err := s.readRegistration(w, r)
		if err != nil {
			var me *MetadataError
			if !errors.As(err, &me) {
				me = &MetadataError{Code: "invalid_client_metadata", Description: err.Error()}
			}
			s.auditor.Record(ctx, AuditEvent{Type: "oauth", Action: ActionRegisterDenied, Decision: DecisionDeny, Reason: me.Code + ": " + me.Description})
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": me.Code, "error_description": me.Description})
			return
		}
		c.ID, c.Source, c.IssuedAt = newClientID(), SourceDynamic, s.now().Unix()
		var sec string
		if c.TokenEndpointAuthMethod == AuthClientSecretBasic || c.TokenEndpointAuthMethod == AuthClientSecretPost {
			sec, c.SecretHash = s.hasher.NewSecret()
		}
		data, err := json.Marshal(c)
		if err == nil {
			err = s.clients.store.CreateClient(ctx, c.ID, data)
		}
		if err != nil {
			s.logger.ErrorContext(ctx, "oauth: store registered client", "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			return
		}
		out := registration{
			ClientID: c.ID, ClientIDIssuedAt: c.IssuedAt, ClientSecret: sec,
			RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes,
			Scope: c.Scope, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, JWKS: c.JWKS,
			ApplicationType: c.ApplicationType, ClientName: c.ClientName, ClientURI: c.ClientURI,
			LogoURI: c.LogoURI, DPoPBoundAccessTokens: c.DPoPBoundAccessTokens,
		}
		if sec != "" {
			var never int64
			out.ClientSecretExpiresAt = &never
		}
		s.auditor.Record(ctx, AuditEvent{Type: "oauth", Action: ActionClientRegistered, ClientID: c.ID, Decision: DecisionAllow, Reason: "dynamic registration, " + c.TokenEndpointAuthMethod})
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, http.StatusCreated, out)
	})
}

// readRegistration reads and validates a registration request.
func (s *Server) readRegistration(w http.ResponseWriter, r *http.Request) (*Client, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, invalidMetadata("the body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return nil, invalidMetadata("the body is unreadable or larger than %d bytes", MaxBodyBytes)
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) == nil {
		for _, m := range []string{"client_id", "client_secret", "client_id_issued_at", "client_secret_expires_at", "secret_hash", "source"} {
			if _, ok := members[m]; ok {
				return nil, invalidMetadata("%s is set by the server", m)
			}
		}
	}
	return ParseMetadata(body, s.cfg.Scopes)
}
