package sensitive

import (
	"embed"
	"fmt"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// noseyParkerFS holds Nosey Parker's rule files, unchanged (Apache-2.0;
// see rules/noseyparker/NOTICE and LICENSE).
//
//go:embed rules/noseyparker/*.yml
var noseyParkerFS embed.FS

// npRule mirrors the parts of a Nosey Parker rule this package uses.
type npRule struct {
	Name             string   `yaml:"name"`
	ID               string   `yaml:"id"`
	Pattern          string   `yaml:"pattern"`
	Categories       []string `yaml:"categories"`
	Examples         []string `yaml:"examples"`
	NegativeExamples []string `yaml:"negative_examples"`
}

// loadNoseyParker parses the embedded rule files, in file name order.
var loadNoseyParker = sync.OnceValues(func() ([]npRule, error) {
	const dir = "rules/noseyparker"
	ents, err := noseyParkerFS.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sensitive: nosey parker rules: %w", err)
	}
	var rules []npRule
	for _, e := range ents {
		b, err := noseyParkerFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sensitive: nosey parker rules: %w", err)
		}
		var f struct {
			Rules []npRule `yaml:"rules"`
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("sensitive: nosey parker rules %s: %w", e.Name(), err)
		}
		rules = append(rules, f.Rules...)
	}
	return rules, nil
})

// npRulePrefix starts the Rule of Nosey Parker findings.
const npRulePrefix = "noseyparker:"

// npSecretGroup names the capture group holding the secret where it is
// not the last one: connection URIs capture user, password, host.
var npSecretGroup = map[string]int{"np.mongodb.1": 2, "np.postgres.1": 2}

// Windows for Nosey Parker rules whose matches are unbounded.
const (
	npLeft  = 256
	npRight = 4096
	// npAnchorMax bounds the text an unbounded anchored rule reads.
	npAnchorMax = 1024
)

// compileNoseyParker compiles the embedded Nosey Parker rules that RE2
// can compile, leaving out the disabled ones. skipped maps each rule
// left out for its pattern to the compiler's reason.
func compileNoseyParker(cfg Config) (rules []secretRule, skipped map[string]string, err error) {
	nps, err := loadNoseyParker()
	if err != nil {
		return nil, nil, err
	}
	skipped = map[string]string{}
	for _, n := range nps {
		name := "secret." + n.ID
		if !cfg.enabled(name) {
			continue
		}
		expr := npTranslate(n.Pattern)
		re, err := regexp.Compile(expr)
		if err != nil {
			skipped[n.ID] = err.Error()
			continue
		}
		sr := secretRule{
			id: n.ID, detector: name, rule: npRulePrefix + n.ID, re: re,
			group: re.NumSubexp(), score: 0.9, np: true,
		}
		if g, ok := npSecretGroup[n.ID]; ok {
			sr.group = g
		}
		sr.needs = requiredSets(expr)
		switch {
		case slices.Contains(n.Categories, "identifier"):
			sr.score = 0.5
		case slices.Contains(n.Categories, "fuzzy"), slices.Contains(n.Categories, "generic"):
			sr.score = 0.7
		}
		parsed, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			skipped[n.ID] = err.Error()
			continue
		}
		raw := parsed
		parsed = parsed.Simplify()
		if n := maxMatchLen(parsed); n >= 0 && n <= npRight {
			sr.left, sr.right = min(n, npLeft), n
		} else {
			sr.left, sr.right = npLeft, npRight
		}
		if a, ok := anchorOf(parsed); ok {
			sr.keywords, sr.offset, sr.lead = truncLits(a.lits), a.offset, a.lead
			sr.anchor = regexp.MustCompile(`^(?:` + expr + `)`)
			sr.pre = newPrefixFilter(`^(?:` + expr + `)`)
			sr.short, sr.shortMax = shorten(`^(?:` + expr + `)`)
			sr.run = longestRun(raw) // before Simplify expands counted repetitions
		} else if ks, ok := npLits.required(parsed); ok && minLen(ks) >= 2 {
			sr.keywords = truncLits(ks)
		}
		rules = append(rules, sr)
	}
	return rules, skipped, nil
}

// npTranslate turns a Nosey Parker pattern (Hyperscan/PCRE syntax) into
// RE2 syntax: in extended mode ((?x), PCRE semantics) whitespace outside
// character classes and comments (# to the end of the line) are
// removed; (?#...) comments are removed everywhere; the x flag is
// dropped from flag groups. Everything else is kept as written.
func npTranslate(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	ext := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			b.WriteByte(c)
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
		case c == '[':
			i = copyClass(&b, p, i)
		case strings.HasPrefix(p[i:], "(?#"):
			j := strings.IndexByte(p[i:], ')')
			if j < 0 {
				return b.String()
			}
			i += j
		case strings.HasPrefix(p[i:], "(?"):
			j := i + 2
			for j < len(p) && (isAlpha(p[j]) || p[j] == '-') {
				j++
			}
			if j == len(p) || (p[j] != ')' && p[j] != ':') {
				b.WriteString("(?")
				i++
				continue
			}
			flags := p[i+2 : j]
			on, _, _ := strings.Cut(flags, "-")
			if strings.Contains(on, "x") {
				ext = true
				flags = strings.ReplaceAll(flags, "x", "")
			}
			if flags == "" || flags == "-" {
				if p[j] == ':' {
					b.WriteString("(?:")
				}
			} else {
				b.WriteString("(?" + flags + string(p[j]))
			}
			i = j
		case ext && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'):
		case ext && c == '#':
			for i+1 < len(p) && p[i+1] != '\n' {
				i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// copyClass copies the character class starting at p[i] ('[') to b,
// verbatim (whitespace in a class is literal in extended mode too), and
// returns the index of its closing ']'.
func copyClass(b *strings.Builder, p string, i int) int {
	start := i
	i++
	if i < len(p) && p[i] == '^' {
		i++
	}
	if i < len(p) && p[i] == ']' {
		i++
	}
	for i < len(p) {
		switch {
		case p[i] == '\\':
			i += 2
			continue
		case p[i] == '[' && i+1 < len(p) && p[i+1] == ':':
			if j := strings.Index(p[i:], ":]"); j >= 0 {
				i += j + 2
				continue
			}
		case p[i] == ']':
			b.WriteString(p[start : i+1])
			return i
		}
		i++
	}
	b.WriteString(p[start:])
	return len(p)
}

// litCap bounds the size of the literal sets computed for prefilters.
type litCap int

// npLits is the bound for rule keywords (each is a pattern of the
// keyword automaton); allowLits for allowlist prefilters.
const (
	npLits      litCap = 64
	allowLits   litCap = 4096
	maxClassLit        = 8
)

// exact returns, lower-cased, the finite set of strings re matches,
// when it is small.
func (c litCap) exact(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true
	case syntax.OpLiteral:
		return []string{strings.ToLower(string(re.Rune))}, true
	case syntax.OpCharClass:
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1]-re.Rune[i] >= maxClassLit {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				s := strings.ToLower(string(r))
				if !slices.Contains(set, s) {
					set = append(set, s)
				}
				if len(set) > maxClassLit {
					return nil, false
				}
			}
		}
		return set, len(set) > 0
	case syntax.OpCapture:
		return c.exact(re.Sub[0])
	case syntax.OpQuest:
		s, ok := c.exact(re.Sub[0])
		if !ok {
			return nil, false
		}
		return c.union(s, []string{""})
	case syntax.OpRepeat:
		if re.Min != re.Max || re.Max > 4 {
			return nil, false
		}
		s, ok := c.exact(re.Sub[0])
		if !ok {
			return nil, false
		}
		out := []string{""}
		for range re.Min {
			if out, ok = c.product(out, s); !ok {
				return nil, false
			}
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			s, ok := c.exact(sub)
			if !ok {
				return nil, false
			}
			if out, ok = c.product(out, s); !ok {
				return nil, false
			}
		}
		return out, true
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s, ok := c.exact(sub)
			if !ok {
				return nil, false
			}
			if out, ok = c.union(out, s); !ok {
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

func (c litCap) product(a, b []string) ([]string, bool) {
	if len(a)*len(b) > int(c) {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	seen := make(map[string]bool, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			if s := x + y; !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out, true
}

func (c litCap) union(a, b []string) ([]string, bool) {
	if len(a)+len(b) > 2*int(c) {
		return nil, false
	}
	out := slices.Clone(a)
	seen := make(map[string]bool, len(a)+len(b))
	for _, s := range a {
		seen[s] = true
	}
	for _, s := range b {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, len(out) <= int(c)
}

func minLen(set []string) int {
	if len(set) == 0 {
		return 0
	}
	n := len(set[0])
	for _, s := range set[1:] {
		n = min(n, len(s))
	}
	return n
}

// betterLits reports whether literal set a makes a better prefilter
// than b: its shortest string is longer, or as long with fewer strings.
func betterLits(a, b []string) bool {
	if b == nil {
		return true
	}
	if la, lb := minLen(a), minLen(b); la != lb {
		return la > lb
	}
	return len(a) < len(b)
}

// required returns, lower-cased, a set of strings one of which every
// match of re contains: the basis of a keyword prefilter.
func (c litCap) required(re *syntax.Regexp) ([]string, bool) {
	if s, ok := c.exact(re); ok && minLen(s) > 0 {
		return s, true
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return c.required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return c.required(re.Sub[0])
		}
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s, ok := c.required(sub)
			if !ok {
				return nil, false
			}
			if out, ok = c.union(out, s); !ok {
				return nil, false
			}
		}
		return out, true
	case syntax.OpConcat:
		var best []string
		for i, sub := range re.Sub {
			if s := c.prefix(re.Sub[i:], []string{""}); minLen(s) > 0 && betterLits(s, best) {
				best = s
			}
			if s, ok := c.required(sub); ok && betterLits(s, best) {
				best = s
			}
		}
		return best, best != nil
	}
	return nil, false
}

// prefix returns, lower-cased, a set of strings one of which starts
// every match of the concatenation of subs, each prefixed by one of acc.
// It stops extending the strings where the set would grow too large.
func (c litCap) prefix(subs []*syntax.Regexp, acc []string) []string {
	if len(subs) == 0 {
		return acc
	}
	first, rest := subs[0], subs[1:]
	if s, ok := c.exact(first); ok {
		p, ok := c.product(acc, s)
		if !ok {
			return acc
		}
		return c.prefix(rest, p)
	}
	then := func(re *syntax.Regexp) []*syntax.Regexp {
		return append([]*syntax.Regexp{re}, rest...)
	}
	switch first.Op {
	case syntax.OpCapture:
		return c.prefix(then(first.Sub[0]), acc)
	case syntax.OpConcat:
		return c.prefix(append(slices.Clone(first.Sub), rest...), acc)
	case syntax.OpQuest:
		if u, ok := c.union(c.prefix(then(first.Sub[0]), acc), c.prefix(rest, acc)); ok {
			return u
		}
	case syntax.OpAlternate:
		var out []string
		for _, sub := range first.Sub {
			var ok bool
			if out, ok = c.union(out, c.prefix(then(sub), acc)); !ok {
				return acc
			}
		}
		return out
	case syntax.OpPlus:
		return c.prefix(first.Sub[:1], acc)
	case syntax.OpRepeat:
		if first.Min >= 1 {
			return c.prefix(first.Sub[:1], acc)
		}
	}
	return acc
}

// npKeywordMax bounds the length of a Nosey Parker keyword: a prefix of
// a required literal is required too, and long keywords (bucket host
// names, Django's settings comment) would only grow the automaton.
const npKeywordMax = 24

// truncLits cuts lits to npKeywordMax bytes, without duplicates.
func truncLits(lits []string) []string {
	var out []string
	for _, l := range lits {
		l = l[:min(len(l), npKeywordMax)]
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// anchor is where a rule's matches can be found from one of its
// keywords: every match starts offset bytes before one of lits, after
// the zero-width assertions lead (checked by hand, as a match anchored
// at that point cannot see the text before it).
type anchor struct {
	lits   []string
	offset int
	lead   []syntax.Op
}

// anchorOf finds the best anchor of re: a set of literals at a fixed
// byte offset from the start of every match.
func anchorOf(re *syntax.Regexp) (anchor, bool) {
	seq := flatten(nil, re)
	var best anchor
	var lead []syntax.Op
	w := 0
	for i, sub := range seq {
		if i == 0 || w >= 0 {
			if p := npLits.prefix(seq[i:], []string{""}); minLen(p) > 0 && betterLits(p, best.lits) {
				best = anchor{lits: p, offset: w, lead: lead}
			}
		}
		switch sub.Op {
		case syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpBeginText, syntax.OpBeginLine:
			if w == 0 {
				lead = append(slices.Clip(lead), sub.Op)
				continue
			}
		}
		if n := fixedWidth(sub); n < 0 || w < 0 {
			w = -1
		} else {
			w += n
		}
		if w < 0 {
			break
		}
	}
	// A start-of-text or start-of-line assertion past the lead would hold
	// wrongly at the start of an anchored run.
	n := 0
	for _, op := range best.lead {
		if op == syntax.OpBeginText || op == syntax.OpBeginLine {
			n++
		}
	}
	if countOps(re, syntax.OpBeginText)+countOps(re, syntax.OpBeginLine) > n {
		return anchor{}, false
	}
	return best, best.lits != nil
}

// countOps counts the nodes of re with operator op.
func countOps(re *syntax.Regexp, op syntax.Op) int {
	n := 0
	if re.Op == op {
		n++
	}
	for _, sub := range re.Sub {
		n += countOps(sub, op)
	}
	return n
}

// flatten appends the sequence of re's top-level concatenation, captures
// and concatenations opened.
func flatten(dst []*syntax.Regexp, re *syntax.Regexp) []*syntax.Regexp {
	switch re.Op {
	case syntax.OpCapture:
		return flatten(dst, re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			dst = flatten(dst, sub)
		}
		return dst
	}
	return append(dst, re)
}

// fixedWidth is the length in bytes of every match of re, or -1 when
// matches can differ in length (or the text's encoding could make them).
func fixedWidth(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf || re.Flags&syntax.FoldCase != 0 && (r|0x20 == 'k' || r|0x20 == 's') {
				return -1
			}
			n++
		}
		return n
	case syntax.OpCharClass:
		if len(re.Rune) == 0 || re.Rune[len(re.Rune)-1] >= utf8.RuneSelf {
			return -1
		}
		return 1
	case syntax.OpCapture:
		return fixedWidth(re.Sub[0])
	case syntax.OpRepeat:
		if n := fixedWidth(re.Sub[0]); n >= 0 && re.Min == re.Max {
			return n * re.Min
		}
	case syntax.OpConcat:
		t := 0
		for _, sub := range re.Sub {
			n := fixedWidth(sub)
			if n < 0 {
				return -1
			}
			t += n
		}
		return t
	}
	return -1
}

// leadHolds reports whether the zero-width assertions ops hold at byte
// i of text.
func leadHolds(ops []syntax.Op, text string, i int) bool {
	for _, op := range ops {
		wb := i < len(text) && isWord(text[i]) != (i > 0 && isWord(text[i-1]))
		if i == len(text) {
			wb = i > 0 && isWord(text[i-1])
		}
		switch op {
		case syntax.OpWordBoundary:
			if !wb {
				return false
			}
		case syntax.OpNoWordBoundary:
			if wb {
				return false
			}
		case syntax.OpBeginText:
			if i != 0 {
				return false
			}
		case syntax.OpBeginLine:
			if i != 0 && text[i-1] != '\n' {
				return false
			}
		}
	}
	return true
}

// classRun is a run of at least min bytes of one character class that
// every match of a rule contains: a cheap test that a keyword hit can
// be the start of a match (prose has no 24-byte alphanumeric runs).
type classRun struct {
	in  [256]bool
	min int
	// within bounds how far from a match's start the run ends, or -1.
	within int
}

// longestRun returns the most selective class run of re's top-level
// sequence (a repetition of a class with the largest minimum count),
// or nil when it has none of at least 6 bytes.
func longestRun(re *syntax.Regexp) *classRun {
	var best *syntax.Regexp
	within, before := -1, 0
	for _, sub := range flatten(nil, re) {
		if (sub.Op == syntax.OpRepeat && sub.Min >= 6) && sub.Sub[0].Op == syntax.OpCharClass &&
			(best == nil || sub.Min > best.Min) {
			best = sub
			within = -1
			if before >= 0 {
				within = before + sub.Min
			}
		}
		if n := maxMatchLen(sub); n < 0 || before < 0 {
			before = -1
		} else {
			before += n
		}
	}
	if best == nil {
		return nil
	}
	cr := &classRun{min: best.Min, within: within}
	cls := best.Sub[0].Rune
	for i := 0; i+1 < len(cls); i += 2 {
		for r := cls[i]; r <= min(cls[i+1], 0xff); r++ {
			if r < utf8.RuneSelf {
				cr.in[r] = true
			}
		}
		if cls[i+1] >= utf8.RuneSelf {
			for b := 0x80; b <= 0xff; b++ {
				cr.in[b] = true
			}
		}
	}
	return cr
}

// holds reports whether text[i:j] has a run of the class.
func (cr *classRun) holds(text string, i, j int) bool {
	n := 0
	for ; i < j; i++ {
		if !cr.in[text[i]] {
			n = 0
			continue
		}
		if n++; n >= cr.min {
			return true
		}
	}
	return false
}

// npValue picks the secret of a Nosey Parker match: the rule's secret
// group, or the whole match when that group is empty or too short to be
// the secret (a captured prefix).
func npValue(r *secretRule, m []int) (start, end int) {
	start, end = m[0], m[1]
	if g := r.group; g > 0 && 2*g+1 < len(m) && m[2*g] >= 0 && m[2*g+1]-m[2*g] >= 4 {
		start, end = m[2*g], m[2*g+1]
	}
	return start, end
}

// placeholderSecret reports a matched value that stands for a secret
// rather than being one: a template or variable reference, a documentation
// placeholder ("YOUR_PASSWORD", "xxxx…", "…EXAMPLE"), or a value made
// mostly of one repeated character ("aaaa…NRAL", "0000…").
func placeholderSecret(v string) bool {
	// "…EXAMPLE" is AWS's documentation convention (AKIAIOSFODNN7EXAMPLE),
	// which gitleaks' rule allowlists too.
	if templated(v) || placeholderValue(v, "") || strings.HasSuffix(v, "EXAMPLE") {
		return true
	}
	if len(v) < 8 {
		return false
	}
	var counts [256]int
	top := 0
	for i := 0; i < len(v); i++ {
		counts[v[i]]++
		top = max(top, counts[v[i]])
	}
	return 10*top >= 6*len(v)
}
