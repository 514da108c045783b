package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
)

// Layout of the tool pin store, in two top-level buckets:
//
//	mcp_pins       upstream 0x00 tool -> record (pinstore.Encode)
//	mcp_pins_meta  "revision" -> 8 bytes BE
//
// Names hold no 0x00, so byte order of mcp_pins is the order of
// (upstream, tool), the order List promises.
var (
	bucketPins     = []byte("mcp_pins")
	bucketPinsMeta = []byte("mcp_pins_meta")
)

// PinStore implements [pinstore.Store] in a bbolt file. Every Put and
// Delete is one fsynced transaction, and bbolt runs them one at a time,
// which makes the compare-and-swap atomic.
type PinStore struct{ db *bbolt.DB }

var _ pinstore.Store = (*PinStore)(nil)

// Pins returns the tool pin store kept in this file.
func (d *DB) Pins() *PinStore { return &PinStore{db: d.db} }

func pinKey(k pinstore.Key) []byte {
	b := make([]byte, 0, len(k.Upstream)+1+len(k.Tool))
	return append(append(append(b, k.Upstream...), 0), k.Tool...)
}

func pinWrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("bolt: pins: %s: %w", op, err)
}

func pinRevision(meta *bbolt.Bucket) uint64 {
	if meta == nil {
		return 0
	}
	v := meta.Get(metaRevision)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// decodePin decodes a stored record and checks it is the one of key k.
func decodePin(k, v []byte) (pinstore.Record, error) {
	r, err := pinstore.Decode(v)
	if err != nil {
		return pinstore.Record{}, fmt.Errorf("record %q: %w", k, errCorrupt)
	}
	if !bytes.Equal(pinKey(r.Key), k) {
		return pinstore.Record{}, fmt.Errorf("record %q names another key: %w", k, errCorrupt)
	}
	return r, nil
}

// Get implements [pinstore.Store].
func (s *PinStore) Get(ctx context.Context, k pinstore.Key) (pinstore.Record, error) {
	if err := ctx.Err(); err != nil {
		return pinstore.Record{}, err
	}
	if err := pinstore.CheckKey(k); err != nil {
		return pinstore.Record{}, pinWrap("get", err)
	}
	var r pinstore.Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPins)
		if b == nil {
			return pinstore.ErrNotFound
		}
		key := pinKey(k)
		v := b.Get(key)
		if v == nil {
			return pinstore.ErrNotFound
		}
		var err error
		r, err = decodePin(key, v)
		return err
	})
	if errors.Is(err, pinstore.ErrNotFound) {
		return pinstore.Record{}, err
	}
	return r, pinWrap("get", err)
}

// List implements [pinstore.Store].
func (s *PinStore) List(ctx context.Context, after pinstore.Key, limit int) ([]pinstore.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := pinstore.CheckLimit(limit); err != nil {
		return nil, pinWrap("list", err)
	}
	var out []pinstore.Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPins)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if after != (pinstore.Key{}) {
			from := pinKey(after)
			for k, v = c.Seek(from); k != nil && bytes.Equal(k, from); k, v = c.Next() {
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			r, err := decodePin(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, pinWrap("list", err)
	}
	return out, nil
}

// Put implements [pinstore.Store] in one fsynced transaction.
func (s *PinStore) Put(ctx context.Context, r pinstore.Record) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := pinstore.CheckRecord(r); err != nil {
		return 0, pinWrap("put", err)
	}
	var version uint64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPins)
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketPinsMeta)
		if err != nil {
			return err
		}
		key := pinKey(r.Key)
		var stored uint64
		if v := b.Get(key); v != nil {
			old, err := decodePin(key, v)
			if err != nil {
				return err
			}
			stored = old.Version
			if stored == 0 {
				return fmt.Errorf("record %q has version 0: %w", key, errCorrupt)
			}
		}
		if stored != r.Version {
			return fmt.Errorf("%s: version %d, stored %d: %w", r.Key, r.Version, stored, pinstore.ErrConflict)
		}
		version = pinRevision(meta) + 1
		r.Version = version
		v, err := pinstore.Encode(r)
		if err != nil {
			return err
		}
		return errors.Join(b.Put(key, v), meta.Put(metaRevision, binary.BigEndian.AppendUint64(nil, version)))
	})
	if err != nil {
		return 0, pinWrap("put", err)
	}
	return version, nil
}

// Delete implements [pinstore.Store] in one fsynced transaction.
func (s *PinStore) Delete(ctx context.Context, k pinstore.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := pinstore.CheckKey(k); err != nil {
		return pinWrap("delete", err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPins)
		key := pinKey(k)
		if b == nil || b.Get(key) == nil {
			return fmt.Errorf("%s: %w", k, pinstore.ErrNotFound)
		}
		meta, err := tx.CreateBucketIfNotExists(bucketPinsMeta)
		if err != nil {
			return err
		}
		return errors.Join(b.Delete(key), meta.Put(metaRevision, binary.BigEndian.AppendUint64(nil, pinRevision(meta)+1)))
	})
	return pinWrap("delete", err)
}

// Revision implements [pinstore.Store].
func (s *PinStore) Revision(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rev uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		rev = pinRevision(tx.Bucket(bucketPinsMeta))
		return nil
	})
	return rev, pinWrap("revision", err)
}
