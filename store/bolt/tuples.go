package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

// Layout of the ReBAC tuple store, in five top-level buckets:
//
//	rebac_tuples   object 0x00 relation 0x00 user -> condition (empty: none)
//	rebac_users    user 0x00 object 0x00 relation -> empty
//	rebac_changes  revision (8 bytes BE) || ordinal (4 bytes BE) -> change
//	rebac_models   model ID -> model data
//	rebac_meta     "revision", "floor", "changes" -> 8 bytes BE; "model" -> model ID
//
// Fields hold no 0x00, so byte order of rebac_tuples is the order of
// (object, relation, user), the key order Read promises, and rebac_users
// holds one user's tuples in that same order. A change is its op byte,
// then for a tuple uvarint(len) || bytes of object, relation and user
// followed by the condition, for a model the model ID. The ordinal counts
// a revision's changes from 0, deletes first. In rebac_meta, revision is
// the current revision, floor the highest revision whose changes were
// discarded (0: none), changes the number of changes kept and model the
// current model's ID.
var (
	bucketTuples     = []byte("rebac_tuples")
	bucketTupleUsers = []byte("rebac_users")
	bucketChanges    = []byte("rebac_changes")
	bucketModels     = []byte("rebac_models")
	bucketTupleMeta  = []byte("rebac_meta")

	metaRevision = []byte("revision")
	metaFloor    = []byte("floor")
	metaChanges  = []byte("changes")
	metaModel    = []byte("model")
)

// TupleStore implements [tuplestore.Store] in a bbolt file. Every Write
// and WriteModel is one fsynced transaction that checks, applies, appends
// to the change log and compacts it, so it is all-or-nothing, and bbolt
// runs them one at a time. Snapshot reads in one read transaction and is
// exact.
//
// Fields of tuples must be non-empty and hold no 0x00; model IDs must be
// non-empty.
type TupleStore struct {
	db   *bbolt.DB
	keep uint64 // changes kept at least: tuplestore.KeepChanges but in tests
}

var _ tuplestore.Store = (*TupleStore)(nil)

// Tuples returns the ReBAC tuple store kept in this file.
func (d *DB) Tuples() *TupleStore { return &TupleStore{db: d.db, keep: tuplestore.KeepChanges} }

// tupleTx is a transaction with the store's buckets, which are nil in a
// read transaction of a file that has none yet.
type tupleTx struct {
	tuples, users, changes, models, meta *bbolt.Bucket
}

func viewTuples(tx *bbolt.Tx) *tupleTx {
	return &tupleTx{
		tuples:  tx.Bucket(bucketTuples),
		users:   tx.Bucket(bucketTupleUsers),
		changes: tx.Bucket(bucketChanges),
		models:  tx.Bucket(bucketModels),
		meta:    tx.Bucket(bucketTupleMeta),
	}
}

func updateTuples(tx *bbolt.Tx) (*tupleTx, error) {
	t := &tupleTx{}
	for _, b := range []struct {
		p    **bbolt.Bucket
		name []byte
	}{
		{&t.tuples, bucketTuples}, {&t.users, bucketTupleUsers}, {&t.changes, bucketChanges},
		{&t.models, bucketModels}, {&t.meta, bucketTupleMeta},
	} {
		var err error
		if *b.p, err = tx.CreateBucketIfNotExists(b.name); err != nil {
			return nil, err
		}
	}
	t.changes.FillPercent = 1 // appended in key order; compaction deletes from the front
	return t, nil
}

func (t *tupleTx) meta64(name []byte) uint64 {
	if t.meta == nil {
		return 0
	}
	v := t.meta.Get(name)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (t *tupleTx) setMeta64(name []byte, n uint64) error {
	return t.meta.Put(name, binary.BigEndian.AppendUint64(make([]byte, 0, 8), n))
}

// get returns the value of k in b and whether b holds k. A cursor tells
// an empty value from a missing key, which Get does not within a write
// transaction.
func get(b *bbolt.Bucket, k []byte) (v []byte, ok bool) {
	got, v := b.Cursor().Seek(k)
	if got == nil || !bytes.Equal(got, k) {
		return nil, false
	}
	return v, true
}

func has(b *bbolt.Bucket, k []byte) bool { _, ok := get(b, k); return ok }

// tupleKey returns object 0x00 relation 0x00 user.
func tupleKey(t tuplestore.Tuple) []byte {
	k := make([]byte, 0, len(t.Object)+len(t.Relation)+len(t.User)+2)
	return append(append(append(append(append(k, t.Object...), 0), t.Relation...), 0), t.User...)
}

// userKey returns user 0x00 object 0x00 relation.
func userKey(t tuplestore.Tuple) []byte {
	k := make([]byte, 0, len(t.Object)+len(t.Relation)+len(t.User)+2)
	return append(append(append(append(append(k, t.User...), 0), t.Object...), 0), t.Relation...)
}

// splitKey splits a key of rebac_tuples into its fields.
func splitKey(k []byte) (tuplestore.Tuple, bool) {
	o, rest, ok1 := bytes.Cut(k, []byte{0})
	r, u, ok2 := bytes.Cut(rest, []byte{0})
	return tuplestore.Tuple{Object: string(o), Relation: string(r), User: string(u)}, ok1 && ok2
}

// splitUserKey splits a key of rebac_users into the tuple key's fields.
func splitUserKey(k []byte) (tuplestore.Tuple, bool) {
	u, rest, ok1 := bytes.Cut(k, []byte{0})
	o, r, ok2 := bytes.Cut(rest, []byte{0})
	return tuplestore.Tuple{Object: string(o), Relation: string(r), User: string(u)}, ok1 && ok2
}

// condition returns a copy of a stored condition, nil for none.
func condition(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return bytes.Clone(v)
}

func changeKey(rev uint64, ord uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(make([]byte, 0, 12), rev), ord)
}

func encodeChange(op tuplestore.Op, t tuplestore.Tuple) []byte {
	v := make([]byte, 0, 1+3*binary.MaxVarintLen16+len(t.Object)+len(t.Relation)+len(t.User)+len(t.Condition))
	v = lengthPrefixed(lengthPrefixed(lengthPrefixed(append(v, byte(op)), t.Object), t.Relation), t.User)
	return append(v, t.Condition...)
}

func decodeChange(k, v []byte) (tuplestore.Change, error) {
	if len(k) != 12 || len(v) == 0 {
		return tuplestore.Change{}, errCorrupt
	}
	c := tuplestore.Change{Revision: binary.BigEndian.Uint64(k), Op: tuplestore.Op(v[0])}
	rest := v[1:]
	if c.Op == tuplestore.OpModel {
		c.ModelID = string(rest)
		return c, nil
	}
	var fields [3]string
	for i := range fields {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return tuplestore.Change{}, errCorrupt
		}
		fields[i], rest = string(rest[w:w+int(n)]), rest[w+int(n):]
	}
	c.Tuple = tuplestore.Tuple{Object: fields[0], Relation: fields[1], User: fields[2], Condition: condition(rest)}
	return c, nil
}

// tupleWrap adds the package's context to an error that is not the
// context's.
func tupleWrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("bolt: tuples: %s: %w", op, err)
}

// Write implements [tuplestore.Store] in one fsynced transaction.
func (s *TupleStore) Write(ctx context.Context, writes, deletes []tuplestore.Tuple) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := tuplestore.CheckWrite(writes, deletes); err != nil {
		return 0, tupleWrap("write", err)
	}
	if len(writes)+len(deletes) == 0 {
		return s.Revision(ctx)
	}
	var rev uint64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		t, err := updateTuples(tx)
		if err != nil {
			return err
		}
		rev = t.meta64(metaRevision) + 1
		var ord uint32
		for i, d := range deletes {
			k := tupleKey(d)
			if !has(t.tuples, k) {
				return fmt.Errorf("deletes[%d] %q: %w", i, tuplestore.KeyString(d), tuplestore.ErrMissing)
			}
			if err := errors.Join(t.tuples.Delete(k), t.users.Delete(userKey(d)),
				t.changes.Put(changeKey(rev, ord), encodeChange(tuplestore.OpDelete, tuplestore.Tuple{Object: d.Object, Relation: d.Relation, User: d.User}))); err != nil {
				return err
			}
			ord++
		}
		for i, w := range writes {
			k := tupleKey(w)
			if has(t.tuples, k) {
				return fmt.Errorf("writes[%d] %q: %w", i, tuplestore.KeyString(w), tuplestore.ErrExists)
			}
			if err := errors.Join(t.tuples.Put(k, bytes.Clone(w.Condition)), t.users.Put(userKey(w), nil),
				t.changes.Put(changeKey(rev, ord), encodeChange(tuplestore.OpWrite, w))); err != nil {
				return err
			}
			ord++
		}
		return t.commit(rev, uint64(ord), s.keep)
	})
	if err != nil {
		return 0, tupleWrap("write", err)
	}
	return rev, nil
}

// commit records rev as the current revision and n more changes, then
// compacts the change log.
func (t *tupleTx) commit(rev, n, keep uint64) error {
	if err := t.setMeta64(metaRevision, rev); err != nil {
		return err
	}
	count, floor := t.meta64(metaChanges)+n, t.meta64(metaFloor)
	// Discard the oldest revisions, whole, while the rest holds keep.
	for count > keep {
		c := t.changes.Cursor()
		first, _ := c.First()
		if len(first) != 12 {
			return errCorrupt
		}
		oldest := binary.BigEndian.Uint64(first)
		last, _ := c.Seek(changeKey(oldest, math.MaxUint32))
		if last == nil {
			last, _ = c.Last()
		} else {
			last, _ = c.Prev()
		}
		if len(last) != 12 {
			return errCorrupt
		}
		size := uint64(binary.BigEndian.Uint32(last[8:])) + 1
		if count-size < keep {
			break
		}
		for ord := range uint32(size) {
			if err := t.changes.Delete(changeKey(oldest, ord)); err != nil {
				return err
			}
		}
		count, floor = count-size, oldest
	}
	return errors.Join(t.setMeta64(metaChanges, count), t.setMeta64(metaFloor, floor))
}

// Snapshot implements [tuplestore.Store]: it reads in one read transaction,
// so what fn sees is exactly the state at the revision it returns. fn
// runs inside that transaction and must not write to the store: a write
// that grows the file waits for the transaction to end.
func (s *TupleStore) Snapshot(ctx context.Context, fn func(tuplestore.Tuple) error) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rev uint64
	var fnErr error
	err := s.db.View(func(tx *bbolt.Tx) error {
		t := viewTuples(tx)
		rev = t.meta64(metaRevision)
		if t.tuples == nil {
			return nil
		}
		c := t.tuples.Cursor()
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			tp, ok := splitKey(k)
			if !ok {
				return fmt.Errorf("tuple key %q: %w", k, errCorrupt)
			}
			tp.Condition = condition(v)
			if fnErr = fn(tp); fnErr != nil {
				return fnErr
			}
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if fnErr != nil {
		return 0, fnErr
	}
	if err != nil {
		return 0, tupleWrap("snapshot", err)
	}
	return rev, nil
}

// Changes implements [tuplestore.Store].
func (s *TupleStore) Changes(ctx context.Context, after uint64) ([]tuplestore.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []tuplestore.Change
	err := s.db.View(func(tx *bbolt.Tx) error {
		t := viewTuples(tx)
		if after < t.meta64(metaFloor) {
			return fmt.Errorf("after revision %d: %w", after, tuplestore.ErrCompacted)
		}
		if t.changes == nil || after == math.MaxUint64 {
			return nil
		}
		c := t.changes.Cursor()
		var cur uint64
		start := 0 // index in out of the first change of revision cur
		for k, v := c.Seek(changeKey(after+1, 0)); k != nil; k, v = c.Next() {
			ch, err := decodeChange(k, v)
			if err != nil {
				return fmt.Errorf("change %x: %w", k, err)
			}
			if ch.Revision != cur {
				if len(out) >= tuplestore.ChangesMaxHop {
					break
				}
				cur, start = ch.Revision, len(out)
			}
			out = append(out, ch)
			if len(out) > tuplestore.ChangesMaxHop && start > 0 {
				out = out[:start] // never split a revision; one larger than a hop comes alone
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, tupleWrap("changes", err)
	}
	return out, nil
}

// Revision implements [tuplestore.Store].
func (s *TupleStore) Revision(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rev uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		rev = viewTuples(tx).meta64(metaRevision)
		return nil
	})
	return rev, tupleWrap("revision", err)
}

// Read implements [tuplestore.Store]. With an object it scans that
// object's keys (and relation's, when given); with a user and no object
// it scans the user's index entries; otherwise every tuple. limit must be
// positive.
func (s *TupleStore) Read(ctx context.Context, filter, after tuplestore.Tuple, limit int) ([]tuplestore.Tuple, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("bolt: tuples: read: limit %d, want at least 1", limit)
	}
	var afterKey []byte
	if after.Object != "" || after.Relation != "" || after.User != "" {
		afterKey = tupleKey(after)
	}
	var out []tuplestore.Tuple
	err := s.db.View(func(tx *bbolt.Tx) error {
		t := viewTuples(tx)
		if t.tuples == nil {
			return nil
		}
		// keep adds the tuple k, v to out if it matches and comes after
		// afterKey, and reports whether to go on.
		keep := func(tp tuplestore.Tuple, k, v []byte) bool {
			if (filter.Object == "" || tp.Object == filter.Object) && (filter.Relation == "" || tp.Relation == filter.Relation) &&
				(filter.User == "" || tp.User == filter.User) && (afterKey == nil || bytes.Compare(k, afterKey) > 0) {
				tp.Condition = condition(v)
				out = append(out, tp)
			}
			return len(out) < limit
		}
		switch {
		case filter.Object != "" && filter.Relation != "" && filter.User != "":
			k := tupleKey(filter)
			if v, ok := get(t.tuples, k); ok {
				keep(filter, k, v)
			}
		case filter.Object != "":
			prefix := append([]byte(filter.Object), 0)
			if filter.Relation != "" {
				prefix = append(append(prefix, filter.Relation...), 0)
			}
			from := prefix
			if bytes.Compare(afterKey, from) > 0 {
				from = afterKey
			}
			c := t.tuples.Cursor()
			for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				tp, ok := splitKey(k)
				if !ok {
					return fmt.Errorf("tuple key %q: %w", k, errCorrupt)
				}
				if !keep(tp, k, v) {
					break
				}
			}
		case filter.User != "":
			prefix := append([]byte(filter.User), 0)
			from := prefix
			if afterKey != nil {
				// The entries of this user whose (object, relation) is
				// below after's come before it in key order.
				if f := userKey(tuplestore.Tuple{Object: after.Object, Relation: after.Relation, User: filter.User}); bytes.Compare(f, from) > 0 {
					from = f
				}
			}
			c := t.users.Cursor()
			for k, _ := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				tp, ok := splitUserKey(k)
				if !ok {
					return fmt.Errorf("user index key %q: %w", k, errCorrupt)
				}
				tk := tupleKey(tp)
				if !keep(tp, tk, t.tuples.Get(tk)) {
					break
				}
			}
		default:
			c := t.tuples.Cursor()
			k, v := c.First()
			if afterKey != nil {
				k, v = c.Seek(afterKey)
			}
			for ; k != nil; k, v = c.Next() {
				tp, ok := splitKey(k)
				if !ok {
					return fmt.Errorf("tuple key %q: %w", k, errCorrupt)
				}
				if !keep(tp, k, v) {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, tupleWrap("read", err)
	}
	return out, nil
}

// WriteModel implements [tuplestore.Store] in one fsynced transaction.
func (s *TupleStore) WriteModel(ctx context.Context, m tuplestore.Model) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := tuplestore.CheckModel(m); err != nil {
		return 0, tupleWrap("write model", err)
	}
	var rev uint64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		t, err := updateTuples(tx)
		if err != nil {
			return err
		}
		id := []byte(m.ID)
		if has(t.models, id) {
			return fmt.Errorf("model %q: %w", m.ID, tuplestore.ErrExists)
		}
		rev = t.meta64(metaRevision) + 1
		v := append([]byte{byte(tuplestore.OpModel)}, m.ID...)
		if err := errors.Join(t.models.Put(id, bytes.Clone(m.Data)), t.meta.Put(metaModel, id), t.changes.Put(changeKey(rev, 0), v)); err != nil {
			return err
		}
		return t.commit(rev, 1, s.keep)
	})
	if err != nil {
		return 0, tupleWrap("write model", err)
	}
	return rev, nil
}

// Model implements [tuplestore.Store].
func (s *TupleStore) Model(ctx context.Context) (tuplestore.Model, error) {
	if err := ctx.Err(); err != nil {
		return tuplestore.Model{}, err
	}
	var m tuplestore.Model
	err := s.db.View(func(tx *bbolt.Tx) error {
		t := viewTuples(tx)
		if t.meta == nil || t.models == nil {
			return tuplestore.ErrNotFound
		}
		id, ok := get(t.meta, metaModel)
		if !ok {
			return tuplestore.ErrNotFound
		}
		data, ok := get(t.models, id)
		if !ok {
			return fmt.Errorf("current model %q: %w", id, errCorrupt)
		}
		m = tuplestore.Model{ID: string(id), Data: bytes.Clone(data)}
		return nil
	})
	if errors.Is(err, tuplestore.ErrNotFound) {
		return tuplestore.Model{}, err
	}
	if err != nil {
		return tuplestore.Model{}, tupleWrap("model", err)
	}
	return m, nil
}
