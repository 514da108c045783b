package apikey

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/maypok86/otter/v2"
)

// Errors.
var (
	// ErrInvalid is Verify's one answer for a key that is malformed,
	// unknown, revoked or wrong.
	ErrInvalid = errors.New("apikey: invalid API key")
	// ErrNotFound is returned by Get and Revoke for an unknown ID.
	ErrNotFound = errors.New("apikey: no such key")
)

// Key describes an API key; it never holds the key itself.
type Key struct {
	ID   string
	Name string
	// Models are the models the key may call, each a name or a pattern in
	// which '*' stands for any run of characters; nil means any.
	Models    []string
	Created   time.Time
	Revoked   bool
	RevokedAt time.Time
}

// Allows reports whether k may call model: whether Models is nil or one
// of its names or patterns matches model.
func (k Key) Allows(model string) bool {
	if k.Models == nil {
		return true
	}
	for _, p := range k.Models {
		if matchModel(p, model) {
			return true
		}
	}
	return false
}

// matchModel reports whether pattern, in which '*' stands for any run of
// characters (and nothing else is special), matches all of s. It runs in
// O(len(pattern)·len(s)) at worst.
func matchModel(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // the last '*' seen, and where in s its run ends
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0: // let the last '*' take one more character
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Store keeps key records, opaque bytes of at most [MaxRecordBytes], by
// ID. Implementations are safe for concurrent use, and each call is
// atomic against every other, on every node sharing the store.
type Store interface {
	// Insert stores rec under id unless id is taken, and reports whether
	// it stored it.
	Insert(ctx context.Context, id string, rec []byte) (bool, error)
	// Replace replaces the record under id, and reports false, storing
	// nothing, when there is none.
	Replace(ctx context.Context, id string, rec []byte) (bool, error)
	// Get returns the record under id, and false when there is none.
	Get(ctx context.Context, id string) ([]byte, bool, error)
	// List returns up to limit (1 to [MaxListPage]) IDs and their records,
	// in byte order of ID, starting after the ID after ("" for the first).
	List(ctx context.Context, after string, limit int) (ids []string, recs [][]byte, err error)
}

// Limits.
const (
	MaxRecordBytes = 16 << 10
	MaxListPage    = 1000
	MaxNameBytes   = 128
	MaxModels      = 100
	MaxModelBytes  = 256
	// MaxKeys bounds what List reads.
	MaxKeys = 100_000
	// MinSecretBytes is the shortest server secret New accepts.
	MinSecretBytes = 32
	// CacheTTL is how long a successful verification is reused, and so
	// how late a revocation made by another node takes effect here.
	CacheTTL = 5 * time.Second
	// cacheSize bounds the verifications kept.
	cacheSize = 10_000
)

const hashLabel = "subzero api keys v1"

// Keys creates, verifies, lists and revokes API keys.
type Keys struct {
	store Store
	mac   []byte
	cache *otter.Cache[string, verified]
	// revokes counts this node's revocations: a verification that may
	// have raced one drops what it cached.
	revokes atomic.Uint64
	now     func() time.Time
}

type verified struct {
	key  Key
	hash []byte
}

// New returns Keys over store, hashing with a key derived from the node's
// server secret (at least [MinSecretBytes]); every node sharing the store
// must have the same secret.
func New(store Store, secret []byte) (*Keys, error) {
	if store == nil {
		return nil, errors.New("apikey: no store")
	}
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("apikey: server secret of %d bytes, want at least %d", len(secret), MinSecretBytes)
	}
	mac, err := hkdf.Key(sha256.New, secret, nil, hashLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("apikey: %w", err)
	}
	return &Keys{
		store: store, mac: mac, now: time.Now,
		cache: otter.Must(&otter.Options[string, verified]{
			MaximumSize:      cacheSize,
			ExpiryCalculator: otter.ExpiryWriting[string, verified](CacheTTL),
		}),
	}, nil
}

func (k *Keys) hash(id, secret string) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(id))
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// CheckName reports whether name is a valid key name: 1 to MaxNameBytes
// of UTF-8 without control characters.
func CheckName(name string) error {
	switch {
	case name == "" || len(name) > MaxNameBytes:
		return fmt.Errorf("apikey: name must be 1 to %d bytes", MaxNameBytes)
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("apikey: name must be UTF-8 without control characters")
	}
	return nil
}

// normalModels checks models and returns them sorted without duplicates
// (nil stays nil: any model).
func normalModels(models []string) ([]string, error) {
	if models == nil {
		return nil, nil
	}
	if len(models) == 0 || len(models) > MaxModels {
		return nil, fmt.Errorf("apikey: models must list 1 to %d models, or be absent for any", MaxModels)
	}
	out := slices.Clone(models)
	for _, m := range out {
		if m == "" || len(m) > MaxModelBytes || !utf8.ValidString(m) || strings.IndexFunc(m, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return nil, fmt.Errorf("apikey: model %q: must be 1 to %d bytes without spaces or control characters", m, MaxModelBytes)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Create makes a key named name for models (nil: any model), stores its
// record and returns the key, which exists nowhere else: show it once.
func (k *Keys) Create(ctx context.Context, name string, models []string) (plaintext string, key Key, err error) {
	if err := CheckName(name); err != nil {
		return "", Key{}, err
	}
	if models, err = normalModels(models); err != nil {
		return "", Key{}, err
	}
	for range 3 { // an ID collision (2^-95 per pair) is retried
		id, err := randomBase62(idLen)
		if err != nil {
			return "", Key{}, fmt.Errorf("apikey: %w", err)
		}
		secret, err := randomBase62(secretLen)
		if err != nil {
			return "", Key{}, fmt.Errorf("apikey: %w", err)
		}
		key = Key{ID: id, Name: name, Models: models, Created: k.now().UTC().Round(time.Millisecond)}
		rec, err := encodeRecord(key, k.hash(id, secret))
		if err != nil {
			return "", Key{}, err
		}
		ok, err := k.store.Insert(ctx, id, rec)
		if err != nil {
			return "", Key{}, fmt.Errorf("apikey: create: %w", err)
		}
		if ok {
			return format(id, secret), key, nil
		}
	}
	return "", Key{}, errors.New("apikey: create: the store holds every ID drawn")
}

// Verify returns the key that plaintext is, or [ErrInvalid]; other errors
// are the store's.
func (k *Keys) Verify(ctx context.Context, plaintext string) (Key, error) {
	id, secret, err := parse(plaintext)
	if err != nil {
		return Key{}, ErrInvalid
	}
	h := k.hash(id, secret)
	if v, ok := k.cache.GetIfPresent(id); ok {
		if !hmac.Equal(v.hash, h) {
			return Key{}, ErrInvalid
		}
		return v.key, nil
	}
	gen := k.revokes.Load()
	rec, ok, err := k.store.Get(ctx, id)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: verify: %w", err)
	}
	if !ok {
		return Key{}, ErrInvalid
	}
	key, stored, err := decodeRecord(id, rec)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: verify: %w", err)
	}
	if !hmac.Equal(stored, h) || key.Revoked {
		return Key{}, ErrInvalid
	}
	k.cache.Set(id, verified{key: key, hash: stored})
	if k.revokes.Load() != gen { // a revocation may have raced the read
		k.cache.Invalidate(id)
	}
	return key, nil
}

// Get returns the key with ID id, or [ErrNotFound].
func (k *Keys) Get(ctx context.Context, id string) (Key, error) {
	if !validID(id) {
		return Key{}, ErrNotFound
	}
	rec, ok, err := k.store.Get(ctx, id)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: get: %w", err)
	}
	if !ok {
		return Key{}, ErrNotFound
	}
	key, _, err := decodeRecord(id, rec)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: get: %w", err)
	}
	return key, nil
}

// Revoke revokes the key with ID id, at once on this node (within
// [CacheTTL] on the others); revoking a revoked key does nothing. It
// returns [ErrNotFound] for an unknown ID.
func (k *Keys) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	k.cache.Invalidate(id)
	rec, ok, err := k.store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("apikey: revoke: %w", err)
	}
	if !ok {
		return ErrNotFound
	}
	key, h, err := decodeRecord(id, rec)
	if err != nil {
		return fmt.Errorf("apikey: revoke: %w", err)
	}
	if key.Revoked {
		return nil
	}
	key.Revoked, key.RevokedAt = true, k.now().UTC().Round(time.Millisecond)
	if rec, err = encodeRecord(key, h); err != nil {
		return err
	}
	if ok, err = k.store.Replace(ctx, id, rec); err != nil {
		return fmt.Errorf("apikey: revoke: %w", err)
	}
	if !ok {
		return ErrNotFound
	}
	k.revokes.Add(1)
	k.cache.Invalidate(id)
	return nil
}

// List returns every key, revoked ones too, in ID order.
func (k *Keys) List(ctx context.Context) ([]Key, error) {
	var out []Key
	after := ""
	for {
		ids, recs, err := k.store.List(ctx, after, MaxListPage)
		if err != nil {
			return nil, fmt.Errorf("apikey: list: %w", err)
		}
		if len(ids) != len(recs) || len(ids) > MaxListPage {
			return nil, errors.New("apikey: list: the store returned a malformed page")
		}
		for i, id := range ids {
			key, _, err := decodeRecord(id, recs[i])
			if err != nil {
				return nil, fmt.Errorf("apikey: list: %w", err)
			}
			out = append(out, key)
		}
		if len(out) > MaxKeys {
			return nil, fmt.Errorf("apikey: list: more than %d keys", MaxKeys)
		}
		if len(ids) < MaxListPage {
			return out, nil
		}
		if ids[len(ids)-1] <= after {
			return nil, errors.New("apikey: list: the store's pages do not advance")
		}
		after = ids[len(ids)-1]
	}
}

// record is the stored form of a key.
type record struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Models    []string  `json:"models"`
	Created   time.Time `json:"created"`
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Hash      []byte    `json:"hash"`
}

func encodeRecord(k Key, hash []byte) ([]byte, error) {
	rec, err := json.Marshal(record{V: 1, ID: k.ID, Name: k.Name, Models: k.Models, Created: k.Created,
		Revoked: k.Revoked, RevokedAt: k.RevokedAt, Hash: hash})
	if err != nil {
		return nil, fmt.Errorf("apikey: encode: %w", err)
	}
	if len(rec) > MaxRecordBytes {
		return nil, errors.New("apikey: encode: record too large")
	}
	return rec, nil
}

// errCorrupt marks a stored record that does not decode.
var errCorrupt = errors.New("corrupt record")

// decodeRecord parses the stored record of id strictly.
func decodeRecord(id string, rec []byte) (Key, []byte, error) {
	if len(rec) > MaxRecordBytes {
		return Key{}, nil, fmt.Errorf("key %s: %w: too large", id, errCorrupt)
	}
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.DisallowUnknownFields()
	var r record
	if err := dec.Decode(&r); err != nil || dec.More() {
		return Key{}, nil, fmt.Errorf("key %s: %w", id, errCorrupt)
	}
	models, err := normalModels(r.Models)
	switch {
	case r.V != 1:
		return Key{}, nil, fmt.Errorf("key %s: %w: version %d", id, errCorrupt, r.V)
	case r.ID != id || !validID(id):
		return Key{}, nil, fmt.Errorf("key %s: %w: names another ID", id, errCorrupt)
	case len(r.Hash) != sha256.Size:
		return Key{}, nil, fmt.Errorf("key %s: %w: hash", id, errCorrupt)
	case CheckName(r.Name) != nil || err != nil || !slices.Equal(models, r.Models):
		return Key{}, nil, fmt.Errorf("key %s: %w: name or models", id, errCorrupt)
	}
	return Key{ID: r.ID, Name: r.Name, Models: r.Models, Created: r.Created, Revoked: r.Revoked, RevokedAt: r.RevokedAt}, r.Hash, nil
}
