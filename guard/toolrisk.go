package guard

import (
	"fmt"
	"strings"
)

// RiskLevel is how much harm a tool call can do (OWASP LLM06, excessive
// agency): the gateway may require approval, a stronger grant or a
// fresh authentication above a level.
type RiskLevel string

// The levels, in increasing order.
const (
	RiskLow      RiskLevel = "low"      // reads public or the caller's own data
	RiskMedium   RiskLevel = "medium"   // reads private data, writes reversibly
	RiskHigh     RiskLevel = "high"     // writes, sends, pays, deletes
	RiskCritical RiskLevel = "critical" // runs code, changes access, moves money
)

// Rank orders the levels from 1 (low) to 4 (critical); 0 for an unknown
// level.
func (l RiskLevel) Rank() int {
	switch l {
	case RiskLow:
		return 1
	case RiskMedium:
		return 2
	case RiskHigh:
		return 3
	case RiskCritical:
		return 4
	}
	return 0
}

// ToolRisk maps tools to risk levels.
//
//	tool_risk:
//	  default: medium
//	  tools:
//	    "github.get_*": low
//	    "github.delete_*": high
//	    "shell.*": critical
type ToolRisk struct {
	// Default is the level of tools no pattern matches; "" means high:
	// an unknown tool is not assumed harmless.
	Default RiskLevel `yaml:"default"`
	// Tools maps tool-name patterns ('*' any run, '?' one character) to
	// levels. An exact name beats a pattern, a longer pattern a shorter.
	Tools map[string]RiskLevel `yaml:"tools"`
}

// Level returns the risk level of tool.
func (t ToolRisk) Level(tool string) RiskLevel {
	best, bestExact := "", false
	found := false
	for p := range t.Tools {
		if !Match(p, tool) {
			continue
		}
		exact := !strings.ContainsAny(p, "*?")
		switch {
		case !found,
			exact && !bestExact,
			exact == bestExact && (len(p) > len(best) || len(p) == len(best) && p < best):
			best, bestExact, found = p, exact, true
		}
	}
	if found {
		return t.Tools[best]
	}
	if t.Default == "" {
		return RiskHigh
	}
	return t.Default
}

func (t ToolRisk) validate(path string) []error {
	var errs []error
	if t.Default != "" && t.Default.Rank() == 0 {
		errs = append(errs, fmt.Errorf("%s.default: unknown level %q (want low, medium, high or critical)", path, t.Default))
	}
	for _, p := range sortedKeys(t.Tools) {
		if p == "" {
			errs = append(errs, fmt.Errorf("%s.tools: empty pattern", path))
		}
		if l := t.Tools[p]; l.Rank() == 0 {
			errs = append(errs, fmt.Errorf("%s.tools.%s: unknown level %q (want low, medium, high or critical)", path, p, l))
		}
	}
	return errs
}
