package broker_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/delegation"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/internal/redistest"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// docsModel is a small model with every kind of rewrite the admin tests
// need: direct users, group usersets, tuple-to-userset and exclusion.
const docsModel = `model
  schema 1.1
type user
type group
  relations
    define member: [user]
type folder
  relations
    define viewer: [user, group#member]
type document
  relations
    define parent: [folder]
    define blocked: [user]
    define viewer: ([user] or viewer from parent) but not blocked
`

// adminNode starts a node whose static client admin-bot (or other-bot)
// gets subzero:admin tokens by client credentials; admin-bot is an admin
// subject.
func adminNode(t *testing.T) (*testNode, func(client, scope string) string) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("c", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	client := func(id string) string {
		return fmt.Sprintf(`    - client_id: %s
      secret: {file: %s}
      grant_types: [client_credentials]
      token_endpoint_auth_method: client_secret_post
      scope: "mcp subzero:admin"
`, id, secret)
	}
	yaml := "oauth:\n  scopes: [mcp, \"subzero:admin\"]\n  clients:\n" + client("admin-bot") + client("other-bot") +
		"authz:\n  admin_subjects: [admin-bot]\n"
	n := startNode(t, nodeOptions{yaml: yaml})
	token := func(client, scope string) string {
		cc := clientcredentials.Config{ClientID: client, ClientSecret: strings.Repeat("c", 40), TokenURL: n.base + "/oauth2/token",
			Scopes: []string{scope}, EndpointParams: map[string][]string{"resource": {n.base + "/admin"}}, AuthStyle: oauth2.AuthStyleInParams}
		tok, err := cc.Token(t.Context())
		if err != nil {
			t.Fatalf("token for %s: %v", client, err)
		}
		return tok.AccessToken
	}
	return n, token
}

func adminCall(t *testing.T, n *testNode, tok, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, n.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// TestAuthzAdminAPI drives the HTTP admin API as an administrator's tool
// would: write a model and tuples, check, list, and see bad input refused
// whole, each write in the audit trail; and the API closed to tokens of
// other subjects or without the admin scope.
func TestAuthzAdminAPI(t *testing.T) {
	n, token := adminNode(t)
	admin := token("admin-bot", "subzero:admin")

	if code, out := adminCall(t, n, admin, "GET", "/admin/authz/model", ""); code != 404 || out["error"] != "no_model" {
		t.Fatalf("model before any write: %d %v", code, out)
	}
	code, out := adminCall(t, n, admin, "PUT", "/admin/authz/model", docsModel)
	if code != 200 || out["id"] == "" || !strings.Contains(out["dsl"].(string), "viewer from parent") {
		t.Fatalf("write model: %d %v", code, out)
	}
	code, out = adminCall(t, n, admin, "POST", "/admin/authz/tuples", `{"writes": [
		{"user": "user:anne", "relation": "viewer", "object": "folder:plans"},
		{"user": "folder:plans", "relation": "parent", "object": "document:roadmap"},
		{"user": "group:eng#member", "relation": "viewer", "object": "folder:plans"},
		{"user": "user:bob", "relation": "member", "object": "group:eng"},
		{"user": "user:bob", "relation": "blocked", "object": "document:roadmap"}]}`)
	if code != 200 || out["revision"] == "" {
		t.Fatalf("write tuples: %d %v", code, out)
	}
	check := func(user string) (bool, []any) {
		code, out := adminCall(t, n, admin, "POST", "/admin/authz/check",
			fmt.Sprintf(`{"user": %q, "relation": "viewer", "object": "document:roadmap"}`, user))
		if code != 200 {
			t.Fatalf("check %s: %d %v", user, code, out)
		}
		path, _ := out["path"].([]any)
		return out["allowed"] == true, path
	}
	if ok, path := check("user:anne"); !ok || len(path) == 0 {
		t.Errorf("anne views the roadmap through its folder: allowed=%v path=%v", ok, path)
	}
	if ok, _ := check("user:bob"); ok {
		t.Error("bob is blocked on the roadmap, yet allowed")
	}
	if ok, _ := check("user:carol"); ok {
		t.Error("carol has no tuple, yet allowed")
	}
	code, out = adminCall(t, n, admin, "POST", "/admin/authz/list-objects", `{"user": "user:anne", "relation": "viewer", "type": "document"}`)
	if code != 200 || fmt.Sprint(out["objects"]) != "[document:roadmap]" {
		t.Errorf("list-objects: %d %v", code, out)
	}
	code, out = adminCall(t, n, admin, "POST", "/admin/authz/list-users", `{"object": "folder:plans", "relation": "viewer", "filters": ["user"]}`)
	if code != 200 || fmt.Sprint(out["users"]) != "[user:anne user:bob]" {
		t.Errorf("list-users: %d %v", code, out)
	}

	// A write with one bad tuple is refused whole, naming it.
	code, out = adminCall(t, n, admin, "POST", "/admin/authz/tuples", `{"writes": [
		{"user": "user:carol", "relation": "viewer", "object": "folder:plans"},
		{"user": "user:carol", "relation": "owner", "object": "folder:plans"}]}`)
	if code != 400 || out["field"] != "writes[1].relation" || !strings.Contains(fmt.Sprint(out["message"]), "owner") {
		t.Errorf("write with an undefined relation: %d %v", code, out)
	}
	if code, out := adminCall(t, n, admin, "GET", "/admin/authz/tuples?user=user:carol", ""); code != 200 || len(out["tuples"].([]any)) != 0 {
		t.Errorf("after a refused write, carol's tuples: %d %v", code, out)
	}
	if code, out := adminCall(t, n, admin, "PUT", "/admin/authz/model", "model\n  schema 1.1\ntype document\n  relations\n    define viewer: [nobody]\n"); code != 400 {
		t.Errorf("model naming an undefined type: %d %v", code, out)
	}
	if code, out := adminCall(t, n, admin, "POST", "/admin/authz/check", `{"user": "user:anne", "relation": "viewer", "object": "document:roadmap", "bogus": 1}`); code != 400 {
		t.Errorf("check with an unknown field: %d %v", code, out)
	}

	// Closed to other subjects, and to tokens without the admin scope.
	if code, out := adminCall(t, n, token("other-bot", "subzero:admin"), "GET", "/admin/authz/model", ""); code != 403 {
		t.Errorf("a subject not in admin_subjects: %d %v", code, out)
	}
	if code, out := adminCall(t, n, token("admin-bot", "mcp"), "GET", "/admin/authz/model", ""); code != 403 || out["error"] == nil {
		t.Errorf("an admin subject's token without subzero:admin: %d %v", code, out)
	}
	req, _ := http.NewRequest("GET", n.base+"/admin/authz/model", nil)
	if resp, err := n.client.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("no token: %v %v", resp, err)
	}

	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(n.cfg.BoltPath(), 0, true)
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
		if e.Action == "tuple.write" && e.Actor.Subject != "admin-bot" {
			t.Errorf("tuple write audited as %+v, want the admin's subject", e.Actor)
		}
	}
	want := map[string]int{"model.write/allow": 1, "model.write/deny": 1, "tuple.write/allow": 5, "tuples.write/deny": 1}
	for k, v := range want {
		if seen[k] != v {
			t.Errorf("audit trail has %d %s events, want %d (all: %v)", seen[k], k, v, seen)
		}
	}
}

// TestAuthzAcrossNodes: two nodes on one Redis; a tuple deleted on node A
// denies on node B within a second.
func TestAuthzAcrossNodes(t *testing.T) {
	rs := redistest.New(t)
	secret := testSecretFile(t)
	yaml := fmt.Sprintf("server_secret: {file: %s}\noauth: {issuer: \"http://localhost:9\"}\nstore:\n  kind: redis\n  redis:\n    url: %s\n    key_prefix: %q\n",
		secret, rs.URL(), redistest.Prefix(t))
	a := startNode(t, nodeOptions{yaml: yaml, environ: []string{"SUBZERO_NODE_ID=node-a"}})
	b := startNode(t, nodeOptions{yaml: yaml, environ: []string{"SUBZERO_NODE_ID=node-b"}})
	ctx := t.Context()

	if _, err := a.srv.Authz().WriteModel(ctx, []byte(docsModel)); err != nil {
		t.Fatal(err)
	}
	grant := rebac.Tuple{User: "user:anne", Relation: "viewer", Object: "folder:plans"}
	rev, err := a.srv.Authz().WriteTuples(ctx, []rebac.Tuple{grant}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := rebac.CheckRequest{User: "user:anne", Relation: "viewer", Object: "folder:plans"}
	// A check on node B at least as fresh as the write sees it at once.
	fresh := q
	fresh.AtLeast = rev
	if res, err := b.srv.Authz().Check(ctx, fresh); err != nil || !res.Allowed {
		t.Fatalf("node b, at least as fresh as node a's write: %+v %v", res, err)
	}
	if _, err := a.srv.Authz().WriteTuples(ctx, nil, []rebac.Tuple{grant}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	for {
		res, err := b.srv.Authz().Check(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed {
			t.Logf("node b denied %v after node a deleted the tuple", time.Since(deleted).Round(time.Millisecond))
			break
		}
		if time.Since(deleted) > time.Second {
			t.Fatalf("node b still allows %v after node a deleted the tuple", time.Since(deleted))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAuthzEngines configures all three engines from the node's config and
// asks the decision point: ReBAC grants, then a CEL rule or a Rego policy
// can still deny; a Rego file that does not compile stops the node.
func TestAuthzEngines(t *testing.T) {
	dir := t.TempDir()
	policy := `package subzero.authz

default allow := true

deny contains "no deletes on fridays" if {
	input.action == "remover"
}
`
	if err := os.WriteFile(filepath.Join(dir, "policy.rego"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`authz:
  abac:
    rules:
      - name: no-high-risk
        effect: deny
        when: request.risk.level == "high"
        reason: high-risk calls are refused
  rego:
    dir: %s
`, dir)
	n := startNode(t, nodeOptions{yaml: yaml})
	a, ctx := n.srv.Authz(), t.Context()
	const model = `model
  schema 1.1
type user
type document
  relations
    define viewer: [user]
    define remover: [user]
`
	if _, err := a.WriteModel(ctx, []byte(model)); err != nil {
		t.Fatal(err)
	}
	grants := []rebac.Tuple{
		{User: "user:anne", Relation: "viewer", Object: "document:plan"},
		{User: "user:anne", Relation: "remover", Object: "document:plan"},
	}
	if _, err := a.WriteTuples(ctx, grants, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		req     delegation.Request
		allowed bool
		engine  string
	}{
		{"rebac grants, rules agree", delegation.Request{Subject: delegation.Subject{ID: "anne"}, Action: "viewer", Resource: "document:plan"}, true, ""},
		{"no tuple", delegation.Request{Subject: delegation.Subject{ID: "bob"}, Action: "viewer", Resource: "document:plan"}, false, delegation.EngineReBAC},
		{"cel rule denies", delegation.Request{Subject: delegation.Subject{ID: "anne"}, Action: "viewer", Resource: "document:plan", Risk: delegation.Risk{Level: "high"}}, false, delegation.EngineABAC},
		{"rego denies", delegation.Request{Subject: delegation.Subject{ID: "anne"}, Action: "remover", Resource: "document:plan"}, false, delegation.EngineRego},
	} {
		d, err := a.Decide(ctx, tc.req)
		if err != nil || d.Allowed != tc.allowed || d.Engine != tc.engine {
			t.Errorf("%s: %+v %v; want allowed=%v engine=%q", tc.name, d, err, tc.allowed, tc.engine)
		}
	}
}

// TestAuthzBadPolicy: a Rego file that does not compile, or a CEL rule
// that does not type-check, is refused at start with its file and line or
// its key.
func TestAuthzBadPolicy(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package subzero.authz\n\nallow if {\n  input.x ==\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "subzero.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("authz:\n  rego:\n    dir: %s\n", dir)), 0o600)
	cfg, err := broker.LoadConfig(cfgFile, nil, broker.Flags{Addr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = broker.New(t.Context(), cfg, slog.New(slog.DiscardHandler), nil, "test")
	if err == nil || !strings.Contains(err.Error(), "broken.rego:") {
		t.Errorf("node with a broken Rego file: %v; want an error naming broken.rego and its line", err)
	}
	os.WriteFile(cfgFile, []byte("authz:\n  abac:\n    rules:\n      - {name: r, effect: deny, when: 'request.tol == \"x\"'}\n"), 0o600)
	if _, err := broker.LoadConfig(cfgFile, nil, broker.Flags{}); err == nil || !strings.Contains(err.Error(), "authz.abac.rules[0].when") {
		t.Errorf("config with a CEL rule naming an undefined field: %v; want an error naming authz.abac.rules[0].when", err)
	}
}
