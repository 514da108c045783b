package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/broker/oauth"
)

const userUsage = `usage: subzero user add NAME --password-stdin [--config FILE] [--data DIR]
       subzero user hash --password-stdin
add puts a user in the embedded identity store (argon2id password hash); hash prints the
argon2id hash of a password for the config's oauth.users. The password is read from the
first line of standard input, never from the command line.
`

func userCmd(ctx context.Context, e env, stdin io.Reader, args []string) error {
	if len(args) == 2 && args[0] == "hash" && args[1] == "--password-stdin" {
		password, err := readPassword(stdin)
		if err != nil {
			return err
		}
		hash, err := oauth.HashPassword(password)
		if err != nil {
			return fmt.Errorf("user hash: %w", err)
		}
		fmt.Fprintln(e.stdout, hash)
		return nil
	}
	if len(args) < 2 || args[0] != "add" || strings.HasPrefix(args[1], "-") {
		fmt.Fprint(e.stderr, userUsage)
		return usageError("usage: subzero user add NAME --password-stdin")
	}
	name := args[1]
	fs := newFlagSet("user add", e)
	configFile := fs.String("config", e.getenv("SUBZERO_CONFIG"), "config `file` naming the store")
	data := fs.String("data", "", "data `dir` (overrides data_dir)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := parse(fs, args[2:]); err != nil {
		return err
	}
	if !*fromStdin {
		return usageError("user add: give the password on standard input with --password-stdin")
	}
	password, err := readPassword(stdin)
	if err != nil {
		return err
	}
	cfg, err := broker.LoadConfig(*configFile, e.environ, broker.Flags{DataDir: *data})
	if err != nil {
		return configError(err)
	}
	u, err := broker.AddUser(ctx, cfg, e.getenv, name, password)
	if errors.Is(err, oauth.ErrExists) {
		return &exitError{code: 1, err: fmt.Errorf("user add: %w", err)}
	}
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	fmt.Fprintf(e.stdout, "added user %s (sub %s)\n", u.Name, u.Subject)
	return nil
}

// readPassword reads the first line of stdin.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, oauth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
