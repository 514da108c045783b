package broker

import "net/http"

// cors lets browser-based clients (MCP Inspector, SPA agents using
// oauth4webapi) call the OAuth endpoints and resources from any origin.
// None of these endpoints uses cookies: they authenticate by the request
// itself (client credentials, PKCE, Authorization and DPoP headers), so no
// credentials are allowed and a wildcard origin grants nothing an
// attacker's own server could not do. The authorization endpoint, which
// does use cookies, is navigated to, not fetched, and gets no CORS.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "DPoP-Nonce, WWW-Authenticate, X-Request-ID")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
