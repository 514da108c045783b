package upstream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// TestMain turns the test binary into a stdio MCP server when started as
// the child of a stdio upstream.
func TestMain(m *testing.M) {
	if os.Getenv("UPSTREAM_TEST_CHILD") == "1" {
		if err := server.ServeStdio(newMCPServer(nil)); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// counts counts tool handler runs by tool name.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[name]++
}

func (c *counts) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

var readOnly = mcp.WithReadOnlyHintAnnotation(true)

// newMCPServer builds the upstream used by the tests: tools, resources and
// prompts, each list in pages of two.
func newMCPServer(runs *counts) *server.MCPServer {
	s := server.NewMCPServer("test-upstream", "1",
		server.WithToolCapabilities(true),
		server.WithResourceCapabilities(false, true),
		server.WithPromptCapabilities(true),
		server.WithPaginationLimit(2))
	text := func(req mcp.CallToolRequest) string { s, _ := req.GetArguments()["text"].(string); return s }
	s.AddTool(mcp.NewTool("echo", readOnly), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		runs.add("echo")
		return mcp.NewToolResultText(text(req)), nil
	})
	s.AddTool(mcp.NewTool("write"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		runs.add("write")
		return mcp.NewToolResultText("written"), nil
	})
	s.AddTool(mcp.NewTool("fails", readOnly), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		runs.add("fails")
		return mcp.NewToolResultError("the tool failed"), nil
	})
	s.AddTool(mcp.NewTool("rpcfail", readOnly), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		runs.add("rpcfail")
		return nil, fmt.Errorf("handler error")
	})
	s.AddTool(mcp.NewTool("slow", readOnly), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		runs.add("slow")
		<-ctx.Done()
		return nil, ctx.Err()
	})
	s.AddTool(mcp.NewTool("big", readOnly), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		n, _ := req.GetArguments()["n"].(float64)
		return mcp.NewToolResultText(strings.Repeat("x", int(n))), nil
	})
	s.AddTool(mcp.NewTool("env", readOnly), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(strings.Join(os.Environ(), "\n")), nil
	})
	s.AddTool(mcp.NewTool("pid", readOnly), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(fmt.Sprint(os.Getpid())), nil
	})
	for i := range 5 {
		uri := fmt.Sprintf("test://doc/%d", i)
		s.AddResource(mcp.NewResource(uri, fmt.Sprintf("doc%d", i)), func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: "text/plain", Text: "content of " + uri}}, nil
		})
	}
	for i := range 3 {
		name := fmt.Sprintf("prompt%d", i)
		s.AddPrompt(mcp.NewPrompt(name), func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return mcp.NewGetPromptResult(name, []mcp.PromptMessage{
				mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent("hello "+req.Params.Arguments["who"])),
			}), nil
		})
	}
	return s
}

// httpUpstream is an upstream MCP server on a loopback HTTP server, with
// knobs to make it fail and counters of what it saw.
type httpUpstream struct {
	mcp  *server.MCPServer
	h    atomic.Pointer[http.Handler]
	srv  *httptest.Server
	runs *counts

	posts    atomic.Int64
	lists    atomic.Int64 // tools/list requests
	status   atomic.Int32 // when non-zero, every POST gets this status
	echoAuth atomic.Bool  // answer 500 with the Authorization header
	auth     atomic.Value // the last Authorization header
	failNext sync.Map     // tool name → *atomic.Int32: answer 503 that many times
	attempts sync.Map     // tool name → *atomic.Int32: POSTs for the tool
	gets     chan struct{}
	versions []string
}

func newHTTPUpstream(t *testing.T, versions ...string) *httpUpstream {
	t.Helper()
	u := &httpUpstream{runs: &counts{}, gets: make(chan struct{}, 16), versions: versions}
	u.mcp = newMCPServer(u.runs)
	u.reset()
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

// reset replaces the Streamable HTTP handler, forgetting its sessions.
func (u *httpUpstream) reset() {
	var h http.Handler = server.NewStreamableHTTPServer(u.mcp, server.WithStreamableHTTPProtocolVersions(u.versions...))
	u.h.Store(&h)
}

func counter(m *sync.Map, name string) *atomic.Int32 {
	v, _ := m.LoadOrStore(name, new(atomic.Int32))
	return v.(*atomic.Int32)
}

func (u *httpUpstream) serve(w http.ResponseWriter, r *http.Request) {
	u.auth.Store(r.Header.Get("Authorization"))
	if r.Method == http.MethodGet {
		select {
		case u.gets <- struct{}{}:
		default:
		}
	}
	if r.Method == http.MethodPost {
		u.posts.Add(1)
		if r.Header.Get("Mcp-Method") == "tools/list" {
			u.lists.Add(1)
		}
		if name := r.Header.Get("Mcp-Name"); name != "" && r.Header.Get("Mcp-Method") == "tools/call" {
			counter(&u.attempts, name).Add(1)
			if n := counter(&u.failNext, name); n.Load() > 0 {
				n.Add(-1)
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		if s := u.status.Load(); s != 0 {
			http.Error(w, "failing on purpose", int(s))
			return
		}
		if u.echoAuth.Load() {
			http.Error(w, "you sent "+r.Header.Get("Authorization"), http.StatusInternalServerError)
			return
		}
	}
	(*u.h.Load()).ServeHTTP(w, r)
}

func (u *httpUpstream) config(name string) Config {
	return Config{Name: name, Transport: TransportHTTP, URL: mustURL(u.srv.URL)}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func noRetries() Retries {
	zero := 0
	return Retries{Max: &zero}
}
