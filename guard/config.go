package guard

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Config is the guard's configuration: the broker's `guard:` section.
//
//	guard:
//	  max_bytes: 1048576
//	  max_depth: 64
//	  detectors:
//	    injection:
//	      prompt:      {action: flag, threshold: 0.5}
//	      tool_result: {action: block}
//	    pii:
//	      default:     {action: redact}
//	  tools:
//	    "shell.*":
//	      detectors:
//	        output: {tool_arguments: {action: block, threshold: 0.5}}
//	  allowlist:
//	    - literal: "ignore previous instructions (test fixture)"
//	    - regex: '(?i)^you are a helpful assistant\b'
//	      detectors: [injection]
//	  output:
//	    allowed_hosts: ["*.example.com"]
//	    exec_tools: {"run_*": shell, "db.query": sql}
//
// The zero Config is valid and means the defaults.
type Config struct {
	// MaxBytes bounds the size of one input (text or JSON); larger inputs
	// fail with ErrTooLarge before any work. 0 means 1 MiB.
	MaxBytes int `yaml:"max_bytes"`
	// MaxDepth bounds the nesting of JSON inputs, at most 10000. 0 means
	// 64.
	MaxDepth int `yaml:"max_depth"`
	// Detectors sets the policy per detector and direction. A key is a
	// finding's detector name ("secret.github_pat"), one of its dotted
	// prefixes ("secret"), its class ("sensitive") or "default"; the most
	// specific key wins. See [DirectionRules].
	Detectors map[string]DirectionRules `yaml:"detectors"`
	// Routes and Tools override Detectors for inputs whose Meta.Route or
	// Meta.Tool matches the key, a pattern where '*' matches any run of
	// characters and '?' one. A tool override beats a route override,
	// which beats Detectors; among patterns an exact key wins, then the
	// longest.
	Routes map[string]Override `yaml:"routes"`
	Tools  map[string]Override `yaml:"tools"`
	// Allowlist suppresses findings that lie inside a match of a
	// known-benign literal or regular expression.
	Allowlist []AllowRule `yaml:"allowlist"`
	// Output configures the improper-output (LLM05) checks of
	// guard/output.
	Output OutputConfig `yaml:"output"`
	// ToolRisk assigns risk levels to tools (LLM06), for the gateway.
	ToolRisk ToolRisk `yaml:"tool_risk"`
	// Tokens is the token budget policy (LLM10), for the proxy.
	Tokens TokenPolicy `yaml:"tokens"`
}

// DirectionRules maps a direction ("prompt", "tool_result", ...) or
// "default" to a rule.
type DirectionRules map[string]Rule

// Rule is what the policy does with a finding: findings scoring below
// Threshold are dropped, the others get Action. An empty Action or a
// zero Threshold inherits from the next less specific rule.
type Rule struct {
	Action    Action  `yaml:"action"`
	Threshold float64 `yaml:"threshold"`
}

// Override is a per-route or per-tool policy.
type Override struct {
	Detectors map[string]DirectionRules `yaml:"detectors"`
}

// AllowRule is one allowlist entry: a Literal or an RE2 Regex (exactly
// one), matched against the original string. A finding is suppressed
// when its span lies inside a match; a finding about a whole string,
// when the match covers the whole string (surrounding spaces aside).
// Detectors, when set, limits the entry to findings of those detectors
// (names or dotted prefixes).
type AllowRule struct {
	Literal   string   `yaml:"literal"`
	Regex     string   `yaml:"regex"`
	Detectors []string `yaml:"detectors"`
}

// OutputConfig configures guard/output.
type OutputConfig struct {
	// AllowedHosts are the hosts that markdown images and links in
	// completions may point to with data in their URL ("*.example.com"
	// matches subdomains of example.com; "example.com" only itself).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// ExecTools marks tools whose arguments reach a shell or an SQL
	// database: tool-name pattern → "shell" or "sql".
	ExecTools map[string]string `yaml:"exec_tools"`
	// EchoWords is how many consecutive words of a registered system
	// prompt a completion must repeat to count as leaking it. 0 means 8.
	EchoWords int `yaml:"echo_words"`
}

// Defaults.
const (
	DefaultMaxBytes = 1 << 20
	DefaultMaxDepth = 64
)

// maxMaxDepth bounds MaxDepth: the JSON walker recurses once per level.
const maxMaxDepth = 10000

// Default returns the default configuration.
func Default() Config {
	return Config{MaxBytes: DefaultMaxBytes, MaxDepth: DefaultMaxDepth}
}

var directions = []Direction{Prompt, Completion, ToolArguments, ToolResult, ToolDescription}

// Validate checks the configuration; errors name the key path.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("guard.max_bytes: must not be negative"))
	}
	if c.MaxDepth < 0 || c.MaxDepth > maxMaxDepth {
		errs = append(errs, fmt.Errorf("guard.max_depth: %d (want 1 to %d, or 0 for %d)", c.MaxDepth, maxMaxDepth, DefaultMaxDepth))
	}
	errs = append(errs, validateDetectors("guard.detectors", c.Detectors)...)
	for _, k := range sortedKeys(c.Routes) {
		if k == "" {
			errs = append(errs, errors.New("guard.routes: empty route pattern"))
		}
		errs = append(errs, validateDetectors("guard.routes."+k+".detectors", c.Routes[k].Detectors)...)
	}
	for _, k := range sortedKeys(c.Tools) {
		if k == "" {
			errs = append(errs, errors.New("guard.tools: empty tool pattern"))
		}
		errs = append(errs, validateDetectors("guard.tools."+k+".detectors", c.Tools[k].Detectors)...)
	}
	for i, a := range c.Allowlist {
		p := fmt.Sprintf("guard.allowlist[%d]", i)
		switch {
		case (a.Literal == "") == (a.Regex == ""):
			errs = append(errs, fmt.Errorf("%s: set exactly one of literal and regex", p))
		case a.Regex != "":
			if _, err := regexp.Compile(a.Regex); err != nil {
				errs = append(errs, fmt.Errorf("%s.regex: %v", p, err))
			}
		}
		for j, d := range a.Detectors {
			if d == "" {
				errs = append(errs, fmt.Errorf("%s.detectors[%d]: empty name", p, j))
			}
		}
	}
	for i, h := range c.Output.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			errs = append(errs, fmt.Errorf("guard.output.allowed_hosts[%d]: %q is not a host name or *.domain pattern", i, h))
		}
	}
	for _, k := range sortedKeys(c.Output.ExecTools) {
		switch v := c.Output.ExecTools[k]; v {
		case "shell", "sql":
		default:
			errs = append(errs, fmt.Errorf("guard.output.exec_tools.%s: %q (want shell or sql)", k, v))
		}
	}
	if c.Output.EchoWords < 0 || c.Output.EchoWords == 1 || c.Output.EchoWords > 64 {
		errs = append(errs, fmt.Errorf("guard.output.echo_words: %d (want 2 to 64, or 0 for 8)", c.Output.EchoWords))
	}
	errs = append(errs, c.ToolRisk.validate("guard.tool_risk")...)
	errs = append(errs, c.Tokens.validate("guard.tokens")...)
	return errors.Join(errs...)
}

func validateDetectors(path string, m map[string]DirectionRules) []error {
	var errs []error
	for _, name := range sortedKeys(m) {
		if name == "" {
			errs = append(errs, fmt.Errorf("%s: empty detector name", path))
		}
		for _, dir := range sortedKeys(m[name]) {
			p := path + "." + name + "." + dir
			if dir != "default" && !slices.Contains(directions, Direction(dir)) {
				errs = append(errs, fmt.Errorf("%s: unknown direction (want default, prompt, completion, tool_arguments, tool_result or tool_description)", p))
			}
			r := m[name][dir]
			if r.Action != "" && severity(r.Action) < 0 {
				errs = append(errs, fmt.Errorf("%s.action: unknown action %q (want allow, flag, redact or block)", p, r.Action))
			}
			if r.Threshold < 0 || r.Threshold > 1 {
				errs = append(errs, fmt.Errorf("%s.threshold: %v is outside [0, 1]", p, r.Threshold))
			}
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// severity orders actions; -1 for an unknown one.
func severity(a Action) int {
	switch a {
	case Allow:
		return 0
	case Flag:
		return 1
	case Redact:
		return 2
	case Block:
		return 3
	}
	return -1
}
