package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/subzero-gateway/subzero/broker/token"
)

// t0 is the tests' start time.
var t0 = time.Unix(1_760_000_000, 0)

const (
	issuer   = "https://as.example.com"
	resource = "https://mcp.example.com/mcp"
)

// fixedKey is an ES256 key kept in the tests, so that the fuzz seeds in
// testdata verify.
const (
	fixedKID = "r14wRA0KYGKaD6pdd6lIfCeHVZanKld7I85OE3EJy3U"
	fixedJWK = `{"alg":"ES256","crv":"P-256","d":"OIlqt0Z0uCTdr8sllQGYczXO-BrLGWfYi_FtXQnT__c","kid":"r14wRA0KYGKaD6pdd6lIfCeHVZanKld7I85OE3EJy3U","kty":"EC","use":"sig","x":"NP14obZJcI0IOHUQn43l7MQnE84UwtLKDy3E0dLzU5w","y":"UrWp9_ERFtkmNwcaO6rIee1Py85ctC_QW4MLUcyqsHs"}`
)

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }

// memStore is an in-memory token.KeyStore. It passes
// storetest.SigningKeys (TestMemStore).
type memStore struct {
	mu   sync.Mutex
	gen  uint64
	recs []token.KeyRecord
	// fail, when set, is returned by every call.
	fail atomic.Pointer[error]
}

func (m *memStore) err(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e := m.fail.Load(); e != nil {
		return *e
	}
	return nil
}

func (m *memStore) Keys(ctx context.Context) ([]token.KeyRecord, error) {
	if err := m.err(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]token.KeyRecord, len(m.recs))
	for i, r := range m.recs {
		r.Data = slices.Clone(r.Data)
		out[i] = r
	}
	return out, nil
}

func (m *memStore) AddKey(ctx context.Context, rec token.KeyRecord) error {
	if err := m.err(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec.Generation != m.gen+1 || slices.ContainsFunc(m.recs, func(r token.KeyRecord) bool { return r.ID == rec.ID }) {
		return token.ErrConflict
	}
	rec.Data = slices.Clone(rec.Data)
	m.recs = append(m.recs, rec)
	m.gen = rec.Generation
	return nil
}

func (m *memStore) DeleteKey(ctx context.Context, id string) error {
	if err := m.err(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = slices.DeleteFunc(m.recs, func(r token.KeyRecord) bool { return r.ID == id })
	return nil
}

// ids lists the IDs of the stored keys.
func (m *memStore) ids() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, r := range m.recs {
		ids = append(ids, r.ID)
	}
	return ids
}

// signer returns the private key of the stored key id.
func (m *memStore) signer(t testing.TB, id string) crypto.Signer {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if r.ID == id {
			return parseSigner(t, r.Data)
		}
	}
	t.Fatalf("no stored key %s", id)
	return nil
}

func parseSigner(t testing.TB, data []byte) crypto.Signer {
	t.Helper()
	k, err := jwk.ParseKey(data)
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	return raw.(crypto.Signer)
}

// fixedStore returns a store holding fixedKey as generation 1.
func fixedStore(t testing.TB) *memStore {
	m := &memStore{}
	if err := m.AddKey(context.Background(), token.KeyRecord{ID: fixedKID, Generation: 1, Data: []byte(fixedJWK), Created: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return m
}

// revocations is a token.RevocationList backed by a map.
type revocations struct {
	mu  sync.RWMutex
	jti map[string]bool
	err error
}

func (r *revocations) IsRevoked(_ context.Context, jti string) (bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.jti[jti], r.err
}

func (r *revocations) revoke(jti string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jti == nil {
		r.jti = map[string]bool{}
	}
	r.jti[jti] = true
}

// fixture is one node: a key set, an issuer and a validator on a store.
type fixture struct {
	cfg     token.Config
	clock   *clock
	store   *memStore
	keys    *token.KeySet
	issuer  *token.Issuer
	val     *token.Validator
	revoked *revocations
}

// newFixture returns a node on store (a fresh one when nil) at t0, with
// the default configuration edited by edit.
func newFixture(t testing.TB, store *memStore, edit func(c *token.Config)) *fixture {
	t.Helper()
	cfg := token.Default()
	if edit != nil {
		edit(&cfg)
	}
	if store == nil {
		store = &memStore{}
	}
	f := &fixture{cfg: cfg, clock: newClock(t0), store: store, revoked: &revocations{}}
	var err error
	if f.keys, err = token.NewKeySet(context.Background(), cfg, store, f.clock.now); err != nil {
		t.Fatal(err)
	}
	if f.issuer, err = token.NewIssuer(cfg, issuer, f.keys); err != nil {
		t.Fatal(err)
	}
	if f.val, err = token.NewValidator(cfg, issuer, f.keys, f.revoked); err != nil {
		t.Fatal(err)
	}
	return f
}

// claims returns typical claims for Mint.
func claims() token.Claims {
	return token.Claims{
		Subject:  "user-1",
		Audience: []string{resource},
		ClientID: "client-1",
		Scope:    []string{"tools:read", "tools:call"},
	}
}

func (f *fixture) mint(t testing.TB, c token.Claims) string {
	t.Helper()
	tok, err := f.issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// obj is a JSON object under construction.
type obj map[string]any

// with returns a copy of o with the given name, value pairs set; a nil
// value deletes the name.
func (o obj) with(kv ...any) obj {
	out := obj{}
	for k, v := range o {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// forge signs arbitrary JSON header and claims texts with priv, as a
// misbehaving or lagging issuer would: ES256 (raw r || s), EdDSA, RS256,
// or HS256 with secret as the HMAC key.
func forge(t testing.TB, alg string, priv crypto.Signer, header, claims string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch alg {
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, priv.(*ecdsa.PrivateKey), digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "EdDSA":
		sig = ed25519.Sign(priv.(ed25519.PrivateKey), []byte(input))
	case "RS256":
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, digest[:]); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("forge: alg %s", alg)
	}
	return input + "." + enc.EncodeToString(sig)
}

// jsonText encodes v, failing the test on error.
func jsonText(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantInvalid checks that err is an *token.Error with code invalid_token
// and the description want, which does not contain tok.
func wantInvalid(t testing.TB, err error, want, tok string) {
	t.Helper()
	e, ok := errors.AsType[*token.Error](err)
	if !ok {
		t.Fatalf("error = %v (%T), want a *token.Error %q", err, err, want)
	}
	if e.Code != token.CodeInvalidToken || e.Description != want {
		t.Errorf("error = %q: %q, want invalid_token: %q", e.Code, e.Description, want)
	}
	if len(tok) >= 8 && strings.Contains(e.Description, tok) {
		t.Errorf("description %q contains the token", e.Description)
	}
}
