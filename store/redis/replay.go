package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ReplayStore implements dpop.ReplayStore in Redis. A key is the string
// <key_prefix>replay:<key> with value "1", written by one
// SET NX PXAT <until in Unix milliseconds, rounded up>, so Redis itself
// decides which of concurrent callers, on any node, is first, and expires
// the key on its own clock. In a Cluster each key lives in its own slot.
type ReplayStore struct {
	c      goredis.UniversalClient
	prefix string // <key_prefix>replay:
}

// Replay returns the DPoP replay store kept in this database.
func (d *DB) Replay() *ReplayStore {
	keyPrefix := strings.TrimSuffix(d.audit.prefix, "audit:") // the configured key_prefix
	return &ReplayStore{c: d.client, prefix: keyPrefix + "replay:"}
}

// Once records key until the time until and reports whether this call
// recorded it: false when the key exists, that is, is recorded and has not
// expired.
func (s *ReplayStore) Once(ctx context.Context, key string, until time.Time) (bool, error) {
	if key == "" {
		return false, errors.New("redis: replay: empty key")
	}
	ms := until.UnixMilli()
	if until.After(time.UnixMilli(ms)) {
		ms++ // never expire before until
	}
	ms = max(ms, 1) // PXAT must be positive; the past expires at once
	err := s.c.Do(ctx, "set", s.prefix+key, "1", "nx", "pxat", ms).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, goredis.Nil):
		return false, nil
	}
	return false, fmt.Errorf("redis: replay: %w", err)
}
