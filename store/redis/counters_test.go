package redis_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

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
	want := map[string]string{p + "w:user:alice": "hash", p + "c:user:alice:conc": "zset"}
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
	// length, fixed-window index, current and previous counts
	day := int64(24 * time.Hour / time.Millisecond)
	if got, want := raw.HGet(ctx, p+"w:user:alice", "tpd").Val(), fmt.Sprintf("%d %d 5 0", day, time.Now().UnixMilli()/day); got != want {
		t.Errorf("tpd = %q, want %q", got, want)
	}
	// The hash lives as long as its longest window needs.
	if ttl := raw.PTTL(ctx, p+"w:user:alice").Val(); ttl < 47*time.Hour {
		t.Errorf("TTL of the hash = %s, want about 48h", ttl)
	}
}

// BenchmarkCounters also reports the server's CPU time per call (INFO
// cpu: used_cpu_user plus used_cpu_sys), what bounds one Redis's calls/s.
func BenchmarkCounters(b *testing.B) {
	db := openDB(b, config(b, srv), noEnv)
	h := &countHook{}
	redis.UnsafeClient(db).AddHook(h)
	raw := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer raw.Close()
	cpu := func() float64 {
		info, err := raw.Info(b.Context(), "cpu").Result()
		if err != nil {
			b.Fatal(err)
		}
		var total float64
		for _, line := range strings.Split(info, "\n") {
			name, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			if name == "used_cpu_user" || name == "used_cpu_sys" {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("INFO cpu: %s: %v", line, err)
				}
				total += f
			}
		}
		return total
	}
	before := cpu()
	storetest.BenchCounters(b, db.Counters(), h.n.Load)
	b.ReportMetric((cpu()-before)*1e6/float64(b.N), "redis-cpu-µs/call")
}
