package redis_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/broker/apikey"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func TestAPIKeys(t *testing.T) {
	storetest.APIKeys(t, func(t *testing.T) apikey.Store { return openDB(t, config(t, srv), noEnv).APIKeys() })
}

// TestAPIKeysTwoNodes creates, verifies and revokes through two
// connection pools to one store, as two nodes would.
func TestAPIKeysTwoNodes(t *testing.T) {
	cfg := config(t, srv)
	storetest.APIKeysShared(t, openDB(t, cfg, noEnv).APIKeys(), openDB(t, cfg, noEnv).APIKeys())
}

func TestAPIKeysKeyLayout(t *testing.T) {
	cfg := config(t, srv)
	s, ctx := openDB(t, cfg, noEnv).APIKeys(), t.Context()
	if ok, err := s.Insert(ctx, "id1", []byte("rec")); err != nil || !ok {
		t.Fatalf("Insert = %v, %v", ok, err)
	}
	raw := rawClient(t)
	keys, err := raw.Keys(ctx, cfg.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.KeyPrefix + "{apikeys}:"
	want := map[string]string{p + "records": "hash", p + "index": "zset"}
	got := map[string]string{}
	for _, k := range keys {
		got[k] = raw.Type(ctx, k).Val()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if a, b := raw.ClusterKeySlot(ctx, p+"records").Val(), raw.ClusterKeySlot(ctx, p+"index").Val(); a != b {
		t.Errorf("records in slot %d, index in %d", a, b)
	}
	if v := raw.HGet(ctx, p+"records", "id1").Val(); v != "rec" {
		t.Errorf("record = %q", v)
	}
}
