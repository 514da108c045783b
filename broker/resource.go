package broker

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/broker/token"
)

// tokenValidator checks an access token for an audience; broker/token's
// Validator is one.
type tokenValidator interface {
	Validate(ctx context.Context, tok, audience string) (*token.Claims, error)
}

// proofVerifier checks a DPoP proof; broker/dpop's Verifier is one.
type proofVerifier interface {
	Verify(ctx context.Context, proof, method string, target *url.URL, accessToken string) (*dpop.Proof, error)
	Algs() []string
}

// resourceGuard protects one resource (an RFC 8707 resource URI such as
// https://broker.example/mcp): every request must carry an access token
// for it in the Authorization header, DPoP-bound tokens with a valid proof
// of their key.
type resourceGuard struct {
	public      *url.URL // the node's public base URL: scheme and host of every htu
	resource    string   // the audience tokens must name
	metadataURL string   // RFC 9728 metadata of the resource
	scopes      []string // scopes every request needs
	requireDPoP bool     // refuse tokens not bound to a DPoP key
	tokens      tokenValidator
	proofs      proofVerifier
	// body, when set, is the JSON body of a refusal (the headers stay
	// RFC 6750's and RFC 9449's): /v1 answers in OpenAI's error shape,
	// which OpenAI client libraries read.
	body func(code, desc, requestID string) any
}

type claimsKey struct{}

// TokenClaims returns the verified access token claims a guarded request
// carries; they must not be modified.
func TokenClaims(ctx context.Context) *token.Claims {
	c, _ := ctx.Value(claimsKey{}).(*token.Claims)
	return c
}

// wrap returns next behind the guard.
func (g *resourceGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, d := g.check(r)
		if claims == nil {
			g.deny(w, r, d)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})
}

// denial is why a request was refused: an RFC 6750 or RFC 9449 error, and
// the fresh DPoP nonce to send with use_dpop_nonce.
type denial struct {
	status     int
	code, desc string
	nonce      string
}

func deny(status int, code, desc string) (*token.Claims, denial) {
	return nil, denial{status: status, code: code, desc: desc}
}

// check authenticates r.
func (g *resourceGuard) check(r *http.Request) (*token.Claims, denial) {
	// Query parses into a new map: only a request with a query has one.
	if r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return deny(http.StatusBadRequest, "invalid_request", "access tokens are accepted only in the Authorization header")
	}
	auths := r.Header.Values("Authorization")
	if len(auths) == 0 {
		return deny(http.StatusUnauthorized, "", "") // no credentials: a bare challenge (RFC 6750 §3.1)
	}
	if len(auths) > 1 {
		return deny(http.StatusBadRequest, "invalid_request", "more than one Authorization header")
	}
	scheme, tok, ok := strings.Cut(auths[0], " ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return deny(http.StatusBadRequest, "invalid_request", "malformed Authorization header")
	}
	isDPoP := strings.EqualFold(scheme, "DPoP")
	if !isDPoP && !strings.EqualFold(scheme, "Bearer") {
		return deny(http.StatusUnauthorized, "invalid_token", "unsupported authorization scheme")
	}
	claims, err := g.tokens.Validate(r.Context(), tok, g.resource)
	if err != nil {
		var te *token.Error
		if errors.As(err, &te) {
			return deny(http.StatusUnauthorized, te.Code, te.Description)
		}
		return deny(http.StatusServiceUnavailable, "temporarily_unavailable", "token validation failed")
	}
	switch {
	case claims.JKT != "" && !isDPoP:
		return deny(http.StatusUnauthorized, "invalid_token", "a DPoP-bound token must be presented with the DPoP scheme")
	case claims.JKT == "" && isDPoP:
		return deny(http.StatusUnauthorized, "invalid_token", "the token is not bound to a DPoP key")
	case claims.JKT == "" && g.requireDPoP:
		return deny(http.StatusUnauthorized, "invalid_token", "this resource requires DPoP-bound tokens")
	}
	if isDPoP {
		proofs := r.Header.Values("DPoP")
		if len(proofs) != 1 {
			return deny(http.StatusUnauthorized, dpop.CodeInvalidProof, "exactly one DPoP proof is required")
		}
		p, err := g.proofs.Verify(r.Context(), proofs[0], r.Method, g.requestURL(r), tok)
		if err != nil {
			var de *dpop.Error
			if errors.As(err, &de) {
				return nil, denial{status: http.StatusUnauthorized, code: de.Code, desc: de.Description, nonce: de.Nonce}
			}
			return deny(http.StatusServiceUnavailable, "temporarily_unavailable", "proof verification failed")
		}
		if subtle.ConstantTimeCompare([]byte(p.JKT), []byte(claims.JKT)) != 1 {
			return deny(http.StatusUnauthorized, dpop.CodeInvalidProof, "the proof's key is not the key the token is bound to")
		}
	}
	for _, s := range g.scopes {
		if !slices.Contains(claims.Scope, s) {
			return deny(http.StatusForbidden, "insufficient_scope", "the token lacks scope "+s)
		}
	}
	return claims, denial{}
}

// requestURL is the URL the client addressed, for the proof's htu: the
// public base URL with the request's path (a proxy in front may change
// the scheme and host this node sees).
func (g *resourceGuard) requestURL(r *http.Request) *url.URL {
	return &url.URL{Scheme: g.public.Scheme, Host: g.public.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
}

// deny writes a 401/403/400 with WWW-Authenticate challenges for both
// schemes (RFC 6750 §3, RFC 9449 §7.1, RFC 9728 §5.1) and a JSON body.
func (g *resourceGuard) deny(w http.ResponseWriter, r *http.Request, d denial) {
	status, code, desc := d.status, d.code, d.desc
	if d.nonce != "" {
		w.Header().Set("DPoP-Nonce", d.nonce)
	}
	params := []string{`resource_metadata="` + g.metadataURL + `"`}
	if len(g.scopes) > 0 {
		params = append(params, `scope="`+strings.Join(g.scopes, " ")+`"`)
	}
	if code != "" {
		params = append(params, `error="`+code+`"`, `error_description="`+quoteSafe(desc)+`"`)
	}
	dpopParams := append([]string{`algs="` + strings.Join(g.proofs.Algs(), " ") + `"`}, params...)
	if !g.requireDPoP {
		w.Header().Add("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	}
	w.Header().Add("WWW-Authenticate", "DPoP "+strings.Join(dpopParams, ", "))
	if code == "" {
		code, desc = "invalid_token", "an access token is required"
	}
	if g.body != nil {
		writeJSON(w, status, g.body(code, desc, RequestID(r.Context())))
		return
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc, keyRequestID: RequestID(r.Context())})
}

// quoteSafe keeps a description inside a quoted-string.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '\''
		}
		return r
	}, s)
}
