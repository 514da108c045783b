package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	oauth "github.com/subzero-gateway/subzero/broker/oauth/oauthstore"
)

// OAuthStore implements [oauth.Store] in Redis. Its keys, under
// <key_prefix>oauth:, are
//
//	client:<id>                    STRING, the client's record
//	grant:<kind>:<sig>             HASH {req, active "1"/"0", exp, data}, PXAT its expiry
//	req:<request ID>               SET of "<kind>:<sig>", PXAT the latest expiry of its grants
//	rec:{<collection>}:<key>       STRING, the record, PXAT its expiry
//	recs:{<collection>}            ZSET, score 0, member <key>: the collection's keys in byte order
//
// Redis expires every key on its own clock, at the millisecond after the
// item's expiry (rounded up, never early); exp keeps a grant's expiry in
// Unix nanoseconds ("" for never) only to return it exactly. Kinds must be
// non-empty and contain neither ':' nor 0x00; collection names must be
// non-empty and contain no '}'. IDs, sigs, request IDs and keys must be
// non-empty; otherwise names and data are binary-safe.
//
// # Atomicity, on one server and on a Cluster
//
// Each grant is one key, so each of its state changes is one Lua script on
// one key, atomic on every deployment: PutGrant creates the hash only if
// the key does not exist (ErrExists otherwise), Deactivate reads and
// clears active in one step, so of concurrent callers on any nodes
// exactly one sees it active. A collection's records and its ZSET share
// the hash tag {<collection>}, so one script writes or deletes a record
// and its ZSET member together, in one Cluster slot.
//
// A request's index lives in another slot than its grants (which are
// found by sig alone), so RevokeRequest is atomic per grant, not per
// family: it reads the index, then deactivates each listed grant of the
// given kinds with one script per grant key (all pipelined, one round
// trip per Cluster node) that checks the grant still belongs to the
// request. Every grant it counts changed exactly once, also against
// concurrent Deactivate calls; if it fails part way, some grants are
// revoked and the error is returned, and calling it again finishes the
// job. A grant put concurrently with the revocation may be missed, as it
// would be if it were put just after. PutGrant writes the index entry and
// the grant in one pipeline and returns nil only if both were written, so
// no grant whose token was handed out is missing from its request's
// index. Keeping a family in one slot (hash tag per request ID) would make
// the revocation all-or-nothing, but then a grant's key could not be
// derived from its sig: every read and Deactivate would first look up a
// sig-to-request pointer in another slot, doubling their round trips,
// for no guarantee a caller could observe beyond the error it gets
// either way.
type OAuthStore struct {
	c      goredis.UniversalClient
	prefix string // <key_prefix>oauth:
}

// OAuth returns the OAuth authorization server's store kept in this
// database.
func (d *DB) OAuth() *OAuthStore {
	keyPrefix := strings.TrimSuffix(d.audit.prefix, "audit:") // the configured key_prefix
	return &OAuthStore{c: d.client, prefix: keyPrefix + "oauth:"}
}

func (s *OAuthStore) clientKey(id string) string { return s.prefix + "client:" + id }
func (s *OAuthStore) grantKey(kind oauth.Kind, sig string) string {
	return s.prefix + "grant:" + string(kind) + ":" + sig
}
func (s *OAuthStore) requestKey(req string) string { return s.prefix + "req:" + req }
func (s *OAuthStore) recordKey(collection, key string) string {
	return s.prefix + "rec:{" + collection + "}:" + key
}
func (s *OAuthStore) recordsKey(collection string) string {
	return s.prefix + "recs:{" + collection + "}"
}

// pxat returns t as a PXAT argument: Unix milliseconds rounded up, so that
// Redis never expires a key before t, and at least 1; 0 for the zero time
// (never).
func pxat(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return max(ms, 1)
}

// expNanos encodes a grant's expiry for its exp field.
func expNanos(t time.Time) string {
	switch {
	case t.IsZero():
		return ""
	case t.Before(time.Unix(0, 1)):
		return "1"
	case t.After(time.Unix(0, 1<<63-1)):
		return strconv.FormatInt(1<<63-1, 10)
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

func checkKind(kind oauth.Kind) error {
	if kind == "" || strings.ContainsAny(string(kind), ":\x00") {
		return fmt.Errorf("redis: oauth: invalid kind %q", kind)
	}
	return nil
}

func checkCollection(c string) error {
	if c == "" || strings.Contains(c, "}") {
		return fmt.Errorf("redis: oauth: invalid collection %q", c)
	}
	return nil
}

func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("redis: oauth: empty %s", what)
	}
	return nil
}

func wrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("redis: oauth: %s: %w", op, err)
}

// CreateClient implements [oauth.Store] with SET NX.
func (s *OAuthStore) CreateClient(ctx context.Context, id string, data []byte) error {
	if err := checkName("client ID", id); err != nil {
		return err
	}
	ok, err := s.c.SetNX(ctx, s.clientKey(id), data, 0).Result()
	if err != nil {
		return wrap("create client", err)
	}
	if !ok {
		return oauth.ErrExists
	}
	return nil
}

// PutClient implements [oauth.Store].
func (s *OAuthStore) PutClient(ctx context.Context, id string, data []byte) error {
	if err := checkName("client ID", id); err != nil {
		return err
	}
	return wrap("put client", s.c.Set(ctx, s.clientKey(id), data, 0).Err())
}

// GetClient implements [oauth.Store].
func (s *OAuthStore) GetClient(ctx context.Context, id string) ([]byte, error) {
	if id == "" {
		return nil, oauth.ErrNotFound
	}
	v, err := s.c.Get(ctx, s.clientKey(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, oauth.ErrNotFound
	}
	return v, wrap("get client", err)
}

// DeleteClient implements [oauth.Store].
func (s *OAuthStore) DeleteClient(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return wrap("delete client", s.c.Del(ctx, s.clientKey(id)).Err())
}

// indexScript adds ARGV[1] to the request index KEYS[1] and makes the
// index live at least until ARGV[2] (PXAT milliseconds; "0": forever).
// GT keeps a later expiry; a new index has none, so it gets ARGV[2].
var indexScript = goredis.NewScript(`
local fresh = redis.call('EXISTS', KEYS[1]) == 0
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == '0' then
  redis.call('PERSIST', KEYS[1])
elseif fresh then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT')
end
return 1
`)

// putGrantScript creates the active grant KEYS[1] (req ARGV[1], exp
// ARGV[2], data ARGV[3], expiring at PXAT ARGV[4], "0": never) unless the
// key exists: 1 created, 0 taken. A key past its PXAT does not exist.
var putGrantScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'req', ARGV[1], 'active', '1', 'exp', ARGV[2], 'data', ARGV[3])
if ARGV[4] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[4]) end
return 1
`)

// PutGrant implements [oauth.Store]: indexScript and putGrantScript in one
// pipeline. On a Cluster the two keys may live on different nodes and the
// scripts run in either order; PutGrant returns nil only when both ran,
// so the grant is then indexed. The grant is stored active, whatever
// g.Active says.
func (s *OAuthStore) PutGrant(ctx context.Context, kind oauth.Kind, sig string, g oauth.Grant) error {
	if err := errors.Join(checkKind(kind), checkName("sig", sig), checkName("request ID", g.RequestID)); err != nil {
		return err
	}
	at := pxat(g.Expires)
	cmds, err := s.runScripts(ctx, []scriptCall{
		{indexScript, []string{s.requestKey(g.RequestID)}, []any{string(kind) + ":" + sig, at}},
		{putGrantScript, []string{s.grantKey(kind, sig)}, []any{g.RequestID, expNanos(g.Expires), g.Data, at}},
	})
	if err != nil {
		return wrap("put grant", err)
	}
	if n, _ := cmds[1].Int(); n == 0 {
		return oauth.ErrExists
	}
	return nil
}

// decodeGrant reads the fields req, active, exp and data of a grant, as
// HMGET or deactivateScript returns them.
func decodeGrant(vals []any) (oauth.Grant, error) {
	if len(vals) != 4 || vals[0] == nil {
		return oauth.Grant{}, oauth.ErrNotFound
	}
	str := func(v any) string { s, _ := v.(string); return s }
	g := oauth.Grant{RequestID: str(vals[0]), Active: str(vals[1]) == "1", Data: []byte(str(vals[3]))}
	if e := str(vals[2]); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return oauth.Grant{}, fmt.Errorf("grant exp %q: %w", e, err)
		}
		g.Expires = time.Unix(0, n)
	}
	return g, nil
}

// GetGrant implements [oauth.Store] with one HMGET.
func (s *OAuthStore) GetGrant(ctx context.Context, kind oauth.Kind, sig string) (oauth.Grant, error) {
	vals, err := s.c.HMGet(ctx, s.grantKey(kind, sig), "req", "active", "exp", "data").Result()
	if err != nil {
		return oauth.Grant{}, wrap("get grant", err)
	}
	g, err := decodeGrant(vals)
	if err != nil && !errors.Is(err, oauth.ErrNotFound) {
		return oauth.Grant{}, wrap("get grant", err)
	}
	return g, err
}

// deactivateScript returns the grant KEYS[1] as it was (req, active, exp,
// data) and clears its active field; nil when absent.
var deactivateScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'req', 'active', 'exp', 'data')
if not v[1] then return false end
if v[2] == '1' then redis.call('HSET', KEYS[1], 'active', '0') end
return v
`)

// Deactivate implements [oauth.Store] with one script.
func (s *OAuthStore) Deactivate(ctx context.Context, kind oauth.Kind, sig string) (oauth.Grant, error) {
	vals, err := deactivateScript.Run(ctx, s.c, []string{s.grantKey(kind, sig)}).Slice()
	if errors.Is(err, goredis.Nil) {
		return oauth.Grant{}, oauth.ErrNotFound
	}
	if err != nil {
		return oauth.Grant{}, wrap("deactivate", err)
	}
	g, err := decodeGrant(vals)
	switch {
	case err != nil:
		return oauth.Grant{}, wrap("deactivate", err)
	case !g.Active:
		return g, oauth.ErrInactive
	}
	return g, nil
}

// deleteGrantScript deletes the grant KEYS[1] and returns its request ID,
// or nil.
var deleteGrantScript = goredis.NewScript(`
local req = redis.call('HGET', KEYS[1], 'req')
redis.call('DEL', KEYS[1])
return req
`)

// DeleteGrant implements [oauth.Store]: a script deletes the grant and
// names its request, then SREM removes it from the request's index.
func (s *OAuthStore) DeleteGrant(ctx context.Context, kind oauth.Kind, sig string) error {
	req, err := deleteGrantScript.Run(ctx, s.c, []string{s.grantKey(kind, sig)}).Text()
	if errors.Is(err, goredis.Nil) || (err == nil && req == "") {
		return nil
	}
	if err != nil {
		return wrap("delete grant", err)
	}
	return wrap("delete grant", s.c.SRem(ctx, s.requestKey(req), string(kind)+":"+sig).Err())
}

// revokeScript clears the active field of the grant KEYS[1] if it belongs
// to request ARGV[1] and is active: 1 changed, 0 not.
var revokeScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'req', 'active')
if v[1] ~= ARGV[1] or v[2] ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'active', '0')
return 1
`)

// RevokeRequest implements [oauth.Store]: SMEMBERS of the request's index,
// then revokeScript for each grant of the given kinds in one pipeline. The
// type's documentation gives its atomicity. It returns 0 when no kinds are
// given.
func (s *OAuthStore) RevokeRequest(ctx context.Context, requestID string, kinds ...oauth.Kind) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if requestID == "" || len(kinds) == 0 {
		return 0, nil
	}
	members, err := s.c.SMembers(ctx, s.requestKey(requestID)).Result()
	if err != nil {
		return 0, wrap("revoke request", err)
	}
	var calls []scriptCall
	for _, m := range members {
		kind, sig, ok := strings.Cut(m, ":")
		if ok && slices.Contains(kinds, oauth.Kind(kind)) {
			calls = append(calls, scriptCall{revokeScript, []string{s.grantKey(oauth.Kind(kind), sig)}, []any{requestID}})
		}
	}
	cmds, err := s.runScripts(ctx, calls)
	n := 0
	for _, c := range cmds {
		if v, err := c.Int(); err == nil {
			n += v
		}
	}
	if err != nil {
		return n, wrap("revoke request", err)
	}
	return n, nil
}

// putRecordScript stores ARGV[1] at KEYS[1] until PXAT ARGV[2] ("0":
// forever) and keeps ARGV[3] in the collection's ZSET KEYS[2] exactly
// while the key exists: a record put already expired replaces the old one
// and is absent at once.
var putRecordScript = goredis.NewScript(`
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[2], 0, ARGV[3])
else
  redis.call('ZREM', KEYS[2], ARGV[3])
end
return 1
`)

// PutRecord implements [oauth.Store] with one script in the collection's
// slot.
func (s *OAuthStore) PutRecord(ctx context.Context, collection, key string, data []byte, expires time.Time) error {
	if err := errors.Join(checkCollection(collection), checkName("key", key)); err != nil {
		return err
	}
	keys := []string{s.recordKey(collection, key), s.recordsKey(collection)}
	return wrap("put record", putRecordScript.Run(ctx, s.c, keys, data, pxat(expires), key).Err())
}

// GetRecord implements [oauth.Store].
func (s *OAuthStore) GetRecord(ctx context.Context, collection, key string) ([]byte, error) {
	if collection == "" || key == "" || strings.Contains(collection, "}") {
		return nil, oauth.ErrNotFound
	}
	v, err := s.c.Get(ctx, s.recordKey(collection, key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, oauth.ErrNotFound
	}
	return v, wrap("get record", err)
}

// deleteRecordScript deletes the record KEYS[1] and its member ARGV[1]
// of the ZSET KEYS[2].
var deleteRecordScript = goredis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// DeleteRecord implements [oauth.Store].
func (s *OAuthStore) DeleteRecord(ctx context.Context, collection, key string) error {
	if collection == "" || key == "" || strings.Contains(collection, "}") {
		return nil
	}
	keys := []string{s.recordKey(collection, key), s.recordsKey(collection)}
	return wrap("delete record", deleteRecordScript.Run(ctx, s.c, keys, key).Err())
}

// pruneScript removes from the ZSET KEYS[1] each member ARGV[i] whose
// record KEYS[i+1] does not exist (it expired), checking and removing in
// one step so that a record put meanwhile keeps its member.
var pruneScript = goredis.NewScript(`
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return 1
`)

// ListRecords implements [oauth.Store]. It pages through the ZSET in byte
// order (ZRANGE BYLEX), reads each page's records with one MGET, in the
// collection's slot, removes the members of expired records, and calls fn
// between round trips, so fn may use the store.
func (s *OAuthStore) ListRecords(ctx context.Context, collection string, fn func(key string, data []byte) error) error {
	if collection == "" || strings.Contains(collection, "}") {
		return nil
	}
	zkey := s.recordsKey(collection)
	start := "-"
	for {
		members, err := s.c.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: zkey, Start: start, Stop: "+", ByLex: true, Count: oauthPage}).Result()
		if err != nil {
			return wrap("list records", err)
		}
		if len(members) == 0 {
			return nil
		}
		keys := make([]string, len(members))
		for i, m := range members {
			keys[i] = s.recordKey(collection, m)
		}
		vals, err := s.c.MGet(ctx, keys...).Result()
		if err != nil {
			return wrap("list records", err)
		}
		var goneKeys []string
		var gone []any
		type record struct {
			key  string
			data []byte
		}
		page := make([]record, 0, len(members))
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				goneKeys, gone = append(goneKeys, keys[i]), append(gone, members[i])
				continue
			}
			page = append(page, record{members[i], []byte(str)})
		}
		if len(gone) > 0 {
			if err := pruneScript.Run(ctx, s.c, append([]string{zkey}, goneKeys...), gone...).Err(); err != nil {
				return wrap("list records", err)
			}
		}
		for _, r := range page {
			if err := fn(r.key, r.data); err != nil {
				return err
			}
		}
		if len(members) < oauthPage {
			return nil
		}
		start = "(" + members[len(members)-1]
	}
}

// oauthPage is how many records one round trip of ListRecords reads.
const oauthPage = 512

// scriptCall is one script to run by runScripts.
type scriptCall struct {
	script *goredis.Script
	keys   []string
	args   []any
}

// runScripts runs calls in one pipeline by SHA (on a Cluster, one pipeline
// per node) and runs again, by source, any the server did not have
// cached. It returns each call's command and the first error.
func (s *OAuthStore) runScripts(ctx context.Context, calls []scriptCall) ([]*goredis.Cmd, error) {
	if len(calls) == 0 {
		return nil, ctx.Err()
	}
	cmds := make([]*goredis.Cmd, len(calls))
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.script.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	if err == nil {
		return cmds, nil
	}
	var first error
	for i, c := range calls {
		if goredis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
			cmds[i] = c.script.Run(ctx, s.c, c.keys, c.args...)
		}
		if e := cmds[i].Err(); e != nil && first == nil {
			first = e
		}
	}
	return cmds, first
}
