package notes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// Path is where [Server.Handler] serves MCP.
const Path = "/mcp"

// shutdownGrace bounds how long Serve waits for requests in flight once
// its context ends.
const shutdownGrace = 5 * time.Second

// Handler returns the Streamable HTTP transport at [Path] (sessions for
// protocol versions up to 2025-11-25, stateless requests for 2026-07-28),
// with request bodies bounded by [Config.MaxMessageBytes]. Requests that
// arrive on a loopback address must carry a loopback Host header (mcp-go's
// DNS rebinding protection).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Path, http.MaxBytesHandler(s.http, int64(s.cfg.MaxMessageBytes)))
	return mux
}

// Serve serves [Server.Handler] on ln until ctx ends, then closes the
// sessions, waits up to five seconds for requests in flight and returns
// nil. It returns the listener's error if serving stops before.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("serving Streamable HTTP", keyAddr, "http://"+ln.Addr().String()+Path)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("notes: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	s.http.CloseSessions(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("shutdown: closing connections still open", keyErr, err)
		srv.Close()
	}
	<-errc
	return nil
}

// ServeStdio serves MCP on in and out (one JSON-RPC message per line)
// until in ends, which returns nil, or ctx ends, which returns ctx's error.
// A line longer than [Config.MaxMessageBytes] ends it with an error
// wrapping [ErrLineTooLong]. Only one ServeStdio may run in a process at
// a time (mcp-go keeps the stdio session in a package variable).
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	std := server.NewStdioServer(s.mcp)
	std.SetErrorLogger(slog.NewLogLogger(s.log.Handler(), slog.LevelError))
	lim := &lineLimiter{r: in, max: s.cfg.MaxMessageBytes}
	err := std.Listen(ctx, lim, out)
	if lim.err != nil {
		return lim.err
	}
	if err != nil {
		return fmt.Errorf("notes: stdio: %w", err)
	}
	return ctx.Err()
}

// ErrLineTooLong is wrapped by the error ServeStdio returns when a line on
// its input is longer than the message limit.
var ErrLineTooLong = errors.New("notes: stdio: a message is longer than the limit")

// lineLimiter reads r and fails, for good, with an error wrapping
// ErrLineTooLong as soon as more than max bytes have come without a
// newline; the bytes before the one over the limit are delivered.
type lineLimiter struct {
	r   io.Reader
	max int
	run int // bytes since the last newline
	err error
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	for i, c := range p[:n] {
		if c == '\n' {
			l.run = 0
			continue
		}
		l.run++
		if l.run > l.max {
			l.err = fmt.Errorf("%w of %d bytes", ErrLineTooLong, l.max)
			return i, l.err
		}
	}
	return n, err
}
