package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/subzero-gateway/subzero/broker/token"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func TestMemStore(t *testing.T) {
	storetest.SigningKeys(t, func(t *testing.T) token.KeyStore { return &memStore{} })
}

// TestRotation follows a key from current through retirement: a token
// signed by the previous key validates until that key retires and fails
// after, and the key leaves the JWKS and the store.
func TestRotation(t *testing.T) {
	f := newFixture(t, nil, nil) // activation_delay 1m, retire_after 24h
	ctx := t.Context()
	k1 := f.keys.Current()
	if k1.Generation != 1 || !k1.Activate.IsZero() || !k1.Retire.IsZero() || k1.Alg != "ES256" {
		t.Fatalf("first key = %+v", k1)
	}
	tok1 := f.mint(t, claims())

	k2, err := f.keys.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Generation != 2 || !k2.Activate.Equal(t0.Add(time.Minute)) || k2.ID == k1.ID {
		t.Fatalf("rotated key = %+v", k2)
	}
	if got := f.keys.Current().ID; got != k1.ID {
		t.Errorf("before its activation the new key signs: current %s, want %s", got, k1.ID)
	}
	if got := jwksIDs(t, f.keys.JWKS()); !slices.Equal(got, []string{k2.ID, k1.ID}) {
		t.Errorf("JWKS before activation = %v, want the new key published too", got)
	}

	f.clock.advance(time.Minute)
	if got := f.keys.Current().ID; got != k2.ID {
		t.Errorf("after activation current = %s, want %s", got, k2.ID)
	}
	tok2 := f.mint(t, claims())
	if kidOf(t, tok2) != k2.ID {
		t.Errorf("token minted after activation has kid %s, want %s", kidOf(t, tok2), k2.ID)
	}
	for _, tok := range []string{tok1, tok2} {
		if _, err := f.val.Validate(ctx, tok, resource); err != nil {
			t.Errorf("Validate(%s token) = %v", kidOf(t, tok), err)
		}
	}

	// A lagging node still signs with k1: its tokens validate until k1
	// retires, 24h after k2 became current.
	priv1 := f.store.signer(t, k1.ID)
	lagging := func() string {
		now := f.clock.now().Unix()
		return forge(t, "ES256", priv1, jsonText(t, obj{"alg": "ES256", "kid": k1.ID, "typ": "at+jwt"}),
			jsonText(t, obj{"iss": issuer, "sub": "u", "aud": resource, "client_id": "c", "jti": token.NewJTI(), "iat": now, "exp": now + 60}))
	}
	retire := t0.Add(time.Minute + 24*time.Hour)
	if got := f.keys.Keys()[0].Retire; !got.Equal(retire) {
		t.Errorf("k1 retires at %s, want %s", got, retire)
	}
	f.clock.set(retire.Add(-time.Second))
	tok := lagging()
	if _, err := f.val.Validate(ctx, tok, resource); err != nil {
		t.Errorf("a token of the previous key a second before it retires: %v", err)
	}
	f.clock.set(retire)
	_, err = f.val.Validate(ctx, tok, resource)
	wantInvalid(t, err, "signing key is retired", tok)
	if got := jwksIDs(t, f.keys.JWKS()); !slices.Equal(got, []string{k2.ID}) {
		t.Errorf("JWKS once k1 retired = %v, want only k2", got)
	}
	if got := len(f.keys.Keys()); got != 1 {
		t.Errorf("Keys() once k1 retired has %d keys, want 1", got)
	}

	if err := f.keys.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	tok = lagging()
	_, err = f.val.Validate(ctx, tok, resource)
	wantInvalid(t, err, "kid is unknown", tok)
	if got := f.store.ids(); !slices.Equal(got, []string{k2.ID}) {
		t.Errorf("store after the refresh holds %v, want only k2", got)
	}
	if got := jwksIDs(t, f.keys.JWKS()); !slices.Equal(got, []string{k2.ID}) {
		t.Errorf("JWKS after the refresh = %v, want only k2", got)
	}
}

// TestTwoNodes runs two nodes on one store: a key one node rotates in
// reaches the other at its refresh, before the key signs.
func TestTwoNodes(t *testing.T) {
	store := &memStore{}
	a := newFixture(t, store, nil)
	b := newFixture(t, store, nil)
	ctx := t.Context()
	if a.keys.Current().ID != b.keys.Current().ID {
		t.Fatal("the nodes started with different keys")
	}
	k2, err := a.keys.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Not active yet: a still signs with the key b knows.
	if _, err := b.val.Validate(ctx, a.mint(t, claims()), resource); err != nil {
		t.Errorf("b validating a's token right after a rotated: %v", err)
	}
	if err := b.keys.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fixture{a, b} {
		f.clock.advance(time.Minute)
		if got := f.keys.Current().ID; got != k2.ID {
			t.Errorf("current key after activation = %s, want %s", got, k2.ID)
		}
	}
	for _, pair := range [][2]*fixture{{a, b}, {b, a}} {
		if _, err := pair[1].val.Validate(ctx, pair[0].mint(t, claims()), resource); err != nil {
			t.Errorf("cross-node validation: %v", err)
		}
	}
	if diff := cmp.Diff(a.keys.JWKS(), b.keys.JWKS()); diff != "" {
		t.Errorf("the nodes publish different JWKS:\n%s", diff)
	}
}

// TestConcurrentRotate: nodes rotating at once never add two keys of one
// generation, and agree on the current key.
func TestConcurrentRotate(t *testing.T) {
	store := &memStore{}
	nodes := make([]*fixture, 8)
	for i := range nodes {
		nodes[i] = newFixture(t, store, nil)
	}
	var wg sync.WaitGroup
	infos := make([]token.KeyInfo, len(nodes))
	for i, f := range nodes {
		wg.Go(func() {
			var err error
			if infos[i], err = f.keys.Rotate(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Rotations that started from the same key add one key between them;
	// a rotation that started after another's key was added adds its own.
	if n := len(store.ids()); n < 2 || n > len(nodes)+1 {
		t.Errorf("%d keys after %d concurrent rotations", n, len(nodes))
	}
	gens := map[uint64]string{}
	for _, r := range mustKeys(t, store) {
		if id, ok := gens[r.Generation]; ok {
			t.Errorf("generation %d holds %s and %s", r.Generation, id, r.ID)
		}
		gens[r.Generation] = r.ID
	}
	for _, f := range nodes {
		if err := f.keys.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		f.clock.advance(time.Minute)
	}
	want := nodes[0].keys.Current().ID
	for i, f := range nodes {
		if got := f.keys.Current().ID; got != want {
			t.Errorf("node %d signs with %s, node 0 with %s", i, got, want)
		}
	}
}

func mustKeys(t *testing.T, s token.KeyStore) []token.KeyRecord {
	t.Helper()
	recs, err := s.Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestConcurrentFirstStart starts 8 nodes at once on a fresh store: they
// all end with the same current key, and the store holds that one key.
func TestConcurrentFirstStart(t *testing.T) {
	for range 20 {
		store := &memStore{}
		sets := make([]*token.KeySet, 8)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range sets {
			wg.Go(func() {
				<-start
				var err error
				if sets[i], err = token.NewKeySet(context.Background(), token.Default(), store, nil); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		want := sets[0].Current().ID
		for i, ks := range sets {
			if got := ks.Current().ID; got != want {
				t.Fatalf("node %d signs with %s, node 0 with %s", i, got, want)
			}
		}
		if got := store.ids(); !slices.Equal(got, []string{want}) {
			t.Fatalf("store holds %v, want the one key %s", got, want)
		}
	}
}

func TestJWKS(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, nil, func(c *token.Config) { c.Alg = alg })
			if _, err := f.keys.Rotate(t.Context()); err != nil {
				t.Fatal(err)
			}
			raw := f.keys.JWKS()
			var doc struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("JWKS is not JSON: %v", err)
			}
			infos := f.keys.Keys()
			if len(doc.Keys) != 2 || len(infos) != 2 {
				t.Fatalf("JWKS has %d keys, Keys() %d; want current and next", len(doc.Keys), len(infos))
			}
			for i, k := range doc.Keys {
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
					if _, ok := k[private]; ok {
						t.Errorf("JWKS key %d has the private member %q", i, private)
					}
				}
				want := infos[len(infos)-1-i] // newest first
				if k["kid"] != want.ID || k["alg"] != alg || k["use"] != "sig" {
					t.Errorf("JWKS key %d: kid %v alg %v use %v; want %s %s sig", i, k["kid"], k["alg"], k["use"], want.ID, alg)
				}
			}
			set, err := jwk.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			for i := range set.Len() {
				k, _ := set.Key(i)
				if _, err := k.PublicKey(); err != nil {
					t.Errorf("jwx: key %d: %v", i, err)
				}
				tp, err := k.Thumbprint(cryptoSHA256)
				if err != nil || b64(tp) != k.KeyID() {
					t.Errorf("key %d: kid %s is not its thumbprint", i, k.KeyID())
				}
			}
			raw[0] = 'X'
			if f.keys.JWKS()[0] != '{' {
				t.Error("JWKS returned shared bytes")
			}
		})
	}
}

func jwksIDs(t *testing.T, raw []byte) []string {
	t.Helper()
	set, err := jwk.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range set.Len() {
		k, _ := set.Key(i)
		ids = append(ids, k.KeyID())
	}
	return ids
}

func TestRefreshErrors(t *testing.T) {
	f := newFixture(t, nil, func(c *token.Config) { c.ActivationDelay = 0 })
	ctx := t.Context()
	good := f.keys.Current()

	// A record that does not parse is left out and reported.
	bad := token.KeyRecord{ID: "bad", Generation: 2, Data: []byte(`{"kty":"oct","k":"c2VjcmV0","kid":"bad","alg":"HS256"}`), Created: t0}
	if err := f.store.AddKey(ctx, bad); err != nil {
		t.Fatal(err)
	}
	err := f.keys.Refresh(ctx)
	if err == nil || !strings.Contains(err.Error(), "signing key bad") {
		t.Errorf("Refresh with a bad record = %v, want an error naming it", err)
	}
	if got := f.keys.Current().ID; got != good.ID {
		t.Errorf("current after a bad record = %s, want %s", got, good.ID)
	}
	if _, err := token.NewKeySet(ctx, token.Default(), f.store, f.clock.now); err == nil {
		t.Error("NewKeySet on a store with a bad record succeeded")
	}

	// A key whose kid is not its thumbprint is refused.
	other := &memStore{}
	if err := other.AddKey(ctx, token.KeyRecord{ID: "not-the-thumbprint", Generation: 1, Data: []byte(strings.Replace(fixedJWK, fixedKID, "not-the-thumbprint", 1))}); err != nil {
		t.Fatal(err)
	}
	if _, err := token.NewKeySet(ctx, token.Default(), other, nil); err == nil || !strings.Contains(err.Error(), "thumbprint") {
		t.Errorf("NewKeySet with a kid that is not the thumbprint = %v", err)
	}

	// A failing store leaves the keys as they were.
	boom := errors.New("store down")
	f.store.fail.Store(&boom)
	if err := f.keys.Refresh(ctx); !errors.Is(err, boom) {
		t.Errorf("Refresh on a failing store = %v, want %v", err, boom)
	}
	if _, err := f.keys.Rotate(ctx); !errors.Is(err, boom) {
		t.Errorf("Rotate on a failing store = %v, want %v", err, boom)
	}
	if _, err := f.val.Validate(ctx, f.mint(t, claims()), resource); err != nil {
		t.Errorf("Validate while the store fails = %v", err)
	}
	if _, err := token.NewKeySet(ctx, token.Default(), f.store, nil); !errors.Is(err, boom) {
		t.Errorf("NewKeySet on a failing store = %v, want %v", err, boom)
	}
}

func TestAlgChange(t *testing.T) {
	store := &memStore{}
	es := newFixture(t, store, func(c *token.Config) { c.ActivationDelay = 0 })
	tokES := es.mint(t, claims())
	ed := newFixture(t, store, func(c *token.Config) { c.Alg = "EdDSA"; c.ActivationDelay = 0 })
	if info, err := ed.keys.Rotate(t.Context()); err != nil || info.Alg != "EdDSA" {
		t.Fatalf("Rotate = %+v, %v", info, err)
	}
	tokED := ed.mint(t, claims())
	if err := es.keys.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fixture{es, ed} {
		for _, tok := range []string{tokES, tokED} {
			if _, err := f.val.Validate(t.Context(), tok, resource); err != nil {
				t.Errorf("Validate: %v", err)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := token.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *token.Config)
		want string
	}{
		{"EdDSA", func(c *token.Config) { c.Alg = "EdDSA" }, ""},
		{"RS256", func(c *token.Config) { c.Alg = "RS256" }, ""},
		{"bounds", func(c *token.Config) {
			c.AccessTokenLifetime, c.Leeway, c.RetireAfter, c.ActivationDelay, c.CacheBytes = time.Hour, time.Minute, time.Hour+time.Minute+1, time.Hour, 0
		}, ""},
		{"short", func(c *token.Config) { c.AccessTokenLifetime, c.Leeway, c.ActivationDelay = 30*time.Second, 0, 0 }, ""},
		{"HS256", func(c *token.Config) { c.Alg = "HS256" }, `alg: must be ES256, EdDSA or RS256, not "HS256"`},
		{"none", func(c *token.Config) { c.Alg = "none" }, `alg: must be ES256, EdDSA or RS256, not "none"`},
		{"empty alg", func(c *token.Config) { c.Alg = "" }, `alg: must be ES256, EdDSA or RS256, not ""`},
		{"lifetime short", func(c *token.Config) { c.AccessTokenLifetime = 29 * time.Second }, "access_token_lifetime: must be between 30s and 1h0m0s"},
		{"lifetime long", func(c *token.Config) { c.AccessTokenLifetime = time.Hour + time.Second }, "access_token_lifetime: must be between 30s and 1h0m0s"},
		{"leeway negative", func(c *token.Config) { c.Leeway = -time.Second }, "leeway: must be between 0s and 1m0s"},
		{"leeway long", func(c *token.Config) { c.Leeway = 2 * time.Minute }, "leeway: must be between 0s and 1m0s"},
		{"retire_after", func(c *token.Config) { c.RetireAfter = 5*time.Minute + 5*time.Second }, "retire_after: must exceed access_token_lifetime plus leeway"},
		{"activation_delay negative", func(c *token.Config) { c.ActivationDelay = -1 }, "activation_delay: must be between 0s and 1h0m0s"},
		{"activation_delay long", func(c *token.Config) { c.ActivationDelay = 2 * time.Hour }, "activation_delay: must be between 0s and 1h0m0s"},
		{"cache_bytes", func(c *token.Config) { c.CacheBytes = -1 }, "cache_bytes: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := token.Default()
			tc.edit(&c)
			before := c
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() = %q, want %q", got, tc.want)
			}
			if c != before {
				t.Error("Validate mutated the config")
			}
		})
	}
}

func TestConstructors(t *testing.T) {
	f := newFixture(t, nil, nil)
	bad := token.Default()
	bad.Alg = "none"
	ctx := t.Context()
	for name, err := range map[string]error{
		"NewKeySet bad config":    second(token.NewKeySet(ctx, bad, &memStore{}, nil)),
		"NewKeySet nil store":     second(token.NewKeySet(ctx, token.Default(), nil, nil)),
		"NewIssuer bad config":    second(token.NewIssuer(bad, issuer, f.keys)),
		"NewIssuer empty issuer":  second(token.NewIssuer(token.Default(), "", f.keys)),
		"NewIssuer nil keys":      second(token.NewIssuer(token.Default(), issuer, nil)),
		"NewValidator bad config": second(token.NewValidator(bad, issuer, f.keys, nil)),
		"NewValidator no issuer":  second(token.NewValidator(token.Default(), "", f.keys, nil)),
		"NewValidator nil keys":   second(token.NewValidator(token.Default(), issuer, nil, nil)),
	} {
		if err == nil {
			t.Errorf("%s succeeded", name)
		}
	}
}

func second[T any](_ T, err error) error { return err }
