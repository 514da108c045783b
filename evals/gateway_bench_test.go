package evals_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/subzero-gateway/subzero/delegation/rebac"
)

// Issue 6's performance targets for the gateway, measured by the
// benchmarks below on the machine that runs them (client and node in one
// process, on loopback):
//
//	BenchmarkGatewayToolsCall  tools/call added latency: p50 ≤ 300 µs, p99 ≤ 2 ms
//	BenchmarkGatewayLoad       ≥ 5,000 tools/call/s with Bearer (and the DPoP
//	                           figure); p50/p99 at an offered 2,000 calls/s
//	BenchmarkGatewayToolsList  tools/list of 10 upstreams × 50 tools, filtered
//	                           for the caller: p99 ≤ 2 ms
//
// Run them with
//
//	go test ./evals -run '^$' -bench 'BenchmarkGateway' -count 3
//
// The gateway's figures include everything a call goes through: the HTTP
// server and its middleware, the resource guard (token, and DPoP proof
// with its replay check), the pipeline (budget, decision point, guard in
// and out, audit event appended to bbolt with fsync'd group commits),
// mcp-go on both sides and the upstream hop over loopback.

// BenchmarkGatewayToolsCall calls a cheap read-only tool (1 KB of clean
// text) one call at a time, three ways side by side, in rotating order:
// (a) directly at the upstream, (b) through the gateway with a bearer
// token, (c) through the gateway with a DPoP-bound token (the proof is
// signed before the clock starts: the client's signing is not the
// gateway's overhead). ns/op is the time of one round of the three calls.
// It reports each way's p50 and p99, and the gateway's added latency as
// the difference of the quantiles (bearer-added = b − a, dpop-added =
// c − a). It runs with two generators: lean (pre-encoded requests over
// net/http, see leanCaller) and mcp-go (mcp-go's client, as an agent).
func BenchmarkGatewayToolsCall(b *testing.B) {
	f := startCallFixture(b)
	for _, gen := range generators {
		b.Run(gen, func(b *testing.B) {
			kinds := []callerKind{direct, bearer, dpop}
			callers := make([]caller, len(kinds))
			proofs := &proofQueue{}
			for _, k := range kinds {
				callers[k] = f.caller(b, gen, k, proofs)
			}
			var lat [3][]time.Duration
			ctx := b.Context()
			round := 0
			audit0 := f.node.auditStats(b)
			b.ReportAllocs()
			for b.Loop() {
				for j := range kinds {
					k := kinds[(round+j)%len(kinds)]
					cctx := ctx
					if k == dpop {
						proof := f.dpopProofer.sign(b, http.MethodPost, f.node.mcpURL, f.dpopToken)
						if gen == genLean {
							proofs.fill(proof)
						} else {
							cctx = context.WithValue(ctx, proofKey{}, proof)
						}
					}
					start := time.Now()
					if err := callers[k].call(cctx); err != nil {
						b.Fatal(err)
					}
					lat[k] = append(lat[k], time.Since(start))
				}
				round++
			}
			b.StopTimer()
			reportLatency(b, lat)
			f.node.auditStats(b).report(b, audit0)
		})
	}
}

// The generators: the lean one, and mcp-go's client.
const (
	genLean  = "lean"
	genMCPGo = "mcp-go"
)

var generators = []string{genLean, genMCPGo}

// proofQueue holds DPoP proofs signed ahead of the lean callers' requests.
type proofQueue struct{ ch chan string }

// fill queues proofs, replacing what is left.
func (q *proofQueue) fill(proofs ...string) {
	q.ch = make(chan string, len(proofs))
	for _, p := range proofs {
		q.ch <- p
	}
}

// prepare signs n proofs for the callers of kind k ahead of a run.
func (f *callFixture) prepare(b *testing.B, k callerKind, q *proofQueue, n int) {
	if k != dpop {
		return
	}
	proofs := make([]string, n)
	for i := range proofs {
		proofs[i] = f.dpopProofer.sign(b, http.MethodPost, f.node.mcpURL, f.dpopToken)
	}
	q.fill(proofs...)
}

// caller connects a caller of kind k with the generator gen; a lean DPoP
// caller takes its proofs from q.
func (f *callFixture) caller(tb testing.TB, gen string, k callerKind, q *proofQueue) caller {
	tb.Helper()
	if gen == genMCPGo {
		return mcpgoCaller{c: f.client(tb, k), k: k}
	}
	switch k {
	case direct:
		return newLeanCaller(tb, f.leanHTTP, f.upstreamURL, k, "", nil)
	case bearer:
		return newLeanCaller(tb, f.leanHTTP, f.node.mcpURL, k, "Bearer "+f.bearerToken, nil)
	default:
		// The session is opened with proofs of its own.
		q.fill(f.dpopProofer.sign(tb, http.MethodPost, f.node.mcpURL, f.dpopToken),
			f.dpopProofer.sign(tb, http.MethodPost, f.node.mcpURL, f.dpopToken))
		return newLeanCaller(tb, f.leanHTTP, f.node.mcpURL, k, "DPoP "+f.dpopToken, q)
	}
}

// reportLatency reports p50 and p99 of each way and the gateway's added
// latency.
func reportLatency(b *testing.B, lat [3][]time.Duration) {
	var p50, p99 [3]time.Duration
	for _, k := range []callerKind{direct, bearer, dpop} {
		p50[k], p99[k] = quantile(lat[k], 0.50), quantile(lat[k], 0.99)
		b.ReportMetric(micros(p50[k]), k.String()+"-p50-µs")
		b.ReportMetric(micros(p99[k]), k.String()+"-p99-µs")
	}
	for _, k := range []callerKind{bearer, dpop} {
		b.ReportMetric(micros(p50[k]-p50[direct]), k.String()+"-added-p50-µs")
		b.ReportMetric(micros(p99[k]-p99[direct]), k.String()+"-added-p99-µs")
	}
}

// loadClients is how many concurrent callers the closed-loop load test
// runs; loadWorkers how many the open-loop one may have in flight.
const (
	loadClients = 32
	loadWorkers = 64
)

// offeredRates are the open-loop rates, calls/s: the 2,000, and a
// quarter of it, which shows the added latency when the node is not
// saturated.
var offeredRates = []int{500, 2000}

// BenchmarkGatewayLoad drives the tool with many callers in this process,
// with each generator (lean, mcp-go; see BenchmarkGatewayToolsCall).
//
// closed/<gen>/<way>: loadClients callers call as fast as they can (b.N
// calls in all, so -benchtime sets the duration); it reports calls/s and
// the callers' p50 and p99.
//
// open<rate>/<gen>/<way>: b.N calls scheduled at a fixed interval (rate
// calls/s offered whatever the answers' pace: every 500 µs for 2,000/s),
// each latency measured from the call's scheduled time, so that a stall is
// counted in full (no coordinated omission). It reports the calls/s
// achieved, p50 and p99. The rates are 2,000/s, the issue's, and 500/s,
// which shows the added latency of a node that keeps up.
//
// The direct way is the baseline: the upstream alone, called the same way;
// added-p50-µs and added-p99-µs are a way's quantiles minus direct's in
// the same loop, with the same generator (the target at 2,000 calls/s:
// open2000/<gen>/dpop, added p50 ≤ 300 µs and p99 ≤ 2 ms).
// cpu-µs/call is the CPU time of the whole process (callers, node and
// upstream) per call, which depends less on what else the machine runs
// than the latencies do: 2 cores ÷ cpu-µs/call bounds the calls/s of a
// machine of our own; the way's figure minus direct's is the gateway's
// CPU per call; gc-cpu-µs/call is the part of it the garbage collector
// took (the runtime's estimate). audit-commit-µs is the mean time of a group commit of the
// audit log (a bbolt transaction, fsync'd) and events/commit how many
// calls shared one.
func BenchmarkGatewayLoad(b *testing.B) {
	f := startCallFixture(b)
	type poolKey struct {
		gen string
		k   callerKind
	}
	pools := map[poolKey]chan caller{}
	queues := map[poolKey]*proofQueue{}
	for _, gen := range generators {
		for _, k := range []callerKind{direct, bearer, dpop} {
			key := poolKey{gen, k}
			pools[key] = make(chan caller, loadWorkers)
			queues[key] = &proofQueue{}
			for range loadWorkers {
				pools[key] <- f.caller(b, gen, k, queues[key])
			}
		}
	}
	// The direct way's quantiles of each loop and generator, for the
	// others' added latency.
	type quantiles struct{ p50, p99 time.Duration }
	directQ := map[string]quantiles{}
	run := func(b *testing.B, loopName, gen string, k callerKind, loop func(*testing.B, chan caller) (p50, p99 time.Duration)) {
		key := poolKey{gen, k}
		if gen == genLean {
			f.prepare(b, k, queues[key], b.N+loadWorkers)
		}
		audit0, cpu0, gc0 := f.node.auditStats(b), processCPU(b), gcCPU()
		p50, p99 := loop(b, pools[key])
		b.ReportMetric(micros(processCPU(b)-cpu0)/float64(b.N), "cpu-µs/call")
		b.ReportMetric(micros(gcCPU()-gc0)/float64(b.N), "gc-cpu-µs/call")
		if k == direct {
			directQ[loopName+gen] = quantiles{p50, p99}
			return
		}
		f.node.auditStats(b).report(b, audit0)
		if d, ok := directQ[loopName+gen]; ok {
			b.ReportMetric(micros(p50-d.p50), "added-p50-µs")
			b.ReportMetric(micros(p99-d.p99), "added-p99-µs")
		}
	}
	for _, gen := range generators {
		for _, k := range []callerKind{direct, bearer, dpop} {
			b.Run("closed/"+gen+"/"+k.String(), func(b *testing.B) {
				run(b, "closed", gen, k, closedLoop)
			})
		}
	}
	for _, rate := range offeredRates {
		for _, gen := range generators {
			for _, k := range []callerKind{direct, bearer, dpop} {
				loopName := fmt.Sprintf("open%d", rate)
				b.Run(loopName+"/"+gen+"/"+k.String(), func(b *testing.B) {
					run(b, loopName, gen, k, func(b *testing.B, pool chan caller) (time.Duration, time.Duration) {
						return openLoop(b, pool, rate)
					})
				})
			}
		}
	}
}

func closedLoop(b *testing.B, pool chan caller) (p50, p99 time.Duration) {
	rec := &recorder{}
	ctx := b.Context()
	b.SetParallelism((loadClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := <-pool
		defer func() { pool <- c }()
		var lat []time.Duration
		defer func() { rec.add(lat) }()
		for pb.Next() {
			start := time.Now()
			if err := c.call(ctx); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(start))
		}
	})
	b.StopTimer()
	return reportLoad(b, rec)
}

// reportLoad reports the calls/s, p50 and p99 of a load run, and returns
// the quantiles.
func reportLoad(b *testing.B, rec *recorder) (p50, p99 time.Duration) {
	p50, p99 = quantile(rec.all, 0.50), quantile(rec.all, 0.99)
	b.ReportMetric(float64(len(rec.all))/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(micros(p50), "p50-µs")
	b.ReportMetric(micros(p99), "p99-µs")
	return p50, p99
}

func openLoop(b *testing.B, pool chan caller, rate int) (p50, p99 time.Duration) {
	ctx := b.Context()
	interval := time.Second / time.Duration(rate)
	type job struct{ at time.Time }
	jobs := make(chan job, b.N)
	rec := &recorder{}
	var wg sync.WaitGroup
	for range loadWorkers {
		wg.Go(func() {
			c := <-pool
			defer func() { pool <- c }()
			var lat []time.Duration
			defer func() { rec.add(lat) }()
			for j := range jobs {
				if err := c.call(ctx); err != nil {
					b.Error(err)
					continue
				}
				lat = append(lat, time.Since(j.at))
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		jobs <- job{at: at}
	}
	close(jobs)
	wg.Wait()
	b.StopTimer()
	return reportLoad(b, rec)
}

// BenchmarkGatewayToolsList lists the tools of 10 upstreams × 50 tools
// (mcp-go servers on loopback) through the gateway, for a caller allowed
// on half of them by tuples (every other tool of each upstream), one call
// at a time, with a bearer token. The gateway answers from its index,
// filtered per identity through the decision point: the upstreams are not
// asked. It reports p50 and p99 of:
//
// raw: the request mcp-go's client makes, sent as is by net/http and the
// answer read but not decoded: the gateway's latency; cpu-µs/list is the
// process's CPU time per list, nearly all of it the node's.
//
// mcp-go: the same through mcp-go's client, which decodes and checks the
// 250 tools' schemas, a cost of the client that the raw figure leaves out.
func BenchmarkGatewayToolsList(b *testing.B) {
	const upstreams, tools = 10, 50
	ups := map[string]string{}
	var tuples []rebac.Tuple
	for i := range upstreams {
		name := fmt.Sprintf("up%d", i)
		var st []server.ServerTool
		for j := range tools {
			tool := fmt.Sprintf("tool_%02d", j)
			st = append(st, upstreamTool(tool))
			tuples = append(tuples, rebac.Tuple{User: "server:" + name, Relation: "server", Object: "tool:" + name + "." + tool})
			if j%2 == 0 {
				tuples = append(tuples, rebac.Tuple{User: "user:" + benchClient, Relation: "invoker", Object: "tool:" + name + "." + tool})
			}
		}
		ups[name] = startUpstream(b, name, st...)
	}
	n := startGateway(b, ups, tuples)
	capture := &captureTransport{base: httpClient(nil).Transport}
	c := connect(b, n.mcpURL, httpClient(capture), map[string]string{"Authorization": "Bearer " + n.token(b, nil)})
	ctx := b.Context()
	const want = upstreams * tools / 2
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
		if err == nil && len(res.Tools) == want {
			break
		}
		if time.Now().After(deadline) {
			got := -1
			if res != nil {
				got = len(res.Tools)
			}
			b.Fatalf("%d tools listed after 20s (%v), want %d", got, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	header, body := capture.last()

	b.Run("raw", func(b *testing.B) {
		hc := httpClient(nil)
		var lat []time.Duration
		var last []byte
		var ctype string
		cpu0 := processCPU(b)
		b.ReportAllocs()
		for b.Loop() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.mcpURL, bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			req.Header = header.Clone()
			start := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			last, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("tools/list: %s (%v)", resp.Status, err)
			}
			ctype = resp.Header.Get("Content-Type")
		}
		b.StopTimer()
		b.ReportMetric(micros(processCPU(b)-cpu0)/float64(b.N), "cpu-µs/list")
		if got := countTools(b, ctype, last); got != want {
			b.Fatalf("%d tools listed, want %d", got, want)
		}
		b.ReportMetric(micros(quantile(lat, 0.50)), "p50-µs")
		b.ReportMetric(micros(quantile(lat, 0.99)), "p99-µs")
	})

	b.Run("mcp-go", func(b *testing.B) {
		var lat []time.Duration
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			res, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
			lat = append(lat, time.Since(start))
			if err != nil || len(res.Tools) != want {
				b.Fatalf("tools/list: %v", err)
			}
		}
		b.StopTimer()
		b.ReportMetric(micros(quantile(lat, 0.50)), "p50-µs")
		b.ReportMetric(micros(quantile(lat, 0.99)), "p99-µs")
	})
}

// captureTransport keeps the last POST request it carried.
type captureTransport struct {
	base   http.RoundTripper
	mu     sync.Mutex
	header http.Header
	body   []byte
}

func (t *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		t.mu.Lock()
		t.header, t.body = r.Header.Clone(), body
		t.mu.Unlock()
	}
	return t.base.RoundTrip(r)
}

func (t *captureTransport) last() (http.Header, []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.header, t.body
}

// countTools counts the tools of a tools/list answer, as JSON or as a
// server-sent event.
func countTools(tb testing.TB, contentType string, body []byte) int {
	tb.Helper()
	if strings.HasPrefix(contentType, "text/event-stream") {
		for line := range strings.Lines(string(body)) {
			if data, ok := strings.CutPrefix(line, "data:"); ok {
				body = []byte(strings.TrimSpace(data))
				break
			}
		}
	}
	var msg struct {
		Result struct {
			Tools []json.RawMessage `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		tb.Fatalf("tools/list answer (%s): %v", contentType, err)
	}
	return len(msg.Result.Tools)
}

// The lean load generator: like wrk, it sends pre-encoded requests and
// does no more than check the answers, so that the benchmarks' figures are
// the server's, not mcp-go's client's (whose encoding and decoding cost
// most of a direct call). Each caller speaks protocol 2026-07-28, the
// newest, which the gateway also speaks to its upstreams, so that the
// direct call and the upstream leg of a gateway call cost the upstream the
// same: it asks server/discover once, then sends stateless tools/call
// requests over keep-alive net/http with the same JSON-RPC body (the
// request _meta included) and the Mcp-Method and Mcp-Name headers each
// time; the answer is read in full and must be a result holding the tool's
// text, not an error.

// leanProtocol is the protocol version the lean callers speak.
const leanProtocol = mcpgo.ProtocolVersion20260728

// caller makes one tools/call and checks its answer.
type caller interface {
	call(ctx context.Context) error
}

// mcpgoCaller calls through mcp-go's client.
type mcpgoCaller struct {
	c *client.Client
	k callerKind
}

func (m mcpgoCaller) call(ctx context.Context) error { return callTool(ctx, m.c, m.k) }

// leanCaller calls with net/http and pre-encoded bodies.
type leanCaller struct {
	hc   *http.Client
	url  string
	k    callerKind
	auth string // Authorization header value; "" for direct
	tool string // the Mcp-Name header of the calls
	body []byte
	// proofs are signed ahead of the requests (DPoP): the client's signing
	// is not the gateway's cost.
	proofs *proofQueue
	buf    bytes.Buffer
}

// leanMeta is the request _meta of every lean request.
const leanMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"` + leanProtocol +
	`","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"subzero-bench-lean","version":"1"}}`

// leanToolsCall is the body of every lean tools/call to the tool name.
func leanToolsCall(name string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"` + name + `","arguments":{"id":"q3-planning"},` + leanMeta + `}}`)
}

// newLeanCaller opens a session at url for a caller of kind k.
func newLeanCaller(tb testing.TB, hc *http.Client, url string, k callerKind, auth string, proofs *proofQueue) *leanCaller {
	tb.Helper()
	l := &leanCaller{hc: hc, url: url, k: k, auth: auth, proofs: proofs, tool: toolName(k), body: leanToolsCall(toolName(k))}
	// server/discover, as a 2026-07-28 client starts: the server must
	// offer the protocol.
	discover := []byte(`{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{` + leanMeta + `}}`)
	resp, body, err := l.post(context.Background(), discover, string(mcpgo.MethodServerDiscover), "")
	if err != nil {
		tb.Fatalf("lean %s: server/discover: %v", k, err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"`+leanProtocol+`"`)) {
		tb.Fatalf("lean %s: server/discover: %s %.300s", k, resp.Status, body)
	}
	return l
}

func (l *leanCaller) header(req *http.Request, method, name string) error {
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["Accept"] = []string{"application/json, text/event-stream"}
	h[mcpgo.HeaderProtocolVersion] = []string{leanProtocol}
	h[mcpgo.HeaderMethod] = []string{method}
	if name != "" {
		h[mcpgo.HeaderName] = []string{name}
	}
	switch {
	case l.k == dpop:
		var proof string
		select {
		case proof = <-l.proofs.ch:
		default:
			return errors.New("out of DPoP proofs")
		}
		h["Authorization"] = []string{l.auth}
		h["Dpop"] = []string{proof}
	case l.auth != "":
		h["Authorization"] = []string{l.auth}
	}
	return nil
}

// post sends body, a request of method (and the Mcp-Name name), and reads
// the whole answer into l.buf.
func (l *leanCaller) post(ctx context.Context, body []byte, method, name string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if err := l.header(req, method, name); err != nil {
		return nil, nil, err
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	l.buf.Reset()
	_, err = l.buf.ReadFrom(resp.Body)
	return resp, l.buf.Bytes(), err
}

var (
	leanWantText = []byte(`"text":"` + readDocText + `"`)
	leanIsError  = []byte(`"isError":true`)
	leanResult   = []byte(`"result":{`)
)

func (l *leanCaller) call(ctx context.Context) error {
	resp, body, err := l.post(ctx, l.body, string(mcpgo.MethodToolsCall), l.tool)
	if err != nil {
		return fmt.Errorf("lean %s: tools/call: %w", l.k, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("lean %s: tools/call: %s %.200s", l.k, resp.Status, body)
	}
	if !bytes.Contains(body, leanResult) || bytes.Contains(body, leanIsError) || !bytes.Contains(body, leanWantText) {
		return fmt.Errorf("lean %s: tools/call: not a result with the tool's text: %.300s", l.k, body)
	}
	return nil
}

// gcCPU returns the CPU time the runtime has estimated it spent on garbage
// collection (marking, assists, sweeping) since the process started; it is
// updated at each collection's end, so a figure per call is meaningful over
// many collections.
func gcCPU() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration(s[0].Value.Float64() * float64(time.Second))
}
