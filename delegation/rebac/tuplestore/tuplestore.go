// Package tuplestore declares the state the ReBAC engine keeps, [Store],
// with only the standard library, so that the backends that implement it
// (store/bolt, store/redis) do not depend on delegation/rebac and its
// OpenFGA and CEL libraries. delegation/rebac re-exports it as TupleStore.
package tuplestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Store errors.
var (
	// ErrNotFound: no model has been written yet.
	ErrNotFound = errors.New("tuplestore: not found")
	// ErrExists: a write names a tuple key that is already stored.
	ErrExists = errors.New("tuplestore: tuple already exists")
	// ErrMissing: a delete names a tuple key that is not stored.
	ErrMissing = errors.New("tuplestore: tuple does not exist")
	// ErrCompacted: Changes was asked for revisions the store no longer
	// keeps; the caller reloads with Snapshot.
	ErrCompacted = errors.New("tuplestore: changes compacted")
	// ErrTooLarge: a write holds more than MaxWrite tuples, or a field
	// exceeds its size limit.
	ErrTooLarge = errors.New("tuplestore: write too large")
)

// Limits every backend enforces (ErrTooLarge).
const (
	MaxWrite      = 10_000 // tuples written plus deleted in one Write
	MaxKeyField   = 512    // bytes in Object, Relation or User
	MaxCondition  = 4096   // bytes in Condition (JSON)
	MaxModel      = 1 << 20
	MaxModelID    = 64
	KeepChanges   = 100_000 // changes kept at least, before compaction
	ChangesMaxHop = 1_000   // most changes one Changes call returns
)

// Tuple is one stored relationship. (Object, Relation, User) is its key;
// Condition is the JSON of its condition ({"name":..., "context":{...}})
// or nil, stored and returned byte for byte.
type Tuple struct {
	Object    string
	Relation  string
	User      string
	Condition []byte
}

// Op is what a Change did.
type Op uint8

// The change operations.
const (
	OpWrite  Op = 1 // Tuple was written
	OpDelete Op = 2 // Tuple was deleted (Condition is nil)
	OpModel  Op = 3 // ModelID became the current model
)

// Change is one entry of the change log. All changes of one Write share
// its revision and appear in the order: deletes, then writes.
type Change struct {
	Revision uint64
	Op       Op
	Tuple    Tuple
	ModelID  string
}

// Model is a stored authorization model: an ID the engine chose (at most
// MaxModelID bytes) and the engine's encoding of it (at most MaxModel).
type Model struct {
	ID   string
	Data []byte
}

// Store keeps tuples, models and the change log that lets every node's
// in-process index follow writes made on any node. Implementations are
// safe for concurrent use by many nodes sharing one backend.
//
// The revision is a counter that starts at 0 in an empty store and
// grows by exactly 1 with every successful Write and WriteModel; it is
// never reused.
type Store interface {
	// Write atomically deletes then writes tuples and returns the new
	// revision. It fails, applying nothing, with ErrExists when a written
	// key is stored (and not deleted by the same call), ErrMissing when
	// a deleted key is not stored, ErrTooLarge past the limits. A call
	// with nothing to write or delete returns the current revision.
	Write(ctx context.Context, writes, deletes []Tuple) (revision uint64, err error)

	// Snapshot calls fn for every stored tuple and returns a revision R
	// such that replaying Changes(R) over what fn saw yields the current
	// state: the scan may be fuzzy (Redis scans while others write), so
	// applying a change is idempotent (write = upsert, delete = remove).
	// An error from fn stops the scan and is returned.
	Snapshot(ctx context.Context, fn func(Tuple) error) (revision uint64, err error)

	// Changes returns up to ChangesMaxHop changes with revision > after,
	// in revision order, never splitting one revision across calls. It
	// returns ErrCompacted when changes after `after` were discarded.
	Changes(ctx context.Context, after uint64) ([]Change, error)

	// Revision returns the current revision.
	Revision(ctx context.Context) (uint64, error)

	// Read returns the stored tuples whose fields equal the non-empty
	// fields of filter (Condition is ignored), in key order, at most
	// limit of them, starting after the key of `after` when it is not
	// the zero Tuple. It serves management reads, not checks.
	Read(ctx context.Context, filter Tuple, after Tuple, limit int) ([]Tuple, error)

	// WriteModel stores m, makes it the current model and returns the
	// new revision; the change log records OpModel. Writing an ID that
	// is stored replaces nothing and fails with ErrExists.
	WriteModel(ctx context.Context, m Model) (revision uint64, err error)

	// Model returns the current model, or ErrNotFound.
	Model(ctx context.Context) (Model, error)
}

// KeyString names a tuple in errors: object#relation@user, never its
// condition.
func KeyString(t Tuple) string { return t.Object + "#" + t.Relation + "@" + t.User }

func checkField(what, s string) error {
	switch {
	case len(s) > MaxKeyField:
		return fmt.Errorf("%s: %d bytes, more than %d: %w", what, len(s), MaxKeyField, ErrTooLarge)
	case s == "":
		return fmt.Errorf("%s: empty", what)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%s: holds a 0x00 byte", what)
	}
	return nil
}

// CheckWrite checks a Write's arguments against the limits every backend
// enforces, before the store is touched: at most MaxWrite tuples, key
// fields non-empty, without 0x00 and at most MaxKeyField bytes, conditions
// at most MaxCondition bytes.
func CheckWrite(writes, deletes []Tuple) error {
	if n := len(writes) + len(deletes); n > MaxWrite {
		return fmt.Errorf("%d tuples, more than %d: %w", n, MaxWrite, ErrTooLarge)
	}
	for _, list := range []struct {
		name   string
		tuples []Tuple
	}{{"deletes", deletes}, {"writes", writes}} {
		for i, t := range list.tuples {
			at := fmt.Sprintf("%s[%d]", list.name, i)
			if err := checkField(at+".object", t.Object); err != nil {
				return err
			}
			if err := checkField(at+".relation", t.Relation); err != nil {
				return err
			}
			if err := checkField(at+".user", t.User); err != nil {
				return err
			}
			if len(t.Condition) > MaxCondition {
				return fmt.Errorf("%s.condition: %d bytes, more than %d: %w", at, len(t.Condition), MaxCondition, ErrTooLarge)
			}
		}
	}
	return nil
}

// CheckModel checks a model against the limits every backend enforces.
func CheckModel(m Model) error {
	switch {
	case m.ID == "":
		return errors.New("model ID: empty")
	case len(m.ID) > MaxModelID:
		return fmt.Errorf("model ID: %d bytes, more than %d: %w", len(m.ID), MaxModelID, ErrTooLarge)
	case len(m.Data) > MaxModel:
		return fmt.Errorf("model %q: %d bytes, more than %d: %w", m.ID, len(m.Data), MaxModel, ErrTooLarge)
	}
	return nil
}
