package bolt

import (
	"errors"
	"fmt"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/store/storetest"
)

// The interface guard lives in a test, as for the replay store: it checks
// broker/oauth's Store whichever package the backend takes its types from.
var _ oauth.Store = (*OAuthStore)(nil)

// BenchOAuth runs under BenchmarkStore, in package bolt_test.
func BenchOAuth(b *testing.B) {
	storetest.OAuthBench(b, func(b *testing.B) oauth.Store { return openReplay(b).OAuth() })
}

// oauthOnClock returns an OAuth store on a fresh file and a clock the test
// sets.
func oauthOnClock(t *testing.T) (*DB, *OAuthStore, *time.Time) {
	db := openReplay(t)
	now := new(time.Time)
	*now = time.Unix(1_760_000_000, 0)
	return db, &OAuthStore{db: db.db, now: func() time.Time { return *now }}, now
}

// oauthCounts returns the number of entries of each OAuth bucket, and of
// the grant buckets together.
func oauthCounts(t *testing.T, db *DB) map[string]int {
	t.Helper()
	counts := map[string]int{}
	err := db.db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"oauth_grants", "oauth_requests", "oauth_records", "oauth_expiry"} {
			b := tx.Bucket([]byte(name))
			if b == nil {
				continue
			}
			b.ForEach(func(k, v []byte) error {
				if v == nil { // a sub-bucket: count its entries
					b.Bucket(k).ForEach(func(_, _ []byte) error { counts[name]++; return nil })
					return nil
				}
				counts[name]++
				return nil
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// TestOAuthSweep checks that writes delete expired grants and records
// with every index entry, at most 64 per write, and nothing live.
func TestOAuthSweep(t *testing.T) {
	db, s, now := oauthOnClock(t)
	ctx := t.Context()
	until := now.Add(time.Minute)
	const grants, records = 90, 10
	for i := range grants {
		g := oauth.Grant{RequestID: fmt.Sprintf("req%d", i%3), Data: []byte("d"), Active: true, Expires: until}
		if err := s.PutGrant(ctx, oauth.KindAccess, fmt.Sprintf("a%d", i), g); err != nil {
			t.Fatal(err)
		}
	}
	for i := range records {
		if err := s.PutRecord(ctx, "consents", fmt.Sprint(i), []byte("c"), until); err != nil {
			t.Fatal(err)
		}
	}
	live := oauth.Grant{RequestID: "req0", Data: []byte("live"), Active: true, Expires: now.Add(time.Hour)}
	if err := s.PutGrant(ctx, oauth.KindRefresh, "live", live); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, "consents", "forever", []byte("f"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"oauth_grants": grants + 1, "oauth_requests": grants + 1, "oauth_records": records + 1, "oauth_expiry": grants + records + 1}
	if got := oauthCounts(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("before expiry: %v, want %v", got, want)
	}
	*now = until

	// Reads see expired items as absent but delete nothing.
	if _, err := s.GetGrant(ctx, oauth.KindAccess, "a0"); !errors.Is(err, oauth.ErrNotFound) {
		t.Fatalf("GetGrant(expired) = %v, want ErrNotFound", err)
	}
	if got := oauthCounts(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after a read: %v, want %v", got, want)
	}
	// Each write sweeps at most 64, oldest first.
	if err := s.PutClient(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	if got := oauthCounts(t, db)["oauth_expiry"]; got != grants+records+1-64 {
		t.Errorf("after one write, %d expiry entries, want %d", got, grants+records+1-64)
	}
	if err := s.DeleteClient(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	want = map[string]int{"oauth_grants": 1, "oauth_requests": 1, "oauth_records": 1, "oauth_expiry": 1}
	if got := oauthCounts(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after two writes: %v, want %v", got, want)
	}
	if n, err := s.RevokeRequest(ctx, "req0", oauth.KindAccess, oauth.KindRefresh); err != nil || n != 1 {
		t.Errorf("RevokeRequest = %d, %v; want 1 (the live refresh token)", n, err)
	}
}

// TestOAuthSweepKeepsReplaced checks that a stale expiry entry of an item
// that was put again with a later expiry does not delete it.
func TestOAuthSweepKeepsReplaced(t *testing.T) {
	db, s, now := oauthOnClock(t)
	ctx := t.Context()
	soon := now.Add(time.Minute)
	if err := s.PutRecord(ctx, "users", "u", []byte("v1"), soon); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, "users", "u", []byte("v2"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := oauthCounts(t, db)["oauth_expiry"]; got != 1 {
		t.Errorf("%d expiry entries after replacing a record, want 1", got)
	}
	*now = soon.Add(time.Second)
	if err := s.PutClient(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetRecord(ctx, "users", "u"); err != nil || string(got) != "v2" {
		t.Errorf("GetRecord = %q, %v; want v2", got, err)
	}
}

func TestOAuthInvalidNames(t *testing.T) {
	s := openReplay(t).OAuth()
	ctx := t.Context()
	g := oauth.Grant{RequestID: "r", Active: true}
	for name, err := range map[string]error{
		"empty kind":       s.PutGrant(ctx, "", "s", g),
		"kind with colon":  s.PutGrant(ctx, "a:b", "s", g),
		"empty sig":        s.PutGrant(ctx, oauth.KindCode, "", g),
		"empty request ID": s.PutGrant(ctx, oauth.KindCode, "s", oauth.Grant{}),
		"empty client ID":  s.CreateClient(ctx, "", nil),
		"empty collection": s.PutRecord(ctx, "", "k", nil, time.Time{}),
		"brace collection": s.PutRecord(ctx, "a}b", "k", nil, time.Time{}),
		"empty key":        s.PutRecord(ctx, "users", "", nil, time.Time{}),
	} {
		if err == nil || errors.Is(err, oauth.ErrExists) {
			t.Errorf("%s: err = %v, want an invalid-argument error", name, err)
		}
	}
}
