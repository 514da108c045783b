package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/subzero-gateway/subzero/internal/secret"
)

// start makes and starts an upstream, closed when the test ends.
func start(t *testing.T, cfg Config, getenv func(string) string, log *slog.Logger) *Upstream {
	t.Helper()
	u, err := New(cfg, getenv, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	if err := u.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return u
}

// waitState waits until the upstream's state is want. The bound is there to
// fail a broken test, not to measure anything.
func waitState(t *testing.T, u *Upstream, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		ch := u.waitChange()
		if u.Health().State == want {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("state = %q, want %q", u.Health().State, want)
		}
	}
}

func text(t *testing.T, r *mcp.CallToolResult) string {
	t.Helper()
	if len(r.Content) != 1 {
		t.Fatalf("content = %v, want one item", r.Content)
	}
	tc, ok := mcp.AsTextContent(r.Content[0])
	if !ok {
		t.Fatalf("content = %T, want text", r.Content[0])
	}
	return tc.Text
}

func tool(name string) mcp.Tool { return mcp.Tool{Name: name} }

func readOnlyTool(name string) mcp.Tool { return mcp.NewTool(name, readOnly) }

func TestHTTPListsAndCalls(t *testing.T) {
	srv := newHTTPUpstream(t)
	u := start(t, srv.config("notes"), nil, nil)

	h := u.Health()
	if h.State != StateUp || h.Protocol != mcp.LATEST_PROTOCOL_VERSION {
		t.Fatalf("health = %+v, want up on %s", h, mcp.LATEST_PROTOCOL_VERSION)
	}
	if c := u.Capabilities(); c.Tools == nil || !c.Tools.ListChanged {
		t.Errorf("capabilities = %+v, want tools with listChanged", c)
	}
	if got, want := u.Prefix(), "notes__"; got != want {
		t.Errorf("Prefix = %q, want %q", got, want)
	}

	before := srv.lists.Load()
	tools, err := u.Tools(t.Context())
	if err != nil {
		t.Fatalf("Tools: %v", err)
	}
	if len(tools) != 8 {
		t.Errorf("Tools: %d tools, want 8", len(tools))
	}
	if pages := srv.lists.Load() - before; pages < 4 {
		t.Errorf("tools/list requests = %d, want at least 4 pages of 2", pages)
	}
	res, err := u.Resources(t.Context())
	if err != nil || len(res) != 5 {
		t.Errorf("Resources = %d, %v; want 5", len(res), err)
	}
	prompts, err := u.Prompts(t.Context())
	if err != nil || len(prompts) != 3 {
		t.Errorf("Prompts = %d, %v; want 3", len(prompts), err)
	}

	r, err := u.CallTool(t.Context(), tool("echo"), map[string]any{"text": "hi"}, nil)
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if got := text(t, r); got != "hi" {
		t.Errorf("echo = %q, want hi", got)
	}
	r, err = u.CallTool(t.Context(), tool("fails"), nil, nil)
	if err != nil || !r.IsError {
		t.Errorf("fails: %+v, %v; want a result with IsError", r, err)
	}
	rr, err := u.ReadResource(t.Context(), "test://doc/3")
	if err != nil {
		t.Fatalf("ReadResource: %v", err)
	}
	if tc, ok := rr.Contents[0].(mcp.TextResourceContents); !ok || tc.Text != "content of test://doc/3" {
		t.Errorf("ReadResource = %+v", rr.Contents)
	}
	pr, err := u.GetPrompt(t.Context(), "prompt1", map[string]string{"who": "ann"})
	if err != nil {
		t.Fatalf("GetPrompt: %v", err)
	}
	if tc, ok := mcp.AsTextContent(pr.Messages[0].Content); !ok || tc.Text != "hello ann" {
		t.Errorf("GetPrompt = %+v", pr.Messages)
	}
	_, err = u.ReadResource(t.Context(), "test://nothing")
	if !errors.Is(err, ErrRPC) || !strings.Contains(err.Error(), "upstream notes: resources/read") {
		t.Errorf("ReadResource of nothing: %v, want ErrRPC naming the upstream", err)
	}
	if h := u.Health(); h.Calls < 9 || h.Failures != 0 {
		t.Errorf("health = %+v, want calls counted and no failures", h)
	}
}

func TestListChanged(t *testing.T) {
	for _, tc := range []struct {
		name     string
		versions []string
	}{
		{"2026-07-28", nil},
		{"2025-11-25", []string{mcp.ProtocolVersion20251125}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHTTPUpstream(t, tc.versions...)
			u := start(t, srv.config("notes"), nil, nil)
			if got := u.Health().Protocol; got != tc.name {
				t.Fatalf("protocol = %s, want %s", got, tc.name)
			}
			if tc.versions != nil {
				<-srv.gets // the standalone GET stream is open
			}
			got := make(chan string, 10)
			u.OnListChanged(func(kind string) { got <- kind })
			srv.mcp.AddTool(mcp.NewTool("added"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultText("new"), nil
			})
			if kind := recv(t, got); kind != KindTools {
				t.Errorf("kind = %q, want tools", kind)
			}
			srv.mcp.DeletePrompts("prompt0")
			if kind := recv(t, got); kind != KindPrompts {
				t.Errorf("kind = %q, want prompts", kind)
			}
			tools, err := u.Tools(t.Context())
			if err != nil || !slices.ContainsFunc(tools, func(x mcp.Tool) bool { return x.Name == "added" }) {
				t.Errorf("Tools after the change: %v, %v", len(tools), err)
			}
		})
	}
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("no list_changed callback")
		return ""
	}
}

func TestHeaderSentAndNeverShown(t *testing.T) {
	const token = "Bearer sk-upstream-0123456789abcdef"
	srv := newHTTPUpstream(t)
	cfg := srv.config("notes")
	cfg.Headers = []Header{{Name: "Authorization", Value: secret.Ref{Env: "NOTES_TOKEN"}}}
	cfg.Retries = noRetries()
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	getenv := func(k string) string {
		if k == "NOTES_TOKEN" {
			return token
		}
		return ""
	}
	u := start(t, cfg, getenv, log)
	if _, err := u.CallTool(t.Context(), tool("echo"), nil, nil); err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if got := srv.auth.Load(); got != token {
		t.Fatalf("upstream saw Authorization %q, want the configured one", got)
	}

	srv.echoAuth.Store(true) // the upstream now puts the header in its error
	_, err := u.CallTool(t.Context(), tool("echo"), nil, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	h := u.Health()
	mu.Lock()
	logged := logs.String()
	mu.Unlock()
	for what, s := range map[string]string{"error": err.Error(), "health": fmt.Sprintf("%+v", h), "logs": logged} {
		if strings.Contains(s, "sk-upstream-0123456789abcdef") {
			t.Errorf("the %s holds the header value: %s", what, s)
		}
	}
	if !strings.Contains(err.Error(), "REDACTED") {
		t.Errorf("err = %v, want the value redacted", err)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestTimeout(t *testing.T) {
	srv := newHTTPUpstream(t)
	cfg := srv.config("notes")
	cfg.CallTimeout = 100 * time.Millisecond
	cfg.Retries = noRetries()
	u := start(t, cfg, nil, nil)
	_, err := u.CallTool(t.Context(), readOnlyTool("slow"), nil, nil)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if srv.runs.get("slow") != 1 {
		t.Errorf("slow ran %d times, want 1", srv.runs.get("slow"))
	}
}

func TestBreakerOpensAndFailsFast(t *testing.T) {
	srv := newHTTPUpstream(t)
	cfg := srv.config("notes")
	cfg.Retries = noRetries()
	cfg.Breaker = Breaker{Failures: 3, OpenFor: time.Hour}
	reg := prometheus.NewRegistry()
	r, err := NewRegistry([]Config{cfg}, nil, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	u, _ := r.Get("notes")

	srv.status.Store(http.StatusServiceUnavailable)
	for i := range 3 {
		if _, err := u.CallTool(t.Context(), tool("echo"), nil, nil); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("call %d: %v, want ErrUnavailable", i, err)
		}
	}
	seen := srv.posts.Load()
	for i := range 5 {
		_, err := u.CallTool(t.Context(), tool("echo"), nil, nil)
		if !errors.Is(err, ErrCircuitOpen) || !strings.Contains(err.Error(), "upstream notes") {
			t.Fatalf("call %d while open: %v, want ErrCircuitOpen naming the upstream", i, err)
		}
	}
	if _, err := u.Tools(t.Context()); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("Tools while open: %v, want ErrCircuitOpen", err)
	}
	if n := srv.posts.Load() - seen; n != 0 {
		t.Errorf("the upstream saw %d requests while the breaker was open, want 0", n)
	}
	if h := u.Health(); h.State != StateOpen {
		t.Errorf("state = %q, want open", h.State)
	}
	if v := testutil.ToFloat64(r.metrics().open.WithLabelValues("notes")); v != 1 {
		t.Errorf("circuit_open gauge = %v, want 1", v)
	}
	if v := testutil.ToFloat64(r.metrics().requests.WithLabelValues("notes", "tools/call", "circuit_open")); v != 5 {
		t.Errorf("circuit_open requests = %v, want 5", v)
	}
}

func TestRetries(t *testing.T) {
	srv := newHTTPUpstream(t)
	cfg := srv.config("notes")
	two := 2
	cfg.Retries = Retries{Max: &two, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	u := start(t, cfg, nil, nil)

	// A read-only tool is retried past two 503s.
	counter(&srv.failNext, "echo").Store(2)
	if _, err := u.CallTool(t.Context(), readOnlyTool("echo"), nil, nil); err != nil {
		t.Fatalf("read-only call: %v", err)
	}
	if got := counter(&srv.attempts, "echo").Load(); got != 3 {
		t.Errorf("echo attempts = %d, want 3", got)
	}

	// A tool that may write is sent once.
	counter(&srv.failNext, "write").Store(1)
	_, err := u.CallTool(t.Context(), mcp.NewTool("write"), nil, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write: %v, want ErrUnavailable", err)
	}
	if got := counter(&srv.attempts, "write").Load(); got != 1 {
		t.Errorf("write attempts = %d, want 1", got)
	}

	// A JSON-RPC error is the server's answer: not retried.
	_, err = u.CallTool(t.Context(), readOnlyTool("rpcfail"), nil, nil)
	if !errors.Is(err, ErrRPC) {
		t.Fatalf("rpcfail: %v, want ErrRPC", err)
	}
	if got := srv.runs.get("rpcfail"); got != 1 {
		t.Errorf("rpcfail ran %d times, want 1", got)
	}
}

func TestSessionExpiry(t *testing.T) {
	srv := newHTTPUpstream(t, mcp.ProtocolVersion20251125)
	cfg := srv.config("notes")
	cfg.Retries = noRetries()
	u := start(t, cfg, nil, nil)
	if _, err := u.CallTool(t.Context(), tool("write"), nil, nil); err != nil {
		t.Fatal(err)
	}
	srv.reset() // the server forgets every session: the next request gets 404
	if _, err := u.CallTool(t.Context(), tool("write"), nil, nil); err != nil {
		t.Fatalf("call after the session expired: %v", err)
	}
	if got := srv.runs.get("write"); got != 2 {
		t.Errorf("write ran %d times, want 2", got)
	}
}

func TestOversizedResult(t *testing.T) {
	srv := newHTTPUpstream(t)
	cfg := srv.config("notes")
	cfg.MaxResultBytes = 1024
	u := start(t, cfg, nil, nil)
	for _, n := range []int{2000, 300_000} {
		_, err := u.CallTool(t.Context(), readOnlyTool("big"), map[string]any{"n": n}, nil)
		if !errors.Is(err, ErrResultTooLarge) {
			t.Errorf("%d bytes: %v, want ErrResultTooLarge", n, err)
		}
	}
	if _, err := u.CallTool(t.Context(), readOnlyTool("big"), map[string]any{"n": 100}, nil); err != nil {
		t.Errorf("100 bytes: %v", err)
	}
}

// stdioConfig runs this test binary as a stdio MCP server.
func stdioConfig(t *testing.T) Config {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Config{Name: "child", Transport: TransportStdio, Command: exe,
		Env: map[string]string{"UPSTREAM_TEST_CHILD": "1", "FOO": "bar"}}
}

func TestStdioEnvironment(t *testing.T) {
	t.Setenv("SUBZERO_BROKER_SECRET", "broker-secret-value")
	cfg := stdioConfig(t)
	cfg.SecretEnv = map[string]secret.Ref{"CHILD_TOKEN": {Env: "CHILD_TOKEN_SRC"}}
	getenv := func(k string) string {
		if k == "CHILD_TOKEN_SRC" {
			return "child-token-value"
		}
		return os.Getenv(k)
	}
	u := start(t, cfg, getenv, nil)
	r, err := u.CallTool(t.Context(), tool("env"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(text(t, r), "\n")
	slices.Sort(env)
	want := []string{"CHILD_TOKEN=child-token-value", "FOO=bar", "PATH=" + os.Getenv("PATH"), "UPSTREAM_TEST_CHILD=1"}
	if !slices.Equal(env, want) {
		t.Errorf("child environment = %q, want %q", env, want)
	}
	tools, err := u.Tools(t.Context())
	if err != nil || len(tools) != 8 {
		t.Errorf("Tools = %d, %v", len(tools), err)
	}
}

func TestStdioChildRestarted(t *testing.T) {
	u := start(t, stdioConfig(t), os.Getenv, nil)
	pid := func() int {
		t.Helper()
		r, err := u.CallTool(t.Context(), readOnlyTool("pid"), nil, nil)
		if err != nil {
			t.Fatalf("pid: %v", err)
		}
		n, err := strconv.Atoi(text(t, r))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := pid()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitState(t, u, StateDown)
	if h := u.Health(); !strings.Contains(h.LastError, "child exited") {
		t.Errorf("LastError = %q, want the child's exit", h.LastError)
	}
	second := pid()
	if second == first {
		t.Errorf("pid after the kill = %d, want a new child", second)
	}
	if h := u.Health(); h.State != StateUp {
		t.Errorf("state = %q, want up", h.State)
	}
	if err := u.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
	if err := syscall.Kill(second, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("child %d still exists after Close: %v", second, err)
	}
	if _, err := u.Tools(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Tools after Close: %v, want ErrClosed", err)
	}
}

func TestStdioOversized(t *testing.T) {
	cfg := stdioConfig(t)
	cfg.MaxResultBytes = 1024
	u := start(t, cfg, os.Getenv, nil)
	for _, n := range []int{2000, 300_000} {
		_, err := u.CallTool(t.Context(), readOnlyTool("big"), map[string]any{"n": n}, nil)
		if !errors.Is(err, ErrResultTooLarge) {
			t.Errorf("%d bytes: %v, want ErrResultTooLarge", n, err)
		}
	}
	if _, err := u.CallTool(t.Context(), readOnlyTool("big"), map[string]any{"n": 100}, nil); err != nil {
		t.Errorf("100 bytes after: %v", err)
	}
}

func TestStdioBadCommand(t *testing.T) {
	cfg := stdioConfig(t)
	cfg.Command = "/nonexistent/subzero-upstream"
	u, err := New(cfg, os.Getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "upstream child: connect") {
		t.Errorf("Start = %v, want a connect error naming the upstream", err)
	}
	if h := u.Health(); h.State != StateDown || h.LastError == "" {
		t.Errorf("health = %+v, want down with an error", h)
	}
}

func TestRegistryOneDown(t *testing.T) {
	srv := newHTTPUpstream(t)
	down := Config{Name: "down", Transport: TransportHTTP, URL: mustURL("http://127.0.0.1:1/mcp"), ConnectTimeout: 5 * time.Second}
	reg := prometheus.NewRegistry()
	r, err := NewRegistry([]Config{srv.config("notes"), down}, nil, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	hs := r.Health()
	if len(hs) != 2 || hs[0].Name != "notes" || hs[0].State != StateUp || hs[1].Name != "down" || hs[1].State != StateDown || hs[1].LastError == "" {
		t.Fatalf("health = %+v, want notes up and down down", hs)
	}
	u, ok := r.Get("notes")
	if !ok {
		t.Fatal("Get(notes) failed")
	}
	if _, err := u.CallTool(t.Context(), tool("echo"), nil, nil); err != nil {
		t.Errorf("call to the upstream that is up: %v", err)
	}
	d, _ := r.Get("down")
	if _, err := d.Tools(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Tools of the down upstream: %v, want ErrUnavailable", err)
	}
	if v := testutil.ToFloat64(r.metrics().up.WithLabelValues("notes")); v != 1 {
		t.Errorf("up{notes} = %v, want 1", v)
	}
	if v := testutil.ToFloat64(r.metrics().up.WithLabelValues("down")); v != 0 {
		t.Errorf("up{down} = %v, want 0", v)
	}
	if _, ok := r.Get("nothing"); ok {
		t.Error("Get(nothing) succeeded")
	}
	if n := len(r.All()); n != 2 {
		t.Errorf("All = %d upstreams, want 2", n)
	}
}

func TestRegistryRecoversInBackground(t *testing.T) {
	srv := newHTTPUpstream(t)
	srv.status.Store(http.StatusServiceUnavailable)
	r, err := NewRegistry([]Config{srv.config("notes")}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	u, _ := r.Get("notes")
	if s := u.Health().State; s != StateDown {
		t.Fatalf("state = %q, want down", s)
	}
	srv.status.Store(0)
	waitState(t, u, StateUp)
}
