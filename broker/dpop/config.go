package dpop

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// NonceMode says whether proofs must carry a server-issued nonce.
type NonceMode int

const (
	// NonceOff ignores the nonce claim.
	NonceOff NonceMode = iota
	// NonceOptional accepts a proof without a nonce, but a proof with one
	// must carry a valid one.
	NonceOptional
	// NonceRequired rejects a proof without a valid nonce with
	// [CodeUseNonce].
	NonceRequired
)

var nonceModeNames = [...]string{NonceOff: "off", NonceOptional: "optional", NonceRequired: "required"}

// String returns the mode's configuration name: off, optional or required.
func (m NonceMode) String() string {
	if m < 0 || int(m) >= len(nonceModeNames) {
		return fmt.Sprintf("NonceMode(%d)", int(m))
	}
	return nonceModeNames[m]
}

// MarshalText implements [encoding.TextMarshaler].
func (m NonceMode) MarshalText() ([]byte, error) {
	if m < 0 || int(m) >= len(nonceModeNames) {
		return nil, fmt.Errorf("unknown nonce mode %d", int(m))
	}
	return []byte(nonceModeNames[m]), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler]; it accepts off,
// optional and required.
func (m *NonceMode) UnmarshalText(b []byte) error {
	i := slices.Index(nonceModeNames[:], string(b))
	if i < 0 {
		return fmt.Errorf("must be off, optional or required, not %q", b)
	}
	*m = NonceMode(i)
	return nil
}

// Config configures proof verification.
type Config struct {
	// Algs lists the JWS algorithms a proof may use. Only asymmetric
	// algorithms are possible: ES256, ES384, ES512, EdDSA (Ed25519), RS256,
	// RS384, RS512, PS256, PS384 and PS512.
	Algs []string `yaml:"algs"`
	// MaxAge is how old a proof's iat may be.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxSkew is how far in the future a proof's iat may be, for clients
	// whose clocks run ahead. It must not exceed MaxAge.
	MaxSkew time.Duration `yaml:"max_skew"`
	// Nonce says whether proofs must carry a server-issued nonce.
	Nonce NonceMode `yaml:"nonce"`
	// NonceLifetime is the length of a nonce time bucket; a nonce is
	// accepted for one to two lifetimes.
	NonceLifetime time.Duration `yaml:"nonce_lifetime"`
}

// Default returns the default configuration: ES256, ES384, EdDSA, RS256
// and PS256; proofs up to 60s old and 5s ahead; no nonces, with a 5m
// lifetime when they are turned on.
func Default() Config {
	return Config{
		Algs:          []string{"ES256", "ES384", "EdDSA", "RS256", "PS256"},
		MaxAge:        60 * time.Second,
		MaxSkew:       5 * time.Second,
		Nonce:         NonceOff,
		NonceLifetime: 5 * time.Minute,
	}
}

// Bounds that keep a misconfiguration from defeating freshness.
const (
	maxMaxAge        = time.Hour
	minNonceLifetime = time.Second
)

// symmetric lists the JWS algorithm names that no configuration may allow.
var symmetric = []string{"none", "HS256", "HS384", "HS512"}

// Validate reports the first invalid field, named by its key. It does not
// mutate c.
func (c Config) Validate() error {
	if len(c.Algs) == 0 {
		return errors.New("algs: must not be empty")
	}
	for i, a := range c.Algs {
		switch {
		case slices.Contains(symmetric, a):
			return fmt.Errorf("algs: %q is not an asymmetric algorithm", a)
		case lookupAlg(a) == nil:
			return fmt.Errorf("algs: %q is not supported", a)
		case slices.Contains(c.Algs[:i], a):
			return fmt.Errorf("algs: %q is listed twice", a)
		}
	}
	switch {
	case c.MaxAge <= 0:
		return errors.New("max_age: must be positive")
	case c.MaxAge > maxMaxAge:
		return fmt.Errorf("max_age: must be at most %s", maxMaxAge)
	case c.MaxSkew < 0:
		return errors.New("max_skew: must not be negative")
	case c.MaxSkew > c.MaxAge:
		return errors.New("max_skew: must not exceed max_age")
	case c.Nonce < NonceOff || c.Nonce > NonceRequired:
		return errors.New("nonce: must be off, optional or required")
	case c.NonceLifetime < minNonceLifetime:
		return fmt.Errorf("nonce_lifetime: must be at least %s", minNonceLifetime)
	}
	return nil
}
