// Command mcpdemo runs the demo upstream MCP server ("notes", package
// examples/mcpdemo/notes) on standard input and output or on Streamable
// HTTP:
//
//	go run ./examples/mcpdemo --stdio
//	go run ./examples/mcpdemo --addr 127.0.0.1:9001   # http://127.0.0.1:9001/mcp
//
// Logs go to standard error only. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/subzero-gateway/subzero/examples/mcpdemo/notes"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcpdemo:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
}

const usage = `usage: mcpdemo (--stdio | --addr HOST:PORT) [--name NAME] [--mutate-after N]

The demo upstream MCP server "notes": tools search_notes, read_note,
write_note, delete_note and fetch (canned pages, some with attacks).
`

// run parses args and serves until ctx ends or, with --stdio, stdin ends.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mcpdemo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	cfg := notes.Default()
	stdio := fs.Bool("stdio", false, "serve MCP on standard input and output")
	addr := fs.String("addr", "", "serve Streamable HTTP at http://`HOST:PORT`/mcp")
	fs.StringVar(&cfg.Name, "name", cfg.Name, "the server `name` reported to clients")
	fs.IntVar(&cfg.MutateAfter, "mutate-after", 0, "test fixture: after `N` tools/list requests, change search_notes's description to one with a hidden instruction (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case *stdio == (*addr != ""):
		fs.Usage()
		return errors.New("give exactly one of --stdio and --addr")
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := notes.New(cfg, logger)
	if err != nil {
		return err
	}
	if *stdio {
		logger.Info("serving stdio", "name", cfg.Name, "mutate_after", cfg.MutateAfter)
		err := srv.ServeStdio(ctx, stdin, stdout)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	return srv.Serve(ctx, ln)
}
