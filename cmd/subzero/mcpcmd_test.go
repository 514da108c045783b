package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/examples/mcpdemo/notes"
)

// TestMCPToolsCLI lists and approves quarantined tools with `subzero mcp
// tools`, through a running node's socket and then on the stopped node's
// store, and refuses an approval of a definition nobody reviewed.
func TestMCPToolsCLI(t *testing.T) {
	ns, err := notes.New(notes.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(ns.Handler())
	defer up.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "subzero.yaml")
	yaml := fmt.Sprintf("mcp:\n  pinning: {tofu: false}\n  upstreams:\n    - {name: notes, transport: http, url: %q}\n", up.URL+notes.Path)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	n := serveNode(t, data, cfg, nil)
	ctx := t.Context()

	quarantined := func() map[string]string {
		res := runMain(t, ctx, nil, "mcp", "tools", "quarantined", "--json", "--config", cfg, "--data", data)
		if res.code != 0 {
			t.Fatalf("quarantined: exit %d: %s", res.code, res.stderr)
		}
		var out struct {
			Tools []struct {
				Name        string `json:"name"`
				PendingHash string `json:"pending_hash"`
			} `json:"tools"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
			t.Fatalf("quarantined --json: %v: %s", err, res.stdout)
		}
		m := map[string]string{}
		for _, q := range out.Tools {
			m[q.Name] = q.PendingHash
		}
		return m
	}
	var pending map[string]string
	waitFor(t, 10*time.Second, "the five new notes tools in quarantine", func() bool {
		pending = quarantined()
		return len(pending) == 5
	})
	if res := runMain(t, ctx, nil, "mcp", "tools", "approve", "notes__fetch", "sha256:"+strings.Repeat("0", 64), "--config", cfg, "--data", data); res.code != 2 ||
		!strings.Contains(res.stderr, "review") {
		t.Errorf("approve with an unreviewed hash: exit %d, %q", res.code, res.stderr)
	}
	if res := runMain(t, ctx, nil, "mcp", "tools", "approve", "notes__fetch", pending["notes__fetch"], "--config", cfg, "--data", data); res.code != 0 ||
		!strings.Contains(res.stdout, "approved notes__fetch") {
		t.Fatalf("approve through the socket: exit %d, %q %q", res.code, res.stdout, res.stderr)
	}
	if got := quarantined(); len(got) != 4 || got["notes__fetch"] != "" {
		t.Errorf("after the approval: %v", got)
	}
	res := runMain(t, ctx, nil, "mcp", "tools", "quarantined", "--config", cfg, "--data", data)
	if res.code != 0 || !strings.Contains(res.stdout, "notes__search_notes") || !strings.Contains(res.stdout, "description changed") {
		t.Errorf("quarantined (table): exit %d:\n%s", res.code, res.stdout)
	}

	// The node stopped, on the store directly.
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	if res := runMain(t, ctx, nil, "mcp", "tools", "approve", "notes__read_note", pending["notes__read_note"], "--config", cfg, "--data", data); res.code != 0 {
		t.Fatalf("approve offline: exit %d: %s", res.code, res.stderr)
	}
	if got := quarantined(); len(got) != 3 {
		t.Errorf("after the offline approval: %v", got)
	}
	audit := runMain(t, ctx, nil, "audit", "query", "--type", "mcp", "--data", data, "--config", cfg)
	if strings.Count(audit.stdout, "mcp.tool.approved") != 2 {
		t.Errorf("audit: want two approvals:\n%s", audit.stdout)
	}
}
