package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/examples/llmdemo"
)

// TestAPIKeyCLI makes, lists and revokes API keys with `subzero apikey`,
// on a stopped node's store and through a running node's socket, and
// calls the LLM proxy with them.
func TestAPIKeyCLI(t *testing.T) {
	up := httptest.NewServer(llmdemo.New(llmdemo.Options{Models: []string{"demo-chat"}}))
	defer up.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "subzero.yaml")
	yaml := fmt.Sprintf("llm:\n  upstreams:\n    - {name: demo, kind: compatible, base_url: %q, models: [demo-chat]}\n", up.URL+"/v1")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	apikey := func(args ...string) runResult {
		return runMain(t, ctx, nil, append(append([]string{"apikey"}, args...), "--config", cfg, "--data", data)...)
	}
	lastLine := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		return lines[len(lines)-1]
	}

	// Bad usage.
	if res := apikey("create"); res.code != 2 {
		t.Errorf("create without --name: exit %d, %q", res.code, res.stderr)
	}
	if res := apikey("create", "--name", "x", "--models", "a b"); res.code != 2 {
		t.Errorf("create with a model holding a space: exit %d, %q", res.code, res.stderr)
	}

	// On the stopped node's store.
	res := apikey("create", "--name", "offline app", "--models", "demo-chat")
	if res.code != 0 || !strings.HasPrefix(lastLine(res.stdout), "szk_") {
		t.Fatalf("create (offline): exit %d, %q %q", res.code, res.stdout, res.stderr)
	}
	offline := lastLine(res.stdout)

	n := serveNode(t, data, cfg, nil)
	call := func(key string) int {
		req, _ := http.NewRequest(http.MethodPost, n.base+"/v1/chat/completions",
			strings.NewReader(`{"model":"demo-chat","messages":[{"role":"user","content":"hello"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := call(offline); code != 200 {
		t.Fatalf("a key made offline, at the node: %d", code)
	}

	// Through the running node's socket.
	res = apikey("create", "--name", "online")
	if res.code != 0 || !strings.HasPrefix(lastLine(res.stdout), "szk_") {
		t.Fatalf("create (socket): exit %d, %q %q", res.code, res.stdout, res.stderr)
	}
	online := lastLine(res.stdout)
	if code := call(online); code != 200 {
		t.Fatalf("a key made through the socket: %d", code)
	}
	res = apikey("list", "--json")
	var list struct {
		Keys []struct {
			ID, Name string
			Models   []string
			Revoked  bool
		} `json:"api_keys"`
	}
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &list) != nil || len(list.Keys) != 2 {
		t.Fatalf("list: exit %d, %q", res.code, res.stdout)
	}
	if strings.Contains(res.stdout, online[4:20]+online[20:40]) || strings.Contains(res.stdout, offline) {
		t.Errorf("list shows a key's secret: %s", res.stdout)
	}
	var onlineID string
	for _, k := range list.Keys {
		if k.Name == "online" {
			onlineID = k.ID
		}
	}
	if res := apikey("revoke", onlineID); res.code != 0 {
		t.Fatalf("revoke: exit %d, %q", res.code, res.stderr)
	}
	if code := call(online); code != 401 {
		t.Errorf("a revoked key: %d, want 401", code)
	}
	if code := call(offline); code != 200 {
		t.Errorf("the other key after a revocation: %d", code)
	}
	if res := apikey("revoke", "0000000000000000"); res.code != 2 {
		t.Errorf("revoke an unknown key: exit %d, %q", res.code, res.stderr)
	}
	res = apikey("list")
	if res.code != 0 || !strings.Contains(res.stdout, "offline app") || !strings.Contains(res.stdout, onlineID) {
		t.Errorf("list (table): exit %d:\n%s", res.code, res.stdout)
	}
}
