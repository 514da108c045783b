// Package broker is Subzero's composition root: it loads the configuration,
// picks the storage backend, assembles the node and serves HTTP.
package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker/apikey"
	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/broker/limits"
	"github.com/subzero-gateway/subzero/broker/llm"
	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/broker/token"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/guard/output"
	"github.com/subzero-gateway/subzero/guard/standard"
	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
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
	ln       net.Listener
	oauth    *oauth.Server
	userinfo *url.URL // the resource URI of /oauth2/userinfo
	users    *oauth.Users
	lock     *os.File // held on <data_dir>/lock while the node runs
	audit    *audit.Log
	metrics  *metrics
	http     *http.Server
	admin    *adminServer
	authz    *Authz
	adminURL *url.URL // the resource URI of /admin
	mcp      *mcpNode
	llm      *llmNode
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
func New(ctx context.Context, cfg *Config, logger *slog.Logger, getenv func(string) string, version string) (_ *Server, err error) {
	// The guard first: compiling its detectors takes a while, and the
	// data directory is not held meanwhile (audit tail -f waits for it).
	// The leak detector is shared with the LLM proxy, which registers
	// system prompts with it for the time of a call.
	leak, err := output.NewLeak(cfg.Guard.Output)
	if err != nil {
		return nil, fmt.Errorf("guard.output: %w", err)
	}
	scanner, err := standard.Open(cfg.Guard, getenv, logger.With("component", "guard"), standard.WithLeak(leak))
	if err != nil {
		return nil, err
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(cfg.Server.GCPercent)
	}
	s := &Server{cfg: cfg, logger: logger, version: version, lock: lock}
	// On failure, undo in reverse order whatever was opened.
	defer func() {
		if err == nil {
			return
		}
		if s.ln != nil {
			s.ln.Close()
		}
		if s.audit != nil {
			s.audit.Close(context.WithoutCancel(ctx))
		}
		if s.store != nil {
			s.store.Close()
		}
		lock.Close()
	}()
	st, err := openStores(ctx, cfg, getenv)
	if err != nil {
		return nil, err
	}
	s.store = st.db
	auditStore, oauthStore, replay, keys := st.audit, st.oauth, st.replay, st.keys
	s.metrics = newMetrics(cfg.Store.Kind)
	timed := timedAuditStore{Store: auditStore, m: s.metrics}
	if s.node, s.audit, err = openAuditLog(ctx, cfg, timed, logger); err != nil {
		return nil, err
	}
	s.metrics.registerAudit(s.audit)
	if s.authz, err = newAuthz(ctx, cfg.Authz, st.tuples, s.audit, logger); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.authz.Close()
		}
	}()
	secretKey, err := cfg.serverSecret(getenv)
	if err != nil {
		return nil, err
	}
	// Bind now: the issuer defaults to the address actually bound.
	if s.ln, err = net.Listen("tcp", cfg.Server.Addr); err != nil {
		return nil, fmt.Errorf("server.addr: %w", err)
	}
	ocfg := cfg.OAuth
	if ocfg.Issuer == nil {
		ocfg.Issuer = cfg.defaultIssuer(s.ln.Addr().String())
	}
	// The node's own protected resource: tokens may be issued for it.
	s.userinfo = ocfg.Issuer.JoinPath("/oauth2/userinfo")
	if !slices.ContainsFunc(ocfg.Resources, func(u *url.URL) bool { return u.String() == s.userinfo.String() }) {
		ocfg.Resources = append(slices.Clone(ocfg.Resources), s.userinfo)
	}
	s.adminURL = ocfg.Issuer.JoinPath("/admin")
	if !slices.ContainsFunc(ocfg.Resources, func(u *url.URL) bool { return u.String() == s.adminURL.String() }) {
		ocfg.Resources = append(slices.Clone(ocfg.Resources), s.adminURL)
	}
	// The gateway's resources, /mcp and each virtual server, and the
	// LLM proxy's, /v1.
	for _, path := range append(cfg.MCP.paths(), llmPath) {
		u := ocfg.Issuer.JoinPath(path)
		if !slices.ContainsFunc(ocfg.Resources, func(r *url.URL) bool { return r.String() == u.String() }) {
			ocfg.Resources = append(slices.Clone(ocfg.Resources), u)
		}
	}
	users := oauth.NewUsers(oauthStore, oauth.DefaultArgon2)
	s.users = users
	s.oauth, err = oauth.NewServer(ocfg, oauth.Deps{
		Store: oauthStore, Replay: replay, Keys: keys, Secret: secretKey, Users: users,
		Auditor: oauthAuditor{log: s.audit, logger: logger}, Now: time.Now, Logger: logger, Getenv: getenv,
	})
	if err != nil {
		return nil, err
	}
	if s.mcp, err = s.newMCP(cfg, ocfg.Issuer, st.pins, scanner, getenv, logger); err != nil {
		return nil, err
	}
	s.llm, err = s.newLLM(cfg, st, secretKey, ocfg.Issuer, llm.Deps{Guard: scanner, Leak: leak, GetEnv: getenv, Logger: logger.With("component", "llm")})
	if err != nil {
		s.mcp.close()
		return nil, err
	}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	s.admin = newAdminServer(cfg.AdminSocket(), auditStore, users, s.oauth.Keys(), s.oauth.WithdrawConsent, s.authz, s.mcp.gateway, s.llm.admin, logger)
	return s, nil
}

// userinfo answers who a verified access token speaks for.
func userinfo(w http.ResponseWriter, r *http.Request) {
	c := TokenClaims(r.Context())
	out := map[string]any{"sub": c.Subject, "client_id": c.ClientID, "scope": strings.Join(c.Scope, " ")}
	if c.Act != nil {
		out["act"] = c.Act
	}
	writeJSON(w, http.StatusOK, out)
}

// UserSubject returns the token subject (sub) of the user called name.
func (s *Server) UserSubject(ctx context.Context, name string) (string, error) {
	u, err := s.users.Get(ctx, name)
	if err != nil {
		return "", err
	}
	return u.Subject, nil
}

// Issuer returns the node's issuer URL, the base of its endpoints.
func (s *Server) Issuer() string { return s.oauth.Issuer() }

// DemoUser is the user a node on development defaults creates so that
// the authorization flow can be tried at once.
const DemoUser = "demo"

// EnsureDemoUser creates the demo user with a random password when no
// user of that name exists, and returns the password; "" when it existed.
// Only `subzero serve` on development defaults calls it.
func (s *Server) EnsureDemoUser(ctx context.Context) (password string, err error) {
	if _, err := s.users.Get(ctx, DemoUser); err == nil || !errors.Is(err, oauth.ErrNotFound) {
		return "", err
	}
	var b [12]byte
	rand.Read(b[:])
	password = base64.RawURLEncoding.EncodeToString(b[:])
	if _, err := s.users.Add(ctx, DemoUser, password); err != nil {
		return "", err
	}
	return password, nil
}

// oauthAuditor records the authorization server's events in the audit
// trail.
type oauthAuditor struct {
	log    *audit.Log
	logger *slog.Logger
}

func (a oauthAuditor) Record(ctx context.Context, e oauth.AuditEvent) {
	_, err := a.log.Append(context.WithoutCancel(ctx), audit.Event{
		Type: e.Type, Action: e.Action, Actor: audit.Actor{Subject: e.Subject, ClientID: e.ClientID},
		Decision: audit.Decision(e.Decision), Reason: e.Reason, RequestID: RequestID(ctx),
	})
	if err != nil {
		a.logger.ErrorContext(ctx, "audit", "action", e.Action, "err", err)
	}
}

// Authz returns the node's authorization service.
func (s *Server) Authz() *Authz { return s.authz }

// Node returns the node's ID.
func (s *Server) Node() string { return s.node }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": s.node})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	// Endpoints browsers may fetch cross-origin (see cors); each also
	// answers the CORS preflight.
	preflight := map[string]bool{}
	public := func(method, path string, h http.Handler) {
		mux.Handle(method+" "+path, cors(h))
		if !preflight[path] {
			preflight[path] = true
			mux.Handle("OPTIONS "+path, cors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "OPTIONS is only a CORS preflight here")
			})))
		}
	}
	public("GET", "/.well-known/oauth-authorization-server", s.oauth.MetadataHandler())
	public("GET", "/.well-known/openid-configuration", s.oauth.MetadataHandler())
	public("GET", "/oauth2/jwks", s.oauth.JWKSHandler())
	public("POST", "/oauth2/token", s.oauth.TokenHandler())
	public("POST", "/oauth2/register", s.oauth.RegisterHandler())
	public("POST", "/oauth2/introspect", s.oauth.IntrospectHandler())
	public("POST", "/oauth2/revoke", s.oauth.RevokeHandler())
	// The authorization endpoint uses cookies and is navigated to: no CORS.
	mux.Handle("GET /oauth2/authorize", s.oauth.AuthorizeHandler())
	mux.Handle("POST /oauth2/authorize", s.oauth.AuthorizeHandler())
	// /oauth2/userinfo is a resource like /mcp and /v1 will be: tokens for
	// its audience, Bearer or DPoP, with RFC 9728 metadata.
	issuer, _ := url.Parse(s.oauth.Issuer())
	guard := &resourceGuard{
		public: issuer, resource: s.userinfo.String(),
		metadataURL: s.oauth.Issuer() + "/.well-known/oauth-protected-resource/oauth2/userinfo",
		requireDPoP: s.cfg.OAuth.DPoPRequired, tokens: s.oauth.Validator(), proofs: s.oauth.DPoP(),
	}
	public("GET", "/oauth2/userinfo", guard.wrap(http.HandlerFunc(userinfo)))
	public("GET", "/.well-known/oauth-protected-resource/oauth2/userinfo", s.oauth.ProtectedResourceMetadata(s.userinfo.String(), s.cfg.OAuth.Scopes))
	// The authorization admin API, for admin subjects' subzero:admin tokens.
	adminGuard := &resourceGuard{
		public: issuer, resource: s.adminURL.String(), scopes: []string{AdminScope},
		metadataURL: s.oauth.Issuer() + "/.well-known/oauth-protected-resource/admin",
		requireDPoP: s.cfg.OAuth.DPoPRequired, tokens: s.oauth.Validator(), proofs: s.oauth.DPoP(),
	}
	mux.Handle("/admin/authz/", adminGuard.wrap(s.adminOnly(http.StripPrefix("/admin", authzHandler(s.authz)))))
	public("GET", "/.well-known/oauth-protected-resource/admin", s.oauth.ProtectedResourceMetadata(s.adminURL.String(), []string{AdminScope}))
	// The MCP gateway: /mcp and its virtual servers /mcp/<name>, each a
	// protected resource with its RFC 9728 metadata; the admin API for
	// tool quarantines.
	mcpHandler := s.mcp.handler()
	mux.Handle("/mcp", mcpHandler)
	mux.Handle("/mcp/", mcpHandler)
	for _, path := range s.cfg.MCP.paths() {
		u := s.mcp.urls[path]
		public("GET", "/.well-known/oauth-protected-resource"+path,
			s.oauth.ProtectedResourceMetadataDPoP(u.String(), s.cfg.MCP.Scopes, s.cfg.MCP.RequireDPoP))
	}
	mux.Handle("/admin/mcp/", adminGuard.wrap(s.adminOnly(http.StripPrefix("/admin", mcpAdminHandler(s.mcp.gateway)))))
	// The LLM proxy, for API keys and access tokens for /v1.
	mux.Handle(llmPath+"/", corsLLM(s.llm.handler(s.logger)))
	apiKeysAdmin := adminGuard.wrap(s.adminOnly(http.StripPrefix("/admin", apiKeysHandler(s.llm.admin))))
	mux.Handle("/admin/apikeys", apiKeysAdmin)
	mux.Handle("/admin/apikeys/", apiKeysAdmin)
	public("GET", llmMetadataPath, s.oauth.ProtectedResourceMetadataDPoP(s.llm.resource.resource, s.cfg.LLM.Scopes, s.cfg.LLM.RequireDPoP))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return s.middleware(mux)
}

// adminOnly lets through the admin subjects of authz.admin_subjects, and
// names the token's subject and client as the actor of what they write.
func (s *Server) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := TokenClaims(r.Context())
		if c == nil || !slices.Contains(s.cfg.Authz.AdminSubjects, c.Subject) {
			writeError(w, r, http.StatusForbidden, "forbidden", "the token's subject is not in authz.admin_subjects")
			return
		}
		ctx := withActor(r.Context(), audit.Actor{Subject: c.Subject, ClientID: c.ClientID})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
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
	// Upstreams are reported, not required: one down leaves the others
	// (and the rest of the node) serving.
	body := map[string]any{"status": "ready", "store": s.cfg.Store.Kind}
	if h := s.mcp.upstreams.Health(); len(h) > 0 {
		body["mcp_upstreams"] = h
	}
	if h := s.llm.ready(); len(h) > 0 {
		body["llm_upstreams"] = h
	}
	writeJSON(w, http.StatusOK, body)
}

// Serve listens until ctx ends, then shuts down gracefully: it stops
// accepting, drains in-flight requests within server.shutdown_timeout,
// records the stop, flushes the audit log and closes the store. ready, when
// not nil, receives the bound address once the listener is open.
func (s *Server) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	ln := s.ln
	if err := s.admin.listen(); err != nil {
		ln.Close()
		s.closeAll(context.Background())
		return err
	}
	go s.admin.serve()
	go s.refresh(ctx)
	s.record(ctx, "start", "version "+s.version+" listening on "+ln.Addr().String())
	if err := s.mcp.start(ctx); err != nil {
		ln.Close()
		s.admin.close()
		s.closeAll(context.Background())
		return err
	}
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
	// The gateway's upstreams and sessions go before the admin socket: a
	// follower (audit tail -f) takes the socket's end as the node's.
	s.mcp.close()
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

// refreshInterval is how often a node reloads what other nodes change
// (signing keys, revoked tokens, authorization models and tuples): a
// revocation or a deleted tuple reaches every node within a second.
const refreshInterval = 500 * time.Millisecond

func (s *Server) refresh(ctx context.Context) {
	t := time.NewTicker(refreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.oauth.Keys().Refresh(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("refresh signing keys", "err", err)
		}
		if err := s.oauth.Revocations().Refresh(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("refresh revocations", "err", err)
		}
		if err := s.authz.Sync(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("refresh authorization tuples", "err", err)
		}
	}
}

// closeAll flushes the audit log and closes the store.
func (s *Server) closeAll(ctx context.Context) error {
	s.mcp.close()
	s.llm.close()
	s.authz.Close()
	err := s.audit.Close(ctx)
	if cerr := s.store.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: close: %w", cerr)
	}
	s.lock.Close()
	return err
}

// openAuditLog opens this data directory's node's audit chain in store:
// the node and instance IDs, the checkpoint signing key and the lease.
func openAuditLog(ctx context.Context, cfg *Config, store audit.Store, logger *slog.Logger) (node string, log *audit.Log, err error) {
	if node, err = cfg.NodeID(); err != nil {
		return "", nil, err
	}
	owner, err := cfg.InstanceID()
	if err != nil {
		return "", nil, err
	}
	keyPath, create := cfg.SigningKeyPath()
	key, err := audit.LoadOrCreateKey(keyPath, create)
	if err != nil {
		return "", nil, fmt.Errorf("audit.signing_key_file: %w", err)
	}
	log, err = audit.Open(ctx, store, node, owner, audit.NewSigner(key), cfg.Audit, logger)
	return node, log, err
}

// stores are the domain stores of the configured backend.
type stores struct {
	db      backend
	audit   audit.Store
	oauth   oauth.Store
	replay  dpop.ReplayStore
	keys    token.KeyStore
	tuples  rebac.TupleStore
	pins    pinstore.Store
	apikeys apikey.Store
	// counters opens the LLM budgets' counters; closer, when not nil,
	// must be closed before the store.
	counters func() (c limits.Counters, closer interface{ Close() error }, err error)
}

// openStores opens the configured backend.
func openStores(ctx context.Context, cfg *Config, getenv func(string) string) (stores, error) {
	switch cfg.Store.Kind {
	case "redis":
		db, err := openRedis(ctx, cfg, getenv)
		if err != nil {
			return stores{}, err
		}
		return stores{db: db, audit: db.Audit(), oauth: db.OAuth(), replay: db.Replay(), keys: db.SigningKeys(), tuples: db.Tuples(), pins: db.Pins(),
			apikeys: db.APIKeys(), counters: func() (limits.Counters, interface{ Close() error }, error) { return db.Counters(), nil, nil }}, nil
	default:
		db, err := bolt.Open(cfg.BoltPath(), cfg.Store.Bolt.LockTimeout, false)
		if err != nil {
			return stores{}, fmt.Errorf("store.bolt: %w", err)
		}
		return stores{db: db, audit: db.Audit(), oauth: db.OAuth(), replay: db.LocalReplay(time.Now), keys: db.SigningKeys(), tuples: db.Tuples(), pins: db.Pins(),
			apikeys: db.APIKeys(), counters: func() (limits.Counters, interface{ Close() error }, error) {
				c, err := db.Counters()
				if err != nil {
					return nil, nil, fmt.Errorf("store.bolt: %w", err)
				}
				return c, c, nil
			}}, nil
	}
}

func openRedis(ctx context.Context, cfg *Config, getenv func(string) string) (*redis.DB, error) {
	db, err := redis.Open(ctx, cfg.Store.Redis, getenv)
	if err != nil {
		return nil, fmt.Errorf("store.redis: %w", err)
	}
	return db, nil
}
