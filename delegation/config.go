package delegation

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Config configures a [Point]. The ABAC rules and the Rego policies have
// their own configurations (abac.Config, rego.Config); an engine is on when
// it is passed to [New].
type Config struct {
	// ReBAC configures the relationship checks.
	ReBAC ReBACConfig `yaml:"rebac"`
	// Cache configures the decision cache.
	Cache CacheConfig `yaml:"cache"`
}

// ReBACConfig configures the relationship checks and the agent rule (see the
// package documentation).
type ReBACConfig struct {
	// Enabled turns the relationship checks on. When on, [New] requires a
	// [Relations]; when off, nothing checks that a user delegated to an
	// agent unless ABAC rules or Rego policies do.
	Enabled bool `yaml:"enabled"`
	// UserType is the model type of [Subject.ID]: the user is
	// UserType + ":" + Subject.ID.
	UserType string `yaml:"user_type"`
	// AgentType is the model type of [Agent.ID]: the agent is
	// AgentType + ":" + Agent.ID.
	AgentType string `yaml:"agent_type"`
	// DelegateRelation is the relation on the user object that names the
	// agents the user lets act for them: an agent may act for user U only
	// when it holds DelegateRelation on UserType:U.
	DelegateRelation string `yaml:"delegate_relation"`
	// AgentRelation is the relation the agent itself must hold on the
	// resource. Empty means the request's Action: the agent needs the same
	// permission the user needs.
	AgentRelation string `yaml:"agent_relation"`
}

// CacheConfig configures the decision cache.
type CacheConfig struct {
	// Bytes bounds the cache's memory, approximately; 0 turns the cache
	// off.
	Bytes int64 `yaml:"bytes"`
	// TTL is how long a decision is kept, and the resolution of the time
	// the engines see while the cache is on (see the package
	// documentation). It must divide 24 hours, so that time windows
	// align with midnight UTC.
	TTL time.Duration `yaml:"ttl"`
}

// Limits on the configuration.
const (
	// MaxCacheTTL is the longest [CacheConfig.TTL] accepted.
	MaxCacheTTL = time.Minute
	// MaxCacheBytes is the largest [CacheConfig.Bytes] accepted.
	MaxCacheBytes = 1 << 34
)

// Default returns the default configuration: ReBAC on with types user and
// agent, the delegate relation "delegate", the agent needing the request's
// action itself, and a 16 MiB cache keeping decisions for one second.
func Default() Config {
	return Config{
		ReBAC: ReBACConfig{
			Enabled:          true,
			UserType:         "user",
			AgentType:        "agent",
			DelegateRelation: "delegate",
		},
		Cache: CacheConfig{Bytes: 16 << 20, TTL: time.Second},
	}
}

// Validate reports the first invalid field, named by its key path, e.g.
// "rebac.user_type: must not be empty". It never mutates c.
func (c Config) Validate() error {
	r := c.ReBAC
	if r.Enabled {
		for _, f := range []struct{ key, v string }{
			{"rebac.user_type", r.UserType},
			{"rebac.agent_type", r.AgentType},
			{"rebac.delegate_relation", r.DelegateRelation},
		} {
			if err := checkName(f.v); err != nil {
				return fmt.Errorf("%s: %w", f.key, err)
			}
		}
		if r.AgentRelation != "" {
			if err := checkName(r.AgentRelation); err != nil {
				return fmt.Errorf("rebac.agent_relation: %w", err)
			}
		}
		if r.UserType == r.AgentType {
			return errors.New("rebac.agent_type: must differ from rebac.user_type")
		}
	}
	switch {
	case c.Cache.Bytes < 0 || c.Cache.Bytes > MaxCacheBytes:
		return fmt.Errorf("cache.bytes: must be between 0 and %d", int64(MaxCacheBytes))
	case c.Cache.Bytes > 0 && (c.Cache.TTL <= 0 || c.Cache.TTL > MaxCacheTTL):
		return fmt.Errorf("cache.ttl: must be between 1ns and %s", MaxCacheTTL)
	case c.Cache.Bytes > 0 && (24*time.Hour)%c.Cache.TTL != 0:
		return errors.New("cache.ttl: must divide 24h (e.g. 100ms, 1s, 5s, 1m)")
	}
	return nil
}

// maxName is the longest type or relation name (OpenFGA's limit).
const maxName = 50

// checkName checks a type or relation name: OpenFGA's ^[^:#@\s]{1,50}$.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > maxName:
		return fmt.Errorf("longer than %d bytes", maxName)
	case strings.ContainsAny(s, ":#@*") || strings.ContainsFunc(s, unicode.IsSpace):
		return errors.New("must not contain ':', '#', '@', '*' or spaces")
	}
	return nil
}
