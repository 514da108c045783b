package token

import (
	"errors"
	"fmt"
	"time"
)

// Config configures signing keys, minting and validation. Every node that
// shares a [KeyStore] must use the same configuration.
type Config struct {
	// Alg is the JWS algorithm of the keys this node generates: ES256
	// (P-256, the default), EdDSA (Ed25519) or RS256 (2048-bit RSA).
	// Changing it takes effect at the next rotation; tokens signed with
	// keys of another algorithm stay valid until those keys retire.
	Alg string `yaml:"alg"`
	// AccessTokenLifetime is how long a minted token is valid, from 30s to
	// 1h.
	AccessTokenLifetime time.Duration `yaml:"access_token_lifetime"`
	// RetireAfter is how long a key stays published and valid for
	// verification after its successor became current. It must exceed
	// access_token_lifetime plus leeway, so that every token a key signed
	// expires before the key retires.
	RetireAfter time.Duration `yaml:"retire_after"`
	// ActivationDelay is how long a key made by [KeySet.Rotate] is
	// published before it becomes current for signing, from 0 to 1h. It
	// must exceed the interval at which every node calls
	// [KeySet.Refresh], so that no node sees a token signed with a key it
	// does not know yet.
	ActivationDelay time.Duration `yaml:"activation_delay"`
	// Leeway is the clock skew tolerated when checking exp, nbf and iat,
	// from 0 to 1m.
	Leeway time.Duration `yaml:"leeway"`
	// CacheBytes bounds, in approximate bytes, the cache of verified
	// tokens; 0 turns the cache off.
	CacheBytes int `yaml:"cache_bytes"`
}

// Default returns the default configuration: ES256 keys, 5-minute tokens,
// keys retired 24h after their successor became current, rotated keys
// current after 1 minute, 5s of leeway and a 16 MiB cache.
func Default() Config {
	return Config{
		Alg:                 "ES256",
		AccessTokenLifetime: 5 * time.Minute,
		RetireAfter:         24 * time.Hour,
		ActivationDelay:     time.Minute,
		Leeway:              5 * time.Second,
		CacheBytes:          16 << 20,
	}
}

// Bounds of the configuration.
const (
	minLifetime        = 30 * time.Second
	maxLifetime        = time.Hour
	maxLeeway          = time.Minute
	maxActivationDelay = time.Hour
)

// Validate reports the first invalid field, named by its key. It does not
// mutate c.
func (c Config) Validate() error {
	if lookupAlg(c.Alg) == nil {
		return fmt.Errorf("alg: must be ES256, EdDSA or RS256, not %q", c.Alg)
	}
	switch {
	case c.AccessTokenLifetime < minLifetime || c.AccessTokenLifetime > maxLifetime:
		return fmt.Errorf("access_token_lifetime: must be between %s and %s", minLifetime, maxLifetime)
	case c.Leeway < 0 || c.Leeway > maxLeeway:
		return fmt.Errorf("leeway: must be between 0s and %s", maxLeeway)
	case c.RetireAfter <= c.AccessTokenLifetime+c.Leeway:
		return errors.New("retire_after: must exceed access_token_lifetime plus leeway")
	case c.ActivationDelay < 0 || c.ActivationDelay > maxActivationDelay:
		return fmt.Errorf("activation_delay: must be between 0s and %s", maxActivationDelay)
	case c.CacheBytes < 0:
		return errors.New("cache_bytes: must not be negative")
	}
	return nil
}
