package audit

import (
	"context"
	"errors"
	"time"
)

// Record is one stored item of a chain: its position, which for events is
// the seq the backend files it under, and its stored bytes.
type Record struct {
	Seq  uint64
	Data []byte
}

// ErrConflict is returned by [Store.Append] when the chain's last position is
// not the one the writer expected: another process writes the same node's
// chain.
var ErrConflict = errors.New("audit: chain head moved: another writer uses this node ID")

// ErrInUse is returned by [Store.Claim] and [Open] when another process
// holds the lease on a node's chain: two live processes with one node ID.
var ErrInUse = errors.New("audit: node ID is in use by another process")

// Reader reads stored chains. Implementations are safe for concurrent use and
// return records exactly as stored, without validating them: that is
// [Verify]'s job.
type Reader interface {
	// Nodes returns the IDs of every node that has a chain or a key, sorted.
	Nodes(ctx context.Context) ([]string, error)
	// Scan calls fn for each event record of node whose position is at least
	// from, in position order (records sharing a position in an arbitrary but
	// stable order). It stops at the first error fn returns and returns it.
	// Data is valid only during the call.
	Scan(ctx context.Context, node string, from uint64, fn func(Record) error) error
	// Checkpoints returns the node's checkpoint records in position order.
	Checkpoints(ctx context.Context, node string) ([]Record, error)
	// Keys returns the public keys registered for node, by key ID.
	Keys(ctx context.Context, node string) (map[string][]byte, error)
	// Last returns the node's last event record; ok is false for an empty
	// chain.
	Last(ctx context.Context, node string) (rec Record, ok bool, err error)
}

// Store is where a [Log] writes. Besides reading, it appends atomically and
// durably: when Append returns nil, every record given is on stable storage
// (or, for networked backends, acknowledged by the server) and survives a
// crash of this process.
type Store interface {
	Reader
	// Append stores events (consecutive positions following prev) and
	// checkpoints for node in one atomic write. It returns ErrConflict, and
	// writes nothing, when the chain's last position is not prev.
	Append(ctx context.Context, node string, prev uint64, events, checkpoints []Record) error
	// PutKey registers a checkpoint public key for node.
	PutKey(ctx context.Context, node, keyID string, pub []byte) error
	// Claim takes, or renews, the lease on writing node's chain for owner
	// until ttl from now. It returns ErrInUse while another owner holds an
	// unexpired lease. Taking and checking are one atomic step.
	Claim(ctx context.Context, node, owner string, ttl time.Duration) error
	// Release ends owner's lease on node, if owner holds it.
	Release(ctx context.Context, node, owner string) error
}
