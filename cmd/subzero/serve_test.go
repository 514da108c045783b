package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/store/bolt"
)

// TestRunServe runs `subzero serve --addr 127.0.0.1:0 --data DIR` through
// run, on the development defaults, and checks what an operator sees.
func TestRunServe(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", data}, nil, nil, &stdout, &stderr)
		done <- exitCode(err, &stderr)
	}()
	var addr string
	waitFor(t, 10*time.Second, `the "serving" log line`, func() bool {
		for _, rec := range logRecords(stderr.String()) {
			if rec["msg"] == "serving" {
				addr, _ = rec["addr"].(string)
				return true
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before serving:\n%s", code, stderr.String())
		default:
		}
		return false
	})
	base := "http://" + addr

	tests := []struct {
		path       string
		wantStatus int
		wantBody   map[string]any
	}{
		{"/healthz", 200, map[string]any{"status": "ok", "node": "<node>"}},
		{"/readyz", 200, map[string]any{"status": "ready", "store": "bolt"}},
		{"/no/such/path", 404, map[string]any{"error": "not_found", "message": "no such endpoint", "request_id": "<id>"}},
	}
	nodeID, err := os.ReadFile(filepath.Join(data, "node-id"))
	if err != nil {
		t.Fatalf("no node-id in the data dir: %v", err)
	}
	ids := map[string]string{}
	for _, tt := range tests {
		resp, body := getJSON(t, base+tt.path)
		id := resp.Header.Get("X-Request-ID")
		if id == "" {
			t.Errorf("GET %s: no X-Request-ID", tt.path)
		}
		ids[id] = tt.path
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("GET %s: status %d, want %d", tt.path, resp.StatusCode, tt.wantStatus)
		}
		if tt.path == "/readyz" {
			// The demo upstream behind /mcp, on development defaults.
			ups, _ := body["mcp_upstreams"].([]any)
			if len(ups) != 1 || ups[0].(map[string]any)["name"] != "notes" || ups[0].(map[string]any)["state"] != "up" {
				t.Errorf("GET /readyz: mcp_upstreams = %v, want the demo upstream notes, up", body["mcp_upstreams"])
			}
			delete(body, "mcp_upstreams")
			// And the demo model server behind /v1.
			models, _ := body["llm_upstreams"].([]any)
			if len(models) != 1 || models[0].(map[string]any)["name"] != "demo" || models[0].(map[string]any)["state"] != "closed" {
				t.Errorf("GET /readyz: llm_upstreams = %v, want the demo model server, closed", body["llm_upstreams"])
			}
			delete(body, "llm_upstreams")
		}
		want := map[string]any{}
		for k, v := range tt.wantBody {
			switch v {
			case "<node>":
				v = strings.TrimSpace(string(nodeID))
			case "<id>":
				v = id
			}
			want[k] = v
		}
		if diff := cmp.Diff(want, body); diff != "" {
			t.Errorf("GET %s: body (-want +got):\n%s", tt.path, diff)
		}
	}

	resp, err := httpClient.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("GET /metrics: no X-Request-ID")
	}
	for _, want := range []string{
		`subzero_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`,
		`subzero_http_requests_total{code="404",method="GET",route="/"} 1`,
		`subzero_http_request_duration_seconds_count{code="200",route="GET /readyz"} 1`,
		`subzero_store_operation_duration_seconds_count{backend="bolt",op="audit_append"}`,
		`subzero_audit_events_appended_total `, // the start event, and the demo gateway's
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no line starting %s", want)
		}
	}

	// Every request's log line (JSON on stderr) carries its request_id.
	waitFor(t, 5*time.Second, "request log lines", func() bool {
		n := 0
		for _, rec := range logRecords(stderr.String()) {
			if rec["msg"] == "request" {
				n++
			}
		}
		return n == len(tests)+1
	})
	for _, rec := range logRecords(stderr.String()) {
		if rec["msg"] != "request" {
			continue
		}
		id, _ := rec["request_id"].(string)
		if id == "" {
			t.Errorf("request log line without request_id: %v", rec)
		} else if p, ok := ids[id]; ok && p != rec["path"] {
			t.Errorf("log line for request %s has path %v, want %s", id, rec["path"], p)
		}
	}
	if !strings.Contains(stderr.String(), "DEVELOPMENT DEFAULTS") {
		t.Error("no development-defaults warning on stderr")
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d after the context ended, want 0:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return after the context ended")
	}
	if stdout.String() != "" {
		t.Errorf("serve wrote to stdout: %q", stdout.String())
	}
	msgs := []string{}
	for _, rec := range logRecords(stderr.String()) {
		msgs = append(msgs, fmt.Sprint(rec["msg"]))
	}
	if !slices.Contains(msgs, "stopped") {
		t.Errorf("no \"stopped\" log line; messages %q", msgs)
	}
	// The store is closed: the file opens again for writing.
	db, err := bolt.Open(filepath.Join(data, "subzero.db"), 100*time.Millisecond, false)
	if err != nil {
		t.Fatalf("database still held after serve returned: %v", err)
	}
	db.Close()

	// The data dir keeps the node's identity across restarts.
	n := serveNode(t, data, "", nil)
	_, body := getJSON(t, n.base+"/healthz")
	if body["node"] != strings.TrimSpace(string(nodeID)) {
		t.Errorf("restarted node is %v, want %s", body["node"], nodeID)
	}
	if err := n.stop(); err != nil {
		t.Errorf("second serve: %v", err)
	}
}

// A second node on a data dir in use fails, with exit code 1, and says
// why; so does a port in use.
func TestServeResourceInUse(t *testing.T) {
	data := t.TempDir()
	n := serveNode(t, data, "", nil)

	res := runMain(t, t.Context(), nil, "serve", "--addr", "127.0.0.1:0", "--data", data)
	if res.code != 1 || !strings.Contains(res.stderr, "data_dir") || !strings.Contains(res.stderr, "in use") {
		t.Errorf("second serve on the same data dir: exit %d, stderr:\n%s\nwant exit 1 naming data_dir in use", res.code, res.stderr)
	}
	res = runMain(t, t.Context(), nil, "serve", "--addr", n.addr, "--data", t.TempDir())
	if res.code != 1 || !strings.Contains(res.stderr, "server.addr") || !strings.Contains(res.stderr, "address already in use") {
		t.Errorf("serve on a port in use: exit %d, stderr:\n%s\nwant exit 1 naming server.addr", res.code, res.stderr)
	}
	// The first node is unaffected.
	if resp, err := httpClient.Get(n.base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("first node after the failed starts: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
