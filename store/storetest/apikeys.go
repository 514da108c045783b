package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/broker/apikey"
)

// APIKeys checks an [apikey.Store]: insert only when absent, replace only
// when present, byte-exact records, List's order and paging, one winner
// among concurrent inserts, refusal of bad arguments, and [apikey.Keys]
// over the store. Each call to open must return an empty, isolated store.
func APIKeys(t *testing.T, open func(t *testing.T) apikey.Store) {
	t.Run("Empty", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		if rec, ok, err := s.Get(ctx, "abc"); err != nil || ok || rec != nil {
			t.Errorf("Get = %q, %v, %v; want absent", rec, ok, err)
		}
		if ok, err := s.Replace(ctx, "abc", []byte("x")); err != nil || ok {
			t.Errorf("Replace = %v, %v; want false", ok, err)
		}
		if ids, recs, err := s.List(ctx, "", 10); err != nil || len(ids) != 0 || len(recs) != 0 {
			t.Errorf("List = %q, %q, %v; want none", ids, recs, err)
		}
		if _, ok, _ := s.Get(ctx, "abc"); ok {
			t.Error("Replace of an absent ID stored it")
		}
	})

	t.Run("InsertReplace", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		if ok, err := s.Insert(ctx, "k1", all); err != nil || !ok {
			t.Fatalf("Insert = %v, %v", ok, err)
		}
		if ok, err := s.Insert(ctx, "k1", []byte("other")); err != nil || ok {
			t.Errorf("second Insert = %v, %v; want false", ok, err)
		}
		if rec, ok, err := s.Get(ctx, "k1"); err != nil || !ok || !bytes.Equal(rec, all) {
			t.Errorf("Get = %q, %v, %v; want the first record", rec, ok, err)
		}
		if ok, err := s.Replace(ctx, "k1", []byte("revoked")); err != nil || !ok {
			t.Errorf("Replace = %v, %v", ok, err)
		}
		if rec, _, err := s.Get(ctx, "k1"); err != nil || string(rec) != "revoked" {
			t.Errorf("Get after Replace = %q, %v", rec, err)
		}
		if ids, recs, err := s.List(ctx, "", 10); err != nil || !slices.Equal(ids, []string{"k1"}) || len(recs) != 1 || string(recs[0]) != "revoked" {
			t.Errorf("List = %q, %q, %v", ids, recs, err)
		}
	})

	t.Run("List", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		var want []string
		for i := range 25 {
			want = append(want, fmt.Sprintf("id%02d", i))
		}
		order := slices.Clone(want)
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, id := range order {
			if ok, err := s.Insert(ctx, id, []byte("rec "+id)); err != nil || !ok {
				t.Fatalf("Insert(%s) = %v, %v", id, ok, err)
			}
		}
		var got []string
		after := ""
		for range 10 {
			ids, recs, err := s.List(ctx, after, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != len(recs) || len(ids) > 7 {
				t.Fatalf("List page: %d IDs, %d records", len(ids), len(recs))
			}
			for i, id := range ids {
				if string(recs[i]) != "rec "+id {
					t.Errorf("record of %s = %q", id, recs[i])
				}
			}
			got = append(got, ids...)
			if len(ids) < 7 {
				break
			}
			after = ids[len(ids)-1]
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}
		if ids, _, err := s.List(ctx, "id10x", 2); err != nil || !slices.Equal(ids, []string{"id11", "id12"}) {
			t.Errorf("List(after an absent ID) = %q, %v", ids, err)
		}
	})

	t.Run("ConcurrentInsert", func(t *testing.T) {
		s := open(t)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				ok, err := s.Insert(t.Context(), "same", []byte{byte(i)})
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d concurrent Inserts of one ID succeeded, want 1", wins.Load())
		}
	})

	t.Run("BadArguments", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		big := make([]byte, apikey.MaxRecordBytes+1)
		long := strings.Repeat("i", 1000)
		for name, call := range map[string]func() error{
			"insert empty ID": func() error { _, err := s.Insert(ctx, "", []byte("r")); return err },
			"insert long ID":  func() error { _, err := s.Insert(ctx, long, []byte("r")); return err },
			"insert big":      func() error { _, err := s.Insert(ctx, "k", big); return err },
			"replace big":     func() error { _, err := s.Replace(ctx, "k", big); return err },
			"get empty ID":    func() error { _, _, err := s.Get(ctx, ""); return err },
			"list limit 0":    func() error { _, _, err := s.List(ctx, "", 0); return err },
			"list limit big":  func() error { _, _, err := s.List(ctx, "", apikey.MaxListPage+1); return err },
		} {
			if err := call(); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
		if _, ok, _ := s.Get(ctx, "k"); ok {
			t.Error("a refused Insert stored its record")
		}
	})

	t.Run("Keys", func(t *testing.T) { apiKeysOver(t, open(t)) })
}

func newKeys(t *testing.T, s apikey.Store, secret string) *apikey.Keys {
	t.Helper()
	k, err := apikey.New(s, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const testServerSecret = "0123456789abcdef0123456789abcdef"

// apiKeysOver checks Keys over s: create, verify, revoke at once, list,
// and that the store never holds the key.
func apiKeysOver(t *testing.T, s apikey.Store) {
	ks, ctx := newKeys(t, s, testServerSecret), t.Context()
	plain, key, err := ks.Create(ctx, "ci", []string{"gpt-4o", "gpt-4o-mini", "gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	if !apikey.Looks(plain) || !strings.Contains(plain, key.ID) {
		t.Fatalf("Create = %q (ID %s): not of the key form", plain, key.ID)
	}
	if !slices.Equal(key.Models, []string{"gpt-4o", "gpt-4o-mini"}) {
		t.Errorf("Models = %q, want sorted without duplicates", key.Models)
	}
	got, err := ks.Verify(ctx, plain)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := gocmp.Diff(key, got); diff != "" {
		t.Errorf("Verify (-created +verified):\n%s", diff)
	}
	if got, err = ks.Verify(ctx, plain); err != nil || got.ID != key.ID { // from the cache
		t.Fatalf("second Verify = %+v, %v", got, err)
	}
	// The store holds neither the key nor its secret part.
	rec, _, err := s.Get(ctx, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimPrefix(plain, apikey.Prefix+key.ID)[:43]
	if bytes.Contains(rec, []byte(secret)) || bytes.Contains(rec, []byte(plain)) {
		t.Fatal("the store holds the key's secret")
	}
	// Another server secret verifies nothing.
	if _, err := newKeys(t, s, testServerSecret+"x").Verify(ctx, plain); !errors.Is(err, apikey.ErrInvalid) {
		t.Errorf("Verify under another server secret = %v, want ErrInvalid", err)
	}
	plain2, key2, err := ks.Create(ctx, "any model", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Revoke(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Verify(ctx, plain); !errors.Is(err, apikey.ErrInvalid) {
		t.Errorf("Verify after Revoke = %v, want ErrInvalid at once", err)
	}
	if err := ks.Revoke(ctx, key.ID); err != nil {
		t.Errorf("second Revoke = %v", err)
	}
	if k, err := ks.Verify(ctx, plain2); err != nil || k.ID != key2.ID || k.Models != nil {
		t.Errorf("Verify(other key) = %+v, %v", k, err)
	}
	list, err := ks.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("List = %+v, want 2 keys", list)
	}
	for _, k := range list {
		if k.Revoked != (k.ID == key.ID) || (k.Revoked && k.RevokedAt.IsZero()) {
			t.Errorf("listed %+v: revoked wrong", k)
		}
	}
	if k, err := ks.Get(ctx, key.ID); err != nil || !k.Revoked || k.Name != "ci" {
		t.Errorf("Get = %+v, %v", k, err)
	}
	if err := ks.Revoke(ctx, "AAAAAAAAAAAAAAAA"); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Revoke(unknown) = %v, want ErrNotFound", err)
	}
}

// APIKeysShared checks that a key created through one connection verifies
// through another, and that a revocation through the first is seen by a
// second node that had not cached the key.
func APIKeysShared(t *testing.T, a, b apikey.Store) {
	ka, kb, ctx := newKeys(t, a, testServerSecret), newKeys(t, b, testServerSecret), t.Context()
	plain, key, err := ka.Create(ctx, "shared", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ka.Verify(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if err := ka.Revoke(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := kb.Verify(ctx, plain); !errors.Is(err, apikey.ErrInvalid) {
		t.Errorf("Verify on the other node after Revoke = %v, want ErrInvalid", err)
	}
	plain, _, err = kb.Create(ctx, "second", []string{"m"})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ka.Verify(ctx, plain); err != nil || !k.Allows("m") || k.Allows("n") {
		t.Errorf("Verify of the other node's key = %+v, %v", k, err)
	}
}
