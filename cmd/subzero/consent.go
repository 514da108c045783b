package main

import (
	"context"
	"fmt"

	"github.com/subzero-gateway/subzero/broker"
)

func consentCmd(ctx context.Context, e env, args []string) error {
	if len(args) < 3 || args[0] != "withdraw" {
		return usageError("usage: subzero consent withdraw USER CLIENT_ID [--config FILE] [--data DIR]")
	}
	user, clientID := args[1], args[2]
	fs := newFlagSet("consent withdraw", e)
	configFile := fs.String("config", e.getenv("SUBZERO_CONFIG"), "config `file`")
	data := fs.String("data", "", "data `dir` of the running node (overrides data_dir)")
	if err := parse(fs, args[3:]); err != nil {
		return err
	}
	cfg, err := broker.LoadConfig(*configFile, e.environ, broker.Flags{DataDir: *data})
	if err != nil {
		return configError(err)
	}
	n, err := broker.WithdrawConsent(ctx, cfg, user, clientID)
	if err != nil {
		return fmt.Errorf("consent withdraw: %w", err)
	}
	fmt.Fprintf(e.stdout, "withdrew %d consents of %s to %s; its next authorization asks again\n", n, user, clientID)
	return nil
}
