package broker

import (
	"strings"
	"testing"
)

// server.gc_percent defaults to 200 and is bounded.
func TestConfigGCPercent(t *testing.T) {
	c := DefaultConfig()
	if c.Server.GCPercent != 200 {
		t.Errorf("default gc_percent %d, want 200", c.Server.GCPercent)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, p := range []int{50, 100, 1000} {
		c.Server.GCPercent = p
		if err := c.Validate(); err != nil {
			t.Errorf("gc_percent %d: %v", p, err)
		}
	}
	for _, p := range []int{-1, 0, 49, 1001} {
		c.Server.GCPercent = p
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "server.gc_percent: ") {
			t.Errorf("gc_percent %d: %v, want a server.gc_percent error", p, err)
		}
	}
}
