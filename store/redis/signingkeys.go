package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/subzero-gateway/subzero/broker/token"
)

// generationField is the field of the signing keys hash that holds the
// highest generation ever added. Key IDs are base64url, so no ID is "#".
const generationField = "#generation"

// addKeyScript adds the record ARGV[3] under the ID ARGV[2] to the hash
// KEYS[1] if ARGV[1] is the generation after the one stored in its
// generation field, and the ID is not taken; it then stores ARGV[1] as the
// generation.
var addKeyScript = goredis.NewScript(`
local gen = tonumber(redis.call('HGET', KEYS[1], '` + generationField + `') or '0')
if gen + 1 ~= tonumber(ARGV[1]) or redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  return redis.error_reply('CONFLICT signing key generation or ID is taken')
end
redis.call('HSET', KEYS[1], '` + generationField + `', ARGV[1], ARGV[2], ARGV[3])
return redis.status_reply('OK')
`)

// SigningKeyStore implements [token.KeyStore] in Redis: one hash,
// <key_prefix>signing_keys, maps each key ID to its record as JSON, and
// its field "#generation" holds the highest generation ever added. A Lua
// script checks and adds in one atomic step; the hash lives in one
// Cluster slot.
type SigningKeyStore struct {
	c   goredis.UniversalClient
	key string // <key_prefix>signing_keys
}

var _ token.KeyStore = (*SigningKeyStore)(nil)

// SigningKeys returns the token signing key store kept in this database.
func (d *DB) SigningKeys() *SigningKeyStore {
	keyPrefix := strings.TrimSuffix(d.audit.prefix, "audit:") // the configured key_prefix
	return &SigningKeyStore{c: d.client, key: keyPrefix + "signing_keys"}
}

// keyRecord is the stored form of a token.KeyRecord.
type keyRecord struct {
	ID         string    `json:"id"`
	Generation uint64    `json:"generation"`
	Data       []byte    `json:"data"`
	Created    time.Time `json:"created"`
	Activate   time.Time `json:"activate"`
}

// Keys implements [token.KeyStore].
func (s *SigningKeyStore) Keys(ctx context.Context) ([]token.KeyRecord, error) {
	all, err := s.c.HGetAll(ctx, s.key).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: signing keys: %w", err)
	}
	out := make([]token.KeyRecord, 0, len(all))
	for id, v := range all {
		if id == generationField {
			continue
		}
		var r keyRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("redis: signing keys: record %q: %w", id, err)
		}
		out = append(out, token.KeyRecord(r))
	}
	slices.SortFunc(out, func(a, b token.KeyRecord) int {
		switch {
		case a.Generation < b.Generation:
			return -1
		case a.Generation > b.Generation:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// AddKey implements [token.KeyStore].
func (s *SigningKeyStore) AddKey(ctx context.Context, rec token.KeyRecord) error {
	if rec.ID == "" || rec.ID == generationField {
		return errors.New("redis: signing keys: invalid key ID")
	}
	v, err := json.Marshal(keyRecord(rec))
	if err != nil {
		return fmt.Errorf("redis: signing keys: %w", err)
	}
	err = addKeyScript.Run(ctx, s.c, []string{s.key}, strconv.FormatUint(rec.Generation, 10), rec.ID, v).Err()
	if err != nil {
		if goredis.HasErrorPrefix(err, "CONFLICT ") {
			return token.ErrConflict
		}
		return fmt.Errorf("redis: signing keys: %w", err)
	}
	return nil
}

// DeleteKey implements [token.KeyStore].
func (s *SigningKeyStore) DeleteKey(ctx context.Context, id string) error {
	if id == generationField {
		return nil
	}
	if err := s.c.HDel(ctx, s.key, id).Err(); err != nil {
		return fmt.Errorf("redis: signing keys: %w", err)
	}
	return nil
}
