package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/delegation"
	"github.com/subzero-gateway/subzero/delegation/rebac"
)

const authzUsage = `usage: subzero authz <command> [args] [--config FILE] [--data DIR]

  model write FILE              write an authorization model (OpenFGA DSL or JSON)
  model show                    print the current model (DSL)
  tuples write FILE             write tuples (YAML or JSON list of {user, relation, object[, condition]})
  tuples delete FILE            delete tuples (same format)
  tuples read [--object O] [--relation R] [--user U] [--limit N] [--json]
  check USER RELATION OBJECT [--context JSON] [--contextual FILE]
                                print "allowed" or "denied", then the granting path
  explain SUBJECT ACTION RESOURCE [--agent AGENT] [--context JSON]
                                ask the decision point (ReBAC, ABAC, Rego; deny wins) and
                                print "allowed" or "denied", the reason and the granting paths
  list-objects USER RELATION TYPE [--context JSON] [--contextual FILE]
  list-users OBJECT RELATION --filter TYPE[#RELATION] ... [--context JSON] [--contextual FILE]
  expand OBJECT RELATION        print the userset tree (JSON)

Through the running node's admin socket, or, when no node runs, on the data
directory's store directly. Every write is recorded in the audit trail.
Exit codes: 0 ok (check: allowed or denied alike), 1 failure, 2 bad usage or input.
`

// authzFlags are the flags every authz command takes.
type authzFlags struct {
	cfg        *broker.Config // set by open
	fs         *flag.FlagSet
	config     *string
	data       *string
	context    *string
	contextual *string
}

func newAuthzFlags(name string, e env) *authzFlags {
	fs := newFlagSet("authz "+name, e)
	return &authzFlags{
		fs:         fs,
		config:     fs.String("config", e.getenv("SUBZERO_CONFIG"), "config `file` naming the store"),
		data:       fs.String("data", "", "data `dir` (overrides data_dir)"),
		context:    fs.String("context", "", "request context for conditions, a JSON `object`"),
		contextual: fs.String("contextual", "", "`file` of contextual tuples for this request only"),
	}
}

// parseInterleaved parses flags and positional arguments in any order and
// wants exactly n positional arguments.
func (f *authzFlags) parseInterleaved(args []string, n int, names string) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError("%s: %v", f.fs.Name(), err)
		}
		args = f.fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) != n {
		return nil, usageError("usage: subzero %s %s", f.fs.Name(), names)
	}
	return pos, nil
}

// request reads --context and --contextual.
func (f *authzFlags) request() (map[string]any, []rebac.Tuple, error) {
	var ctx map[string]any
	if *f.context != "" {
		dec := json.NewDecoder(strings.NewReader(*f.context))
		dec.UseNumber()
		if err := dec.Decode(&ctx); err != nil || ctx == nil {
			return nil, nil, usageError("%s: --context: want a JSON object", f.fs.Name())
		}
		ctx = plainNumbers(ctx).(map[string]any)
	}
	var tuples []rebac.Tuple
	if *f.contextual != "" {
		var err error
		if tuples, err = readTuples(*f.contextual); err != nil {
			return nil, nil, err
		}
	}
	return ctx, tuples, nil
}

// plainNumbers turns json.Numbers into int64 where they are integers and
// float64 otherwise, as conditions expect.
func plainNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainNumbers(e)
		}
	}
	return v
}

// load reads the config the flags name (kept in f.cfg) and makes the
// warnings-only logger of the administration commands.
func (f *authzFlags) load(e env) (*broker.Config, *slog.Logger, error) {
	cfg, err := broker.LoadConfig(*f.config, e.environ, broker.Flags{DataDir: *f.data})
	if err != nil {
		return nil, nil, configError(err)
	}
	f.cfg = cfg
	return cfg, slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), nil
}

func (f *authzFlags) open(ctx context.Context, e env) (broker.AuthzAdmin, func() error, error) {
	cfg, logger, err := f.load(e)
	if err != nil {
		return nil, nil, err
	}
	return broker.OpenAuthz(ctx, cfg, e.getenv, logger)
}

func readTuples(path string) ([]rebac.Tuple, error) {
	data, err := readInput(path, 16<<20)
	if err != nil {
		return nil, err
	}
	ts, err := rebac.ParseTuples(data)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("%s: %w", path, err)}
	}
	return ts, nil
}

// readInput reads a file of at most max bytes; "-" is standard input.
func readInput(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, usageError("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

// authzFailure maps an engine error to the exit code: 2 when the input
// was wrong, 1 otherwise.
func authzFailure(cmd string, err error) error {
	var re *rebac.Error
	if errors.As(err, &re) {
		switch re.Code {
		case rebac.CodeNoModel, rebac.CodeStale, rebac.CodeTooComplex:
			return &exitError{code: 1, err: fmt.Errorf("authz %s: %w", cmd, err)}
		}
		return &exitError{code: 2, err: fmt.Errorf("authz %s: %w", cmd, err)}
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return fmt.Errorf("authz %s: %w", cmd, err)
}

func authzCmd(ctx context.Context, e env, args []string) (err error) {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, authzUsage)
		return usageError("authz: no command given")
	}
	cmd, args := args[0], args[1:]
	if cmd == "model" || cmd == "tuples" {
		if len(args) == 0 {
			fmt.Fprint(e.stderr, authzUsage)
			return usageError("authz %s: want a subcommand", cmd)
		}
		cmd, args = cmd+" "+args[0], args[1:]
	}
	f := newAuthzFlags(cmd, e)
	var run func(a broker.AuthzAdmin, pos []string) error
	var pos []string
	switch cmd {
	case "model write":
		pos, err = f.parseInterleaved(args, 1, "FILE")
		run = func(a broker.AuthzAdmin, pos []string) error {
			src, err := readInput(pos[0], 1<<20)
			if err != nil {
				return err
			}
			info, err := a.WriteModel(ctx, src)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "model %s written (revision %s)\n", info.ID, info.Revision)
			return nil
		}
	case "model show":
		pos, err = f.parseInterleaved(args, 0, "")
		run = func(a broker.AuthzAdmin, _ []string) error {
			info, err := a.Model(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "# model %s (revision %s)\n%s", info.ID, info.Revision, info.DSL)
			if !strings.HasSuffix(info.DSL, "\n") {
				fmt.Fprintln(e.stdout)
			}
			return nil
		}
	case "tuples write", "tuples delete":
		pos, err = f.parseInterleaved(args, 1, "FILE")
		run = func(a broker.AuthzAdmin, pos []string) error {
			ts, err := readTuples(pos[0])
			if err != nil {
				return err
			}
			var rev string
			if cmd == "tuples write" {
				rev, err = a.WriteTuples(ctx, ts, nil)
			} else {
				rev, err = a.WriteTuples(ctx, nil, ts)
			}
			if err != nil {
				return err
			}
			done := map[string]string{"tuples write": "written", "tuples delete": "deleted"}[cmd]
			fmt.Fprintf(e.stdout, "%d tuples %s (revision %s)\n", len(ts), done, rev)
			return nil
		}
	case "tuples read":
		object := f.fs.String("object", "", "only tuples on this `object`")
		relation := f.fs.String("relation", "", "only tuples of this `relation`")
		user := f.fs.String("user", "", "only tuples of this `user`")
		limit := f.fs.Int("limit", 100, "at most `n` tuples")
		asJSON := f.fs.Bool("json", false, "print JSON lines")
		pos, err = f.parseInterleaved(args, 0, "[--object O] [--relation R] [--user U] [--limit N] [--json]")
		run = func(a broker.AuthzAdmin, _ []string) error {
			ts, err := a.ReadTuples(ctx, rebac.Tuple{Object: *object, Relation: *relation, User: *user}, *limit)
			if err != nil {
				return err
			}
			if *asJSON {
				enc := json.NewEncoder(e.stdout)
				for _, t := range ts {
					enc.Encode(t)
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tRELATION\tOBJECT\tCONDITION")
			for _, t := range ts {
				cond := ""
				if t.Condition != nil {
					cond = t.Condition.Name
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.User, t.Relation, t.Object, cond)
			}
			return tw.Flush()
		}
	case "explain":
		agent := f.fs.String("agent", "", "the `agent` acting for the subject (its ID, without type)")
		pos, err = f.parseInterleaved(args, 3, "SUBJECT ACTION RESOURCE [--agent AGENT] [--context JSON]")
		run = func(a broker.AuthzAdmin, pos []string) error {
			c, _, err := f.request()
			if err != nil {
				return err
			}
			if *f.contextual != "" {
				return usageError("authz explain: --contextual is for check, list-objects and list-users")
			}
			subject := strings.TrimPrefix(pos[0], f.cfg.Authz.Decision.ReBAC.UserType+":")
			ag := strings.TrimPrefix(*agent, f.cfg.Authz.Decision.ReBAC.AgentType+":")
			d, err := a.Explain(ctx, delegation.Request{Subject: delegation.Subject{ID: subject}, Agent: delegation.Agent{ID: ag},
				Action: pos[1], Resource: pos[2], Context: c})
			if err != nil {
				return err
			}
			word := "denied"
			if d.Allowed {
				word = "allowed"
			}
			fmt.Fprintf(e.stdout, "%s: %s\n", word, d.Reason)
			if d.Engine != "" {
				fmt.Fprintf(e.stdout, "  engine: %s\n", d.Engine)
			}
			if d.Rule != "" {
				fmt.Fprintf(e.stdout, "  rule: %s\n", d.Rule)
			}
			for _, p := range d.Path {
				fmt.Fprintf(e.stdout, "  granted: %s\n", p)
			}
			return nil
		}
	case "check":
		pos, err = f.parseInterleaved(args, 3, "USER RELATION OBJECT [--context JSON] [--contextual FILE]")
		run = func(a broker.AuthzAdmin, pos []string) error {
			c, tuples, err := f.request()
			if err != nil {
				return err
			}
			res, err := a.Check(ctx, rebac.CheckRequest{User: pos[0], Relation: pos[1], Object: pos[2], Context: c, ContextualTuples: tuples})
			if err != nil {
				return err
			}
			word := "denied"
			if res.Allowed {
				word = "allowed"
			}
			fmt.Fprintf(e.stdout, "%s %s %s %s (revision %s)\n", word, pos[0], pos[1], pos[2], res.Revision)
			for i, step := range res.Path {
				fmt.Fprintf(e.stdout, "  %s%s\n", strings.Repeat("  ", i), step)
			}
			return nil
		}
	case "list-objects":
		pos, err = f.parseInterleaved(args, 3, "USER RELATION TYPE [--context JSON] [--contextual FILE]")
		run = func(a broker.AuthzAdmin, pos []string) error {
			c, tuples, err := f.request()
			if err != nil {
				return err
			}
			objs, err := a.ListObjects(ctx, rebac.ListObjectsRequest{User: pos[0], Relation: pos[1], Type: pos[2], Context: c, ContextualTuples: tuples})
			if err != nil {
				return err
			}
			for _, o := range objs {
				fmt.Fprintln(e.stdout, o)
			}
			return nil
		}
	case "list-users":
		var filters stringList
		f.fs.Var(&filters, "filter", "user `type` or type#relation to list (repeatable)")
		pos, err = f.parseInterleaved(args, 2, "OBJECT RELATION --filter TYPE[#RELATION] ...")
		run = func(a broker.AuthzAdmin, pos []string) error {
			if len(filters) == 0 {
				return usageError("authz list-users: give at least one --filter, e.g. --filter user")
			}
			c, tuples, err := f.request()
			if err != nil {
				return err
			}
			users, err := a.ListUsers(ctx, rebac.ListUsersRequest{Object: pos[0], Relation: pos[1], Filters: filters, Context: c, ContextualTuples: tuples})
			if err != nil {
				return err
			}
			for _, u := range users {
				fmt.Fprintln(e.stdout, u)
			}
			return nil
		}
	case "expand":
		pos, err = f.parseInterleaved(args, 2, "OBJECT RELATION")
		run = func(a broker.AuthzAdmin, pos []string) error {
			_, tuples, err := f.request()
			if err != nil {
				return err
			}
			tree, err := a.Expand(ctx, rebac.ExpandRequest{Object: pos[0], Relation: pos[1], ContextualTuples: tuples})
			if err != nil {
				return err
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(tree)
		}
	default:
		fmt.Fprint(e.stderr, authzUsage)
		return usageError("authz: unknown command %q", cmd)
	}
	if err != nil {
		return err
	}
	a, closeFn, err := f.open(ctx, e)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeFn(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if err := run(a, pos); err != nil {
		return authzFailure(cmd, err)
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
