// Package pinstore declares the state tool pinning keeps, [Store], with
// only the standard library, so that the backends that implement it
// (store/bolt, store/redis) do not depend on mcp/pin and its MCP library.
// mcp/pin re-exports it as pin.Store.
package pinstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store errors.
var (
	// ErrNotFound: no record is stored under the key.
	ErrNotFound = errors.New("pinstore: not found")
	// ErrConflict: Put's version is not the stored record's version (or
	// the key is stored when the version is 0); the caller re-reads.
	ErrConflict = errors.New("pinstore: version conflict")
	// ErrTooLarge: a field exceeds its limit.
	ErrTooLarge = errors.New("pinstore: too large")
)

// Limits every backend enforces (ErrTooLarge).
const (
	MaxName       = 256       // bytes in Upstream or Tool
	MaxHash       = 128       // bytes in Hash or PendingHash
	MaxActor      = 512       // bytes in ApprovedBy
	MaxDefinition = 256 << 10 // bytes in Definition or Pending
	MaxList       = 1000      // records one List returns at most
)

// State is where a record stands.
type State string

// The states of a record.
const (
	// StateApproved: calls to the tool are allowed while its definition
	// hashes to Hash.
	StateApproved State = "approved"
	// StateQuarantined: the tool is hidden and its calls denied until an
	// admin approves Pending (or re-approves Hash).
	StateQuarantined State = "quarantined"
)

// Key names a tool: the upstream's configured name and the tool's name
// as the upstream gives it (before namespacing).
type Key struct {
	Upstream string
	Tool     string
}

// String returns upstream__tool, the form configured pins use.
func (k Key) String() string { return k.Upstream + "__" + k.Tool }

// Compare orders keys by upstream, then tool, byte-wise: List's order.
func (k Key) Compare(o Key) int {
	return cmp.Or(strings.Compare(k.Upstream, o.Upstream), strings.Compare(k.Tool, o.Tool))
}

// Record is what is stored about one tool.
type Record struct {
	Key

	State State
	// Hash and Definition are the approved definition's hash
	// ("sha256:<hex>") and canonical JSON; both are empty for a tool
	// quarantined when first seen, which was never approved.
	Hash       string
	Definition []byte
	// PendingHash and Pending are the definition that quarantined the
	// tool, set only in StateQuarantined.
	PendingHash string
	Pending     []byte
	// ApprovedBy names who approved Hash ("tofu" for trust on first use,
	// "config" for a configured pin, else the admin), at ApprovedAt.
	ApprovedBy string
	ApprovedAt time.Time
	// FirstSeen is when the tool was first recorded; QuarantinedAt when
	// it was last quarantined (zero when approved).
	FirstSeen     time.Time
	QuarantinedAt time.Time
	// Version is set by the store: a value of its change counter, never
	// reused (also not after Delete), so that a compare-and-swap on it
	// cannot be fooled by a record deleted and written again.
	Version uint64
}

// Store keeps one record per tool. Implementations are safe for
// concurrent use by many nodes sharing one backend; every method returns
// the context's error when it is done.
//
// The revision is a counter that starts at 0 in an empty store and grows
// with every successful Put and Delete; nodes poll it to learn that
// another node changed a record.
type Store interface {
	// Get returns the record of k, or ErrNotFound.
	Get(ctx context.Context, k Key) (Record, error)

	// List returns up to limit records (1 to MaxList) in key order, those
	// whose key is after `after` (all when after is the zero Key).
	List(ctx context.Context, after Key, limit int) ([]Record, error)

	// Put stores r if the stored record of r.Key has version r.Version,
	// or if none is stored and r.Version is 0; it fails with ErrConflict
	// otherwise, storing nothing. It returns the stored record's new
	// version, which is the new revision. Records failing [CheckRecord]
	// are refused (ErrTooLarge past the limits).
	Put(ctx context.Context, r Record) (version uint64, err error)

	// Delete removes the record of k, or fails with ErrNotFound.
	Delete(ctx context.Context, k Key) error

	// Revision returns the current revision.
	Revision(ctx context.Context) (uint64, error)
}

// CheckKey checks a key against the rules every backend enforces:
// upstream and tool non-empty, at most MaxName bytes, without 0x00.
func CheckKey(k Key) error {
	for _, f := range []struct{ name, v string }{{"upstream", k.Upstream}, {"tool", k.Tool}} {
		switch {
		case f.v == "":
			return fmt.Errorf("%s: empty", f.name)
		case len(f.v) > MaxName:
			return fmt.Errorf("%s: %d bytes, more than %d: %w", f.name, len(f.v), MaxName, ErrTooLarge)
		case strings.IndexByte(f.v, 0) >= 0:
			return fmt.Errorf("%s: holds a 0x00 byte", f.name)
		}
	}
	return nil
}

// CheckRecord checks a record against the rules every backend enforces
// before the store is touched: a valid key, a known state, the size
// limits, and pending fields set exactly when quarantined.
func CheckRecord(r Record) error {
	if err := CheckKey(r.Key); err != nil {
		return err
	}
	switch r.State {
	case StateApproved:
		if r.Hash == "" || r.PendingHash != "" || len(r.Pending) != 0 {
			return errors.New("approved record: needs a hash and no pending definition")
		}
	case StateQuarantined:
		if r.PendingHash == "" {
			return errors.New("quarantined record: needs a pending hash")
		}
	default:
		return fmt.Errorf("state %q: unknown", r.State)
	}
	for _, f := range []struct {
		name string
		n    int
		max  int
	}{
		{"hash", len(r.Hash), MaxHash}, {"pending hash", len(r.PendingHash), MaxHash},
		{"approved by", len(r.ApprovedBy), MaxActor},
		{"definition", len(r.Definition), MaxDefinition}, {"pending definition", len(r.Pending), MaxDefinition},
	} {
		if f.n > f.max {
			return fmt.Errorf("%s: %d bytes, more than %d: %w", f.name, f.n, f.max, ErrTooLarge)
		}
	}
	return nil
}

// CheckLimit checks List's limit.
func CheckLimit(limit int) error {
	if limit < 1 || limit > MaxList {
		return fmt.Errorf("limit %d: want 1 to %d", limit, MaxList)
	}
	return nil
}
