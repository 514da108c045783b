package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Layout: bucket "replay" maps a key to its expiry, 8-byte big-endian Unix
// nanoseconds; bucket "replay_expiry" indexes the same records as expiry ||
// key (empty values), so that the oldest are found first.
var (
	bucketReplay       = []byte("replay")
	bucketReplayExpiry = []byte("replay_expiry")
)

// replaySweep bounds how many expired records one Once deletes, which
// keeps every write transaction small while the file stays bounded by the
// rate of new keys.
const replaySweep = 64

// ReplayStore implements dpop.ReplayStore in a bbolt file: a record per
// key, each written by one fsynced transaction that also deletes up to 64
// expired records.
type ReplayStore struct {
	db  *bbolt.DB
	now func() time.Time
}

// Replay returns the DPoP replay store kept in this file.
func (d *DB) Replay() *ReplayStore { return &ReplayStore{db: d.db, now: time.Now} }

// expiryBytes encodes t as 8-byte big-endian Unix nanoseconds, times
// before 1970 as 0, so that byte order is time order.
func expiryBytes(t time.Time) []byte {
	n := t.UnixNano()
	if n < 0 {
		n = 0
	}
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(n))
}

// Once records key until the time until and reports whether this call
// recorded it: false when key is recorded and its record has not expired.
// One write transaction checks and records, so concurrent callers cannot
// both see true.
func (s *ReplayStore) Once(ctx context.Context, key string, until time.Time) (first bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if key == "" {
		return false, errors.New("bolt: replay: empty key")
	}
	k, exp := []byte(key), expiryBytes(until)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		first = false
		rb, err := tx.CreateBucketIfNotExists(bucketReplay)
		if err != nil {
			return err
		}
		xb, err := tx.CreateBucketIfNotExists(bucketReplayExpiry)
		if err != nil {
			return err
		}
		now := expiryBytes(s.now())
		if old := rb.Get(k); old != nil {
			if bytes.Compare(now, old) < 0 {
				return nil // recorded and live
			}
			if err := xb.Delete(append(bytes.Clone(old), k...)); err != nil {
				return err
			}
		}
		if err := rb.Put(k, exp); err != nil {
			return err
		}
		if err := xb.Put(append(bytes.Clone(exp), k...), nil); err != nil {
			return err
		}
		first = true
		return sweep(rb, xb, now)
	})
	if err != nil {
		return false, fmt.Errorf("bolt: replay: %w", err)
	}
	return first, nil
}

// sweep deletes up to replaySweep records that expired at or before now,
// oldest first.
func sweep(rb, xb *bbolt.Bucket, now []byte) error {
	var dead [][]byte
	c := xb.Cursor()
	for ik, _ := c.First(); ik != nil && len(dead) < replaySweep; ik, _ = c.Next() {
		if len(ik) >= 8 && bytes.Compare(ik[:8], now) > 0 {
			break
		}
		dead = append(dead, bytes.Clone(ik))
	}
	for _, ik := range dead {
		if err := xb.Delete(ik); err != nil {
			return err
		}
		if len(ik) < 8 {
			continue
		}
		// Delete the record only if it is the one indexed: a key recorded
		// again has a later expiry and its own index entry.
		if k := ik[8:]; bytes.Equal(rb.Get(k), ik[:8]) {
			if err := rb.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}
