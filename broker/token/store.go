package token

import (
	"context"
	"time"
)

// KeyRecord is one signing key as a [KeyStore] keeps it.
type KeyRecord struct {
	// ID is the key ID (kid): the key's RFC 7638 SHA-256 thumbprint,
	// base64url without padding. IDs are 1 to 128 bytes of the base64url
	// alphabet.
	ID string
	// Generation numbers keys in the order they were added, from 1.
	Generation uint64
	// Data is the private key as a JWK (JSON, with kid, alg and use). It
	// is stored as given and not interpreted by the store. Today it is
	// plaintext; the vault's envelope encryption will wrap it before it
	// reaches the store.
	Data []byte
	// Created is when the key was generated.
	Created time.Time
	// Activate is when the key becomes current for signing; zero means
	// from the start.
	Activate time.Time
}

// KeyStore keeps the signing keys that every node shares. store/bolt and
// store/redis implement it; store/storetest checks them.
//
// Generations make key creation safe when several nodes start or rotate
// at once: [KeyStore.AddKey] succeeds only for the one generation that
// follows the highest ever added, so of two nodes racing to add a key
// exactly one does, and the other adopts that key.
//
// Implementations are safe for concurrent use, by the goroutines of one
// process and by every node sharing the store. A returned error other than
// [ErrConflict] means the store failed; nothing is then known about a
// write.
type KeyStore interface {
	// Keys returns every stored key in generation order, oldest first; an
	// empty store has none and is not an error. The records are the
	// caller's to keep.
	Keys(ctx context.Context) ([]KeyRecord, error)
	// AddKey stores rec if rec.Generation is one more than the highest
	// generation ever added to the store (so 1 for an empty store) and no
	// stored key has rec.ID. Otherwise it returns ErrConflict and writes
	// nothing. Checking and writing are one atomic step: of concurrent
	// calls for one generation, on any node, exactly one succeeds.
	AddKey(ctx context.Context, rec KeyRecord) error
	// DeleteKey removes the key with the given ID; removing an absent key
	// is not an error. It does not lower the generation counter: a
	// generation is added at most once.
	DeleteKey(ctx context.Context, id string) error
}

// RevocationList answers whether an access token was revoked. Broker fills
// it from the store and its change notifications; [Validator.Validate]
// asks it on every call, cache hits included, so it should answer from
// memory and without allocating. It is safe for concurrent use.
type RevocationList interface {
	// IsRevoked reports whether the token with the given jti is revoked.
	// An error rejects the token.
	IsRevoked(ctx context.Context, jti string) (bool, error)
}
