package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
)

// PinStore implements [pinstore.Store] in Redis. Its keys, under
// <key_prefix>{pins}:, are
//
//	records  HASH, upstream 0x00 tool -> version, a space, the record (pinstore.Encode)
//	index    ZSET, score 0, member upstream 0x00 tool
//	meta     HASH {revision}
//
// Names hold no 0x00, so the lexicographic order of index is the order
// of (upstream, tool), the order List promises. All keys share the hash
// tag {pins}, one Cluster slot, so Put and Delete are each one Lua script
// that compares the stored version, writes and bumps the revision,
// atomically against writers on every node; a List page is one script
// too. The version stored before the record is the one the script
// assigned (the record's own is ignored). Revisions are exact up to 2^53,
// where Lua's numbers end.
type PinStore struct {
	c      goredis.UniversalClient
	prefix string // <key_prefix>{pins}:
}

var _ pinstore.Store = (*PinStore)(nil)

// Pins returns the tool pin store kept in this database.
func (d *DB) Pins() *PinStore {
	keyPrefix := strings.TrimSuffix(d.audit.prefix, "audit:") // the configured key_prefix
	return &PinStore{c: d.client, prefix: keyPrefix + "{pins}:"}
}

func (s *PinStore) keys() []string {
	return []string{s.prefix + "records", s.prefix + "index", s.prefix + "meta"}
}

func pinField(k pinstore.Key) string { return k.Upstream + "\x00" + k.Tool }

func pinWrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("redis: pins: %s: %w", op, err)
}

// pinPutScript: KEYS records, index, meta; ARGV field, expected version
// (0: absent), encoded record. Fails with "CONFLICT <stored version>".
var pinPutScript = goredis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local stored = '0'
if cur then stored = string.match(cur, '^(%d+) ') or 'corrupt' end
if stored ~= ARGV[2] then return redis.error_reply('CONFLICT ' .. stored) end
local rev = redis.call('HINCRBY', KEYS[3], 'revision', 1)
redis.call('HSET', KEYS[1], ARGV[1], rev .. ' ' .. ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return rev
`)

// pinDeleteScript: KEYS records, index, meta; ARGV field. Returns 0 when
// the record is absent, else the new revision.
var pinDeleteScript = goredis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HINCRBY', KEYS[3], 'revision', 1)
`)

// pinListScript: KEYS records, index; ARGV lower bound (ZRANGE BYLEX
// syntax), count. Returns the stored values of the page, in key order.
var pinListScript = goredis.NewScript(`
local fields = redis.call('ZRANGE', KEYS[2], ARGV[1], '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[2]))
if #fields == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(fields))
`)

// decodePin parses a stored value: version, a space, the record.
func decodePin(v string) (pinstore.Record, error) {
	ver, enc, ok := strings.Cut(v, " ")
	n, err := strconv.ParseUint(ver, 10, 64)
	if !ok || err != nil || n == 0 {
		return pinstore.Record{}, errors.New("corrupt record: bad version")
	}
	r, err := pinstore.Decode([]byte(enc))
	if err != nil {
		return pinstore.Record{}, err
	}
	r.Version = n
	return r, nil
}

// Get implements [pinstore.Store] with one HGET.
func (s *PinStore) Get(ctx context.Context, k pinstore.Key) (pinstore.Record, error) {
	if err := ctx.Err(); err != nil {
		return pinstore.Record{}, err
	}
	if err := pinstore.CheckKey(k); err != nil {
		return pinstore.Record{}, pinWrap("get", err)
	}
	v, err := s.c.HGet(ctx, s.prefix+"records", pinField(k)).Result()
	if errors.Is(err, goredis.Nil) {
		return pinstore.Record{}, pinstore.ErrNotFound
	}
	if err != nil {
		return pinstore.Record{}, pinWrap("get", err)
	}
	r, err := decodePin(v)
	if err == nil && r.Key != k {
		err = errors.New("corrupt record: names another key")
	}
	if err != nil {
		return pinstore.Record{}, pinWrap("get "+k.String(), err)
	}
	return r, nil
}

// List implements [pinstore.Store] with one script.
func (s *PinStore) List(ctx context.Context, after pinstore.Key, limit int) ([]pinstore.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := pinstore.CheckLimit(limit); err != nil {
		return nil, pinWrap("list", err)
	}
	lo := "-"
	if after != (pinstore.Key{}) {
		lo = "(" + pinField(after)
	}
	vals, err := pinListScript.Run(ctx, s.c, s.keys()[:2], lo, limit).Slice()
	if err != nil {
		return nil, pinWrap("list", err)
	}
	out := make([]pinstore.Record, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			return nil, pinWrap("list", errors.New("corrupt store: index names a missing record"))
		}
		r, err := decodePin(str)
		if err != nil {
			return nil, pinWrap("list", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Put implements [pinstore.Store] with one script.
func (s *PinStore) Put(ctx context.Context, r pinstore.Record) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := pinstore.CheckRecord(r); err != nil {
		return 0, pinWrap("put", err)
	}
	want := r.Version
	r.Version = 0
	enc, err := pinstore.Encode(r)
	if err != nil {
		return 0, pinWrap("put", err)
	}
	rev, err := pinPutScript.Run(ctx, s.c, s.keys(), pinField(r.Key), strconv.FormatUint(want, 10), enc).Uint64()
	if goredis.HasErrorPrefix(err, "CONFLICT ") {
		return 0, pinWrap("put", fmt.Errorf("%s: version %d, stored %s: %w", r.Key, want, strings.TrimPrefix(err.Error(), "CONFLICT "), pinstore.ErrConflict))
	}
	if err != nil {
		return 0, pinWrap("put", err)
	}
	return rev, nil
}

// Delete implements [pinstore.Store] with one script.
func (s *PinStore) Delete(ctx context.Context, k pinstore.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := pinstore.CheckKey(k); err != nil {
		return pinWrap("delete", err)
	}
	rev, err := pinDeleteScript.Run(ctx, s.c, s.keys(), pinField(k)).Uint64()
	if err != nil {
		return pinWrap("delete", err)
	}
	if rev == 0 {
		return fmt.Errorf("%s: %w", k, pinstore.ErrNotFound)
	}
	return nil
}

// Revision implements [pinstore.Store] with one HGET.
func (s *PinStore) Revision(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	rev, err := s.c.HGet(ctx, s.prefix+"meta", "revision").Uint64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	return rev, pinWrap("revision", err)
}
