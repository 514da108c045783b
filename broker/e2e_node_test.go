package broker_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker"
)

// TestOAuth4WebAPI runs e2e/oauth4webapi.mjs, a client built on the
// oauth4webapi library that agents use, against a node in this process:
// discovery, registration, DPoP-bound client credentials with a nonce
// retry, introspection, private_key_jwt, revocation and, once the node
// serves an authorization endpoint, the code flow with PKCE through the
// login and consent pages. It needs node and e2e/node_modules; it fails,
// never skips, without them.
func TestOAuth4WebAPI(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for the oauth4webapi client: install Node.js 20 or later (Debian 13: apt-get install -y nodejs npm), then run: npm ci --prefix e2e")
	}
	e2e, err := filepath.Abs("../e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "oauth4webapi")); err != nil {
		t.Fatalf("e2e/node_modules/oauth4webapi is missing (%v): run: npm ci --prefix e2e", err)
	}

	n := startNode(t, nodeOptions{yaml: "oauth:\n  dpop:\n    nonce: required\n"})
	const username, password = "alice", "correct horse battery staple"
	if _, err := broker.AddUser(t.Context(), n.cfg, getenvFrom(nil), username, password); err != nil {
		t.Fatalf("AddUser: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(e2e, "oauth4webapi.mjs"), n.base)
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(), "E2E_USERNAME="+username, "E2E_PASSWORD="+password, "NODE_NO_WARNINGS=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("oauth4webapi.mjs did not finish within 2m:\n%s", out)
	}
	if err != nil {
		t.Fatalf("oauth4webapi.mjs: %v\n%s", err, out)
	}
	t.Logf("oauth4webapi.mjs:\n%s", out)
}
