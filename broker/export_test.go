package broker

import "net/http"

// WrapHandler replaces the server's HTTP handler by wrap(handler), for
// tests that need a request to stay in flight. Call it before Serve.
func WrapHandler(s *Server, wrap func(http.Handler) http.Handler) {
	s.http.Handler = wrap(s.http.Handler)
}
