package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/examples/llmdemo"
	"github.com/subzero-gateway/subzero/examples/mcpdemo/notes"
	"github.com/subzero-gateway/subzero/internal/redistest"
)

// startModels serves the demo model server on loopback.
func startModels(t *testing.T, models ...string) (*llmdemo.Server, string) {
	t.Helper()
	up := llmdemo.New(llmdemo.Options{Models: models, ChunkBytes: 3})
	hs := httptest.NewServer(up)
	t.Cleanup(hs.Close)
	return up, hs.URL
}

// llmYAML is a node config with the demo model server as upstream "demo".
func llmYAML(modelsURL, extra string) string {
	return fmt.Sprintf(`llm:
  upstreams:
    - {name: demo, kind: compatible, base_url: %q, models: [demo-chat, other-model]}
  guard: {canary: true, system_prompt_leak: true, hold_back_bytes: 48}
%sguard:
  routes:
    v1/chat/completions: {detectors: {prompt_attack: {prompt: {action: block}}}}
`, modelsURL+"/v1", extra)
}

// createKey makes an API key through the running node's admin socket, as
// `subzero apikey create` does.
func createKey(t *testing.T, n *testNode, name string, models ...string) (string, broker.APIKey) {
	t.Helper()
	keys, closeFn, err := broker.OpenAPIKeys(t.Context(), n.cfg, os.Getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	plain, k, err := keys.Create(t.Context(), name, models, "test")
	if err != nil {
		t.Fatalf("create API key: %v", err)
	}
	return plain, k
}

func openaiClient(n *testNode, token string) *openai.Client {
	cfg := openai.DefaultConfig(token)
	cfg.BaseURL = n.base + "/v1"
	cfg.HTTPClient = n.client
	return openai.NewClientWithConfig(cfg)
}

func chat(c *openai.Client, ctx context.Context, model, prompt string) (openai.ChatCompletionResponse, error) {
	return c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: model, Messages: []openai.ChatCompletionMessage{
		{Role: openai.ChatMessageRoleSystem, Content: "You answer questions about the demo."},
		{Role: openai.ChatMessageRoleUser, Content: prompt},
	}})
}

func apiError(t *testing.T, err error) *openai.APIError {
	t.Helper()
	var e *openai.APIError
	if !errors.As(err, &e) {
		t.Fatalf("want an OpenAI API error, got %v", err)
	}
	return e
}

// TestLLMProxyNode runs the official openai npm client and go-openai
// against a node's /v1 with Subzero API keys and access tokens: keys
// scoped to models, revoked and wrong keys refused OpenAI-style, a token's
// model access decided by the decision point, budgets, PII kept from the
// upstream, and one audit event per call.
func TestLLMProxyNode(t *testing.T) {
	up, modelsURL := startModels(t, "demo-chat", "other-model")
	n := startNode(t, nodeOptions{yaml: llmYAML(modelsURL,
		"  budgets:\n    api_key: {requests_per_minute: 30}\n")})
	ctx := t.Context()

	// The official openai npm client, with a key made by the admin socket.
	npmKey, _ := createKey(t, n, "npm")
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for the openai npm client: install Node.js 20 or later, then run: npm ci --prefix e2e")
	}
	e2e, _ := filepath.Abs("../e2e")
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, nodeBin, filepath.Join(e2e, "openai.mjs"), n.base+"/v1", "demo-chat")
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(), "E2E_API_KEY="+npmKey, "NODE_NO_WARNINGS=1")
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openai.mjs against the node: %v\n%s", err, out)
	}

	// go-openai: a key scoped to one model may use it and no other.
	scoped, scopedKey := createKey(t, n, "scoped", "demo-chat")
	c := openaiClient(n, scoped)
	res, err := chat(c, ctx, "demo-chat", "say: my e-mail is jane.doe@example.com")
	if err != nil {
		t.Fatalf("chat with a scoped key: %v", err)
	}
	if strings.Contains(string(up.LastRequest()), "jane.doe@example.com") {
		t.Errorf("the upstream received the e-mail address: %s", up.LastRequest())
	}
	if strings.Contains(string(up.LastRequest()), scoped) || up.LastAuthorization() != "" {
		t.Errorf("the client's key reached the upstream: %q", up.LastAuthorization())
	}
	if got := res.Choices[0].Message.Content; !strings.Contains(got, "[EMAIL_1]") {
		t.Errorf("answer = %q, want the redacted prompt echoed", got)
	}
	_, err = chat(c, ctx, "other-model", "hello")
	if e := apiError(t, err); e.HTTPStatusCode/100 != 4 || e.HTTPStatusCode == 429 {
		t.Errorf("a model outside the key's scope: %d %v", e.HTTPStatusCode, e)
	}

	// A wrong key and a revoked one are refused alike, OpenAI-style.
	wrong := scoped[:len(scoped)-8] + "AAAAAAAA"
	for name, key := range map[string]string{"wrong": wrong, "malformed": "szk_nothing"} {
		_, err := chat(openaiClient(n, key), ctx, "demo-chat", "hello")
		if e := apiError(t, err); e.HTTPStatusCode != 401 {
			t.Errorf("%s key: %d %v, want 401", name, e.HTTPStatusCode, e)
		}
	}
	keys, closeFn, err := broker.OpenAPIKeys(ctx, n.cfg, os.Getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Revoke(ctx, scopedKey.ID, "test"); err != nil {
		t.Fatal(err)
	}
	closeFn()
	_, err = chat(c, ctx, "demo-chat", "hello")
	if e := apiError(t, err); e.HTTPStatusCode != 401 || e.Code != "invalid_api_key" {
		t.Errorf("revoked key: %d %v (code %v), want 401 invalid_api_key", e.HTTPStatusCode, e, e.Code)
	}

	// Without credentials: 401 pointing at /v1's resource metadata.
	resp, body := n.get(t, http.MethodGet, "/v1/models", nil)
	var oaErr struct {
		Error struct {
			Type, Code, Message string
		}
	}
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "/.well-known/oauth-protected-resource/v1") ||
		json.Unmarshal(body, &oaErr) != nil || oaErr.Error.Code != "invalid_token" || oaErr.Error.Message == "" {
		t.Errorf("no credentials: %d %q %s; want 401 with the metadata and an OpenAI-shaped invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	// A token that is not one: go-openai reads the refusal as an API error.
	_, err = chat(openaiClient(n, "not-a-token"), ctx, "demo-chat", "hello")
	if e, ok := errors.AsType[*openai.APIError](err); !ok || e.HTTPStatusCode != 401 || e.Code != "invalid_token" {
		t.Errorf("a bogus token: %v, want go-openai's APIError 401 invalid_token", err)
	}
	resp, body = n.get(t, http.MethodGet, "/.well-known/oauth-protected-resource/v1", nil)
	var meta struct {
		Resource string   `json:"resource"`
		Scopes   []string `json:"scopes_supported"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &meta) != nil || meta.Resource != n.srv.Issuer()+"/v1" {
		t.Errorf("resource metadata: %d %s", resp.StatusCode, body)
	}

	// An access token for /v1: the decision point decides the model.
	if _, err := n.srv.Authz().WriteModel(ctx, notes.AuthzModel); err != nil {
		t.Fatal(err)
	}
	id, secret := n.registerClient(t, `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","scope":"llm"}`)
	grant := rebac.Tuple{User: "user:" + id, Relation: "can_use", Object: "model:demo-chat"}
	if _, err := n.srv.Authz().WriteTuples(ctx, []rebac.Tuple{grant}, nil); err != nil {
		t.Fatal(err)
	}
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: n.base + "/oauth2/token",
		Scopes: []string{"llm"}, EndpointParams: map[string][]string{"resource": {n.srv.Issuer() + "/v1"}}, AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tc := openaiClient(n, tok.AccessToken)
	if _, err := chat(tc, ctx, "demo-chat", "hello"); err != nil {
		t.Fatalf("chat with an access token holding can_use: %v", err)
	}
	_, err = chat(tc, ctx, "other-model", "hello")
	if e := apiError(t, err); e.HTTPStatusCode != 403 {
		t.Errorf("a model the token's user may not use: %d %v, want 403", e.HTTPStatusCode, e)
	}
	models, err := tc.ListModels(ctx)
	if err != nil || len(models.Models) != 1 || models.Models[0].ID != "demo-chat" {
		t.Errorf("models the token may use: %+v %v, want demo-chat alone", models.Models, err)
	}

	// A key's budget: 30 requests a minute, then 429 with Retry-After.
	budgeted, _ := createKey(t, n, "budgeted")
	bc := openaiClient(n, budgeted)
	var last error
	for range 31 {
		if _, last = chat(bc, ctx, "demo-chat", "hello"); last != nil {
			break
		}
	}
	if e := apiError(t, last); e.HTTPStatusCode != 429 {
		t.Errorf("the 31st request in a minute: %d %v, want 429", e.HTTPStatusCode, e)
	}
	req, _ := http.NewRequest(http.MethodPost, n.base+"/v1/chat/completions", strings.NewReader(`{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+budgeted)
	req.Header.Set("Content-Type", "application/json")
	hr, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != 429 || hr.Header.Get("Retry-After") == "" || !strings.Contains(string(raw), `"type"`) {
		t.Errorf("over budget: %d Retry-After %q %s", hr.StatusCode, hr.Header.Get("Retry-After"), raw)
	}

	// Every call is on the audit trail, with its model, tokens and
	// decision, and never its text.
	var allowed, denied int
	for _, e := range auditEvents(t, n, "llm") {
		if e["action"] != "llm.chat.completions" {
			continue
		}
		reason, _ := e["reason"].(string)
		if strings.Contains(reason, "jane.doe") || strings.Contains(reason, "Hello from") {
			t.Errorf("an audit event holds prompt or answer text: %v", e)
		}
		switch e["decision"] {
		case "allow":
			allowed++
			if !strings.Contains(reason, `"prompt_tokens"`) || !strings.Contains(reason, `"content_sha256"`) {
				t.Errorf("an allowed call's event lacks its tokens or content hash: %v", e)
			}
		case "deny":
			denied++
		}
	}
	if allowed < 33 || denied < 5 {
		t.Errorf("audit: %d allowed and %d denied chat events, want at least 33 and 5", allowed, denied)
	}
}

// TestLLMBudgetAcrossNodes shares one key's budget between two nodes on
// one Redis: what one node admitted counts on the other.
func TestLLMBudgetAcrossNodes(t *testing.T) {
	rs := redistest.New(t)
	_, modelsURL := startModels(t, "demo-chat")
	yaml := fmt.Sprintf("server_secret: {file: %s}\nstore:\n  kind: redis\n  redis:\n    url: %s\n    key_prefix: %q\n",
		testSecretFile(t), rs.URL(), redistest.Prefix(t)) +
		llmYAML(modelsURL, "  budgets:\n    api_key: {requests_per_minute: 4}\n")
	a := startNode(t, nodeOptions{yaml: yaml, environ: []string{"SUBZERO_NODE_ID=node-a"}})
	b := startNode(t, nodeOptions{yaml: yaml, environ: []string{"SUBZERO_NODE_ID=node-b"}})
	key, _ := createKey(t, a, "shared")
	ctx := t.Context()
	for i, n := range []*testNode{a, b, a, b} {
		if _, err := chat(openaiClient(n, key), ctx, "demo-chat", "hello"); err != nil {
			t.Fatalf("call %d (within the budget): %v", i+1, err)
		}
	}
	for name, n := range map[string]*testNode{"a": a, "b": b} {
		_, err := chat(openaiClient(n, key), ctx, "demo-chat", "hello")
		if e := apiError(t, err); e.HTTPStatusCode != 429 {
			t.Errorf("node %s, the fifth call in a minute: %d %v, want 429", name, e.HTTPStatusCode, e)
		}
	}
}

// TestLLMProxyCORS lets a browser app call /v1: the preflight of an
// OpenAI client's request (its own X-Stainless headers included) and the
// call itself, with no credentials allowed.
func TestLLMProxyCORS(t *testing.T) {
	_, modelsURL := startModels(t, "demo-chat")
	n := startNode(t, nodeOptions{yaml: llmYAML(modelsURL, "")})
	key, _ := createKey(t, n, "browser")

	req, _ := http.NewRequest(http.MethodOptions, n.base+"/v1/chat/completions", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, x-stainless-os, x-stainless-retry-count")
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "x-stainless-os") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		h.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}
	req.Header.Set("Access-Control-Request-Headers", "authorization, x-evil;q=1")
	if resp, err = n.client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Headers"); strings.Contains(got, "evil") || !strings.Contains(got, "Authorization") {
		t.Errorf("a malformed header list: Access-Control-Allow-Headers %q, want the default list", got)
	}

	req, _ = http.NewRequest(http.MethodPost, n.base+"/v1/chat/completions", strings.NewReader(`{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err = n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("the call from a browser: %d %v", resp.StatusCode, resp.Header)
	}
}
