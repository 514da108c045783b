package guard

import (
	"regexp"
	"slices"
	"strings"
)

// builtin is the policy under the configuration: what a finding gets when
// no configured rule says otherwise.
var builtin = map[string]DirectionRules{
	"default": {"default": {Action: Flag, Threshold: 0.5}},
	// Prompt attacks pass with a record in prompts and answers, and
	// stop in the untrusted directions: tool output and tool metadata.
	string(ClassPromptAttack): {
		"tool_result":      {Action: Block},
		"tool_description": {Action: Block},
	},
	// Personal data and secrets are replaced by placeholders, except in
	// tool arguments, where the agent means to send them.
	string(ClassSensitive): {
		"default":        {Action: Redact},
		"tool_arguments": {Action: Flag},
	},
	string(ClassSupplyChain): {"tool_description": {Action: Block}},
	// A canary is never a coincidence.
	"leak.canary": {"default": {Action: Block}},
}

// policy is the compiled configuration.
type policy struct {
	detectors map[string]DirectionRules
	routes    []override
	tools     []override
	allow     []allowRule
}

type override struct {
	pattern string
	rules   map[string]DirectionRules
}

type allowRule struct {
	literal   string
	re        *regexp.Regexp
	detectors []string
}

func compilePolicy(c Config) (*policy, error) {
	p := &policy{detectors: c.Detectors}
	p.routes = compileOverrides(c.Routes)
	p.tools = compileOverrides(c.Tools)
	for _, a := range c.Allowlist {
		r := allowRule{literal: a.Literal, detectors: a.Detectors}
		if a.Regex != "" {
			re, err := regexp.Compile(a.Regex)
			if err != nil {
				return nil, err
			}
			r.re = re
		}
		p.allow = append(p.allow, r)
	}
	return p, nil
}

// compileOverrides orders patterns so that the first match is the most
// specific: exact keys, then patterns by decreasing length, then by key.
func compileOverrides(m map[string]Override) []override {
	var out []override
	for k, v := range m {
		out = append(out, override{pattern: k, rules: v.Detectors})
	}
	slices.SortFunc(out, func(a, b override) int {
		ea, eb := !strings.ContainsAny(a.pattern, "*?"), !strings.ContainsAny(b.pattern, "*?")
		switch {
		case ea != eb:
			if ea {
				return -1
			}
			return 1
		case len(a.pattern) != len(b.pattern):
			return len(b.pattern) - len(a.pattern)
		}
		return strings.Compare(a.pattern, b.pattern)
	})
	return out
}

func matchOverride(os []override, name string) map[string]DirectionRules {
	if name == "" {
		return nil
	}
	for _, o := range os {
		if Match(o.pattern, name) {
			return o.rules
		}
	}
	return nil
}

// layers returns the rule sets that apply to meta, most specific first.
func (p *policy) layers(meta *Meta, dst *[4]map[string]DirectionRules) []map[string]DirectionRules {
	ls := dst[:0]
	if t := matchOverride(p.tools, meta.Tool); t != nil {
		ls = append(ls, t)
	}
	if r := matchOverride(p.routes, meta.Route); r != nil {
		ls = append(ls, r)
	}
	if p.detectors != nil {
		ls = append(ls, p.detectors)
	}
	return append(ls, builtin)
}

// resolve returns the rule for a finding of detector name and class in
// direction dir under the given layers: per field (action, threshold),
// the first layer that sets it wins; within a layer the detector name,
// then its dotted prefixes, then its class, then "default"; within a key
// the direction, then "default".
func resolve(layers []map[string]DirectionRules, name string, class Class, dir Direction) Rule {
	var out Rule
	for _, l := range layers {
		key := name
		for {
			if out.Action != "" && out.Threshold != 0 {
				return out
			}
			if rs, ok := l[key]; ok {
				fill(&out, rs, dir)
			}
			switch {
			case key == "default":
				goto next
			case key == string(class) || class == "":
				key = "default"
			default:
				if i := strings.LastIndexByte(key, '.'); i > 0 {
					key = key[:i]
				} else {
					key = string(class)
				}
			}
		}
	next:
	}
	if out.Action == "" {
		out.Action = Flag
	}
	if out.Threshold == 0 {
		out.Threshold = 0.5
	}
	return out
}

func fill(out *Rule, rs DirectionRules, dir Direction) {
	for _, k := range [2]string{string(dir), "default"} {
		r, ok := rs[k]
		if !ok {
			continue
		}
		if out.Action == "" {
			out.Action = r.Action
		}
		if out.Threshold == 0 {
			out.Threshold = r.Threshold
		}
	}
}

// allowMatches holds, for one string, the spans the allowlist entries
// match, computed on first use so that a string without findings costs
// nothing and one with many findings is matched once.
type allowMatches struct {
	s     string
	done  bool
	spans [][]span // per entry
}

func (m *allowMatches) reset(s string) { m.s, m.done = s, false }

func (m *allowMatches) compute(p *policy) {
	m.done = true
	m.spans = m.spans[:0]
	for i := range p.allow {
		a := &p.allow[i]
		var ss []span
		if a.re != nil {
			for _, loc := range a.re.FindAllStringIndex(m.s, maxAllowMatches) {
				ss = append(ss, span{start: loc[0], end: loc[1]})
			}
		} else {
			for from := 0; from <= len(m.s) && len(ss) < maxAllowMatches; {
				k := strings.Index(m.s[from:], a.literal)
				if k < 0 {
					break
				}
				ss = append(ss, span{start: from + k, end: from + k + len(a.literal)})
				from += k + max(1, len(a.literal))
			}
		}
		m.spans = append(m.spans, ss)
	}
}

// maxAllowMatches bounds the matches kept per entry and string.
const maxAllowMatches = 1024

// allowed reports whether an allowlist entry covers the finding f in the
// string of m.
func (p *policy) allowed(m *allowMatches, f *Finding) bool {
	if !m.done {
		m.compute(p)
	}
	s := m.s
	start, end := f.Start, f.End
	if start == 0 && end == 0 {
		t := strings.TrimSpace(s)
		start = strings.Index(s, t)
		end = start + len(t)
	}
	for i := range p.allow {
		a := &p.allow[i]
		if len(a.detectors) > 0 && !slices.ContainsFunc(a.detectors, func(d string) bool {
			return d == f.Detector || strings.HasPrefix(f.Detector, d+".")
		}) {
			continue
		}
		for _, sp := range m.spans[i] {
			if sp.start <= start && end <= sp.end {
				return true
			}
		}
	}
	return false
}

// Match reports whether name matches pattern, in which '*' matches any
// run of characters (dots and slashes too) and '?' any one byte. Time is
// linear in len(name) × the number of stars.
func Match(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
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
