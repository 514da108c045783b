package llm_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/llm"
	"github.com/subzero-gateway/subzero/examples/llmdemo"
)

// The proxy's benchmarks call the same local upstream directly and
// through the proxy, interleaved in one loop, and report the latency of
// each and the difference (the proxy's overhead). Run them with
//
//	go test -run '^$' -bench . -benchtime 3000x -cpu 2 ./broker/llm

// benchClient is a lean keep-alive client.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
}

func post(c *http.Client, url, auth string, body []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func doPost(b *testing.B, c *http.Client, url, auth string, body []byte) {
	if err := post(c, url, auth, body); err != nil {
		b.Fatal(err)
	}
}

func quantile(d []time.Duration, q float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Nanoseconds()) / 1e3
}

// report sets the metrics of interleaved direct and proxied latencies.
func report(b *testing.B, direct, proxied []time.Duration) {
	b.ReportMetric(quantile(direct, 0.5), "direct-p50-µs")
	b.ReportMetric(quantile(proxied, 0.5), "proxy-p50-µs")
	over := make([]time.Duration, len(direct))
	for i := range direct {
		over[i] = proxied[i] - direct[i]
	}
	b.ReportMetric(quantile(proxied, 0.5)-quantile(direct, 0.5), "overhead-p50-µs")
	b.ReportMetric(quantile(over, 0.99), "overhead-p99-µs")
	b.ReportMetric(0, "ns/op")
}

// prompt4KB is a chat request with a 4 KB user message of ordinary prose.
func prompt4KB() []byte {
	sentence := "The quarterly report covers revenue, costs and the hiring plan for the next two quarters of the year. "
	text := strings.Repeat(sentence, 4096/len(sentence)+1)[:4096]
	return []byte(`{"model":"demo-model","messages":[{"role":"system","content":"You summarize reports."},{"role":"user","content":"` + text + `"}]}`)
}

var smallPrompt = []byte(`{"model":"demo-model","messages":[{"role":"user","content":"say: a short answer"}]}`)

// BenchmarkProxyOverhead measures plain chat completions, without the
// guard (small prompt) and with the standard guard (4 KB prompt).
func BenchmarkProxyOverhead(b *testing.B) {
	for _, bc := range []struct {
		name  string
		guard bool
		body  []byte
	}{
		{"no_guard", false, smallPrompt},
		{"guard_4KB", true, prompt4KB()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, base := startUpstream(b, llmdemo.Options{})
			deps := llm.Deps{}
			if bc.guard {
				g, leak := testGuard(b)
				deps.Guard, deps.Leak = g, leak
			}
			env := newProxy(b, basicConfig(base), deps)
			c := benchClient()
			direct, proxied := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			for range 20 { // warm up connections and pools
				doPost(b, c, base.String()+"/chat/completions", "Bearer "+providerKey, bc.body)
				doPost(b, c, env.url+"/chat/completions", "Bearer client-bench", bc.body)
			}
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				t0 := time.Now()
				doPost(b, c, base.String()+"/chat/completions", "Bearer "+providerKey, bc.body)
				t1 := time.Now()
				doPost(b, c, env.url+"/chat/completions", "Bearer client-bench", bc.body)
				t2 := time.Now()
				direct, proxied = append(direct, t1.Sub(t0)), append(proxied, t2.Sub(t1))
			}
			both := cpuTime(b) - cpu0
			b.StopTimer()
			cpu0 = cpuTime(b)
			for range len(direct) {
				doPost(b, c, base.String()+"/chat/completions", "Bearer "+providerKey, bc.body)
			}
			alone := cpuTime(b) - cpu0
			report(b, direct, proxied)
			// The CPU the proxy adds to a call, whatever else the machine runs:
			// (direct + proxied) − 2 × direct, per call.
			b.ReportMetric(float64((both-2*alone).Microseconds())/float64(len(direct)), "proxy-cpu-µs/call")
		})
	}
}

// firstChunk posts a streaming request and returns the time to the first
// data line, then reads the rest.
func firstChunk(b *testing.B, c *http.Client, url, auth string, body []byte) time.Duration {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var d time.Duration
	for {
		line, err := r.ReadString('\n')
		if strings.HasPrefix(line, "data: ") && d == 0 {
			d = time.Since(t0)
		}
		if err != nil {
			break
		}
	}
	if d == 0 {
		b.Fatal("no chunk")
	}
	return d
}

// BenchmarkStreamTTFT measures the time to the first chunk of a streamed
// answer, directly and through the proxy: without the guard, and with the
// standard guard, the canary and system prompt registration.
func BenchmarkStreamTTFT(b *testing.B) {
	body := []byte(`{"model":"demo-model","stream":true,"messages":[{"role":"system","content":"You answer briefly."},{"role":"user","content":"say: ` +
		strings.Repeat("A streamed answer of a few hundred bytes. ", 8) + `"}]}`)
	for _, guarded := range []bool{false, true} {
		name := "no_guard"
		if guarded {
			name = "guard"
		}
		b.Run(name, func(b *testing.B) {
			_, base := startUpstream(b, llmdemo.Options{ChunkBytes: 8})
			cfg := basicConfig(base)
			deps := llm.Deps{}
			if guarded {
				g, leak := testGuard(b)
				deps.Guard, deps.Leak = g, leak
				cfg.Guard.Canary, cfg.Guard.SystemPromptLeak = true, true
			}
			env := newProxy(b, cfg, deps)
			c := benchClient()
			for range 20 {
				firstChunk(b, c, base.String()+"/chat/completions", "Bearer "+providerKey, body)
				firstChunk(b, c, env.url+"/chat/completions", "Bearer client-bench", body)
			}
			direct, proxied := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			for b.Loop() {
				direct = append(direct, firstChunk(b, c, base.String()+"/chat/completions", "Bearer "+providerKey, body))
				proxied = append(proxied, firstChunk(b, c, env.url+"/chat/completions", "Bearer client-bench", body))
			}
			report(b, direct, proxied)
			b.ReportMetric(quantile(proxied, 0.99)-quantile(direct, 0.99), "ttft-p99-added-µs")
		})
	}
}

// BenchmarkThroughput runs a closed loop of concurrent plain calls (32
// clients on keep-alive connections) directly and through the proxy
// without the guard, and reports calls per second.
func BenchmarkThroughput(b *testing.B) {
	_, base := startUpstream(b, llmdemo.Options{})
	env := newProxy(b, basicConfig(base), llm.Deps{})
	for _, bc := range []struct{ name, url, auth string }{
		{"direct", base.String() + "/chat/completions", "Bearer " + providerKey},
		{"proxy", env.url + "/chat/completions", "Bearer client-bench"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchClient()
			var n atomic.Int64
			b.SetParallelism(16)
			cpu0 := cpuTime(b)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := post(c, bc.url, bc.auth, smallPrompt); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "calls/s")
			// The process's CPU time per call (load generator, proxy and
			// upstream together): what bounds calls/s on an idle machine,
			// (2 cores) / cpu-µs/call, whatever else the machine runs.
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(n.Load()), "cpu-µs/call")
		})
	}
}

// cpuTime returns the process's user and system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
