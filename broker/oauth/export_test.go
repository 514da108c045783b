package oauth

import (
	"context"
	"time"
)

// Test-only access for the external tests (package oauth_test), which
// may import the store backends that import this package.

type FositeStore = fositeStore

func NewFositeStore(s Store, clients ClientResolver, replay interface {
	Once(ctx context.Context, key string, until time.Time) (bool, error)
}) *FositeStore {
	return &fositeStore{s: s, clients: clients, replay: replay}
}

func WarmDummyHash(u *Users) { u.dummy() }
