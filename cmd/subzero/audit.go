package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker"
)

const auditUsage = `usage:
  subzero audit verify [--config FILE] [--data DIR] [--key PUBKEY.pem]... [--node ID]... [--format text|json]
  subzero audit query  [--config FILE] [--data DIR] [--actor A] [--type T] [--decision allow|deny|error]
                       [--since TIME] [--until TIME] [--limit N] [--node ID]... [--format table|json]
  subzero audit tail   [--config FILE] [--data DIR] [-n N] [-f] [--node ID]... [--format table|json]
  subzero audit key    [--config FILE] [--data DIR]
TIME is RFC 3339 (2026-11-27T10:00:00Z) or a duration before now (90m).
`

// storeFlags are the flags every audit subcommand takes to find the store.
type storeFlags struct {
	config, data string
	nodes        []string
}

func (s *storeFlags) register(fs *flag.FlagSet, e env) {
	fs.StringVar(&s.config, "config", e.getenv("SUBZERO_CONFIG"), "config `file` naming the store")
	fs.StringVar(&s.data, "data", "", "data `dir` (overrides data_dir)")
	fs.Func("node", "only this node `ID` (repeatable)", func(v string) error {
		s.nodes = append(s.nodes, v)
		return nil
	})
}

func (s *storeFlags) load(e env) (*broker.Config, error) {
	cfg, err := broker.LoadConfig(s.config, e.environ, broker.Flags{DataDir: s.data})
	if err != nil {
		return nil, configError(err)
	}
	return cfg, nil
}

func (s *storeFlags) open(ctx context.Context, e env) (audit.Reader, func() error, error) {
	cfg, err := s.load(e)
	if err != nil {
		return nil, nil, err
	}
	return broker.OpenAuditReader(ctx, cfg, e.getenv)
}

func auditCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, auditUsage)
		return usageError("audit: no subcommand given")
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, e, args[1:])
	case "query":
		return auditQuery(ctx, e, args[1:])
	case "tail":
		return auditTail(ctx, e, args[1:])
	case "key":
		return auditKey(e, args[1:])
	default:
		fmt.Fprint(e.stderr, auditUsage)
		return usageError("audit: unknown subcommand %q", args[0])
	}
}

func auditVerify(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("audit verify", e)
	var sf storeFlags
	sf.register(fs, e)
	var keys []ed25519.PublicKey
	fs.Func("key", "trusted checkpoint public key `file` (PEM; repeatable)", func(path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ks, err := audit.ParsePublicKeys(data)
		keys = append(keys, ks...)
		return err
	})
	format := fs.String("format", "text", "output `format`: text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usageError("audit verify: --format must be text or json")
	}
	r, closeFn, err := sf.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeFn()
	reps, err := audit.Verify(ctx, r, audit.VerifyOptions{Nodes: sf.nodes, Keys: keys})
	if err != nil {
		return err
	}
	ok := true
	for _, rep := range reps {
		ok = ok && rep.OK()
	}
	if *format == "json" {
		json.NewEncoder(e.stdout).Encode(map[string]any{"ok": ok, "chains": reps})
	} else {
		printReports(e.stdout, reps, len(keys) == 0)
	}
	if !ok {
		return errFailed
	}
	return nil
}

func printReports(w io.Writer, reps []audit.ChainReport, keysFromStore bool) {
	if len(reps) == 0 {
		fmt.Fprintln(w, "no audit chains found")
	}
	for _, rep := range reps {
		if rep.OK() {
			fmt.Fprintf(w, "node %s: ok: %d events, last seq %d, %d signed checkpoints (last at seq %d)\n",
				rep.Node, rep.Events, rep.LastSeq, rep.Checkpoints, rep.LastCheckpoint)
			if rep.LastCheckpoint < rep.LastSeq {
				fmt.Fprintf(w, "node %s: note: seqs %d to %d are after the last checkpoint and not yet signed\n",
					rep.Node, rep.LastCheckpoint+1, rep.LastSeq)
			}
			continue
		}
		p := rep.Problems[0]
		fmt.Fprintf(w, "node %s: FAILED at seq %d: %s: %s\n", rep.Node, p.Seq, p.Kind, p.Detail)
		for _, p := range rep.Problems[1:] {
			fmt.Fprintf(w, "node %s: also at seq %d: %s: %s\n", rep.Node, p.Seq, p.Kind, p.Detail)
		}
	}
	if keysFromStore && len(reps) > 0 {
		fmt.Fprintln(w, "warning: checkpoint keys were read from the store itself; pass --key with the exported public keys (subzero audit key) for an independent check")
	}
}

// parseTime reads RFC 3339 or a duration before now.
func parseTime(now time.Time) func(*time.Time) func(string) error {
	return func(dst *time.Time) func(string) error {
		return func(v string) error {
			if d, err := time.ParseDuration(v); err == nil {
				*dst = now.Add(-d)
				return nil
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fmt.Errorf("want RFC 3339 or a duration such as 90m, got %q", v)
			}
			*dst = t
			return nil
		}
	}
}

func auditQuery(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("audit query", e)
	var sf storeFlags
	sf.register(fs, e)
	var f audit.Filter
	fs.StringVar(&f.Actor, "actor", "", "subject, client ID or delegation chain `actor`")
	fs.StringVar(&f.Type, "type", "", "event `type`")
	decision := fs.String("decision", "", "allow, deny or error")
	ptime := parseTime(time.Now())
	fs.Func("since", "events at or after `TIME`", ptime(&f.Since))
	fs.Func("until", "events before `TIME`", ptime(&f.Until))
	fs.IntVar(&f.Limit, "limit", 100, "at most `N` events, oldest first (0: all)")
	format := fs.String("format", "table", "output `format`: table or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch audit.Decision(*decision) {
	case "", audit.Allow, audit.Deny, audit.Error:
		f.Decision = audit.Decision(*decision)
	default:
		return usageError("audit query: --decision must be allow, deny or error")
	}
	if f.Limit < 0 {
		return usageError("audit query: --limit must not be negative")
	}
	print, err := eventPrinter(e.stdout, *format)
	if err != nil {
		return err
	}
	f.Nodes = sf.nodes
	r, closeFn, err := sf.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeFn()
	events, err := audit.Query(ctx, r, f)
	if err != nil {
		return err
	}
	for _, ev := range events {
		print(ev)
	}
	print(audit.Event{}) // flush
	return nil
}

func auditTail(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("audit tail", e)
	var sf storeFlags
	sf.register(fs, e)
	n := fs.Int("n", 10, "print the last `N` events of each node")
	follow := fs.Bool("f", false, "follow: print new events as they are appended")
	interval := fs.Duration("interval", time.Second, "poll `interval` with -f")
	format := fs.String("format", "table", "output `format`: table or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 0 || *interval < 10*time.Millisecond {
		return usageError("audit tail: -n must not be negative and --interval at least 10ms")
	}
	print, err := eventPrinter(e.stdout, *format)
	if err != nil {
		return err
	}
	r, closeFn, err := sf.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeFn()
	return audit.Tail(ctx, r, sf.nodes, *n, *follow, *interval, func(ev audit.Event) error {
		print(ev)
		print(audit.Event{}) // flush each line when following
		return nil
	})
}

// eventPrinter prints events; the zero Event flushes.
func eventPrinter(w io.Writer, format string) (func(audit.Event), error) {
	switch format {
	case "json":
		return func(ev audit.Event) {
			if ev.Seq != 0 {
				w.Write(append(ev.Encode(), '\n'))
			}
		}, nil
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		header := false
		return func(ev audit.Event) {
			if ev.Seq == 0 {
				tw.Flush()
				return
			}
			if !header {
				fmt.Fprintln(tw, "TIME\tNODE\tSEQ\tTYPE\tACTION\tDECISION\tACTOR\tTARGET\tREASON")
				header = true
			}
			actor := ev.Actor.Subject
			if ev.Actor.ClientID != "" {
				actor += " via " + ev.Actor.ClientID
			}
			for _, a := range ev.Actor.Chain {
				actor += " > " + a
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.Format(time.RFC3339Nano), ev.Node, ev.Seq,
				ev.Type, ev.Action, ev.Decision, oneLine(actor), oneLine(ev.Target), oneLine(ev.Reason))
		}, nil
	default:
		return nil, usageError("--format must be table or json")
	}
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func auditKey(e env, args []string) error {
	fs := newFlagSet("audit key", e)
	var sf storeFlags
	sf.register(fs, e)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := sf.load(e)
	if err != nil {
		return err
	}
	path, _ := cfg.SigningKeyPath()
	key, err := audit.LoadOrCreateKey(path, false)
	if err != nil {
		return fmt.Errorf("%w (a node creates its key on first start)", err)
	}
	_, err = e.stdout.Write(audit.EncodePublicKey(key.Public().(ed25519.PublicKey)))
	return err
}
