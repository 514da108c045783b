package storetest

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/audit"
)

// CrashEnv is set in the environment of the child process [AuditCrash]
// starts; a backend's TestMain calls [CrashChild] when it is set.
const CrashEnv = "SUBZERO_STORETEST_CRASH_CHILD"

// crashNode is the chain the child writes.
const crashNode = "crash"

// CrashChild appends events to s from 16 goroutines until it is killed,
// writing each seq to stdout right after its Append returned, that is once
// the store acknowledged it.
func CrashChild(s audit.Store) error {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	cfg := audit.Default()
	cfg.CheckpointEvery = 100
	l, err := audit.Open(context.Background(), s, crashNode, testOwner, audit.NewSigner(key), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				seq, err := l.Append(context.Background(), audit.Event{Type: "test", Action: "append", Target: fmt.Sprintf("w%d/%d", w, i)})
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				_, err = fmt.Fprintf(os.Stdout, "%d\n", seq)
				mu.Unlock()
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	return <-errc
}

// AuditCrash starts child (a process running [CrashChild] on the store that
// reopen opens), kills it with SIGKILL once it has acknowledged at least
// 2000 events, and checks that every acknowledged event is stored and that
// the chain verifies.
func AuditCrash(t *testing.T, child *exec.Cmd, reopen func(t *testing.T) audit.Store) {
	child.Env = append(child.Environ(), CrashEnv+"=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]bool{}
	sc := bufio.NewScanner(out)
	deadline := time.AfterFunc(60*time.Second, func() { child.Process.Kill() })
	defer deadline.Stop()
	for len(acked) < 2000 && sc.Scan() {
		seq, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("child wrote %q", sc.Text())
		}
		acked[seq] = true
	}
	if len(acked) < 2000 {
		child.Process.Kill()
		child.Wait()
		t.Fatalf("child stopped after %d acknowledged events", len(acked))
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Acknowledgements already in the pipe count too.
	for sc.Scan() {
		if seq, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
			acked[seq] = true
		}
	}
	io.Copy(io.Discard, out)
	child.Wait()

	s := reopen(t)
	stored := map[uint64]bool{}
	err = s.Scan(t.Context(), crashNode, 0, func(r audit.Record) error {
		stored[r.Seq] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for seq := range acked {
		if !stored[seq] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged events are missing after SIGKILL", lost, len(acked))
	}
	reps, err := audit.Verify(t.Context(), s, audit.VerifyOptions{Nodes: []string{crashNode}})
	if err != nil {
		t.Fatal(err)
	}
	if !reps[0].OK() {
		t.Errorf("chain does not verify after SIGKILL: %v", reps[0].Problems)
	}
	// The node resumes its chain after the crash.
	l := openLog(t, s, crashNode, newSigner(t), audit.Default())
	if seq, err := l.Append(t.Context(), audit.Event{Type: "system", Action: "start"}); err != nil || seq != reps[0].LastSeq+1 {
		t.Errorf("append after restart = %d, %v; want %d", seq, err, reps[0].LastSeq+1)
	}
	closeLog(t, l)
	t.Logf("%d events acknowledged before SIGKILL, %d stored", len(acked), len(stored))
}
