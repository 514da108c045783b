package redis_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func TestPins(t *testing.T) {
	storetest.Pins(t, func(t *testing.T) pinstore.Store { return openDB(t, config(t, srv), noEnv).Pins() })
}

// TestPinsTwoNodes runs the compare-and-swap loops through two
// connection pools to one store, as two nodes would.
func TestPinsTwoNodes(t *testing.T) {
	cfg := config(t, srv)
	storetest.PinsConcurrent(t, openDB(t, cfg, noEnv).Pins(), openDB(t, cfg, noEnv).Pins())
}

func TestPinsKeyLayout(t *testing.T) {
	cfg := config(t, srv)
	s, ctx := openDB(t, cfg, noEnv).Pins(), t.Context()
	r := pinstore.Record{Key: pinstore.Key{Upstream: "notes", Tool: "search"}, State: pinstore.StateApproved, Hash: "sha256:1", Definition: []byte(`{}`)}
	if _, err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t)
	keys, err := raw.Keys(ctx, cfg.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.KeyPrefix + "{pins}:"
	want := map[string]string{p + "records": "hash", p + "index": "zset", p + "meta": "hash"}
	got := map[string]string{}
	for _, k := range keys {
		got[k] = raw.Type(ctx, k).Val()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	slot := raw.ClusterKeySlot(ctx, p+"meta").Val()
	for k := range got {
		if s := raw.ClusterKeySlot(ctx, k).Val(); s != slot {
			t.Errorf("key %q in slot %d, want %d with the others", k, s, slot)
		}
	}
	if got := raw.ZRange(ctx, p+"index", 0, -1).Val(); !cmp.Equal(got, []string{"notes\x00search"}) {
		t.Errorf("index = %q", got)
	}
	if got := raw.HGet(ctx, p+"meta", "revision").Val(); got != "1" {
		t.Errorf("revision = %q, want 1", got)
	}
}
