package sensitive

import (
	"regexp"
	"regexp/syntax"
	"unicode"
	"unicode/utf8"
)

// Prefilters: cheap necessary conditions for a rule's regex to match,
// tested before the regex so that the regexp engine (a backtracker or an
// NFA simulation, whose cost grows with the program's size) runs only
// where a match is possible. A prefilter never rejects text the regex
// matches; the tests hold each one to that against its regex.

// posFilterMax bounds the number of leading characters a posFilter
// tests.
const posFilterMax = 32

// posFilter is a necessary condition for an anchored regex to match at
// a position: what each of the first characters of every match can be.
// It stops at the first position where a match may end.
type posFilter struct {
	sets []posSet
}

// posSet is what one character of a match can be: the ASCII bytes in
// ascii, and any other character when other is set.
type posSet struct {
	ascii [2]uint64
	other bool
}

// newPosFilter computes the filter of the regex expr, anchored at its
// start, in RE2 syntax (the package regexp's): nil when it tests
// nothing.
func newPosFilter(expr string) *posFilter {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil
	}
	f := &posFilter{}
	cur := closure(prog, nil, []uint32{uint32(prog.Start)})
	for range posFilterMax {
		var set posSet
		var next []uint32
		for _, pc := range cur {
			in := &prog.Inst[pc]
			switch in.Op {
			case syntax.InstMatch:
				return f.orNil()
			case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				set.other = set.other || mayMatchNonASCII(in)
				for b := range rune(utf8.RuneSelf) {
					if in.MatchRune(b) {
						set.ascii[b>>6] |= 1 << (b & 63)
					}
				}
				next = append(next, in.Out)
			}
		}
		f.sets = append(f.sets, set)
		if len(next) == 0 {
			break
		}
		cur = closure(prog, nil, next)
	}
	return f.orNil()
}

func (f *posFilter) orNil() *posFilter {
	if len(f.sets) == 0 {
		return nil
	}
	return f
}

// closure appends to dst the instructions reachable from pcs without
// reading a character (empty-width assertions are taken as holding),
// leaving out those that only lead elsewhere; each once.
func closure(prog *syntax.Prog, dst []uint32, pcs []uint32) []uint32 {
	seen := make(map[uint32]bool)
	var walk func(pc uint32)
	walk = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			walk(in.Out)
			walk(in.Arg)
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			walk(in.Out)
		case syntax.InstFail:
		default:
			dst = append(dst, pc)
		}
	}
	for _, pc := range pcs {
		walk(pc)
	}
	return dst
}

// mayMatchNonASCII reports whether in can match a character outside
// ASCII (or an invalid byte, which the regexp package reads as
// U+FFFD), case folding included: with (?i), k matches the Kelvin sign
// and s the long s.
func mayMatchNonASCII(in *syntax.Inst) bool {
	switch in.Op {
	case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true
	}
	rs := in.Rune
	if len(rs) == 1 {
		if rs[0] >= utf8.RuneSelf {
			return true
		}
		if syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
			for r := unicode.SimpleFold(rs[0]); r != rs[0]; r = unicode.SimpleFold(r) {
				if r >= utf8.RuneSelf {
					return true
				}
			}
		}
		return false
	}
	for i := 0; i+1 < len(rs); i += 2 {
		if rs[i+1] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// holds reports whether the regex can match at the start of t: t has
// enough characters, each in its set. Characters are read as the regexp
// package reads them (an invalid byte is one U+FFFD).
func (f *posFilter) holds(t string) bool {
	i := 0
	for _, set := range f.sets {
		if i >= len(t) {
			return false
		}
		c := t[i]
		if c < utf8.RuneSelf {
			if set.ascii[c>>6]&(1<<(c&63)) == 0 {
				return false
			}
			i++
			continue
		}
		if !set.other {
			return false
		}
		_, n := utf8.DecodeRuneInString(t[i:])
		i += n
	}
	return true
}

// longRepeat is the smallest upper bound of a repetition that
// shorten drops.
const longRepeat = 64

// shorten returns expr with every repetition of more than longRepeat
// times something that cannot be empty left unbounded ({10,150} becomes
// {10,}), and the smallest bound it dropped; nil when there is none.
//
// On a text of at most that many bytes the two regexes are the same
// (no repetition can run past its bound), and the short one's program
// is much smaller: the regexp package runs a program of more than 500
// instructions with its NFA simulation, at the program's size per byte,
// and a smaller one with its backtracker.
func shorten(expr string) (*regexp.Regexp, int) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, 0
	}
	bound := shortenTree(re, -1)
	if bound < 0 {
		return nil, 0
	}
	s, err := regexp.Compile(re.String())
	if err != nil {
		return nil, 0
	}
	return s, bound
}

// shortenTree shortens re in place; bound is the smallest bound dropped
// so far, or -1; it returns it updated.
func shortenTree(re *syntax.Regexp, bound int) int {
	for _, sub := range re.Sub {
		bound = shortenTree(sub, bound)
	}
	if re.Op == syntax.OpRepeat && re.Max > longRepeat && minWidth(re.Sub[0]) > 0 {
		if bound < 0 || re.Max < bound {
			bound = re.Max
		}
		re.Max = -1
	}
	return bound
}

// minWidth is the length in characters of the shortest text re matches.
func minWidth(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minWidth(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minWidth(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, sub := range re.Sub {
			n += minWidth(sub)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, sub := range re.Sub {
			if w := minWidth(sub); n < 0 || w < n {
				n = w
			}
		}
		return max(n, 0)
	}
	return 0
}
