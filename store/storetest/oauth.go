package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/subzero-gateway/subzero/broker/oauth"
)

// allBytes is every byte value once: data that survives a store unchanged
// is binary-safe.
var allBytes = func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// OAuthStore checks the contract of [oauth.Store]: clients, grants with
// their one-way deactivation and family revocation, records, expiry and
// binary safety.
func OAuthStore(t *testing.T, open func(t *testing.T) oauth.Store) {
	later := func() time.Time { return time.Now().Add(time.Hour) }
	grant := func(req, data string) oauth.Grant {
		return oauth.Grant{RequestID: req, Data: []byte(data), Active: true, Expires: later()}
	}
	put := func(t *testing.T, s oauth.Store, kind oauth.Kind, sig string, g oauth.Grant) {
		t.Helper()
		if err := s.PutGrant(t.Context(), kind, sig, g); err != nil {
			t.Fatalf("PutGrant(%s, %.20q): %v", kind, sig, err)
		}
	}
	get := func(t *testing.T, s oauth.Store, kind oauth.Kind, sig string) oauth.Grant {
		t.Helper()
		g, err := s.GetGrant(t.Context(), kind, sig)
		if err != nil {
			t.Fatalf("GetGrant(%s, %.20q): %v", kind, sig, err)
		}
		return g
	}
	absent := func(t *testing.T, s oauth.Store, kind oauth.Kind, sig string) {
		t.Helper()
		if g, err := s.GetGrant(t.Context(), kind, sig); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("GetGrant(%s, %.20q) = %+v, %v; want ErrNotFound", kind, sig, g, err)
		}
	}
	// wantGrant compares grants: expiries by time.Equal, empty data as nil.
	wantGrant := func(t *testing.T, what string, want, got oauth.Grant) {
		t.Helper()
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
	inactive := func(g oauth.Grant) oauth.Grant { g.Active = false; return g }

	t.Run("Clients", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		if _, err := s.GetClient(ctx, "c1"); !errors.Is(err, oauth.ErrNotFound) {
			t.Fatalf("GetClient(absent) = %v, want ErrNotFound", err)
		}
		if err := s.CreateClient(ctx, "c1", []byte("v1")); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		if err := s.CreateClient(ctx, "c1", []byte("v2")); !errors.Is(err, oauth.ErrExists) {
			t.Errorf("CreateClient(taken) = %v, want ErrExists", err)
		}
		if got, err := s.GetClient(ctx, "c1"); err != nil || string(got) != "v1" {
			t.Errorf("GetClient after refused create = %q, %v; want v1", got, err)
		}
		if err := s.PutClient(ctx, "c1", []byte("v3")); err != nil {
			t.Fatalf("PutClient(replace): %v", err)
		}
		if got, err := s.GetClient(ctx, "c1"); err != nil || string(got) != "v3" {
			t.Errorf("GetClient after replace = %q, %v; want v3", got, err)
		}
		if err := s.PutClient(ctx, "c2", []byte("new")); err != nil {
			t.Fatalf("PutClient(new): %v", err)
		}
		if got, err := s.GetClient(ctx, "c2"); err != nil || string(got) != "new" {
			t.Errorf("GetClient(c2) = %q, %v; want new", got, err)
		}
		if err := s.DeleteClient(ctx, "c1"); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		if _, err := s.GetClient(ctx, "c1"); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("GetClient(deleted) = %v, want ErrNotFound", err)
		}
		if err := s.DeleteClient(ctx, "c1"); err != nil {
			t.Errorf("DeleteClient(absent) = %v, want nil", err)
		}
		if err := s.CreateClient(ctx, "c1", []byte("again")); err != nil {
			t.Errorf("CreateClient(deleted ID) = %v, want nil", err)
		}
		if got, err := s.GetClient(ctx, "c2"); err != nil || string(got) != "new" {
			t.Errorf("GetClient(c2) after c1 changed = %q, %v; want new", got, err)
		}
	})

	t.Run("CreateClientConcurrent", func(t *testing.T) {
		s := open(t)
		const callers = 16
		var wins atomic.Int32
		errs := make(chan error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-start
				err := s.CreateClient(context.Background(), "c", fmt.Appendf(nil, "v%d", i))
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, oauth.ErrExists):
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("CreateClient: %v", err)
		}
		if n := wins.Load(); n != 1 {
			t.Errorf("%d of %d concurrent CreateClient calls succeeded, want exactly 1", n, callers)
		}
	})

	t.Run("GrantPutGet", func(t *testing.T) {
		s := open(t)
		absent(t, s, oauth.KindCode, "sig1")
		g := grant("req1", `{"scope":"mcp:tools"}`)
		put(t, s, oauth.KindCode, "sig1", g)
		wantGrant(t, "GetGrant", g, get(t, s, oauth.KindCode, "sig1"))
		absent(t, s, oauth.KindCode, "sig2")
	})

	t.Run("PutGrantStoresActive", func(t *testing.T) {
		s := open(t)
		g := grant("req1", "d")
		g.Active = false
		put(t, s, oauth.KindRefresh, "sig", g)
		if got := get(t, s, oauth.KindRefresh, "sig"); !got.Active {
			t.Errorf("GetGrant after PutGrant(Active: false) = %+v; want active: PutGrant stores an active grant", got)
		}
	})

	t.Run("GrantExists", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		g := grant("req1", "first")
		put(t, s, oauth.KindAccess, "sig", g)
		for _, other := range []oauth.Grant{grant("req1", "second"), grant("req2", "third")} {
			if err := s.PutGrant(ctx, oauth.KindAccess, "sig", other); !errors.Is(err, oauth.ErrExists) {
				t.Errorf("PutGrant(taken sig, %+v) = %v, want ErrExists", other, err)
			}
		}
		wantGrant(t, "GetGrant after refused puts", g, get(t, s, oauth.KindAccess, "sig"))
		// An inactive grant still holds its sig.
		if _, err := s.Deactivate(ctx, oauth.KindAccess, "sig"); err != nil {
			t.Fatal(err)
		}
		if err := s.PutGrant(ctx, oauth.KindAccess, "sig", grant("req1", "fourth")); !errors.Is(err, oauth.ErrExists) {
			t.Errorf("PutGrant(sig of an inactive grant) = %v, want ErrExists", err)
		}
		// RevokeRequest of the refused request found nothing to index.
		if n, err := s.RevokeRequest(ctx, "req2", oauth.KindAccess); err != nil || n != 0 {
			t.Errorf("RevokeRequest(request of a refused put) = %d, %v; want 0, nil", n, err)
		}
	})

	t.Run("PutGrantConcurrent", func(t *testing.T) {
		s := open(t)
		const callers = 16
		var wins atomic.Int32
		errs := make(chan error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-start
				err := s.PutGrant(context.Background(), oauth.KindCode, "sig", grant(fmt.Sprintf("req%d", i), "d"))
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, oauth.ErrExists):
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("PutGrant: %v", err)
		}
		if n := wins.Load(); n != 1 {
			t.Errorf("%d of %d concurrent PutGrant calls with one sig succeeded, want exactly 1", n, callers)
		}
	})

	t.Run("Deactivate", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		if g, err := s.Deactivate(ctx, oauth.KindCode, "nope"); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("Deactivate(absent) = %+v, %v; want ErrNotFound", g, err)
		}
		g := grant("req1", "code data")
		put(t, s, oauth.KindCode, "sig", g)
		got, err := s.Deactivate(ctx, oauth.KindCode, "sig")
		if err != nil {
			t.Fatalf("Deactivate(active) = %v, want nil", err)
		}
		wantGrant(t, "Deactivate(active) grant, as it was", g, got)
		for i := range 2 {
			got, err = s.Deactivate(ctx, oauth.KindCode, "sig")
			if !errors.Is(err, oauth.ErrInactive) {
				t.Fatalf("Deactivate(inactive), call %d = %v, want ErrInactive", i+2, err)
			}
			wantGrant(t, "Deactivate(inactive) grant", inactive(g), got)
		}
		wantGrant(t, "GetGrant(inactive)", inactive(g), get(t, s, oauth.KindCode, "sig"))
	})

	t.Run("DeactivateConcurrent", func(t *testing.T) {
		s := open(t)
		const grants, callers = 8, 16
		for i := range grants {
			put(t, s, oauth.KindRefresh, fmt.Sprintf("sig%d", i), grant("req", fmt.Sprint(i)))
		}
		var wins [grants]atomic.Int32
		errs := make(chan error, grants*callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range grants {
			for range callers {
				wg.Go(func() {
					<-start
					g, err := s.Deactivate(context.Background(), oauth.KindRefresh, fmt.Sprintf("sig%d", i))
					switch {
					case err == nil:
						wins[i].Add(1)
					case !errors.Is(err, oauth.ErrInactive):
						errs <- err
					case g.RequestID != "req" || string(g.Data) != fmt.Sprint(i) || g.Active:
						errs <- fmt.Errorf("deactivate = %+v, ErrInactive; want the inactive grant", g)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Deactivate: %v", err)
		}
		for i := range grants {
			if n := wins[i].Load(); n != 1 {
				t.Errorf("sig%d: %d of %d concurrent Deactivate calls returned nil, want exactly 1", i, n, callers)
			}
		}
	})

	t.Run("DeleteGrant", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		if err := s.DeleteGrant(ctx, oauth.KindAccess, "nope"); err != nil {
			t.Errorf("DeleteGrant(absent) = %v, want nil", err)
		}
		put(t, s, oauth.KindAccess, "a1", grant("req1", "a1"))
		put(t, s, oauth.KindAccess, "a2", grant("req1", "a2"))
		if err := s.DeleteGrant(ctx, oauth.KindAccess, "a1"); err != nil {
			t.Fatal(err)
		}
		absent(t, s, oauth.KindAccess, "a1")
		if g, err := s.Deactivate(ctx, oauth.KindAccess, "a1"); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("Deactivate(deleted) = %+v, %v; want ErrNotFound", g, err)
		}
		if n, err := s.RevokeRequest(ctx, "req1", oauth.KindAccess); err != nil || n != 1 {
			t.Errorf("RevokeRequest after deleting one of two grants = %d, %v; want 1", n, err)
		}
		// The sig is free again, for another request too.
		g := grant("req2", "reborn")
		put(t, s, oauth.KindAccess, "a1", g)
		wantGrant(t, "GetGrant(re-put)", g, get(t, s, oauth.KindAccess, "a1"))
		if n, err := s.RevokeRequest(ctx, "req1", oauth.KindAccess); err != nil || n != 0 {
			t.Errorf("RevokeRequest(req1) after a1 moved to req2 = %d, %v; want 0", n, err)
		}
		if n, err := s.RevokeRequest(ctx, "req2", oauth.KindAccess); err != nil || n != 1 {
			t.Errorf("RevokeRequest(req2) = %d, %v; want 1", n, err)
		}
	})

	t.Run("RevokeRequest", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		family := map[oauth.Kind][]string{
			oauth.KindCode:    {"c1"},
			oauth.KindPKCE:    {"p1"},
			oauth.KindAccess:  {"a1", "a2"},
			oauth.KindRefresh: {"r1", "r2"},
		}
		for kind, sigs := range family {
			for _, sig := range sigs {
				put(t, s, kind, sig, grant("fam", sig))
			}
		}
		put(t, s, oauth.KindAccess, "other-a", grant("other", "other-a"))
		put(t, s, oauth.KindRefresh, "other-r", grant("other", "other-r"))
		put(t, s, oauth.KindRefresh, "fam-prefix", grant("fa", "prefix of the request ID"))
		put(t, s, oauth.KindRefresh, "fam-longer", grant("fam2", "request ID extending it"))
		// r2 was rotated: already inactive, so not counted.
		if _, err := s.Deactivate(ctx, oauth.KindRefresh, "r2"); err != nil {
			t.Fatal(err)
		}

		n, err := s.RevokeRequest(ctx, "fam", oauth.KindAccess, oauth.KindRefresh)
		if err != nil || n != 3 {
			t.Fatalf("RevokeRequest(fam, access, refresh) = %d, %v; want 3 (a1, a2, r1)", n, err)
		}
		for _, kind := range []oauth.Kind{oauth.KindAccess, oauth.KindRefresh} {
			for _, sig := range family[kind] {
				g, err := s.Deactivate(ctx, kind, sig)
				if !errors.Is(err, oauth.ErrInactive) {
					t.Errorf("Deactivate(%s %s) after RevokeRequest = %v, want ErrInactive", kind, sig, err)
				}
				wantGrant(t, "revoked grant", oauth.Grant{RequestID: "fam", Data: []byte(sig), Expires: g.Expires}, g)
			}
		}
		for _, k := range []struct {
			kind oauth.Kind
			sig  string
		}{{oauth.KindCode, "c1"}, {oauth.KindPKCE, "p1"}, {oauth.KindAccess, "other-a"}, {oauth.KindRefresh, "other-r"},
			{oauth.KindRefresh, "fam-prefix"}, {oauth.KindRefresh, "fam-longer"}} {
			if g := get(t, s, k.kind, k.sig); !g.Active {
				t.Errorf("%s %s: inactive after revoking another kind or request", k.kind, k.sig)
			}
		}
		if n, err := s.RevokeRequest(ctx, "fam", oauth.KindAccess, oauth.KindRefresh); err != nil || n != 0 {
			t.Errorf("RevokeRequest again = %d, %v; want 0", n, err)
		}
		if n, err := s.RevokeRequest(ctx, "unknown", oauth.KindAccess, oauth.KindRefresh); err != nil || n != 0 {
			t.Errorf("RevokeRequest(unknown request) = %d, %v; want 0", n, err)
		}
		if n, err := s.RevokeRequest(ctx, "fam"); err != nil || n != 0 {
			t.Errorf("RevokeRequest(no kinds) = %d, %v; want 0", n, err)
		}
		if g := get(t, s, oauth.KindCode, "c1"); !g.Active {
			t.Error("RevokeRequest with no kinds deactivated the code")
		}
		if n, err := s.RevokeRequest(ctx, "fam", oauth.KindCode, oauth.KindPKCE, oauth.KindCode); err != nil || n != 2 {
			t.Errorf("RevokeRequest(fam, code, pkce, code) = %d, %v; want 2", n, err)
		}
	})

	t.Run("RevokeRaceDeactivate", func(t *testing.T) {
		s := open(t)
		const grants, deactivators, revokers = 16, 4, 4
		for i := range grants {
			put(t, s, oauth.KindRefresh, fmt.Sprintf("r%d", i), grant("fam", "d"))
		}
		var wins atomic.Int32
		errs := make(chan error, grants*deactivators+revokers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range grants {
			for range deactivators {
				wg.Go(func() {
					<-start
					_, err := s.Deactivate(context.Background(), oauth.KindRefresh, fmt.Sprintf("r%d", i))
					switch {
					case err == nil:
						wins.Add(1)
					case !errors.Is(err, oauth.ErrInactive):
						errs <- err
					}
				})
			}
		}
		for range revokers {
			wg.Go(func() {
				<-start
				n, err := s.RevokeRequest(context.Background(), "fam", oauth.KindRefresh)
				if err != nil {
					errs <- err
				}
				wins.Add(int32(n))
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent Deactivate and RevokeRequest: %v", err)
		}
		if n := wins.Load(); n != grants {
			t.Errorf("Deactivate successes plus RevokeRequest counts = %d, want %d: each grant changes once", n, grants)
		}
	})

	t.Run("GrantExpiry", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		until := time.Now().Add(100 * time.Millisecond)
		short := oauth.Grant{RequestID: "fam", Data: []byte("short"), Active: true, Expires: until}
		put(t, s, oauth.KindAccess, "short", short)
		put(t, s, oauth.KindAccess, "long", grant("fam", "long"))
		if g, err := s.GetGrant(ctx, oauth.KindAccess, "short"); time.Now().Before(until) && err != nil {
			t.Fatalf("GetGrant before expiry = %+v, %v", g, err)
		} else if err == nil {
			wantGrant(t, "GetGrant before expiry", short, g)
		}
		pollGone(t, until, func() bool {
			_, err := s.GetGrant(ctx, oauth.KindAccess, "short")
			if err != nil && !errors.Is(err, oauth.ErrNotFound) {
				t.Fatalf("GetGrant: %v", err)
			}
			return err != nil
		})
		if g, err := s.Deactivate(ctx, oauth.KindAccess, "short"); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("Deactivate(expired) = %+v, %v; want ErrNotFound", g, err)
		}
		if n, err := s.RevokeRequest(ctx, "fam", oauth.KindAccess); err != nil || n != 1 {
			t.Errorf("RevokeRequest with one grant expired = %d, %v; want 1", n, err)
		}
		// An expired sig is free again.
		again := grant("fam2", "again")
		put(t, s, oauth.KindAccess, "short", again)
		wantGrant(t, "GetGrant(re-put after expiry)", again, get(t, s, oauth.KindAccess, "short"))
	})

	t.Run("GrantExpiredOnArrival", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		past := oauth.Grant{RequestID: "fam", Data: []byte("past"), Active: true, Expires: time.Now().Add(-time.Second)}
		for i := range 2 {
			if err := s.PutGrant(ctx, oauth.KindCode, "past", past); err != nil {
				t.Fatalf("PutGrant(expired), call %d = %v, want nil", i+1, err)
			}
			absent(t, s, oauth.KindCode, "past")
		}
		if _, err := s.Deactivate(ctx, oauth.KindCode, "past"); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("Deactivate(expired on arrival) = %v, want ErrNotFound", err)
		}
		if n, err := s.RevokeRequest(ctx, "fam", oauth.KindCode); err != nil || n != 0 {
			t.Errorf("RevokeRequest(only expired grants) = %d, %v; want 0", n, err)
		}
		put(t, s, oauth.KindCode, "past", grant("fam", "live"))
	})

	t.Run("GrantWithoutExpiry", func(t *testing.T) {
		s := open(t)
		g := oauth.Grant{RequestID: "fam", Data: []byte("forever"), Active: true}
		put(t, s, oauth.KindRefresh, "sig", g)
		wantGrant(t, "GetGrant(no expiry)", g, get(t, s, oauth.KindRefresh, "sig"))
		if n, err := s.RevokeRequest(t.Context(), "fam", oauth.KindRefresh); err != nil || n != 1 {
			t.Errorf("RevokeRequest = %d, %v; want 1", n, err)
		}
	})

	t.Run("KindsAreNamespaces", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		code, refresh := grant("req1", "code"), grant("req2", "refresh")
		put(t, s, oauth.KindCode, "same", code)
		put(t, s, oauth.KindRefresh, "same", refresh)
		absent(t, s, oauth.KindAccess, "same")
		if _, err := s.Deactivate(ctx, oauth.KindCode, "same"); err != nil {
			t.Fatal(err)
		}
		wantGrant(t, "refresh after deactivating the code", refresh, get(t, s, oauth.KindRefresh, "same"))
		if err := s.DeleteGrant(ctx, oauth.KindRefresh, "same"); err != nil {
			t.Fatal(err)
		}
		wantGrant(t, "code after deleting the refresh token", inactive(code), get(t, s, oauth.KindCode, "same"))
		absent(t, s, oauth.KindRefresh, "same")
	})

	t.Run("Records", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		if _, err := s.GetRecord(ctx, "users", "alice"); !errors.Is(err, oauth.ErrNotFound) {
			t.Fatalf("GetRecord(absent) = %v, want ErrNotFound", err)
		}
		if err := s.PutRecord(ctx, "users", "alice", []byte("v1"), time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutRecord(ctx, "consents", "alice", []byte("consent"), later()); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetRecord(ctx, "users", "alice"); err != nil || string(got) != "v1" {
			t.Errorf("GetRecord = %q, %v; want v1", got, err)
		}
		if err := s.PutRecord(ctx, "users", "alice", []byte("v2"), later()); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetRecord(ctx, "users", "alice"); err != nil || string(got) != "v2" {
			t.Errorf("GetRecord after replace = %q, %v; want v2", got, err)
		}
		if err := s.DeleteRecord(ctx, "users", "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetRecord(ctx, "users", "alice"); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("GetRecord(deleted) = %v, want ErrNotFound", err)
		}
		if err := s.DeleteRecord(ctx, "users", "alice"); err != nil {
			t.Errorf("DeleteRecord(absent) = %v, want nil", err)
		}
		if got, err := s.GetRecord(ctx, "consents", "alice"); err != nil || string(got) != "consent" {
			t.Errorf("GetRecord(other collection, same key) = %q, %v; want consent", got, err)
		}
		// A record replaced with a record without expiry keeps none.
		if err := s.PutRecord(ctx, "consents", "alice", []byte("kept"), time.Time{}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetRecord(ctx, "consents", "alice"); err != nil || string(got) != "kept" {
			t.Errorf("GetRecord(replaced) = %q, %v; want kept", got, err)
		}
	})

	t.Run("ListRecords", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		keys := []string{"m", "b", "a:z", "zz", "a", "\x00", "\xff", "B", "ab"}
		for i, k := range keys {
			exp := time.Time{}
			if i%2 == 1 {
				exp = later()
			}
			if err := s.PutRecord(ctx, "users", k, []byte("u-"+k), exp); err != nil {
				t.Fatal(err)
			}
		}
		// Collections whose names extend or prefix each other stay apart.
		for _, c := range []string{"user", "users2", "users:x", "usersa"} {
			if err := s.PutRecord(ctx, c, "m", []byte(c), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutRecord(ctx, "users", "gone", []byte("past"), time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		want := []string{"\x00", "B", "a", "a:z", "ab", "b", "m", "zz", "\xff"}
		got := listKeys(t, s, "users")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListRecords(users) keys (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"m"}, listKeys(t, s, "users:x")); diff != "" {
			t.Errorf("ListRecords(users:x) keys (-want +got):\n%s", diff)
		}
		if got := listKeys(t, s, "empty"); len(got) != 0 {
			t.Errorf("ListRecords(empty collection) = %q, want none", got)
		}
		err := s.ListRecords(ctx, "users", func(key string, data []byte) error {
			if string(data) != "u-"+key {
				t.Errorf("ListRecords: %q has data %q, want %q", key, data, "u-"+key)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		stop := errors.New("stop")
		calls := 0
		err = s.ListRecords(ctx, "users", func(string, []byte) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("ListRecords with fn failing = %v after %d calls; want fn's error after 1", err, calls)
		}

		// fn may write to the store: delete every other record while listing.
		i := 0
		err = s.ListRecords(ctx, "users", func(key string, _ []byte) error {
			i++
			if i%2 == 0 {
				return nil
			}
			return s.DeleteRecord(ctx, "users", key)
		})
		if err != nil {
			t.Fatalf("ListRecords deleting as it goes: %v", err)
		}
		if diff := cmp.Diff([]string{"B", "a:z", "b", "zz"}, listKeys(t, s, "users")); diff != "" {
			t.Errorf("ListRecords after deleting every other (-want +got):\n%s", diff)
		}
	})

	t.Run("ListRecordsMany", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		const n = 2500 // more than a page of any backend
		var want []string
		for i := range n {
			k := fmt.Sprintf("k%05d", i)
			want = append(want, k)
			if err := s.PutRecord(ctx, "many", k, []byte(k), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff(want, listKeys(t, s, "many")); diff != "" {
			t.Errorf("ListRecords (-want +got):\n%s", diff)
		}
	})

	t.Run("RecordExpiry", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		until := time.Now().Add(100 * time.Millisecond)
		for _, r := range []struct {
			key string
			exp time.Time
		}{{"a", later()}, {"b", until}, {"c", time.Time{}}} {
			if err := s.PutRecord(ctx, "consents", r.key, []byte(r.key), r.exp); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.GetRecord(ctx, "consents", "b"); time.Now().Before(until) && (err != nil || string(got) != "b") {
			t.Fatalf("GetRecord before expiry = %q, %v", got, err)
		}
		pollGone(t, until, func() bool {
			_, err := s.GetRecord(ctx, "consents", "b")
			if err != nil && !errors.Is(err, oauth.ErrNotFound) {
				t.Fatalf("GetRecord: %v", err)
			}
			return err != nil
		})
		if diff := cmp.Diff([]string{"a", "c"}, listKeys(t, s, "consents")); diff != "" {
			t.Errorf("ListRecords after expiry (-want +got):\n%s", diff)
		}
		// A record put again lives again, and one put in the past is absent
		// at once, replacing the live one.
		if err := s.PutRecord(ctx, "consents", "b", []byte("b2"), later()); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetRecord(ctx, "consents", "b"); err != nil || string(got) != "b2" {
			t.Errorf("GetRecord(re-put) = %q, %v; want b2", got, err)
		}
		if err := s.PutRecord(ctx, "consents", "a", []byte("a2"), time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetRecord(ctx, "consents", "a"); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("GetRecord(replaced by an expired record) = %v, want ErrNotFound", err)
		}
		if diff := cmp.Diff([]string{"b", "c"}, listKeys(t, s, "consents")); diff != "" {
			t.Errorf("ListRecords (-want +got):\n%s", diff)
		}
	})

	t.Run("BinarySafe", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		names := []string{"a:b", "a\x00b", "{tag}x", "}{", "\xff\xfe", " sp ace ", "a\nb", "refresh:x"}
		for _, n := range names {
			data := append([]byte(n), allBytes...)
			if err := s.PutClient(ctx, n, data); err != nil {
				t.Fatalf("PutClient(%q): %v", n, err)
			}
			g := oauth.Grant{RequestID: n, Data: data, Active: true, Expires: later()}
			put(t, s, oauth.KindCode, n, g)
			if err := s.PutRecord(ctx, "users", n, data, later()); err != nil {
				t.Fatalf("PutRecord(%q): %v", n, err)
			}
		}
		for _, n := range names {
			data := append([]byte(n), allBytes...)
			if got, err := s.GetClient(ctx, n); err != nil || !bytes.Equal(got, data) {
				t.Errorf("GetClient(%q) = %q, %v", n, got, err)
			}
			if got, err := s.GetRecord(ctx, "users", n); err != nil || !bytes.Equal(got, data) {
				t.Errorf("GetRecord(%q) = %q, %v", n, got, err)
			}
			wantGrant(t, fmt.Sprintf("GetGrant(%q)", n), oauth.Grant{RequestID: n, Data: data, Active: true, Expires: get(t, s, oauth.KindCode, n).Expires}, get(t, s, oauth.KindCode, n))
		}
		for _, n := range names {
			if c, err := s.RevokeRequest(ctx, n, oauth.KindCode); err != nil || c != 1 {
				t.Errorf("RevokeRequest(%q) = %d, %v; want 1", n, c, err)
			}
		}
		// Empty data is stored as empty.
		if err := s.PutClient(ctx, "empty", nil); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetClient(ctx, "empty"); err != nil || len(got) != 0 {
			t.Errorf("GetClient(empty data) = %q, %v; want empty", got, err)
		}
		put(t, s, oauth.KindAccess, "empty", oauth.Grant{RequestID: "r", Active: true, Expires: later()})
		if g := get(t, s, oauth.KindAccess, "empty"); len(g.Data) != 0 {
			t.Errorf("GetGrant(empty data) = %q, want empty", g.Data)
		}
		if err := s.PutRecord(ctx, "users", "empty", nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetRecord(ctx, "users", "empty"); err != nil || len(got) != 0 {
			t.Errorf("GetRecord(empty data) = %q, %v; want empty", got, err)
		}
	})

	t.Run("ReturnedDataIsACopy", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		data := []byte("original")
		if err := s.PutClient(ctx, "c", data); err != nil {
			t.Fatal(err)
		}
		put(t, s, oauth.KindCode, "sig", oauth.Grant{RequestID: "r", Data: data, Active: true, Expires: later()})
		if err := s.PutRecord(ctx, "users", "u", data, time.Time{}); err != nil {
			t.Fatal(err)
		}
		copy(data, "XXXXXXXX")
		c, _ := s.GetClient(ctx, "c")
		g := get(t, s, oauth.KindCode, "sig")
		r, _ := s.GetRecord(ctx, "users", "u")
		for _, b := range [][]byte{c, g.Data, r} {
			if string(b) != "original" {
				t.Fatalf("stored data = %q after the caller changed its slice, want original", b)
			}
			copy(b, "YYYYYYYY")
		}
		c, _ = s.GetClient(ctx, "c")
		g = get(t, s, oauth.KindCode, "sig")
		r, _ = s.GetRecord(ctx, "users", "u")
		for _, b := range [][]byte{c, g.Data, r} {
			if string(b) != "original" {
				t.Errorf("stored data = %q after the caller changed a returned slice, want original", b)
			}
		}
	})

	t.Run("LongNames", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		long := func(c byte) string { return strings.Repeat(string(c), 512) }
		id, sig, req, key := long('i'), long('s'), long('r'), long('k')
		data := bytes.Repeat([]byte{0xa5}, 64<<10)
		if err := s.CreateClient(ctx, id, data); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetClient(ctx, id); err != nil || !bytes.Equal(got, data) {
			t.Errorf("GetClient(512-byte ID) = %d bytes, %v", len(got), err)
		}
		g := oauth.Grant{RequestID: req, Data: data, Active: true, Expires: later()}
		put(t, s, oauth.KindRefresh, sig, g)
		wantGrant(t, "GetGrant(512-byte sig)", g, get(t, s, oauth.KindRefresh, sig))
		if n, err := s.RevokeRequest(ctx, req, oauth.KindRefresh); err != nil || n != 1 {
			t.Errorf("RevokeRequest(512-byte request ID) = %d, %v; want 1", n, err)
		}
		if err := s.PutRecord(ctx, "users", key, data, later()); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetRecord(ctx, "users", key); err != nil || !bytes.Equal(got, data) {
			t.Errorf("GetRecord(512-byte key) = %d bytes, %v", len(got), err)
		}
		if diff := cmp.Diff([]string{key}, listKeys(t, s, "users")); diff != "" {
			t.Errorf("ListRecords (-want +got):\n%s", diff)
		}
		if err := s.DeleteGrant(ctx, oauth.KindRefresh, sig); err != nil {
			t.Fatal(err)
		}
		absent(t, s, oauth.KindRefresh, sig)
	})

	t.Run("Cancelled", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		g := grant("r", "d")
		for name, err := range map[string]error{
			"CreateClient":  s.CreateClient(ctx, "c", nil),
			"PutClient":     s.PutClient(ctx, "c", nil),
			"PutGrant":      s.PutGrant(ctx, oauth.KindCode, "s", g),
			"DeleteGrant":   s.DeleteGrant(ctx, oauth.KindCode, "s"),
			"PutRecord":     s.PutRecord(ctx, "users", "u", nil, time.Time{}),
			"RevokeRequest": func() error { _, err := s.RevokeRequest(ctx, "r", oauth.KindCode); return err }(),
			"Deactivate":    func() error { _, err := s.Deactivate(ctx, oauth.KindCode, "s"); return err }(),
			"GetGrant":      func() error { _, err := s.GetGrant(ctx, oauth.KindCode, "s"); return err }(),
			"ListRecords":   s.ListRecords(ctx, "users", func(string, []byte) error { return nil }),
		} {
			if err == nil {
				t.Errorf("%s(cancelled context) = nil, want an error", name)
			}
		}
		if _, err := s.GetGrant(t.Context(), oauth.KindCode, "s"); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("GetGrant after a cancelled PutGrant = %v, want ErrNotFound", err)
		}
	})
}

// pollGone calls gone until it reports true, failing if it does so before
// until or not within expiryWait after.
func pollGone(t *testing.T, until time.Time, gone func() bool) {
	t.Helper()
	deadline := until.Add(expiryWait)
	for {
		g := gone()
		done := time.Now()
		if g {
			if done.Before(until) {
				t.Fatalf("gone at %s, before its expiry %s", done.Format(time.StampMicro), until.Format(time.StampMicro))
			}
			return
		}
		if done.After(deadline) {
			t.Fatalf("still present %s after its expiry", expiryWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func listKeys(t *testing.T, s oauth.Store, collection string) []string {
	t.Helper()
	var keys []string
	err := s.ListRecords(t.Context(), collection, func(key string, _ []byte) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		t.Fatalf("ListRecords(%s): %v", collection, err)
	}
	return keys
}

// OAuthBench measures a grant's life as the token endpoint sees it:
// PutGrant, GetGrant and Deactivate of a fresh sig per op, from one
// goroutine and from GOMAXPROCS goroutines. It reports ops/s.
func OAuthBench(b *testing.B, open func(b *testing.B) oauth.Store) {
	op := func(ctx context.Context, s oauth.Store, sig string, g oauth.Grant) error {
		if err := s.PutGrant(ctx, oauth.KindRefresh, sig, g); err != nil {
			return err
		}
		if _, err := s.GetGrant(ctx, oauth.KindRefresh, sig); err != nil {
			return err
		}
		_, err := s.Deactivate(ctx, oauth.KindRefresh, sig)
		return err
	}
	g := oauth.Grant{RequestID: "bench-request", Data: bytes.Repeat([]byte("x"), 512), Active: true, Expires: time.Now().Add(time.Hour)}
	b.Run("Grant", func(b *testing.B) {
		s := open(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := op(b.Context(), s, fmt.Sprintf("bench:%d", i), g); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("GrantParallel", func(b *testing.B) {
		s := open(b)
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := next.Add(1)
			for i := 0; pb.Next(); i++ {
				// One request ID per goroutine keeps request indexes apart.
				g := g
				g.RequestID = fmt.Sprintf("bench-request:%d", w)
				if err := op(context.Background(), s, fmt.Sprintf("bench:%d:%d", w, i), g); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}
