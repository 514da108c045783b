package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
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

// LocalReplayMax is how many keys a [LocalReplay] holds at most: a
// 65-second window (the default max_age and max_skew) at 16,000 proofs a
// second, in an estimated 250 MB at the worst (not measured).
const LocalReplayMax = 1 << 20

// ErrReplayFull is returned by [LocalReplay] when it holds
// [LocalReplayMax] live keys: it refuses new proofs rather than forget the
// ones it accepted.
var ErrReplayFull = errors.New("bolt: replay: the in-memory store is full")

// LocalReplay implements dpop.LocalReplayStore: keys live in this
// process's memory until they expire, and Once also records them in the
// file. The lock on the data file makes this process the only one to use
// it. Before its first OnceLocal it marks the file (bucket
// "replay_local"), so that the next process refuses the proofs made before
// it started.
type LocalReplay struct {
	file   *ReplayStore
	mem    *otter.Cache[string, time.Time] // key -> until
	max    int
	now    func() time.Time
	start  time.Time
	loaded time.Time // zero once the file's live keys are in memory
	forgot time.Time

	mu     sync.Mutex
	marked bool
}

var bucketReplayLocal = []byte("replay_local")

// LocalReplay returns a replay store in this process's memory, backed by
// the file for the keys that a restart could forget, on the clock now,
// which should be the verifier's. It starts remembering at now().
func (d *DB) LocalReplay(now func() time.Time) *LocalReplay {
	return newLocalReplay(&ReplayStore{db: d.db, now: now}, LocalReplayMax, now)
}

func newLocalReplay(file *ReplayStore, limit int, now func() time.Time) *LocalReplay {
	s := &LocalReplay{file: file, max: limit, now: now, start: now()}
	// Entries expire at until on the store's clock, which the cache uses
	// too; OnceLocal also compares until with that clock.
	s.mem = otter.Must(&otter.Options[string, time.Time]{
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, time.Time]) time.Duration {
			return max(e.Value.Sub(s.now()), time.Nanosecond)
		}),
		Clock: clock(now),
	})
	// An earlier process may have kept keys in memory only if it marked
	// the file. The live keys of the file are loaded, so that Started can
	// be zero: all the proofs earlier processes accepted after this
	// start are in memory. If the file cannot be read or holds too many,
	// both times stay the start.
	s.forgot, s.loaded = s.start, s.start
	now0 := expiryBytes(s.start)
	err := file.db.View(func(tx *bbolt.Tx) error {
		marked := tx.Bucket(bucketReplayLocal) != nil
		if rb := tx.Bucket(bucketReplay); rb != nil {
			n := 0
			err := rb.ForEach(func(k, exp []byte) error {
				if len(exp) != 8 || bytes.Compare(now0, exp) >= 0 {
					return nil // expired
				}
				if n++; n > limit/2 {
					return errTooMany
				}
				s.mem.Set(string(k), time.Unix(0, int64(binary.BigEndian.Uint64(exp))))
				return nil
			})
			if err != nil {
				return err
			}
		}
		s.loaded = time.Time{}
		if !marked {
			s.forgot = time.Time{}
		}
		return nil
	})
	if err != nil {
		s.mem.InvalidateAll()
	}
	return s
}

var errTooMany = errors.New("too many live keys")

// Started returns the zero time if the file's live keys, at most half of
// [LocalReplayMax], were loaded into memory at the start, and the start
// otherwise.
func (s *LocalReplay) Started() time.Time { return s.loaded }

// Forgot returns the store's start if an earlier process kept keys in
// memory only, or if the file could not be loaded; the zero time
// otherwise.
func (s *LocalReplay) Forgot() time.Time { return s.forgot }

// mark records in the file, once, that this process keeps keys in memory
// only.
func (s *LocalReplay) mark() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.marked {
		return nil
	}
	err := s.file.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketReplayLocal)
		if err != nil {
			return err
		}
		return b.Put([]byte("started"), expiryBytes(s.start))
	})
	if err != nil {
		return fmt.Errorf("bolt: replay: %w", err)
	}
	s.marked = true
	return nil
}

// OnceLocal records key until the time until in memory and reports
// whether this call recorded it: false when key is recorded and its record
// has not expired. Of concurrent calls with one key, exactly one sees
// true. With [LocalReplayMax] live keys held, it returns [ErrReplayFull]
// for a key it does not hold.
func (s *LocalReplay) OnceLocal(ctx context.Context, key string, until time.Time) (first bool, err error) {
	if err := s.mark(); err != nil {
		return false, err
	}
	return s.remember(ctx, key, until)
}

func (s *LocalReplay) remember(ctx context.Context, key string, until time.Time) (first bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if key == "" {
		return false, errors.New("bolt: replay: empty key")
	}
	full := s.mem.EstimatedSize() >= s.max
	if full {
		s.mem.CleanUp() // drop the expired keys the estimate counts
		full = s.mem.EstimatedSize() >= s.max
	}
	now := s.now()
	s.mem.Compute(key, func(old time.Time, found bool) (time.Time, otter.ComputeOp) {
		switch {
		case found && now.Before(old):
			first, err = false, nil
			return old, otter.CancelOp
		case full:
			first, err = false, ErrReplayFull
			return old, otter.CancelOp
		}
		first, err = true, nil
		return until, otter.WriteOp
	})
	return first, err
}

// Once records key in memory, as OnceLocal does but without marking the
// file, and then in the file, and reports whether both recorded it.
func (s *LocalReplay) Once(ctx context.Context, key string, until time.Time) (first bool, err error) {
	if first, err = s.remember(ctx, key, until); !first || err != nil {
		return first, err
	}
	return s.file.Once(ctx, key, until)
}

// clock is an otter.Clock reading a time function.
type clock func() time.Time

func (c clock) NowNano() int64 { return c().UnixNano() }

// Tick returns a ticker's channel, which the cache reads for as long as it
// lives; time.Tick's ticker is collected with it.
func (c clock) Tick(d time.Duration) <-chan time.Time { return time.Tick(d) }
