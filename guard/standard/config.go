package standard

import (
	"fmt"
	"log/slog"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/remote"
)

// Config is the guard section of a node's configuration: the policy and
// the built-in detectors' settings (guard.Config, inline), and the
// optional second stage, a classifier behind an OpenAI-compatible
// endpoint:
//
//	guard:
//	  detectors: {...}
//	  remote:
//	    enabled: true
//	    base_url: http://127.0.0.1:11434/v1
//	    model: llama-guard3:1b
//	    protocol: llama_guard
//
// Its errors name the key under "guard.".
type Config struct {
	guard.Config `yaml:",inline"`
	// Remote is the remote classifier (guard/remote); off by default.
	Remote remote.Config `yaml:"remote"`
}

// Default returns the default configuration: the built-in policy, the
// remote classifier off (with its defaults ready for when it is turned
// on).
func Default() Config {
	return Config{Config: guard.Default(), Remote: remote.Default()}
}

// Validate reports the first invalid key.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.Remote.Validate(); err != nil {
		return fmt.Errorf("guard.%w", err)
	}
	return nil
}

// Open builds the standard guard cfg describes, with the remote
// classifier as its last detector when cfg.Remote is enabled. getenv
// resolves the remote API key reference; logger receives the remote
// stage's failures (never a scanned text or a key).
func Open(cfg Config, getenv func(string) string, logger *slog.Logger, opts ...Option) (*guard.Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Remote.Enabled {
		rd, err := remote.New(cfg.Remote, getenv, logger)
		if err != nil {
			return nil, fmt.Errorf("guard.%w", err)
		}
		opts = append(opts, WithDetectors(rd))
	}
	return New(cfg.Config, opts...)
}
