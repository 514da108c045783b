package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/store/redis"
	"github.com/subzero-gateway/subzero/store/storetest"
)

var _ oauth.Store = (*redis.OAuthStore)(nil)

// benchOAuth runs under BenchmarkStore.
func benchOAuth(b *testing.B) {
	storetest.OAuthBench(b, func(b *testing.B) oauth.Store { return openDB(b, config(b, srv), noEnv).OAuth() })
}

func TestOAuthKeyLayout(t *testing.T) {
	cfg := config(t, srv)
	s := openDB(t, cfg, noEnv).OAuth()
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if err := s.CreateClient(ctx, "c1", []byte("client")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGrant(ctx, oauth.KindRefresh, "sig1", oauth.Grant{RequestID: "req1", Data: []byte("g"), Active: true, Expires: exp}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, "users", "alice", []byte("u"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t)
	keys, err := raw.Keys(ctx, cfg.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.KeyPrefix + "oauth:"
	want := map[string]string{
		p + "client:c1":          "string",
		p + "grant:refresh:sig1": "hash",
		p + "req:req1":           "set",
		p + "rec:{users}:alice":  "string",
		p + "recs:{users}":       "zset",
	}
	got := map[string]string{}
	for _, k := range keys {
		got[k] = raw.Type(ctx, k).Val()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	wantHash := map[string]string{"req": "req1", "active": "1", "exp": "", "data": "g"}
	wantHash["exp"] = raw.HGet(ctx, p+"grant:refresh:sig1", "exp").Val()
	if diff := cmp.Diff(wantHash, raw.HGetAll(ctx, p+"grant:refresh:sig1").Val()); diff != "" {
		t.Errorf("grant hash (-want +got):\n%s", diff)
	}
	if n := raw.HGet(ctx, p+"grant:refresh:sig1", "exp").Val(); n == "" {
		t.Error("grant hash has no exp")
	}
	if diff := cmp.Diff([]string{"refresh:sig1"}, raw.SMembers(ctx, p+"req:req1").Val()); diff != "" {
		t.Errorf("request index (-want +got):\n%s", diff)
	}
	wantAt := time.UnixMilli(exp.UnixMilli() + 1)
	for _, k := range []string{p + "grant:refresh:sig1", p + "req:req1"} {
		if at := raw.PExpireTime(ctx, k).Val(); at != time.Duration(wantAt.UnixMilli())*time.Millisecond {
			t.Errorf("%s expires at %v ms, want %d", k, at.Milliseconds(), wantAt.UnixMilli())
		}
	}
	for _, k := range []string{p + "client:c1", p + "rec:{users}:alice", p + "recs:{users}"} {
		if ttl := raw.PTTL(ctx, k).Val(); ttl != -1 {
			t.Errorf("%s has TTL %v, want none", k, ttl)
		}
	}
}

// TestOAuthIndexExpiry checks that a request's index lives as long as its
// longest-lived grant.
func TestOAuthIndexExpiry(t *testing.T) {
	cfg := config(t, srv)
	s := openDB(t, cfg, noEnv).OAuth()
	ctx := t.Context()
	raw := rawClient(t)
	idx := cfg.KeyPrefix + "oauth:req:fam"
	now := time.Now()
	put := func(sig string, exp time.Time) {
		t.Helper()
		if err := s.PutGrant(ctx, oauth.KindAccess, sig, oauth.Grant{RequestID: "fam", Active: true, Expires: exp}); err != nil {
			t.Fatal(err)
		}
	}
	at := func() int64 { return raw.PExpireTime(ctx, idx).Val().Milliseconds() }
	put("a", now.Add(2*time.Hour))
	first := at()
	put("b", now.Add(time.Hour)) // earlier: keeps the later expiry
	if got := at(); got != first {
		t.Errorf("index expiry after an earlier grant = %d, want %d", got, first)
	}
	put("c", now.Add(3*time.Hour))
	if got := at(); got <= first {
		t.Errorf("index expiry after a later grant = %d, want after %d", got, first)
	}
	put("d", time.Time{}) // never expires: neither does the index
	if ttl := raw.PTTL(ctx, idx).Val(); ttl != -1 {
		t.Errorf("index TTL after a grant without expiry = %v, want none", ttl)
	}
	put("e", now.Add(time.Hour))
	if ttl := raw.PTTL(ctx, idx).Val(); ttl != -1 {
		t.Errorf("index TTL after a later grant with expiry = %v, want none", ttl)
	}
	if err := s.DeleteGrant(ctx, oauth.KindAccess, "a"); err != nil {
		t.Fatal(err)
	}
	if raw.SIsMember(ctx, idx, "access:a").Val() {
		t.Error("deleted grant still in its request's index")
	}
}

// TestOAuthRoundTrips checks that the token endpoint's operations take one
// round trip each, and RevokeRequest two.
func TestOAuthRoundTrips(t *testing.T) {
	db := openDB(t, config(t, srv), noEnv)
	s, ctx := db.OAuth(), t.Context()
	g := oauth.Grant{RequestID: "fam", Data: []byte("d"), Active: true, Expires: time.Now().Add(time.Hour)}
	// Warm the server's script cache.
	if err := s.PutGrant(ctx, oauth.KindCode, "warm", g); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deactivate(ctx, oauth.KindCode, "warm"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeRequest(ctx, "fam", oauth.KindCode); err != nil {
		t.Fatal(err)
	}
	h := &countHook{}
	redis.UnsafeClient(db).AddHook(h)
	for _, tc := range []struct {
		name string
		op   func() error
		want int64
	}{
		{"PutGrant", func() error { return s.PutGrant(ctx, oauth.KindRefresh, "r1", g) }, 1},
		{"GetGrant", func() error { _, err := s.GetGrant(ctx, oauth.KindRefresh, "r1"); return err }, 1},
		{"Deactivate", func() error { _, err := s.Deactivate(ctx, oauth.KindRefresh, "r1"); return err }, 1},
		{"RevokeRequest", func() error {
			for _, sig := range []string{"r2", "r3", "r4"} {
				if err := s.PutGrant(ctx, oauth.KindRefresh, sig, g); err != nil {
					return err
				}
			}
			h.n.Store(0)
			n, err := s.RevokeRequest(ctx, "fam", oauth.KindRefresh)
			if err == nil && n != 3 {
				err = errors.New("revoked a wrong number of grants")
			}
			return err
		}, 2},
	} {
		h.n.Store(0)
		if err := tc.op(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := h.n.Load(); n != tc.want {
			t.Errorf("%s took %d round trips, want %d", tc.name, n, tc.want)
		}
	}
}

// TestOAuthScriptCacheFlushed checks that pipelined scripts survive a
// server that forgot them.
func TestOAuthScriptCacheFlushed(t *testing.T) {
	s := openDB(t, config(t, srv), noEnv).OAuth()
	ctx := t.Context()
	g := oauth.Grant{RequestID: "fam", Active: true, Expires: time.Now().Add(time.Hour)}
	if err := s.PutGrant(ctx, oauth.KindAccess, "a1", g); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t)
	if err := raw.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGrant(ctx, oauth.KindAccess, "a1", g); !errors.Is(err, oauth.ErrExists) {
		t.Errorf("PutGrant(taken) after SCRIPT FLUSH = %v, want ErrExists", err)
	}
	if err := raw.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGrant(ctx, oauth.KindAccess, "a2", g); err != nil {
		t.Errorf("PutGrant after SCRIPT FLUSH = %v", err)
	}
	if err := raw.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RevokeRequest(ctx, "fam", oauth.KindAccess); err != nil || n != 2 {
		t.Errorf("RevokeRequest after SCRIPT FLUSH = %d, %v; want 2", n, err)
	}
}

// TestOAuthListPrunesExpired checks that listing removes the ZSET members
// of records Redis expired.
func TestOAuthListPrunesExpired(t *testing.T) {
	cfg := config(t, srv)
	s := openDB(t, cfg, noEnv).OAuth()
	ctx := t.Context()
	raw := rawClient(t)
	zkey := cfg.KeyPrefix + "oauth:recs:{consents}"
	if err := s.PutRecord(ctx, "consents", "live", []byte("l"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, "consents", "past", []byte("p"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := raw.ZRange(ctx, zkey, 0, -1).Val(); !cmp.Equal(got, []string{"live"}) {
		t.Errorf("ZSET after putting an expired record = %q, want [live]", got)
	}
	// A member whose record vanished behind the store's back, as an
	// expired one does.
	if err := raw.ZAdd(ctx, zkey, goredis.Z{Member: "vanished"}).Err(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.ListRecords(ctx, "consents", func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(keys, []string{"live"}) {
		t.Errorf("ListRecords = %q, want [live]", keys)
	}
	if got := raw.ZRange(ctx, zkey, 0, -1).Val(); !cmp.Equal(got, []string{"live"}) {
		t.Errorf("ZSET after listing = %q, want [live]", got)
	}
}

func TestOAuthClosed(t *testing.T) {
	db, err := redis.Open(t.Context(), config(t, srv), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := db.OAuth()
	db.Close()
	if _, err := s.GetGrant(t.Context(), oauth.KindCode, "s"); err == nil || errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("GetGrant on a closed client = %v, want a connection error", err)
	}
	if _, err := s.Deactivate(t.Context(), oauth.KindCode, "s"); err == nil || errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Deactivate on a closed client = %v, want a connection error", err)
	}
}
