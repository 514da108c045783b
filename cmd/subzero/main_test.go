package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/internal/redistest"
)

// redisSrv is the package's redis-server, shared by every test; each test
// keeps its keys under its own prefix.
var redisSrv *redistest.Server

func TestMain(m *testing.M) {
	code := redistest.Main(m, &redisSrv)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// subzeroBinary builds ./cmd/subzero once per test run and returns its path.
func subzeroBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "subzero-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "subzero")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/subzero: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// syncBuffer is a buffer written by a node and read by the test.
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

// logRecords decodes the JSON lines of a node's stderr, skipping the
// plain-text banner lines.
func logRecords(s string) []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(s) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

// waitFor polls cond every 5ms until it holds or the timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runResult is what one in-process invocation of the program produced.
type runResult struct {
	code           int
	stdout, stderr string
}

// runMain runs the program in this process as main would, with environ as
// its whole environment, and returns its exit code and output. A panic
// fails the test.
func runMain(t *testing.T, ctx context.Context, environ []string, args ...string) (res runResult) {
	t.Helper()
	var stdout, stderr syncBuffer
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("subzero %s panicked: %v", strings.Join(args, " "), v)
		}
	}()
	err := run(ctx, args, environ, nil, &stdout, &stderr)
	res.code = exitCode(err, &stderr)
	res.stdout, res.stderr = stdout.String(), stderr.String()
	return res
}

// node is `subzero serve` running in this process through serveWith.
type node struct {
	addr   string
	base   string
	stderr *syncBuffer
	data   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// serveNode starts a node on 127.0.0.1:0 in data (configFile may be "")
// and stops it when the test ends.
func serveNode(t *testing.T, data, configFile string, environ []string) *node {
	t.Helper()
	n := &node{stderr: &syncBuffer{}, data: data, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	n.cancel = cancel
	e := env{environ: environ, stdout: io.Discard, stderr: n.stderr}
	ready := make(chan net.Addr, 1)
	go func() {
		n.done <- serveWith(ctx, e, configFile, broker.Flags{Addr: "127.0.0.1:0", DataDir: data}, false, func(a net.Addr) { ready <- a })
	}()
	t.Cleanup(func() { n.stop() })
	select {
	case a := <-ready:
		n.addr = a.String()
		n.base = "http://" + n.addr
	case err := <-n.done:
		n.once.Do(func() { n.err = err })
		t.Fatalf("serve returned before it was ready: %v\nstderr:\n%s", err, n.stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("serve not ready within 10s\nstderr:\n%s", n.stderr)
	}
	return n
}

// stop cancels the node's context and returns what serve returned.
func (n *node) stop() error {
	n.once.Do(func() {
		n.cancel()
		select {
		case n.err = <-n.done:
		case <-time.After(30 * time.Second):
			n.err = fmt.Errorf("serve did not return within 30s of the cancel")
		}
	})
	return n.err
}

var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// getJSON sends GET url and decodes a JSON object body.
func getJSON(t *testing.T, url string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, body
}

// proc is a `subzero` process started from the built binary.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	addr   string // from the "serving" log line
	exited chan struct{}
}

// startProc starts the binary with args and environ (added to a minimal
// environment) and, for serve, waits for its "serving" log line.
func startProc(t *testing.T, environ []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(subzeroBinary(t), args...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, environ...)
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving" {
				select {
				case addrc <- rec.Addr:
				default:
				}
			}
		}
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	if len(args) == 0 || args[0] != "serve" {
		return p
	}
	select {
	case p.addr = <-addrc:
	case <-p.exited:
		t.Fatalf("subzero %s exited with %v before serving\nstderr:\n%s", strings.Join(args, " "), p.cmd.ProcessState, p.stderr)
	case <-time.After(15 * time.Second):
		t.Fatalf("subzero %s not serving within 15s\nstderr:\n%s", strings.Join(args, " "), p.stderr)
	}
	return p
}

// terminate sends SIGTERM and returns the exit code once the process
// exits, or -1 after timeout.
func (p *proc) terminate(t *testing.T, timeout time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	return p.wait(timeout)
}

func (p *proc) wait(timeout time.Duration) int {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		return -1
	}
}
