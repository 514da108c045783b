package sensitive

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
)

// gitleaksTOML is gitleaks' default rule set (MIT; see LICENSE.gitleaks).
//
//go:embed gitleaks.toml
var gitleaksTOML []byte

// gitleaksRule and gitleaksAllowlist mirror the parts of gitleaks' TOML
// schema this package uses.
type gitleaksRule struct {
	ID          string              `toml:"id"`
	Regex       string              `toml:"regex"`
	Entropy     float64             `toml:"entropy"`
	Keywords    []string            `toml:"keywords"`
	SecretGroup int                 `toml:"secretGroup"`
	Path        string              `toml:"path"`
	Allowlists  []gitleaksAllowlist `toml:"allowlists"`
}

type gitleaksAllowlist struct {
	Condition   string   `toml:"condition"`
	RegexTarget string   `toml:"regexTarget"`
	Regexes     []string `toml:"regexes"`
	Stopwords   []string `toml:"stopwords"`
	Paths       []string `toml:"paths"`
	Commits     []string `toml:"commits"`
}

type gitleaksFile struct {
	Allowlist gitleaksAllowlist `toml:"allowlist"`
	Rules     []gitleaksRule    `toml:"rules"`
}

var loadGitleaks = sync.OnceValues(func() (gitleaksFile, error) {
	var f gitleaksFile
	if err := toml.Unmarshal(gitleaksTOML, &f); err != nil {
		return f, fmt.Errorf("sensitive: gitleaks rules: %w", err)
	}
	return f, nil
})

// gitleaksRules returns the embedded rules.
func gitleaksRules() ([]gitleaksRule, error) {
	f, err := loadGitleaks()
	return f.Rules, err
}

// replacedRules are gitleaks rules this package replaces with its own
// detectors: "jwt" by secret.jwt (which decodes the header), "private-key"
// by secret.private-key (which also reports a key whose END line is cut
// off).
var replacedRules = map[string]bool{"jwt": true, "private-key": true}

// Allowlist targets, as gitleaks' regexTarget.
const (
	targetSecret = iota
	targetMatch
	targetLine
)

// allowlist is a compiled gitleaks allowlist without path or commit
// conditions (a scanned string has neither).
type allowlist struct {
	target int
	res    []allowRegex
	stop   *wordSet // lower-cased stopwords
	and    bool     // both res and stop must hold
}

// allowRegex is one regex of an allowlist with a literal prefilter:
// the regex can match only a target whose lower-cased text holds one of
// lits (or ac's words, when there are many). Nil lits: no prefilter.
type allowRegex struct {
	re   *regexp.Regexp
	lits [][]byte
	ac   *wordSet
	// parts, when set, are re's alternatives (see splitAlternation),
	// run in its place once its prefilter holds.
	parts []allowRegex
}

// Bounds on an allowlist regex's literal prefilter.
const (
	allowMinLit   = 2 // shortest literal worth a prefilter
	allowScanLits = 8 // more literals than this get an automaton
)

func (x *allowRegex) match(target string, low []byte) bool {
	switch {
	case x.ac != nil:
		if !x.ac.in(low) {
			return false
		}
	case x.lits != nil:
		if !slices.ContainsFunc(x.lits, func(l []byte) bool { return bytes.Contains(low, l) }) {
			return false
		}
	}
	if x.parts != nil {
		for i := range x.parts {
			if x.parts[i].match(target, low) {
				return true
			}
		}
		return false
	}
	return x.re.MatchString(target)
}

// allowed reports whether the allowlist holds for a match: secret,
// match and line are its targets, lowSecret, lowMatch and lowLine the
// same lower-cased (ASCII letters only).
func (a *allowlist) allowed(secret, match, line string, lowSecret, lowMatch, lowLine []byte) bool {
	target, low := secret, lowSecret
	switch a.target {
	case targetMatch:
		target, low = match, lowMatch
	case targetLine:
		target, low = line, lowLine
	}
	stopOK := a.stop != nil && len(lowSecret) > 0 && a.stop.in(lowSecret)
	if !a.and && stopOK {
		return true
	}
	reOK := false
	if target != "" {
		for i := range a.res {
			if a.res[i].match(target, low) {
				reOK = true
				break
			}
		}
	}
	if a.and {
		return (a.res == nil || reOK) && (a.stop == nil || stopOK)
	}
	return reOK
}

func compileAllowlist(a gitleaksAllowlist) (*allowlist, error) {
	if len(a.Paths) > 0 || len(a.Commits) > 0 {
		if strings.EqualFold(a.Condition, "AND") || (len(a.Regexes) == 0 && len(a.Stopwords) == 0) {
			// Holds only for some files or commits: never for a
			// scanned string.
			return nil, nil
		}
	}
	if len(a.Regexes) == 0 && len(a.Stopwords) == 0 {
		return nil, nil
	}
	al := &allowlist{and: strings.EqualFold(a.Condition, "AND")}
	switch a.RegexTarget {
	case "match":
		al.target = targetMatch
	case "line":
		al.target = targetLine
	}
	for _, whole := range a.Regexes {
		if _, err := regexp.Compile(whole); err != nil {
			return nil, err
		}
		x, err := compileAllowRegex(whole)
		if err != nil {
			return nil, err
		}
		al.res = append(al.res, x)
	}
	if len(a.Stopwords) > 0 {
		words := make([]string, len(a.Stopwords))
		for i, w := range a.Stopwords {
			words[i] = strings.ToLower(w)
		}
		al.stop = newWordSet(words)
	}
	return al, nil
}

// compileAllowRegex compiles one allowlist regex with its literal
// prefilter, and its alternatives when it is split.
func compileAllowRegex(expr string) (allowRegex, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return allowRegex{}, err
	}
	x := allowRegex{re: re}
	if split := splitAlternation(expr); len(split) > 1 {
		for _, sub := range split {
			part, err := compileAllowRegex(sub)
			if err != nil {
				return allowRegex{}, err
			}
			x.parts = append(x.parts, part)
		}
	}
	if p, err := syntax.Parse(expr, syntax.Perl); err == nil {
		if lits, ok := allowLits.required(p.Simplify()); ok && minLen(lits) >= allowMinLit {
			if len(lits) > allowScanLits {
				x.ac = newWordSet(lits)
			} else {
				for _, l := range lits {
					x.lits = append(x.lits, []byte(l))
				}
			}
		}
	}
	return x, nil
}

// litFilter holds where a text, lower-cased, holds one of a set of
// strings: lits, or ac's words when there are many.
type litFilter struct {
	lits [][]byte
	ac   *wordSet
}

func newLitFilter(lits []string) litFilter {
	if len(lits) > allowScanLits {
		return litFilter{ac: newWordSet(lits)}
	}
	var f litFilter
	for _, l := range lits {
		f.lits = append(f.lits, []byte(l))
	}
	return f
}

// holds reports whether low holds one of the filter's strings.
func (f *litFilter) holds(low []byte) bool {
	if f.ac != nil {
		return f.ac.in(low)
	}
	return slices.ContainsFunc(f.lits, func(l []byte) bool { return bytes.Contains(low, l) })
}

// requiredSets returns, for each part of expr's top-level concatenation
// that has one, the set of strings (lower-cased) one of which every
// match of that part, or of the parts from it on, holds: a text where any set has none of its
// strings, lower-cased, has no match. The keyword prefilter keeps one
// set; these are all, so that a rule whose keyword is common ("curl")
// is not run on windows missing another of its parts ("-H").
func requiredSets(expr string) []litFilter {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	parts := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	}
	var fs []litFilter
	for i, p := range parts {
		if !asciiLower(p) {
			continue
		}
		// The strings starting the parts from p on (up to one that is
		// not ASCII), else those inside p.
		j := i
		for j < len(parts) && asciiLower(parts[j]) {
			j++
		}
		lits := requiredLits.prefix(parts[i:j], []string{""})
		if minLen(lits) < allowMinLit {
			lits, _ = requiredLits.required(p)
		}
		if minLen(lits) >= allowMinLit {
			fs = append(fs, newLitFilter(lits))
		}
	}
	return fs
}

// requiredLits bounds requiredSets' sets: the sets of literals a rule's
// parts can start with multiply, and at allowLits' bound building them
// took a second of startup for sets too large to filter well anyway.
const requiredLits litCap = 64

// asciiLower reports whether re's literals and classes are ASCII, with
// no case folding to a non-ASCII rune (k to U+212A, s to U+017F): then
// the lower-cased strings required tells of are in the text's ASCII
// lower-casing wherever a match is.
func asciiLower(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf || re.Flags&syntax.FoldCase != 0 && strings.ContainsRune("kKsS", r) {
				return false
			}
		}
	case syntax.OpCharClass:
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				return false
			}
		}
	}
	for _, sub := range re.Sub {
		if !asciiLower(sub) {
			return false
		}
	}
	return true
}

// maxAllowProg is the size of the largest program the regexp package
// runs with its backtracker rather than its NFA simulation.
const maxAllowProg = 500

// splitAlternation returns the alternatives of expr, a regex whose
// program is larger than maxAllowProg and which is an alternation, as
// regexes of their own; else expr alone. An allowlist regex is only
// asked whether it matches somewhere, and an alternation matches
// somewhere exactly where one of its alternatives does: each
// alternative runs with its own literal prefilter, and with a program
// small enough for the backtracker.
func splitAlternation(expr string) []string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil || re.Op != syntax.OpAlternate {
		return []string{expr}
	}
	if p, err := syntax.Compile(re.Simplify()); err != nil || len(p.Inst) <= maxAllowProg {
		return []string{expr}
	}
	parts := make([]string, len(re.Sub))
	for i, sub := range re.Sub {
		parts[i] = sub.String()
	}
	return parts
}

// secretRule is one compiled gitleaks rule.
type secretRule struct {
	id       string
	detector string // "secret." + id
	rule     string // "gitleaks:" + id
	re       *regexp.Regexp
	entropy  float64
	group    int
	allow    []*allowlist
	score    float64
	// left and right bound how far a match can reach before the start and
	// after the end of one of the rule's keywords; right < 0 when the
	// regex is unbounded (the window then runs to the next blank).
	left, right int
	// assign marks rules of gitleaks' "keyword, then an assignment
	// operator within a few bytes" family: a keyword hit with no
	// operator after it cannot match.
	assign bool
	// keywords (lower case) gate the rule: it runs only near one of
	// them. A rule without keywords runs over the whole text.
	keywords []string
	// np marks Nosey Parker rules: group is the secret's capture group
	// (see npValue), placeholders are not reported, and gitleaks'
	// allowlists do not apply.
	np bool
	// anchor, when set, is the rule's regex anchored at the start: a
	// Nosey Parker rule runs at offset bytes before each keyword hit,
	// where the lead assertions hold, an assignment rule at the start
	// of the identifier holding a keyword, rather than over windows.
	anchor *regexp.Regexp
	offset int
	lead   []syntax.Op
	run    *classRun // when set, a match holds such a run
	// pre, when set, holds where the anchored regex can match.
	pre *prefixFilter
	// short, when set, is anchor for texts of at most shortMax bytes,
	// with a smaller program (see shorten).
	short    *regexp.Regexp
	shortMax int
	// needs are literal sets (see requiredSets) a window must hold one
	// string of each of for the rule's regex to match in it.
	needs []litFilter
}

// assignOps is the operator group of gitleaks' keyword-assignment
// rules, and assignPrefix the identifier their matches start with.
const (
	assignOps    = `(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)`
	assignPrefix = `[\w.-]{0,50}?`
)

// compileGitleaks compiles the embedded rules, leaving out the disabled
// ones, those bound to file paths and those this package replaces.
func compileGitleaks(cfg Config) (rules []secretRule, global []*allowlist, err error) {
	f, err := loadGitleaks()
	if err != nil {
		return nil, nil, err
	}
	g, err := compileAllowlist(f.Allowlist)
	if err != nil {
		return nil, nil, fmt.Errorf("sensitive: gitleaks global allowlist: %w", err)
	}
	if g != nil {
		global = append(global, g)
	}
	for _, r := range f.Rules {
		name := "secret." + r.ID
		if r.Regex == "" || r.Path != "" || len(r.Keywords) == 0 || replacedRules[r.ID] || !cfg.enabled(name) {
			continue
		}
		re, err := regexp.Compile(r.Regex)
		if err != nil {
			return nil, nil, fmt.Errorf("sensitive: gitleaks rule %s: %w", r.ID, err)
		}
		sr := secretRule{id: r.ID, detector: name, rule: "gitleaks:" + r.ID, re: re, entropy: r.Entropy, group: r.SecretGroup, score: 0.9}
		if strings.HasPrefix(r.ID, "generic") {
			sr.score = 0.7
		}
		for _, a := range r.Allowlists {
			al, err := compileAllowlist(a)
			if err != nil {
				return nil, nil, fmt.Errorf("sensitive: gitleaks rule %s allowlist: %w", r.ID, err)
			}
			if al != nil {
				sr.allow = append(sr.allow, al)
			}
		}
		for _, k := range r.Keywords {
			sr.keywords = append(sr.keywords, strings.ToLower(k))
		}
		sr.left, sr.right = windowOf(r.Regex)
		sr.needs = requiredSets(r.Regex)
		sr.assign = strings.Contains(r.Regex, assignOps) && strings.Contains(r.Regex, assignPrefix)
		if sr.assign {
			sr.anchor = regexp.MustCompile(`^(?:` + r.Regex + `)`)
			sr.short, sr.shortMax = shorten(`^(?:` + r.Regex + `)`)
			sr.pre = newPrefixFilter(`^(?:` + r.Regex + `)`)
		}
		rules = append(rules, sr)
	}
	return rules, global, nil
}

// Window bounds for rules whose matches are unbounded or very long.
const (
	maxLeft  = 80
	maxRight = 256
)

// windowOf returns how far before and after a keyword a match of the
// regex can reach: its longest match in bytes, or maxLeft and -1 when it
// is unbounded or longer than maxRight.
func windowOf(expr string) (left, right int) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return maxLeft, -1
	}
	n := maxMatchLen(re.Simplify())
	if n < 0 || n > maxRight {
		return maxLeft, -1
	}
	return min(n, maxLeft), n
}

// maxMatchLen is the longest match of re in bytes, or -1 if unbounded.
func maxMatchLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpNoMatch:
		return 0
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += utf8.RuneLen(r)
			if re.Flags&syntax.FoldCase != 0 {
				n += 2 // a folded rune can be longer (k, K: U+212A)
			}
		}
		return n
	case syntax.OpCharClass:
		hi := rune(0)
		for i := 1; i < len(re.Rune); i += 2 {
			hi = max(hi, re.Rune[i])
		}
		return max(utf8.RuneLen(min(hi, utf8.MaxRune)), 1)
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return utf8.UTFMax
	case syntax.OpCapture:
		return maxMatchLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return -1
	case syntax.OpQuest:
		return maxMatchLen(re.Sub[0])
	case syntax.OpRepeat:
		if re.Max < 0 {
			return -1
		}
		n := maxMatchLen(re.Sub[0])
		if n < 0 {
			return -1
		}
		return n * re.Max
	case syntax.OpConcat:
		t := 0
		for _, s := range re.Sub {
			n := maxMatchLen(s)
			if n < 0 {
				return -1
			}
			t += n
		}
		return t
	case syntax.OpAlternate:
		t := 0
		for _, s := range re.Sub {
			n := maxMatchLen(s)
			if n < 0 {
				return -1
			}
			t = max(t, n)
		}
		return t
	}
	return -1
}
