package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

const usage = `usage: subzero <command> [flags]

commands:
  serve [--config FILE] [--addr HOST:PORT] [--data DIR]
                      run a node (no config: development defaults, loopback only)
  config check FILE   validate FILE and print the effective config, secrets masked
  audit verify        verify every audit chain and checkpoint
  audit query         search audit events
  audit tail [-f]     print the latest audit events, and follow
  audit key           print this node's audit public key (PEM)
  user add NAME --password-stdin
                      add a user to the embedded identity store
  keys rotate         add a new token signing key (old keys keep verifying)
  consent withdraw USER CLIENT_ID
                      forget a user's consents to a client (through the running node)
  authz ...           authorization models, tuples, checks and lists (subzero authz help)
  mcp tools ...       the MCP gateway's quarantined tools and their approval (subzero mcp help)
  apikey create --name N [--models M]
                      make an API key for the LLM proxy at /v1, printed once as the last line
  apikey list | revoke ID
                      list or revoke API keys (subzero apikey help)
  eval guard --data FILE.jsonl [--format table|json] [--rows FILE] [--fold I/K] [--check]
                      measure the guard on a labelled data set (docs/GUARD.md)
  guard scan [--direction D] [--json]
                      scan standard input with the guard and print the verdict (JSON)
  version             print the version

exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config
`

// exitError carries the exit code of a failure.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is exit code 2: the command line or the config is wrong.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func configError(err error) error { return &exitError{code: 2, err: err} }

// errFailed reports a failure already explained on stdout (a chain that
// does not verify).
var errFailed = &exitError{code: 1, err: errors.New("")}

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(stderr, "subzero: %s\n", msg)
	}
	return code
}

// env is the process environment, as given to run.
type env struct {
	environ        []string
	stdout, stderr io.Writer
}

func (e env) getenv(name string) string {
	for _, kv := range e.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{environ: environ, stdout: stdout, stderr: stderr}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, e, rest)
	case "config":
		return configCmd(e, rest)
	case "audit":
		return auditCmd(ctx, e, rest)
	case "user":
		return userCmd(ctx, e, stdin, rest)
	case "keys":
		return keysCmd(ctx, e, rest)
	case "consent":
		return consentCmd(ctx, e, rest)
	case "authz":
		if len(rest) == 1 && (rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help") {
			fmt.Fprint(stdout, authzUsage)
			return nil
		}
		return authzCmd(ctx, e, rest)
	case "mcp":
		if len(rest) == 1 && (rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help") {
			fmt.Fprint(stdout, mcpUsage)
			return nil
		}
		return mcpCmd(ctx, e, rest)
	case "apikey":
		if len(rest) == 1 && (rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help") {
			fmt.Fprint(stdout, apikeyUsage)
			return nil
		}
		return apikeyCmd(ctx, e, rest)
	case "eval":
		return evalCmd(ctx, e, rest)
	case "guard":
		return guardCmd(ctx, e, stdin, rest)
	case "version":
		fmt.Fprintln(stdout, "subzero", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError("unknown command %q", cmd)
	}
}

// version is the module version and VCS revision the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				v += "-dirty"
			}
		}
	}
	return v
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parse parses args and refuses leftover arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usageError("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
