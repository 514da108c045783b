package redis_test

import (
	"testing"

	"github.com/subzero-gateway/subzero/broker/limits"
	"github.com/subzero-gateway/subzero/store/redis"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func TestCounters(t *testing.T) {
	storetest.Counters(t, func(t *testing.T) limits.Counters { return openDB(t, config(t, srv), noEnv).Counters() })
}

// TestCountersTwoNodes runs two Limiters over two connection pools to one
// server, as two nodes would, sharing one budget.
func TestCountersTwoNodes(t *testing.T) {
	cfg := config(t, srv)
	storetest.CountersShared(t, openDB(t, cfg, noEnv).Counters(), openDB(t, cfg, noEnv).Counters())
}

func TestCountersRestart(t *testing.T) {
	storetest.CountersRestart(t, func(t *testing.T) (limits.Counters, func() limits.Counters) {
		cfg := config(t, srv)
		db, err := redis.Open(t.Context(), cfg, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		return db.Counters(), func() limits.Counters {
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return openDB(t, cfg, noEnv).Counters()
		}
	})
}

// TestCountersKeyLayout checks the keys, their slot and their expiry.
func TestCountersKeyLayout(t *testing.T) {
	cfg := config(t, srv)
	l, err := limits.New(limits.Config{
		User:             limits.Budget{RequestsPerMinute: 10, TokensPerDay: 1000, Concurrent: 2},
		ConcurrencyLease: limits.Default().ConcurrencyLease,
	}, openDB(t, cfg, noEnv).Counters())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := l.Admit(ctx, limits.Request{Who: limits.Who{User: "alice"}, Tokens: 5}); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t)
	p := cfg.KeyPrefix + "{limits}:"
	want := map[string]string{p + "w:user:alice:rpm": "hash", p + "w:user:alice:tpd": "hash", p + "c:user:alice:conc": "zset"}
	keys, err := raw.Keys(ctx, cfg.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(want) {
		t.Errorf("keys = %q, want %d", keys, len(want))
	}
	slot := raw.ClusterKeySlot(ctx, p+"x").Val()
	for _, k := range keys {
		if typ := raw.Type(ctx, k).Val(); typ != want[k] {
			t.Errorf("key %q is a %q, want %q", k, typ, want[k])
		}
		if s := raw.ClusterKeySlot(ctx, k).Val(); s != slot {
			t.Errorf("key %q in slot %d, want %d", k, s, slot)
		}
		if ttl := raw.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("key %q has no expiry (%s)", k, ttl)
		}
	}
	if got := raw.HGet(ctx, p+"w:user:alice:tpd", "c").Val(); got != "5" {
		t.Errorf("tpd count = %q, want 5", got)
	}
}

func BenchmarkCounters(b *testing.B) {
	db := openDB(b, config(b, srv), noEnv)
	h := &countHook{}
	redis.UnsafeClient(db).AddHook(h)
	storetest.BenchCounters(b, db.Counters(), h.n.Load)
}
