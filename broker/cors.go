package broker

import "net/http"

// cors lets browser-based clients (MCP Inspector, SPA agents using
// oauth4webapi) call the OAuth endpoints and resources from any origin.
// None of these endpoints uses cookies: they authenticate by the request
// itself (client credentials, PKCE, Authorization and DPoP headers), so no
// credentials are allowed and a wildcard origin grants nothing an
// attacker's own server could not do. The authorization endpoint, which
// does use cookies, is navigated to, not fetched, and gets no CORS.
func cors(next http.Handler) http.Handler { return corsWith(next, false) }

// maxCORSRequestHeaders bounds the Access-Control-Request-Headers a /v1
// preflight may name.
const maxCORSRequestHeaders = 2048

// corsLLM is cors for the LLM proxy at /v1, which browser apps reach
// with an access token or an API key in the Authorization header (never
// cookies). OpenAI's client libraries add headers of their own
// (X-Stainless-*, OpenAI-Organization, …) that change between versions:
// a preflight gets back the headers it asks for, which, with no
// credentials allowed, grants nothing a server-side caller lacks.
func corsLLM(next http.Handler) http.Handler { return corsWith(next, true) }

// corsWith answers preflights and marks answers to cross-origin requests;
// echoHeaders allows the request headers a preflight names (when they are
// a well-formed list) instead of the fixed ones.
func corsWith(next http.Handler, echoHeaders bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		expose := "DPoP-Nonce, WWW-Authenticate, X-Request-ID"
		if echoHeaders {
			expose += ", Retry-After" // the proxy's budgets
		}
		h.Set("Access-Control-Expose-Headers", expose)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			allow := "Authorization, Content-Type, DPoP"
			if asked := r.Header.Get("Access-Control-Request-Headers"); echoHeaders && asked != "" && len(asked) <= maxCORSRequestHeaders && tokenList(asked) {
				allow = asked
			}
			h.Set("Access-Control-Allow-Headers", allow)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenList reports whether s is a comma-separated list of header names.
func tokenList(s string) bool {
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == ',', c == ' ':
		default:
			return false
		}
	}
	return true
}
