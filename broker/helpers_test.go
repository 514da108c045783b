package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker"
)

// syncBuffer is a buffer that a logger writes while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records decodes the JSON log lines written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %q", err, line)
		}
		out = append(out, rec)
	}
	return out
}

// waitFor polls cond every 5ms until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func getenvFrom(environ []string) func(string) string {
	return func(name string) string {
		for _, kv := range environ {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				return v
			}
		}
		return ""
	}
}

// nodeOptions configure startNode.
type nodeOptions struct {
	yaml    string                          // config file contents; empty: development defaults
	environ []string                        // SUBZERO_* overrides and secrets
	wrap    func(http.Handler) http.Handler // wraps the server's handler
	client  *http.Client                    // default: plain HTTP
	scheme  string                          // default: http
}

// testNode is a node serving on a loopback port in this process.
type testNode struct {
	srv    *broker.Server
	cfg    *broker.Config
	addr   string
	base   string // scheme://addr
	logs   *syncBuffer
	client *http.Client

	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// startNode assembles a node on 127.0.0.1:0 with a fresh data directory and
// serves until the test ends or stop is called.
func startNode(t testing.TB, o nodeOptions) *testNode {
	t.Helper()
	dir := t.TempDir()
	path := ""
	if o.yaml != "" {
		path = filepath.Join(dir, "subzero.yaml")
		if err := os.WriteFile(path, []byte(o.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := broker.LoadConfig(path, o.environ, broker.Flags{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	n := &testNode{cfg: cfg, logs: &syncBuffer{}, client: o.client, done: make(chan error, 1)}
	if n.client == nil {
		n.client = &http.Client{Transport: &http.Transport{}}
	}
	t.Cleanup(n.client.CloseIdleConnections)
	logger := slog.New(broker.NewLogHandler(slog.NewJSONHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(t.Context())
	n.cancel = cancel
	n.srv, err = broker.New(ctx, cfg, logger, getenvFrom(o.environ), "test")
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	if o.wrap != nil {
		broker.WrapHandler(n.srv, o.wrap)
	}
	ready := make(chan net.Addr, 1)
	go func() { n.done <- n.srv.Serve(ctx, func(a net.Addr) { ready <- a }) }()
	t.Cleanup(func() {
		if err := n.stop(); err != nil {
			t.Logf("Serve: %v", err)
		}
	})
	select {
	case a := <-ready:
		n.addr = a.String()
	case err := <-n.done:
		n.stopOnce.Do(func() { n.stopErr = err })
		t.Fatalf("Serve returned before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve not ready within 10s")
	}
	scheme := o.scheme
	if scheme == "" {
		scheme = "http"
	}
	n.base = scheme + "://" + n.addr
	return n
}

// stop cancels the node's context and returns what Serve returned. It may
// be called more than once and from any goroutine.
func (n *testNode) stop() error {
	n.stopOnce.Do(func() {
		n.cancel()
		select {
		case n.stopErr = <-n.done:
		case <-time.After(30 * time.Second):
			n.stopErr = errors.New("Serve did not return within 30s of the cancel")
		}
	})
	return n.stopErr
}

// get sends a request with the given headers and returns the response
// with its body read.
func (n *testNode) get(t *testing.T, method, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, n.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, body
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the Prometheus text exposition format.
func parseMetrics(t *testing.T, body string) []sample {
	t.Helper()
	var out []sample
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.name, rest = line[:i], line[i+1:]
			for !strings.HasPrefix(rest, "}") {
				key, after, ok := strings.Cut(rest, "=\"")
				if !ok {
					t.Fatalf("bad metrics line %q", line)
				}
				var val strings.Builder
				i := 0
				for ; i < len(after) && after[i] != '"'; i++ {
					if after[i] == '\\' && i+1 < len(after) {
						i++
						if after[i] == 'n' {
							val.WriteByte('\n')
							continue
						}
					}
					val.WriteByte(after[i])
				}
				if i == len(after) {
					t.Fatalf("bad metrics line %q", line)
				}
				s.labels[strings.TrimPrefix(key, ",")] = val.String()
				rest = strings.TrimPrefix(after[i+1:], ",")
			}
			rest = strings.TrimSpace(rest[1:])
		} else {
			s.name, rest, _ = strings.Cut(line, " ")
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			t.Fatalf("bad metrics value in %q: %v", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

// find returns the value of the sample named name whose labels include
// labels.
func find(samples []sample, name string, labels map[string]string) (float64, bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range labels {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func describeLabels(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// testSecretFile writes a server secret for nodes that need one (Redis).
func testSecretFile(t testing.TB) string {
	path := filepath.Join(t.TempDir(), "server-secret")
	if err := os.WriteFile(path, []byte(strings.Repeat("s", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
