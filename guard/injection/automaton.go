package injection

import (
	"cmp"
	"encoding/binary"
	"slices"
	"unsafe"
)

// The lexicon matcher. Every Detect reads every byte of the folded text
// through Aho-Corasick automata, which makes them the detector's main
// cost. They were one github.com/coregx/ahocorasick automaton over all
// 3,700 terms: 32k states of 256 transitions (its byte classes give
// every byte a term uses its own class and round the row up to a power
// of two), numbered in insertion order, a 32 MB table whose steps missed
// the cache, searched in one dependent chain of loads, with a new slice
// of matches per call. The matcher here reports exactly the occurrences,
// in exactly the order, that automaton's FindAllOverlapping reports
// (automaton_test.go checks it against one on the development set and in
// FuzzMatcher), at about twice the speed on the development set:
//
//   - The terms are split by the lead byte of their first non-ASCII
//     character into an ASCII automaton, run over every text, and one
//     automaton per script block, run only over texts that contain one of
//     the block's lead bytes. A term is found only in a text that holds
//     all of its bytes, so the gate never skips an occurrence, and an
//     English prompt pays for the ASCII terms only.
//   - Each automaton is a dense DFA with states numbered breadth-first,
//     so that the shallow states, where prose spends most of its steps,
//     share pages; its alphabet is the bytes its own terms use, a space
//     and the lower-case letters first, so that a step on prose reads
//     the first two cache lines of a row.
//   - A text longer than a few terms is read in four interleaved lanes
//     whose ranges overlap by the longest term less one byte, so that four
//     independent table loads are in flight instead of one. Each lane
//     keeps the occurrences that end in its own range, and the lanes'
//     lists are concatenated in order.
//   - Occurrences are appended to the caller's slices: no allocation once
//     the detector's pooled scratch has grown.
//
// coregx stays as the reference in the tests. It offers no interleaved or
// allocation-free overlapping search, nor a say in its table's layout.

// match is one occurrence of a term: the global pattern index and the
// byte offset just past it. Its start is end minus the term's length.
type match struct {
	pat, end int32
}

// matchBit marks a transition into a state that has outputs.
const matchBit = 1 << 31

// proseBytes take the first byte classes after 0 (the bytes no term
// uses), so that the steps prose takes (a space or a lower-case letter)
// read the first two cache lines of a state's row.
const proseBytes = " abcdefghijklmnopqrstuvwxyz"

// dfa is an Aho-Corasick automaton compiled to a dense table.
type dfa struct {
	classes [256]uint8 // byte to alphabet index; 0 for bytes no term uses
	shift   uint8      // log2 of a row's length: the alphabet's size rounded up
	// trans[s+c] is the state after reading a byte of class c in state
	// s, both premultiplied by the row length, with matchBit set when that state
	// has outputs.
	trans []uint32
	// out[outAt[q]:outAt[q+1]] are the global patterns that end at state
	// q, longest first.
	outAt []uint32
	out   []int32
}

// newDFA compiles the patterns (their global indexes in ids) into one
// automaton.
func newDFA(pats []string, ids []int32) *dfa {
	d := &dfa{}
	var used [256]bool
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	n := 1
	for _, b := range []byte(proseBytes) {
		if used[b] {
			d.classes[b] = uint8(n)
			n++
			used[b] = false
		}
	}
	for b := range 256 {
		if used[b] {
			d.classes[b] = uint8(n)
			n++
		}
	}
	for 1<<d.shift < n {
		d.shift++
	}
	w := 1 << d.shift // a row; a power of two, so that emit finds a state's number with a shift

	// The trie, in insertion order, with sparse children.
	type edge struct {
		c  uint8
		to int32
	}
	type node struct {
		kids []edge
		pat  int32 // global pattern ending here, or -1
	}
	nodes := []node{{pat: -1}}
	child := func(s int32, c uint8) int32 {
		for _, e := range nodes[s].kids {
			if e.c == c {
				return e.to
			}
		}
		return -1
	}
	for k, p := range pats {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := d.classes[p[i]]
			t := child(s, c)
			if t < 0 {
				t = int32(len(nodes))
				nodes = append(nodes, node{pat: -1})
				nodes[s].kids = append(nodes[s].kids, edge{c, t})
			}
			s = t
		}
		nodes[s].pat = ids[k] // the caller passes distinct patterns
	}

	// Breadth-first numbering, children in class order.
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

	// Rows in breadth-first order: a state's missing transitions are
	// those of its failure state, which is shallower and so done.
	d.trans = make([]uint32, len(order)*w)
	fail := make([]int32, len(order))
	outs := make([][]int32, len(order))
	for q, s := range order {
		if p := nodes[s].pat; p >= 0 {
			outs[q] = append(outs[q], p)
		}
		if q > 0 {
			outs[q] = append(outs[q], outs[fail[q]]...)
		}
		row := d.trans[q*w : q*w+n]
		if q > 0 {
			f := int(fail[q]) * w
			copy(row, d.trans[f:f+n])
		}
		for _, e := range nodes[s].kids {
			t := num[e.to]
			if q > 0 {
				fail[t] = int32(row[e.c] >> d.shift)
			}
			row[e.c] = uint32(t) << d.shift
		}
	}
	d.outAt = make([]uint32, len(order)+1)
	for q := range order {
		d.outAt[q] = uint32(len(d.out))
		d.out = append(d.out, outs[q]...)
	}
	d.outAt[len(order)] = uint32(len(d.out))
	for i, t := range d.trans {
		if q := t >> d.shift; d.outAt[q+1] > d.outAt[q] {
			d.trans[i] = t | matchBit
		}
	}
	return d
}

// outputs reports whether state s (premultiplied) has outputs.
func (d *dfa) outputs(s uint32) bool {
	q := s >> d.shift
	return d.outAt[q+1] > d.outAt[q]
}

// emit appends the outputs of state s (premultiplied, without matchBit),
// reached at end, when end > after.
func (d *dfa) emit(dst []match, s uint32, end, after int) []match {
	if end <= after {
		return dst
	}
	q := s >> d.shift
	for _, p := range d.out[d.outAt[q]:d.outAt[q+1]] {
		dst = append(dst, match{p, int32(end)})
	}
	return dst
}

// run reads text[lo:hi] from the start state and appends the occurrences
// that end after the offset after.
func (d *dfa) run(dst []match, text string, lo, hi, after int) []match {
	trans, classes := d.trans, &d.classes
	s := uint32(0)
	for i := lo; i < hi; i++ {
		t := trans[s+uint32(classes[text[i]])]
		s = t &^ matchBit
		if t&matchBit != 0 {
			dst = d.emit(dst, s, i+1, after)
		}
	}
	return dst
}

// lanes is how many interleaved lanes a text is read in, and laneMin the
// shortest lane, in multiples of the longest term (a lane must be longer
// than the overlap). Four lanes of L steps cost about L dependent loads
// where one chain costs len(text), so lanes pay from about twice the
// longest term: a 200-byte prompt takes 94 steps instead of 200.
const (
	lanes   = 4
	laneMin = 1
)

// find appends the occurrences in text, ordered by end and, at one end,
// longest first. maxLen is the longest term in bytes; lane holds the
// buffers of lanes 1 to 3.
func (d *dfa) find(dst []match, text string, maxLen int, lane *[lanes - 1][]match) []match {
	// Lanes of equal length L; lane k > 0 starts maxLen-1 bytes before
	// b[k], the first end it keeps.
	ov := maxLen - 1
	L := (len(text) + (lanes-1)*ov) / lanes
	if L < laneMin*maxLen {
		return d.run(dst, text, 0, len(text), -1)
	}
	var lo, hi, b [lanes]int
	b[0] = -1
	for k := 1; k < lanes; k++ {
		b[k] = k*(L-ov) + ov
		lo[k] = b[k] - ov
		hi[k-1] = b[k]
	}
	hi[lanes-1] = len(text)
	// Lane k reads text[k*D+i] at step i.
	D := L - ov
	_ = text[lanes*D+ov-1] // the last byte the steps read
	for k := range lane {
		lane[k] = lane[k][:0]
	}
	var st [lanes]uint32
	for i := 0; i < L; i++ {
		if i, st = d.steps(text, i, L, D, st); i == L {
			break
		}
		if d.outputs(st[0]) {
			dst = d.emit(dst, st[0], i+1, b[0])
		}
		if d.outputs(st[1]) {
			lane[0] = d.emit(lane[0], st[1], D+i+1, b[1])
		}
		if d.outputs(st[2]) {
			lane[1] = d.emit(lane[1], st[2], 2*D+i+1, b[2])
		}
		if d.outputs(st[3]) {
			lane[2] = d.emit(lane[2], st[3], 3*D+i+1, b[3])
		}
	}
	s0, s1, s2, s3 := st[0], st[1], st[2], st[3]
	n := L
	// The lanes' tails, one at a time, then the lists in order.
	dst = d.resume(dst, text, s0, lo[0]+n, hi[0], b[0])
	for k := 1; k < lanes; k++ {
		s := [...]uint32{s1, s2, s3}[k-1]
		lane[k-1] = d.resume(lane[k-1], text, s, lo[k]+n, hi[k], b[k])
		dst = append(dst, lane[k-1]...)
	}
	return dst
}

// steps advances the lanes of find from step i, lane k in state st[k]
// reading text[k*D+i], until one reaches a state with outputs (returning
// that step) or step L. Its loop makes no call, so that the four states
// stay in registers.
//
//go:noinline
func (d *dfa) steps(text string, i, L, D int, st [lanes]uint32) (int, [lanes]uint32) {
	trans, classes := d.trans, &d.classes
	s0, s1, s2, s3 := st[0], st[1], st[2], st[3]
	for ; i < L; i++ {
		x0 := trans[s0+uint32(classes[text[i]])]
		x1 := trans[s1+uint32(classes[text[i+D]])]
		x2 := trans[s2+uint32(classes[text[i+2*D]])]
		x3 := trans[s3+uint32(classes[text[i+3*D]])]
		s0, s1, s2, s3 = x0&^matchBit, x1&^matchBit, x2&^matchBit, x3&^matchBit
		if (x0|x1|x2|x3)&matchBit != 0 {
			break
		}
	}
	return i, [lanes]uint32{s0, s1, s2, s3}
}

// resume continues run from state s at text[i].
func (d *dfa) resume(dst []match, text string, s uint32, i, hi, after int) []match {
	trans, classes := d.trans, &d.classes
	for ; i < hi; i++ {
		t := trans[s+uint32(classes[text[i]])]
		s = t &^ matchBit
		if t&matchBit != 0 {
			dst = d.emit(dst, s, i+1, after)
		}
	}
	return dst
}

// matcher finds every term of the lexicon in a folded text.
type matcher struct {
	words  []string // the terms, by global index
	blocks []block  // the ASCII terms' first
	lens   []int32  // term lengths by global index
	maxLen int
}

// block is an automaton and when it runs: on every text (the ASCII
// terms), or on texts that have a byte >= 0x80 and, unless any is set,
// one of the lead bytes in leads (bit b-0xc0 for byte b).
type block struct {
	always, any bool
	leads       uint64
	dfa         *dfa
}

// blockOf groups the terms with a non-ASCII character by the lead byte
// of the first: Latin, Greek, Cyrillic, the right-to-left scripts, the
// Indic scripts and Thai, U+1000-U+2FFF (Vietnamese, punctuation,
// symbols), CJK, Hangul, the rest of the BMP, and the supplementary
// planes (emoji). Block 0 takes a term whose first byte >= 0x80 is not
// a lead byte (the lexicon has none) and runs on every non-ASCII text.
func blockOf(lead byte) int {
	switch {
	case lead < 0xc0:
		return 0
	case lead <= 0xcd:
		return 1
	case lead <= 0xcf:
		return 2
	case lead <= 0xd4:
		return 3
	case lead <= 0xdf:
		return 4
	case lead == 0xe0:
		return 5
	case lead <= 0xe2:
		return 6
	case lead <= 0xe9:
		return 7
	case lead <= 0xed:
		return 8
	case lead <= 0xef:
		return 9
	default:
		return 10
	}
}

// newMatcher compiles the terms, which must be distinct and non-empty.
func newMatcher(words []string) *matcher {
	m := &matcher{words: words, lens: make([]int32, len(words))}
	type group struct {
		pats  []string
		ids   []int32
		leads uint64
	}
	var ascii group
	var wide [11]group
	for i, w := range words {
		m.lens[i] = int32(len(w))
		m.maxLen = max(m.maxLen, len(w))
		k := 0
		for k < len(w) && w[k] < 0x80 {
			k++
		}
		g := &ascii
		if k < len(w) {
			g = &wide[blockOf(w[k])]
			if w[k] >= 0xc0 {
				g.leads |= 1 << (w[k] - 0xc0)
			}
		}
		g.pats, g.ids = append(g.pats, w), append(g.ids, int32(i))
	}
	m.blocks = append(m.blocks, block{always: true, dfa: newDFA(ascii.pats, ascii.ids)})
	for k, g := range wide {
		if len(g.pats) == 0 {
			continue
		}
		m.blocks = append(m.blocks, block{any: k == 0, leads: g.leads, dfa: newDFA(g.pats, g.ids)})
	}
	return m
}

// find appends the occurrences of the terms in text to dst, ordered by
// end and, at one end, longest first: the order of a single automaton
// over all terms.
func (m *matcher) find(dst []match, text string, lane *[lanes - 1][]match) []match {
	n, parts := len(dst), 0
	var leads uint64
	wide, gated := false, false
	for _, b := range m.blocks {
		if !b.always {
			if !gated {
				leads, wide = leadBytes(text)
				gated = true
			}
			if !wide {
				break // the blocks after the ASCII ones need a byte >= 0x80
			}
			if !b.any && b.leads&leads == 0 {
				continue
			}
		}
		k := len(dst)
		dst = b.dfa.find(dst, text, m.maxLen, lane)
		if len(dst) > k {
			parts++
		}
	}
	if parts > 1 {
		slices.SortFunc(dst[n:], func(a, b match) int {
			if c := cmp.Compare(a.end, b.end); c != 0 {
				return c
			}
			return cmp.Compare(m.lens[b.pat], m.lens[a.pat])
		})
	}
	return dst
}

// leadBytes returns the set of UTF-8 lead bytes in text (bit b-0xc0 for
// byte b) and whether it has any byte >= 0x80.
func leadBytes(text string) (uint64, bool) {
	// Sixteen bytes at a time while they are ASCII; p is only read.
	p := unsafe.Slice(unsafe.StringData(text), len(text))
	i := 0
	for ; i+16 <= len(p); i += 16 {
		if (binary.LittleEndian.Uint64(p[i:])|binary.LittleEndian.Uint64(p[i+8:]))&0x8080808080808080 != 0 {
			break
		}
	}
	var leads uint64
	wide := false
	for ; i < len(p); i++ {
		if c := p[i]; c >= 0x80 {
			wide = true
			if c >= 0xc0 {
				leads |= 1 << (c - 0xc0)
			}
		}
	}
	return leads, wide
}
