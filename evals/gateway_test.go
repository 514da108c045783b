package evals_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/examples/mcpdemo/notes"
)

// The gateway benchmarks (gateway_bench_test.go) run a whole node in this
// process: the OAuth server, the resource guard, the pipeline with the
// decision point, the guard both ways and the audit log on bbolt, and the
// MCP gateway, in front of mcp-go servers on loopback. The callers are
// mcp-go's Streamable HTTP client, as an agent would be.

// benchClient is the OAuth client the benchmarks' agent signs in as, by
// client credentials: it acts for itself, the ReBAC user user:bench-bot.
const (
	benchClient = "bench-bot"
	benchSecret = "bench-secret-bench-secret-bench-secret-42"
)

// readDocText is the answer of the benchmarks' tool: about 1 KB of clean
// prose, which the guard scans on the way out and lets through.
var readDocText = strings.Repeat("The quarterly planning notes list the teams, their goals for the "+
	"next release and the dates of the reviews. Each team owns a short summary. ", 8)[:1024]

// upstreamTool is the cheap read-only tool of the benchmarks' upstream.
func upstreamTool(name string) server.ServerTool {
	return server.ServerTool{
		Tool: mcpgo.NewTool(name,
			mcpgo.WithDescription("Reads a planning document by its id."),
			mcpgo.WithReadOnlyHintAnnotation(true),
			mcpgo.WithString("id", mcpgo.Description("The document's id."))),
		Handler: func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			return mcpgo.NewToolResultText(readDocText), nil
		},
	}
}

// startUpstream serves an mcp-go server with tools over Streamable HTTP on
// loopback and returns its endpoint.
func startUpstream(tb testing.TB, name string, tools ...server.ServerTool) string {
	tb.Helper()
	s := server.NewMCPServer(name, "1", server.WithToolCapabilities(true))
	s.AddTools(tools...)
	hs := httptest.NewServer(server.NewStreamableHTTPServer(s))
	tb.Cleanup(hs.Close)
	return hs.URL + "/mcp"
}

// gatewayNode is a node serving on loopback in this process.
type gatewayNode struct {
	srv    *broker.Server
	base   string // http://127.0.0.1:port
	mcpURL string // base + "/mcp"
}

// startGateway starts a node whose gateway serves the given upstreams
// (name → Streamable HTTP endpoint), with the demo's authorization model
// and tuples written, and bench-bot configured as a client-credentials
// client. Logs go to io.Discard at the default level (info), so that the
// node formats its access log lines as it would in production.
func startGateway(tb testing.TB, upstreams map[string]string, tuples []rebac.Tuple) *gatewayNode {
	tb.Helper()
	dir := tb.TempDir()
	secret := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secret, []byte(benchSecret), 0o600); err != nil {
		tb.Fatal(err)
	}
	var yaml strings.Builder
	fmt.Fprintf(&yaml, `oauth:
  clients:
    - client_id: %s
      secret: {file: %s}
      grant_types: [client_credentials]
      token_endpoint_auth_method: client_secret_post
      scope: mcp
mcp:
  upstreams:
`, benchClient, secret)
	names := make([]string, 0, len(upstreams))
	for name := range upstreams {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&yaml, "    - {name: %s, transport: http, url: %q}\n", name, upstreams[name])
	}
	path := filepath.Join(dir, "subzero.yaml")
	if err := os.WriteFile(path, []byte(yaml.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := broker.LoadConfig(path, nil, broker.Flags{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data")})
	if err != nil {
		tb.Fatalf("LoadConfig: %v", err)
	}
	logger := slog.New(broker.NewLogHandler(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: cfg.Log.Level})))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := broker.New(ctx, cfg, logger, func(string) string { return "" }, "bench")
	if err != nil {
		cancel()
		tb.Fatalf("New: %v", err)
	}
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, func(a net.Addr) { ready <- a }) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		tb.Fatalf("Serve returned before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		tb.Fatal("Serve not ready within 10s")
	}
	if _, err := srv.Authz().WriteModel(ctx, notes.AuthzModel); err != nil {
		tb.Fatalf("model: %v", err)
	}
	for batch := range slices.Chunk(tuples, 100) {
		if _, err := srv.Authz().WriteTuples(ctx, batch, nil); err != nil {
			tb.Fatalf("tuples: %v", err)
		}
	}
	n := &gatewayNode{srv: srv, base: "http://" + addr}
	n.mcpURL = n.base + "/mcp"
	return n
}

// serverTuples let user:bench-bot use every tool of the upstream up
// through the server relation.
func serverTuples(up string, tools ...string) []rebac.Tuple {
	out := []rebac.Tuple{{User: "user:" + benchClient, Relation: "user", Object: "server:" + up}}
	for _, t := range tools {
		out = append(out, rebac.Tuple{User: "server:" + up, Relation: "server", Object: "tool:" + up + "." + t})
	}
	return out
}

// token gets an access token for the node's /mcp by client credentials;
// with key, a DPoP-bound one (a proof at the token endpoint).
func (n *gatewayNode) token(tb testing.TB, key *ecdsa.PrivateKey) string {
	tb.Helper()
	tokenURL := n.base + "/oauth2/token"
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {benchClient}, "client_secret": {benchSecret},
		"scope": {"mcp"}, "resource": {n.mcpURL}}
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	want := "Bearer"
	if key != nil {
		req.Header.Set("DPoP", newProofer(tb, key).sign(tb, http.MethodPost, tokenURL, ""))
		want = "DPoP"
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("token endpoint: %s (%v)", resp.Status, err)
	}
	if !strings.EqualFold(tok.TokenType, want) {
		tb.Fatalf("token endpoint: token_type %q, want %s", tok.TokenType, want)
	}
	return tok.AccessToken
}

// proofer makes DPoP proofs (RFC 9449) with one ES256 key.
type proofer struct {
	key *ecdsa.PrivateKey
	hdr jws.Headers
}

func newProofer(tb testing.TB, key *ecdsa.PrivateKey) *proofer {
	tb.Helper()
	pub, err := jwk.FromRaw(key.Public())
	if err != nil {
		tb.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set("typ", "dpop+jwt"); err != nil {
		tb.Fatal(err)
	}
	if err := hdr.Set("jwk", pub); err != nil {
		tb.Fatal(err)
	}
	return &proofer{key: key, hdr: hdr}
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// sign returns a proof for a request of method to htu; with accessToken,
// bound to it (ath).
func (p *proofer) sign(tb testing.TB, method, htu, accessToken string) string {
	s, err := p.proof(method, htu, accessToken)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (p *proofer) proof(method, htu, accessToken string) (string, error) {
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": htu, "iat": time.Now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.ES256, p.key, jws.WithProtectedHeaders(p.hdr)))
	return string(out), err
}

// proofKey carries a proof made ahead of a request in its context, so
// that a latency measurement leaves the client's signing out.
type proofKey struct{}

// dpopTransport sends an access token as a DPoP-bound one: Authorization
// DPoP and a fresh proof on every request (the one in the request's
// context if there is one).
type dpopTransport struct {
	base  http.RoundTripper
	p     *proofer
	token string
}

func (t *dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	proof, _ := r.Context().Value(proofKey{}).(string)
	if proof == "" {
		u := *r.URL
		u.RawQuery, u.Fragment = "", ""
		var err error
		if proof, err = t.p.proof(r.Method, u.String(), t.token); err != nil {
			return nil, err
		}
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "DPoP "+t.token)
	r.Header.Set("DPoP", proof)
	return t.base.RoundTrip(r)
}

// httpClient is an HTTP client that keeps enough idle connections for
// the load tests' concurrency.
func httpClient(rt http.RoundTripper) *http.Client {
	if rt == nil {
		rt = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	}
	return &http.Client{Transport: rt}
}

// callerKind says how a caller reaches the tool.
type callerKind int

const (
	direct callerKind = iota // straight to the upstream, no token
	bearer                   // through the gateway with a bearer token
	dpop                     // through the gateway with a DPoP-bound token
)

var callerNames = [...]string{direct: "direct", bearer: "bearer", dpop: "dpop"}

func (k callerKind) String() string { return callerNames[k] }

// connect starts an initialized mcp-go Streamable HTTP client to url; hc
// carries the credentials, if any.
func connect(tb testing.TB, url string, hc *http.Client, headers map[string]string) *client.Client {
	tb.Helper()
	opts := []transport.StreamableHTTPCOption{transport.WithHTTPBasicClient(hc)}
	if headers != nil {
		opts = append(opts, transport.WithHTTPHeaders(headers))
	}
	c, err := client.NewStreamableHttpClient(url, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	req := mcpgo.InitializeRequest{}
	req.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcpgo.Implementation{Name: "subzero-bench", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		tb.Fatalf("initialize %s: %v", url, err)
	}
	return c
}

// callFixture is one upstream with the read_doc tool and a node in front
// of it, and the credentials to call it each way.
type callFixture struct {
	upstreamURL string
	node        *gatewayNode
	bearerToken string
	dpopToken   string
	dpopProofer *proofer
	leanHTTP    *http.Client // the lean callers' keep-alive connections
}

// startCallFixture is shared by the benchmarks of a run: a node takes a
// while to start, and the benchmark functions run more than once.
func startCallFixture(tb testing.TB) *callFixture {
	tb.Helper()
	f := &callFixture{upstreamURL: startUpstream(tb, "docs", upstreamTool("read_doc")), leanHTTP: httpClient(nil)}
	f.node = startGateway(tb, map[string]string{"docs": f.upstreamURL}, serverTuples("docs", "read_doc"))
	f.bearerToken = f.node.token(tb, nil)
	key := newKey(tb)
	f.dpopToken = f.node.token(tb, key)
	f.dpopProofer = newProofer(tb, key)
	// The gateway indexes its upstreams in the background: wait until the
	// tool is listed (and so pinned on first use).
	c := f.client(tb, bearer)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := c.ListTools(context.Background(), mcpgo.ListToolsRequest{})
		if err == nil && len(res.Tools) == 1 && res.Tools[0].Name == "docs__read_doc" {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("docs__read_doc not listed within 10s: %v %v", res, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return f
}

// client connects a caller of kind k.
func (f *callFixture) client(tb testing.TB, k callerKind) *client.Client {
	tb.Helper()
	switch k {
	case direct:
		return connect(tb, f.upstreamURL, httpClient(nil), nil)
	case bearer:
		return connect(tb, f.node.mcpURL, httpClient(nil), map[string]string{"Authorization": "Bearer " + f.bearerToken})
	default:
		rt := &dpopTransport{base: httpClient(nil).Transport, p: f.dpopProofer, token: f.dpopToken}
		return connect(tb, f.node.mcpURL, httpClient(rt), nil)
	}
}

// toolName is the name a caller of kind k calls the tool by.
func toolName(k callerKind) string {
	if k == direct {
		return "read_doc"
	}
	return "docs__read_doc"
}

// callTool calls the tool once and checks the answer.
func callTool(ctx context.Context, c *client.Client, k callerKind) error {
	req := mcpgo.CallToolRequest{}
	req.Params.Name = toolName(k)
	req.Params.Arguments = map[string]any{"id": "q3-planning"}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return fmt.Errorf("%s: tools/call: %w", k, err)
	}
	if res.IsError || len(res.Content) != 1 {
		return fmt.Errorf("%s: tools/call: an error result or %d contents", k, len(res.Content))
	}
	if tc, ok := res.Content[0].(mcpgo.TextContent); !ok || tc.Text != readDocText {
		return fmt.Errorf("%s: tools/call: the answer is not the tool's text", k)
	}
	return nil
}

// TestGatewayBenchFixture checks what the benchmarks measure: each kind
// of caller gets the tool's answer, unchanged by the guard, and a caller
// without a token is refused by the gateway.
func TestGatewayBenchFixture(t *testing.T) {
	f := startCallFixture(t)
	for _, k := range []callerKind{direct, bearer, dpop} {
		if err := callTool(t.Context(), f.client(t, k), k); err != nil {
			t.Error(err)
		}
		q := &proofQueue{}
		lean := f.caller(t, genLean, k, q)
		q.fill(f.dpopProofer.sign(t, http.MethodPost, f.node.mcpURL, f.dpopToken))
		if err := lean.call(t.Context()); err != nil {
			t.Error(err)
		}
	}
	resp, err := http.Post(f.node.mcpURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %s, want 401", resp.Status)
	}
}

// recorder collects latencies from many goroutines.
type recorder struct {
	mu  sync.Mutex
	all []time.Duration
}

func (r *recorder) add(d []time.Duration) {
	r.mu.Lock()
	r.all = append(r.all, d...)
	r.mu.Unlock()
}

// quantile returns the q-quantile of d (nearest rank); d is sorted in
// place.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(q*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func TestQuantile(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(100-i) * time.Microsecond
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Microsecond}, {0.99, 99 * time.Microsecond}, {1, 100 * time.Microsecond}, {0, time.Microsecond}} {
		if got := quantile(d, c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

// auditStats are the node's audit counters, read from /metrics: events
// made durable, store appends (group commits) and the time spent in them.
type auditStats struct {
	events, commits float64
	commitSeconds   float64
}

func (n *gatewayNode) auditStats(tb testing.TB) auditStats {
	tb.Helper()
	resp, err := http.Get(n.base + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("/metrics: %s (%v)", resp.Status, err)
	}
	var s auditStats
	for line := range strings.Lines(string(body)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		var dst *float64
		switch {
		case name == "subzero_audit_events_appended_total":
			dst = &s.events
		case strings.HasPrefix(name, "subzero_store_operation_duration_seconds_count{") && strings.Contains(name, `op="audit_append"`):
			dst = &s.commits
		case strings.HasPrefix(name, "subzero_store_operation_duration_seconds_sum{") && strings.Contains(name, `op="audit_append"`):
			dst = &s.commitSeconds
		default:
			continue
		}
		if _, err := fmt.Sscan(value, dst); err != nil {
			tb.Fatalf("/metrics: %s: %v", name, err)
		}
	}
	return s
}

// report reports what the audit log did since before: the mean time of a
// group commit (bbolt write and fsync) and the events per commit.
func (s auditStats) report(b *testing.B, before auditStats) {
	commits := s.commits - before.commits
	if commits <= 0 {
		return
	}
	b.ReportMetric((s.commitSeconds-before.commitSeconds)/commits*1e6, "audit-commit-µs")
	b.ReportMetric((s.events-before.events)/commits, "events/commit")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
