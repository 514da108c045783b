package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Counters implements the LLM proxy's budget counters (limits.Counters)
// in Redis, shared by every node. Its keys, under <key_prefix>{limits}:,
// are
//
//	w:<group>     HASH, window name -> "<length ms> <fixed-window index> <current count> <previous count>"
//	c:<slot key>  ZSET, member = lease, score = its expiry (Unix ms)
//
// A window key splits at its last ':' into a group and a name
// ("user:alice:tpd" is window "tpd" of group "user:alice"), so that one
// caller's windows share a hash and a script reads and writes each hash
// once. A hash expires twice its longest window's length after its last
// write (by then its counts are stale), a slot set one lease TTL after its
// last lease was taken; expired leases are dropped when a set is full.
// All keys share the hash tag {limits}, one Cluster slot, so that Charge
// and Settle are each one Lua script, one round trip, atomic against every
// node: Charge checks every window and slot set of every scope before it
// charges any. The window arithmetic is the same as store/bolt's, in Lua's
// doubles; counts are exact up to 2^53.
type Counters struct {
	c      goredis.UniversalClient
	prefix string // <key_prefix>{limits}:
}

// Counters returns the budget counters kept in this database.
func (d *DB) Counters() *Counters {
	keyPrefix := strings.TrimSuffix(d.audit.prefix, "audit:") // the configured key_prefix
	return &Counters{c: d.client, prefix: keyPrefix + "{limits}:"}
}

// maxCounterKey bounds window and slot keys.
const maxCounterKey = 1024

// counterLua holds what both scripts use. ARGV starts with the numbers of
// windows and of groups; window i's arguments start at w(i): group index
// (into KEYS), name, length ms, then the script's own. load reads every
// window, moved to the fixed window of now: st[i] = {ok, len, idx, c, p},
// ok false for a window not stored. store writes them back.
const counterLua = `
local nw, ng = tonumber(ARGV[1]), tonumber(ARGV[2])
local function load(w, now)
  local byg, st = {}, {}
  for i = 1, nw do
    local g = tonumber(ARGV[w(i)])
    byg[g] = byg[g] or {}
    table.insert(byg[g], i)
  end
  for g = 1, ng do
    local names = {}
    for j, i in ipairs(byg[g]) do names[j] = ARGV[w(i) + 1] end
    local got = redis.call('HMGET', KEYS[g], unpack(names))
    for j, i in ipairs(byg[g]) do
      local len = tonumber(ARGV[w(i) + 2])
      local idx = math.floor(now / len)
      local l, wi, c, p = string.match(got[j] or '', '^(%d+) (%d+) (%d+) (%d+)$')
      l, wi, c, p = tonumber(l), tonumber(wi), tonumber(c), tonumber(p)
      if l ~= len or wi == nil then st[i] = {false, len, idx, 0, 0}
      elseif wi == idx - 1 then st[i] = {true, len, idx, 0, c}
      elseif wi < idx - 1 then st[i] = {true, len, idx, 0, 0}
      else st[i] = {true, len, wi, c, p} end -- wi > idx: a clock that stepped back counts as now
    end
  end
  return byg, st
end
local function store(w, byg, st, write)
  for g = 1, ng do
    local args, ttl = {}, 0
    for _, i in ipairs(byg[g]) do
      if write[i] then
        local s = st[i]
        args[#args + 1] = ARGV[w(i) + 1]
        args[#args + 1] = string.format('%d %d %d %d', s[2], s[3], s[4], s[5])
        ttl = math.max(ttl, 2 * s[2])
      end
    end
    if #args > 0 then
      redis.call('HSET', KEYS[g], unpack(args))
      if redis.call('PTTL', KEYS[g]) < ttl then redis.call('PEXPIRE', KEYS[g], string.format('%d', ttl)) end
    end
  end
end
`

// chargeScript: KEYS groups, then slot sets; ARGV windows, groups, now
// ms, lease, lease TTL ms, then per window group, name, length ms, limit,
// amount, then the limit per slot set. Returns {denied, wait ms}.
var chargeScript = goredis.NewScript(counterLua + `
local now, lease, ttl = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local function w(i) return 6 + 5 * (i - 1) end
local denied, worst = -1, 0
local function blame(i, wait)
  if wait == 0 or worst < 0 then return end
  if wait < 0 or wait > worst then denied, worst = i, wait end
end
local function wwait(p, c, n, limit, len, e)
  if p * (len - e) / len + c + n <= limit then return 0 end
  if n > limit then return -1 end
  if c + n <= limit then return math.ceil(len - (limit - c - n) * len / p) - e + 1 end
  return len - e + math.ceil(len - (limit - n) * len / c) + 1
end
local byg, st = load(w, now)
local write = {}
for i = 1, nw do
  local s, limit, n = st[i], tonumber(ARGV[w(i) + 3]), tonumber(ARGV[w(i) + 4])
  blame(i - 1, wwait(s[5], s[4], n, limit, s[2], now - math.floor(now / s[2]) * s[2]))
  s[4] = s[4] + n
  write[i] = true
end
local ns = #KEYS - ng
for j = 1, ns do
  local k, limit = KEYS[ng + j], tonumber(ARGV[w(nw + 1) + j - 1])
  local live = redis.call('ZCARD', k)
  if live >= limit then
    live = live - redis.call('ZREMRANGEBYSCORE', k, '-inf', string.format('%d', now))
    if live >= limit then
      local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
      blame(nw + j - 1, math.max(tonumber(first[2]) - now, 1))
    end
  end
end
if denied >= 0 then return {denied, worst} end
store(w, byg, st, write)
for j = 1, ns do
  redis.call('ZADD', KEYS[ng + j], string.format('%d', now + ttl), lease)
  redis.call('PEXPIRE', KEYS[ng + j], string.format('%d', ttl))
end
return {-1, 0}
`)

// settleScript: KEYS groups, then slot sets; ARGV windows, groups, charge
// time ms, now ms, delta, lease, then per window group, name, length ms.
var settleScript = goredis.NewScript(counterLua + `
local at, now, delta, lease = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local function w(i) return 7 + 3 * (i - 1) end
local byg, st = load(w, now)
local write = {}
for i = 1, nw do
  local s = st[i]
  if s[1] or delta > 0 then
    local ai = math.floor(at / s[2])
    if ai == s[3] then s[4] = math.max(s[4] + delta, 0)
    elseif ai == s[3] - 1 then s[5] = math.max(s[5] + delta, 0)
    elseif delta > 0 then s[4] = s[4] + delta end
    write[i] = true
  end
end
store(w, byg, st, write)
for j = ng + 1, #KEYS do redis.call('ZREM', KEYS[j], lease) end
return 1
`)

var errCounterArgs = errors.New("mismatched or invalid arguments")

// keyList returns KEYS (the windows' groups, then the slot sets) and
// each window's group index (1-based) and name.
func (s *Counters) keyList(keys []string, lengths []time.Duration, slots []string) (all []string, groups []int, names []string, ng int, err error) {
	if len(lengths) != len(keys) {
		return nil, nil, nil, 0, errCounterArgs
	}
	all = make([]string, 0, len(keys)+len(slots))
	groups, names = make([]int, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		if len(k) == 0 || len(k) > maxCounterKey || lengths[i] < time.Millisecond || slices.Contains(keys[:i], k) {
			return nil, nil, nil, 0, errCounterArgs
		}
		g, name := k, ""
		if j := strings.LastIndexByte(k, ':'); j >= 0 {
			g, name = k[:j], k[j+1:]
		}
		g = s.prefix + "w:" + g
		groups[i], names[i] = slices.Index(all, g)+1, name
		if groups[i] == 0 {
			all = append(all, g)
			groups[i] = len(all)
		}
	}
	ng = len(all)
	for j, k := range slots {
		if len(k) == 0 || len(k) > maxCounterKey || slices.Contains(slots[:j], k) {
			return nil, nil, nil, 0, errCounterArgs
		}
		all = append(all, s.prefix+"c:"+k)
	}
	return all, groups, names, ng, nil
}

func counterWrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("redis: counters: %s: %w", op, err)
}

// Charge implements limits.Counters with one script.
func (s *Counters) Charge(ctx context.Context, now time.Time, keys []string, lengths []time.Duration, limits, amounts []int64,
	slots []string, slotLimits []int64, lease string, leaseTTL time.Duration) (int, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	all, groups, names, ng, err := s.keyList(keys, lengths, slots)
	if err != nil || len(limits) != len(keys) || len(amounts) != len(keys) || len(slotLimits) != len(slots) ||
		(len(slots) > 0 && (lease == "" || leaseTTL < time.Millisecond)) {
		return 0, 0, counterWrap("charge", errCounterArgs)
	}
	args := make([]any, 0, 5+5*len(keys)+len(slots))
	args = append(args, len(keys), ng, now.UnixMilli(), lease, leaseTTL.Milliseconds())
	for i := range keys {
		args = append(args, groups[i], names[i], lengths[i].Milliseconds(), limits[i], amounts[i])
	}
	for _, l := range slotLimits {
		args = append(args, l)
	}
	res, err := chargeScript.Run(ctx, s.c, all, args...).Int64Slice()
	if err != nil {
		return 0, 0, counterWrap("charge", err)
	}
	if len(res) != 2 || res[0] < -1 || res[0] >= int64(len(keys)+len(slots)) {
		return 0, 0, counterWrap("charge", fmt.Errorf("unexpected reply %v", res))
	}
	return int(res[0]), time.Duration(res[1]) * time.Millisecond, nil
}

// Settle implements limits.Counters with one script.
func (s *Counters) Settle(ctx context.Context, at, now time.Time, keys []string, lengths []time.Duration, delta int64, slots []string, lease string) error {
	all, groups, names, ng, err := s.keyList(keys, lengths, slots)
	if err != nil {
		return counterWrap("settle", err)
	}
	if len(all) == 0 {
		return nil
	}
	args := make([]any, 0, 6+3*len(keys))
	args = append(args, len(keys), ng, at.UnixMilli(), now.UnixMilli(), delta, lease)
	for i := range keys {
		args = append(args, groups[i], names[i], lengths[i].Milliseconds())
	}
	return counterWrap("settle", settleScript.Run(ctx, s.c, all, args...).Err())
}

// extendScript: KEYS slot sets; ARGV lease, expiry ms, TTL ms.
var extendScript = goredis.NewScript(`
for j = 1, #KEYS do
  if redis.call('ZADD', KEYS[j], 'XX', 'CH', ARGV[2], ARGV[1]) == 1 then
    redis.call('PEXPIRE', KEYS[j], ARGV[3])
  end
end
return 1
`)

// Extend implements limits.Counters with one script.
func (s *Counters) Extend(ctx context.Context, now time.Time, slots []string, lease string, leaseTTL time.Duration) error {
	all, _, _, _, err := s.keyList(nil, nil, slots)
	if err != nil || lease == "" || leaseTTL < time.Millisecond {
		return counterWrap("extend", errCounterArgs)
	}
	if len(all) == 0 {
		return nil
	}
	ttl := leaseTTL.Milliseconds()
	return counterWrap("extend", extendScript.Run(ctx, s.c, all, lease, now.UnixMilli()+ttl, ttl).Err())
}
