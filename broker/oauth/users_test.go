package oauth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/oauth"
)

func TestUsers(t *testing.T) {
	s, _ := testStore(t)
	u := oauth.NewUsers(s, fastArgon2)
	ctx := t.Context()
	alice, err := u.Add(ctx, "alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(alice.PasswordHash, "$argon2id$") || strings.Contains(alice.PasswordHash, "correct") {
		t.Errorf("stored hash = %q, want an argon2id PHC string", alice.PasswordHash)
	}
	if _, err := u.Add(ctx, "alice", "another password"); !errors.Is(err, oauth.ErrExists) {
		t.Errorf("second Add(alice) = %v, want oauth.ErrExists", err)
	}
	for _, tc := range []struct{ name, user, pw string }{
		{"short password", "bob", "short"},
		{"long password", "bob", strings.Repeat("x", oauth.MaxPasswordLen+1)},
		{"bad name", "bob smith", "long enough password"},
		{"empty name", "", "long enough password"},
	} {
		if _, err := u.Add(ctx, tc.user, tc.pw); err == nil {
			t.Errorf("%s: Add accepted it", tc.name)
		}
	}
	got, err := u.Authenticate(ctx, "alice", "correct horse battery")
	if err != nil || got.Subject != alice.Subject {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	for _, tc := range []struct{ user, pw string }{
		{"alice", "wrong password"}, {"nobody", "correct horse battery"}, {"alice", strings.Repeat("x", 5000)},
	} {
		if _, err := u.Authenticate(ctx, tc.user, tc.pw); !errors.Is(err, oauth.ErrBadCredentials) {
			t.Errorf("Authenticate(%q) = %v, want oauth.ErrBadCredentials", tc.user, err)
		}
	}
}

func TestUnknownUserCostsAHash(t *testing.T) {
	s, _ := testStore(t)
	slow := fastArgon2
	slow.Memory, slow.Iterations = 16<<10, 4
	u := oauth.NewUsers(s, slow)
	if _, err := u.Add(t.Context(), "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	oauth.WarmDummyHash(u) // the dummy hash is made once, not timed here
	timeOf := func(name string) time.Duration {
		start := time.Now()
		u.Authenticate(t.Context(), name, "wrong password")
		return time.Since(start)
	}
	known, unknown := timeOf("alice"), timeOf("nobody")
	// An unknown user runs the same argon2id work: not orders of magnitude faster.
	if unknown < known/4 {
		t.Errorf("unknown user took %v, known user %v: the difference reveals which users exist", unknown, known)
	}
}
