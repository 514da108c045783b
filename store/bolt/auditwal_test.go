package bolt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/audit"
)

// crash stops d the way a killed process stops: the drainer no longer runs,
// and nothing pending reaches bbolt.
func (d *DB) crash(t *testing.T) {
	t.Helper()
	w := d.wal
	close(w.closing)
	<-w.stopped
	w.drainMu.Lock() // no drain starts after this
	if err := w.closeFiles(); err != nil {
		t.Fatal(err)
	}
	if err := d.db.Close(); err != nil {
		t.Fatal(err)
	}
}

// noDrain never drains on its own.
var noDrain = walOptions{drainBytes: 1 << 40, drainEvery: time.Hour, maxPending: 1 << 40}

func openWAL(t *testing.T, path string, o walOptions) *DB {
	t.Helper()
	db, err := open(path, time.Second, false, o)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// appendN appends events from seq after+1 to after+n, one record per
// append, with a checkpoint at each tenth.
func appendN(t *testing.T, s *AuditStore, node string, after uint64, n int) {
	t.Helper()
	for seq := after + 1; seq <= after+uint64(n); seq++ {
		if err := s.Append(context.Background(), node, seq-1, []audit.Record{{Seq: seq, Data: payload(seq)}}, cpsFor(seq)); err != nil {
			t.Fatalf("append %d: %v", seq, err)
		}
	}
}

// cpsFor returns the checkpoint appended with event seq: one every tenth.
func cpsFor(seq uint64) []audit.Record {
	if seq%10 != 0 {
		return nil
	}
	return []audit.Record{{Seq: seq, Data: fmt.Appendf(nil, "cp-%d", seq)}}
}

func payload(seq uint64) []byte {
	return fmt.Appendf(nil, `{"seq":%d,"pad":%q}`, seq, strings.Repeat("x", int(seq%97)))
}

// checkChain checks that node holds exactly seqs 1..n with their payloads,
// and its checkpoints.
func checkChain(t *testing.T, s audit.Reader, node string, n uint64) {
	t.Helper()
	var got uint64
	err := s.Scan(context.Background(), node, 0, func(r audit.Record) error {
		got++
		if r.Seq != got || !bytes.Equal(r.Data, payload(r.Seq)) {
			return fmt.Errorf("record %d: seq %d, %q", got, r.Seq, r.Data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("node %s holds %d events, want %d", node, got, n)
	}
	cps, err := s.Checkpoints(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != int(n/10) {
		t.Fatalf("%d checkpoints, want %d", len(cps), n/10)
	}
	for i, c := range cps {
		if want := uint64(i+1) * 10; c.Seq != want || string(c.Data) != fmt.Sprintf("cp-%d", want) {
			t.Fatalf("checkpoint %d: %d %q", i, c.Seq, c.Data)
		}
	}
	last, ok, err := s.Last(context.Background(), node)
	if err != nil || ok != (n > 0) || last.Seq != n {
		t.Fatalf("Last = %d, %v, %v; want %d", last.Seq, ok, err, n)
	}
}

func inBolt(t *testing.T, db *DB, node string) uint64 {
	t.Helper()
	w := &auditWAL{db: db.db, heads: map[string]uint64{}}
	head, err := w.head(node)
	if err != nil {
		t.Fatal(err)
	}
	return head
}

func TestAuditWALReplaysAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	db := openWAL(t, path, noDrain)
	s := db.Audit()
	appendN(t, s, "a", 0, 50)
	appendN(t, s, "b", 0, 7)
	if got := inBolt(t, db, "a"); got != 0 {
		t.Fatalf("bbolt holds %d events before any drain", got)
	}
	checkChain(t, s, "a", 50)
	db.crash(t)

	// Read-only, the records are read from the files, which stay as
	// they are.
	ro, err := Open(path, time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	checkChain(t, ro.Audit(), "a", 50)
	checkChain(t, ro.Audit(), "b", 7)
	if nodes, _ := ro.Audit().Nodes(t.Context()); fmt.Sprint(nodes) != "[a b]" {
		t.Errorf("nodes = %v", nodes)
	}
	ro.Close()

	db = openWAL(t, path, noDrain)
	if got := inBolt(t, db, "a"); got != 50 {
		t.Fatalf("bbolt holds %d events after replay, want 50", got)
	}
	s = db.Audit()
	checkChain(t, s, "a", 50)
	checkChain(t, s, "b", 7)
	// The chain goes on where it stopped, and a stale prev is refused.
	if err := s.Append(t.Context(), "a", 49, []audit.Record{{Seq: 50, Data: []byte("x")}}, nil); err != audit.ErrConflict {
		t.Fatalf("append on a stale head: %v", err)
	}
	appendN(t, s, "a", 50, 5)
	db.crash(t)
	db = openWAL(t, path, noDrain)
	checkChain(t, db.Audit(), "a", 55)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A clean close leaves both files empty.
	for _, p := range walPaths(path) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := walFrame(mustGen(t, data), data[walHeaderSize:]); ok {
			t.Errorf("%s holds a frame after a clean close", p)
		}
	}
}

func mustGen(t *testing.T, data []byte) uint64 {
	t.Helper()
	gen, ok := walHeader(data)
	if !ok {
		t.Fatal("no valid header")
	}
	return gen
}

// A frame cut short by the crash was never acknowledged: it is dropped,
// and what precedes it is kept.
func TestAuditWALTornTail(t *testing.T) {
	for _, cut := range []int{1, 5, 9, 30} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "subzero.db")
			db := openWAL(t, path, noDrain)
			appendN(t, db.Audit(), "a", 0, 20)
			off := db.wal.off
			appendN(t, db.Audit(), "a", 20, 1)
			end := db.wal.off
			db.crash(t)
			f, err := os.OpenFile(walPaths(path)[0], os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Zero the last frame's tail, as a write that did not reach
			// the disk would leave it.
			if _, err := f.WriteAt(make([]byte, cut), end-int64(cut)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if end-off <= int64(cut) {
				t.Fatalf("frame of %d bytes", end-off)
			}
			db = openWAL(t, path, noDrain)
			defer db.Close()
			checkChain(t, db.Audit(), "a", 20)
			appendN(t, db.Audit(), "a", 20, 3)
			checkChain(t, db.Audit(), "a", 23)
		})
	}
}

// A crash after a drain's bbolt commit, before it emptied the drained
// file: the replay skips what bbolt holds.
func TestAuditWALCrashBetweenCommitAndReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	db := openWAL(t, path, noDrain)
	s := db.Audit()
	appendN(t, s, "a", 0, 30)
	w := db.wal
	w.mu.Lock()
	chains := w.pending
	w.mu.Unlock()
	if err := w.flush(chains); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, "a", 30, 4) // in the same file, after the drained frames
	db.crash(t)
	db = openWAL(t, path, noDrain)
	defer db.Close()
	checkChain(t, db.Audit(), "a", 34)
}

// Frames of an older generation, left behind an emptied file's header, are
// not read again, even one that would continue the chain.
func TestAuditWALIgnoresOldGenerations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	// writeFirst makes the first file a header of generation fileGen and
	// the frame of seq 1 written in generation frameGen.
	writeFirst := func(fileGen, frameGen uint64) {
		data := appendWALHeader(nil, fileGen)
		data, _, _ = appendWALFrame(data, frameGen, "a", 0, []audit.Record{{Seq: 1, Data: payload(1)}}, nil)
		if err := os.WriteFile(walPaths(path)[0], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db := openWAL(t, path, noDrain)
	db.crash(t)
	writeFirst(8, 7)
	db = openWAL(t, path, noDrain)
	checkChain(t, db.Audit(), "a", 0)
	db.crash(t)
	// The same frame in its own generation is read.
	writeFirst(7, 7)
	db = openWAL(t, path, noDrain)
	defer db.Close()
	checkChain(t, db.Audit(), "a", 1)
}

// Drained files are emptied and reused: after many drains the chain is
// whole and nothing is read twice.
func TestAuditWALManyDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	db := openWAL(t, path, noDrain)
	s := db.Audit()
	var n uint64
	for round := range 7 {
		appendN(t, s, "a", n, 10+round)
		n += uint64(10 + round)
		if err := db.wal.drain(); err != nil {
			t.Fatal(err)
		}
	}
	appendN(t, s, "a", n, 3)
	n += 3
	db.crash(t)
	db = openWAL(t, path, noDrain)
	defer db.Close()
	checkChain(t, db.Audit(), "a", n)
}

// A write-ahead file that continues a chain from past its end means
// records were lost: the open fails and says so.
func TestAuditWALRefusesAGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	db := openWAL(t, path, noDrain)
	frame, _, _ := appendWALFrame(nil, db.wal.gens[0], "a", 5, []audit.Record{{Seq: 6, Data: []byte("x")}}, nil)
	db.crash(t)
	f, err := os.OpenFile(walPaths(path)[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(frame, walHeaderSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open(path, time.Second, false); err == nil || !strings.Contains(err.Error(), "records are missing") {
		t.Fatalf("open = %v", err)
	}
}

// Readers see every acknowledged record at every moment, while drains move
// them into bbolt under their feet.
func TestAuditWALReadersDuringDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	db := openWAL(t, path, walOptions{drainBytes: 2 << 10, drainEvery: time.Millisecond, maxPending: 1 << 40})
	s := db.Audit()
	var acked atomic.Uint64
	const n = 600
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := uint64(1); seq <= n; seq++ {
			if err := s.Append(context.Background(), "a", seq-1, []audit.Record{{Seq: seq, Data: payload(seq)}}, cpsFor(seq)); err != nil {
				t.Error(err)
				return
			}
			acked.Store(seq)
		}
	})
	for range 2 {
		wg.Go(func() {
			for acked.Load() < n && !t.Failed() {
				want := acked.Load()
				var got uint64
				err := s.Scan(context.Background(), "a", 0, func(r audit.Record) error {
					if r.Seq != got+1 || !bytes.Equal(r.Data, payload(r.Seq)) {
						return fmt.Errorf("after seq %d: seq %d", got, r.Seq)
					}
					got = r.Seq
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if got < want {
					t.Errorf("scan saw %d events, %d were acknowledged", got, want)
					return
				}
				if last, ok, err := s.Last(context.Background(), "a"); err != nil || want > 0 && (!ok || last.Seq < want) {
					t.Errorf("Last = %d %v %v with %d acknowledged", last.Seq, ok, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openWAL(t, path, noDrain)
	defer db.Close()
	if got := inBolt(t, db, "a"); got != n {
		t.Fatalf("bbolt holds %d after a clean close", got)
	}
	checkChain(t, db.Audit(), "a", n)
}

// An audit log on the store survives a crash with its chain verifying.
func TestAuditWALLogVerifiesAfterReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	db := openWAL(t, path, walOptions{drainBytes: 4 << 10, drainEvery: 5 * time.Millisecond, maxPending: 1 << 40})
	signer := audit.NewSigner(testKey(t))
	l, err := audit.Open(t.Context(), db.Audit(), "n1", "owner", signer, audit.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := l.Append(t.Context(), audit.Event{Type: "test", Action: "a", Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	db.crash(t) // the log's writer is left idle; its process is "gone"
	db = openWAL(t, path, noDrain)
	defer db.Close()
	reps, err := audit.Verify(t.Context(), db.Audit(), audit.VerifyOptions{Nodes: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reps[0].OK() || reps[0].LastSeq != 300 {
		t.Fatalf("verify: last %d, %v", reps[0].LastSeq, reps[0].Problems)
	}
}

// A drain that fails keeps the records, shows in Ping, refuses appends
// past the backlog limit, and succeeds once the cause is gone.
func TestAuditWALFailedDrain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	o := noDrain
	o.maxPending = 2 << 10
	db := openWAL(t, path, o)
	defer db.Close()
	s := db.Audit()
	appendN(t, s, "a", 0, 5)
	// Something else wrote seq 1 into bbolt: the drain's transaction
	// finds the chain's head moved and writes nothing.
	intruder := []byte("intruder")
	put := func(del bool) {
		if err := db.db.Update(func(tx *bbolt.Tx) error {
			b, err := createNodeBuckets(tx, "a")
			if err != nil {
				return err
			}
			if del {
				return b.Bucket(bucketEvents).Delete(seqKey(1))
			}
			return b.Bucket(bucketEvents).Put(seqKey(1), intruder)
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(false)
	if err := db.wal.drain(); err == nil {
		t.Fatal("drain over a moved head succeeded")
	}
	if err := db.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "move records into the database") {
		t.Fatalf("Ping = %v", err)
	}
	var n uint64 = 5
	var refused error
	for ; n < 200 && refused == nil; n++ {
		refused = s.Append(t.Context(), "a", n, []audit.Record{{Seq: n + 1, Data: payload(n + 1)}}, nil)
	}
	if refused == nil || !strings.Contains(refused.Error(), "appends refused") {
		t.Fatalf("append over the backlog limit: %v", refused)
	}
	n-- // the refused one
	put(true)
	if err := db.wal.drain(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := inBolt(t, db, "a"); got != n {
		t.Fatalf("bbolt holds %d, want %d", got, n)
	}
	appendN(t, s, "a", n, 1)
}

func testKey(t *testing.T) ed25519.PrivateKey {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func FuzzAuditWALReplay(f *testing.F) {
	good := appendWALHeader(nil, 7)
	good, _, _ = appendWALFrame(good, 7, "a", 0, []audit.Record{{Seq: 1, Data: []byte("e1")}}, []audit.Record{{Seq: 1, Data: []byte("c1")}})
	good, _, _ = appendWALFrame(good, 7, "a", 1, []audit.Record{{Seq: 2, Data: []byte("e2")}, {Seq: 3, Data: []byte("e3")}}, nil)
	f.Add(good, []byte{})
	f.Add(good[:len(good)-3], appendWALHeader(nil, 8))
	f.Add(appendWALHeader(nil, 1), good)
	f.Add([]byte(walMagic), []byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		path := filepath.Join(t.TempDir(), "subzero.db")
		db := openWAL(t, path, noDrain)
		db.crash(t)
		for i, data := range [][]byte{a, b} {
			if err := os.WriteFile(walPaths(path)[i], data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		db, err := open(path, time.Second, false, noDrain)
		if err != nil {
			return // a gap, or a frame that does not decode: refused
		}
		defer db.Close()
		// Whatever was read is a chain from seq 1 without holes.
		var want uint64 = 1
		if err := db.Audit().Scan(t.Context(), "a", 0, func(r audit.Record) error {
			if r.Seq != want {
				return fmt.Errorf("seq %d, want %d", r.Seq, want)
			}
			want++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}
