package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// runStdin runs the program with stdin and returns its exit code and output.
func runStdin(t *testing.T, stdin string, args ...string) runResult {
	t.Helper()
	var stdout, stderr syncBuffer
	err := run(t.Context(), args, nil, strings.NewReader(stdin), &stdout, &stderr)
	return runResult{code: exitCode(err, &stderr), stdout: stdout.String(), stderr: stderr.String()}
}

// authenticate checks a password against the users of a stopped node's
// bbolt file.
func authenticate(t *testing.T, data, name, password string) error {
	t.Helper()
	db, err := bolt.Open(filepath.Join(data, "subzero.db"), time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = oauth.NewUsers(db.OAuth(), argon2id.Params{}).Authenticate(t.Context(), name, password)
	return err
}

func TestUserAdd(t *testing.T) {
	data := t.TempDir()
	res := runStdin(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", data)
	if res.code != 0 || !strings.Contains(res.stdout, "added user alice (sub user-") {
		t.Fatalf("user add: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, "correct horse") {
		t.Error("the password was echoed")
	}
	if err := authenticate(t, data, "alice", "correct horse battery"); err != nil {
		t.Fatalf("the added user does not authenticate: %v", err)
	}
	if err := authenticate(t, data, "alice", "wrong password"); !errors.Is(err, oauth.ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"duplicate", "another password\n", []string{"user", "add", "alice", "--password-stdin", "--data", data}, 1, "already exists"},
		{"short password", "short\n", []string{"user", "add", "bob", "--password-stdin", "--data", data}, 1, "password"},
		{"no --password-stdin", "", []string{"user", "add", "bob", "--data", data}, 2, "--password-stdin"},
		{"no name", "", []string{"user", "add"}, 2, "usage"},
		{"bad name", "long enough password\n", []string{"user", "add", "bob smith", "--password-stdin", "--data", data}, 1, "user name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runStdin(t, tc.stdin, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", res.code, res.stderr, tc.code, tc.want)
			}
		})
	}
}

// While a node holds the bbolt file, user add goes through its admin socket.
func TestUserAddWhileRunning(t *testing.T) {
	data := t.TempDir()
	n := serveNode(t, data, "", nil)
	res := runStdin(t, "correct horse battery\n", "user", "add", "carol", "--password-stdin", "--data", data)
	if res.code != 0 || !strings.Contains(res.stdout, "added user carol") {
		t.Fatalf("user add while running: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = runStdin(t, "correct horse battery\n", "user", "add", "carol", "--password-stdin", "--data", data)
	if res.code != 1 || !strings.Contains(res.stderr, "already exists") {
		t.Errorf("duplicate through the socket: exit %d %s", res.code, res.stderr)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	if err := authenticate(t, data, "carol", "correct horse battery"); err != nil {
		t.Fatalf("user added through the socket does not authenticate: %v", err)
	}
}

func TestUserAddRedis(t *testing.T) {
	cfg := redisConfig(t)
	res := runStdin(t, "correct horse battery\n", "user", "add", "dave", "--password-stdin", "--config", cfg)
	if res.code != 0 || !strings.Contains(res.stdout, "added user dave") {
		t.Fatalf("user add on redis: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = runStdin(t, "correct horse battery\n", "user", "add", "dave", "--password-stdin", "--config", cfg)
	if res.code != 1 || !strings.Contains(res.stderr, "already exists") {
		t.Errorf("duplicate on redis: exit %d %s", res.code, res.stderr)
	}
}

func TestConsentWithdraw(t *testing.T) {
	data := t.TempDir()
	if res := runMain(t, t.Context(), nil, "consent", "withdraw", "alice", "agent", "--data", data); res.code != 1 || !strings.Contains(res.stderr, "no running node") {
		t.Errorf("withdraw without a node: exit %d %s", res.code, res.stderr)
	}
	n := serveNode(t, data, "", nil)
	if res := runStdin(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", data); res.code != 0 {
		t.Fatalf("user add: %s", res.stderr)
	}
	res := runMain(t, t.Context(), nil, "consent", "withdraw", "alice", "agent", "--data", data)
	if res.code != 0 || !strings.Contains(res.stdout, "withdrew 0 consents of alice to agent") {
		t.Fatalf("consent withdraw: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := runMain(t, t.Context(), nil, "consent", "withdraw", "nobody", "agent", "--data", data); res.code != 1 || !strings.Contains(res.stderr, "not found") {
		t.Errorf("unknown user: exit %d %s", res.code, res.stderr)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	res = runMain(t, t.Context(), nil, "audit", "query", "--data", data, "--type", "oauth", "--format", "json")
	if !strings.Contains(res.stdout, `"action":"consent.withdrawn"`) {
		t.Errorf("the withdrawal is not in the audit trail:\n%s", res.stdout)
	}
}

// A user listed in the config with a hash from `user hash` logs in, and
// keeps its subject across restarts.
func TestConfigUsers(t *testing.T) {
	res := runStdin(t, "correct horse battery\n", "user", "hash", "--password-stdin")
	hash := strings.TrimSpace(res.stdout)
	if res.code != 0 || !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(res.stdout, "correct horse") {
		t.Fatalf("user hash: exit %d %q %s", res.code, res.stdout, res.stderr)
	}
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "subzero.yaml")
	if err := os.WriteFile(cfg, []byte("server:\n  addr: 127.0.0.1:0\noauth:\n  users:\n    - name: erin\n      password_hash: '"+hash+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	subject := func() string {
		n := serveNode(t, data, cfg, nil)
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(filepath.Join(data, "subzero.db"), time.Second, true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		u, err := oauth.NewUsers(db.OAuth(), argon2id.Params{}).Authenticate(t.Context(), "erin", "correct horse battery")
		if err != nil {
			t.Fatalf("config user does not authenticate: %v", err)
		}
		return u.Subject
	}
	if first, second := subject(), subject(); first != second {
		t.Errorf("subject changed across restarts: %s then %s", first, second)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("oauth:\n  users:\n    - name: erin\n      password_hash: plain-text\n"), 0o600)
	if res := runMain(t, t.Context(), nil, "config", "check", bad); res.code != 2 || !strings.Contains(res.stderr, "oauth.users[0].password_hash") {
		t.Errorf("config with a plain password: exit %d %s", res.code, res.stderr)
	}
}

// On development defaults a node creates a demo user once, shows its
// password on the terminal, and never in the JSON logs.
func TestDemoUser(t *testing.T) {
	data := t.TempDir()
	n := serveNode(t, data, "", nil)
	const line = `demo login for the authorization flow: user "demo", password "`
	waitFor(t, 20*time.Second, "the demo login line", func() bool { return strings.Contains(n.stderr.String(), line) })
	out := n.stderr.String()
	i := strings.Index(out, line)
	rest := out[i+len(line):]
	password := rest[:strings.IndexByte(rest, '"')]
	for _, rec := range logRecords(out) {
		if b, _ := json.Marshal(rec); strings.Contains(string(b), password) {
			t.Errorf("the demo password reached a log record: %s", b)
		}
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	if err := authenticate(t, data, "demo", password); err != nil {
		t.Fatalf("the demo user does not log in with the shown password: %v", err)
	}
}
