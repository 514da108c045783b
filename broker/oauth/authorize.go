package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"
)

// AuthorizeHandler serves GET /oauth2/authorize, the authorization
// endpoint of the code flow (OAuth 2.1 §4.1), and the POSTs of its login
// and consent pages ([Pages]). It panics when the server was built without
// Deps.Users, which is a mistake of the program that mounts it.
//
// A request is parsed and checked before any page is shown:
//
//   - client_id must name a client and redirect_uri must equal one of the
//     client's registered redirect URIs exactly (it may be left out when
//     the client has only one). Loopback redirect URIs match only with
//     their registered port, although RFC 8252 §7.3 would let the port
//     vary. Until both hold, errors are HTML error pages and never
//     redirects.
//   - After that, every error is a redirect to the redirect URI with error,
//     error_description, state (as sent) and iss (RFC 9207):
//     response_type must be code; code_challenge_method must be S256 and
//     code_challenge a base64url SHA-256 hash (PKCE, invalid_request when
//     missing, plain or malformed); scopes must be registered for the
//     client (invalid_scope), and no scope means all of them; resource
//     (RFC 8707), at most one, must be an absolute URI without fragment
//     that this server issues tokens for (invalid_target), by default
//     the default resource; dpop_jkt (RFC 9449 §10), when present, must be
//     a base64url SHA-256 JWK thumbprint; no parameter may be repeated but
//     resource; request objects are not supported.
//
// Then the pages log the user in (username and password) and ask for
// consent, unless the user approved this client, scope set and resource
// before. Approve issues a code, single-use and bound to the PKCE
// challenge, the redirect URI, the resource (the aud of its tokens) and
// the dpop_jkt key if any, and redirects with code, state, scope and iss;
// Deny redirects with error=access_denied, state and iss.
//
// state is optional and returned exactly as sent.
//
// # Security
//
// The outcome of each step is audited: a failed login (with the name
// tried, whatever the reason), consent given on the page, consent denied,
// and each code issued.
func (s *Server) AuthorizeHandler() http.Handler {
	if s.pages == nil {
		panic("oauth: AuthorizeHandler of a server without Deps.Users")
	}
	return http.HandlerFunc(s.serveAuthorize)
}

// Messages of the error pages of requests that cannot be redirected.
const (
	msgPending      = "This sign-in request has expired or is not valid. Go back to the application and start again."
	msgMalformed    = "This authorization request is malformed."
	msgTooLong      = "This authorization request is too long."
	msgClient       = "This authorization request does not name a known application (client_id)."
	msgRepeated     = "This authorization request names more than one client or redirect URI."
	msgRequestURI   = "This server does not support request_uri (pushed authorization requests or request objects by reference)."
	msgRedirect     = "This authorization request's redirect URI is not registered for the application. The application may be misconfigured, or someone may be trying to intercept your sign-in."
	msgServerFailed = "The authorization server could not handle this request. Try again later."
)

func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.pages.WriteError(w, http.StatusMethodNotAllowed, "This page accepts only GET and POST.")
		return
	}
	orig, err := s.pages.Resume(r)
	if err != nil {
		s.pages.WriteError(w, http.StatusBadRequest, msgPending)
		return
	}
	if msg := precheckAuthorize(orig.URL); msg != "" {
		s.pages.WriteError(w, http.StatusBadRequest, msg)
		return
	}
	ar, err := s.fositeAuthorizeRequest(ctx, orig)
	if status, msg := s.unredirectable(ctx, ar, err); msg != "" {
		s.pages.WriteError(w, status, msg)
		return
	}
	var c authorization
	if err == nil {
		c, err = s.checkAuthorize(ar)
	}
	if err != nil {
		s.redirectError(ctx, w, ar, err)
		return
	}

	out, ok, err := s.pages.Handle(w, r, PendingAuthorization{
		Query: orig.URL.RawQuery, Client: c.client, Scopes: ar.GetRequestedScopes(),
		Resource: c.resource, RedirectURI: ar.GetRedirectURI().String(),
	})
	if err != nil {
		s.logger.ErrorContext(ctx, "oauth: login or consent", "err", err)
		s.redirectError(ctx, w, ar, fosite.ErrServerError)
		return
	}
	if !ok {
		return // a page, or the redirect after a login
	}
	event := AuditEvent{Type: "oauth", ClientID: c.client.ID, Subject: out.Subject, Reason: c.describe(ar.GetRequestedScopes())}
	if !out.Approved {
		event.Action, event.Decision = ActionConsentDenied, DecisionDeny
		s.auditor.Record(ctx, event)
		s.redirectError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}
	if !out.Remembered {
		event.Action, event.Decision = ActionConsentGiven, DecisionAllow
		s.auditor.Record(ctx, event)
	}
	s.issueCode(ctx, w, ar, c, out)
}

// precheckAuthorize returns the error page message for a request fosite
// must not see: too long for the pages to carry, malformed, with no or
// several clients or redirect URIs, or with request_uri (fosite would take
// a pushed authorization request's URN before it knows the client).
func precheckAuthorize(u *url.URL) string {
	if len(u.RawQuery) > maxQueryBytes {
		return msgTooLong
	}
	q, err := url.ParseQuery(u.RawQuery)
	switch {
	case err != nil:
		return msgMalformed
	case len(q["client_id"]) == 0 || q.Get("client_id") == "":
		return msgClient
	case len(q["client_id"]) > 1 || len(q["redirect_uri"]) > 1:
		return msgRepeated
	case q.Has("request_uri"):
		return msgRequestURI
	}
	return ""
}

// statePlaceholder stands in for a missing state while fosite parses a
// request; fosite requires one.
const statePlaceholder = "subzero-no-state"

// fositeAuthorizeRequest has fosite parse and validate r. fosite insists
// on a state parameter, which OAuth 2.1 makes optional: a request without
// one is parsed with a placeholder, and the placeholder removed from the
// request returned, which then has no state.
func (s *Server) fositeAuthorizeRequest(ctx context.Context, r *http.Request) (fosite.AuthorizeRequester, error) {
	q := r.URL.Query()
	if q.Get("state") != "" {
		return s.provider.NewAuthorizeRequest(ctx, r)
	}
	q.Set("state", statePlaceholder)
	u := *r.URL
	u.RawQuery = q.Encode()
	fr := r.Clone(ctx)
	fr.URL, fr.Form, fr.PostForm = &u, nil, nil
	ar, err := s.provider.NewAuthorizeRequest(ctx, fr)
	if a, ok := ar.(*fosite.AuthorizeRequest); ok {
		a.State = ""
		a.Form.Del("state")
	} else if ar != nil {
		return ar, fosite.ErrServerError.WithDebugf("fosite returned a %T", ar)
	}
	return ar, err
}

// unredirectable returns the status and message of the error page for a
// request whose client or redirect URI is not established, or "" when
// errors can go to the redirect URI.
func (s *Server) unredirectable(ctx context.Context, ar fosite.AuthorizeRequester, err error) (int, string) {
	if ar == nil || ar.GetClient() == nil {
		var rfc *fosite.RFC6749Error
		if err != nil && errors.As(err, &rfc) {
			// fosite reports any failure to get the client as invalid_client;
			// ours are fosite errors, the store's are not.
			if cause := rfc.Cause(); cause != nil && !errors.As(cause, new(*fosite.RFC6749Error)) {
				s.logger.ErrorContext(ctx, "oauth: look up client", "err", cause)
				return http.StatusServiceUnavailable, msgServerFailed
			}
		}
		return http.StatusBadRequest, msgClient
	}
	if ar.GetRedirectURI() == nil || !registeredRedirect(ar) {
		return http.StatusBadRequest, msgRedirect
	}
	return 0, ""
}

// registeredRedirect reports whether the request's redirect_uri is one the
// client registered, compared as strings: fosite lets the port of a
// loopback redirect URI vary (RFC 8252 §7.3), this server does not.
// Without redirect_uri, fosite took the client's only registered one.
func registeredRedirect(ar fosite.AuthorizeRequester) bool {
	raw := ar.GetRequestForm()["redirect_uri"]
	uris := ar.GetClient().GetRedirectURIs()
	switch len(raw) {
	case 0:
		return len(uris) == 1
	case 1:
		return slices.Contains(uris, raw[0])
	}
	return false
}

// authorization is what checkAuthorize established about a request.
type authorization struct {
	client   *Client
	resource string // the effective RFC 8707 resource
	jkt      string // dpop_jkt, or ""
}

// describe says what was authorized, for audit events.
func (a authorization) describe(scopes []string) string {
	d := fmt.Sprintf("scope %q, resource %s", strings.Join(scopes, " "), a.resource)
	if a.jkt != "" {
		d += ", code bound to a DPoP key"
	}
	return d
}

// checkAuthorize applies this server's rules to a request fosite found
// valid. Without scope, the request asks for every scope the client
// registered (RFC 6749 §3.3).
func (s *Server) checkAuthorize(ar fosite.AuthorizeRequester) (authorization, error) {
	fc, ok := ar.GetClient().(fositeClient)
	if !ok {
		return authorization{}, fosite.ErrServerError.WithDebug("unexpected client type")
	}
	form := ar.GetRequestForm()
	for k, v := range form {
		if len(v) > 1 && k != "resource" {
			return authorization{}, fosite.ErrInvalidRequest.WithHint("A parameter is repeated.")
		}
	}
	if form.Has("request") {
		return authorization{}, fosite.ErrRequestNotSupported
	}
	if err := checkPKCE(form); err != nil {
		return authorization{}, err
	}
	resource, err := s.authorizeResource(form["resource"])
	if err != nil {
		return authorization{}, err
	}
	jkt := form.Get("dpop_jkt")
	if form.Has("dpop_jkt") && !isSHA256B64(jkt) {
		return authorization{}, fosite.ErrInvalidRequest.WithHint("The dpop_jkt parameter must be a base64url-encoded SHA-256 JWK thumbprint.")
	}
	if len(ar.GetRequestedScopes()) == 0 {
		ar.SetRequestedScopes(strings.Fields(fc.c.Scope))
	}
	return authorization{client: fc.c, resource: resource, jkt: jkt}, nil
}

// checkPKCE requires an S256 code challenge (RFC 7636, OAuth 2.1 §4.1.1)
// with fosite's errors, before the user is asked anything; fosite's PKCE
// handler checks again when the code is issued.
func checkPKCE(form url.Values) error {
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "":
		return fosite.ErrInvalidRequest.WithHint("Clients must include a code_challenge when performing the authorize code flow, but it is missing.")
	case method == "" || method == "plain":
		return fosite.ErrInvalidRequest.WithHint("Clients must use code_challenge_method=S256, plain is not allowed.")
	case method != "S256":
		return fosite.ErrInvalidRequest.WithHint("The code_challenge_method is not supported, use S256 instead.")
	case !isSHA256B64(challenge):
		return fosite.ErrInvalidRequest.WithHint("The code_challenge must be the base64url-encoded SHA-256 hash of the code verifier.")
	}
	return nil
}

// isSHA256B64 reports whether s is a SHA-256 hash in unpadded base64url.
func isSHA256B64(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// authorizeResource returns the resource of an authorization request: the
// one it names, which this server must issue tokens for, or by default the
// default resource. Consent and codes are for one resource.
func (s *Server) authorizeResource(raw []string) (string, error) {
	switch len(raw) {
	case 0:
		return s.allowedResources[0], nil
	case 1:
	default:
		return "", errInvalidTarget.WithHint("An authorization request names at most one resource.")
	}
	if _, err := parseResources(raw); err != nil {
		return "", err
	}
	if !slices.Contains(s.allowedResources, raw[0]) {
		return "", errInvalidTarget.WithHint("The resource is not one this server issues tokens for.")
	}
	return raw[0], nil
}

// issueCode grants the requested scopes, issues the code for the user of
// out and redirects to the client with code, state, scope and iss.
func (s *Server) issueCode(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, c authorization, out Outcome) {
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	sess := &Session{
		Subject: out.Subject, Username: out.Username, AuthTime: out.AuthTime.UTC(),
		JKT: c.jkt, Resources: []string{c.resource},
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.redirectError(ctx, w, ar, err)
		return
	}
	params := resp.GetParameters()
	if ar.GetState() == "" {
		params.Del("state") // fosite adds it, empty
	}
	params.Set("iss", s.issuer) // RFC 9207
	reason := c.describe(ar.GetGrantedScopes())
	if out.Remembered {
		reason += ", consent remembered"
	}
	s.auditor.Record(ctx, AuditEvent{Type: "oauth", Action: ActionCodeIssued, ClientID: c.client.ID, Subject: out.Subject, Decision: DecisionAllow, Reason: reason})
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// redirectError sends the browser to the request's redirect URI, known to
// be registered, with the error, the state as sent and iss (RFC 6749
// §4.1.2.1, RFC 9207).
func (s *Server) redirectError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	rfc := s.toRFC(ctx, err)
	u := *ar.GetRedirectURI()
	q := u.Query()
	for k, v := range rfc.ToValues() {
		q[k] = v
	}
	if st := ar.GetState(); st != "" {
		q.Set("state", st)
	}
	q.Set("iss", s.issuer)
	u.RawQuery, u.Fragment, u.RawFragment = q.Encode(), "", ""
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Location", u.String())
	w.WriteHeader(http.StatusSeeOther)
}

// auditLoginFailed records a failed login of the pages. The reason is the
// same whether the user exists or not.
func (s *Server) auditLoginFailed(r *http.Request, pa PendingAuthorization, username string) {
	s.auditor.Record(r.Context(), AuditEvent{
		Type: "oauth", Action: ActionLoginFailed, ClientID: pa.Client.ID, Decision: DecisionDeny,
		Reason: fmt.Sprintf("wrong username or password for username %q", clip(username)),
	})
}
