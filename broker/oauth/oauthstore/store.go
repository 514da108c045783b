// Package oauthstore declares the state the OAuth authorization server
// keeps, [Store], with only the standard library, so that the backends
// that implement it (store/bolt, store/redis) do not depend on
// broker/oauth and its OAuth libraries. broker/oauth re-exports every
// name.
package oauthstore

import (
	"context"
	"errors"
	"time"
)

// Store errors.
var (
	ErrNotFound = errors.New("oauth: not found")
	ErrExists   = errors.New("oauth: already exists")
	ErrInactive = errors.New("oauth: grant already used or revoked")
)

// Kind names a family of grant records.
type Kind string

// The grant kinds the authorization server keeps.
const (
	KindCode    Kind = "code"    // authorization codes
	KindPKCE    Kind = "pkce"    // PKCE sessions of authorization codes
	KindAccess  Kind = "access"  // access token sessions (for introspection and revocation)
	KindRefresh Kind = "refresh" // refresh tokens
)

// Grant is a stored grant record: the opaque request data this package
// wrote, the OAuth request it belongs to, and whether it is still active.
type Grant struct {
	RequestID string
	Data      []byte
	Active    bool
	Expires   time.Time
}

// Store keeps the authorization server's state as opaque records; this
// package encodes and decodes them. Implementations (store/bolt,
// store/redis) are safe for concurrent use by many nodes sharing one
// backend: every "atomically" below holds across nodes, with no
// check-then-set.
//
// Signatures and IDs are at most 512 bytes; records at most 64 KiB.
// Records past their expiry behave as absent (ErrNotFound) and may be
// deleted by the backend at any time after.
type Store interface {
	// CreateClient stores a new client; ErrExists if id is taken.
	CreateClient(ctx context.Context, id string, data []byte) error
	// PutClient creates or replaces a client.
	PutClient(ctx context.Context, id string, data []byte) error
	// GetClient returns a client's record, or ErrNotFound.
	GetClient(ctx context.Context, id string) ([]byte, error)
	// DeleteClient removes a client; absent is not an error.
	DeleteClient(ctx context.Context, id string) error

	// PutGrant stores an active grant of kind under sig, indexed under its
	// request ID, until expires. ErrExists if sig is taken.
	PutGrant(ctx context.Context, kind Kind, sig string, g Grant) error
	// GetGrant returns the grant of kind under sig, active or not;
	// ErrNotFound when absent or expired.
	GetGrant(ctx context.Context, kind Kind, sig string) (Grant, error)
	// Deactivate atomically marks an active grant inactive and returns it
	// as it was. When it was already inactive it returns the grant and
	// ErrInactive (a reused code or refresh token); ErrNotFound when
	// absent. Exactly one of concurrent callers gets a nil error.
	Deactivate(ctx context.Context, kind Kind, sig string) (Grant, error)
	// DeleteGrant removes a grant; absent is not an error.
	DeleteGrant(ctx context.Context, kind Kind, sig string) error
	// RevokeRequest deactivates every grant of the given kinds that belongs
	// to requestID (a token family) and returns how many it changed.
	RevokeRequest(ctx context.Context, requestID string, kinds ...Kind) (int, error)

	// PutRecord creates or replaces a small record of a named collection
	// (users, consents, signing keys of providers...) until expires (zero:
	// never).
	PutRecord(ctx context.Context, collection, key string, data []byte, expires time.Time) error
	// GetRecord returns a record or ErrNotFound.
	GetRecord(ctx context.Context, collection, key string) ([]byte, error)
	// DeleteRecord removes a record; absent is not an error.
	DeleteRecord(ctx context.Context, collection, key string) error
	// ListRecords calls fn for every live record of a collection, in key
	// order.
	ListRecords(ctx context.Context, collection string, fn func(key string, data []byte) error) error
}
