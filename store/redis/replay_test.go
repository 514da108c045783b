package redis_test

import (
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/store/redis"
	"github.com/subzero-gateway/subzero/store/storetest"
)

// The interface guard lives here so that the backend's own code does not
// import broker/dpop.
var _ dpop.ReplayStore = (*redis.ReplayStore)(nil)

func TestReplayKeyLayout(t *testing.T) {
	cfg := config(t, srv)
	s := openDB(t, cfg, noEnv).Replay()
	ctx := t.Context()
	// A sub-millisecond expiry rounds up, never down.
	until := time.Now().Add(time.Minute).Truncate(time.Millisecond).Add(time.Microsecond)
	if first, err := s.Once(ctx, "dpop:jkt:jti", until); err != nil || !first {
		t.Fatalf("Once = %v, %v; want true", first, err)
	}
	raw := rawClient(t)
	keys, err := raw.Keys(ctx, cfg.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := cfg.KeyPrefix + "replay:dpop:jkt:jti"
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys = %q, want [%q]", keys, want)
	}
	if v := raw.Get(ctx, want).Val(); v != "1" {
		t.Errorf("value = %q, want 1", v)
	}
	at, err := raw.Do(ctx, "pexpiretime", want).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if wantMs := until.Truncate(time.Millisecond).UnixMilli() + 1; at != wantMs {
		t.Errorf("PEXPIRETIME = %d, want %d (until rounded up to the millisecond)", at, wantMs)
	}
	// The second call leaves the expiry alone.
	if first, err := s.Once(ctx, "dpop:jkt:jti", until.Add(time.Hour)); err != nil || first {
		t.Fatalf("Once again = %v, %v; want false", first, err)
	}
	if at2 := raw.Do(ctx, "pexpiretime", want).Val(); at2 != at {
		t.Errorf("PEXPIRETIME after a refused Once = %v, want %d", at2, at)
	}
}

func TestReplayErrors(t *testing.T) {
	db, err := redis.Open(t.Context(), config(t, srv), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := db.Replay()
	if _, err := s.Once(t.Context(), "", time.Now().Add(time.Minute)); err == nil {
		t.Error("Once(empty key) succeeded")
	}
	db.Close()
	if first, err := s.Once(t.Context(), "k", time.Now().Add(time.Minute)); err == nil || first {
		t.Errorf("Once on a closed client = %v, %v; want false and an error", first, err)
	}
}

func BenchmarkReplay(b *testing.B) {
	storetest.ReplayBench(b, func(b *testing.B) dpop.ReplayStore { return openDB(b, config(b, srv), noEnv).Replay() })
}
