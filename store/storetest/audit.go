package storetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/audit"
)

func rec(seq uint64, s string) audit.Record { return audit.Record{Seq: seq, Data: []byte(s)} }

func scanAll(t *testing.T, s audit.Reader, node string, from uint64) []audit.Record {
	t.Helper()
	var got []audit.Record
	err := s.Scan(t.Context(), node, from, func(r audit.Record) error {
		got = append(got, audit.Record{Seq: r.Seq, Data: bytes.Clone(r.Data)})
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%s, %d): %v", node, from, err)
	}
	return got
}

// AuditStore checks the raw contract of [audit.Store].
func AuditStore(t *testing.T, open func(t *testing.T) audit.Store) {
	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if nodes, err := s.Nodes(ctx); err != nil || len(nodes) != 0 {
			t.Fatalf("Nodes() = %v, %v; want none", nodes, err)
		}
		if _, ok, err := s.Last(ctx, "n1"); err != nil || ok {
			t.Fatalf("Last(empty) ok=%v err=%v; want false, nil", ok, err)
		}
		if got := scanAll(t, s, "n1", 0); len(got) != 0 {
			t.Fatalf("Scan(empty) = %v", got)
		}
		if cps, err := s.Checkpoints(ctx, "n1"); err != nil || len(cps) != 0 {
			t.Fatalf("Checkpoints(empty) = %v, %v", cps, err)
		}
		if keys, err := s.Keys(ctx, "n1"); err != nil || len(keys) != 0 {
			t.Fatalf("Keys(empty) = %v, %v", keys, err)
		}
	})
	t.Run("AppendScanLast", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if err := s.Append(ctx, "n1", 0, []audit.Record{rec(1, "a"), rec(2, "b"), rec(3, "c")}, []audit.Record{rec(3, "cp3")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, "n1", 3, []audit.Record{rec(4, "d")}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, "n1", 4, nil, []audit.Record{rec(4, "cp4")}); err != nil {
			t.Fatalf("checkpoint-only append: %v", err)
		}
		want := []audit.Record{rec(1, "a"), rec(2, "b"), rec(3, "c"), rec(4, "d")}
		if diff := cmp.Diff(want, scanAll(t, s, "n1", 0)); diff != "" {
			t.Errorf("Scan(0) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want[2:], scanAll(t, s, "n1", 3)); diff != "" {
			t.Errorf("Scan(3) (-want +got):\n%s", diff)
		}
		if got := scanAll(t, s, "n1", 5); len(got) != 0 {
			t.Errorf("Scan(5) = %v, want none", got)
		}
		last, ok, err := s.Last(ctx, "n1")
		if err != nil || !ok || last.Seq != 4 || string(last.Data) != "d" {
			t.Errorf("Last = %v %v %v; want seq 4 \"d\"", last, ok, err)
		}
		cps, err := s.Checkpoints(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]audit.Record{rec(3, "cp3"), rec(4, "cp4")}, cps); diff != "" {
			t.Errorf("Checkpoints (-want +got):\n%s", diff)
		}
		if nodes, err := s.Nodes(ctx); err != nil || !slices.Equal(nodes, []string{"n1"}) {
			t.Errorf("Nodes = %v, %v; want [n1]", nodes, err)
		}
	})
	t.Run("Conflict", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if err := s.Append(ctx, "n1", 0, []audit.Record{rec(1, "a")}, nil); err != nil {
			t.Fatal(err)
		}
		for _, prev := range []uint64{0, 2} {
			err := s.Append(ctx, "n1", prev, []audit.Record{rec(prev+1, "x")}, []audit.Record{rec(prev+1, "cpx")})
			if !errors.Is(err, audit.ErrConflict) {
				t.Errorf("Append(prev=%d) = %v, want ErrConflict", prev, err)
			}
		}
		if got := scanAll(t, s, "n1", 0); len(got) != 1 || string(got[0].Data) != "a" {
			t.Errorf("after conflicts Scan = %v, want only seq 1", got)
		}
		if cps, _ := s.Checkpoints(ctx, "n1"); len(cps) != 0 {
			t.Errorf("a refused append wrote checkpoints %v", cps)
		}
	})
	t.Run("ConcurrentWritersOneWins", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = s.Append(ctx, "n1", 0, []audit.Record{rec(1, fmt.Sprint(i))}, nil) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, audit.ErrConflict):
				t.Errorf("Append: %v", err)
			}
		}
		if ok != 1 || len(scanAll(t, s, "n1", 0)) != 1 {
			t.Errorf("%d of 8 writers with the same head succeeded, want 1", ok)
		}
	})
	t.Run("NodesAndKeys", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if err := s.PutKey(ctx, "n2", "k1", []byte("pub1")); err != nil {
			t.Fatal(err)
		}
		if err := s.PutKey(ctx, "n2", "k2", []byte("pub2")); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, "n1", 0, []audit.Record{rec(1, "a")}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, "n3", 0, []audit.Record{rec(1, "z")}, nil); err != nil {
			t.Fatal(err)
		}
		nodes, err := s.Nodes(ctx)
		if err != nil || !slices.Equal(nodes, []string{"n1", "n2", "n3"}) {
			t.Errorf("Nodes = %v, %v; want [n1 n2 n3]", nodes, err)
		}
		keys, err := s.Keys(ctx, "n2")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string][]byte{"k1": []byte("pub1"), "k2": []byte("pub2")}, keys); diff != "" {
			t.Errorf("Keys (-want +got):\n%s", diff)
		}
		if got := scanAll(t, s, "n3", 0); len(got) != 1 || string(got[0].Data) != "z" {
			t.Errorf("chains are not isolated: n3 = %v", got)
		}
	})
	t.Run("ScanStopsOnError", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		var recs []audit.Record
		for i := uint64(1); i <= 2500; i++ {
			recs = append(recs, rec(i, fmt.Sprintf("event-%d", i)))
		}
		if err := s.Append(ctx, "n1", 0, recs, nil); err != nil {
			t.Fatal(err)
		}
		if got := scanAll(t, s, "n1", 0); len(got) != 2500 || got[2499].Seq != 2500 {
			t.Fatalf("Scan across pages returned %d records", len(got))
		}
		if got := scanAll(t, s, "n1", 1500); len(got) != 1001 || got[0].Seq != 1500 || string(got[1000].Data) != "event-2500" {
			t.Fatalf("Scan(1500) returned %d records from seq %d", len(got), got[0].Seq)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Scan(cancelled, "n1", 0, func(audit.Record) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("Scan with a cancelled context = %v, want context.Canceled", err)
		}
		stop := errors.New("stop")
		n := 0
		err := s.Scan(ctx, "n1", 0, func(audit.Record) error {
			n++
			if n == 1500 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 1500 {
			t.Errorf("Scan = %v after %d records, want stop after 1500", err, n)
		}
	})
	t.Run("EqualRecordsStayDistinct", func(t *testing.T) {
		s := open(t)
		same := []audit.Record{rec(1, "same"), rec(2, "same"), rec(3, "same")}
		if err := s.Append(t.Context(), "n1", 0, same, nil); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(same, scanAll(t, s, "n1", 0)); diff != "" {
			t.Errorf("equal records at different seqs (-want +got):\n%s", diff)
		}
	})
	t.Run("RefusedAppendWritesNothing", func(t *testing.T) {
		s := open(t)
		if err := s.Append(t.Context(), "n1", 5, []audit.Record{rec(6, "x")}, nil); !errors.Is(err, audit.ErrConflict) {
			t.Fatalf("Append on an empty chain with prev 5 = %v, want ErrConflict", err)
		}
		if nodes, err := s.Nodes(t.Context()); err != nil || len(nodes) != 0 {
			t.Errorf("Nodes after a refused append = %v, %v; want none", nodes, err)
		}
	})
	t.Run("Lease", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if err := s.Claim(ctx, "n1", "a", time.Minute); err != nil {
			t.Fatalf("first claim: %v", err)
		}
		if err := s.Claim(ctx, "n1", "a", time.Minute); err != nil {
			t.Fatalf("renewal by the owner: %v", err)
		}
		if err := s.Claim(ctx, "n1", "b", time.Minute); !errors.Is(err, audit.ErrInUse) {
			t.Fatalf("claim by another owner = %v, want ErrInUse", err)
		}
		if err := s.Claim(ctx, "n2", "b", time.Minute); err != nil {
			t.Fatalf("claims on other nodes are independent: %v", err)
		}
		if err := s.Release(ctx, "n1", "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.Claim(ctx, "n1", "b", time.Minute); !errors.Is(err, audit.ErrInUse) {
			t.Fatalf("release by a non-owner freed the lease: %v", err)
		}
		if err := s.Release(ctx, "n1", "a"); err != nil {
			t.Fatal(err)
		}
		if err := s.Claim(ctx, "n1", "b", 50*time.Millisecond); err != nil {
			t.Fatalf("claim after release: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for s.Claim(ctx, "n1", "a", time.Minute) != nil {
			if time.Now().After(deadline) {
				t.Fatal("an expired lease still blocks other owners")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("Binary", func(t *testing.T) {
		s := open(t)
		data := []byte("\x00\xff{\"a\":\n}\r\x7f")
		if err := s.Append(t.Context(), "n1", 0, []audit.Record{{Seq: 1, Data: data}}, nil); err != nil {
			t.Fatal(err)
		}
		if got := scanAll(t, s, "n1", 0); len(got) != 1 || !bytes.Equal(got[0].Data, data) {
			t.Errorf("stored bytes changed: %v", got)
		}
	})
}

// newSigner returns a fresh checkpoint signer.
func newSigner(t testing.TB) *audit.Signer {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return audit.NewSigner(key)
}

// testOwner is the lease owner of the logs the suite opens.
const testOwner = "storetest"

func openLog(t testing.TB, s audit.Store, node string, signer *audit.Signer, cfg audit.Config) *audit.Log {
	t.Helper()
	l, err := audit.Open(context.Background(), s, node, testOwner, signer, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("audit.Open: %v", err)
	}
	return l
}

func closeLog(t testing.TB, l *audit.Log) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func verifyOK(t *testing.T, r audit.Reader, keys ...ed25519.PublicKey) []audit.ChainReport {
	t.Helper()
	reps, err := audit.Verify(t.Context(), r, audit.VerifyOptions{Keys: keys})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, rep := range reps {
		if !rep.OK() {
			t.Errorf("node %s does not verify: %v", rep.Node, rep.Problems)
		}
	}
	return reps
}

// AuditLog checks [audit.Log], [audit.Verify] and [audit.Query] over a
// backend.
func AuditLog(t *testing.T, open func(t *testing.T) audit.Store) {
	t.Run("ConcurrentAppendsVerify", func(t *testing.T) {
		s := open(t)
		signer := newSigner(t)
		cfg := audit.Default()
		cfg.CheckpointEvery = 100
		l := openLog(t, s, "n1", signer, cfg)
		const writers, each = 32, 40
		seqs := make(chan uint64, writers*each)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					seq, err := l.Append(t.Context(), audit.Event{Type: "tool.call", Action: "call", Target: fmt.Sprintf("w%d/%d", w, i), Decision: audit.Allow})
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					seqs <- seq
				}
			})
		}
		wg.Wait()
		close(seqs)
		seen := map[uint64]bool{}
		for seq := range seqs {
			if seen[seq] || seq < 1 || seq > writers*each {
				t.Fatalf("seq %d returned twice or out of range", seq)
			}
			seen[seq] = true
		}
		closeLog(t, l)
		reps := verifyOK(t, s, signer.Public())
		if len(reps) != 1 || reps[0].Events != writers*each || reps[0].LastCheckpoint != writers*each || reps[0].Checkpoints < 2 {
			t.Errorf("report = %+v; want %d events, checkpoints up to the last", reps, writers*each)
		}
		// A reopened log continues the chain.
		l = openLog(t, s, "n1", signer, cfg)
		if seq, err := l.Append(t.Context(), audit.Event{Type: "system", Action: "start"}); err != nil || seq != writers*each+1 {
			t.Errorf("Append after reopen = %d, %v; want %d", seq, err, writers*each+1)
		}
		closeLog(t, l)
		verifyOK(t, s, signer.Public())
		if reps := verifyOK(t, s); len(reps) != 1 || !reps[0].KeysFromStore {
			t.Errorf("verify without keys: want keys from the store, got %+v", reps)
		}
	})
	t.Run("SecondWriterRefused", func(t *testing.T) {
		s := open(t)
		signer := newSigner(t)
		a := openLog(t, s, "n1", signer, audit.Default())
		b := openLog(t, s, "n1", signer, audit.Default())
		if _, err := a.Append(t.Context(), audit.Event{Type: "t"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(t.Context(), audit.Event{Type: "t"}); !errors.Is(err, audit.ErrConflict) {
			t.Errorf("second writer of the same chain: err = %v, want ErrConflict", err)
		}
		closeLog(t, a)
		closeLog(t, b)
		verifyOK(t, s, signer.Public())
	})
	t.Run("SecondOwnerRefused", func(t *testing.T) {
		s := open(t)
		signer := newSigner(t)
		a := openLog(t, s, "n1", signer, audit.Default())
		if _, err := audit.Open(t.Context(), s, "n1", "another-process", signer, audit.Default(), slog.New(slog.DiscardHandler)); !errors.Is(err, audit.ErrInUse) {
			t.Errorf("Open by a second owner while the first is live = %v, want ErrInUse", err)
		}
		closeLog(t, a)
		b, err := audit.Open(t.Context(), s, "n1", "another-process", signer, audit.Default(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("Open after the first owner closed: %v", err)
		}
		closeLog(t, b)
	})
	t.Run("CredentialsNeverStored", func(t *testing.T) {
		s := open(t)
		signer := newSigner(t)
		l := openLog(t, s, "n1", signer, audit.Default())
		jwt := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
		_, err := l.Append(t.Context(), audit.Event{Type: "t", Reason: "upstream rejected Bearer " + jwt,
			Target: "https://api/?token=" + jwt, Actor: audit.Actor{Subject: "alice", Chain: []string{"agent " + jwt}},
			Findings: []audit.Finding{{Rule: "leak ghp_abcdefghijklmnopqrstuvwxyz0123456789"}}})
		if err != nil {
			t.Fatal(err)
		}
		closeLog(t, l)
		for _, r := range scanAll(t, s, "n1", 0) {
			if strings.Contains(string(r.Data), "eyJhbGci") || strings.Contains(string(r.Data), "ghp_abc") {
				t.Errorf("a credential reached the store: %s", r.Data)
			}
		}
		verifyOK(t, s, signer.Public())
	})
	t.Run("QueryMergesNodes", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		n1 := openLog(t, s, "n1", newSigner(t), audit.Default())
		n2 := openLog(t, s, "n2", newSigner(t), audit.Default())
		var mid time.Time
		for i := range 10 {
			l := n1
			if i%2 == 1 {
				l = n2
			}
			d := audit.Allow
			if i%3 == 0 {
				d = audit.Deny
			}
			if _, err := l.Append(ctx, audit.Event{Type: "tool.call", Actor: audit.Actor{Subject: fmt.Sprintf("user%d", i%2), Chain: []string{"agent-x"}}, Decision: d, Target: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
			if i == 4 {
				mid = time.Now()
			}
			time.Sleep(2 * time.Millisecond) // distinct times, so the merge order is the append order
		}
		if _, err := n1.Append(ctx, audit.Event{Type: "system", Action: "stop"}); err != nil {
			t.Fatal(err)
		}
		closeLog(t, n1)
		closeLog(t, n2)
		targets := func(es []audit.Event) string {
			var b strings.Builder
			for _, e := range es {
				b.WriteString(e.Target)
			}
			return b.String()
		}
		for _, tc := range []struct {
			name string
			f    audit.Filter
			want string
		}{
			{"all tool calls", audit.Filter{Type: "tool.call"}, "0123456789"},
			{"deny", audit.Filter{Decision: audit.Deny}, "0369"},
			{"actor subject", audit.Filter{Actor: "user1"}, "13579"},
			{"actor in chain", audit.Filter{Actor: "agent-x", Limit: 3}, "012"},
			{"since", audit.Filter{Type: "tool.call", Since: mid}, "56789"},
			{"until", audit.Filter{Until: mid}, "01234"},
			{"one node", audit.Filter{Nodes: []string{"n2"}, Type: "tool.call"}, "13579"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := audit.Query(ctx, s, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if targets(got) != tc.want {
					t.Errorf("Query(%+v) targets = %q, want %q", tc.f, targets(got), tc.want)
				}
			})
		}
		var tail []string
		err := audit.Tail(ctx, s, nil, 3, false, time.Second, func(e audit.Event) error {
			tail = append(tail, e.Node+":"+e.Target)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The last 3 of each chain, merged by time.
		if want := []string{"n1:6", "n2:7", "n1:8", "n2:9", "n1:"}; !slices.Equal(tail[1:], want) {
			t.Errorf("Tail = %v, want ...%v", tail, want)
		}
		verifyOK(t, s)
	})
}
