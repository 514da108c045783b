package upstream

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mark3labs/mcp-go/client"
)

// TestBreakerHalfOpenRecovers runs a real mcp-go server in process, under a
// fake clock, to see the breaker open, fail fast, let a probe through after
// open_for, and close again.
func TestBreakerHalfOpenRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		runs := &counts{}
		srv := newMCPServer(runs)
		cfg := Config{Name: "inproc", Transport: TransportStdio, Command: "unused",
			CallTimeout: time.Second, Retries: noRetries(),
			Breaker: Breaker{Failures: 2, OpenFor: time.Minute}}
		u, err := New(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		u.dialer = func(ctx context.Context) (*conn, error) {
			c := newConn(u.life, u.lost)
			c.client, _ = client.NewInProcessClient(srv)
			if err := u.initialize(ctx, c); err != nil {
				c.close()
				return nil, err
			}
			return c, nil
		}
		if err := u.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := u.CallTool(t.Context(), readOnlyTool("slow"), nil, nil); !errors.Is(err, ErrTimeout) {
				t.Fatalf("slow: %v, want ErrTimeout", err)
			}
		}
		if _, err := u.CallTool(t.Context(), readOnlyTool("echo"), nil, nil); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("echo while open: %v, want ErrCircuitOpen", err)
		}
		if n := runs.get("echo"); n != 0 {
			t.Fatalf("echo ran %d times while the breaker was open", n)
		}
		if s := u.Health().State; s != StateOpen {
			t.Fatalf("state = %q, want open", s)
		}
		time.Sleep(time.Minute + time.Second)
		if _, err := u.CallTool(t.Context(), readOnlyTool("echo"), nil, nil); err != nil {
			t.Fatalf("probe after open_for: %v", err)
		}
		if _, err := u.CallTool(t.Context(), readOnlyTool("echo"), nil, nil); err != nil {
			t.Fatalf("call after the probe: %v", err)
		}
		if n := runs.get("echo"); n != 2 {
			t.Errorf("echo ran %d times, want 2", n)
		}
		if s := u.Health().State; s != StateUp {
			t.Errorf("state = %q, want up", s)
		}
	})
}
