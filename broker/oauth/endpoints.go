package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/broker/token"
)

// MaxBodyBytes bounds the request body of every endpoint.
const MaxBodyBytes = 64 << 10

// maxResources bounds the resource parameters of one request.
const maxResources = 8

// Errors this package adds to fosite's.
var (
	errInvalidTarget = &fosite.RFC6749Error{ErrorField: "invalid_target", DescriptionField: "The requested resource is invalid, unknown or not allowed.", CodeField: http.StatusBadRequest}
	errInvalidProof  = &fosite.RFC6749Error{ErrorField: dpop.CodeInvalidProof, DescriptionField: "The DPoP proof is invalid.", CodeField: http.StatusBadRequest}
	errMethod        = &fosite.RFC6749Error{ErrorField: "invalid_request", DescriptionField: "The request method is not allowed.", CodeField: http.StatusMethodNotAllowed}
	errBodyTooLarge  = &fosite.RFC6749Error{ErrorField: "invalid_request", DescriptionField: "The request body is too large.", CodeField: http.StatusRequestEntityTooLarge}
)

// servedGrants are the grant types the token endpoint serves.
var servedGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}

// TokenHandler serves POST /oauth2/token (RFC 6749 §3.2, OAuth 2.1) for
// the authorization_code (PKCE S256 required), refresh_token (rotated on
// every use; reuse revokes the family) and client_credentials grants.
// Clients authenticate with none, client_secret_basic,
// client_secret_post or private_key_jwt.
//
// A request with a DPoP header (required when the server or the client
// says so) gets a token bound to the proof's key, cnf.jkt, and token_type
// DPoP; refresh tokens of public clients stay bound to that key. The
// resource parameters (RFC 8707) become the token's aud, by default the
// default resource.
func (s *Server) TokenHandler() http.Handler { return http.HandlerFunc(s.serveToken) }

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(ctx, w, r, nil, errMethod)
		return
	}
	if err := readForm(w, r); err != nil {
		s.writeError(ctx, w, r, nil, err)
		return
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		s.deny(ctx, w, r, nil, grant, fosite.ErrInvalidRequest.WithHint("The grant_type parameter is missing."))
		return
	case !slices.Contains(servedGrants, grant):
		s.deny(ctx, w, r, nil, grant, fosite.ErrUnsupportedGrantType)
		return
	}
	resources, err := parseResources(form["resource"])
	if err != nil {
		s.deny(ctx, w, r, nil, grant, err)
		return
	}
	proof, err := s.tokenProof(ctx, r)
	if err != nil {
		s.writeProofError(ctx, w, r, grant, err)
		return
	}

	ar, err := s.provider.NewAccessRequest(ctx, r, &Session{})
	if err != nil {
		s.deny(ctx, w, r, ar, grant, err)
		return
	}
	fc, ok := ar.GetClient().(fositeClient)
	sess, ok2 := ar.GetSession().(*Session)
	if !ok || !ok2 {
		s.deny(ctx, w, r, ar, grant, fosite.ErrServerError.WithDebug("unexpected client or session type"))
		return
	}
	client := fc.c
	if err := s.bindProof(grant, client, sess, proof); err != nil {
		s.deny(ctx, w, r, ar, grant, err)
		return
	}
	if grant == GrantClientCredentials {
		sess.Subject = client.ID
		scopes := ar.GetRequestedScopes()
		if len(scopes) == 0 {
			scopes = strings.Fields(client.Scope) // the client's registered scopes by default (RFC 6749 §3.3)
		}
		for _, sc := range scopes {
			ar.GrantScope(sc)
		}
	}
	if err := s.grantResources(grant, sess, resources); err != nil {
		s.deny(ctx, w, r, ar, grant, err)
		return
	}

	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || errors.Is(err, fosite.ErrInactiveToken) {
		// A concurrent redemption of the same code or refresh token won:
		// this one is reuse, which fosite would answer with server_error or
		// invalid_request and no revocation.
		s.revokeFamily(ctx, ar.GetID())
		err = fosite.ErrInvalidGrant.WithHint("The grant has already been used; its tokens are revoked.").WithWrap(fosite.ErrInactiveToken)
	}
	if err != nil {
		s.deny(ctx, w, r, ar, grant, err)
		return
	}
	if sess.JKT != "" {
		resp.SetTokenType("DPoP")
	} else {
		resp.SetTokenType("Bearer")
	}
	if s.cfg.DPoP.Nonce != dpop.NonceOff {
		w.Header().Set("DPoP-Nonce", s.proofs.Nonce())
	}
	action, reason := ActionTokenIssued, grant
	if grant == GrantRefreshToken {
		action = ActionTokenRefreshed
	}
	if sess.JKT != "" {
		reason += ", DPoP-bound"
	}
	s.auditor.Record(ctx, AuditEvent{Type: "oauth", Action: action, ClientID: client.ID, Subject: sess.Subject, Decision: DecisionAllow, Reason: reason})
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// readForm checks the method-independent parts of a form request and
// parses its body, at most [MaxBodyBytes] of
// application/x-www-form-urlencoded.
func readForm(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return fosite.ErrInvalidRequest.WithHint("The body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errBodyTooLarge
		}
		return fosite.ErrInvalidRequest.WithHint("The body is not a valid form.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && k != "resource" {
			return fosite.ErrInvalidRequest.WithHint("A parameter is repeated.")
		}
	}
	return nil
}

// parseResources checks RFC 8707 resource parameters: absolute URIs
// without fragments.
func parseResources(raw []string) ([]string, error) {
	if len(raw) > maxResources {
		return nil, errInvalidTarget.WithHint("Too many resource parameters.")
	}
	for _, r := range raw {
		u, err := url.Parse(r)
		if err != nil || checkResource(u) != nil || strings.Contains(r, "#") {
			return nil, errInvalidTarget.WithHint("A resource must be an absolute URI without a fragment.")
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(raw))), nil
}

// tokenProof verifies the request's DPoP proof for the token endpoint, or
// returns nil when the request has none.
func (s *Server) tokenProof(ctx context.Context, r *http.Request) (*dpop.Proof, error) {
	proofs := r.Header.Values("DPoP")
	switch len(proofs) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, &dpop.Error{Code: dpop.CodeInvalidProof, Description: "more than one DPoP header"}
	}
	return s.proofs.Verify(ctx, proofs[0], http.MethodPost, s.tokenURL, "")
}

var errProofRequired = errInvalidProof.WithHint("A DPoP proof is required.")

// bindProof applies the DPoP rules of the grant and binds the tokens to
// be issued to the proof's key, or leaves them unbound without a proof.
func (s *Server) bindProof(grant string, c *Client, sess *Session, proof *dpop.Proof) error {
	if proof == nil && (s.cfg.DPoPRequired || c.DPoPBoundAccessTokens) {
		return errProofRequired
	}
	switch grant {
	case GrantRefreshToken:
		// RFC 9449 §5: refresh tokens of public clients are bound to the
		// key they were issued with; a confidential client may change keys.
		if c.Public() && sess.JKT != "" {
			if proof == nil {
				return errInvalidProof.WithHint("The refresh token is bound to a DPoP key; a proof is required.")
			}
			if !proof.Matches(sess.JKT) {
				return fosite.ErrInvalidGrant.WithHint("The refresh token is bound to another DPoP key.")
			}
		}
	case GrantAuthorizationCode:
		// A dpop_jkt at authorization binds the code to that key (RFC 9449 §10).
		if sess.JKT != "" && !proof.Matches(sess.JKT) {
			return errInvalidProof.WithHint("The authorization code is bound to another DPoP key.")
		}
	}
	sess.JKT = ""
	if proof != nil {
		sess.JKT = proof.JKT
	}
	return nil
}

// grantResources sets the audience of the token to issue: the requested
// resources (RFC 8707), each of which the grant must allow, or by default
// what the grant allows: for client credentials the default resource, for
// a user's grant the resources the user authorized (the default resource
// when none was named). Every audience must still be served.
func (s *Server) grantResources(grant string, sess *Session, requested []string) error {
	var allowed []string
	switch {
	case grant == GrantClientCredentials:
		allowed = s.allowedResources
	case len(sess.Resources) > 0:
		allowed = sess.Resources
	default:
		allowed = s.allowedResources[:1]
	}
	aud := requested
	if len(aud) == 0 {
		aud = allowed
		if grant == GrantClientCredentials {
			aud = allowed[:1]
		}
	}
	for _, r := range aud {
		if !slices.Contains(allowed, r) || !slices.Contains(s.allowedResources, r) {
			return errInvalidTarget.WithHint("The resource is not one this grant allows.")
		}
	}
	sess.Audience = slices.Clone(aud)
	if grant == GrantClientCredentials {
		sess.Resources = slices.Clone(aud)
	} else if len(sess.Resources) == 0 {
		sess.Resources = slices.Clone(allowed)
	}
	return nil
}

// revokeFamily revokes every token of a refresh token family.
func (s *Server) revokeFamily(ctx context.Context, requestID string) {
	if err := s.store.RevokeRefreshToken(ctx, requestID); err != nil {
		s.logger.ErrorContext(ctx, "oauth: revoke refresh tokens", "err", err)
	}
	if err := s.store.RevokeAccessToken(ctx, requestID); err != nil {
		s.logger.ErrorContext(ctx, "oauth: revoke access token", "err", err)
	}
}

// requestClientID returns the client a request is from: the
// authenticated one, or else the ID it claims.
func requestClientID(r *http.Request, ar fosite.AccessRequester) string {
	if ar != nil && ar.GetClient() != nil && ar.GetClient().GetID() != "" {
		return ar.GetClient().GetID()
	}
	if id, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(id); err == nil {
			return clip(u)
		}
	}
	return clip(r.PostForm.Get("client_id"))
}

// deny audits a refused token request and writes its error.
func (s *Server) deny(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, grant string, err error) {
	rfc := s.toRFC(ctx, err)
	var sub string
	if ar != nil && ar.GetSession() != nil {
		sub = ar.GetSession().GetSubject()
	}
	reason := rfc.ErrorField + ": " + rfc.GetDescription()
	if grant != "" && slices.Contains(servedGrants, grant) {
		reason = grant + ": " + reason
	}
	s.auditor.Record(ctx, AuditEvent{Type: "oauth", Action: ActionTokenDenied, ClientID: requestClientID(r, ar), Subject: sub, Decision: DecisionDeny, Reason: reason})
	if reused(rfc) {
		s.auditor.Record(ctx, AuditEvent{Type: "oauth", Action: ActionTokenRevoked, ClientID: requestClientID(r, ar), Subject: sub, Decision: DecisionAllow, Reason: "reuse of a code or refresh token: its family is revoked"})
	}
	s.writeError(ctx, w, r, ar, rfc)
}

// reused reports whether a refused request presented a code or refresh
// token already used, which revokes the tokens issued with it.
func reused(rfc *fosite.RFC6749Error) bool {
	return errors.Is(rfc, fosite.ErrInactiveToken) ||
		errors.Is(rfc, fosite.ErrInvalidGrant) && strings.Contains(rfc.HintField, "authorization code has already been used")
}

// writeProofError answers a request whose DPoP proof failed (RFC 9449
// §5.2, §8): 400 with invalid_dpop_proof, or use_dpop_nonce and a
// DPoP-Nonce header.
func (s *Server) writeProofError(ctx context.Context, w http.ResponseWriter, r *http.Request, grant string, err error) {
	var pe *dpop.Error
	if !errors.As(err, &pe) {
		s.deny(ctx, w, r, nil, grant, fosite.ErrServerError.WithWrap(err))
		return
	}
	rfc := &fosite.RFC6749Error{ErrorField: pe.Code, DescriptionField: pe.Description, CodeField: http.StatusBadRequest}
	if pe.Code == dpop.CodeUseNonce {
		w.Header().Set("DPoP-Nonce", pe.Nonce)
		s.writeError(ctx, w, r, nil, rfc) // a step of the protocol, not a denial
		return
	}
	s.deny(ctx, w, r, nil, grant, rfc)
}

// toRFC turns any error into the RFC 6749 error to send, logging what
// the client does not see. Errors that are not fosite's become
// server_error.
func (s *Server) toRFC(ctx context.Context, err error) *fosite.RFC6749Error {
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		s.logger.ErrorContext(ctx, "oauth: internal error", "err", err)
		return fosite.ErrServerError
	}
	if rfc.CodeField >= 500 {
		cause := rfc.Cause()
		if cause == nil {
			cause = errors.New(rfc.DebugField)
		}
		s.logger.ErrorContext(ctx, "oauth: server error", "error", rfc.ErrorField, "err", cause)
	}
	return rfc
}

// writeError writes an RFC 6749 §5.2 JSON error with fosite's writer; a
// failed client authentication with Basic credentials also gets a Basic
// challenge (RFC 6749 §5.2).
func (s *Server) writeError(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	rfc := s.toRFC(ctx, err)
	if rfc.CodeField == http.StatusUnauthorized {
		if _, _, ok := r.BasicAuth(); ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+s.issuer+`"`)
		}
	}
	s.provider.WriteAccessError(ctx, w, ar, rfc)
}

// clientRequest parses a form request to an endpoint that needs client
// authentication and authenticates the client.
func (s *Server) clientRequest(w http.ResponseWriter, r *http.Request) (*Client, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, errMethod
	}
	if err := readForm(w, r); err != nil {
		return nil, err
	}
	fc, err := s.authenticateClient(r.Context(), r, r.PostForm)
	if err != nil {
		return nil, err
	}
	c, ok := fc.(fositeClient)
	if !ok {
		return nil, fosite.ErrServerError.WithDebug("unexpected client type")
	}
	return c.c, nil
}

// IntrospectHandler serves POST /oauth2/introspect (RFC 7662) to
// authenticated confidential clients. An access token is active when it
// validates (signature, issuer, expiry, revocation) for one of its
// audiences; a refresh token only for the client it was issued to.
// Anything else is {"active": false}.
func (s *Server) IntrospectHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		c, err := s.clientRequest(w, r)
		if err == nil && c.Public() {
			err = fosite.ErrInvalidClient.WithHint("Introspection needs an authenticated client.")
		}
		if err != nil {
			s.writeError(ctx, w, r, nil, err)
			return
		}
		tok := r.PostForm.Get("token")
		if tok == "" {
			s.writeError(ctx, w, r, nil, fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
			return
		}
		var out map[string]any
		if r.PostForm.Get("token_type_hint") == "refresh_token" {
			out = s.introspectRefresh(ctx, c, tok)
			if out == nil {
				out = s.introspectAccess(ctx, tok)
			}
		} else {
			out = s.introspectAccess(ctx, tok)
			if out == nil {
				out = s.introspectRefresh(ctx, c, tok)
			}
		}
		if out == nil {
			out = map[string]any{"active": false}
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// accessClaims validates an access token of this server and returns its
// claims, or nil. The audience to check is read from the token itself:
// introspection and revocation concern a token wherever it is used.
func (s *Server) accessClaims(ctx context.Context, tok string) *token.Claims {
	p, ok := peekClaims(tok)
	if !ok {
		return nil
	}
	auds := p.audiences()
	if len(auds) == 0 || auds[0] == "" {
		return nil
	}
	c, err := s.validator.Validate(ctx, tok, auds[0])
	if err != nil {
		if _, ok := errors.AsType[*token.Error](err); !ok {
			s.logger.ErrorContext(ctx, "oauth: validate access token", "err", err)
		}
		return nil
	}
	return c
}

func (s *Server) introspectAccess(ctx context.Context, tok string) map[string]any {
	c := s.accessClaims(ctx, tok)
	if c == nil {
		return nil
	}
	out := map[string]any{
		"active": true, "iss": c.Issuer, "sub": c.Subject, "client_id": c.ClientID,
		"scope": strings.Join(c.Scope, " "), "jti": c.JTI,
		"iat": c.IssuedAt.Unix(), "exp": c.Expiry.Unix(), "token_type": "Bearer",
	}
	if len(c.Audience) == 1 {
		out["aud"] = c.Audience[0]
	} else {
		out["aud"] = c.Audience
	}
	if !c.NotBefore.IsZero() {
		out["nbf"] = c.NotBefore.Unix()
	}
	if c.JKT != "" {
		out["token_type"] = "DPoP"
		out["cnf"] = map[string]string{"jkt": c.JKT}
	}
	if c.Act != nil {
		out["act"] = c.Act
	}
	return out
}

// refreshRequest looks up an active, unexpired refresh token of this
// server, or returns nil.
func (s *Server) refreshRequest(ctx context.Context, tok string) fosite.Requester {
	if !strings.HasPrefix(tok, prefixRefresh) {
		return nil
	}
	req, err := s.store.GetRefreshTokenSession(ctx, s.refresh.RefreshTokenSignature(ctx, tok), nil)
	if err != nil {
		if !errors.Is(err, fosite.ErrNotFound) && !errors.Is(err, fosite.ErrInactiveToken) {
			s.logger.ErrorContext(ctx, "oauth: look up refresh token", "err", err)
		}
		return nil
	}
	if s.refresh.ValidateRefreshToken(ctx, req, tok) != nil {
		return nil
	}
	return req
}

func (s *Server) introspectRefresh(ctx context.Context, c *Client, tok string) map[string]any {
	req := s.refreshRequest(ctx, tok)
	if req == nil || req.GetClient().GetID() != c.ID {
		return nil
	}
	out := map[string]any{
		"active": true, "iss": s.issuer, "sub": req.GetSession().GetSubject(), "client_id": c.ID,
		"scope": strings.Join(req.GetGrantedScopes(), " "),
	}
	if exp := req.GetSession().GetExpiresAt(fosite.RefreshToken); !exp.IsZero() {
		out["exp"] = exp.Unix()
	}
	if sess, ok := req.GetSession().(*Session); ok && sess.JKT != "" && c.Public() {
		out["cnf"] = map[string]string{"jkt": sess.JKT}
	}
	return out
}

// RevokeHandler serves POST /oauth2/revoke (RFC 7009). Revoking a refresh
// token revokes its whole family, refresh and access tokens; revoking an
// access token lists its jti as revoked until it expires. A client may
// revoke only its own tokens; unknown, invalid or foreign tokens get 200
// and change nothing.
func (s *Server) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		c, err := s.clientRequest(w, r)
		if err != nil {
			s.writeError(ctx, w, r, nil, err)
			return
		}
		tok := r.PostForm.Get("token")
		if tok == "" {
			s.writeError(ctx, w, r, nil, fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
			return
		}
		if err := s.revoke(ctx, c, tok); err != nil {
			s.logger.ErrorContext(ctx, "oauth: revoke", "err", err)
			s.writeError(ctx, w, r, nil, fosite.ErrTemporarilyUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
}

func (s *Server) revoke(ctx context.Context, c *Client, tok string) error {
	event := AuditEvent{Type: "oauth", Action: ActionTokenRevoked, ClientID: c.ID}
	if req := s.refreshRequest(ctx, tok); req != nil {
		event.Subject = req.GetSession().GetSubject()
		if req.GetClient().GetID() != c.ID {
			event.Decision, event.Reason = DecisionDeny, "refresh token of another client"
			s.auditor.Record(ctx, event)
			return nil
		}
		if err := s.store.RevokeRefreshToken(ctx, req.GetID()); err != nil {
			return err
		}
		if err := s.store.RevokeAccessToken(ctx, req.GetID()); err != nil {
			return err
		}
		event.Decision, event.Reason = DecisionAllow, "refresh token: family revoked"
		s.auditor.Record(ctx, event)
		return nil
	}
	if claims := s.accessClaims(ctx, tok); claims != nil {
		event.Subject = claims.Subject
		if claims.ClientID != c.ID {
			event.Decision, event.Reason = DecisionDeny, "access token of another client"
			s.auditor.Record(ctx, event)
			return nil
		}
		if err := s.revoked.Revoke(ctx, claims.JTI, claims.Expiry); err != nil {
			return err
		}
		event.Decision, event.Reason = DecisionAllow, "access token"
		s.auditor.Record(ctx, event)
	}
	return nil
}

// JWKSHandler serves GET /oauth2/jwks: the public signing keys.
func (s *Server) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(s.keys.JWKS())
		}
	})
}

// getOrHead answers anything but GET and HEAD with 405.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "The request method is not allowed."})
	return false
}

// writeJSON writes v as an uncached JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	w.Write(b)
}
