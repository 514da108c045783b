package mcp

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/subzero-gateway/subzero/mcp/pin"
	"github.com/subzero-gateway/subzero/mcp/upstream"
)

// KeyPath is the configuration key of the gateway, which errors of
// [Config.Validate] start with.
const KeyPath = "mcp"

// Risk levels of tools, as in [Call.Risk].
const (
	RiskLow      = "low"
	RiskMedium   = "medium"
	RiskHigh     = "high"
	RiskCritical = "critical"
)

// Defaults.
const (
	DefaultSessionIdleTTL  = 30 * time.Minute
	DefaultMaxRequestBytes = 1 << 20
)

// Limits on a configuration and on what the gateway holds.
const (
	MaxServers  = 256
	MaxPatterns = 1024
	MaxSessions = 100_000
	// MaxNameBytes bounds a namespaced name or a pattern.
	MaxNameBytes = 512
	maxOrigins   = 64
	maxRequest   = 64 << 20
	maxTTL       = 7 * 24 * time.Hour
)

// Config configures the MCP gateway: the key mcp of the broker's file.
type Config struct {
	// Upstreams are the MCP servers the gateway aggregates.
	Upstreams []upstream.Config `yaml:"upstreams"`
	// Servers are the virtual servers served at /mcp/<name>, each a subset
	// of the aggregate that /mcp serves whole.
	Servers map[string]ServerConfig `yaml:"servers"`
	// Pinning configures tool pinning (the rug-pull defence).
	Pinning pin.Config `yaml:"pinning"`
	// AllowedOrigins are the browser origins ("https://app.example.com")
	// that may call the gateway, besides the broker's own. A request
	// without Origin (a non-browser client) is allowed; one with another
	// Origin is refused.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// SessionIdleTTL ends a session (protocols before 2026-07-28) idle for
	// this long (default 30m).
	SessionIdleTTL time.Duration `yaml:"session_idle_ttl"`
	// Risk maps tool-name patterns ('*' any run of characters), matched
	// against the namespaced names clients see, to risk levels: low,
	// medium, high or critical. An exact name beats a pattern, a longer
	// pattern a shorter. A tool no pattern matches gets its level from its
	// annotations: destructive → high, read-only → low, else medium.
	Risk map[string]string `yaml:"risk"`
	// MaxRequestBytes bounds a request body (default 1 MiB).
	MaxRequestBytes int64 `yaml:"max_request_bytes"`
}

// ServerConfig is a virtual server: the tools, prompts and resources of
// the aggregate its patterns select. Patterns match namespaced tool and
// prompt names ("notes__*") and resource URIs, with '*' for any run of
// characters; an empty list selects nothing.
type ServerConfig struct {
	Description string   `yaml:"description"`
	Tools       []string `yaml:"tools"`
	Prompts     []string `yaml:"prompts"`
	Resources   []string `yaml:"resources"`
}

// Default returns the default configuration: no upstreams, no virtual
// servers, trust on first use.
func Default() Config {
	return Config{
		Pinning:         pin.Default(),
		SessionIdleTTL:  DefaultSessionIdleTTL,
		MaxRequestBytes: DefaultMaxRequestBytes,
	}
}

var serverName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Validate reports the first problem in c, naming its key
// ("mcp.servers.notes.tools[2]: ..."). It does not change c.
func (c Config) Validate() error {
	if err := upstream.ValidateAll(c.Upstreams); err != nil {
		return err
	}
	if len(c.Servers) > MaxServers {
		return fmt.Errorf("%s.servers: more than %d servers", KeyPath, MaxServers)
	}
	for _, name := range sortedKeys(c.Servers) {
		s := c.Servers[name]
		key := KeyPath + ".servers." + name
		if !serverName.MatchString(name) {
			return fmt.Errorf("%s: a server name is 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", key)
		}
		if !cleanText(s.Description, 1024) {
			return fmt.Errorf("%s.description: longer than 1024 bytes or holds control characters", key)
		}
		for kind, list := range map[string][]string{"tools": s.Tools, "prompts": s.Prompts, "resources": s.Resources} {
			if len(list) > MaxPatterns {
				return fmt.Errorf("%s.%s: more than %d patterns", key, kind, MaxPatterns)
			}
			for i, p := range list {
				if err := checkPattern(p); err != nil {
					return fmt.Errorf("%s.%s[%d]: %w", key, kind, i, err)
				}
			}
		}
	}
	if err := c.Pinning.Validate(); err != nil {
		return fmt.Errorf("%s.pinning.%w", KeyPath, err)
	}
	if len(c.AllowedOrigins) > maxOrigins {
		return fmt.Errorf("%s.allowed_origins: more than %d origins", KeyPath, maxOrigins)
	}
	for i, o := range c.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			return fmt.Errorf("%s.allowed_origins[%d]: %w", KeyPath, i, err)
		}
	}
	if c.SessionIdleTTL < 0 || c.SessionIdleTTL > maxTTL {
		return fmt.Errorf("%s.session_idle_ttl: must be between 0 (the default) and %s", KeyPath, maxTTL)
	}
	if len(c.Risk) > MaxPatterns {
		return fmt.Errorf("%s.risk: more than %d patterns", KeyPath, MaxPatterns)
	}
	for _, p := range sortedKeys(c.Risk) {
		if err := checkPattern(p); err != nil {
			return fmt.Errorf("%s.risk.%s: %w", KeyPath, p, err)
		}
		if !slices.Contains([]string{RiskLow, RiskMedium, RiskHigh, RiskCritical}, c.Risk[p]) {
			return fmt.Errorf("%s.risk.%s: %q is not low, medium, high or critical", KeyPath, p, c.Risk[p])
		}
	}
	if c.MaxRequestBytes < 0 || c.MaxRequestBytes > maxRequest {
		return fmt.Errorf("%s.max_request_bytes: must be between 0 (the default) and %d", KeyPath, maxRequest)
	}
	return nil
}

// withDefaults returns c with zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.SessionIdleTTL == 0 {
		c.SessionIdleTTL = DefaultSessionIdleTTL
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	return c
}

func checkPattern(p string) error {
	switch {
	case p == "":
		return errors.New("empty pattern")
	case len(p) > MaxNameBytes:
		return fmt.Errorf("longer than %d bytes", MaxNameBytes)
	case !cleanText(p, MaxNameBytes):
		return errors.New("holds control characters")
	}
	return nil
}

// checkOrigin accepts a serialized origin: scheme://host[:port], nothing
// else.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return fmt.Errorf("%q is not an origin (scheme://host[:port])", o)
	}
	if o != strings.ToLower(o) {
		return fmt.Errorf("%q: write the origin in lower case", o)
	}
	return nil
}

func cleanText(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Match reports whether name matches pattern, in which '*' matches any run
// of bytes (none too) and every other byte itself. Time is linear in
// len(pattern) × len(name) at worst, without recursion.
func Match(pattern, name string) bool {
	// Greedy matching with a single backtrack point: the last star.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchAny reports whether name matches one of patterns.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if Match(p, name) {
			return true
		}
	}
	return false
}

// riskOf returns the risk level of the tool clients see as name: the
// configured pattern that matches it best (an exact name, else the longest
// pattern, else the higher level), else from its annotations with the MCP
// defaults (destructiveHint true, readOnlyHint false): readOnlyHint true
// is low (destructiveHint means nothing then); destructiveHint true, or
// absent with readOnlyHint false, is high; anything else (nothing said,
// or destructiveHint false) is medium.
func riskOf(risk map[string]string, name string, t mcpgo.Tool) string {
	if level, ok := risk[name]; ok {
		return level
	}
	best, level := -1, ""
	for p, l := range risk {
		if !strings.Contains(p, "*") || len(p) < best || !Match(p, name) {
			continue
		}
		if len(p) > best || rank(l) > rank(level) {
			best, level = len(p), l
		}
	}
	if best >= 0 {
		return level
	}
	a := t.Annotations
	switch {
	case a.ReadOnlyHint != nil && *a.ReadOnlyHint:
		// destructiveHint means nothing for a read-only tool
		return RiskLow
	case a.DestructiveHint != nil && *a.DestructiveHint:
		return RiskHigh
	case a.DestructiveHint == nil && a.ReadOnlyHint != nil:
		return RiskHigh
	}
	return RiskMedium
}

func rank(level string) int {
	return slices.Index([]string{RiskLow, RiskMedium, RiskHigh, RiskCritical}, level)
}
