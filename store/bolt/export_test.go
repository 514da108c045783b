package bolt

import bbolt "go.etcd.io/bbolt"

// UnsafeRaw exposes the bbolt handle to tamper tests.
func UnsafeRaw(d *DB) *bbolt.DB { return d.db }
