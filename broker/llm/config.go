package llm

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/subzero-gateway/subzero/internal/secret"
)

// KeyPath is the configuration key of the proxy, which errors of
// [Config.Validate] start with.
const KeyPath = "llm"

// Upstream kinds.
const (
	KindOpenAI     = "openai"     // api.openai.com: Authorization: Bearer <key>
	KindAzure      = "azure"      // Azure OpenAI: api-key header, deployments in the path
	KindCompatible = "compatible" // vLLM, Ollama, llama.cpp, ...: like openai, key optional
)

// Defaults.
const (
	DefaultMaxBodyBytes      = 4 << 20
	DefaultMaxMessages       = 2048
	DefaultMaxResponseBytes  = 16 << 20
	DefaultMaxSSELineBytes   = 1 << 20
	DefaultHoldBackBytes     = 128
	DefaultTimeout           = 5 * time.Minute
	DefaultStreamIdleTimeout = 60 * time.Second
	DefaultBreakerFailures   = 5
	DefaultBreakerOpenFor    = 30 * time.Second
	DefaultBreakerHalfOpen   = 1
	DefaultAzureAPIVersion   = "2024-10-21"
)

// Limits on a configuration.
const (
	MaxUpstreams     = 64
	MaxModels        = 1024
	MaxAliases       = 1024
	MaxTargets       = 8
	maxBodyCap       = 64 << 20
	maxResponseCap   = 256 << 20
	maxSSELineCap    = 16 << 20
	maxMessagesCap   = 100_000
	maxHoldBack      = 4096
	maxTimeout       = time.Hour
	maxFailures      = 10_000
	maxHalfOpen      = 1000
	maxNameBytes     = 256
	maxURLBytes      = 2048
	maxVersionLength = 64
)

// Config configures the proxy: the key llm of the broker's file.
//
//	llm:
//	  upstreams:
//	    - name: openai
//	      kind: openai
//	      base_url: https://api.openai.com/v1
//	      api_key: {env: OPENAI_API_KEY}
//	      models: [gpt-4o, gpt-4o-mini]
//	    - name: local
//	      kind: compatible
//	      base_url: http://127.0.0.1:11434/v1
//	      models: [llama3.2]
//	  aliases:
//	    gpt-fast: [openai/gpt-4o-mini, local/llama3.2]
//	  guard: {canary: true, hold_back_bytes: 128, system_prompt_leak: true}
type Config struct {
	// Upstreams are the model providers, tried in this order for a model
	// several of them serve.
	Upstreams []UpstreamConfig `yaml:"upstreams"`
	// Aliases map a model name clients use to targets "upstream/model",
	// tried in order: the next on a 5xx, a timeout or an open breaker.
	Aliases map[string][]string `yaml:"aliases"`
	// MaxBodyBytes bounds a request body (default 4 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxMessages bounds the messages of a chat request (default 2048).
	MaxMessages int `yaml:"max_messages"`
	// MaxResponseBytes bounds a non-streamed upstream answer (default 16 MiB).
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
	// MaxSSELineBytes bounds one line of an upstream event stream
	// (default 1 MiB).
	MaxSSELineBytes int `yaml:"max_sse_line_bytes"`
	// Guard configures what the proxy adds to the guard's scans.
	Guard GuardConfig `yaml:"guard"`
}

// GuardConfig configures the proxy's use of the guard.
type GuardConfig struct {
	// Canary plants a fresh canary token in every request's system prompt
	// (or as one), so that an answer repeating it is caught (LLM07).
	Canary bool `yaml:"canary"`
	// HoldBackBytes is how much streamed content is held back before it
	// reaches the client, so that a finding split across chunks is caught
	// before its last part is sent (default 128).
	HoldBackBytes int `yaml:"hold_back_bytes"`
	// SystemPromptLeak registers each request's system prompt with the
	// leak detector for the time of the call, so that an answer echoing
	// it is caught.
	SystemPromptLeak bool `yaml:"system_prompt_leak"`
}

// UpstreamConfig is one model provider.
type UpstreamConfig struct {
	// Name identifies the upstream in targets, health, logs and audit:
	// [a-z0-9_-]{1,32}, unique.
	Name string `yaml:"name"`
	// Kind is openai, azure or compatible.
	Kind string `yaml:"kind"`
	// BaseURL is the API root: https://api.openai.com/v1 for openai, the
	// resource endpoint (https://NAME.openai.azure.com) for azure. http is
	// allowed to loopback hosts only, unless UnsafeAllowHTTP is set.
	BaseURL *url.URL `yaml:"base_url"`
	// UnsafeAllowHTTP allows plain http to a non-loopback host, which
	// sends the API key and prompts in the clear.
	UnsafeAllowHTTP bool `yaml:"unsafe_allow_http"`
	// APIKey is the provider key; required for openai and azure.
	APIKey secret.Ref `yaml:"api_key"`
	// APIVersion is Azure's api-version (default 2024-10-21).
	APIVersion string `yaml:"api_version"`
	// Models are the models (Azure: deployments) the upstream serves.
	Models []string `yaml:"models"`
	// Timeout bounds a call until the answer is complete (non-streamed)
	// or until the response headers (streamed) (default 5m: reasoning
	// models may think for minutes before answering).
	Timeout time.Duration `yaml:"timeout"`
	// StreamIdleTimeout ends a stream that sends nothing for this long
	// (default 60s).
	StreamIdleTimeout time.Duration `yaml:"stream_idle_timeout"`
	// Breaker configures the upstream's circuit breaker.
	Breaker Breaker `yaml:"breaker"`
}

// Breaker configures a circuit breaker (sony/gobreaker).
type Breaker struct {
	// Failures is the number of consecutive failed calls (5xx, timeouts,
	// transport errors) that opens the breaker (default 5).
	Failures int `yaml:"failures"`
	// OpenFor is how long it stays open before a probe (default 30s).
	OpenFor time.Duration `yaml:"open_for"`
	// HalfOpenMax is the number of probes let through when half open
	// (default 1).
	HalfOpenMax int `yaml:"half_open_max"`
}

// Default returns the default configuration: no upstreams.
func Default() Config {
	return Config{
		MaxBodyBytes:     DefaultMaxBodyBytes,
		MaxMessages:      DefaultMaxMessages,
		MaxResponseBytes: DefaultMaxResponseBytes,
		MaxSSELineBytes:  DefaultMaxSSELineBytes,
		Guard:            GuardConfig{HoldBackBytes: DefaultHoldBackBytes},
	}
}

// withDefaults returns c with zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	d := Default()
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = d.MaxMessages
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = d.MaxResponseBytes
	}
	if c.MaxSSELineBytes == 0 {
		c.MaxSSELineBytes = d.MaxSSELineBytes
	}
	if c.Guard.HoldBackBytes == 0 {
		c.Guard.HoldBackBytes = d.Guard.HoldBackBytes
	}
	c.Upstreams = slices.Clone(c.Upstreams)
	for i := range c.Upstreams {
		c.Upstreams[i] = c.Upstreams[i].withDefaults()
	}
	return c
}

func (u UpstreamConfig) withDefaults() UpstreamConfig {
	if u.Timeout == 0 {
		u.Timeout = DefaultTimeout
	}
	if u.StreamIdleTimeout == 0 {
		u.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if u.Kind == KindAzure && u.APIVersion == "" {
		u.APIVersion = DefaultAzureAPIVersion
	}
	if u.Breaker.Failures == 0 {
		u.Breaker.Failures = DefaultBreakerFailures
	}
	if u.Breaker.OpenFor == 0 {
		u.Breaker.OpenFor = DefaultBreakerOpenFor
	}
	if u.Breaker.HalfOpenMax == 0 {
		u.Breaker.HalfOpenMax = DefaultBreakerHalfOpen
	}
	return u
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// Validate reports the first problem in c, naming its key
// ("llm.upstreams[1].base_url: ..."). It does not change c.
func (c Config) Validate() error {
	if len(c.Upstreams) > MaxUpstreams {
		return fmt.Errorf("%s.upstreams: more than %d upstreams", KeyPath, MaxUpstreams)
	}
	names := map[string]int{}
	for i, u := range c.Upstreams {
		if err := u.validate(); err != nil {
			return fmt.Errorf("%s.upstreams[%d].%w", KeyPath, i, err)
		}
		if j, dup := names[u.Name]; dup {
			return fmt.Errorf("%s.upstreams[%d].name: %s repeats upstreams[%d]", KeyPath, i, u.Name, j)
		}
		names[u.Name] = i
	}
	if len(c.Aliases) > MaxAliases {
		return fmt.Errorf("%s.aliases: more than %d aliases", KeyPath, MaxAliases)
	}
	for _, alias := range slices.Sorted(maps.Keys(c.Aliases)) {
		key := KeyPath + ".aliases." + alias
		if err := checkModelName(alias); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		for _, u := range c.Upstreams {
			if slices.Contains(u.Models, alias) {
				return fmt.Errorf("%s: names a model of upstream %s; an alias must not hide a model", key, u.Name)
			}
		}
		ts := c.Aliases[alias]
		switch {
		case len(ts) == 0:
			return fmt.Errorf("%s: needs at least one target (upstream/model)", key)
		case len(ts) > MaxTargets:
			return fmt.Errorf("%s: more than %d targets", key, MaxTargets)
		}
		for i, t := range ts {
			up, model, ok := strings.Cut(t, "/")
			if !ok || up == "" || model == "" {
				return fmt.Errorf("%s[%d]: %q is not upstream/model", key, i, t)
			}
			if _, ok := names[up]; !ok {
				return fmt.Errorf("%s[%d]: no upstream is named %q", key, i, up)
			}
			if err := checkModelName(model); err != nil {
				return fmt.Errorf("%s[%d]: %w", key, i, err)
			}
		}
	}
	for _, b := range []struct {
		key      string
		v, limit int64
	}{
		{"max_body_bytes", c.MaxBodyBytes, maxBodyCap},
		{"max_messages", int64(c.MaxMessages), maxMessagesCap},
		{"max_response_bytes", c.MaxResponseBytes, maxResponseCap},
		{"max_sse_line_bytes", int64(c.MaxSSELineBytes), maxSSELineCap},
		{"guard.hold_back_bytes", int64(c.Guard.HoldBackBytes), maxHoldBack},
	} {
		if b.v < 0 || b.v > b.limit {
			return fmt.Errorf("%s.%s: must be between 0 (the default) and %d, got %d", KeyPath, b.key, b.limit, b.v)
		}
	}
	if c.MaxSSELineBytes != 0 && c.MaxSSELineBytes < 4096 {
		return fmt.Errorf("%s.max_sse_line_bytes: must be at least 4096, got %d", KeyPath, c.MaxSSELineBytes)
	}
	return nil
}

// validate reports the first problem of an upstream, its key relative to
// the item.
func (u UpstreamConfig) validate() error {
	if !nameRE.MatchString(u.Name) {
		if u.Name == "" {
			return errors.New("name: required")
		}
		return fmt.Errorf("name: must match [a-z0-9_-]{1,32}, got %q", u.Name)
	}
	switch u.Kind {
	case KindOpenAI, KindAzure, KindCompatible:
	case "":
		return errors.New("kind: required (openai, azure or compatible)")
	default:
		return fmt.Errorf("kind: must be openai, azure or compatible, got %q", u.Kind)
	}
	if err := checkBaseURL(u.BaseURL, u.UnsafeAllowHTTP); err != nil {
		return fmt.Errorf("base_url: %w", err)
	}
	if err := u.APIKey.Validate(); err != nil {
		return fmt.Errorf("api_key.%w", err)
	}
	if u.APIKey.IsZero() && u.Kind != KindCompatible {
		return fmt.Errorf("api_key: required for kind %s ({env: NAME} or {file: PATH})", u.Kind)
	}
	if u.APIVersion != "" {
		if u.Kind != KindAzure {
			return errors.New("api_version: only for kind azure")
		}
		if len(u.APIVersion) > maxVersionLength || !versionRE.MatchString(u.APIVersion) {
			return fmt.Errorf("api_version: must be 1 to %d of A-Z, a-z, 0-9, '.', '_' and '-'", maxVersionLength)
		}
	}
	if len(u.Models) == 0 {
		return errors.New("models: at least one model")
	}
	if len(u.Models) > MaxModels {
		return fmt.Errorf("models: more than %d", MaxModels)
	}
	seen := map[string]bool{}
	for i, m := range u.Models {
		if err := checkModelName(m); err != nil {
			return fmt.Errorf("models[%d]: %w", i, err)
		}
		if u.Kind == KindAzure && strings.ContainsAny(m, "/?#%") {
			return fmt.Errorf("models[%d]: an Azure deployment name must not hold '/', '?', '#' or '%%'", i)
		}
		if seen[m] {
			return fmt.Errorf("models[%d]: %q is listed twice", i, m)
		}
		seen[m] = true
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"timeout", u.Timeout}, {"stream_idle_timeout", u.StreamIdleTimeout}, {"breaker.open_for", u.Breaker.OpenFor}} {
		if d.v < 0 || d.v > maxTimeout {
			return fmt.Errorf("%s: must be between 0 (the default) and %s, got %s", d.key, maxTimeout, d.v)
		}
	}
	if f := u.Breaker.Failures; f < 0 || f > maxFailures {
		return fmt.Errorf("breaker.failures: must be between 1 and %d, or 0 for the default, got %d", maxFailures, f)
	}
	if h := u.Breaker.HalfOpenMax; h < 0 || h > maxHalfOpen {
		return fmt.Errorf("breaker.half_open_max: must be between 1 and %d, or 0 for the default, got %d", maxHalfOpen, h)
	}
	return nil
}

// checkBaseURL never quotes the URL: it may carry credentials.
func checkBaseURL(u *url.URL, unsafeHTTP bool) error {
	switch {
	case u == nil || u.String() == "":
		return errors.New("required")
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("scheme must be https, got %q", u.Scheme)
	case u.Hostname() == "":
		return errors.New("must name a host")
	case u.User != nil:
		return errors.New("must not hold credentials; use api_key")
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("must not have a query")
	case u.Fragment != "" || u.RawFragment != "":
		return errors.New("must not have a fragment")
	case len(u.String()) > maxURLBytes:
		return fmt.Errorf("longer than %d bytes", maxURLBytes)
	case u.Scheme == "http" && !unsafeHTTP && !loopback(u.Hostname()):
		return errors.New("scheme must be https (http only to a loopback host, unless unsafe_allow_http is set)")
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkModelName accepts printable ASCII without spaces, at most 256 bytes.
func checkModelName(m string) error {
	if m == "" {
		return errors.New("empty model name")
	}
	if len(m) > maxNameBytes {
		return fmt.Errorf("model name longer than %d bytes", maxNameBytes)
	}
	for i := 0; i < len(m); i++ {
		if m[i] <= ' ' || m[i] >= 0x7f {
			return fmt.Errorf("model name %q holds a space, a control or a non-ASCII character", m)
		}
	}
	return nil
}
