package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store whose Append can be made to fail.
type memStore struct {
	mu      sync.Mutex
	events  map[string][]Record
	cps     map[string][]Record
	keys    map[string]map[string][]byte
	failing func() error // when non-nil and returning an error, Append fails
}

func newMemStore() *memStore {
	return &memStore{events: map[string][]Record{}, cps: map[string][]Record{}, keys: map[string]map[string][]byte{}}
}

func (m *memStore) Nodes(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for n := range m.events {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

func (m *memStore) Scan(ctx context.Context, node string, from uint64, fn func(Record) error) error {
	m.mu.Lock()
	recs := slices.Clone(m.events[node])
	m.mu.Unlock()
	for _, r := range recs {
		if r.Seq >= from {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *memStore) Checkpoints(_ context.Context, node string) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.cps[node]), nil
}

func (m *memStore) Keys(_ context.Context, node string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[node], nil
}

func (m *memStore) Last(_ context.Context, node string) (Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev := m.events[node]
	if len(ev) == 0 {
		return Record{}, false, nil
	}
	return ev[len(ev)-1], true, nil
}

func (m *memStore) Append(_ context.Context, node string, prev uint64, events, cps []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing != nil {
		if err := m.failing(); err != nil {
			return err
		}
	}
	ev := m.events[node]
	if (len(ev) == 0 && prev != 0) || (len(ev) > 0 && ev[len(ev)-1].Seq != prev) {
		return ErrConflict
	}
	for _, r := range events {
		m.events[node] = append(m.events[node], Record{Seq: r.Seq, Data: slices.Clone(r.Data)})
	}
	for _, r := range cps {
		m.cps[node] = append(m.cps[node], Record{Seq: r.Seq, Data: slices.Clone(r.Data)})
	}
	return nil
}

func (m *memStore) PutKey(_ context.Context, node, id string, pub []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys[node] == nil {
		m.keys[node] = map[string][]byte{}
	}
	m.keys[node][id] = pub
	return nil
}

func (m *memStore) Claim(context.Context, string, string, time.Duration) error { return nil }

func (m *memStore) Release(context.Context, string, string) error { return nil }

func testSigner(t *testing.T) *Signer {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return NewSigner(k)
}

func TestLogStoreFailure(t *testing.T) {
	s := newMemStore()
	signer := testSigner(t)
	l, err := Open(t.Context(), s, "n1", "o1", signer, Default(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), Event{Type: "a"}); err != nil {
		t.Fatal(err)
	}
	down := errors.New("store down")
	s.mu.Lock()
	s.failing = func() error { return down }
	s.mu.Unlock()
	if _, err := l.Append(t.Context(), Event{Type: "b"}); !errors.Is(err, down) {
		t.Fatalf("Append while the store fails = %v, want %v", err, down)
	}
	s.mu.Lock()
	s.failing = nil
	s.mu.Unlock()
	seq, err := l.Append(t.Context(), Event{Type: "c"})
	if err != nil || seq != 2 {
		t.Fatalf("Append after recovery = %d, %v; want seq 2 (the failed event took no seq)", seq, err)
	}
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), Event{Type: "d"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	reps, err := Verify(t.Context(), s, VerifyOptions{Keys: []ed25519.PublicKey{signer.Public()}})
	if err != nil || !reps[0].OK() || reps[0].Events != 2 || reps[0].LastCheckpoint != 2 {
		t.Fatalf("Verify = %+v, %v", reps, err)
	}
}

func TestLogTimedCheckpoint(t *testing.T) {
	s := newMemStore()
	cfg := Default()
	cfg.CheckpointInterval = 100 * time.Millisecond
	l, err := Open(t.Context(), s, "n1", "o1", testSigner(t), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	if _, err := l.Append(t.Context(), Event{Type: "a"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if cps, _ := s.Checkpoints(t.Context(), "n1"); len(cps) == 1 && cps[0].Seq == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint within 5s of an event with checkpoint_interval 100ms")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLogRefusesDamagedHead(t *testing.T) {
	s := newMemStore()
	s.events["n1"] = []Record{{Seq: 1, Data: []byte(`{"not":"an event"}`)}}
	if _, err := Open(t.Context(), s, "n1", "o1", testSigner(t), Default(), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Open appended to a chain whose last record does not verify")
	}
}

func TestLogRefusesTruncatedChain(t *testing.T) {
	s := newMemStore()
	l, err := Open(t.Context(), s, "n1", "o1", testSigner(t), Default(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := l.Append(t.Context(), Event{Type: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close(t.Context()) // signs a checkpoint at seq 3
	s.events["n1"] = s.events["n1"][:2]
	if _, err := Open(t.Context(), s, "n1", "o1", testSigner(t), Default(), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Open resumed a chain truncated before its last checkpoint")
	}
}

func TestLogTimeNeverDecreases(t *testing.T) {
	s := newMemStore()
	l, err := Open(t.Context(), s, "n1", "o1", testSigner(t), Default(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	l.now = func() time.Time { clock = clock.Add(-time.Second); return clock } // a clock going backwards
	for range 3 {
		if _, err := l.Append(t.Context(), Event{Type: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close(t.Context())
	es, err := Query(t.Context(), s, Filter{})
	if err != nil || len(es) != 3 {
		t.Fatalf("Query = %d events, %v", len(es), err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Time.Before(es[i-1].Time) {
			t.Errorf("event %d at %v is before event %d at %v", es[i].Seq, es[i].Time, es[i-1].Seq, es[i-1].Time)
		}
	}
}
