package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

// TupleStore implements [tuplestore.Store] in Redis. Its keys, under
// <key_prefix>{rebac}:, are
//
//	meta        HASH {revision, floor, model}
//	tuples      ZSET, score 0, member object 0x00 relation 0x00 user
//	users       ZSET, score 0, member user 0x00 object 0x00 relation
//	conditions  HASH, tuple key (as in tuples) -> condition, for tuples that have one
//	changes     STREAM, ID <revision>-<ordinal>, fields op, o, r, u, c (a tuple) or op, m (a model)
//	models      HASH, model ID -> model data
//
// revision is the current revision, floor the highest revision whose
// changes were discarded (absent: none), model the current model's ID;
// op is the change's [tuplestore.Op] in decimal. Fields hold no 0x00, so
// the lexicographic order of tuples is the order of (object, relation,
// user), the key order Read promises, and users holds one user's tuples
// in that same order. All keys share the hash tag {rebac}, one Cluster
// slot, so each Write and WriteModel is one Lua script that checks every
// key, applies, bumps the revision, appends to the change log and
// compacts it, atomically against writers on every node. The script
// returns nothing applied when a check fails. Revisions are exact up to
// 2^53, where Lua's numbers end.
//
// Snapshot reads the revision, then pages through tuples in key order
// with one script per page; pages may see writes made after the revision,
// which replaying Changes from it repeats. Read pages the same way
// through tuples or, for a user without an object, users.
//
// The store needs every key it wrote: run Redis with
// maxmemory-policy noeviction. A write that finds the change log ahead of
// the revision, as after an eviction of meta, fails without applying
// anything.
//
// Fields of tuples must be non-empty and hold no 0x00; model IDs must be
// non-empty. Conditions and model data are binary-safe.
type TupleStore struct {
	c      goredis.UniversalClient
	prefix string // <key_prefix>{rebac}:
	keep   int64  // changes kept at least: tuplestore.KeepChanges but in tests
}

var _ tuplestore.Store = (*TupleStore)(nil)

// Tuples returns the ReBAC tuple store kept in this database.
func (d *DB) Tuples() *TupleStore {
	keyPrefix := strings.TrimSuffix(d.audit.prefix, "audit:") // the configured key_prefix
	return &TupleStore{c: d.client, prefix: keyPrefix + "{rebac}:", keep: tuplestore.KeepChanges}
}

func (s *TupleStore) key(name string) string { return s.prefix + name }

// tuplePage is how many tuples one round trip of Snapshot or Read reads.
const tuplePage = 1024

// maxStreamSeq is the largest sequence part of a stream ID.
const maxStreamSeq = "18446744073709551615"

// commonLua defines the functions the write scripts share, over the meta
// hash KEYS[1] and the change log KEYS[5].
//
// nextRevision returns the revision after the stored one, as a string,
// or fails with "CORRUPT" if the change log already holds it (the meta
// hash was lost): the scripts call it before their first write, so that
// XADD cannot fail half way through.
//
// compact discards the oldest revisions of the change log, whole, while
// at least keep changes remain, and records the last one discarded as the
// floor. The newest change is never discarded, so the log's last entry
// always names the current revision.
const commonLua = `
local function nextRevision()
  local rev = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0') + 1
  local top = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)[1]
  if top and tonumber(string.match(top[1], '^(%d+)-')) >= rev then
    return nil
  end
  return string.format('%d', rev)
end

local function compact(keep)
  local n = redis.call('XLEN', KEYS[5])
  local floor
  while n > keep do
    local rev = string.match(redis.call('XRANGE', KEYS[5], '-', '+', 'COUNT', 1)[1][1], '^(%d+)-')
    local last = redis.call('XREVRANGE', KEYS[5], rev .. '-` + maxStreamSeq + `', rev .. '-0', 'COUNT', 1)[1][1]
    local size = tonumber(string.match(last, '-(%d+)$')) + 1
    if n - size < keep then break end
    redis.call('XTRIM', KEYS[5], 'MINID', rev .. '-' .. size)
    n = n - size
    floor = rev
  end
  if floor then redis.call('HSET', KEYS[1], 'floor', floor) end
end
`

// writeScript applies a Write. KEYS: meta, tuples, users, conditions,
// changes. ARGV: keep, the number of deletes, then object, relation, user
// of each delete, then object, relation, user, condition of each write.
// It checks every key in call order, deletes then writes, against the
// store as the earlier ones leave it, and fails with "MISSING <i>" or
// "EXISTS <i>" (0-based, within deletes or writes) before changing
// anything; then it applies all and returns the new revision.
var writeScript = goredis.NewScript(commonLua + `
local nd = tonumber(ARGV[2])
local nw = (#ARGV - 2 - 3 * nd) / 4
local state = {}
local function stored(k)
  local s = state[k]
  if s == nil then s = redis.call('ZSCORE', KEYS[2], k) ~= false end
  return s
end
local i = 3
for d = 0, nd - 1 do
  local k = ARGV[i] .. '\0' .. ARGV[i + 1] .. '\0' .. ARGV[i + 2]
  if not stored(k) then return redis.error_reply('MISSING ' .. d) end
  state[k] = false
  i = i + 3
end
for w = 0, nw - 1 do
  local k = ARGV[i] .. '\0' .. ARGV[i + 1] .. '\0' .. ARGV[i + 2]
  if stored(k) then return redis.error_reply('EXISTS ' .. w) end
  state[k] = true
  i = i + 4
end
local rev = nextRevision()
if not rev then return redis.error_reply('CORRUPT the change log is ahead of the revision') end
redis.call('HSET', KEYS[1], 'revision', rev)
local ord = 0
i = 3
for d = 1, nd do
  local o, r, u = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local k = o .. '\0' .. r .. '\0' .. u
  redis.call('ZREM', KEYS[2], k)
  redis.call('ZREM', KEYS[3], u .. '\0' .. o .. '\0' .. r)
  redis.call('HDEL', KEYS[4], k)
  redis.call('XADD', KEYS[5], rev .. '-' .. ord, 'op', '2', 'o', o, 'r', r, 'u', u)
  ord = ord + 1
  i = i + 3
end
for w = 1, nw do
  local o, r, u, c = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local k = o .. '\0' .. r .. '\0' .. u
  redis.call('ZADD', KEYS[2], 0, k)
  redis.call('ZADD', KEYS[3], 0, u .. '\0' .. o .. '\0' .. r)
  if c ~= '' then redis.call('HSET', KEYS[4], k, c) end
  redis.call('XADD', KEYS[5], rev .. '-' .. ord, 'op', '1', 'o', o, 'r', r, 'u', u, 'c', c)
  ord = ord + 1
  i = i + 4
end
compact(tonumber(ARGV[1]))
return rev
`)

// writeModelScript stores the model ARGV[2] (ID) -> ARGV[3] in KEYS[6]
// unless the ID is taken ("EXISTS"), makes it current, appends its change
// and returns the new revision. KEYS as for writeScript, then models;
// ARGV[1] is keep.
var writeModelScript = goredis.NewScript(commonLua + `
if redis.call('HEXISTS', KEYS[6], ARGV[2]) == 1 then return redis.error_reply('EXISTS') end
local rev = nextRevision()
if not rev then return redis.error_reply('CORRUPT the change log is ahead of the revision') end
redis.call('HSET', KEYS[6], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], 'revision', rev, 'model', ARGV[2])
redis.call('XADD', KEYS[5], rev .. '-0', 'op', '3', 'm', ARGV[2])
compact(tonumber(ARGV[1]))
return rev
`)

// modelScript returns the current model's ID and data from the meta hash
// KEYS[1] and the models hash KEYS[2], or nil.
var modelScript = goredis.NewScript(`
local id = redis.call('HGET', KEYS[1], 'model')
if not id then return false end
return {id, redis.call('HGET', KEYS[2], id)}
`)

// changesScript returns the floor from the meta hash KEYS[1] and the
// entries of the change log KEYS[2] from the ID ARGV[1] on: at most
// ARGV[2] of them and whole revisions, or one whole revision that is
// larger.
var changesScript = goredis.NewScript(`
local max = tonumber(ARGV[2])
local out = redis.call('XRANGE', KEYS[2], ARGV[1], '+', 'COUNT', max + 1)
if #out > max then
  local first = string.match(out[1][1], '^(%d+)-')
  local last = string.match(out[#out][1], '^(%d+)-')
  if first == last then
    out = redis.call('XRANGE', KEYS[2], first .. '-0', first .. '-` + maxStreamSeq + `')
  else
    while string.match(out[#out][1], '^(%d+)-') == last do out[#out] = nil end
  end
end
return {redis.call('HGET', KEYS[1], 'floor') or '0', out}
`)

// pageScript returns up to ARGV[3] members of the ZSET KEYS[1] between
// ARGV[1] and ARGV[2] (ZRANGE BYLEX bounds), as tuple keys, and their
// conditions from KEYS[2]. With ARGV[4] "1" KEYS[1] is the users index,
// whose members it turns into tuple keys.
var pageScript = goredis.NewScript(`
local ms = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
if #ms == 0 then return {{}, {}} end
if ARGV[4] == '1' then
  for i, m in ipairs(ms) do
    local u, o, r = string.match(m, '^([^%z]*)%z([^%z]*)%z(.*)$')
    ms[i] = o .. '\0' .. r .. '\0' .. u
  end
end
return {ms, redis.call('HMGET', KEYS[2], unpack(ms))}
`)

// tupleKey returns object 0x00 relation 0x00 user.
func tupleKey(t tuplestore.Tuple) string { return t.Object + "\x00" + t.Relation + "\x00" + t.User }

// splitKey splits a tuple key into its fields.
func splitKey(k string) (tuplestore.Tuple, bool) {
	o, rest, ok1 := strings.Cut(k, "\x00")
	r, u, ok2 := strings.Cut(rest, "\x00")
	return tuplestore.Tuple{Object: o, Relation: r, User: u}, ok1 && ok2
}

// tupleWrap adds the package's context to an error that is not the
// context's.
func tupleWrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("redis: tuples: %s: %w", op, err)
}

// condition returns a stored condition, nil for none.
func condition(v any) []byte {
	if s, _ := v.(string); s != "" {
		return []byte(s)
	}
	return nil
}

// Write implements [tuplestore.Store] with one script.
func (s *TupleStore) Write(ctx context.Context, writes, deletes []tuplestore.Tuple) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := tuplestore.CheckWrite(writes, deletes); err != nil {
		return 0, tupleWrap("write", err)
	}
	if len(writes)+len(deletes) == 0 {
		return s.Revision(ctx)
	}
	args := make([]any, 0, 2+3*len(deletes)+4*len(writes))
	args = append(args, s.keep, len(deletes))
	for _, t := range deletes {
		args = append(args, t.Object, t.Relation, t.User)
	}
	for _, t := range writes {
		args = append(args, t.Object, t.Relation, t.User, t.Condition)
	}
	keys := []string{s.key("meta"), s.key("tuples"), s.key("users"), s.key("conditions"), s.key("changes")}
	rev, err := writeScript.Run(ctx, s.c, keys, args...).Text()
	if err != nil {
		return 0, tupleWrap("write", scriptError(err, writes, deletes))
	}
	n, err := strconv.ParseUint(rev, 10, 64)
	if err != nil {
		return 0, tupleWrap("write", fmt.Errorf("revision %q: %w", rev, err))
	}
	return n, nil
}

// scriptError turns writeScript's MISSING and EXISTS errors into the
// contract's, naming the tuple.
func scriptError(err error, writes, deletes []tuplestore.Tuple) error {
	for _, e := range []struct {
		prefix, name string
		list         []tuplestore.Tuple
		sentinel     error
	}{{"MISSING ", "deletes", deletes, tuplestore.ErrMissing}, {"EXISTS ", "writes", writes, tuplestore.ErrExists}} {
		if !goredis.HasErrorPrefix(err, e.prefix) {
			continue
		}
		i, perr := strconv.Atoi(strings.TrimPrefix(err.Error(), e.prefix))
		if perr != nil || i < 0 || i >= len(e.list) {
			return fmt.Errorf("%s: %w", err, e.sentinel)
		}
		return fmt.Errorf("%s[%d] %q: %w", e.name, i, tuplestore.KeyString(e.list[i]), e.sentinel)
	}
	return err
}

// page reads one page of the ZSET zkey: tuple keys and conditions.
func (s *TupleStore) page(ctx context.Context, zkey, lo, hi string, n int, byUser bool) (keys []string, conds []any, err error) {
	flag := "0"
	if byUser {
		flag = "1"
	}
	res, err := pageScript.Run(ctx, s.c, []string{zkey, s.key("conditions")}, lo, hi, n, flag).Slice()
	if err != nil {
		return nil, nil, err
	}
	if len(res) != 2 {
		return nil, nil, errors.New("page: unexpected reply")
	}
	ms, _ := res[0].([]any)
	conds, _ = res[1].([]any)
	if len(conds) != len(ms) {
		return nil, nil, errors.New("page: unexpected reply")
	}
	keys = make([]string, len(ms))
	for i, m := range ms {
		if keys[i], _ = m.(string); keys[i] == "" {
			return nil, nil, errors.New("page: unexpected reply")
		}
	}
	return keys, conds, nil
}

// Snapshot implements [tuplestore.Store]. It reads the revision, then
// pages through the tuples in key order with one script each; fn runs
// between round trips, so it may use the store.
func (s *TupleStore) Snapshot(ctx context.Context, fn func(tuplestore.Tuple) error) (uint64, error) {
	rev, err := s.Revision(ctx)
	if err != nil {
		return 0, err
	}
	lo := "-"
	for {
		keys, conds, err := s.page(ctx, s.key("tuples"), lo, "+", tuplePage, false)
		if err != nil {
			return 0, tupleWrap("snapshot", err)
		}
		for i, k := range keys {
			t, ok := splitKey(k)
			if !ok {
				return 0, tupleWrap("snapshot", fmt.Errorf("tuple key %q: corrupt", k))
			}
			t.Condition = condition(conds[i])
			if err := fn(t); err != nil {
				return 0, err
			}
		}
		if len(keys) < tuplePage {
			return rev, nil
		}
		lo = "(" + keys[len(keys)-1]
	}
}

// Changes implements [tuplestore.Store] with one script, which reads the
// floor and the changes together.
func (s *TupleStore) Changes(ctx context.Context, after uint64) ([]tuplestore.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if after == math.MaxUint64 {
		after-- // no revision follows; the floor check still applies
	}
	res, err := changesScript.Run(ctx, s.c, []string{s.key("meta"), s.key("changes")},
		strconv.FormatUint(after+1, 10)+"-0", tuplestore.ChangesMaxHop).Slice()
	if err != nil {
		return nil, tupleWrap("changes", err)
	}
	if len(res) != 2 {
		return nil, tupleWrap("changes", errors.New("unexpected reply"))
	}
	fs, _ := res[0].(string)
	floor, err := strconv.ParseUint(fs, 10, 64)
	if err != nil {
		return nil, tupleWrap("changes", fmt.Errorf("floor %q: %w", fs, err))
	}
	if after < floor {
		return nil, tupleWrap("changes", fmt.Errorf("after revision %d: %w", after, tuplestore.ErrCompacted))
	}
	entries, _ := res[1].([]any)
	out := make([]tuplestore.Change, 0, len(entries))
	for _, e := range entries {
		c, err := decodeChange(e)
		if err != nil {
			return nil, tupleWrap("changes", err)
		}
		if c.Revision > after {
			out = append(out, c)
		}
	}
	return out, nil
}

// decodeChange decodes one stream entry, [ID, [field, value, ...]].
func decodeChange(e any) (tuplestore.Change, error) {
	pair, _ := e.([]any)
	if len(pair) != 2 {
		return tuplestore.Change{}, errors.New("change: unexpected reply")
	}
	id, _ := pair[0].(string)
	revStr, _, _ := strings.Cut(id, "-")
	rev, err := strconv.ParseUint(revStr, 10, 64)
	if err != nil {
		return tuplestore.Change{}, fmt.Errorf("change ID %q: %w", id, err)
	}
	fields, _ := pair[1].([]any)
	c := tuplestore.Change{Revision: rev}
	for i := 0; i+1 < len(fields); i += 2 {
		f, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		switch f {
		case "op":
			n, err := strconv.ParseUint(v, 10, 8)
			if err != nil {
				return tuplestore.Change{}, fmt.Errorf("change %s: op %q: %w", id, v, err)
			}
			c.Op = tuplestore.Op(n)
		case "o":
			c.Tuple.Object = v
		case "r":
			c.Tuple.Relation = v
		case "u":
			c.Tuple.User = v
		case "c":
			c.Tuple.Condition = condition(v)
		case "m":
			c.ModelID = v
		}
	}
	if c.Op < tuplestore.OpWrite || c.Op > tuplestore.OpModel {
		return tuplestore.Change{}, fmt.Errorf("change %s: no valid op", id)
	}
	return c, nil
}

// Revision implements [tuplestore.Store].
func (s *TupleStore) Revision(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	v, err := s.c.HGet(ctx, s.key("meta"), "revision").Result()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, tupleWrap("revision", err)
	}
	rev, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, tupleWrap("revision", fmt.Errorf("%q: %w", v, err))
	}
	return rev, nil
}

// Read implements [tuplestore.Store]. With an object it pages through
// that object's range of tuples (and relation's, when given); with a
// user and no object, through the user's range of users; otherwise
// through every tuple. limit must be positive.
func (s *TupleStore) Read(ctx context.Context, filter, after tuplestore.Tuple, limit int) ([]tuplestore.Tuple, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("redis: tuples: read: limit %d, want at least 1", limit)
	}
	hasAfter := after.Object != "" || after.Relation != "" || after.User != ""
	afterKey := tupleKey(after)
	zkey, lo, hi, byUser := s.key("tuples"), "-", "+", false
	switch {
	case filter.Object != "" && filter.Relation != "" && filter.User != "":
		k := tupleKey(filter)
		lo, hi = "["+k, "["+k
	case filter.Object != "":
		prefix := filter.Object + "\x00"
		if filter.Relation != "" {
			prefix += filter.Relation + "\x00"
		}
		lo, hi = "["+prefix, "("+prefix[:len(prefix)-1]+"\x01"
		if hasAfter && afterKey >= prefix {
			lo = "(" + afterKey
		}
	case filter.User != "":
		prefix := filter.User + "\x00"
		zkey, byUser = s.key("users"), true
		lo, hi = "["+prefix, "("+filter.User+"\x01"
		// The entries of this user whose (object, relation) is below
		// after's come before it in key order.
		if f := prefix + after.Object + "\x00" + after.Relation; hasAfter && f > prefix {
			lo = "[" + f
		}
	case hasAfter:
		lo = "(" + afterKey
	}
	n := min(limit+1, tuplePage)
	var out []tuplestore.Tuple
	for {
		keys, conds, err := s.page(ctx, zkey, lo, hi, n, byUser)
		if err != nil {
			return nil, tupleWrap("read", err)
		}
		for i, k := range keys {
			t, ok := splitKey(k)
			if !ok {
				return nil, tupleWrap("read", fmt.Errorf("tuple key %q: corrupt", k))
			}
			if (filter.Object == "" || t.Object == filter.Object) && (filter.Relation == "" || t.Relation == filter.Relation) &&
				(filter.User == "" || t.User == filter.User) && (!hasAfter || k > afterKey) {
				t.Condition = condition(conds[i])
				if out = append(out, t); len(out) == limit {
					return out, nil
				}
			}
		}
		if len(keys) < n {
			return out, nil
		}
		last, _ := splitKey(keys[len(keys)-1])
		if byUser {
			lo = "(" + last.User + "\x00" + last.Object + "\x00" + last.Relation
		} else {
			lo = "(" + keys[len(keys)-1]
		}
	}
}

// WriteModel implements [tuplestore.Store] with one script.
func (s *TupleStore) WriteModel(ctx context.Context, m tuplestore.Model) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := tuplestore.CheckModel(m); err != nil {
		return 0, tupleWrap("write model", err)
	}
	keys := []string{s.key("meta"), s.key("tuples"), s.key("users"), s.key("conditions"), s.key("changes"), s.key("models")}
	rev, err := writeModelScript.Run(ctx, s.c, keys, s.keep, m.ID, m.Data).Text()
	if goredis.HasErrorPrefix(err, "EXISTS") {
		return 0, tupleWrap("write model", fmt.Errorf("model %q: %w", m.ID, tuplestore.ErrExists))
	}
	if err != nil {
		return 0, tupleWrap("write model", err)
	}
	n, err := strconv.ParseUint(rev, 10, 64)
	if err != nil {
		return 0, tupleWrap("write model", fmt.Errorf("revision %q: %w", rev, err))
	}
	return n, nil
}

// Model implements [tuplestore.Store] with one script.
func (s *TupleStore) Model(ctx context.Context) (tuplestore.Model, error) {
	if err := ctx.Err(); err != nil {
		return tuplestore.Model{}, err
	}
	res, err := modelScript.Run(ctx, s.c, []string{s.key("meta"), s.key("models")}).Slice()
	if errors.Is(err, goredis.Nil) {
		return tuplestore.Model{}, tuplestore.ErrNotFound
	}
	if err != nil {
		return tuplestore.Model{}, tupleWrap("model", err)
	}
	if len(res) != 2 {
		return tuplestore.Model{}, tupleWrap("model", errors.New("unexpected reply"))
	}
	id, _ := res[0].(string)
	data, ok := res[1].(string)
	if !ok {
		return tuplestore.Model{}, tupleWrap("model", fmt.Errorf("current model %q: no data", id))
	}
	return tuplestore.Model{ID: id, Data: []byte(data)}, nil
}
