package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/broker/llm"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/examples/llmdemo"
	"github.com/subzero-gateway/subzero/examples/mcpdemo/notes"
	"github.com/subzero-gateway/subzero/mcp/upstream"
)

func serve(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("serve", e)
	configFile := fs.String("config", e.getenv("SUBZERO_CONFIG"), "config `file` (default: development defaults)")
	addr := fs.String("addr", "", "listen address `host:port` (overrides server.addr)")
	data := fs.String("data", "", "data `dir` (overrides data_dir)")
	demo := fs.Bool("demo", true, "on development defaults, put the demo MCP server (examples/mcpdemo) behind /mcp and the demo model server (examples/llmdemo) behind /v1, with an authorization model for the demo user")
	if err := parse(fs, args); err != nil {
		return err
	}
	return serveWith(ctx, e, *configFile, broker.Flags{Addr: *addr, DataDir: *data}, *demo, nil)
}

// serveWith runs a node; ready (tests) receives the bound address.
func serveWith(ctx context.Context, e env, configFile string, flags broker.Flags, demo bool, ready func(net.Addr)) error {
	cfg, err := broker.LoadConfig(configFile, e.environ, flags)
	if err != nil {
		return configError(err)
	}
	logger := newLogger(e, cfg)
	if !cfg.Explicit {
		fmt.Fprintf(e.stderr, "subzero: DEVELOPMENT DEFAULTS (no --config): embedded store in %s, loopback only on %s.\n"+
			"subzero: not for production; see docs/CONFIG.md and examples/.\n", cfg.DataDir, cfg.Server.Addr)
		logger.Warn("development defaults", "data_dir", cfg.DataDir, "addr", cfg.Server.Addr)
	}
	demo = demo && !cfg.Explicit
	if demo {
		if err := startDemoUpstream(ctx, cfg, logger); err != nil {
			return err
		}
		if err := startDemoModels(ctx, cfg, logger); err != nil {
			return err
		}
	}
	srv, err := broker.New(ctx, cfg, logger, e.getenv, version())
	if err != nil {
		return err
	}
	served := func(addr net.Addr) {
		if ready != nil {
			ready(addr)
		}
		if !cfg.Explicit {
			// Hashing the password takes a while: serve first.
			go func() {
				demoUser(ctx, e, srv, logger)
				if demo {
					demoGateway(ctx, e, srv, logger)
				}
			}()
		}
	}
	return srv.Serve(ctx, served)
}

func newLogger(e env, cfg *broker.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.Level}
	var h slog.Handler = slog.NewJSONHandler(e.stderr, opts)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(e.stderr, opts)
	}
	return slog.New(broker.NewLogHandler(h))
}

// demoUser creates the demo user of a node on development defaults and
// shows its password once, on the terminal only: never in the logs.
func demoUser(ctx context.Context, e env, srv *broker.Server, logger *slog.Logger) {
	password, err := srv.EnsureDemoUser(ctx)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("demo user not created", "err", err)
		}
		return
	}
	if password != "" {
		fmt.Fprintf(e.stderr, "subzero: demo login for the authorization flow: user %q, password %q (shown once; add users with `subzero user add`)\n",
			broker.DemoUser, password)
	}
}

// startDemoUpstream runs the demo MCP server (examples/mcpdemo/notes) on
// a loopback port of its own and puts it behind the gateway as upstream
// "notes": on development defaults, /mcp has something to show.
func startDemoUpstream(ctx context.Context, cfg *broker.Config, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo upstream: %w", err)
	}
	ns, err := notes.New(notes.Default(), logger.With("component", "demo.notes"))
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo upstream: %w", err)
	}
	go func() {
		if err := ns.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			logger.Error("demo upstream", "err", err)
		}
	}()
	cfg.MCP.Upstreams = append(cfg.MCP.Upstreams, upstream.Config{
		Name: "notes", Transport: upstream.TransportHTTP,
		URL: &url.URL{Scheme: "http", Host: ln.Addr().String(), Path: notes.Path},
	})
	return nil
}

// demoGateway writes the demo's authorization model and tuples on a
// node's first start on development defaults (no model yet): the demo
// user may use the notes tools through any agent they authorize.
func demoGateway(ctx context.Context, e env, srv *broker.Server, logger *slog.Logger) {
	if err := demoAuthz(ctx, srv); err != nil {
		if ctx.Err() == nil {
			logger.Warn("demo authorization model not written", "err", err)
		}
		return
	}
	fmt.Fprintf(e.stderr, "subzero: demo MCP gateway at %s/mcp (upstream \"notes\"): connect an MCP client with that URL and log in as %q\n",
		srv.Issuer(), broker.DemoUser)
	fmt.Fprintf(e.stderr, "subzero: demo LLM proxy at %s/v1 (model %q): make a key with `subzero apikey create --name app` and point an OpenAI client at it\n",
		srv.Issuer(), demoModel)
}

// demoModel is the model the demo model server answers for.
const demoModel = "demo-chat"

// startDemoModels runs the demo model server (examples/llmdemo) on a
// loopback port of its own and puts it behind the LLM proxy as upstream
// "demo": on development defaults, /v1 has a model to call.
func startDemoModels(ctx context.Context, cfg *broker.Config, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo models: %w", err)
	}
	hs := &http.Server{Handler: llmdemo.New(llmdemo.Options{Models: []string{demoModel}, ChunkBytes: 8}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && ctx.Err() == nil {
			logger.Error("demo models", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() { hs.Close() })
	// The demo shows a system prompt kept from leaking: a canary planted in
	// every request's, and its text registered for echo detection.
	cfg.LLM.Guard.Canary, cfg.LLM.Guard.SystemPromptLeak = true, true
	cfg.LLM.Upstreams = append(cfg.LLM.Upstreams, llm.UpstreamConfig{
		Name: "demo", Kind: "compatible", Models: []string{demoModel},
		BaseURL: &url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/v1"},
	})
	return nil
}

func demoAuthz(ctx context.Context, srv *broker.Server) error {
	az := srv.Authz()
	if _, err := az.Model(ctx); err == nil {
		return nil // a model exists: leave it, and its tuples, as they are
	}
	sub, err := srv.UserSubject(ctx, broker.DemoUser)
	if err != nil {
		return err
	}
	if _, err := az.WriteModel(ctx, notes.AuthzModel); err != nil {
		return err
	}
	// Tokens name users by their subject, which the tuples must too.
	tuples, err := rebac.ParseTuples(bytes.ReplaceAll(notes.AuthzTuples, []byte("user:demo"), []byte("user:"+sub)))
	if err != nil {
		return err
	}
	_, err = az.WriteTuples(ctx, tuples, nil)
	return err
}
