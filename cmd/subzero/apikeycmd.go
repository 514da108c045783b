package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/broker/apikey"
)

const apikeyUsage = `usage: subzero apikey <command> [--config FILE] [--data DIR]

  create --name N [--models M]  make an API key for the LLM proxy at /v1 (M: comma-
                                separated models or patterns such as gpt-4o*, default
                                any); the key is printed once, as the last line, and
                                stored only as a keyed hash
  list [--json]                 the keys: ID, name, models, created, revoked
  revoke ID                     refuse the key from now on (other nodes on the same
                                Redis within seconds)

Through the running node's admin socket, or, when no node runs, on the data
directory's store directly. Creations and revocations are recorded in the audit
trail. Exit codes: 0 ok, 1 failure, 2 bad usage (or no such key).
`

func apikeyCmd(ctx context.Context, e env, args []string) error {
	if len(args) < 1 {
		return usageError("%s", strings.TrimSpace(apikeyUsage))
	}
	f := newAuthzFlags("apikey "+args[0], e)
	switch args[0] {
	case "create":
		name := f.fs.String("name", "", "the key's `name`, for people")
		models := f.fs.String("models", "", "comma-separated `models` (or patterns) the key may call; default any")
		if _, err := f.parseInterleaved(args[1:], 0, "--name N [--models M]"); err != nil {
			return err
		}
		if *name == "" {
			return usageError("usage: subzero apikey create --name N [--models M]")
		}
		var ms []string
		for m := range strings.SplitSeq(*models, ",") {
			if m = strings.TrimSpace(m); m != "" {
				ms = append(ms, m)
			}
		}
		keys, closeFn, err := openAPIKeys(ctx, e, f)
		if err != nil {
			return err
		}
		defer closeFn()
		plain, k, err := keys.Create(ctx, *name, ms, "local-admin")
		if errors.Is(err, broker.ErrBadAPIKeyRequest) {
			return usageError("apikey create: %v", err)
		}
		if err != nil {
			return fmt.Errorf("apikey create: %w", err)
		}
		scope := "any model"
		if len(k.Models) > 0 {
			scope = strings.Join(k.Models, ", ")
		}
		fmt.Fprintf(e.stdout, "created API key %s (%q, %s); it is shown once, here:\n%s\n", k.ID, k.Name, scope, plain)
		return nil
	case "list":
		asJSON := f.fs.Bool("json", false, "print JSON")
		if _, err := f.parseInterleaved(args[1:], 0, "[--json]"); err != nil {
			return err
		}
		keys, closeFn, err := openAPIKeys(ctx, e, f)
		if err != nil {
			return err
		}
		defer closeFn()
		list, err := keys.List(ctx)
		if err != nil {
			return fmt.Errorf("apikey list: %w", err)
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"api_keys": list})
		}
		if len(list) == 0 {
			fmt.Fprintln(e.stdout, "no API keys")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tMODELS\tCREATED\tREVOKED")
		for _, k := range list {
			models := "*"
			if len(k.Models) > 0 {
				models = strings.Join(k.Models, ",")
			}
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format("2006-01-02 15:04:05Z07:00")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, models, k.Created.Format("2006-01-02 15:04:05Z07:00"), revoked)
		}
		return tw.Flush()
	case "revoke":
		pos, err := f.parseInterleaved(args[1:], 1, "ID")
		if err != nil {
			return err
		}
		keys, closeFn, err := openAPIKeys(ctx, e, f)
		if err != nil {
			return err
		}
		defer closeFn()
		err = keys.Revoke(ctx, pos[0], "local-admin")
		if errors.Is(err, apikey.ErrNotFound) {
			return &exitError{code: 2, err: fmt.Errorf("apikey revoke: no API key %s", pos[0])}
		}
		if err != nil {
			return fmt.Errorf("apikey revoke: %w", err)
		}
		fmt.Fprintf(e.stdout, "revoked %s\n", pos[0])
		return nil
	}
	return usageError("%s", strings.TrimSpace(apikeyUsage))
}

func openAPIKeys(ctx context.Context, e env, f *authzFlags) (broker.APIKeysAdmin, func() error, error) {
	cfg, logger, err := f.load(e)
	if err != nil {
		return nil, nil, err
	}
	return broker.OpenAPIKeys(ctx, cfg, e.getenv, logger)
}
