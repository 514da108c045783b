package main

import (
	"context"
	"fmt"
	"time"

	"github.com/subzero-gateway/subzero/broker"
)

func keysCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usageError("usage: subzero keys rotate [--config FILE] [--data DIR]")
	}
	fs := newFlagSet("keys rotate", e)
	configFile := fs.String("config", e.getenv("SUBZERO_CONFIG"), "config `file` naming the store")
	data := fs.String("data", "", "data `dir` (overrides data_dir)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := broker.LoadConfig(*configFile, e.environ, broker.Flags{DataDir: *data})
	if err != nil {
		return configError(err)
	}
	k, err := broker.RotateKeys(ctx, cfg, e.getenv)
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	fmt.Fprintf(e.stdout, "new signing key %s (%s, generation %d), published now, signing from %s\n",
		k.ID, k.Alg, k.Generation, k.Activate.UTC().Format(time.RFC3339))
	return nil
}
