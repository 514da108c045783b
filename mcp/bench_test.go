package mcp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// BenchmarkToolsList lists the tools of 10 upstreams × 50 tools, filtered
// for the caller, through the gateway's HTTP handler (in process, a
// 2025-11-25 session): the gateway's and mcp-go's work, no network.
func BenchmarkToolsList(b *testing.B) {
	f := &fixture{pipe: &testPipeline{}, vis: &testVisibility{}, rec: &testRecorder{}}
	cfg := Default()
	for i := range 10 {
		var tools []server.ServerTool
		for j := range 50 {
			tools = append(tools, textTool(fmt.Sprintf("tool_%02d", j), "Does thing number "+fmt.Sprint(j)+" with the notes.",
				"ok", mcpgo.WithReadOnlyHintAnnotation(true), mcpgo.WithString("query", mcpgo.Description("What to look for."))))
		}
		u := newTestUpstream(b, fmt.Sprintf("up%d", i), tools...)
		cfg.Upstreams = append(cfg.Upstreams, httpConfig(b, u, nil))
	}
	serve(b, f, cfg)
	hdr := rawSession(b, f.url, "bob")
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	h := withIdentity(f.g.Handler())
	var last []byte
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequestWithContext(b.Context(), http.MethodPost, Path, strings.NewReader(list))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		last = w.Body.Bytes()
	}
	var res struct {
		Result mcpgo.ListToolsResult `json:"result"`
	}
	if err := json.Unmarshal(last, &res); err != nil || len(res.Result.Tools) != 500 {
		b.Fatalf("%d tools listed, want 500 (%v)", len(res.Result.Tools), err)
	}
}
