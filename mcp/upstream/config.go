package upstream

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/subzero-gateway/subzero/internal/secret"
)

// KeyPath is the configuration key path of the upstream list, which
// [ValidateAll] puts in front of every error.
const KeyPath = "mcp.upstreams"

// Transports.
const (
	TransportHTTP  = "http"
	TransportStdio = "stdio"
)

// Limits on a configuration, so that a broken or hostile file cannot make
// the broker spawn or hold unbounded things.
const (
	MaxUpstreams      = 256
	maxHeaders        = 32
	maxArgs           = 256
	maxEnv            = 256
	maxStringBytes    = 4096
	maxRetries        = 10
	maxFailures       = 10_000
	maxHalfOpen       = 1000
	maxTimeout        = time.Hour
	maxResultBytesCap = 256 << 20
)

// Defaults.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultCallTimeout    = 30 * time.Second
	DefaultRetries        = 2
	DefaultInitialBackoff = 100 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
	DefaultFailures       = 5
	DefaultOpenFor        = 30 * time.Second
	DefaultHalfOpenMax    = 1
	DefaultMaxResultBytes = 4 << 20
)

// Config configures one upstream MCP server. It is an item of the list at
// [KeyPath]. Zero values mean the defaults, which [Default] shows.
type Config struct {
	// Name identifies the upstream in metrics, logs, health and, by
	// default, the prefix of its tool names: [a-z0-9_-]{1,32}, unique.
	Name string `yaml:"name"`
	// Transport is "http" (Streamable HTTP) or "stdio".
	Transport string `yaml:"transport"`
	// URL is the Streamable HTTP endpoint (http only): https, or http on a
	// loopback host unless UnsafeAllowHTTP is set.
	URL *url.URL `yaml:"url"`
	// UnsafeAllowHTTP allows plain http to a non-loopback host, which sends
	// the upstream's headers in the clear.
	UnsafeAllowHTTP bool `yaml:"unsafe_allow_http"`
	// Command and Args start the stdio server (stdio only). Command is
	// looked up in the broker's PATH.
	Command string   `yaml:"command"`
	Args    []string `yaml:"args"`
	// Env is the stdio child's whole environment besides PATH (stdio
	// only): the child never inherits the broker's environment.
	Env map[string]string `yaml:"env"`
	// SecretEnv adds variables to the child's environment whose values are
	// secrets, read through a [secret.Ref] at start (stdio only).
	SecretEnv map[string]secret.Ref `yaml:"secret_env"`
	// Headers are sent with every HTTP request (http only): the static
	// upstream credential, such as Authorization from {env: NOTES_TOKEN}.
	Headers []Header `yaml:"headers"`
	// Prefix is put in front of the upstream's tool and prompt names by the
	// gateway: nil means Name + "__", "" means no prefix.
	Prefix *string `yaml:"prefix"`
	// ConnectTimeout bounds connecting and initializing (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// CallTimeout bounds every request to the upstream (default 30s).
	CallTimeout time.Duration `yaml:"call_timeout"`
	// Retries configures the retries of requests that are safe to repeat.
	Retries Retries `yaml:"retries"`
	// Breaker configures the upstream's circuit breaker.
	Breaker Breaker `yaml:"breaker"`
	// MaxResultBytes bounds a result's size, JSON-encoded (default 4 MiB).
	// A larger result is an error, never forwarded in part.
	MaxResultBytes int64 `yaml:"max_result_bytes"`
}

// Header is a header sent to an HTTP upstream with a secret value.
type Header struct {
	Name  string     `yaml:"name"`
	Value secret.Ref `yaml:"value"`
}

// Retries configures retries with exponential backoff and jitter. Only
// requests that are safe to repeat are retried: lists, reads, prompts, and
// calls of tools annotated read-only or idempotent.
type Retries struct {
	// Max is the number of retries after the first attempt; nil means 2
	// and 0 turns retries off.
	Max *int `yaml:"max"`
	// InitialBackoff is the first wait (default 100ms).
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	// MaxBackoff caps the wait (default 2s).
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// Breaker configures the circuit breaker of an upstream.
type Breaker struct {
	// Failures is the number of consecutive failed requests that opens the
	// breaker (default 5).
	Failures int `yaml:"failures"`
	// OpenFor is how long the breaker stays open before it lets a probe
	// through (default 30s).
	OpenFor time.Duration `yaml:"open_for"`
	// HalfOpenMax is the number of probes let through when half open
	// (default 1).
	HalfOpenMax int `yaml:"half_open_max"`
}

// Default returns a Config with every default filled in and no name,
// transport or target.
func Default() Config {
	var c Config
	return c.withDefaults()
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.Retries.Max == nil {
		n := DefaultRetries
		c.Retries.Max = &n
	}
	if c.Retries.InitialBackoff == 0 {
		c.Retries.InitialBackoff = DefaultInitialBackoff
	}
	if c.Retries.MaxBackoff == 0 {
		c.Retries.MaxBackoff = max(DefaultMaxBackoff, c.Retries.InitialBackoff)
	}
	if c.Breaker.Failures == 0 {
		c.Breaker.Failures = DefaultFailures
	}
	if c.Breaker.OpenFor == 0 {
		c.Breaker.OpenFor = DefaultOpenFor
	}
	if c.Breaker.HalfOpenMax == 0 {
		c.Breaker.HalfOpenMax = DefaultHalfOpenMax
	}
	if c.MaxResultBytes == 0 {
		c.MaxResultBytes = DefaultMaxResultBytes
	}
	return c
}

// ResolvedPrefix returns the prefix the gateway puts in front of the
// upstream's names: Prefix if set, else Name + "__".
func (c Config) ResolvedPrefix() string {
	if c.Prefix != nil {
		return *c.Prefix
	}
	return c.Name + "__"
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{0,64}$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	// tokenRE is an HTTP header field name (RFC 9110 token).
	tokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
)

// reservedHeaders are set by the MCP transport; a configured header must
// not replace them.
var reservedHeaders = map[string]bool{
	"accept": true, "connection": true, "content-length": true, "content-type": true,
	"host": true, "last-event-id": true, "mcp-method": true, "mcp-name": true,
	"mcp-protocol-version": true, "mcp-session-id": true, "te": true,
	"transfer-encoding": true, "upgrade": true,
}

// Validate reports the first problem in c. Errors name the key relative to
// the item, such as "url: scheme must be https". Validate does not change c.
func (c Config) Validate() error {
	if !nameRE.MatchString(c.Name) {
		if c.Name == "" {
			return errors.New("name: required")
		}
		return fmt.Errorf("name: must match [a-z0-9_-]{1,32}, got %s", quote(c.Name))
	}
	switch c.Transport {
	case TransportHTTP:
		if err := c.validateHTTP(); err != nil {
			return err
		}
	case TransportStdio:
		if err := c.validateStdio(); err != nil {
			return err
		}
	case "":
		return errors.New("transport: required (http or stdio)")
	default:
		return fmt.Errorf("transport: must be http or stdio, got %s", quote(c.Transport))
	}
	if c.Prefix != nil && !prefixRE.MatchString(*c.Prefix) {
		return fmt.Errorf("prefix: must match [A-Za-z0-9_.-]{0,64}, got %s", quote(*c.Prefix))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"connect_timeout", c.ConnectTimeout}, {"call_timeout", c.CallTimeout},
		{"retries.initial_backoff", c.Retries.InitialBackoff}, {"retries.max_backoff", c.Retries.MaxBackoff},
		{"breaker.open_for", c.Breaker.OpenFor},
	} {
		if d.v < 0 || d.v > maxTimeout {
			return fmt.Errorf("%s: must be between 0 (the default) and %s, got %s", d.key, maxTimeout, d.v)
		}
	}
	if m := c.Retries.Max; m != nil && (*m < 0 || *m > maxRetries) {
		return fmt.Errorf("retries.max: must be between 0 and %d, got %d", maxRetries, *m)
	}
	if c.Retries.MaxBackoff != 0 && c.Retries.MaxBackoff < c.Retries.InitialBackoff {
		return fmt.Errorf("retries.max_backoff: must not be less than retries.initial_backoff (%s)", c.Retries.InitialBackoff)
	}
	if f := c.Breaker.Failures; f < 0 || f > maxFailures {
		return fmt.Errorf("breaker.failures: must be between 1 and %d, or 0 for the default, got %d", maxFailures, f)
	}
	if h := c.Breaker.HalfOpenMax; h < 0 || h > maxHalfOpen {
		return fmt.Errorf("breaker.half_open_max: must be between 1 and %d, or 0 for the default, got %d", maxHalfOpen, h)
	}
	if b := c.MaxResultBytes; b < 0 || b > maxResultBytesCap {
		return fmt.Errorf("max_result_bytes: must be between 1 and %d, or 0 for the default, got %d", maxResultBytesCap, b)
	}
	return nil
}

func (c Config) validateHTTP() error {
	switch {
	case c.Command != "":
		return errors.New("command: only for transport stdio")
	case len(c.Args) > 0:
		return errors.New("args: only for transport stdio")
	case len(c.Env) > 0:
		return errors.New("env: only for transport stdio")
	case len(c.SecretEnv) > 0:
		return errors.New("secret_env: only for transport stdio")
	case c.URL == nil || c.URL.String() == "":
		return errors.New("url: required for transport http")
	}
	u := c.URL
	// Never quote the URL: it may carry credentials.
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("url: scheme must be https, got %s", quote(u.Scheme))
	case u.Host == "" || u.Hostname() == "":
		return errors.New("url: must name a host")
	case u.User != nil:
		return errors.New("url: must not hold credentials; send them in headers")
	case u.Fragment != "" || u.RawFragment != "":
		return errors.New("url: must not have a fragment")
	case len(u.String()) > maxStringBytes:
		return fmt.Errorf("url: longer than %d bytes", maxStringBytes)
	case u.Scheme == "http" && !c.UnsafeAllowHTTP && !loopback(u.Hostname()):
		return errors.New("url: scheme must be https (http only to a loopback host, unless unsafe_allow_http is set)")
	}
	if len(c.Headers) > maxHeaders {
		return fmt.Errorf("headers: more than %d", maxHeaders)
	}
	seen := make(map[string]int, len(c.Headers))
	for i, h := range c.Headers {
		key := fmt.Sprintf("headers[%d]", i)
		lower := strings.ToLower(h.Name)
		switch {
		case h.Name == "":
			return fmt.Errorf("%s.name: required", key)
		case !tokenRE.MatchString(h.Name):
			return fmt.Errorf("%s.name: not a header name: %s", key, quote(h.Name))
		case reservedHeaders[lower]:
			return fmt.Errorf("%s.name: %s is set by the MCP transport", key, h.Name)
		case h.Value.IsZero():
			return fmt.Errorf("%s.value: required ({env: NAME} or {file: PATH})", key)
		}
		if j, dup := seen[lower]; dup {
			return fmt.Errorf("%s.name: %s repeats headers[%d]", key, h.Name, j)
		}
		seen[lower] = i
		if err := h.Value.Validate(); err != nil {
			return fmt.Errorf("%s.value.%w", key, err)
		}
	}
	return nil
}

func (c Config) validateStdio() error {
	switch {
	case c.URL != nil && c.URL.String() != "":
		return errors.New("url: only for transport http")
	case c.UnsafeAllowHTTP:
		return errors.New("unsafe_allow_http: only for transport http")
	case len(c.Headers) > 0:
		return errors.New("headers: only for transport http")
	case c.Command == "":
		return errors.New("command: required for transport stdio")
	case !cleanString(c.Command):
		return errors.New("command: must not be longer than 4096 bytes or hold NUL or newlines")
	case len(c.Args) > maxArgs:
		return fmt.Errorf("args: more than %d", maxArgs)
	case len(c.Env)+len(c.SecretEnv) > maxEnv:
		return fmt.Errorf("env: more than %d variables with secret_env", maxEnv)
	}
	for i, a := range c.Args {
		if len(a) > maxStringBytes || strings.ContainsRune(a, 0) {
			return fmt.Errorf("args[%d]: must not be longer than %d bytes or hold NUL", i, maxStringBytes)
		}
	}
	for k, v := range c.Env {
		if !envRE.MatchString(k) {
			return fmt.Errorf("env.%s: not a variable name", quoteKey(k))
		}
		if len(v) > maxStringBytes || strings.ContainsRune(v, 0) {
			return fmt.Errorf("env.%s: must not be longer than %d bytes or hold NUL", k, maxStringBytes)
		}
	}
	for k, r := range c.SecretEnv {
		switch {
		case !envRE.MatchString(k):
			return fmt.Errorf("secret_env.%s: not a variable name", quoteKey(k))
		case c.Env[k] != "":
			return fmt.Errorf("secret_env.%s: also set in env", k)
		case r.IsZero():
			return fmt.Errorf("secret_env.%s: required ({env: NAME} or {file: PATH})", k)
		}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("secret_env.%s.%w", k, err)
		}
	}
	return nil
}

// ValidateAll validates each item of cfgs and that names are unique.
// Errors name the key path, such as "mcp.upstreams[1].url: ...".
func ValidateAll(cfgs []Config) error {
	if len(cfgs) > MaxUpstreams {
		return fmt.Errorf("%s: more than %d upstreams", KeyPath, MaxUpstreams)
	}
	seen := make(map[string]int, len(cfgs))
	for i, c := range cfgs {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("%s[%d].%w", KeyPath, i, err)
		}
		if j, dup := seen[c.Name]; dup {
			return fmt.Errorf("%s[%d].name: %s is also the name of %s[%d]", KeyPath, i, c.Name, KeyPath, j)
		}
		seen[c.Name] = i
	}
	return nil
}

// loopback reports whether host is localhost or a loopback address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func cleanString(s string) bool {
	return len(s) <= maxStringBytes && !strings.ContainsAny(s, "\x00\r\n")
}

// quote quotes s for an error, shortened.
func quote(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:60], "") + "..."
	}
	return fmt.Sprintf("%q", s)
}

// quoteKey returns k as it may appear in a key path.
func quoteKey(k string) string {
	if envRE.MatchString(k) {
		return k
	}
	return quote(k)
}
