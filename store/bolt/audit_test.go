package bolt_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// BenchmarkAuditAppend appends a gateway call's event to an audit log in a
// bbolt file from 1 goroutine (a commit per event) and from 16 (group
// commits), each commit fsync'd, and reports
// the process's CPU time per event (cpu-µs/event). Run it with TMPDIR on
// tmpfs to leave out the disk.
func BenchmarkAuditAppend(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchAuditAppend(b, writers) })
	}
}

func benchAuditAppend(b *testing.B, writers int) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	l, err := audit.Open(b.Context(), db.Audit(), "bench", "owner", audit.NewSigner(key), audit.Default(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	e := audit.Event{
		Type: "mcp.call", Actor: audit.Actor{Subject: "user-1234", ClientID: "agent-app"},
		Action: "tools/call", Target: "notes__search", Decision: audit.Allow,
		Reason: "allowed by tool:notes.search can_invoke", RequestID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
	}
	cpu0 := cpuTime(b)
	before := l.Appended()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := l.Append(context.Background(), e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if n := l.Appended() - before; n != uint64(b.N) {
		b.Fatalf("%d events appended, want %d", n, b.N)
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/event")
}

func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
