package dpop_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// TestLocalReplayRestart runs two processes' verifiers, one after the
// other, over one bolt file with store/bolt's LocalReplay on a shared
// clock, and checks that no proof the first accepted is accepted by the
// second: the ones made before the second started are refused, the ones
// made ahead of the clock are found in the file.
func TestLocalReplayRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	// The clock is read by the cache's goroutine too.
	var ns atomic.Int64
	ns.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, ns.Load()) }
	advance := func(d time.Duration) { ns.Add(int64(d)) }
	cfg := dpop.Default() // max_age 60s, max_skew 5s
	a := newAgent(t, jwa.ES256)
	target := mustURL(t, tokenURL)
	proof := func(jti string, iat time.Time) string {
		c := claims(jti)
		c["iat"] = iat.Unix()
		return a.sign(t, c, nil)
	}
	start := func() (*dpop.Verifier, *bolt.DB) {
		t.Helper()
		db, err := bolt.Open(path, time.Second, false)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dpop.New(cfg, secret, db.LocalReplay(clock), clock)
		if err != nil {
			t.Fatal(err)
		}
		return v, db
	}
	verify := func(v *dpop.Verifier, p string) string {
		t.Helper()
		_, err := v.Verify(t.Context(), p, "POST", target, "")
		if err == nil {
			return ""
		}
		var e *dpop.Error
		if !errors.As(err, &e) {
			t.Fatalf("Verify: %v, want a *dpop.Error", err)
		}
		return e.Description
	}
	const (
		used   = "DPoP proof has been used before"
		before = "DPoP proof was made before the server started"
	)

	v1, db1 := start()
	early := proof("early", clock().Add(time.Second)) // within max_skew of the start: kept in the file
	advance(20 * time.Second)
	ahead := proof("ahead", clock().Add(3*time.Second)) // ahead of the clock: kept in the file
	plain := proof("plain", clock())                    // kept in memory only
	for _, p := range []string{early, ahead, plain} {
		if got := verify(v1, p); got != "" {
			t.Fatalf("first process: Verify = %q, want accepted", got)
		}
		if got := verify(v1, p); got != used {
			t.Errorf("first process: Verify again = %q, want %q", got, used)
		}
	}
	for i := range 5 {
		if got := verify(v1, proof("distinct:"+strconv.Itoa(i), clock())); got != "" {
			t.Errorf("first process: Verify(distinct:%d) = %q, want accepted", i, got)
		}
	}
	if err := db1.Close(); err != nil {
		t.Fatal(err)
	}

	advance(time.Second)
	v2, db2 := start()
	defer db2.Close()
	for _, tc := range []struct {
		name, proof, want string
	}{
		{"early", early, before},
		{"plain", plain, before},
		{"ahead", ahead, used}, // made after the second start, found in the file
		{"new, made before the start", proof("new-before", clock().Add(-time.Second)), before},
	} {
		if got := verify(v2, tc.proof); got != tc.want {
			t.Errorf("second process: Verify(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
	advance(time.Second)
	soon := proof("soon", clock()) // within max_skew of the second start: file
	advance(10 * time.Second)
	later := proof("later", clock()) // memory only
	for _, p := range []string{soon, later} {
		if got := verify(v2, p); got != "" {
			t.Errorf("second process: Verify(new proof) = %q, want accepted", got)
		}
		if got := verify(v2, p); got != used {
			t.Errorf("second process: Verify(new proof) again = %q, want %q", got, used)
		}
	}
}

// TestLocalReplayNewFile checks that over a file no process kept keys of
// in memory only, a proof made before the store started is accepted once.
func TestLocalReplayNewFile(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := func() time.Time { return t0 }
	v, err := dpop.New(dpop.Default(), secret, db.LocalReplay(clock), clock)
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, jwa.ES256)
	c := claims("before")
	c["iat"] = t0.Add(-time.Second).Unix()
	p := a.sign(t, c, nil)
	if _, err := v.Verify(t.Context(), p, "POST", mustURL(t, tokenURL), ""); err != nil {
		t.Fatalf("Verify(proof made before the start) = %v, want accepted", err)
	}
	if _, err := v.Verify(t.Context(), p, "POST", mustURL(t, tokenURL), ""); err == nil {
		t.Error("Verify(same proof) accepted twice")
	}
}
