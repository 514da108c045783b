package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/dpop"
)

// expiryWait bounds how long Replay polls for a record to expire.
const expiryWait = 5 * time.Second

// Replay checks the contract of [dpop.ReplayStore]: a key is first once
// until its record expires, keys are independent, and of concurrent
// callers exactly one is first.
func Replay(t *testing.T, open func(t *testing.T) dpop.ReplayStore) {
	once := func(t *testing.T, s dpop.ReplayStore, key string, until time.Time) bool {
		t.Helper()
		first, err := s.Once(t.Context(), key, until)
		if err != nil {
			t.Fatalf("Once(%q): %v", key, err)
		}
		return first
	}
	later := func() time.Time { return time.Now().Add(time.Minute) }

	t.Run("FirstThenSeen", func(t *testing.T) {
		s := open(t)
		if !once(t, s, "k", later()) {
			t.Fatal("Once(new key) = false, want true")
		}
		for i := range 3 {
			if once(t, s, "k", later()) {
				t.Fatalf("Once(recorded key), call %d = true, want false", i+2)
			}
		}
	})

	t.Run("DistinctKeys", func(t *testing.T) {
		s := open(t)
		keys := []string{"dpop:a:1", "dpop:a:2", "dpop:b:1", "dpop:a:1x", "dpop:a:", "x", strings.Repeat("k", 128)}
		for _, k := range keys {
			if !once(t, s, k, later()) {
				t.Errorf("Once(%q) = false after other keys, want true", k)
			}
		}
		for _, k := range keys {
			if once(t, s, k, later()) {
				t.Errorf("Once(%q) again = true, want false", k)
			}
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		s := open(t)
		until := time.Now().Add(100 * time.Millisecond)
		if !once(t, s, "short", until) || !once(t, s, "long", later()) {
			t.Fatal("Once(new key) = false, want true")
		}
		// Well before its expiry the record holds. (Too close to it, a true
		// answer would prove nothing and re-record the key.)
		if time.Until(until) > 50*time.Millisecond && once(t, s, "short", later()) && time.Now().Before(until) {
			t.Fatal("Once before expiry = true, want false")
		}
		// Poll until the short record is gone; it must not go early.
		deadline := time.Now().Add(expiryWait)
		for {
			if once(t, s, "short", later()) {
				if done := time.Now(); done.Before(until) {
					t.Fatalf("record expired by %s, before its expiry %s", done.Format(time.StampMicro), until.Format(time.StampMicro))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("record still present %s after its expiry", expiryWait)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Recorded anew, with the later expiry.
		if once(t, s, "short", later()) {
			t.Error("Once after re-recording = true, want false")
		}
		if once(t, s, "long", later()) {
			t.Error("Once(long-lived key) = true after another key expired, want false")
		}
	})

	t.Run("ExpiredOnArrival", func(t *testing.T) {
		s := open(t)
		past := time.Now().Add(-time.Second)
		for i := range 2 {
			if !once(t, s, "past", past) {
				t.Fatalf("Once(key expiring in the past), call %d = false, want true", i+1)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		const keys, callers = 8, 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		firsts := map[string]int{}
		errs := make(chan error, keys*callers)
		start := make(chan struct{})
		for k := range keys {
			key := fmt.Sprintf("dpop:c:%d", k)
			for range callers {
				wg.Go(func() {
					<-start
					first, err := s.Once(context.Background(), key, later())
					if err != nil {
						errs <- err
						return
					}
					if first {
						mu.Lock()
						firsts[key]++
						mu.Unlock()
					}
				})
			}
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Once: %v", err)
		}
		for k := range keys {
			key := fmt.Sprintf("dpop:c:%d", k)
			if n := firsts[key]; n != 1 {
				t.Errorf("%d of %d concurrent callers of %q were first, want exactly 1", n, callers, key)
			}
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if first, err := s.Once(ctx, "cancelled", later()); err == nil || first {
			t.Errorf("Once(cancelled context) = %v, %v; want false and an error", first, err)
		}
	})
}

// ReplayBench measures Once with fresh keys, from one goroutine and from
// GOMAXPROCS goroutines, each store from open.
func ReplayBench(b *testing.B, open func(b *testing.B) dpop.ReplayStore) {
	b.Run("Once", func(b *testing.B) {
		s := open(b)
		until := time.Now().Add(time.Minute)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if first, err := s.Once(b.Context(), fmt.Sprintf("dpop:bench:%d", i), until); err != nil || !first {
				b.Fatalf("Once = %v, %v", first, err)
			}
			i++
		}
	})
	b.Run("OnceParallel", func(b *testing.B) {
		s := open(b)
		until := time.Now().Add(time.Minute)
		var mu sync.Mutex
		next := 0
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock()
			g := next
			next++
			mu.Unlock()
			for i := 0; pb.Next(); i++ {
				if first, err := s.Once(context.Background(), fmt.Sprintf("dpop:bench:%d:%d", g, i), until); err != nil || !first {
					b.Errorf("Once = %v, %v", first, err)
					return
				}
			}
		})
	})
}
