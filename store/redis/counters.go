package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Counters implements the LLM proxy's budget counters (limits.Counters)
// in Redis, shared by every node. Its keys, under <key_prefix>{limits}:,
// are
//
//	w:<window key>  HASH {l: length ms, i: fixed-window index, c: current count, p: previous count}
//	c:<slot key>    ZSET, member = lease, score = its expiry (Unix ms)
//
// A window's key expires two window lengths after its last write (by then
// both its counts are stale), a slot set's key one lease TTL after its
// last lease was taken. All keys share the hash tag {limits}, one Cluster
// slot, so that Charge and Settle are each one Lua script, one round trip,
// atomic against every node: Charge checks every window and slot set of
// every scope before it charges any. The window arithmetic is the same as
// store/bolt's, in Lua's doubles; counts are exact up to 2^53.
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

// counterLua holds the functions both scripts use: roll(h, idx, len)
// reads a window's HMGET reply moved to fixed window idx, and wwait is
// windowWait of store/bolt.
const counterLua = `
local function roll(h, idx, len)
  local wi, c, p = tonumber(h[2]), tonumber(h[3]) or 0, tonumber(h[4]) or 0
  if tonumber(h[1]) ~= len or wi == nil then return false, idx, 0, 0 end
  if wi == idx - 1 then return true, idx, 0, c end
  if wi < idx - 1 then return true, idx, 0, 0 end
  return true, wi, c, p -- wi > idx: a clock that stepped back counts as now
end
local function put(key, len, wi, c, p)
  redis.call('HSET', key, 'l', string.format('%d', len), 'i', string.format('%d', wi),
    'c', string.format('%d', c), 'p', string.format('%d', p))
  redis.call('PEXPIRE', key, string.format('%d', 2 * len))
end
`

// chargeScript: KEYS windows, then slot sets; ARGV now ms, number of
// windows, lease, lease TTL ms, then length ms, limit, amount per window,
// then the limit per slot set. Returns {denied, wait ms}.
var chargeScript = goredis.NewScript(counterLua + `
local now, nw, lease, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
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
local st = {}
for i = 1, nw do
  local a = 4 + 3 * (i - 1)
  local len, limit, n = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local idx = math.floor(now / len)
  local _, wi, c, p = roll(redis.call('HMGET', KEYS[i], 'l', 'i', 'c', 'p'), idx, len)
  st[i] = {len, wi, c + n, p}
  blame(i - 1, wwait(p, c, n, limit, len, now - idx * len))
end
for j = nw + 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', string.format('%d', now))
  if redis.call('ZCARD', KEYS[j]) >= tonumber(ARGV[4 + 3 * nw + j - nw]) then
    local first = redis.call('ZRANGE', KEYS[j], 0, 0, 'WITHSCORES')
    blame(j - 1, math.max(tonumber(first[2]) - now, 1))
  end
end
if denied >= 0 then return {denied, worst} end
for i = 1, nw do put(KEYS[i], st[i][1], st[i][2], st[i][3], st[i][4]) end
for j = nw + 1, #KEYS do
  redis.call('ZADD', KEYS[j], string.format('%d', now + ttl), lease)
  redis.call('PEXPIRE', KEYS[j], string.format('%d', ttl))
end
return {-1, 0}
`)

// settleScript: KEYS windows, then slot sets; ARGV charge time ms, now
// ms, delta, number of windows, lease, then the length ms per window.
var settleScript = goredis.NewScript(counterLua + `
local at, now, delta, nw, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
for i = 1, nw do
  local len = tonumber(ARGV[5 + i])
  local ok, wi, c, p = roll(redis.call('HMGET', KEYS[i], 'l', 'i', 'c', 'p'), math.floor(now / len), len)
  if ok or delta > 0 then
    local ai = math.floor(at / len)
    if ai == wi then c = math.max(c + delta, 0)
    elseif ai == wi - 1 then p = math.max(p + delta, 0)
    elseif delta > 0 then c = c + delta end
    put(KEYS[i], len, wi, c, p)
  end
end
for j = nw + 1, #KEYS do redis.call('ZREM', KEYS[j], lease) end
return 1
`)

var errCounterArgs = errors.New("mismatched or invalid arguments")

func (s *Counters) keyList(keys []string, lengths []time.Duration, slots []string) ([]string, error) {
	if len(lengths) != len(keys) {
		return nil, errCounterArgs
	}
	out := make([]string, 0, len(keys)+len(slots))
	for i, k := range keys {
		if len(k) == 0 || len(k) > maxCounterKey || lengths[i] < time.Millisecond {
			return nil, errCounterArgs
		}
		out = append(out, s.prefix+"w:"+k)
	}
	for _, k := range slots {
		if len(k) == 0 || len(k) > maxCounterKey {
			return nil, errCounterArgs
		}
		out = append(out, s.prefix+"c:"+k)
	}
	return out, nil
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
	all, err := s.keyList(keys, lengths, slots)
	if err != nil || len(limits) != len(keys) || len(amounts) != len(keys) || len(slotLimits) != len(slots) ||
		(len(slots) > 0 && (lease == "" || leaseTTL < time.Millisecond)) {
		return 0, 0, counterWrap("charge", errCounterArgs)
	}
	args := make([]any, 0, 4+3*len(keys)+len(slots))
	args = append(args, now.UnixMilli(), len(keys), lease, leaseTTL.Milliseconds())
	for i := range keys {
		args = append(args, lengths[i].Milliseconds(), limits[i], amounts[i])
	}
	for _, l := range slotLimits {
		args = append(args, l)
	}
	res, err := chargeScript.Run(ctx, s.c, all, args...).Int64Slice()
	if err != nil {
		return 0, 0, counterWrap("charge", err)
	}
	if len(res) != 2 || res[0] < -1 || res[0] >= int64(len(all)) {
		return 0, 0, counterWrap("charge", fmt.Errorf("unexpected reply %v", res))
	}
	return int(res[0]), time.Duration(res[1]) * time.Millisecond, nil
}

// Settle implements limits.Counters with one script.
func (s *Counters) Settle(ctx context.Context, at, now time.Time, keys []string, lengths []time.Duration, delta int64, slots []string, lease string) error {
	all, err := s.keyList(keys, lengths, slots)
	if err != nil {
		return counterWrap("settle", err)
	}
	if len(all) == 0 {
		return nil
	}
	args := make([]any, 0, 5+len(keys))
	args = append(args, at.UnixMilli(), now.UnixMilli(), delta, len(keys), lease)
	for _, l := range lengths {
		args = append(args, strconv.FormatInt(l.Milliseconds(), 10))
	}
	return counterWrap("settle", settleScript.Run(ctx, s.c, all, args...).Err())
}
