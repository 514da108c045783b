package rego

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Config configures an [Engine].
type Config struct {
	// Dir is the directory whose *.rego files (not recursive) form the policy.
	Dir string `yaml:"dir"`
	// Query is the document evaluated per call, e.g. "data.subzero.authz".
	Query string `yaml:"query"`
	// Timeout bounds one evaluation.
	Timeout time.Duration `yaml:"timeout"`
	// ReloadInterval is how often the directory is polled for changes.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Default returns the default configuration. Dir has no default.
func Default() Config {
	return Config{
		Query:          "data.subzero.authz",
		Timeout:        50 * time.Millisecond,
		ReloadInterval: time.Second,
	}
}

// Validate reports the first invalid field, naming its key. It never mutates c.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("rego.dir: required")
	}
	if err := validateQuery(c.Query); err != nil {
		return fmt.Errorf("rego.query: %w", err)
	}
	if c.Timeout <= 0 {
		return errors.New("rego.timeout: must be positive")
	}
	if c.ReloadInterval <= 0 {
		return errors.New("rego.reload_interval: must be positive")
	}
	return nil
}

func validateQuery(q string) error {
	if q == "" {
		return errors.New("required")
	}
	if !strings.HasPrefix(q, "data.") {
		return errors.New(`must be a reference starting with "data."`)
	}
	ref, err := ast.ParseRef(q)
	if err != nil {
		return errors.New("not a valid reference")
	}
	if !ref.IsGround() {
		return errors.New("must not contain variables")
	}
	return nil
}
