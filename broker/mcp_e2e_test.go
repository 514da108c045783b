package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/examples/mcpdemo/notes"
)

// headerRecorder keeps the headers of the requests an upstream received.
type headerRecorder struct {
	mu      sync.Mutex
	headers []http.Header
}

func (h *headerRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.headers = append(h.headers, r.Header.Clone())
		h.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (h *headerRecorder) all() []http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]http.Header(nil), h.headers...)
}

// startNotes serves the demo MCP server over Streamable HTTP on loopback.
func startNotes(t *testing.T, cfg notes.Config) (string, *headerRecorder) {
	t.Helper()
	ns, err := notes.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &headerRecorder{}
	srv := httptest.NewServer(rec.wrap(ns.Handler()))
	t.Cleanup(srv.Close)
	return srv.URL + notes.Path, rec
}

var (
	demoBinOnce sync.Once
	demoBin     string
	demoBinErr  error
)

// buildDemo builds examples/mcpdemo, the stdio upstream of the tests.
func buildDemo(t *testing.T) string {
	t.Helper()
	demoBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "subzero-mcpdemo")
		if err != nil {
			demoBinErr = err
			return
		}
		demoBin = filepath.Join(dir, "mcpdemo")
		out, err := exec.Command("go", "build", "-o", demoBin, "../examples/mcpdemo").CombinedOutput()
		if err != nil {
			demoBinErr = fmt.Errorf("go build ./examples/mcpdemo: %v\n%s", err, out)
		}
	})
	if demoBinErr != nil {
		t.Fatal(demoBinErr)
	}
	return demoBin
}

// demoTuples are the demo's tuples for user, with the tools of the
// upstream local as well as notes.
func demoTuples(t *testing.T, user string, upstreams ...string) []rebac.Tuple {
	t.Helper()
	src := strings.ReplaceAll(string(notes.AuthzTuples), "user:demo", "user:"+user)
	var out []rebac.Tuple
	seen := map[string]bool{}
	for _, up := range upstreams {
		r := strings.NewReplacer("server:notes", "server:"+up, "tool:notes.", "tool:"+up+".",
			"prompt:notes.", "prompt:"+up+".", "resource:notes", "resource:"+up)
		tuples, err := rebac.ParseTuples([]byte(r.Replace(src)))
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range tuples {
			if k := tp.User + " " + tp.Relation + " " + tp.Object; !seen[k] {
				seen[k] = true
				out = append(out, tp)
			}
		}
	}
	return out
}

// gatewayNode starts a node whose gateway serves two upstreams: the demo
// server over Streamable HTTP (notes) and over stdio (local), with the
// demo's authorization model written. mcpExtra is appended to the mcp
// section of the config, top to the config.
func gatewayNode(t *testing.T, mcpExtra, top string) (*testNode, *headerRecorder) {
	t.Helper()
	notesURL, rec := startNotes(t, notes.Default())
	bin := buildDemo(t)
	yaml := fmt.Sprintf(`mcp:
  upstreams:
    - {name: notes, transport: http, url: %q}
    - {name: local, transport: stdio, command: %q, args: [--stdio, --name, local]}
`, notesURL, bin) + mcpExtra + top
	n := startNode(t, nodeOptions{yaml: yaml})
	if _, err := n.srv.Authz().WriteModel(t.Context(), notes.AuthzModel); err != nil {
		t.Fatalf("model: %v", err)
	}
	return n, rec
}

// TestMCPGatewayTypeScriptSDK runs e2e/mcp-sdk.mjs, an agent on the
// official MCP TypeScript SDK given only the gateway's URL: 401, resource
// and authorization server metadata, dynamic registration, PKCE login
// through the login and consent pages, token, then tools/list and
// tools/call through the two upstreams, with the guard at work on the
// results. It needs node and e2e/node_modules (npm ci --prefix e2e).
func TestMCPGatewayTypeScriptSDK(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for the MCP TypeScript SDK client: install Node.js 20 or later, then run: npm ci --prefix e2e")
	}
	e2e, err := filepath.Abs("../e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		t.Fatalf("e2e/node_modules/@modelcontextprotocol/sdk is missing (%v): run: npm ci --prefix e2e", err)
	}
	n, rec := gatewayNode(t, "", "")
	const username, password = "alice", "correct horse battery staple"
	u, err := broker.AddUser(t.Context(), n.cfg, getenvFrom(nil), username, password)
	if err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	if _, err := n.srv.Authz().WriteTuples(t.Context(), demoTuples(t, u.Subject, "notes", "local"), nil); err != nil {
		t.Fatalf("tuples: %v", err)
	}

	expect, _ := json.Marshal(map[string]any{
		"tools": []string{"notes__search_notes", "notes__fetch", "local__search_notes", "local__fetch"},
		"calls": []map[string]any{
			{"name": "notes__search_notes", "arguments": map[string]any{"query": "offsite"}, "contains": "Team offsite agenda"},
			{"name": "local__fetch", "arguments": map[string]any{"url": notes.URLClean}},
			{"name": "notes__fetch", "arguments": map[string]any{"url": notes.URLInjection}, "isError": true, "contains": "withheld"},
			{"name": "local__fetch", "arguments": map[string]any{"url": notes.URLPersonalData}, "contains": "[EMAIL_1]", "lacks": "jane.doe@example.org"},
			{"name": "notes__delete_note", "arguments": map[string]any{"id": "1"}, "rpcError": true, "contains": "approval"},
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(e2e, "mcp-sdk.mjs"), n.base+"/mcp")
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(), "E2E_USERNAME="+username, "E2E_PASSWORD="+password, "E2E_EXPECT="+string(expect), "NODE_NO_WARNINGS=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("mcp-sdk.mjs did not finish within 2m:\n%s", out)
	}
	if err != nil {
		t.Fatalf("mcp-sdk.mjs: %v\n%s\naudit: %v", err, out, auditEvents(t, n, "mcp"))
	}
	t.Logf("mcp-sdk.mjs:\n%s", out)

	// The upstream never saw the agent's token (no token passthrough).
	for _, h := range rec.all() {
		if a := h.Get("Authorization"); a != "" {
			t.Errorf("the upstream received Authorization %q", a)
		}
	}
	// Every call is on the audit trail, the blocked and denied ones too.
	events := auditEvents(t, n, "mcp")
	var calls, denied int
	for _, e := range events {
		if e["action"] == "tools/call" {
			calls++
			if e["decision"] == "deny" {
				denied++
			}
		}
	}
	if calls != 5 || denied != 2 {
		t.Errorf("audit: %d tools/call events (%d denied), want 5 (2 denied): %v", calls, denied, events)
	}
}

// socketClient talks HTTP to the node's admin socket.
func socketClient(n *testNode) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", n.cfg.AdminSocket())
	}}}
}

// auditEvents reads the node's audit events of type typ through the
// admin socket.
func auditEvents(t *testing.T, n *testNode, typ string) []map[string]any {
	t.Helper()
	c := socketClient(n)
	resp, err := c.Get("http://admin/audit/scan?node=" + n.srv.Node() + "&from=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var rec struct{ Data []byte }
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		var e map[string]any
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e["type"] == typ {
			out = append(out, e)
		}
	}
	return out
}

// clientToken gets a token for /mcp by client credentials: the client
// acts for itself, the ReBAC user user:<client>.
func clientToken(t *testing.T, n *testNode, client, secret, resource string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: client, ClientSecret: secret, TokenURL: n.base + "/oauth2/token",
		Scopes: []string{"mcp"}, EndpointParams: map[string][]string{"resource": {resource}}, AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatalf("token for %s: %v", client, err)
	}
	return tok.AccessToken
}

// mcpClient connects mcp-go's Streamable HTTP client to url with token.
func mcpClient(t *testing.T, url, token string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	req := mcpgo.InitializeRequest{}
	req.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcpgo.Implementation{Name: "subzero-test", Version: "1"}
	if _, err := c.Initialize(t.Context(), req); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return c
}

func toolNames(t *testing.T, c *client.Client) []string {
	t.Helper()
	res, err := c.ListTools(t.Context(), mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// adminSocket calls the node's admin socket.
func adminSocket(t *testing.T, n *testNode, method, path, body string) (int, map[string]any) {
	t.Helper()
	c := socketClient(n)
	req, _ := http.NewRequest(method, "http://admin"+path, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

const botClients = `oauth:
  clients:
    - client_id: alice-bot
      secret: {file: %[1]s}
      grant_types: [client_credentials]
      token_endpoint_auth_method: client_secret_post
      scope: mcp
    - client_id: bob-bot
      secret: {file: %[1]s}
      grant_types: [client_credentials]
      token_endpoint_auth_method: client_secret_post
      scope: mcp
`

// TestMCPGatewayGoClient drives the gateway with mcp-go's client, as two
// callers with different grants: new tools wait for an admin's approval
// (mcp.pinning.tofu false), each caller sees only what it may call, a
// call without the relation is denied and audited naming it, a stale
// approval is refused, a foreign Origin is refused, and the upstream never
// sees a caller's token.
func TestMCPGatewayGoClient(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	n, rec := gatewayNode(t, "  pinning: {tofu: false}\n", fmt.Sprintf(botClients, secret))
	tuples := demoTuples(t, "alice-bot", "notes")
	tuples = append(tuples, rebac.Tuple{User: "user:bob-bot", Relation: "invoker", Object: "tool:notes.fetch"})
	if _, err := n.srv.Authz().WriteTuples(t.Context(), tuples, nil); err != nil {
		t.Fatalf("tuples: %v", err)
	}
	mcpURL := n.base + "/mcp"
	alice := mcpClient(t, mcpURL, clientToken(t, n, "alice-bot", strings.Repeat("s", 40), mcpURL))
	bob := mcpClient(t, mcpURL, clientToken(t, n, "bob-bot", strings.Repeat("s", 40), mcpURL))

	// Nothing is approved yet: nothing is listed.
	if got := toolNames(t, alice); len(got) != 0 {
		t.Fatalf("before approval alice sees %v", got)
	}
	var pending []map[string]any
	waitFor(t, "the ten tools of both upstreams in quarantine", func() bool {
		code, body := adminSocket(t, n, "GET", "/mcp/tools/quarantined", "")
		if code != 200 {
			t.Fatalf("quarantined: %d %v", code, body)
		}
		pending = nil
		for _, q := range body["tools"].([]any) {
			pending = append(pending, q.(map[string]any))
		}
		return len(pending) == 10
	})
	if code, body := adminSocket(t, n, "POST", "/mcp/tools/approve", `{"name": "notes__fetch", "hash": "sha256:`+strings.Repeat("0", 64)+`"}`); code != http.StatusConflict {
		t.Errorf("approve with a hash nobody reviewed: %d %v, want 409", code, body)
	}
	for _, q := range pending {
		if q["upstream"] != "notes" {
			continue
		}
		body := fmt.Sprintf(`{"name": %q, "hash": %q}`, q["name"], q["pending_hash"])
		if code, out := adminSocket(t, n, "POST", "/mcp/tools/approve", body); code != 200 {
			t.Fatalf("approve %s: %d %v", q["name"], code, out)
		}
	}

	// Each caller sees what it may call, and only that.
	want := []string{"notes__delete_note", "notes__fetch", "notes__read_note", "notes__search_notes", "notes__write_note"}
	waitFor(t, "alice's list after the approvals", func() bool { return slices.Equal(toolNames(t, alice), want) })
	if got := toolNames(t, bob); !slices.Equal(got, []string{"notes__fetch"}) {
		t.Errorf("bob sees %v, want [notes__fetch]", got)
	}

	// A call without the relation is denied, with the reason.
	call := mcpgo.CallToolRequest{}
	call.Params.Name = "notes__search_notes"
	call.Params.Arguments = map[string]any{"query": "offsite"}
	if _, err := bob.CallTool(t.Context(), call); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("bob's search: %v, want a denial", err)
	}
	res, err := alice.CallTool(t.Context(), call)
	if err != nil || res.IsError {
		t.Fatalf("alice's search: %v %+v", err, res)
	}
	var denial map[string]any
	for _, e := range auditEvents(t, n, "mcp") {
		if e["action"] == "tools/call" && e["decision"] == "deny" {
			denial = e
		}
	}
	if denial == nil || !strings.Contains(denial["reason"].(string), "tool:notes.search_notes#can_invoke") ||
		denial["actor"].(map[string]any)["subject"] != "bob-bot" {
		t.Errorf("the denial's audit event = %v, want bob-bot's, naming tool:notes.search_notes#can_invoke", denial)
	}

	// A browser page of another origin is refused.
	req, _ := http.NewRequest("POST", mcpURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	req.Header.Set("Authorization", "Bearer "+clientToken(t, n, "alice-bot", strings.Repeat("s", 40), mcpURL))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: %d, want 403", resp.StatusCode)
	}

	for _, h := range rec.all() {
		if a := h.Get("Authorization"); a != "" {
			t.Errorf("the upstream received Authorization %q", a)
		}
	}
}

// TestMCPGatewayRequiresDPoP: with mcp.require_dpop, a bearer token is
// refused at /mcp with a DPoP challenge, and the resource metadata says
// so.
func TestMCPGatewayRequiresDPoP(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, nodeOptions{yaml: fmt.Sprintf(botClients, secret) + "mcp:\n  require_dpop: true\n"})
	mcpURL := n.base + "/mcp"
	tok := clientToken(t, n, "alice-bot", strings.Repeat("s", 40), mcpURL)
	req, _ := http.NewRequest("POST", mcpURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	challenge := strings.Join(resp.Header.Values("WWW-Authenticate"), " | ")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "DPoP ") || strings.Contains(challenge, "Bearer ") ||
		!strings.Contains(challenge, "requires DPoP") {
		t.Errorf("bearer token at a DPoP-only /mcp: %d %q", resp.StatusCode, challenge)
	}
	_, body := n.get(t, "GET", "/.well-known/oauth-protected-resource/mcp", nil)
	var meta map[string]any
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatal(err)
	}
	if meta["resource"] != mcpURL || meta["dpop_bound_access_tokens_required"] != true {
		t.Errorf("metadata = %v", meta)
	}
}
