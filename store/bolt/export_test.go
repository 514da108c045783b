package bolt

import bbolt "go.etcd.io/bbolt"

// UnsafeRaw exposes the bbolt handle to tamper tests.
func UnsafeRaw(d *DB) *bbolt.DB { return d.db }

// DrainAudit moves the audit write-ahead files' records into bbolt, so
// that tamper tests find them there.
func DrainAudit(d *DB) error { return d.wal.drain() }
