package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// KeyInfo describes a signing key without its private part.
type KeyInfo struct {
	// ID is the key ID (kid).
	ID string
	// Alg is the key's JWS algorithm.
	Alg string
	// Generation numbers keys in the order they were added, from 1.
	Generation uint64
	// Created is when the key was generated.
	Created time.Time
	// Activate is when the key becomes current for signing; zero means
	// from the start.
	Activate time.Time
	// Retire is when the key stops verifying tokens and leaves the JWKS:
	// retire_after past the activation of its successor. It is zero while
	// the key has no successor.
	Retire time.Time
}

// key is a parsed signing key.
type key struct {
	id       string
	gen      uint64
	alg      *alg
	data     []byte // the record's Data, to notice a changed record
	priv     crypto.Signer
	pub      publicKey
	pubJWK   []byte // the public JWK with kid, alg and use
	header   string // the base64url JOSE header of the tokens it signs
	created  time.Time
	activate time.Time // zero: from the start
}

// activeFrom is when k becomes current, in Unix nanoseconds; 0 for a key
// current from the start.
func (k *key) activeFrom() int64 {
	if k.activate.IsZero() {
		return 0
	}
	return k.activate.UnixNano()
}

// stateKey is a key as one refresh of the store placed it.
type stateKey struct {
	*key
	retire int64 // Unix nanoseconds when the key retires; 0 without a successor
}

func (k *stateKey) info() KeyInfo {
	i := KeyInfo{ID: k.id, Alg: k.alg.name, Generation: k.gen, Created: k.created, Activate: k.activate}
	if k.retire != 0 {
		i.Retire = time.Unix(0, k.retire)
	}
	return i
}

func (k *stateKey) retiredAt(now int64) bool { return k.retire != 0 && now >= k.retire }

// keyState is an immutable snapshot of the usable keys.
type keyState struct {
	keys      []stateKey // generation order; retired keys left out
	byID      map[string]*stateKey
	byHeader  map[string]*stateKey // by the base64url header of the tokens a key signs
	jwks      []byte
	jwksUntil int64 // the first retirement among keys, after which jwks is stale; 0 for none
}

// current returns the key that signs at now: the newest that is active
// and not retired, or, should none be active yet (clock skew between
// nodes), the oldest.
func (st *keyState) current(now int64) *stateKey {
	for i := len(st.keys) - 1; i >= 0; i-- {
		if k := &st.keys[i]; k.activeFrom() <= now && !k.retiredAt(now) {
			return k
		}
	}
	return &st.keys[0]
}

// KeySet holds the signing keys of every node sharing a [KeyStore]: the
// current key, which signs, the previous keys until they retire, and
// rotated keys waiting for their activation. It is safe for concurrent
// use; [Issuer] and [Validator] read it without locking.
type KeySet struct {
	cfg   Config
	alg   *alg
	store KeyStore
	now   func() time.Time

	mu     sync.Mutex      // serializes Refresh and Rotate
	parsed map[string]*key // by ID, reused across refreshes; guarded by mu

	state atomic.Pointer[keyState]
	// epoch grows whenever a refresh drops a key, so that cached
	// validations made with it are no longer trusted. It is bumped after
	// the state that lacks the key is stored.
	epoch atomic.Uint64
}

// NewKeySet loads the keys from store, generating the first key when the
// store has none, and returns the set. Nodes starting at once on one
// store agree on that first key. Unlike [KeySet.Refresh], it fails when
// any stored key does not parse. now is the clock; nil means [time.Now].
func NewKeySet(ctx context.Context, cfg Config, store KeyStore, now func() time.Time) (*KeySet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if store == nil {
		return nil, errors.New("token: key store is nil")
	}
	if now == nil {
		now = time.Now
	}
	ks := &KeySet{cfg: cfg, alg: lookupAlg(cfg.Alg), store: store, now: now, parsed: map[string]*key{}}
	if err := ks.Refresh(ctx); err != nil {
		return nil, err
	}
	return ks, nil
}

// Refresh reloads the keys from the store, so that keys other nodes added
// or deleted take effect here; broker calls it on a timer and on change
// notifications. It drops keys past their retirement, also from the store.
// A record that does not parse is left out and reported in the error,
// while the other keys take effect; when no key is usable, or the store
// fails, the keys stay as they were.
func (ks *KeySet) Refresh(ctx context.Context) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	recs, err := ks.load(ctx)
	if err != nil {
		return err
	}
	return ks.install(ctx, recs)
}

// Rotate adds a new key of the configured algorithm. It is published in
// the JWKS at once and becomes current for signing after
// activation_delay; the key it replaces keeps verifying tokens until
// retire_after past that. Of nodes rotating from the same key at once,
// one adds the new key and the others adopt it, so that no two keys
// become current together. Rotate returns the newest key.
func (ks *KeySet) Rotate(ctx context.Context) (KeyInfo, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	recs, err := ks.load(ctx)
	if err != nil {
		return KeyInfo{}, err
	}
	newest := recs[len(recs)-1]
	activate := ks.now().Add(ks.cfg.ActivationDelay)
	if activate.Before(newest.Activate) {
		activate = newest.Activate // activations never go back in time
	}
	if err := ks.add(ctx, newest.Generation+1, activate); err != nil && !errors.Is(err, ErrConflict) {
		return KeyInfo{}, err
	}
	if recs, err = ks.load(ctx); err != nil {
		return KeyInfo{}, err
	}
	err = ks.install(ctx, recs)
	st := ks.state.Load()
	return st.keys[len(st.keys)-1].info(), err
}

// load reads the stored keys, adding the first one when there are none.
func (ks *KeySet) load(ctx context.Context) ([]KeyRecord, error) {
	for range 2 {
		recs, err := ks.store.Keys(ctx)
		if err != nil {
			return nil, fmt.Errorf("token: load signing keys: %w", err)
		}
		if len(recs) > 0 {
			return recs, nil
		}
		// The first key is current from the start. Of nodes racing here,
		// one adds it; the others get ErrConflict and read it back.
		if err := ks.add(ctx, 1, time.Time{}); err != nil && !errors.Is(err, ErrConflict) {
			return nil, err
		}
	}
	return nil, errors.New("token: load signing keys: the store has none and refuses the first")
}

// add generates a key and adds it to the store as generation gen.
func (ks *KeySet) add(ctx context.Context, gen uint64, activate time.Time) error {
	rec, err := newRecord(ks.alg, gen, ks.now(), activate)
	if err != nil {
		return err
	}
	if err := ks.store.AddKey(ctx, rec); err != nil {
		return fmt.Errorf("token: add signing key: %w", err)
	}
	return nil
}

// install makes recs, in generation order, the current keys; ks.mu is
// held.
func (ks *KeySet) install(ctx context.Context, recs []KeyRecord) error {
	var errs []error
	parsed := make(map[string]*key, len(recs))
	keys := make([]*key, 0, len(recs))
	for _, r := range recs {
		k := ks.parsed[r.ID]
		if k == nil || k.gen != r.Generation || !bytes.Equal(k.data, r.Data) ||
			!k.created.Equal(r.Created) || !k.activate.Equal(r.Activate) {
			var err error
			if k, err = parseRecord(r); err != nil {
				errs = append(errs, fmt.Errorf("token: signing key %s: %w", r.ID, err))
				continue
			}
		}
		parsed[r.ID] = k
		keys = append(keys, k)
	}

	now := ks.now().UnixNano()
	st := &keyState{byID: make(map[string]*stateKey, len(keys)), byHeader: make(map[string]*stateKey, len(keys))}
	var retired []string
	for i, k := range keys {
		var retire int64
		if i+1 < len(keys) {
			next := keys[i+1]
			from := next.activate
			if from.IsZero() {
				from = next.created
			}
			retire = from.Add(ks.cfg.RetireAfter).UnixNano()
		}
		if retire != 0 && now >= retire {
			retired = append(retired, k.id)
			continue
		}
		st.keys = append(st.keys, stateKey{key: k, retire: retire})
	}
	if len(st.keys) == 0 {
		return errors.Join(append(errs, errors.New("token: no usable signing key in the store"))...)
	}
	for i := range st.keys {
		st.byID[st.keys[i].id] = &st.keys[i]
		st.byHeader[st.keys[i].header] = &st.keys[i]
	}
	st.jwks, st.jwksUntil = buildJWKS(st.keys, now)

	ks.parsed = parsed
	old := ks.state.Load()
	ks.state.Store(st)
	if old != nil {
		for id := range old.byID {
			if _, ok := st.byID[id]; !ok {
				ks.epoch.Add(1)
				break
			}
		}
	}
	for _, id := range retired {
		if err := ks.store.DeleteKey(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("token: delete retired signing key %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// Current returns the key that signs tokens now.
func (ks *KeySet) Current() KeyInfo {
	return ks.state.Load().current(ks.now().UnixNano()).info()
}

// Keys returns the keys that verify tokens now, oldest first: the current
// key, its predecessors until they retire and its successors waiting for
// their activation.
func (ks *KeySet) Keys() []KeyInfo {
	st, now := ks.state.Load(), ks.now().UnixNano()
	out := make([]KeyInfo, 0, len(st.keys))
	for i := range st.keys {
		if !st.keys[i].retiredAt(now) {
			out = append(out, st.keys[i].info())
		}
	}
	return out
}

// JWKS returns the public keys that verify tokens now as an RFC 7517 JWK
// Set, newest first: {"keys":[...]}, each with kid, alg and use "sig" and
// no private members. The slice is the caller's.
func (ks *KeySet) JWKS() []byte {
	st, now := ks.state.Load(), ks.now().UnixNano()
	if st.jwksUntil != 0 && now >= st.jwksUntil {
		jwks, _ := buildJWKS(st.keys, now) // a key retired since the last refresh
		return jwks
	}
	return bytes.Clone(st.jwks)
}

// buildJWKS returns the JWK Set of the keys not retired at now, and when
// the first of them retires (0 for none).
func buildJWKS(keys []stateKey, now int64) ([]byte, int64) {
	var until int64
	b := []byte(`{"keys":[`)
	first := true
	for i := len(keys) - 1; i >= 0; i-- {
		k := &keys[i]
		if k.retiredAt(now) {
			continue
		}
		if k.retire != 0 && (until == 0 || k.retire < until) {
			until = k.retire
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, k.pubJWK...)
	}
	return append(b, "]}"...), until
}

// generate returns a new private key for a.
func generate(a *alg) (crypto.Signer, error) {
	switch a.kind {
	case kindECDSA:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case kindEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case kindRSA:
		return rsa.GenerateKey(rand.Reader, newRSABits)
	}
	return nil, errors.New("unknown algorithm")
}

// newRecord generates a key for a and returns its record.
func newRecord(a *alg, gen uint64, created, activate time.Time) (KeyRecord, error) {
	priv, err := generate(a)
	if err != nil {
		return KeyRecord{}, fmt.Errorf("token: generate %s key: %w", a.name, err)
	}
	jk, err := jwk.FromRaw(priv)
	if err != nil {
		return KeyRecord{}, fmt.Errorf("token: generate %s key: %w", a.name, err)
	}
	kid, err := thumbprint(jk)
	if err != nil {
		return KeyRecord{}, fmt.Errorf("token: generate %s key: %w", a.name, err)
	}
	if err := setMembers(jk, kid, a); err != nil {
		return KeyRecord{}, fmt.Errorf("token: generate %s key: %w", a.name, err)
	}
	data, err := json.Marshal(jk)
	if err != nil {
		return KeyRecord{}, fmt.Errorf("token: generate %s key: %w", a.name, err)
	}
	return KeyRecord{ID: kid, Generation: gen, Data: data, Created: created, Activate: activate}, nil
}

// thumbprint returns the RFC 7638 SHA-256 thumbprint of k, base64url.
func thumbprint(k jwk.Key) (string, error) {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

func setMembers(k jwk.Key, kid string, a *alg) error {
	return errors.Join(
		k.Set(jwk.KeyIDKey, kid),
		k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(a.name)),
		k.Set(jwk.KeyUsageKey, jwk.ForSignature),
	)
}

// parseRecord parses and checks a stored key: a private JWK of a supported
// algorithm whose kid is the record's ID and the key's thumbprint.
func parseRecord(r KeyRecord) (*key, error) {
	jk, err := jwk.ParseKey(r.Data)
	if err != nil {
		return nil, errors.New("data is not a JWK")
	}
	a := lookupAlg(jk.Algorithm().String())
	if a == nil {
		return nil, errors.New("JWK alg is not ES256, EdDSA or RS256")
	}
	var raw any
	if err := jk.Raw(&raw); err != nil {
		return nil, errors.New("JWK is not a valid key")
	}
	k := &key{id: r.ID, gen: r.Generation, alg: a, data: bytes.Clone(r.Data), created: r.Created, activate: r.Activate}
	switch p := raw.(type) {
	case *ecdsa.PrivateKey:
		if a.kind != kindECDSA || p.Curve != elliptic.P256() {
			return nil, errors.New("JWK does not fit its alg")
		}
		k.priv, k.pub.ec = p, &p.PublicKey
	case ed25519.PrivateKey:
		if a.kind != kindEdDSA || len(p) != ed25519.PrivateKeySize {
			return nil, errors.New("JWK does not fit its alg")
		}
		k.priv, k.pub.ed = p, p.Public().(ed25519.PublicKey)
	case *rsa.PrivateKey:
		if a.kind != kindRSA {
			return nil, errors.New("JWK does not fit its alg")
		}
		if bits := p.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, errors.New("JWK RSA modulus must have 2048 to 8192 bits")
		}
		if err := p.Validate(); err != nil {
			return nil, errors.New("JWK is not a valid RSA key")
		}
		k.priv, k.pub.rsa = p, &p.PublicKey
	default:
		return nil, errors.New("JWK is not a private key")
	}
	kid, err := thumbprint(jk)
	if err != nil {
		return nil, errors.New("JWK is not a valid key")
	}
	if kid != r.ID || jk.KeyID() != r.ID {
		return nil, errors.New("JWK kid and thumbprint must be the record's ID")
	}
	pk, err := jk.PublicKey()
	if err != nil {
		return nil, errors.New("JWK is not a valid key")
	}
	if err := setMembers(pk, kid, a); err != nil {
		return nil, err
	}
	if k.pubJWK, err = json.Marshal(pk); err != nil {
		return nil, err
	}
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{a.name, kid, "at+jwt"})
	if err != nil {
		return nil, err
	}
	k.header = base64.RawURLEncoding.EncodeToString(hdr)
	return k, nil
}
