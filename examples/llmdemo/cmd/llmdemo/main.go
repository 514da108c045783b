// Command llmdemo serves the demo OpenAI-compatible model server
// (package examples/llmdemo) on a loopback address:
//
//	go run ./examples/llmdemo/cmd/llmdemo --addr 127.0.0.1:9100 --models demo-model,demo-large
//
// Point an upstream of the proxy at http://127.0.0.1:9100/v1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/subzero-gateway/subzero/examples/llmdemo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "llmdemo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("llmdemo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9100", "address to listen on")
	models := fs.String("models", "demo-model", "comma-separated model IDs")
	chunk := fs.Int("chunk-bytes", 4, "content bytes per streamed chunk")
	keyEnv := fs.String("api-key-env", "", "environment variable holding the API key requests must carry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := llmdemo.Options{Models: strings.Split(*models, ","), ChunkBytes: *chunk}
	if *keyEnv != "" {
		if opts.APIKey = getenv(*keyEnv); opts.APIKey == "" {
			return fmt.Errorf("%s is unset or empty", *keyEnv)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: llmdemo.New(opts), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "llmdemo: serving http://%s/v1\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
