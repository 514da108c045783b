package termscan

import (
	"cmp"
	"slices"
	"unsafe"
)

// proseBytes take the first byte classes after 0 (the bytes no term
// uses), so that the steps prose takes (a space or a lower-case letter)
// read the first cache line of a state's row.
const proseBytes = " abcdefghijklmnopqrstuvwxyz"

// narrowStates is the most states an automaton may have for its table
// to be narrow (uint16 entries: a state number and a match bit).
const narrowStates = 1 << 15

// dfa is an Aho-Corasick automaton compiled to a dense table.
type dfa struct {
	classes [256]uint8 // byte to alphabet index; 0 for bytes no term uses
	shift   uint8      // log2 of a row's length: the alphabet's size rounded up
	// The table is narrow when the automaton has at most narrowStates
	// states and narrowRow classes: narrow[s<<narrowShift|c] is the
	// number of the state after reading a byte of class c in state s,
	// with the top bit set when that state has outputs. Else
	// wide[s+c] is that state's number premultiplied by the row
	// length, with the top bit set likewise. The narrow table holds a
	// quarter of the bytes per state, so that the steps on a large
	// automaton (the injection lexicon's ASCII one, 18k states) miss the
	// cache less: 2.2 MB instead of 4.5.
	narrow []uint16
	wide   []uint32
	// out[outAt[q]:outAt[q+1]] are the global patterns that end at state
	// q, longest first, repeated patterns in insertion order.
	outAt []uint32
	out   []int32
	lens  []int // pattern lengths by global index
	// depth[q] is how many bytes of the text state q stands for: the
	// length of the longest suffix of the text read that is a prefix of
	// a pattern. No occurrence found later starts before them.
	depth []int32
	// begin[b] is the start state after byte b: 1 after a byte that
	// continues a word, else 0 (as at the text's start).
	begin [256]uint8
}

// The narrow table's row: a fixed length, so that a step shifts by a
// constant.
const (
	narrowShift = 6
	narrowRow   = 1 << narrowShift
)

// newDFA compiles the patterns (their global indexes in ids, their
// lengths by global index in lens) into one automaton, with a wide
// table if wide is set, else one as narrow as it fits. A pattern with
// anchored set is found only where it starts the text or follows a byte
// that word does not hold.
//
// The anchored patterns are those of an automaton over the text with a
// mark # after every byte that does not continue a word (and at its
// start): every pattern is compiled with # after each of its non-word
// bytes but the last, an anchored one with # before it too. The mark is
// read lazily, with the byte after it: a state whose last byte is not a
// word byte steps as its # successor would, and the start state, once
// reached again, is split into one after a word byte and one after
// another byte (or at the text's start). So a state's outputs are those
// of the byte that reached it, and the table has no row for a state
// whose last symbol is #.
func newDFA(pats []string, ids []int32, anchored []bool, lens []int, word *[256]bool, wide bool) *dfa {
	d := &dfa{lens: lens}
	var used [256]bool
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	// Class 0 is the unused bytes that continue words, gap those that do
	// not (when some pattern is anchored; else 0 too).
	n := 1
	gap := uint8(0)
	anyAnchored := slices.Contains(anchored, true)
	assign := func(b int) {
		if used[b] {
			d.classes[b] = uint8(n)
			n++
			used[b] = false
		}
	}
	for _, b := range []byte(proseBytes) {
		assign(int(b))
	}
	if anyAnchored {
		gap = uint8(n)
		n++
	}
	for b := range 256 {
		assign(b)
	}
	nonWord := make([]bool, n) // by class; none without anchored patterns: plain Aho-Corasick
	for b := range 256 {
		if anyAnchored && !word[b] {
			if d.classes[b] == 0 {
				d.classes[b] = gap
			}
			nonWord[d.classes[b]] = true
		}
	}
	for 1<<d.shift < n {
		d.shift++
	}
	w := 1 << d.shift // a row; a power of two, so that a step indexes it with a shift
	mark := uint8(n)  // the class of #, in the trie only
	m := n + 1        // the trie's alphabet

	// The trie, in insertion order, with sparse children.
	type edge struct {
		c  uint8
		to int32
	}
	type node struct {
		kids []edge
		pats []int32 // global patterns ending here, in insertion order
		last uint8   // the class of the symbol that reaches it
	}
	nodes := []node{{}}
	child := func(s int32, c uint8) int32 {
		for _, e := range nodes[s].kids {
			if e.c == c {
				return e.to
			}
		}
		return -1
	}
	step := func(s int32, c uint8) int32 {
		t := child(s, c)
		if t < 0 {
			t = int32(len(nodes))
			nodes = append(nodes, node{last: c})
			nodes[s].kids = append(nodes[s].kids, edge{c, t})
		}
		return t
	}
	for k, p := range pats {
		s := int32(0)
		if anchored[k] {
			s = step(s, mark)
		}
		for i := 0; i < len(p); i++ {
			c := d.classes[p[i]]
			s = step(s, c)
			if nonWord[c] && i+1 < len(p) {
				s = step(s, mark)
			}
		}
		nodes[s].pats = append(nodes[s].pats, ids[k])
	}

	// The full automaton over the trie's alphabet, breadth-first, children
	// in class order: delta[q*m+c], outputs by breadth-first number.
	order := make([]int32, 1, len(nodes))
	num := make([]int32, len(nodes))
	for q := 0; q < len(order); q++ {
		kids := nodes[order[q]].kids
		slices.SortFunc(kids, func(a, b edge) int { return cmp.Compare(a.c, b.c) })
		for _, e := range kids {
			num[e.to] = int32(len(order))
			order = append(order, e.to)
		}
	}
	delta := make([]int32, len(order)*m)
	fail := make([]int32, len(order))
	outs := make([][]int32, len(order))
	for q, s := range order {
		outs[q] = append(outs[q], nodes[s].pats...)
		row := delta[q*m : q*m+m]
		if q > 0 {
			outs[q] = append(outs[q], outs[fail[q]]...)
			copy(row, delta[int(fail[q])*m:int(fail[q])*m+m])
		}
		for _, e := range nodes[s].kids {
			t := num[e.to]
			if q > 0 {
				fail[t] = row[e.c]
			}
			row[e.c] = t
		}
	}
	// Longest first; a repeated pattern in insertion order, as coregx.
	for _, o := range outs {
		slices.SortStableFunc(o, func(a, b int32) int {
			if c := cmp.Compare(lens[b], lens[a]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
	}

	// The table's states: 0 the start after a non-word byte or at the
	// text's start, 1 the start after a word byte, then the trie's states
	// but those reached by #, breadth-first.
	st := make([]int32, len(order)) // trie state to table state, or -1
	states := []int32{0, 0}         // table state to trie state
	for q := 1; q < len(order); q++ {
		st[q] = -1
		if nodes[order[q]].last != mark {
			st[q] = int32(len(states))
			states = append(states, int32(q))
		}
	}
	trans := make([]uint32, len(states)*w)
	d.outAt = make([]uint32, len(states)+1)
	d.depth = make([]int32, len(states))
	depth := make([]int32, len(order)) // by trie state: its bytes of text, marks left out
	for q, s := range order {
		for _, e := range nodes[s].kids {
			depth[num[e.to]] = depth[q]
			if e.c != mark {
				depth[num[e.to]]++
			}
		}
	}
	for b := range 256 {
		if !nonWord[d.classes[b]] {
			d.begin[b] = 1
		}
	}
	for i, q := range states {
		if i > 1 {
			d.depth[i] = depth[q]
		}
		d.outAt[i] = uint32(len(d.out))
		if i > 1 {
			d.out = append(d.out, outs[q]...)
		}
		x := q
		if i == 0 || i > 1 && nonWord[nodes[order[q]].last] {
			x = delta[int(x)*m+int(mark)] // the pending #
		}
		row := trans[i*w : i*w+n]
		for c := range n {
			y := delta[int(x)*m+c]
			t := st[y]
			if y == 0 {
				t = 1
				if nonWord[c] {
					t = 0
				}
			}
			row[c] = uint32(t)
		}
	}
	d.outAt[len(states)] = uint32(len(d.out))
	has := func(q uint32) bool { return d.outAt[q+1] > d.outAt[q] }
	if !wide && len(states) <= narrowStates && w <= narrowRow {
		d.narrow = make([]uint16, len(states)*narrowRow)
		for i, q := range trans {
			if q >= uint32(len(states)) {
				// steps reads the table without bound checks.
				panic("termscan: a narrow table's entry past its states")
			}
			t := uint16(q)
			if has(q) {
				t |= narrowMatch
			}
			d.narrow[i>>d.shift<<narrowShift|i&(w-1)] = t
		}
		return d
	}
	d.wide = make([]uint32, len(trans))
	for i, q := range trans {
		d.wide[i] = q << d.shift
		if has(q) {
			d.wide[i] |= wideMatch
		}
	}
	return d
}

// The match bits of the tables' entries.
const (
	narrowMatch = 1 << 15
	wideMatch   = 1 << 31
)

// emit appends the outputs of state q, reached at end.
func (d *dfa) emit(dst []Match, q uint32, end int) []Match {
	for _, p := range d.out[d.outAt[q]:d.outAt[q+1]] {
		dst = append(dst, Match{int(p), end - d.lens[p], end})
	}
	return dst
}

// emitBefore appends the outputs of state q, reached at end, that start
// before bound.
func (d *dfa) emitBefore(dst []Match, q uint32, end, bound int) []Match {
	for _, p := range d.out[d.outAt[q]:d.outAt[q+1]] {
		if start := end - d.lens[p]; start < bound {
			dst = append(dst, Match{int(p), start, end})
		}
	}
	return dst
}

// lanes is how many interleaved lanes a text is read in, and laneMin the
// shortest text read in lanes. Four lanes of L steps cost about L
// dependent loads where one chain costs len(text).
const (
	lanes   = 4
	laneMin = 32
)

// find appends the occurrences in text, ordered by end and, at one end,
// longest first. lane holds the buffers of lanes 1 to 3, carry that of
// the occurrences a lane finds past its range.
//
// The text is cut into four ranges read in lockstep, each from the start
// state (after the byte before it, for the word-start patterns): lane k
// finds the occurrences that start in its range or after. Past its range
// a lane reads on (carry) while its state stands for bytes of its range,
// for the occurrences that start in its range and end past it; the next
// lane has the others. So the lanes read the text once, plus a few bytes
// at each border.
func (d *dfa) find(dst []Match, text string, lane *[lanes - 1][]Match, carry *[]Match) []Match {
	if d.narrow != nil {
		return find(d, narrowTable{d}, dst, text, lane, carry)
	}
	return find(d, wideTable{d}, dst, text, lane, carry)
}

// table is one of the two tables' steps: its entries T, whose match bit
// is mb.
type table[T uint16 | uint32] interface {
	// steps advances the lanes of find from step i, lane k in state st[k]
	// reading text[k*D+i], until one reaches a state with outputs
	// (returning that step, and the entries reached, whose match bits
	// say which have outputs) or step L.
	steps(text string, i, L, D int, st [lanes]T) (int, [lanes]T)
	// resume reads text[i:hi] from state s and appends the occurrences
	// that end there; it returns the state reached.
	resume(dst []Match, text string, s T, i, hi int) ([]Match, T)
	// carry reads text from byte i in state s while s stands for bytes
	// before bound, and appends the occurrences that start before bound.
	carry(dst []Match, text string, s T, i, bound int) []Match
	// state returns the number of the state of an entry.
	state(t T) uint32
	// begin returns the start state at byte i of text.
	begin(text string, i int) T
	mb() T
}

// find is dfa.find over the table tb.
func find[T uint16 | uint32, Tab table[T]](d *dfa, tb Tab, dst []Match, text string, lane *[lanes - 1][]Match, carry *[]Match) []Match {
	if len(text) < laneMin {
		dst, _ = tb.resume(dst, text, tb.begin(text, 0), 0, len(text))
		return dst
	}
	mb := tb.mb()
	// Lane k reads text[k*L+i] at step i; the last lane also the bytes
	// past 4L.
	n := len(dst)
	L := len(text) / lanes
	_ = text[lanes*L-1] // the last byte the steps read
	for k := range lane {
		lane[k] = lane[k][:0]
	}
	var st [lanes]T
	for k := range st {
		st[k] = tb.begin(text, k*L)
	}
	for i := 0; i < L; i++ {
		if i, st = tb.steps(text, i, L, L, st); i == L {
			break
		}
		if st[0]&mb != 0 {
			dst = d.emit(dst, tb.state(st[0]), i+1)
		}
		if st[1]&mb != 0 {
			lane[0] = d.emit(lane[0], tb.state(st[1]), L+i+1)
		}
		if st[2]&mb != 0 {
			lane[1] = d.emit(lane[1], tb.state(st[2]), 2*L+i+1)
		}
		if st[3]&mb != 0 {
			lane[2] = d.emit(lane[2], tb.state(st[3]), 3*L+i+1)
		}
	}
	for k := range st {
		st[k] &^= mb
	}
	// The last lane's tail, then each lane's carry past its range merged
	// with the next lane's list by end. A carry that ends past the next
	// lane's range (lanes shorter than a term) is put in place by a sort.
	lane[lanes-2], _ = tb.resume(lane[lanes-2], text, st[lanes-1], lanes*L, len(text))
	sorted := true
	for k := 0; k < lanes-1; k++ {
		*carry = tb.carry((*carry)[:0], text, st[k], (k+1)*L, (k+1)*L)
		next := lane[k]
		if c := *carry; len(c) > 0 && k < lanes-2 && c[len(c)-1].End > (k+2)*L {
			sorted = false
		}
		dst = merge(dst, *carry, next)
	}
	if !sorted {
		slices.SortFunc(dst[n:], compareMatches)
	}
	return dst
}

// merge appends the matches of a and b, each ordered by compareMatches,
// to dst in that order.
func merge(dst, a, b []Match) []Match {
	if len(a) == 0 {
		return append(dst, b...)
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if compareMatches(a[i], b[j]) <= 0 {
			dst = append(dst, a[i])
			i++
		} else {
			dst = append(dst, b[j])
			j++
		}
	}
	dst = append(dst, a[i:]...)
	return append(dst, b[j:]...)
}

// compareMatches orders matches by end and, at one end, longest first,
// then by pattern.
func compareMatches(a, b Match) int {
	if c := cmp.Compare(a.End, b.End); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.PatternID, b.PatternID)
}

// The two tables.
var (
	_ table[uint16] = narrowTable{}
	_ table[uint32] = wideTable{}
)

// narrowTable steps through d.narrow.
type narrowTable struct{ d *dfa }

func (narrowTable) mb() uint16            { return narrowMatch }
func (narrowTable) state(t uint16) uint32 { return uint32(t &^ narrowMatch) }

// steps implements table. Its loop makes no call, so that the four
// states stay in registers.
//
//go:noinline
func (tb narrowTable) steps(text string, i, L, D int, st [lanes]uint16) (int, [lanes]uint16) {
	// The table's entries are read without bound checks: a state
	// number is below the table's row count and a class below
	// narrowRow, which newDFA checks of every entry (see narrowAt).
	trans, classes := unsafe.Pointer(unsafe.SliceData(tb.d.narrow)), &tb.d.classes
	s0, s1, s2, s3 := uint(st[0]&^narrowMatch), uint(st[1]&^narrowMatch), uint(st[2]&^narrowMatch), uint(st[3]&^narrowMatch)
	// The lanes' bytes, read without bound checks once the last one
	// is checked: text[k*D+j] for j < L.
	if i >= L {
		return i, [lanes]uint16{uint16(s0), uint16(s1), uint16(s2), uint16(s3)}
	}
	_ = text[3*D+L-1]
	t := unsafe.Pointer(unsafe.StringData(text))
	t1, t2, t3 := unsafe.Add(t, D), unsafe.Add(t, 2*D), unsafe.Add(t, 3*D)
	j := uint(i)
	for ; j < uint(L); j++ {
		x0 := narrowAt(trans, s0<<narrowShift|uint(classes[*(*byte)(unsafe.Add(t, j))]))
		x1 := narrowAt(trans, s1<<narrowShift|uint(classes[*(*byte)(unsafe.Add(t1, j))]))
		x2 := narrowAt(trans, s2<<narrowShift|uint(classes[*(*byte)(unsafe.Add(t2, j))]))
		x3 := narrowAt(trans, s3<<narrowShift|uint(classes[*(*byte)(unsafe.Add(t3, j))]))
		if (x0|x1|x2|x3)&narrowMatch != 0 {
			return int(j), [lanes]uint16{x0, x1, x2, x3}
		}
		s0, s1, s2, s3 = uint(x0), uint(x1), uint(x2), uint(x3)
	}
	return int(j), [lanes]uint16{uint16(s0), uint16(s1), uint16(s2), uint16(s3)}
}

// narrowAt returns entry k of the narrow table at trans, with no bound
// check: k is a state's row (a state number below the table's row count,
// shifted by narrowShift) plus a class below narrowRow. The state
// numbers come from the table's own entries, which newDFA checks are
// all below its row count, or from begin (0 or 1).
func narrowAt(trans unsafe.Pointer, k uint) uint16 {
	return *(*uint16)(unsafe.Add(trans, k*2))
}

// resume implements table.
func (tb narrowTable) resume(dst []Match, text string, s uint16, i, hi int) ([]Match, uint16) {
	d := tb.d
	for ; i < hi; i++ {
		t := d.narrow[uint(s)<<narrowShift|uint(d.classes[text[i]])]
		s = t &^ narrowMatch
		if t&narrowMatch != 0 {
			dst = d.emit(dst, uint32(s), i+1)
		}
	}
	return dst, s
}

// carry implements table.
func (tb narrowTable) carry(dst []Match, text string, s uint16, i, bound int) []Match {
	d := tb.d
	for ; i < len(text) && i-int(d.depth[s]) < bound; i++ {
		t := d.narrow[uint(s)<<narrowShift|uint(d.classes[text[i]])]
		s = t &^ narrowMatch
		if t&narrowMatch != 0 {
			dst = d.emitBefore(dst, uint32(s), i+1, bound)
		}
	}
	return dst
}

// begin implements table.
func (tb narrowTable) begin(text string, i int) uint16 {
	if i == 0 {
		return 0
	}
	return uint16(tb.d.begin[text[i-1]])
}

// wideTable steps through d.wide.
type wideTable struct{ d *dfa }

func (wideTable) mb() uint32               { return wideMatch }
func (tb wideTable) state(t uint32) uint32 { return (t &^ wideMatch) >> tb.d.shift }

// steps implements table. Its loop makes no call, so that the four
// states stay in registers.
//
//go:noinline
func (tb wideTable) steps(text string, i, L, D int, st [lanes]uint32) (int, [lanes]uint32) {
	trans, classes := tb.d.wide, &tb.d.classes
	s0, s1, s2, s3 := st[0]&^wideMatch, st[1]&^wideMatch, st[2]&^wideMatch, st[3]&^wideMatch
	t0 := text[:L]
	t1, t2, t3 := text[D:][:len(t0)], text[2*D:][:len(t0)], text[3*D:][:len(t0)]
	j := uint(i)
	for ; j < uint(len(t0)); j++ {
		x0 := trans[s0+uint32(classes[t0[j]])]
		x1 := trans[s1+uint32(classes[t1[j]])]
		x2 := trans[s2+uint32(classes[t2[j]])]
		x3 := trans[s3+uint32(classes[t3[j]])]
		if (x0|x1|x2|x3)&wideMatch != 0 {
			return int(j), [lanes]uint32{x0, x1, x2, x3}
		}
		s0, s1, s2, s3 = x0, x1, x2, x3
	}
	return int(j), [lanes]uint32{s0, s1, s2, s3}
}

// resume implements table.
func (tb wideTable) resume(dst []Match, text string, s uint32, i, hi int) ([]Match, uint32) {
	d := tb.d
	for ; i < hi; i++ {
		t := d.wide[s+uint32(d.classes[text[i]])]
		s = t &^ wideMatch
		if t&wideMatch != 0 {
			dst = d.emit(dst, s>>d.shift, i+1)
		}
	}
	return dst, s
}

// carry implements table.
func (tb wideTable) carry(dst []Match, text string, s uint32, i, bound int) []Match {
	d := tb.d
	for ; i < len(text) && i-int(d.depth[s>>d.shift]) < bound; i++ {
		t := d.wide[s+uint32(d.classes[text[i]])]
		s = t &^ wideMatch
		if t&wideMatch != 0 {
			dst = d.emitBefore(dst, s>>d.shift, i+1, bound)
		}
	}
	return dst
}

// begin implements table.
func (tb wideTable) begin(text string, i int) uint32 {
	if i == 0 {
		return 0
	}
	return uint32(tb.d.begin[text[i-1]]) << tb.d.shift
}
