package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/internal/redistest"
)

const clusterShutdown = 5 * time.Second

// redisConfig writes a config for nodes sharing the package's Redis under a
// key prefix of their own.
func redisConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "subzero.yaml")
	data := fmt.Sprintf(`# Two nodes and Redis, as in compose.yaml.
server:
  addr: 127.0.0.1:0
  shutdown_timeout: %s
server_secret: {file: %s}
store:
  kind: redis
  redis:
    url: %s
    key_prefix: %q
`, clusterShutdown, secretFile(t), redisSrv.URL(), redistest.Prefix(t))
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// follower is `audit tail -f --format json` running in this process.
type follower struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan error
	once           sync.Once
	err            error
}

// followAudit runs `audit tail -f` with args until the test ends or stop
// is called.
func followAudit(t *testing.T, args ...string) *follower {
	ctx, cancel := context.WithCancel(t.Context())
	f := &follower{cancel: cancel, done: make(chan error, 1)}
	args = append([]string{"audit", "tail", "-f", "--interval", "10ms", "--format", "json", "-n", "100"}, args...)
	go func() { f.done <- run(ctx, args, nil, nil, &f.stdout, &f.stderr) }()
	t.Cleanup(func() { f.stop() })
	return f
}

// stop cancels tail -f and returns what it returned.
func (f *follower) stop() error {
	f.once.Do(func() {
		f.cancel()
		select {
		case f.err = <-f.done:
		case <-time.After(10 * time.Second):
			f.err = fmt.Errorf("tail -f did not return within 10s of the cancel")
		}
	})
	return f.err
}

// waitEvents waits until the follower has printed want (in any order, as
// "node seq action").
func (f *follower) waitEvents(t *testing.T, want ...string) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("tail -f to print %q", want), func() bool {
		select {
		case err := <-f.done:
			f.done <- err
			t.Fatalf("tail -f ended: %v\nstdout:\n%s\nstderr:\n%s", err, f.stdout.String(), f.stderr.String())
		default:
		}
		got := map[string]bool{}
		for _, e := range jsonEvents(t, f.stdout.String()) {
			got[fmt.Sprintf("%s %d %s", e.Node, e.Seq, e.Action)] = true
		}
		for _, w := range want {
			if !got[w] {
				return false
			}
		}
		return true
	})
}

// TestTwoNodesShareRedis runs two `subzero serve` processes on one Redis,
// as compose.yaml does, and reads their audit chains after they stop.
func TestTwoNodesShareRedis(t *testing.T) {
	cfg := redisConfig(t)
	a := startProc(t, []string{"SUBZERO_NODE_ID=node-a"}, "serve", "--config", cfg, "--data", t.TempDir())
	tail := followAudit(t, "--config", cfg)
	tail.waitEvents(t, "node-a 1 start")
	b := startProc(t, []string{"SUBZERO_NODE_ID=node-b"}, "serve", "--config", cfg, "--data", t.TempDir())
	// tail -f picks up a node that starts writing while it follows.
	tail.waitEvents(t, "node-a 1 start", "node-b 1 start")

	for _, p := range []struct {
		proc *proc
		id   string
	}{{a, "node-a"}, {b, "node-b"}} {
		resp, body := getJSON(t, "http://"+p.proc.addr+"/healthz")
		if resp.StatusCode != 200 || body["node"] != p.id {
			t.Errorf("%s /healthz: status %d, body %v", p.id, resp.StatusCode, body)
		}
		resp, body = getJSON(t, "http://"+p.proc.addr+"/readyz")
		if resp.StatusCode != 200 || body["store"] != "redis" {
			t.Errorf("%s /readyz: status %d, body %v", p.id, resp.StatusCode, body)
		}
	}

	// While both run, the chains verify (Redis needs no admin socket).
	res := runMain(t, t.Context(), nil, "audit", "verify", "--config", cfg)
	if res.code != 0 {
		t.Errorf("verify while running: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	for _, p := range []*proc{a, b} {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for name, p := range map[string]*proc{"node-a": a, "node-b": b} {
		if code := p.wait(clusterShutdown + 5*time.Second); code != 0 {
			t.Errorf("%s: exit code %d after SIGTERM, want 0\nstderr:\n%s", name, code, p.stderr)
		}
		if strings.Contains(p.stderr.String(), `"level":"ERROR"`) {
			t.Errorf("%s logged errors:\n%s", name, p.stderr)
		}
	}
	tail.waitEvents(t, "node-a 1 start", "node-b 1 start", "node-a 2 stop", "node-b 2 stop")

	res = runMain(t, t.Context(), nil, "audit", "verify", "--config", cfg)
	if res.code != 0 {
		t.Fatalf("audit verify: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, id := range []string{"node-a", "node-b"} {
		want := "node " + id + ": ok: 2 events, last seq 2, 1 signed checkpoints (last at seq 2)"
		if !strings.Contains(res.stdout, want) {
			t.Errorf("verify output does not contain %q:\n%s", want, res.stdout)
		}
	}

	res = runMain(t, t.Context(), nil, "audit", "query", "--config", cfg, "--format", "json", "--limit", "0")
	if res.code != 0 {
		t.Fatalf("audit query: exit %d\n%s", res.code, res.stderr)
	}
	events := jsonEvents(t, res.stdout)
	byTime := func(x, y audit.Event) int {
		return cmp.Or(x.Time.Compare(y.Time), strings.Compare(x.Node, y.Node), cmp.Compare(x.Seq, y.Seq))
	}
	if !slices.IsSortedFunc(events, byTime) {
		t.Errorf("query output is not sorted by time:\n%s", res.stdout)
	}
	got := summary(events)
	slices.Sort(got)
	want := []string{"node-a 1 system start", "node-a 2 system stop", "node-b 1 system start", "node-b 2 system stop"}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("events of both nodes (-want +got):\n%s", diff)
	}

	res = runMain(t, t.Context(), nil, "audit", "query", "--config", cfg, "--format", "json", "--node", "node-b", "--limit", "0")
	if diff := gocmp.Diff([]string{"node-b 1 system start", "node-b 2 system stop"}, summary(jsonEvents(t, res.stdout))); diff != "" {
		t.Errorf("query --node node-b (-want +got):\n%s", diff)
	}
}

// TestDuplicateNodeID starts a second process with the ID of a running
// node and another data directory: it must refuse to start, naming the
// node, and leave the first node's chain intact. The same data directory
// restarted after a crash takes its chain back at once.
func TestDuplicateNodeID(t *testing.T) {
	cfg := redisConfig(t)
	dataA := t.TempDir()
	first := startProc(t, []string{"SUBZERO_NODE_ID=node-a"}, "serve", "--config", cfg, "--data", dataA)

	code, msg := runRefused(t, []string{"SUBZERO_NODE_ID=node-a"}, "serve", "--config", cfg, "--data", t.TempDir())
	if code != 1 || !strings.Contains(msg, "node-a") || !strings.Contains(msg, "in use") {
		t.Errorf("second process with node-a: exit %d, want 1 saying node-a is in use\nstderr:\n%s", code, msg)
	}
	// A second process on the same data directory is refused too.
	code, msg = runRefused(t, []string{"SUBZERO_NODE_ID=node-a"}, "serve", "--config", cfg, "--data", dataA)
	if code != 1 || !strings.Contains(msg, "in use") {
		t.Errorf("process on a data dir in use: exit %d, want 1\nstderr:\n%s", code, msg)
	}

	// The first node crashes; restarted on its data directory it resumes
	// its chain without waiting for the lease to expire.
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.wait(10 * time.Second)
	restarted := startProc(t, []string{"SUBZERO_NODE_ID=node-a"}, "serve", "--config", cfg, "--data", dataA)
	if code := restarted.terminate(t, clusterShutdown+5*time.Second); code != 0 {
		t.Fatalf("restarted node: exit %d\nstderr:\n%s", code, restarted.stderr)
	}

	res := runMain(t, t.Context(), nil, "audit", "verify", "--config", cfg)
	if res.code != 0 {
		t.Errorf("audit verify: exit %d, want 0\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = runMain(t, t.Context(), nil, "audit", "query", "--config", cfg, "--format", "json", "--limit", "0")
	want := []string{"node-a 1 system start", "node-a 2 system start", "node-a 3 system stop"}
	if diff := gocmp.Diff(want, summary(jsonEvents(t, res.stdout))); diff != "" {
		t.Errorf("chain of node-a (-want +got):\n%s", diff)
	}
}

// runRefused runs the binary to completion (within 15s) and returns its
// exit code and stderr.
func runRefused(t *testing.T, environ []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, subzeroBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, environ...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// secretFile writes a server secret shared by the nodes of a test.
func secretFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "server-secret")
	if err := os.WriteFile(path, []byte(strings.Repeat("s", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
