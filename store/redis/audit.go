package redis

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/subzero-gateway/subzero/audit"
)

// scanPage is how many records one ZRANGE of a scan returns.
const scanPage = 1024

// appendScript checks the events ZSET's head (KEYS[1]) against ARGV[1],
// then adds ARGV[2] events and the remaining checkpoints (KEYS[2]) as
// score, member pairs, in chunks that stay below Lua's unpack limit.
var appendScript = goredis.NewScript(`
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local head = 0
if top[2] then head = tonumber(top[2]) end
if head ~= tonumber(ARGV[1]) then
  return redis.error_reply('CONFLICT audit chain head moved')
end
local split = 2 + 2 * tonumber(ARGV[2])
local function add(key, first, last)
  for i = first, last, 1000 do
    redis.call('ZADD', key, unpack(ARGV, i, math.min(i + 999, last)))
  end
end
add(KEYS[1], 3, split)
add(KEYS[2], split + 1, #ARGV)
return redis.status_reply('OK')
`)

// AuditStore implements [audit.Store] in Redis; the package comment
// describes its keys.
type AuditStore struct {
	c      goredis.UniversalClient
	prefix string   // <key_prefix>audit:
	known  sync.Map // node IDs this store has added to the nodes set
}

var _ audit.Store = (*AuditStore)(nil)

func newAuditStore(c goredis.UniversalClient, keyPrefix string) *AuditStore {
	return &AuditStore{c: c, prefix: keyPrefix + "audit:"}
}

func (s *AuditStore) nodesKey() string { return s.prefix + "nodes" }

// key returns the node's key of the given kind: events, checkpoints, keys.
func (s *AuditStore) key(node, kind string) string {
	return s.prefix + "{" + node + "}:" + kind
}

// record decodes a ZSET entry. The seq is the score, floored (a negative
// score reads as 0); the data is the member after its 8-byte seq prefix.
func record(z goredis.Z) audit.Record {
	m, _ := z.Member.(string)
	var seq uint64
	switch {
	case z.Score >= math.MaxUint64:
		seq = math.MaxUint64
	case z.Score > 0:
		seq = uint64(z.Score)
	}
	return audit.Record{Seq: seq, Data: []byte(m[min(len(m), 8):])}
}

func records(zs []goredis.Z) []audit.Record {
	out := make([]audit.Record, len(zs))
	for i, z := range zs {
		out[i] = record(z)
	}
	return out
}

// Nodes implements [audit.Reader].
func (s *AuditStore) Nodes(ctx context.Context) ([]string, error) {
	nodes, err := s.c.SMembers(ctx, s.nodesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: nodes: %w", err)
	}
	slices.Sort(nodes)
	return nodes, nil
}

// Scan implements [audit.Reader]. It pages by rank, so records keep coming
// in order while the chain grows.
func (s *AuditStore) Scan(ctx context.Context, node string, from uint64, fn func(audit.Record) error) error {
	key := s.key(node, "events")
	var start int64
	if from > 0 {
		n, err := s.c.ZCount(ctx, key, "-inf", "("+strconv.FormatUint(from, 10)).Result()
		if err != nil {
			return fmt.Errorf("redis: scan: %w", err)
		}
		start = n
	}
	for {
		page, err := s.c.ZRangeWithScores(ctx, key, start, start+scanPage-1).Result()
		if err != nil {
			return fmt.Errorf("redis: scan: %w", err)
		}
		for _, z := range page {
			if err := fn(record(z)); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		start += int64(len(page))
	}
}

// Checkpoints implements [audit.Reader].
func (s *AuditStore) Checkpoints(ctx context.Context, node string) ([]audit.Record, error) {
	zs, err := s.c.ZRangeWithScores(ctx, s.key(node, "checkpoints"), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: checkpoints: %w", err)
	}
	return records(zs), nil
}

// Keys implements [audit.Reader].
func (s *AuditStore) Keys(ctx context.Context, node string) (map[string][]byte, error) {
	m, err := s.c.HGetAll(ctx, s.key(node, "keys")).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: keys: %w", err)
	}
	keys := make(map[string][]byte, len(m))
	for id, pub := range m {
		keys[id] = []byte(pub)
	}
	return keys, nil
}

// Last implements [audit.Reader].
func (s *AuditStore) Last(ctx context.Context, node string) (audit.Record, bool, error) {
	zs, err := s.c.ZRangeWithScores(ctx, s.key(node, "events"), -1, -1).Result()
	if err != nil {
		return audit.Record{}, false, fmt.Errorf("redis: last: %w", err)
	}
	if len(zs) == 0 {
		return audit.Record{}, false, nil
	}
	return record(zs[0]), true, nil
}

// Append implements [audit.Store] with one Lua script, one round trip. The
// first append of a node by this store also adds it to the nodes set.
func (s *AuditStore) Append(ctx context.Context, node string, prev uint64, events, checkpoints []audit.Record) error {
	size := 0
	for _, r := range events {
		size += 8 + len(r.Data)
	}
	for _, r := range checkpoints {
		size += 8 + len(r.Data)
	}
	buf := make([]byte, 0, size) // one allocation for every member
	args := make([]any, 0, 2+2*(len(events)+len(checkpoints)))
	args = append(args, prev, len(events))
	for _, rs := range [][]audit.Record{events, checkpoints} {
		for _, r := range rs {
			n := len(buf)
			buf = append(binary.BigEndian.AppendUint64(buf, r.Seq), r.Data...)
			args = append(args, r.Seq, buf[n:])
		}
	}
	keys := []string{s.key(node, "events"), s.key(node, "checkpoints")}
	if err := appendScript.Run(ctx, s.c, keys, args...).Err(); err != nil {
		if goredis.HasErrorPrefix(err, "CONFLICT ") {
			return audit.ErrConflict
		}
		return fmt.Errorf("redis: append: %w", err)
	}
	return s.addNode(ctx, node)
}

func (s *AuditStore) addNode(ctx context.Context, node string) error {
	if _, ok := s.known.Load(node); ok {
		return nil
	}
	if err := s.c.SAdd(ctx, s.nodesKey(), node).Err(); err != nil {
		return fmt.Errorf("redis: add node: %w", err)
	}
	s.known.Store(node, true)
	return nil
}

// PutKey implements [audit.Store].
func (s *AuditStore) PutKey(ctx context.Context, node, keyID string, pub []byte) error {
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, s.key(node, "keys"), keyID, pub)
		p.SAdd(ctx, s.nodesKey(), node)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: put key: %w", err)
	}
	s.known.Store(node, true)
	return nil
}

// claimScript takes or renews KEYS[1] (the node's lease) for ARGV[1] for
// ARGV[2] milliseconds unless another owner holds it: 1 taken, 0 in use.
var claimScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// releaseScript deletes KEYS[1] if ARGV[1] holds it.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Claim implements [audit.Store] with <prefix>audit:{<node>}:lease.
func (s *AuditStore) Claim(ctx context.Context, node, owner string, ttl time.Duration) error {
	n, err := claimScript.Run(ctx, s.c, []string{s.key(node, "lease")}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("redis: claim: %w", err)
	}
	if n == 0 {
		return audit.ErrInUse
	}
	return nil
}

// Release implements [audit.Store].
func (s *AuditStore) Release(ctx context.Context, node, owner string) error {
	if err := releaseScript.Run(ctx, s.c, []string{s.key(node, "lease")}, owner).Err(); err != nil {
		return fmt.Errorf("redis: release: %w", err)
	}
	return nil
}
