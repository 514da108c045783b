package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/subzero-gateway/subzero/evals"
	"github.com/subzero-gateway/subzero/guard/standard"
)

const evalUsage = `usage: subzero eval guard --data FILE.jsonl [--format table|json] [--rows FILE] [--fold I/K] [--check]

Scans each row of FILE, one JSON object per line {"id","text","label","category"} with
label benign, injection, jailbreak, pii or secret, as a prompt with the guard on its
default policy, one row at a time, and prints recall, precision, false-positive rates, F1,
latency and throughput per class, label, category family and category (docs/GUARD.md).

  --format F    table (default) or json
  --rows FILE   also write one JSON line per row to FILE: id, label, category, the
                finding classes, the action, the latency
  --fold I/K    only the rows whose id hashes (FNV-1a) to I modulo K; 0/5 is the
                fifth of the development set the injection classifier never saw
  --check       exit 1 when the targets of issue 5 are not met

Exit codes: 0 ok, 1 failure (with --check: targets not met), 2 bad usage or bad data.
`

func evalCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, evalUsage)
		return usageError("eval: no subcommand given")
	}
	switch args[0] {
	case "guard":
		return evalGuard(ctx, e, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, evalUsage)
		return nil
	default:
		fmt.Fprint(e.stderr, evalUsage)
		return usageError("eval: unknown subcommand %q", args[0])
	}
}

func evalGuard(ctx context.Context, e env, args []string) (err error) {
	fs := newFlagSet("eval guard", e)
	data := fs.String("data", "", "evaluation `file`, JSONL")
	format := fs.String("format", "table", "output `format`: table or json")
	rowsPath := fs.String("rows", "", "write one JSON line per row to `file`")
	foldFlag := fs.String("fold", "", "only the rows of fold `I/K`")
	check := fs.Bool("check", false, "exit 1 when the targets are not met")
	configFile := fs.String("config", e.getenv("SUBZERO_CONFIG"), "node config `file` whose guard section to measure (default: the built-in policy)")
	if err := parse(fs, args); err != nil {
		return err
	}
	gcfg, err := guardConfig(*configFile, e)
	if err != nil {
		return err
	}
	var fold *evals.Fold
	if *foldFlag != "" {
		f, err := evals.ParseFold(*foldFlag)
		if err != nil {
			return usageError("eval guard: --fold: %v", err)
		}
		fold = &f
	}
	if *data == "" {
		return usageError("eval guard: --data FILE is required")
	}
	if *format != "table" && *format != "json" {
		return usageError("eval guard: --format must be table or json, not %q", *format)
	}
	f, err := os.Open(*data)
	if err != nil {
		return usageError("eval guard: %v", err)
	}
	defer f.Close()
	g, err := standard.Open(gcfg, e.getenv, slog.New(slog.NewTextHandler(e.stderr, nil)))
	if err != nil {
		return fmt.Errorf("eval guard: %w", err)
	}
	var opts evals.Options
	if *rowsPath != "" {
		rf, err := os.Create(*rowsPath)
		if err != nil {
			return fmt.Errorf("eval guard: %w", err)
		}
		defer func() {
			if cerr := rf.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("eval guard: %w", cerr)
			}
		}()
		opts.Rows = rf
	}
	rows := evals.ReadRows(f, evals.DefaultLimits())
	if fold != nil {
		rows = fold.Filter(rows)
	}
	rep, err := evals.Guard(ctx, g, rows, opts)
	if errors.Is(err, evals.ErrBadData) {
		return &exitError{code: 2, err: fmt.Errorf("eval guard: %s: %w", *data, err)}
	}
	if err != nil {
		return fmt.Errorf("eval guard: %s: %w", *data, err)
	}
	targets := rep.Check(evals.DefaultTargets())
	if err := writeReport(e.stdout, *format, &rep, targets, fold); err != nil {
		return fmt.Errorf("eval guard: %w", err)
	}
	if *check {
		for _, t := range targets {
			if !t.Met {
				return &exitError{code: 1, err: errors.New("eval guard: targets not met")}
			}
		}
	}
	return nil
}

func writeReport(w io.Writer, format string, rep *evals.Report, targets []evals.TargetResult, fold *evals.Fold) error {
	var foldName string
	if fold != nil {
		foldName = fold.String()
	}
	if format == "table" {
		if fold != nil {
			if _, err := fmt.Fprintf(w, "fold %s of the rows only (FNV-1a of the id modulo %d)\n", fold, fold.K); err != nil {
				return err
			}
		}
		return evals.WriteTable(w, rep, targets)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Fold string `json:"fold,omitempty"`
		*evals.Report
		Targets []evals.TargetResult `json:"targets"`
	}{foldName, rep, targets})
}
