package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/subzero-gateway/subzero/broker/apikey"
)

// APIKeyStore implements [apikey.Store] in Redis. Its keys, under
// <key_prefix>{apikeys}:, are
//
//	records  HASH, ID -> record
//	index    ZSET, score 0, member ID (for List's order)
//
// Both share the hash tag {apikeys}, one Cluster slot, so that Insert and
// Replace (check and write) and each List page are one Lua script.
type APIKeyStore struct {
	c      goredis.UniversalClient
	prefix string // <key_prefix>{apikeys}:
}

var _ apikey.Store = (*APIKeyStore)(nil)

// APIKeys returns the API key store kept in this database.
func (d *DB) APIKeys() *APIKeyStore {
	keyPrefix := strings.TrimSuffix(d.audit.prefix, "audit:") // the configured key_prefix
	return &APIKeyStore{c: d.client, prefix: keyPrefix + "{apikeys}:"}
}

// maxAPIKeyID bounds IDs.
const maxAPIKeyID = 128

func (s *APIKeyStore) keys() []string { return []string{s.prefix + "records", s.prefix + "index"} }

var errAPIKeyArgs = errors.New("empty or oversized ID or record")

func apiKeyWrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("redis: api keys: %s: %w", op, err)
}

// apiKeyInsertScript: KEYS records, index; ARGV ID, record. Returns 1 when
// stored.
var apiKeyInsertScript = goredis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
`)

// apiKeyReplaceScript: KEYS records; ARGV ID, record. Returns 1 when
// stored.
var apiKeyReplaceScript = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// apiKeyListScript: KEYS records, index; ARGV lower bound (ZRANGE BYLEX),
// count. Returns the IDs of the page followed by their records.
var apiKeyListScript = goredis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[2], ARGV[1], '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return {} end
local recs = redis.call('HMGET', KEYS[1], unpack(ids))
local out = {}
for i = 1, #ids do out[i] = ids[i] end
for i = 1, #recs do out[#ids + i] = recs[i] end
return out
`)

func checkAPIKey(id string, rec []byte) error {
	if id == "" || len(id) > maxAPIKeyID || len(rec) > apikey.MaxRecordBytes {
		return errAPIKeyArgs
	}
	return nil
}

func (s *APIKeyStore) put(ctx context.Context, op string, script *goredis.Script, keys []string, id string, rec []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := checkAPIKey(id, rec); err != nil {
		return false, apiKeyWrap(op, err)
	}
	n, err := script.Run(ctx, s.c, keys, id, rec).Int()
	if err != nil {
		return false, apiKeyWrap(op, err)
	}
	return n == 1, nil
}

// Insert implements [apikey.Store] with one script.
func (s *APIKeyStore) Insert(ctx context.Context, id string, rec []byte) (bool, error) {
	return s.put(ctx, "insert", apiKeyInsertScript, s.keys(), id, rec)
}

// Replace implements [apikey.Store] with one script.
func (s *APIKeyStore) Replace(ctx context.Context, id string, rec []byte) (bool, error) {
	return s.put(ctx, "replace", apiKeyReplaceScript, s.keys()[:1], id, rec)
}

// Get implements [apikey.Store] with one HGET.
func (s *APIKeyStore) Get(ctx context.Context, id string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if err := checkAPIKey(id, nil); err != nil {
		return nil, false, apiKeyWrap("get", err)
	}
	rec, err := s.c.HGet(ctx, s.prefix+"records", id).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, apiKeyWrap("get", err)
	}
	return rec, true, nil
}

// List implements [apikey.Store] with one script.
func (s *APIKeyStore) List(ctx context.Context, after string, limit int) ([]string, [][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if limit < 1 || limit > apikey.MaxListPage || len(after) > maxAPIKeyID {
		return nil, nil, apiKeyWrap("list", fmt.Errorf("limit %d not in [1, %d], or oversized after", limit, apikey.MaxListPage))
	}
	lo := "-"
	if after != "" {
		lo = "(" + after
	}
	vals, err := apiKeyListScript.Run(ctx, s.c, s.keys(), lo, limit).Slice()
	if err != nil {
		return nil, nil, apiKeyWrap("list", err)
	}
	if len(vals)%2 != 0 || len(vals)/2 > limit {
		return nil, nil, apiKeyWrap("list", errors.New("malformed reply"))
	}
	n := len(vals) / 2
	ids, recs := make([]string, n), make([][]byte, n)
	for i := range n {
		id, ok1 := vals[i].(string)
		rec, ok2 := vals[n+i].(string)
		if !ok1 || !ok2 {
			return nil, nil, apiKeyWrap("list", errors.New("corrupt store: index names a missing record"))
		}
		ids[i], recs[i] = id, []byte(rec)
	}
	return ids, recs, nil
}
