package redis

import goredis "github.com/redis/go-redis/v9"

// UniversalOptions exposes the options builder to tests.
var UniversalOptions = universalOptions

// UnsafeClient exposes the client to tests that count round trips.
func UnsafeClient(d *DB) goredis.UniversalClient { return d.client }
