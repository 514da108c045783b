package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/mcp/pin"
)

const mcpUsage = `usage: subzero mcp tools <command> [--config FILE] [--data DIR]

  tools quarantined [--json]    list the tools held back from agents until an admin
                                approves them, with what changed in their definitions
  tools approve NAME HASH       let NAME (upstream__tool) through with the pending
                                definition whose hash is HASH (as listed: what you
                                reviewed is what is approved)

Through the running node's admin socket, or, when no node runs, on the data
directory's store directly. Every approval is recorded in the audit trail.
Exit codes: 0 ok, 1 failure, 2 bad usage (or HASH is not the pending definition's).
`

func mcpCmd(ctx context.Context, e env, args []string) error {
	if len(args) < 2 || args[0] != "tools" {
		return usageError("%s", strings.TrimSpace(mcpUsage))
	}
	f := newAuthzFlags("mcp tools "+args[1], e)
	asJSON := f.fs.Bool("json", false, "print JSON")
	switch args[1] {
	case "quarantined":
		if _, err := f.parseInterleaved(args[2:], 0, ""); err != nil {
			return err
		}
		tools, closeFn, err := openTools(ctx, e, f)
		if err != nil {
			return err
		}
		defer closeFn()
		list, err := tools.Quarantined(ctx)
		if err != nil {
			return fmt.Errorf("mcp tools quarantined: %w", err)
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"tools": list})
		}
		if len(list) == 0 {
			fmt.Fprintln(e.stdout, "no quarantined tools")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPENDING HASH\tQUARANTINED")
		for _, q := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", q.Name, q.PendingHash, q.QuarantinedAt.Format("2006-01-02 15:04:05Z07:00"))
		}
		tw.Flush()
		for _, q := range list {
			for _, c := range q.Changes {
				fmt.Fprintf(e.stdout, "\n%s: %s changed\n", q.Name, c.Field)
				if c.Diff != "" {
					fmt.Fprintln(e.stdout, strings.TrimRight(c.Diff, "\n"))
				}
				for _, p := range c.Added {
					fmt.Fprintf(e.stdout, "  + %s\n", p)
				}
				for _, p := range c.Removed {
					fmt.Fprintf(e.stdout, "  - %s\n", p)
				}
				for _, p := range c.Changed {
					fmt.Fprintf(e.stdout, "  ~ %s\n", p)
				}
			}
		}
		return nil
	case "approve":
		pos, err := f.parseInterleaved(args[2:], 2, "NAME HASH")
		if err != nil {
			return err
		}
		tools, closeFn, err := openTools(ctx, e, f)
		if err != nil {
			return err
		}
		defer closeFn()
		err = tools.Approve(ctx, pos[0], pos[1], "local-admin")
		switch {
		case errors.Is(err, pin.ErrNotFound):
			return &exitError{code: 2, err: fmt.Errorf("mcp tools approve: %s is not quarantined", pos[0])}
		case errors.Is(err, pin.ErrStale):
			return &exitError{code: 2, err: fmt.Errorf("mcp tools approve: %s's pending definition is not %s: list it again and review what changed", pos[0], pos[1])}
		case errors.Is(err, pin.ErrPinned):
			return &exitError{code: 2, err: fmt.Errorf("mcp tools approve: %s is pinned in mcp.pinning.pins: change the pin in the configuration", pos[0])}
		case err != nil:
			return fmt.Errorf("mcp tools approve: %w", err)
		}
		fmt.Fprintf(e.stdout, "approved %s %s\n", pos[0], pos[1])
		return nil
	}
	return usageError("%s", strings.TrimSpace(mcpUsage))
}

func openTools(ctx context.Context, e env, f *authzFlags) (broker.ToolsAdmin, func() error, error) {
	cfg, logger, err := f.load(e)
	if err != nil {
		return nil, nil, err
	}
	return broker.OpenTools(ctx, cfg, e.getenv, logger)
}
