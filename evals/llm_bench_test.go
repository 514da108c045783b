package evals_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/examples/llmdemo"
)

// The LLM proxy measured through a whole node: API-key authentication,
// the budgets (on, with limits no benchmark reaches), the guard both ways,
// the upstream and one audit event per call on the embedded store,
// side by side with direct calls to the same local model server.
//
//	go test ./evals -run '^$' -bench 'BenchmarkLLM' -benchtime 2000x -count 3

// llmNode is a node on development defaults plus the demo model server
// as upstream "demo", and an API key for it.
type llmNode struct {
	base, key, direct string
}

func startLLMNode(b *testing.B) *llmNode {
	b.Helper()
	up := httptest.NewServer(llmdemo.New(llmdemo.Options{Models: []string{"demo-chat"}, ChunkBytes: 16}))
	b.Cleanup(up.Close)
	dir := b.TempDir()
	yaml := fmt.Sprintf(`llm:
  upstreams:
    - {name: demo, kind: compatible, base_url: %q, models: [demo-chat]}
  guard: {canary: true, system_prompt_leak: true}
  budgets:
    api_key: {requests_per_minute: 100000000, tokens_per_minute: 1000000000, concurrent: 1000}
`, up.URL+"/v1")
	path := filepath.Join(dir, "subzero.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := broker.LoadConfig(path, nil, broker.Flags{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data")})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := broker.New(ctx, cfg, logger, func(string) string { return "" }, "bench")
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	ready, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- srv.Serve(ctx, func(a net.Addr) { ready <- a }) }()
	b.Cleanup(func() { cancel(); <-done })
	n := &llmNode{direct: up.URL + "/v1/chat/completions"}
	select {
	case a := <-ready:
		n.base = "http://" + a.String()
	case err := <-done:
		b.Fatal(err)
	}
	keys, closeFn, err := broker.OpenAPIKeys(ctx, cfg, func(string) string { return "" }, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer closeFn()
	if n.key, _, err = keys.Create(ctx, "bench", nil, "bench"); err != nil {
		b.Fatal(err)
	}
	return n
}

func llmClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
}

// llmPost posts body and reads the whole answer; stream answers report
// the time to their first data line.
func llmPost(c *http.Client, url, key string, body []byte) (first time.Duration, err error) {
	t0 := time.Now()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, msg)
	}
	var buf [512]byte
	for {
		k, err := resp.Body.Read(buf[:])
		if first == 0 && bytes.Contains(buf[:k], []byte("data: ")) {
			first = time.Since(t0)
		}
		if err == io.EOF {
			return first, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func chatBody(stream bool, user string) []byte {
	s := ""
	if stream {
		s = `"stream":true,`
	}
	return []byte(`{"model":"demo-chat",` + s + `"messages":[{"role":"system","content":"You summarize reports."},{"role":"user","content":"` + user + `"}]}`)
}

func prose(n int) string {
	sentence := "The quarterly report covers revenue, costs and the hiring plan for the next two quarters of the year. "
	return strings.Repeat(sentence, n/len(sentence)+1)[:n]
}

// BenchmarkLLMProxyNode interleaves direct and proxied plain calls and
// reports the latency the node adds (p50, p99) with a small and a 4 KB
// prompt, every step on.
func BenchmarkLLMProxyNode(b *testing.B) {
	n := startLLMNode(b)
	for _, bc := range []struct {
		name string
		body []byte
	}{{"small", chatBody(false, "say: a short answer")}, {"4KB", chatBody(false, prose(4096))}} {
		b.Run(bc.name, func(b *testing.B) {
			c := llmClient()
			for range 50 {
				llmPost(c, n.direct, "none", bc.body)
				if _, err := llmPost(c, n.base+"/v1/chat/completions", n.key, bc.body); err != nil {
					b.Fatal(err)
				}
			}
			direct, proxied := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			cpu0 := processCPU(b)
			for b.Loop() {
				t0 := time.Now()
				if _, err := llmPost(c, n.direct, "none", bc.body); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := llmPost(c, n.base+"/v1/chat/completions", n.key, bc.body); err != nil {
					b.Fatal(err)
				}
				direct, proxied = append(direct, t1.Sub(t0)), append(proxied, time.Since(t1))
			}
			b.ReportMetric(micros(processCPU(b)-cpu0)/float64(len(direct)), "cpu-µs/pair")
			b.ReportMetric(micros(quantile(direct, 0.5)), "direct-p50-µs")
			b.ReportMetric(micros(quantile(proxied, 0.5)), "proxy-p50-µs")
			b.ReportMetric(micros(quantile(proxied, 0.5)-quantile(direct, 0.5)), "added-p50-µs")
			b.ReportMetric(micros(quantile(proxied, 0.99)-quantile(direct, 0.99)), "added-p99-µs")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkLLMStreamTTFTNode reports the time to the first chunk of a
// streamed answer through the node against the direct call's.
func BenchmarkLLMStreamTTFTNode(b *testing.B) {
	n := startLLMNode(b)
	body := chatBody(true, "say: "+strings.Repeat("A streamed answer of a few hundred bytes. ", 8))
	c := llmClient()
	for range 50 {
		llmPost(c, n.direct, "none", body)
		llmPost(c, n.base+"/v1/chat/completions", n.key, body)
	}
	direct, proxied := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	for b.Loop() {
		d, err := llmPost(c, n.direct, "none", body)
		if err != nil {
			b.Fatal(err)
		}
		p, err := llmPost(c, n.base+"/v1/chat/completions", n.key, body)
		if err != nil {
			b.Fatal(err)
		}
		direct, proxied = append(direct, d), append(proxied, p)
	}
	b.ReportMetric(micros(quantile(direct, 0.5)), "direct-ttft-p50-µs")
	b.ReportMetric(micros(quantile(proxied, 0.5)), "proxy-ttft-p50-µs")
	b.ReportMetric(micros(quantile(proxied, 0.99)-quantile(direct, 0.99)), "ttft-added-p99-µs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLLMLoadNode runs a closed loop of 32 concurrent callers of
// plain calls, directly and through the node, and reports calls/s and the
// process's CPU per call (generator, node and model server together).
func BenchmarkLLMLoadNode(b *testing.B) {
	n := startLLMNode(b)
	body := chatBody(false, "say: a short answer")
	for _, bc := range []struct{ name, url, key string }{
		{"direct", n.direct, "none"},
		{"node", n.base + "/v1/chat/completions", n.key},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := llmClient()
			var calls atomic.Int64
			b.SetParallelism(16)
			cpu0 := processCPU(b)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := llmPost(c, bc.url, bc.key, body); err != nil {
						b.Error(err)
						return
					}
					calls.Add(1)
				}
			})
			b.ReportMetric(float64(calls.Load())/time.Since(start).Seconds(), "calls/s")
			b.ReportMetric(micros(processCPU(b)-cpu0)/float64(calls.Load()), "cpu-µs/call")
		})
	}
}
