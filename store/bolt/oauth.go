package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	oauth "github.com/subzero-gateway/subzero/broker/oauth/oauthstore"
)

// Layout of the OAuth store, in five top-level buckets:
//
//	oauth_clients   client ID -> record
//	oauth_grants    one bucket per kind: sig -> grant
//	oauth_requests  uvarint(len(request ID)) || request ID || kind || 0x00 || sig -> empty
//	oauth_records   one bucket per collection: key -> expiry || record
//	oauth_expiry    expiry || 'g' || kind || 0x00 || sig -> empty
//	                expiry || 'r' || uvarint(len(collection)) || collection || key -> empty
//
// An expiry is 8 bytes, big-endian Unix nanoseconds, 0 for never; items
// that never expire have no oauth_expiry entry. A grant is a flags byte
// (bit 0: active), its expiry, uvarint(len(request ID)), the request ID
// and the data. The length prefixes make every key unambiguous, so that a
// prefix scan of oauth_requests finds exactly one request's grants; kinds
// contain no 0x00.
var (
	bucketOAuthClients  = []byte("oauth_clients")
	bucketOAuthGrants   = []byte("oauth_grants")
	bucketOAuthRequests = []byte("oauth_requests")
	bucketOAuthRecords  = []byte("oauth_records")
	bucketOAuthExpiry   = []byte("oauth_expiry")
)

// oauthSweep bounds how many expired items one write deletes, like
// replaySweep.
const oauthSweep = 64

// oauthPage bounds how many records one read transaction of ListRecords
// copies; fn runs outside any transaction, so it may write to the store.
const oauthPage = 1024

const (
	grantActive byte = 1 << 0

	tagGrant  = 'g'
	tagRecord = 'r'
)

// OAuthStore implements [oauth.Store] in a bbolt file. Every write is one
// fsynced transaction that also deletes up to 64 expired grants and
// records, oldest first; reads are read transactions that treat an
// expired item as absent. Deactivate and RevokeRequest check and change in
// one write transaction, which bbolt runs one at a time, so each is
// atomic.
//
// Kinds must be non-empty and contain neither ':' nor 0x00; collection
// names must be non-empty and contain no '}' (the Redis backend's rules,
// kept here so that both accept the same names). IDs, sigs, request IDs
// and keys must be non-empty.
type OAuthStore struct {
	db  *bbolt.DB
	now func() time.Time
}

// OAuth returns the OAuth authorization server's store kept in this file.
func (d *DB) OAuth() *OAuthStore { return &OAuthStore{db: d.db, now: time.Now} }

// maxExpiry is the latest expiry Unix nanoseconds can hold.
var maxExpiry = time.Unix(0, math.MaxInt64)

// oauthExpiry encodes t as Unix nanoseconds: 0 for the zero time (never),
// 1 for any time up to 1970, at most math.MaxInt64.
func oauthExpiry(t time.Time) uint64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(time.Unix(0, 1)):
		return 1
	case t.After(maxExpiry):
		return math.MaxInt64
	}
	return uint64(t.UnixNano())
}

func oauthTime(exp uint64) time.Time {
	if exp == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(exp))
}

func expired(exp, now uint64) bool { return exp != 0 && exp <= now }

func checkKind(kind oauth.Kind) error {
	if kind == "" || strings.ContainsAny(string(kind), ":\x00") {
		return fmt.Errorf("bolt: oauth: invalid kind %q", kind)
	}
	return nil
}

func checkCollection(c string) error {
	if c == "" || strings.Contains(c, "}") {
		return fmt.Errorf("bolt: oauth: invalid collection %q", c)
	}
	return nil
}

func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("bolt: oauth: empty %s", what)
	}
	return nil
}

// lengthPrefixed appends uvarint(len(s)) and s to b.
func lengthPrefixed(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func requestKey(req string, kind oauth.Kind, sig string) []byte {
	k := lengthPrefixed(make([]byte, 0, binary.MaxVarintLen16+len(req)+len(kind)+1+len(sig)), req)
	return append(append(append(k, kind...), 0), sig...)
}

func grantExpiryKey(exp uint64, kind oauth.Kind, sig string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+1+len(kind)+1+len(sig)), exp)
	return append(append(append(append(k, tagGrant), kind...), 0), sig...)
}

func recordExpiryKey(exp uint64, collection, key string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+1+binary.MaxVarintLen16+len(collection)+len(key)), exp)
	return append(lengthPrefixed(append(k, tagRecord), collection), key...)
}

// storedGrant is a decoded grant value.
type storedGrant struct {
	req    string
	active bool
	exp    uint64
	data   []byte // aliases the value: valid only in its transaction
}

func encodeGrant(g oauth.Grant, active bool) []byte {
	v := make([]byte, 0, 1+8+binary.MaxVarintLen16+len(g.RequestID)+len(g.Data))
	var flags byte
	if active {
		flags |= grantActive
	}
	v = binary.BigEndian.AppendUint64(append(v, flags), oauthExpiry(g.Expires))
	return append(lengthPrefixed(v, g.RequestID), g.Data...)
}

var errCorrupt = errors.New("corrupt value")

func decodeGrant(v []byte) (storedGrant, error) {
	if len(v) < 9 {
		return storedGrant{}, errCorrupt
	}
	n, w := binary.Uvarint(v[9:])
	if w <= 0 || n > uint64(len(v)-9-w) {
		return storedGrant{}, errCorrupt
	}
	rest := v[9+w:]
	return storedGrant{
		active: v[0]&grantActive != 0,
		exp:    binary.BigEndian.Uint64(v[1:9]),
		req:    string(rest[:n]),
		data:   rest[n:],
	}, nil
}

func (g storedGrant) grant() oauth.Grant {
	return oauth.Grant{RequestID: g.req, Data: bytes.Clone(g.data), Active: g.active, Expires: oauthTime(g.exp)}
}

// oauthTx is a transaction with the store's top-level buckets, which are
// nil in a read transaction of a file that has none yet.
type oauthTx struct {
	clients, grants, requests, records, expiry *bbolt.Bucket
	now                                        uint64
}

func (s *OAuthStore) view(ctx context.Context, fn func(o *oauthTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		return fn(&oauthTx{
			clients:  tx.Bucket(bucketOAuthClients),
			grants:   tx.Bucket(bucketOAuthGrants),
			requests: tx.Bucket(bucketOAuthRequests),
			records:  tx.Bucket(bucketOAuthRecords),
			expiry:   tx.Bucket(bucketOAuthExpiry),
			now:      oauthExpiry(s.now()),
		})
	})
}

// update runs fn in a write transaction and then sweeps expired items. An
// error from fn rolls back the whole transaction.
func (s *OAuthStore) update(ctx context.Context, fn func(o *oauthTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		o := &oauthTx{now: oauthExpiry(s.now())}
		for _, b := range []struct {
			p    **bbolt.Bucket
			name []byte
		}{
			{&o.clients, bucketOAuthClients}, {&o.grants, bucketOAuthGrants}, {&o.requests, bucketOAuthRequests},
			{&o.records, bucketOAuthRecords}, {&o.expiry, bucketOAuthExpiry},
		} {
			var err error
			if *b.p, err = tx.CreateBucketIfNotExists(b.name); err != nil {
				return err
			}
		}
		if err := fn(o); err != nil {
			return err
		}
		return o.sweep()
	})
}

// wrap adds the package's context to an error that is not a sentinel of
// the contract.
func wrap(op string, err error) error {
	if err == nil || errors.Is(err, oauth.ErrNotFound) || errors.Is(err, oauth.ErrExists) || errors.Is(err, oauth.ErrInactive) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("bolt: oauth: %s: %w", op, err)
}

// CreateClient implements [oauth.Store].
func (s *OAuthStore) CreateClient(ctx context.Context, id string, data []byte) error {
	if err := checkName("client ID", id); err != nil {
		return err
	}
	return wrap("create client", s.update(ctx, func(o *oauthTx) error {
		if o.clients.Get([]byte(id)) != nil {
			return oauth.ErrExists
		}
		return o.clients.Put([]byte(id), data)
	}))
}

// PutClient implements [oauth.Store].
func (s *OAuthStore) PutClient(ctx context.Context, id string, data []byte) error {
	if err := checkName("client ID", id); err != nil {
		return err
	}
	return wrap("put client", s.update(ctx, func(o *oauthTx) error {
		return o.clients.Put([]byte(id), data)
	}))
}

// GetClient implements [oauth.Store].
func (s *OAuthStore) GetClient(ctx context.Context, id string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(o *oauthTx) error {
		var v []byte
		if o.clients != nil && id != "" {
			v = o.clients.Get([]byte(id))
		}
		if v == nil {
			return oauth.ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, wrap("get client", err)
}

// DeleteClient implements [oauth.Store].
func (s *OAuthStore) DeleteClient(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return wrap("delete client", s.update(ctx, func(o *oauthTx) error {
		return o.clients.Delete([]byte(id))
	}))
}

// kindBucket returns the grants bucket of kind, or nil.
func (o *oauthTx) kindBucket(kind oauth.Kind) *bbolt.Bucket {
	if o.grants == nil {
		return nil
	}
	return o.grants.Bucket([]byte(kind))
}

// liveGrant returns kind's bucket and the live grant under sig; ok is
// false when it is absent or expired.
func (o *oauthTx) liveGrant(kind oauth.Kind, sig string) (b *bbolt.Bucket, g storedGrant, ok bool, err error) {
	b = o.kindBucket(kind)
	if b == nil || sig == "" {
		return b, g, false, nil
	}
	v := b.Get([]byte(sig))
	if v == nil {
		return b, g, false, nil
	}
	if g, err = decodeGrant(v); err != nil {
		return b, g, false, fmt.Errorf("grant %s: %w", kind, err)
	}
	return b, g, !expired(g.exp, o.now), nil
}

// removeGrant deletes the grant g under sig with its index entries.
func (o *oauthTx) removeGrant(b *bbolt.Bucket, kind oauth.Kind, sig string, g storedGrant) error {
	if err := b.Delete([]byte(sig)); err != nil {
		return err
	}
	if err := o.requests.Delete(requestKey(g.req, kind, sig)); err != nil {
		return err
	}
	if g.exp != 0 {
		return o.expiry.Delete(grantExpiryKey(g.exp, kind, sig))
	}
	return nil
}

// PutGrant implements [oauth.Store]. The grant is stored active, whatever
// g.Active says. A grant that expired does not hold its sig.
func (s *OAuthStore) PutGrant(ctx context.Context, kind oauth.Kind, sig string, g oauth.Grant) error {
	if err := errors.Join(checkKind(kind), checkName("sig", sig), checkName("request ID", g.RequestID)); err != nil {
		return err
	}
	return wrap("put grant", s.update(ctx, func(o *oauthTx) error {
		b, err := o.grants.CreateBucketIfNotExists([]byte(kind))
		if err != nil {
			return err
		}
		if v := b.Get([]byte(sig)); v != nil {
			old, err := decodeGrant(v)
			if err != nil {
				return fmt.Errorf("grant %s: %w", kind, err)
			}
			if !expired(old.exp, o.now) {
				return oauth.ErrExists
			}
			if err := o.removeGrant(b, kind, sig, old); err != nil {
				return err
			}
		}
		if err := b.Put([]byte(sig), encodeGrant(g, true)); err != nil {
			return err
		}
		if err := o.requests.Put(requestKey(g.RequestID, kind, sig), nil); err != nil {
			return err
		}
		if exp := oauthExpiry(g.Expires); exp != 0 {
			return o.expiry.Put(grantExpiryKey(exp, kind, sig), nil)
		}
		return nil
	}))
}

// GetGrant implements [oauth.Store].
func (s *OAuthStore) GetGrant(ctx context.Context, kind oauth.Kind, sig string) (oauth.Grant, error) {
	var out oauth.Grant
	err := s.view(ctx, func(o *oauthTx) error {
		_, g, ok, err := o.liveGrant(kind, sig)
		if err != nil {
			return err
		}
		if !ok {
			return oauth.ErrNotFound
		}
		out = g.grant()
		return nil
	})
	return out, wrap("get grant", err)
}

// Deactivate implements [oauth.Store] in one write transaction, which
// writes nothing unless the grant was active.
func (s *OAuthStore) Deactivate(ctx context.Context, kind oauth.Kind, sig string) (oauth.Grant, error) {
	var out oauth.Grant
	err := s.update(ctx, func(o *oauthTx) error {
		b, g, ok, err := o.liveGrant(kind, sig)
		if err != nil {
			return err
		}
		if !ok {
			return oauth.ErrNotFound
		}
		out = g.grant()
		if !g.active {
			return oauth.ErrInactive // rolls back an unchanged transaction
		}
		v := bytes.Clone(b.Get([]byte(sig))) // the stored value is read-only
		v[0] &^= grantActive
		return b.Put([]byte(sig), v)
	})
	return out, wrap("deactivate", err)
}

// DeleteGrant implements [oauth.Store].
func (s *OAuthStore) DeleteGrant(ctx context.Context, kind oauth.Kind, sig string) error {
	if kind == "" || sig == "" {
		return nil
	}
	return wrap("delete grant", s.update(ctx, func(o *oauthTx) error {
		b := o.kindBucket(kind)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(sig))
		if v == nil {
			return nil
		}
		g, err := decodeGrant(v)
		if err != nil {
			return b.Delete([]byte(sig)) // nothing indexes what cannot be read
		}
		return o.removeGrant(b, kind, sig, g)
	}))
}

// RevokeRequest implements [oauth.Store] in one write transaction: a
// prefix scan of the request's index entries, and a write of each live,
// active grant of the given kinds. It returns 0 when no kinds are given.
func (s *OAuthStore) RevokeRequest(ctx context.Context, requestID string, kinds ...oauth.Kind) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if requestID == "" || len(kinds) == 0 {
		return 0, nil
	}
	var n int
	err := s.update(ctx, func(o *oauthTx) error {
		n = 0
		prefix := lengthPrefixed(nil, requestID)
		c := o.requests.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			kind, sig, ok := bytes.Cut(k[len(prefix):], []byte{0})
			if !ok || !slices.Contains(kinds, oauth.Kind(kind)) {
				continue
			}
			b, g, live, err := o.liveGrant(oauth.Kind(kind), string(sig))
			if err != nil {
				return err
			}
			if !live || !g.active || g.req != requestID {
				continue
			}
			v := bytes.Clone(b.Get(sig))
			v[0] &^= grantActive
			if err := b.Put(bytes.Clone(sig), v); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, wrap("revoke request", err)
	}
	return n, nil
}

// recordBucket returns the bucket of collection, or nil.
func (o *oauthTx) recordBucket(collection string) *bbolt.Bucket {
	if o.records == nil || collection == "" {
		return nil
	}
	return o.records.Bucket([]byte(collection))
}

// PutRecord implements [oauth.Store].
func (s *OAuthStore) PutRecord(ctx context.Context, collection, key string, data []byte, expires time.Time) error {
	if err := errors.Join(checkCollection(collection), checkName("key", key)); err != nil {
		return err
	}
	return wrap("put record", s.update(ctx, func(o *oauthTx) error {
		b, err := o.records.CreateBucketIfNotExists([]byte(collection))
		if err != nil {
			return err
		}
		if old := b.Get([]byte(key)); len(old) >= 8 {
			if oexp := binary.BigEndian.Uint64(old); oexp != 0 {
				if err := o.expiry.Delete(recordExpiryKey(oexp, collection, key)); err != nil {
					return err
				}
			}
		}
		exp := oauthExpiry(expires)
		v := append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(data)), exp), data...)
		if err := b.Put([]byte(key), v); err != nil {
			return err
		}
		if exp != 0 {
			return o.expiry.Put(recordExpiryKey(exp, collection, key), nil)
		}
		return nil
	}))
}

// GetRecord implements [oauth.Store].
func (s *OAuthStore) GetRecord(ctx context.Context, collection, key string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(o *oauthTx) error {
		b := o.recordBucket(collection)
		if b == nil || key == "" {
			return oauth.ErrNotFound
		}
		v := b.Get([]byte(key))
		switch {
		case v == nil:
			return oauth.ErrNotFound
		case len(v) < 8:
			return fmt.Errorf("record %s: %w", collection, errCorrupt)
		case expired(binary.BigEndian.Uint64(v), o.now):
			return oauth.ErrNotFound
		}
		out = bytes.Clone(v[8:])
		return nil
	})
	return out, wrap("get record", err)
}

// DeleteRecord implements [oauth.Store].
func (s *OAuthStore) DeleteRecord(ctx context.Context, collection, key string) error {
	if collection == "" || key == "" {
		return nil
	}
	return wrap("delete record", s.update(ctx, func(o *oauthTx) error {
		b := o.recordBucket(collection)
		if b == nil {
			return nil
		}
		if old := b.Get([]byte(key)); len(old) >= 8 {
			if oexp := binary.BigEndian.Uint64(old); oexp != 0 {
				if err := o.expiry.Delete(recordExpiryKey(oexp, collection, key)); err != nil {
					return err
				}
			}
		}
		return b.Delete([]byte(key))
	}))
}

// ListRecords implements [oauth.Store]. It reads a page of records per
// read transaction and calls fn between transactions, so fn may use the
// store; a record written while the listing runs is seen if its key sorts
// after the page being read.
func (s *OAuthStore) ListRecords(ctx context.Context, collection string, fn func(key string, data []byte) error) error {
	type record struct {
		key  string
		data []byte
	}
	var next []byte // the first key not yet read; nil before the first page
	for first := true; first || next != nil; first = false {
		var page []record
		err := s.view(ctx, func(o *oauthTx) error {
			b := o.recordBucket(collection)
			if b == nil {
				next = nil
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if !first {
				k, v = c.Seek(next)
			}
			for ; k != nil && len(page) < oauthPage; k, v = c.Next() {
				if len(v) < 8 {
					return fmt.Errorf("record %s: %w", collection, errCorrupt)
				}
				if !expired(binary.BigEndian.Uint64(v), o.now) {
					page = append(page, record{string(k), bytes.Clone(v[8:])})
				}
			}
			next = bytes.Clone(k)
			return nil
		})
		if err != nil {
			return wrap("list records", err)
		}
		for _, r := range page {
			if err := fn(r.key, r.data); err != nil {
				return err
			}
		}
	}
	return nil
}

// sweep deletes up to oauthSweep grants and records that expired at or
// before now, oldest first, with their index entries. An index entry whose
// item has since been replaced (it has another expiry) goes alone.
func (o *oauthTx) sweep() error {
	var dead [][]byte
	c := o.expiry.Cursor()
	for k, _ := c.First(); k != nil && len(dead) < oauthSweep; k, _ = c.Next() {
		if len(k) >= 8 && binary.BigEndian.Uint64(k) > o.now {
			break
		}
		dead = append(dead, bytes.Clone(k))
	}
	for _, k := range dead {
		if err := o.expiry.Delete(k); err != nil {
			return err
		}
		if len(k) < 9 {
			continue
		}
		exp, rest := binary.BigEndian.Uint64(k), k[9:]
		switch k[8] {
		case tagGrant:
			kind, sig, ok := bytes.Cut(rest, []byte{0})
			if !ok {
				continue
			}
			b, g, _, err := o.liveGrant(oauth.Kind(kind), string(sig))
			if err != nil || b == nil || b.Get(sig) == nil || g.exp != exp {
				continue // unreadable, gone or replaced
			}
			if err := o.removeGrant(b, oauth.Kind(kind), string(sig), g); err != nil {
				return err
			}
		case tagRecord:
			n, w := binary.Uvarint(rest)
			if w <= 0 || n > uint64(len(rest)-w) {
				continue
			}
			collection, key := rest[w:w+int(n)], rest[w+int(n):]
			b := o.records.Bucket(collection)
			if b == nil {
				continue
			}
			if v := b.Get(key); len(v) >= 8 && binary.BigEndian.Uint64(v) == exp {
				if err := b.Delete(key); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
