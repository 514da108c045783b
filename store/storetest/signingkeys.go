package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/broker/token"
)

// SigningKeys checks the contract of [token.KeyStore]: records come back
// as added, in generation order; a generation is added once, only after
// the one before it, and of concurrent adders exactly one succeeds; and
// key sets starting at once on one store agree on their first key.
func SigningKeys(t *testing.T, open func(t *testing.T) token.KeyStore) {
	t0 := time.Date(2025, 10, 9, 8, 7, 6, 123456789, time.UTC)
	record := func(gen uint64, id string) token.KeyRecord {
		return token.KeyRecord{
			ID:         id,
			Generation: gen,
			Data:       []byte(`{"kty":"EC","kid":"` + id + `","d":"private"}`),
			Created:    t0.Add(time.Duration(gen) * time.Hour),
			Activate:   t0.Add(time.Duration(gen)*time.Hour + time.Minute),
		}
	}
	keys := func(t *testing.T, s token.KeyStore) []token.KeyRecord {
		t.Helper()
		got, err := s.Keys(t.Context())
		if err != nil {
			t.Fatalf("Keys: %v", err)
		}
		return got
	}
	add := func(t *testing.T, s token.KeyStore, r token.KeyRecord) {
		t.Helper()
		if err := s.AddKey(t.Context(), r); err != nil {
			t.Fatalf("AddKey(generation %d, %s): %v", r.Generation, r.ID, err)
		}
	}
	same := func(t *testing.T, what string, want, got []token.KeyRecord) {
		t.Helper()
		if len(want) == 0 && len(got) == 0 {
			return
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		if got := keys(t, s); len(got) != 0 {
			t.Errorf("Keys(empty store) = %v, want none", got)
		}
		if err := s.DeleteKey(t.Context(), "absent"); err != nil {
			t.Errorf("DeleteKey(absent) on an empty store = %v, want nil", err)
		}
	})

	t.Run("AddList", func(t *testing.T) {
		s := open(t)
		want := []token.KeyRecord{record(1, "k1"), record(2, "k2"), record(3, "k3")}
		want[0].Activate = time.Time{} // a first key current from the start
		want[2].Data = bytes.Repeat([]byte{0, 0xff, '"', '\\'}, 1024)
		for _, r := range want {
			add(t, s, r)
		}
		got := keys(t, s)
		same(t, "Keys", want, got)
		got[0].Data[0] ^= 0xff // the caller's to keep
		same(t, "Keys after modifying a returned record", want, keys(t, s))
	})

	t.Run("Conflict", func(t *testing.T) {
		s := open(t)
		for _, r := range []token.KeyRecord{record(0, "k0"), record(2, "k2")} {
			if err := s.AddKey(t.Context(), r); !errors.Is(err, token.ErrConflict) {
				t.Errorf("AddKey(generation %d) on an empty store = %v, want ErrConflict", r.Generation, err)
			}
		}
		add(t, s, record(1, "k1"))
		for _, r := range []token.KeyRecord{record(1, "other"), record(3, "k3"), record(0, "k0"), record(2, "k1")} {
			if err := s.AddKey(t.Context(), r); !errors.Is(err, token.ErrConflict) {
				t.Errorf("AddKey(generation %d, %s) after generation 1 = %v, want ErrConflict", r.Generation, r.ID, err)
			}
		}
		same(t, "Keys after refused adds", []token.KeyRecord{record(1, "k1")}, keys(t, s))
		add(t, s, record(2, "k2"))
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		for gen := uint64(1); gen <= 3; gen++ {
			add(t, s, record(gen, fmt.Sprintf("k%d", gen)))
		}
		for _, id := range []string{"k1", "k3", "k1", "absent"} {
			if err := s.DeleteKey(t.Context(), id); err != nil {
				t.Fatalf("DeleteKey(%s): %v", id, err)
			}
		}
		same(t, "Keys after deletes", []token.KeyRecord{record(2, "k2")}, keys(t, s))
		// The generation counter does not go back: generation 3 was added.
		if err := s.AddKey(t.Context(), record(3, "k3b")); !errors.Is(err, token.ErrConflict) {
			t.Errorf("AddKey(generation 3 again) = %v, want ErrConflict", err)
		}
		add(t, s, record(4, "k1")) // a deleted ID is free again
		same(t, "Keys", []token.KeyRecord{record(2, "k2"), record(4, "k1")}, keys(t, s))
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		const adders = 16
		for gen := uint64(1); gen <= 3; gen++ {
			var wg sync.WaitGroup
			var mu sync.Mutex
			var won []string
			errs := make(chan error, adders)
			start := make(chan struct{})
			for i := range adders {
				r := record(gen, fmt.Sprintf("g%d-%d", gen, i))
				wg.Go(func() {
					<-start
					switch err := s.AddKey(context.Background(), r); {
					case err == nil:
						mu.Lock()
						won = append(won, r.ID)
						mu.Unlock()
					case !errors.Is(err, token.ErrConflict):
						errs <- err
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("AddKey: %v", err)
			}
			if len(won) != 1 {
				t.Fatalf("generation %d: %d of %d concurrent adders succeeded (%v), want exactly 1", gen, len(won), adders, won)
			}
		}
		if got := keys(t, s); len(got) != 3 {
			t.Errorf("Keys = %d records, want 3", len(got))
		}
	})

	t.Run("KeySetsAgree", func(t *testing.T) {
		s := open(t)
		const nodes = 8
		sets := make([]*token.KeySet, nodes)
		errs := make([]error, nodes)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range nodes {
			wg.Go(func() {
				<-start
				sets[i], errs[i] = token.NewKeySet(context.Background(), token.Default(), s, nil)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("NewKeySet %d: %v", i, err)
			}
		}
		want := sets[0].Current().ID
		for i, ks := range sets {
			if got := ks.Current().ID; got != want {
				t.Errorf("key set %d signs with %s, key set 0 with %s", i, got, want)
			}
		}
		if got := keys(t, s); len(got) != 1 || got[0].ID != want {
			t.Errorf("store holds %d keys, want the one key %s", len(got), want)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Keys(ctx); err == nil {
			t.Error("Keys(cancelled context) succeeded")
		}
		if err := s.AddKey(ctx, record(1, "k1")); err == nil || errors.Is(err, token.ErrConflict) {
			t.Errorf("AddKey(cancelled context) = %v, want a context error", err)
		}
		if got := keys(t, s); len(got) != 0 {
			t.Errorf("Keys after a cancelled AddKey = %v, want none", got)
		}
	})
}
