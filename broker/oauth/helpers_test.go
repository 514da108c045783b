package oauth_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// testStore returns the OAuth store of a fresh bbolt file.
func testStore(t testing.TB) (oauth.Store, *bolt.DB) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.OAuth(), db
}

// fastArgon2 keeps tests quick; production uses DefaultArgon2.
var fastArgon2 = argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// staticClients resolves clients from a map.
type staticClients struct {
	mu sync.Mutex
	m  map[string]*oauth.Client
}

func (s *staticClients) Client(_ context.Context, id string) (*oauth.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[id]; ok {
		return c, nil
	}
	return nil, oauth.ErrNotFound
}
