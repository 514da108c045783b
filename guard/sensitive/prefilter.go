package sensitive

import (
	"encoding/binary"
	"math/bits"
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

// prefixMax bounds the number of leading characters a prefixFilter
// reads.
const prefixMax = 32

// prefixFilter is a necessary condition for an anchored regex to match
// at the start of a text: the regex's program run over the first
// prefixMax characters as a set of states, with every empty-width
// assertion taken as holding. It rejects a text where no state is left
// before a match could have ended; it never reads past a state set
// that could match. The sets a text's first characters lead to are
// mostly a few, met again and again: they are numbered and their
// transitions tabled (a DFA) when the filter is built, so that a
// character costs a table load instead of a step of every state in the
// set; past the table's bounds the sets are run as they are.
type prefixFilter struct {
	insts []prefixInst // the program's character-reading instructions
	start []uint64     // states before the first character
	match bool         // the regex matches the empty text
	words int          // uint64 words per state set
	// The state sets the first characters can reach, as a DFA built
	// when the filter is: state 0 is start, set(q) state q's set, and
	// trans[q*stride+k] what reading a character of class k in state q
	// leads to: a state, or preFalse, preTrue, or preUnbuilt past the
	// DFA's bounds, where holds runs the sets on from set(q).
	// Class k < stride-1 is the ASCII bytes classes maps to k (bytes no
	// instruction tells apart); stride-1 is any other character.
	classes [utf8.RuneSelf]uint8
	stride  int
	trans   []int16
	sets    []uint64
}

// What a DFA transition of a prefixFilter leads to besides a state.
const (
	preFalse   = -1 // no state is left: the regex cannot match
	preTrue    = -2 // a match can end here
	preUnbuilt = -3 // past the DFA's bound: run the state sets
)

// The bounds on a prefixFilter's DFA: its table's entries, and the
// characters it reads (most texts are decided in fewer).
const (
	preMaxEntries = 1 << 12
	preDepth      = prefixMax
)

// prefixInst is one character-reading instruction: the ASCII bytes it
// takes, whether it takes any other character, and the states (and
// whether a match) reachable right after it. The states are kept as the
// nonzero words of their set only (a state is followed by a few others
// of a program of hundreds): word nextAt[i] is next[i].
type prefixInst struct {
	ascii  [2]uint64
	other  bool
	next   []uint64
	nextAt []uint16
	match  bool
}

// newPrefixFilter compiles the filter of the regex expr, anchored at
// its start, in RE2 syntax (the package regexp's); nil when expr does
// not parse.
func newPrefixFilter(expr string) *prefixFilter {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil
	}
	dense := make(map[uint32]int)
	for pc := range prog.Inst {
		switch prog.Inst[pc].Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			dense[uint32(pc)] = len(dense)
		}
	}
	f := &prefixFilter{insts: make([]prefixInst, len(dense)), words: (len(dense) + 63) / 64}
	f.start, f.match = f.closure(prog, dense, uint32(prog.Start))
	for pc, i := range dense {
		in := &prog.Inst[pc]
		pi := &f.insts[i]
		pi.other = mayMatchNonASCII(in)
		for b := range rune(utf8.RuneSelf) {
			if in.MatchRune(b) {
				pi.ascii[b>>6] |= 1 << (b & 63)
			}
		}
		next, match := f.closure(prog, dense, in.Out)
		pi.match = match
		for k, x := range next {
			if x != 0 {
				pi.next = append(pi.next, x)
				pi.nextAt = append(pi.nextAt, uint16(k))
			}
		}
	}
	f.build()
	return f
}

// build makes the DFA of the state sets the first preDepth characters
// reach, breadth-first, up to preMaxEntries entries; the transitions
// past those bounds are preUnbuilt.
func (f *prefixFilter) build() {
	// Byte classes: the ASCII bytes every instruction takes or not alike.
	sig := make([]byte, len(f.insts))
	index := map[string]uint8{}
	var reps []byte // a byte of each class
	for c := range byte(utf8.RuneSelf) {
		for i := range f.insts {
			sig[i] = byte(f.insts[i].ascii[c>>6] >> (c & 63) & 1)
		}
		k, ok := index[string(sig)]
		if !ok {
			k = uint8(len(reps))
			index[string(sig)] = k
			reps = append(reps, c)
		}
		f.classes[c] = k
	}
	f.stride = len(reps) + 1
	states := map[string]int16{}
	key := make([]byte, 8*f.words)
	add := func(set []uint64) int16 {
		for i, x := range set {
			binary.LittleEndian.PutUint64(key[8*i:], x)
		}
		if q, ok := states[string(key)]; ok {
			return q
		}
		q := len(f.trans) / f.stride
		if (q+1)*f.stride > preMaxEntries {
			return preUnbuilt
		}
		states[string(key)] = int16(q)
		f.sets = append(f.sets, set...)
		f.trans = append(f.trans, make([]int16, f.stride)...)
		return int16(q)
	}
	add(f.start)
	next := make([]uint64, f.words)
	for depth, lo := 0, 0; lo < len(f.trans)/f.stride; depth++ {
		hi := len(f.trans) / f.stride
		for q := lo; q < hi; q++ {
			for k := range f.stride {
				// add appends to f.trans and f.sets: they are read and
				// written by index, never through a slice add may
				// outgrow.
				at := q*f.stride + k
				if depth >= preDepth {
					f.trans[at] = preUnbuilt
					continue
				}
				c, ascii := byte(0), false
				if k < len(reps) {
					c, ascii = reps[k], true
				}
				clear(next)
				switch f.step(f.set(q), c, ascii, next) {
				case stepMatch:
					f.trans[at] = preTrue
				case stepDead:
					f.trans[at] = preFalse
				default:
					f.trans[at] = add(next)
				}
			}
		}
		lo = hi
	}
}

// set returns the state set of DFA state q.
func (f *prefixFilter) set(q int) []uint64 { return f.sets[q*f.words : (q+1)*f.words] }

// The outcomes of prefixFilter.step.
const (
	stepAlive = iota
	stepMatch
	stepDead
)

// step reads one character from the states in cur: the ASCII byte c
// when ascii is set, else any other character. It returns stepMatch
// when a state that takes it can end a match, stepDead when no state
// takes it, else stepAlive with the states after it added to next
// (which must be clear).
func (f *prefixFilter) step(cur []uint64, c byte, ascii bool, next []uint64) int {
	alive := false
	for wi, word := range cur {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &= word - 1
			in := &f.insts[wi<<6|b]
			if ascii && in.ascii[c>>6]&(1<<(c&63)) == 0 || !ascii && !in.other {
				continue
			}
			if in.match {
				return stepMatch
			}
			for k, x := range in.next {
				next[in.nextAt[k]] |= x
			}
			alive = true
		}
	}
	if !alive {
		return stepDead
	}
	return stepAlive
}

// closure returns the character-reading states reachable from pc
// without reading a character, and whether a match is.
func (f *prefixFilter) closure(prog *syntax.Prog, dense map[uint32]int, pc uint32) ([]uint64, bool) {
	set := make([]uint64, f.words)
	match := false
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
		case syntax.InstMatch:
			match = true
		case syntax.InstFail:
		default:
			i := dense[pc]
			set[i>>6] |= 1 << (i & 63)
		}
	}
	walk(pc)
	return set, match
}

// holds reports whether the regex can match at the start of t.
// Characters are read as the regexp package reads them (an invalid
// byte is one U+FFFD). buf is scratch space, returned for reuse.
func (f *prefixFilter) holds(t string, buf []uint64) (bool, []uint64) {
	if f.match {
		return true, buf
	}
	q := 0
	for i, n := 0, 0; n < prefixMax; n++ {
		if i >= len(t) {
			return false, buf
		}
		c, w := t[i], 1
		k := f.stride - 1
		if c < utf8.RuneSelf {
			k = int(f.classes[c])
		} else {
			_, w = utf8.DecodeRuneInString(t[i:])
		}
		switch x := f.trans[q*f.stride+k]; x {
		case preFalse:
			return false, buf
		case preTrue:
			return true, buf
		case preUnbuilt:
			return f.run(t, i, n, f.set(q), buf)
		default:
			q = int(x)
		}
		i += w
	}
	return true, buf
}

// run is holds from character n, at byte i of t, in the states of
// set: the state sets run one character at a time.
func (f *prefixFilter) run(t string, i, n int, set []uint64, buf []uint64) (bool, []uint64) {
	if cap(buf) < 2*f.words {
		buf = make([]uint64, 2*f.words)
	}
	buf = buf[:2*f.words]
	cur, next := buf[:f.words], buf[f.words:]
	copy(cur, set)
	for ; n < prefixMax; n++ {
		if i >= len(t) {
			return false, buf
		}
		c, w := t[i], 1
		ascii := c < utf8.RuneSelf
		if !ascii {
			_, w = utf8.DecodeRuneInString(t[i:])
		}
		i += w
		clear(next)
		switch f.step(cur, c, ascii, next) {
		case stepMatch:
			return true, buf
		case stepDead:
			return false, buf
		}
		cur, next = next, cur
	}
	return true, buf
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
