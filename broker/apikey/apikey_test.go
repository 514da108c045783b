package apikey_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/apikey"
	"github.com/subzero-gateway/subzero/store/bolt"
)

const serverSecret = "0123456789abcdef0123456789abcdef"

func openStore(t testing.TB) *bolt.APIKeyStore {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.APIKeys()
}

func newKeys(t testing.TB, s apikey.Store) *apikey.Keys {
	t.Helper()
	k, err := apikey.New(s, []byte(serverSecret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNew(t *testing.T) {
	if _, err := apikey.New(nil, []byte(serverSecret)); err == nil {
		t.Error("New(nil store): no error")
	}
	_, err := apikey.New(openStore(t), []byte("short"))
	if err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("New(short secret) = %v; want an error without the secret", err)
	}
}

func TestCreateChecks(t *testing.T) {
	ks, ctx := newKeys(t, openStore(t)), t.Context()
	for name, tc := range map[string]struct {
		name   string
		models []string
	}{
		"empty name":   {"", nil},
		"long name":    {strings.Repeat("n", apikey.MaxNameBytes+1), nil},
		"control":      {"a\nb", nil},
		"bad UTF-8":    {"\xff", nil},
		"no models":    {"n", []string{}},
		"empty model":  {"n", []string{""}},
		"spaced model": {"n", []string{"gpt 4"}},
		"long model":   {"n", []string{strings.Repeat("m", apikey.MaxModelBytes+1)}},
		"many models":  {"n", make([]string, apikey.MaxModels+1)},
	} {
		if p, _, err := ks.Create(ctx, tc.name, tc.models); err == nil || p != "" {
			t.Errorf("%s: Create = %q, %v; want an error", name, p, err)
		}
	}
	if list, err := ks.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List after refused creates = %+v, %v", list, err)
	}
}

func TestVerifyInvalid(t *testing.T) {
	ks, ctx := newKeys(t, openStore(t)), t.Context()
	plain, key, err := ks.Create(ctx, "ci", nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := plain[len(apikey.Prefix)+16 : len(plain)-6]
	other := strings.Repeat("x", len(secret))
	for name, s := range map[string]string{
		"empty":        "",
		"JWT":          "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
		"typo":         plain[:30] + string(plain[30]^1) + plain[31:],
		"truncated":    plain[:len(plain)-1],
		"wrong secret": apikey.Format(key.ID, other),
		"unknown ID":   apikey.Format("ZZZZZZZZZZZZZZZZ", secret),
		"padded":       " " + plain,
		"huge":         strings.Repeat("szk_", 1<<16),
		"other case":   strings.ToLower(plain),
	} {
		if _, err := ks.Verify(ctx, s); !errors.Is(err, apikey.ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	// A wrong secret is refused from the cache too.
	if _, err := ks.Verify(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Verify(ctx, apikey.Format(key.ID, other)); !errors.Is(err, apikey.ErrInvalid) {
		t.Errorf("wrong secret with the key cached: %v", err)
	}
	if !apikey.Looks(apikey.Format(key.ID, other)) || apikey.Looks("szk_abc") || apikey.Looks("eyJ") {
		t.Error("Looks is wrong")
	}
}

// TestRevokeRace revokes while other goroutines verify: once Revoke
// returns, no Verify on this node admits the key.
func TestRevokeRace(t *testing.T) {
	ks, ctx := newKeys(t, openStore(t)), t.Context()
	for range 20 {
		plain, key, err := ks.Create(ctx, "race", nil)
		if err != nil {
			t.Fatal(err)
		}
		var revoked sync.WaitGroup
		revoked.Add(1)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 20 {
					_, _ = ks.Verify(ctx, plain)
				}
				revoked.Wait()
				if _, err := ks.Verify(ctx, plain); !errors.Is(err, apikey.ErrInvalid) {
					t.Errorf("Verify after Revoke returned = %v", err)
				}
			})
		}
		if err := ks.Revoke(ctx, key.ID); err != nil {
			t.Fatal(err)
		}
		revoked.Done()
		wg.Wait()
	}
}

// storeFunc is an apikey.Store whose Get is a function; the rest store
// nothing.
type storeFunc func(id string) ([]byte, bool, error)

func (f storeFunc) Insert(context.Context, string, []byte) (bool, error)  { return true, nil }
func (f storeFunc) Replace(context.Context, string, []byte) (bool, error) { return true, nil }
func (f storeFunc) Get(_ context.Context, id string) ([]byte, bool, error) {
	return f(id)
}
func (f storeFunc) List(context.Context, string, int) ([]string, [][]byte, error) {
	return nil, nil, nil
}

// TestStoreFailure checks that a store failure or a corrupt record is an
// error other than ErrInvalid (the caller fails closed, and does not blame
// the key) and never admits the key.
func TestStoreFailure(t *testing.T) {
	plain := apikey.Format("AbCdEfGhIjKlMnOp", strings.Repeat("s", 43))
	for name, get := range map[string]storeFunc{
		"error":   func(string) ([]byte, bool, error) { return nil, false, errors.New("connection refused") },
		"corrupt": func(string) ([]byte, bool, error) { return []byte("{"), true, nil },
		"other ID": func(string) ([]byte, bool, error) {
			return []byte(`{"v":1,"id":"XXXXXXXXXXXXXXXX","name":"n","models":null,"created":"2026-01-01T00:00:00Z","hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`), true, nil
		},
		"extra keys": func(string) ([]byte, bool, error) { return []byte(`{"v":1,"secret":"x"}`), true, nil },
	} {
		ks := newKeys(t, get)
		k, err := ks.Verify(t.Context(), plain)
		if err == nil || errors.Is(err, apikey.ErrInvalid) || k.ID != "" {
			t.Errorf("%s: Verify = %+v, %v", name, k, err)
		}
		if strings.Contains(err.Error(), strings.Repeat("s", 43)) {
			t.Errorf("%s: error %q holds the secret", name, err)
		}
	}
}

func TestGetRevokeUnknown(t *testing.T) {
	ks, ctx := newKeys(t, openStore(t)), t.Context()
	for _, id := range []string{"", "short", "AAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAA!"} {
		if _, err := ks.Get(ctx, id); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("Get(%q) = %v", id, err)
		}
		if err := ks.Revoke(ctx, id); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("Revoke(%q) = %v", id, err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	ks, ctx := newKeys(b, openStore(b)), b.Context()
	plain, _, err := ks.Create(ctx, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.Verify(ctx, plain); err != nil {
			b.Fatal(err)
		}
	}
}
