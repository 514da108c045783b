package mcp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// BenchmarkToolsList lists the tools of 10 upstreams × 50 tools, filtered
// for the caller (bob, who does not see the upstream beta: 450 tools
// listed), through the gateway's HTTP handler in process: the gateway's and
// mcp-go's work, no network. It runs a 2025-11-25 session and a 2026-07-28
// stateless request, and reports the p50 and p99 of the requests.
func BenchmarkToolsList(b *testing.B) {
	f := &fixture{pipe: &testPipeline{}, vis: &testVisibility{}, rec: &testRecorder{}}
	cfg := Default()
	for i := range 10 {
		var tools []server.ServerTool
		for j := range 50 {
			tools = append(tools, textTool(fmt.Sprintf("tool_%02d", j), "Does thing number "+fmt.Sprint(j)+" with the notes.",
				"ok", mcpgo.WithReadOnlyHintAnnotation(true), mcpgo.WithString("query", mcpgo.Description("What to look for."))))
		}
		name := fmt.Sprintf("up%d", i)
		if i == 3 {
			name = "beta"
		}
		u := newTestUpstream(b, name, tools...)
		cfg.Upstreams = append(cfg.Upstreams, httpConfig(b, u, nil))
	}
	serve(b, f, cfg)
	h := withIdentity(f.g.Handler())
	for _, pv := range []string{mcpgo.ProtocolVersion20251125, mcpgo.ProtocolVersion20260728} {
		b.Run(pv, func(b *testing.B) {
			var hdr map[string]string
			list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
			if mcpgo.IsModernProtocol(pv) {
				hdr = map[string]string{"X-Test-User": "bob", "Mcp-Protocol-Version": pv, "Mcp-Method": "tools/list"}
				list = `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"` + pv +
					`","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
			} else {
				hdr = rawSession(b, f.url, "bob")
			}
			var last []byte
			var took []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				req := httptest.NewRequestWithContext(b.Context(), http.MethodPost, Path, strings.NewReader(list))
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				took = append(took, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
				last = w.Body.Bytes()
			}
			reportPercentiles(b, took)
			var res struct {
				Result mcpgo.ListToolsResult `json:"result"`
			}
			if err := json.Unmarshal(last, &res); err != nil || len(res.Result.Tools) != 450 {
				b.Fatalf("%d tools listed, want 450 (%v)", len(res.Result.Tools), err)
			}
		})
	}
}

// reportPercentiles reports the p50 and p99 of took, in µs.
func reportPercentiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	at := func(q float64) float64 {
		return float64(took[min(len(took)-1, int(q*float64(len(took))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
