// Package broker is Subzero's composition root: it loads the configuration,
// picks the storage backend, assembles the node and serves HTTP.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/store/bolt"
	"github.com/subzero-gateway/subzero/store/redis"
)

// Server is one assembled node.
type Server struct {
	cfg      *Config
	logger   *slog.Logger
	version  string
	node     string
	store    backend
	lock     *os.File // held on <data_dir>/lock while the node runs
	audit    *audit.Log
	metrics  *metrics
	http     *http.Server
	admin    *adminServer
	draining atomic.Bool
}

// backend is what the server needs of a storage backend besides the
// domain stores it hands out.
type backend interface {
	Ping(ctx context.Context) error
	Close() error
}

// New opens the store and the audit log and assembles the node. Errors
// name their cause (an unreachable Redis, a locked database file, a bad
// signing key); nothing is left open when it fails.
// getenv resolves secrets that refer to environment variables.
func New(ctx context.Context, cfg *Config, logger *slog.Logger, getenv func(string) string, version string) (s *Server, err error) {
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	s = &Server{cfg: cfg, logger: logger, version: version, lock: lock}
	if s.node, err = cfg.NodeID(); err != nil {
		return nil, err
	}
	owner, err := cfg.InstanceID()
	if err != nil {
		return nil, err
	}
	var auditStore audit.Store
	var oauthStore oauth.Store
	switch cfg.Store.Kind {
	case "bolt":
		db, err := bolt.Open(cfg.BoltPath(), cfg.Store.Bolt.LockTimeout, false)
		if err != nil {
			return nil, fmt.Errorf("store.bolt: %w", err)
		}
		s.store, auditStore, oauthStore = db, db.Audit(), db.OAuth()
	case "redis":
		db, err := openRedis(ctx, cfg, getenv)
		if err != nil {
			return nil, err
		}
		s.store, auditStore, oauthStore = db, db.Audit(), db.OAuth()
	}
	store := s.store // s is nil when New fails
	defer func() {
		if err != nil {
			store.Close()
		}
	}()
	s.metrics = newMetrics(cfg.Store.Kind)
	keyPath, create := cfg.SigningKeyPath()
	key, err := audit.LoadOrCreateKey(keyPath, create)
	if err != nil {
		return nil, fmt.Errorf("audit.signing_key_file: %w", err)
	}
	timed := timedAuditStore{Store: auditStore, m: s.metrics}
	if s.audit, err = audit.Open(ctx, timed, s.node, owner, audit.NewSigner(key), cfg.Audit, logger); err != nil {
		return nil, err
	}
	s.metrics.registerAudit(s.audit)
	s.http = &http.Server{
		Addr:              cfg.Server.Addr,
		Handler:           s.routes(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	s.admin = newAdminServer(cfg.AdminSocket(), auditStore, oauth.NewUsers(oauthStore, oauth.DefaultArgon2), logger)
	return s, nil
}

// Node returns the node's ID.
func (s *Server) Node() string { return s.node }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": s.node})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return s.middleware(mux)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := s.store.Ping(ctx)
	s.metrics.observeStore("ping", start)
	if err != nil {
		s.logger.WarnContext(r.Context(), "store not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "store": s.cfg.Store.Kind})
}

// Serve listens until ctx ends, then shuts down gracefully: it stops
// accepting, drains in-flight requests within server.shutdown_timeout,
// records the stop, flushes the audit log and closes the store. ready, when
// not nil, receives the bound address once the listener is open.
func (s *Server) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", s.cfg.Server.Addr)
	if err != nil {
		s.closeAll(context.Background())
		return fmt.Errorf("server.addr: %w", err)
	}
	if err := s.admin.listen(); err != nil {
		ln.Close()
		s.closeAll(context.Background())
		return err
	}
	go s.admin.serve()
	s.record(ctx, "start", "version "+s.version+" listening on "+ln.Addr().String())
	errc := make(chan error, 1)
	go func() {
		if s.cfg.Server.TLS.CertFile != "" {
			errc <- s.http.ServeTLS(ln, s.cfg.Server.TLS.CertFile, s.cfg.Server.TLS.KeyFile)
		} else {
			errc <- s.http.Serve(ln)
		}
	}()
	s.logger.Info("serving", "addr", ln.Addr().String(), "node", s.node, "store", s.cfg.Store.Kind,
		"tls", s.cfg.Server.TLS.CertFile != "", "version", s.version)
	if ready != nil {
		ready(ln.Addr())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	s.logger.Info("shutting down", "timeout", s.cfg.Server.ShutdownTimeout.String())
	if err := s.http.Shutdown(sctx); err != nil {
		s.logger.Warn("drain deadline passed; closing remaining connections", "err", err)
		s.http.Close()
	}
	s.admin.close()
	// The drain may have used up sctx: flushing the audit log gets its own.
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	s.record(cctx, "stop", "graceful shutdown")
	if err := s.closeAll(cctx); err != nil {
		return err
	}
	s.logger.Info("stopped", "node", s.node)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", serveErr)
	}
	return nil
}

func (s *Server) record(ctx context.Context, action, reason string) {
	_, err := s.audit.Append(context.WithoutCancel(ctx), audit.Event{
		Type: "system", Action: action, Target: "node/" + s.node, Decision: audit.Allow,
		Reason: reason, Actor: audit.Actor{Subject: "subzero"},
	})
	if err != nil {
		s.logger.Error("audit", "action", action, "err", err)
	}
}

// closeAll flushes the audit log and closes the store.
func (s *Server) closeAll(ctx context.Context) error {
	err := s.audit.Close(ctx)
	if cerr := s.store.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: close: %w", cerr)
	}
	s.lock.Close()
	return err
}

func openRedis(ctx context.Context, cfg *Config, getenv func(string) string) (*redis.DB, error) {
	db, err := redis.Open(ctx, cfg.Store.Redis, getenv)
	if err != nil {
		return nil, fmt.Errorf("store.redis: %w", err)
	}
	return db, nil
}
