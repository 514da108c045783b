package main

import (
	"fmt"

	"github.com/subzero-gateway/subzero/broker"
)

func configCmd(e env, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return usageError("usage: subzero config check FILE")
	}
	fs := newFlagSet("config check", e)
	if err := fs.Parse(args[1:]); err != nil {
		return usageError("config check: %v", err)
	}
	if fs.NArg() != 1 {
		return usageError("usage: subzero config check FILE")
	}
	cfg, err := broker.LoadConfig(fs.Arg(0), e.environ, broker.Flags{})
	if err != nil {
		return configError(err)
	}
	out, err := cfg.Dump()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "# %s: valid; effective configuration (secrets masked):\n%s", fs.Arg(0), out)
	return nil
}
