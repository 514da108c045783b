package redis

import goredis "github.com/redis/go-redis/v9"

// UniversalOptions exposes the options builder to tests.
var UniversalOptions = universalOptions

// UnsafeClient exposes the client to tests that count round trips.
func UnsafeClient(d *DB) goredis.UniversalClient { return d.client }

// TuplesWithKeep returns the tuple store keeping keep changes instead of
// tuplestore.KeepChanges, for compaction tests.
func TuplesWithKeep(d *DB, keep int64) *TupleStore {
	s := d.Tuples()
	s.keep = keep
	return s
}
