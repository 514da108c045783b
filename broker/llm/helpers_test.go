package llm_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/subzero-gateway/subzero/broker/limits"
	"github.com/subzero-gateway/subzero/broker/llm"
	"github.com/subzero-gateway/subzero/examples/llmdemo"
	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/output"
	"github.com/subzero-gateway/subzero/guard/standard"
	"github.com/subzero-gateway/subzero/internal/secret"
)

// providerKey is the upstreams' API key in tests; it must never reach a
// client, a log or an error.
const providerKey = "sk-provider-4f1c9e2ab7d35e60"

// startUpstream starts a demo model server on loopback.
func startUpstream(t testing.TB, opts llmdemo.Options) (*llmdemo.Server, *url.URL) {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = providerKey
	}
	s := llmdemo.New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL + "/v1")
	if err != nil {
		t.Fatal(err)
	}
	return s, u
}

// upstreamConfig is a compatible upstream with the test key.
func upstreamConfig(name string, base *url.URL, models ...string) llm.UpstreamConfig {
	return llm.UpstreamConfig{Name: name, Kind: llm.KindCompatible, BaseURL: base,
		APIKey: secret.Ref{Env: "TEST_PROVIDER_KEY"}, Models: models}
}

func getenv(name string) string {
	if name == "TEST_PROVIDER_KEY" {
		return providerKey
	}
	return ""
}

// events records the proxy's events.
type events struct {
	mu    sync.Mutex
	all   []llm.Event
	added chan struct{} // a value per event

	inflight int // calls the test server is serving
	idle     *sync.Cond
}

func (e *events) Record(_ context.Context, ev llm.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
	select {
	case e.added <- struct{}{}:
	default:
	}
}

// list returns the events once no call is in flight (a client may have
// its answer before the handler has recorded the call).
func (e *events) list() []llm.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.inflight > 0 {
		e.idle.Wait()
	}
	return append([]llm.Event(nil), e.all...)
}

func (e *events) enter() {
	e.mu.Lock()
	e.inflight++
	e.mu.Unlock()
}

func (e *events) leave() {
	e.mu.Lock()
	e.inflight--
	e.idle.Broadcast()
	e.mu.Unlock()
}

func (e *events) last(t *testing.T) llm.Event {
	t.Helper()
	l := e.list()
	if len(l) == 0 {
		t.Fatal("no event recorded")
	}
	return l[len(l)-1]
}

// limiterFunc is a Limiter from a function.
type limiterFunc func(ctx context.Context, r limits.Request) (*limits.Ticket, error)

func (f limiterFunc) Admit(ctx context.Context, r limits.Request) (*limits.Ticket, error) {
	return f(ctx, r)
}

// authorizerFunc is an Authorizer from a function.
type authorizerFunc func(ctx context.Context, c llm.Caller, model string) error

func (f authorizerFunc) AllowModel(ctx context.Context, c llm.Caller, model string) error {
	return f(ctx, c, model)
}

// testCaller is who the test middleware says calls.
var testCaller = llm.Caller{Subject: "user:alice", ClientID: "app-1", APIKeyID: "key-1"}

// proxyEnv is a proxy served on loopback behind a middleware that sets the
// caller (and drops the client's Authorization, as the node's does after
// checking it).
type proxyEnv struct {
	proxy  *llm.Proxy
	url    string // base URL, ending in /v1
	events *events
	logs   *bytes.Buffer
	logMu  *sync.Mutex
}

func (e *proxyEnv) logText() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// newProxy starts a proxy for cfg. deps.Recorder, Logger and GetEnv are
// set when nil.
func newProxy(t testing.TB, cfg llm.Config, deps llm.Deps) *proxyEnv {
	t.Helper()
	evs := &events{added: make(chan struct{}, 1024)}
	evs.idle = sync.NewCond(&evs.mu)
	env := &proxyEnv{events: evs, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	if deps.Recorder == nil {
		deps.Recorder = env.events
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(lockedWriter{env.logMu, env.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if deps.GetEnv == nil {
		deps.GetEnv = getenv
	}
	p, err := llm.New(cfg, deps)
	if err != nil {
		t.Fatalf("llm.New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	env.proxy = p
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evs.enter()
		defer evs.leave()
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer client-") {
			p.ServeHTTP(w, r) // no caller
			return
		}
		r.Header.Del("Authorization")
		c := testCaller
		if m := r.Header.Get("X-Test-Models"); m != "" {
			c.Models = strings.Split(m, ",")
		}
		p.ServeHTTP(w, r.WithContext(llm.WithCaller(r.Context(), c)))
	}))
	t.Cleanup(srv.Close)
	env.url = srv.URL + "/v1"
	return env
}

// client returns a go-openai client of the proxy.
func (e *proxyEnv) client() *openai.Client {
	c := openai.DefaultConfig("client-token-123")
	c.BaseURL = e.url
	return openai.NewClientWithConfig(c)
}

// post sends a raw request with the client's token.
func (e *proxyEnv) post(t testing.TB, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer client-token-123")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// testGuard is the standard guard with prompt attacks blocked in prompts
// and system prompt leaks in answers, and its leak detector; built once
// per test binary (building it takes a while under -race).
func testGuard(t testing.TB) (*guard.Guard, *output.Leak) {
	t.Helper()
	sg, err := sharedGuard()
	if err != nil {
		t.Fatal(err)
	}
	return sg.g, sg.leak
}

type guardAndLeak struct {
	g    *guard.Guard
	leak *output.Leak
}

var sharedGuard = sync.OnceValues(func() (guardAndLeak, error) {
	cfg := guard.Default()
	cfg.Detectors = map[string]guard.DirectionRules{
		string(guard.ClassPromptAttack): {"prompt": {Action: guard.Block}},
		string(guard.ClassLeak):         {"completion": {Action: guard.Block}},
	}
	leak, err := output.NewLeak(cfg.Output)
	if err != nil {
		return guardAndLeak{}, err
	}
	g, err := standard.New(cfg, standard.WithLeak(leak))
	return guardAndLeak{g, leak}, err
})

// basicConfig is one upstream serving demo-model.
func basicConfig(base *url.URL) llm.Config {
	cfg := llm.Default()
	cfg.Upstreams = []llm.UpstreamConfig{upstreamConfig("demo", base, "demo-model")}
	return cfg
}

// waitFor receives from ch or fails after a generous bound (a hang guard,
// not a timed assertion).
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}
