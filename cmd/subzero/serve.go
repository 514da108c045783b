package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/subzero-gateway/subzero/broker"
)

func serve(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("serve", e)
	configFile := fs.String("config", e.getenv("SUBZERO_CONFIG"), "config `file` (default: development defaults)")
	addr := fs.String("addr", "", "listen address `host:port` (overrides server.addr)")
	data := fs.String("data", "", "data `dir` (overrides data_dir)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return serveWith(ctx, e, *configFile, broker.Flags{Addr: *addr, DataDir: *data}, nil)
}

// serveWith runs a node; ready (tests) receives the bound address.
func serveWith(ctx context.Context, e env, configFile string, flags broker.Flags, ready func(net.Addr)) error {
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
			go demoUser(ctx, e, srv, logger)
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
