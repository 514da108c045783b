package remote

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/internal/secret"
)

// Config configures the remote classifier, for example as a `remote:`
// section beside the guard's:
//
//	remote:
//	  enabled: true
//	  base_url: http://127.0.0.1:11434/v1   # Ollama; vLLM, llama.cpp, OpenAI...
//	  model: qwen2.5:3b-instruct
//	  api_key: {env: SUBZERO_GUARD_REMOTE_KEY}
//	  timeout: 2s
//	  fail_mode: open
//	  directions: [prompt, tool_result]
//	  unsafe_allow_http: true                # loopback needs no such flag
//
// The zero Config is disabled; [Default] fills in the other defaults.
type Config struct {
	// Enabled turns the remote stage on. Off by default: every string it
	// asks about leaves the node.
	Enabled bool `yaml:"enabled"`
	// BaseURL is the OpenAI-compatible API root, the part before
	// "/chat/completions" (https://api.openai.com/v1,
	// http://127.0.0.1:8000/v1). https, or http on a loopback host unless
	// UnsafeAllowHTTP; no user info, query or fragment.
	BaseURL *url.URL `yaml:"base_url"`
	// UnsafeAllowHTTP allows a plain-http BaseURL on a non-loopback host:
	// the texts and the API key then cross the network in clear.
	UnsafeAllowHTTP bool `yaml:"unsafe_allow_http"`
	// Model is the model name sent with each request.
	Model string `yaml:"model"`
	// APIKey refers to the bearer token (a file or an environment
	// variable); the zero Ref sends no Authorization header.
	APIKey secret.Ref `yaml:"api_key"`
	// Protocol is how the model is asked and how it answers: "json" (a
	// fixed system prompt, the text as a JSON data block, a strict JSON
	// reply) or "llama_guard" (the text as the user turn, a reply of
	// "safe" or "unsafe" and category codes). See the package comment.
	Protocol Protocol `yaml:"protocol"`
	// Timeout bounds one classification, connection included.
	Timeout time.Duration `yaml:"timeout"`
	// FailMode says what a timeout, an error, a malformed reply or a full
	// concurrency limit produce: "open" nothing, "closed" a
	// "remote.unavailable" finding with score 1.
	FailMode FailMode `yaml:"fail_mode"`
	// Cooldown is how long after a failure the endpoint is not asked and
	// every string gets the fail mode at once, so that a dead endpoint
	// costs one Timeout per Cooldown rather than one per string. 0 turns
	// it off.
	Cooldown time.Duration `yaml:"cooldown"`
	// Directions are the directions whose strings are sent.
	Directions []guard.Direction `yaml:"directions"`
	// MinChars is the shortest string (in characters) that is sent;
	// shorter ones (JSON keys, names, numbers) are left to the local
	// detectors.
	MinChars int `yaml:"min_chars"`
	// MaxChars bounds what is sent of one string: a longer string is sent
	// as its first and last MaxChars/2 characters with the number left
	// out between them, and the finding's rule says "truncated".
	MaxChars int `yaml:"max_chars"`
	// MaxConcurrent bounds the requests in flight; a string arriving when
	// all are taken gets the fail mode at once.
	MaxConcurrent int `yaml:"max_concurrent"`
	// CacheSize is how many answers are kept, keyed by the SHA-256 of what
	// was sent, and CacheTTL how long; CacheSize 0 turns the cache off.
	CacheSize int           `yaml:"cache_size"`
	CacheTTL  time.Duration `yaml:"cache_ttl"`
}

// Protocol is how the classifier is asked and answers.
type Protocol string

// The protocols.
const (
	ProtocolJSON       Protocol = "json"
	ProtocolLlamaGuard Protocol = "llama_guard"
)

// FailMode is what the detector reports when the classifier gives no
// usable answer.
type FailMode string

// The fail modes.
const (
	FailOpen   FailMode = "open"
	FailClosed FailMode = "closed"
)

// Default returns the default configuration: disabled, and when enabled
// a 2 s timeout, fail open, prompts and tool results.
func Default() Config {
	return Config{
		Protocol:      ProtocolJSON,
		Timeout:       2 * time.Second,
		FailMode:      FailOpen,
		Cooldown:      5 * time.Second,
		Directions:    []guard.Direction{guard.Prompt, guard.ToolResult},
		MinChars:      20,
		MaxChars:      4000,
		MaxConcurrent: 8,
		CacheSize:     4096,
		CacheTTL:      10 * time.Minute,
	}
}

// Limits on the settings.
const (
	maxTimeout    = time.Minute
	maxMaxChars   = 100_000
	maxConcurrent = 1024
	maxCacheSize  = 1 << 20
)

// Validate reports the first invalid setting, naming its key. A disabled
// Config is valid whatever its other settings.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	if err := validateURL(c.BaseURL, c.UnsafeAllowHTTP); err != nil {
		return fmt.Errorf("remote.base_url: %w", err)
	}
	if c.Model == "" {
		return errors.New("remote.model: must be set")
	}
	if err := c.APIKey.Validate(); err != nil {
		return fmt.Errorf("remote.api_key.%w", err)
	}
	switch c.Protocol {
	case ProtocolJSON, ProtocolLlamaGuard:
	default:
		return fmt.Errorf("remote.protocol: %q is not json or llama_guard", c.Protocol)
	}
	if c.Timeout <= 0 || c.Timeout > maxTimeout {
		return fmt.Errorf("remote.timeout: %v not in (0, %v]", c.Timeout, maxTimeout)
	}
	switch c.FailMode {
	case FailOpen, FailClosed:
	default:
		return fmt.Errorf("remote.fail_mode: %q is not open or closed", c.FailMode)
	}
	if c.Cooldown < 0 || c.Cooldown > time.Hour {
		return fmt.Errorf("remote.cooldown: %v not in [0, 1h]", c.Cooldown)
	}
	if len(c.Directions) == 0 {
		return errors.New("remote.directions: must name at least one direction")
	}
	for i, d := range c.Directions {
		if !knownDirection(d) {
			return fmt.Errorf("remote.directions[%d]: unknown direction %q", i, d)
		}
	}
	if c.MaxChars < 2 || c.MaxChars > maxMaxChars {
		return fmt.Errorf("remote.max_chars: %d not in [2, %d]", c.MaxChars, maxMaxChars)
	}
	if c.MinChars < 0 || c.MinChars > c.MaxChars {
		return fmt.Errorf("remote.min_chars: %d not in [0, max_chars]", c.MinChars)
	}
	if c.MaxConcurrent < 1 || c.MaxConcurrent > maxConcurrent {
		return fmt.Errorf("remote.max_concurrent: %d not in [1, %d]", c.MaxConcurrent, maxConcurrent)
	}
	if c.CacheSize < 0 || c.CacheSize > maxCacheSize {
		return fmt.Errorf("remote.cache_size: %d not in [0, %d]", c.CacheSize, maxCacheSize)
	}
	if c.CacheSize > 0 && c.CacheTTL <= 0 {
		return errors.New("remote.cache_ttl: must be positive when cache_size is set")
	}
	return nil
}

func validateURL(u *url.URL, allowHTTP bool) error {
	switch {
	case u == nil:
		return errors.New("must be set")
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.Opaque != "":
		return errors.New("must be an http or https URL")
	case u.User != nil:
		return errors.New("must not carry user info (use api_key)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("must not have a query or fragment")
	case u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()):
		return errors.New("http only on a loopback host (or set unsafe_allow_http)")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func knownDirection(d guard.Direction) bool {
	switch d {
	case guard.Prompt, guard.Completion, guard.ToolArguments, guard.ToolResult, guard.ToolDescription:
		return true
	}
	return false
}
