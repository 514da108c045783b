package storetest

import (
	"crypto/ed25519"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/audit"
)

// Bench runs every store benchmark against backends from open.
func Bench(b *testing.B, open func(b *testing.B) audit.Store) {
	b.Run("AuditAppend64", func(b *testing.B) { BenchAuditAppend(b, open, 64) })
	b.Run("AuditVerify", func(b *testing.B) { BenchAuditVerify(b, open) })
}

// BenchAuditAppend measures [audit.Log.Append] with the given number of
// concurrent writers, each waiting for its event to be durable. It reports
// events/s and the 99th percentile append latency.
func BenchAuditAppend(b *testing.B, open func(b *testing.B) audit.Store, writers int) {
	s := open(b)
	l := openLog(b, s, "bench", newSigner(b), audit.Default())
	defer closeLog(b, l)
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
	var mu sync.Mutex
	var lat []time.Duration
	ev := audit.Event{Type: "tool.call", Action: "tools/call", Target: "github/create_issue", Decision: audit.Allow,
		Reason: "allowed by policy tools-read", Actor: audit.Actor{Subject: "alice@example.com", ClientID: "agent-7", Chain: []string{"agent-7"}},
		RequestID: "5oZ2s1bN4v7Qx9Wc"}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			if _, err := l.Append(b.Context(), ev); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchAuditVerify measures [audit.Verify] over a chain of 100,000 events.
func BenchAuditVerify(b *testing.B, open func(b *testing.B) audit.Store) {
	const n = 100_000
	s := open(b)
	signer := newSigner(b)
	l := openLog(b, s, "bench", signer, audit.Default())
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < n; i += 64 {
				if _, err := l.Append(b.Context(), audit.Event{Type: "tool.call", Action: "tools/call", Target: "github/create_issue",
					Decision: audit.Allow, Reason: "allowed by policy tools-read", Actor: audit.Actor{Subject: "alice@example.com", ClientID: "agent-7"}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	closeLog(b, l)
	opts := audit.VerifyOptions{Keys: []ed25519.PublicKey{signer.Public()}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		reps, err := audit.Verify(b.Context(), s, opts)
		if err != nil || !reps[0].OK() || reps[0].Events != n {
			b.Fatalf("Verify = %+v, %v", reps, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
