package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/store/bolt"
)

const cliModel = `model
  schema 1.1
type user
type team
  relations
    define member: [user]
type repo
  relations
    define admin: [user]
    define writer: [user, team#member] or admin
    define reader: [user, user:*] or writer
    define on_call: [user with business_hours]
condition business_hours(hour: int) {
  hour >= 9 && hour < 17
}
`

const cliTuples = `- user: user:anne
  relation: member
  object: team:core
- user: team:core#member
  relation: writer
  object: repo:subzero
- user: user:bob
  relation: on_call
  object: repo:subzero
  condition:
    name: business_hours
`

func writeFiles(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// authzSession runs `subzero authz` commands against data and checks
// each one's exit code and output; it is run with no node (the CLI opens
// the store) and with one (the CLI goes through the admin socket).
func authzSession(t *testing.T, where ...string) {
	files := writeFiles(t, map[string]string{
		"model.fga":     cliModel,
		"tuples.yaml":   cliTuples,
		"bad-model.fga": "model\n  schema 1.1\ntype repo\n  relations\n    define reader: [user]\n",
		"bad-tuples.json": `[{"user": "user:carol", "relation": "reader", "object": "repo:subzero"},
			{"user": "user:carol", "relation": "owner", "object": "repo:subzero"}]`,
		"delete.json": `[{"user": "user:anne", "relation": "member", "object": "team:core"}]`,
	})
	f := func(name string) string { return filepath.Join(files, name) }
	for _, step := range []struct {
		args []string
		code int
		want string // in stdout (exit 0) or stderr
	}{
		{[]string{"model", "show"}, 1, "no authorization model"},
		{[]string{"check", "user:anne", "reader", "repo:subzero"}, 1, "model"},
		{[]string{"model", "write", f("bad-model.fga")}, 2, "user"},
		{[]string{"model", "write", f("model.fga")}, 0, "written"},
		{[]string{"model", "show"}, 0, "define writer: [user, team#member] or admin"},
		{[]string{"tuples", "write", f("bad-tuples.json")}, 2, "owner"},
		{[]string{"tuples", "write", f("tuples.yaml")}, 0, "3 tuples written"},
		{[]string{"tuples", "write", f("tuples.yaml")}, 2, "exists"},
		{[]string{"tuples", "read", "--object", "repo:subzero"}, 0, "team:core#member"},
		{[]string{"check", "user:anne", "reader", "repo:subzero"}, 0, "allowed"},
		{[]string{"explain", "user:anne", "reader", "repo:subzero"}, 0, "team:core#member"},
		{[]string{"check", "user:carol", "reader", "repo:subzero"}, 0, "denied"},
		{[]string{"check", "user:bob", "on_call", "repo:subzero", "--context", `{"hour": 10}`}, 0, "allowed"},
		{[]string{"check", "--context", `{"hour": 20}`, "user:bob", "on_call", "repo:subzero"}, 0, "denied"},
		{[]string{"check", "user:bob", "on_call", "repo:subzero"}, 2, "hour"},
		{[]string{"check", "user:bob", "on_call", "repo:subzero", "--context", `[1]`}, 2, "JSON object"},
		{[]string{"check", "user:anne", "reader"}, 2, "usage"},
		{[]string{"check", "user:anne", "reader", "nope:1"}, 2, "nope"},
		{[]string{"list-objects", "user:anne", "reader", "repo"}, 0, "repo:subzero"},
		{[]string{"list-users", "repo:subzero", "writer", "--filter", "user"}, 0, "user:anne"},
		{[]string{"list-users", "repo:subzero", "writer"}, 2, "--filter"},
		{[]string{"expand", "repo:subzero", "writer"}, 0, `"name"`},
		{[]string{"tuples", "delete", f("delete.json")}, 0, "1 tuples deleted"},
		{[]string{"check", "user:anne", "reader", "repo:subzero"}, 0, "denied"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	} {
		args := append([]string{"authz"}, step.args...)
		args = append(args, where...)
		res := runMain(t, t.Context(), nil, args...)
		out := res.stdout
		if step.code != 0 {
			out = res.stderr
		}
		if res.code != step.code || !strings.Contains(out, step.want) {
			t.Errorf("subzero %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s",
				strings.Join(step.args, " "), res.code, step.code, step.want, res.stdout, res.stderr)
		}
		if step.want == "allowed" || step.want == "denied" {
			if first, _, _ := strings.Cut(res.stdout, " "); first != step.want {
				t.Errorf("subzero %s: first word %q, want %q", strings.Join(step.args, " "), first, step.want)
			}
		}
	}
}

// authzEvents returns the authz events of a stopped node's audit trail.
func authzEvents(t *testing.T, data string) map[string]int {
	db, err := bolt.Open(filepath.Join(data, "subzero.db"), time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	events, err := audit.Query(t.Context(), db.Audit(), audit.Filter{Type: "authz"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range events {
		seen[e.Action+"/"+string(e.Decision)]++
	}
	return seen
}

func TestAuthzCLI(t *testing.T) {
	want := map[string]int{"model.write/allow": 1, "model.write/deny": 1, "tuple.write/allow": 3, "tuple.delete/allow": 1, "tuples.write/deny": 2}
	check := func(t *testing.T, data string) {
		got := authzEvents(t, data)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("audit trail has %d %s events, want %d (all: %v)", got[k], k, v, got)
			}
		}
		if res := runMain(t, t.Context(), nil, "audit", "verify", "--data", data); res.code != 0 {
			t.Errorf("audit verify after authz writes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
	}
	t.Run("no node", func(t *testing.T) {
		data := t.TempDir()
		authzSession(t, "--data", data)
		check(t, data)
	})
	t.Run("running node", func(t *testing.T) {
		data := t.TempDir()
		n := serveNode(t, data, "", nil)
		authzSession(t, "--data", data)
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
		check(t, data)
	})
	t.Run("redis", func(t *testing.T) {
		cfg, data := redisConfig(t), t.TempDir()
		authzSession(t, "--config", cfg, "--data", data)
		res := runMain(t, t.Context(), nil, "audit", "query", "--type", "authz", "--format", "json", "--config", cfg, "--data", data)
		if res.code != 0 || strings.Count(res.stdout, `"tuple.write"`) != want["tuple.write/allow"] {
			t.Errorf("audit query on redis: exit %d, want %d tuple.write events\n%s%s", res.code, want["tuple.write/allow"], res.stdout, res.stderr)
		}
	})
}

// TestAuthzExample loads examples/authz as the README tells and checks the
// decisions it describes: demo's agent claude may create issues for demo,
// not for bob, who never delegated to it.
func TestAuthzExample(t *testing.T) {
	data := t.TempDir()
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"model", "write", "../../examples/authz/model.fga"}, "written"},
		{[]string{"tuples", "write", "../../examples/authz/tuples.yaml"}, "6 tuples written"},
		{[]string{"explain", "demo", "can_invoke", "tool:github.create_issue", "--agent", "claude"}, "allowed"},
		{[]string{"explain", "bob", "can_invoke", "tool:github.create_issue", "--agent", "claude"}, "denied"},
		{[]string{"explain", "demo", "can_invoke", "tool:github.create_issue", "--agent", "mallory"}, "denied"},
		{[]string{"list-objects", "user:demo", "can_invoke", "tool"}, "tool:github.search"},
	} {
		res := runMain(t, t.Context(), nil, append(append([]string{"authz"}, step.args...), "--data", data)...)
		ok := strings.Contains(res.stdout, step.want)
		if step.want == "allowed" || step.want == "denied" {
			ok = strings.HasPrefix(res.stdout, step.want+":")
		}
		if res.code != 0 || !ok {
			t.Errorf("subzero authz %s: exit %d, want %q\n%s%s", strings.Join(step.args, " "), res.code, step.want, res.stdout, res.stderr)
		}
	}
}
