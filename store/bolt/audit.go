package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/audit"
)

// Layout: bucket "audit" holds one bucket per node, which holds "events"
// and "checkpoints" (8-byte big-endian seq -> record) and "keys" (key ID ->
// public key).
var (
	bucketAudit       = []byte("audit")
	bucketEvents      = []byte("events")
	bucketCheckpoints = []byte("checkpoints")
	bucketKeys        = []byte("keys")
)

// scanPage bounds how many records one read transaction copies, so long
// scans do not pin old pages while the writer grows the file.
const scanPage = 1024

// AuditStore implements [audit.Store] in a bbolt file. Appends go through
// the audit write-ahead files (auditwal.go); reads see what bbolt holds
// followed by what is still only there.
type AuditStore struct {
	db  *bbolt.DB
	wal *auditWAL
}

var _ audit.Store = (*AuditStore)(nil)

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// nodeBucket returns the node's sub-bucket b (nil when absent).
func nodeBucket(tx *bbolt.Tx, node string, b []byte) *bbolt.Bucket {
	root := tx.Bucket(bucketAudit)
	if root == nil {
		return nil
	}
	nb := root.Bucket([]byte(node))
	if nb == nil {
		return nil
	}
	return nb.Bucket(b)
}

func createNodeBuckets(tx *bbolt.Tx, node string) (*bbolt.Bucket, error) {
	root, err := tx.CreateBucketIfNotExists(bucketAudit)
	if err != nil {
		return nil, err
	}
	nb, err := root.CreateBucketIfNotExists([]byte(node))
	if err != nil {
		return nil, err
	}
	for _, name := range [][]byte{bucketEvents, bucketCheckpoints, bucketKeys} {
		if _, err := nb.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	return nb, nil
}

// Nodes implements [audit.Reader].
func (s *AuditStore) Nodes(ctx context.Context) ([]string, error) {
	var nodes []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		root := tx.Bucket(bucketAudit)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(k []byte) error {
			nodes = append(nodes, string(k))
			return nil
		})
	})
	nodes = append(nodes, s.wal.nodes()...)
	slices.Sort(nodes)
	return slices.Compact(nodes), err
}

// Scan implements [audit.Reader].
func (s *AuditStore) Scan(ctx context.Context, node string, from uint64, fn func(audit.Record) error) error {
	// Records leave the write-ahead files only once bbolt has them: take
	// those first, then read bbolt, and skip what both hold.
	tail, _ := s.wal.snapshot(node)
	var seen uint64
	var fromBolt bool
	next := seqKey(from)
	for next != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		var page []audit.Record
		err := s.db.View(func(tx *bbolt.Tx) error {
			b := nodeBucket(tx, node, bucketEvents)
			if b == nil {
				next = nil
				return nil
			}
			c := b.Cursor()
			k, v := c.Seek(next)
			for ; k != nil && len(page) < scanPage; k, v = c.Next() {
				page = append(page, audit.Record{Seq: keySeq(k), Data: bytes.Clone(v)})
			}
			next = bytes.Clone(k)
			return nil
		})
		if err != nil {
			return fmt.Errorf("bolt: scan: %w", err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
			seen, fromBolt = r.Seq, true
		}
	}
	for _, r := range tail {
		if r.Seq < from || fromBolt && r.Seq <= seen {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// keySeq reads a seq key; a key of another length (written by hand) reads
// as its first 8 bytes, or 0.
func keySeq(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// Checkpoints implements [audit.Reader].
func (s *AuditStore) Checkpoints(ctx context.Context, node string) ([]audit.Record, error) {
	_, tail := s.wal.snapshot(node)
	var out []audit.Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := nodeBucket(tx, node, bucketCheckpoints)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out = append(out, audit.Record{Seq: keySeq(k), Data: bytes.Clone(v)})
			return nil
		})
	})
	for _, r := range tail {
		if len(out) == 0 || r.Seq > out[len(out)-1].Seq {
			out = append(out, audit.Record{Seq: r.Seq, Data: bytes.Clone(r.Data)})
		}
	}
	return out, err
}

// Keys implements [audit.Reader].
func (s *AuditStore) Keys(ctx context.Context, node string) (map[string][]byte, error) {
	keys := map[string][]byte{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := nodeBucket(tx, node, bucketKeys)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			keys[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	return keys, err
}

// Last implements [audit.Reader].
func (s *AuditStore) Last(ctx context.Context, node string) (audit.Record, bool, error) {
	if tail, _ := s.wal.snapshot(node); len(tail) > 0 {
		r := tail[len(tail)-1]
		return audit.Record{Seq: r.Seq, Data: bytes.Clone(r.Data)}, true, nil
	}
	var rec audit.Record
	var ok bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := nodeBucket(tx, node, bucketEvents)
		if b == nil {
			return nil
		}
		k, v := b.Cursor().Last()
		if k != nil {
			rec, ok = audit.Record{Seq: keySeq(k), Data: bytes.Clone(v)}, true
		}
		return nil
	})
	return rec, ok, err
}

// Append implements [audit.Store]: it returns once the records are in the
// audit write-ahead file, fdatasync'd.
func (s *AuditStore) Append(ctx context.Context, node string, prev uint64, events, checkpoints []audit.Record) error {
	return s.wal.Append(node, prev, events, checkpoints)
}

// appendTx stores records in tx after checking that node's chain ends at
// prev.
func appendTx(tx *bbolt.Tx, node string, prev uint64, events, checkpoints []audit.Record) error {
	// The node's buckets exist after the first commit (Open registers the
	// node's key first): look them up rather than create them.
	eb, cb := nodeBucket(tx, node, bucketEvents), nodeBucket(tx, node, bucketCheckpoints)
	if eb == nil || cb == nil {
		nb, err := createNodeBuckets(tx, node)
		if err != nil {
			return err
		}
		eb, cb = nb.Bucket(bucketEvents), nb.Bucket(bucketCheckpoints)
	}
	var head uint64
	if k, _ := eb.Cursor().Last(); k != nil {
		head = keySeq(k)
	}
	if head != prev {
		return audit.ErrConflict
	}
	eb.FillPercent, cb.FillPercent = 1, 1 // append-only: pack pages full
	// The keys, in one allocation: bbolt keeps a key until the
	// transaction ends.
	keys := make([]byte, 0, 8*(len(events)+len(checkpoints)))
	for _, r := range events {
		keys = binary.BigEndian.AppendUint64(keys, r.Seq)
		if err := eb.Put(keys[len(keys)-8:], r.Data); err != nil {
			return err
		}
	}
	for _, r := range checkpoints {
		keys = binary.BigEndian.AppendUint64(keys, r.Seq)
		if err := cb.Put(keys[len(keys)-8:], r.Data); err != nil {
			return err
		}
	}
	return nil
}

// PutKey implements [audit.Store].
func (s *AuditStore) PutKey(ctx context.Context, node, keyID string, pub []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		nb, err := createNodeBuckets(tx, node)
		if err != nil {
			return err
		}
		return nb.Bucket(bucketKeys).Put([]byte(keyID), pub)
	})
}

var leaseKey = []byte("lease")

// Claim implements [audit.Store]. The lease is a value in the node's
// bucket: owner, a newline, and the expiry in Unix nanoseconds.
func (s *AuditStore) Claim(ctx context.Context, node, owner string, ttl time.Duration) error {
	now := time.Now()
	return s.db.Update(func(tx *bbolt.Tx) error {
		nb, err := createNodeBuckets(tx, node)
		if err != nil {
			return err
		}
		if cur, until, ok := parseLease(nb.Get(leaseKey)); ok && cur != owner && now.Before(until) {
			return audit.ErrInUse
		}
		return nb.Put(leaseKey, fmt.Appendf(nil, "%s\n%d", owner, now.Add(ttl).UnixNano()))
	})
}

// Release implements [audit.Store].
func (s *AuditStore) Release(ctx context.Context, node, owner string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		root := tx.Bucket(bucketAudit)
		if root == nil {
			return nil
		}
		nb := root.Bucket([]byte(node))
		if nb == nil {
			return nil
		}
		if cur, _, ok := parseLease(nb.Get(leaseKey)); ok && cur == owner {
			return nb.Delete(leaseKey)
		}
		return nil
	})
}

func parseLease(v []byte) (owner string, until time.Time, ok bool) {
	o, n, found := strings.Cut(string(v), "\n")
	ns, err := strconv.ParseInt(n, 10, 64)
	if !found || err != nil {
		return "", time.Time{}, false
	}
	return o, time.Unix(0, ns), true
}
