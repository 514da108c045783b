package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/subzero-gateway/subzero/broker"
	"io"
	"log/slog"
	"slices"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/standard"
)

const guardUsage = `usage: subzero guard scan [--direction D] [--json] < INPUT

Scans standard input with the guard on its default policy and prints the verdict as
JSON: the action (allow, flag, redact, block), the findings, and the redacted content
when the action is redact.

  --direction D   prompt (default), completion, tool_arguments, tool_result or
                  tool_description
  --json          the input is JSON: every string in it is scanned, and findings
                  carry its path

The input may be as large as the guard's input limit. Exit codes: 0 ok (whatever the
verdict), 1 failure, 2 bad usage or bad input (too large, or not JSON with --json).
`

var directions = []guard.Direction{guard.Prompt, guard.Completion, guard.ToolArguments, guard.ToolResult, guard.ToolDescription}

func guardCmd(ctx context.Context, e env, stdin io.Reader, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, guardUsage)
		return usageError("guard: no subcommand given")
	}
	switch args[0] {
	case "scan":
		return guardScan(ctx, e, stdin, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, guardUsage)
		return nil
	default:
		fmt.Fprint(e.stderr, guardUsage)
		return usageError("guard: unknown subcommand %q", args[0])
	}
}

func guardScan(ctx context.Context, e env, stdin io.Reader, args []string) error {
	fs := newFlagSet("guard scan", e)
	dir := fs.String("direction", string(guard.Prompt), "where the input travels: `D`")
	isJSON := fs.Bool("json", false, "the input is JSON")
	configFile := fs.String("config", e.getenv("SUBZERO_CONFIG"), "node config `file` whose guard section applies (default: the built-in policy)")
	if err := parse(fs, args); err != nil {
		return err
	}
	d := guard.Direction(*dir)
	if !slices.Contains(directions, d) {
		return usageError("guard scan: --direction must be prompt, completion, tool_arguments, tool_result or tool_description, not %q", *dir)
	}
	cfg, err := guardConfig(*configFile, e)
	if err != nil {
		return err
	}
	limit := cfg.MaxBytes
	if limit == 0 {
		limit = guard.DefaultMaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(stdin, int64(limit)+1))
	if err != nil {
		return fmt.Errorf("guard scan: read standard input: %w", err)
	}
	if len(data) > limit {
		return usageError("guard scan: the input is larger than the guard's limit of %d bytes", limit)
	}
	in := guard.Input{Direction: d}
	if *isJSON {
		in.JSON = data
	} else {
		in.Text = string(data)
	}
	g, err := standard.Open(cfg, e.getenv, slog.New(slog.NewTextHandler(e.stderr, nil)))
	if err != nil {
		return fmt.Errorf("guard scan: %w", err)
	}
	v, err := g.Scan(ctx, in)
	if errors.Is(err, guard.ErrTooLarge) || errors.Is(err, guard.ErrInvalidJSON) || errors.Is(err, guard.ErrTooDeep) {
		return &exitError{code: 2, err: fmt.Errorf("guard scan: %w", err)}
	}
	if err != nil {
		return fmt.Errorf("guard scan: %w", err)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// guardConfig is the guard section of the node config in file, or the
// built-in policy when file is "".
func guardConfig(file string, e env) (standard.Config, error) {
	if file == "" {
		return standard.Default(), nil
	}
	cfg, err := broker.LoadConfig(file, e.environ, broker.Flags{})
	if err != nil {
		return standard.Config{}, configError(err)
	}
	return cfg.Guard, nil
}
