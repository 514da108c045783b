package llm_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/llm"
	"github.com/subzero-gateway/subzero/examples/llmdemo"
)

// TestOpenAINodeClient runs e2e/openai.mjs, an app on the official openai
// npm package, against the proxy in front of the demo model server: a
// plain and a streamed completion, a blocked injection, a streamed canary
// leak ended by an error event, and a streamed e-mail address redacted.
// It needs node and e2e/node_modules (npm ci --prefix e2e).
func TestOpenAINodeClient(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for the openai npm client: install Node.js 20 or later, then run: npm ci --prefix e2e")
	}
	e2e, err := filepath.Abs("../../e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "openai")); err != nil {
		t.Fatalf("e2e/node_modules/openai is missing (%v): run: npm ci --prefix e2e", err)
	}
	up, base := startUpstream(t, llmdemo.Options{ChunkBytes: 3})
	g, leak := testGuard(t)
	cfg := basicConfig(base)
	cfg.Guard.Canary, cfg.Guard.SystemPromptLeak, cfg.Guard.HoldBackBytes = true, true, 48
	env := newProxy(t, cfg, llm.Deps{Guard: g, Leak: leak})

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(e2e, "openai.mjs"), env.url, "demo-model")
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(), "E2E_API_KEY=client-token-npm", "NODE_NO_WARNINGS=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("openai.mjs did not finish within 2m:\n%s", out)
	}
	if err != nil {
		t.Fatalf("openai.mjs: %v\n%s", err, out)
	}
	t.Logf("openai.mjs:\n%s", out)

	evs := env.events.list()
	var decisions []string
	for _, e := range evs {
		decisions = append(decisions, e.Decision)
	}
	if got := strings.Join(decisions, ","); got != "allow,allow,block,block,allow" {
		t.Errorf("decisions = %s, want allow,allow,block,block,allow", got)
	}
	if a := up.LastAuthorization(); a != "Bearer "+providerKey {
		t.Errorf("upstream Authorization = %q", a)
	}
}
