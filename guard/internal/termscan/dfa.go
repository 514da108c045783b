package termscan

import (
	"cmp"
	"slices"
)

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
	// s, both premultiplied by the row length, with matchBit set when
	// that state has outputs.
	trans []uint32
	// out[outAt[q]:outAt[q+1]] are the global patterns that end at state
	// q, longest first, repeated patterns in insertion order.
	outAt []uint32
	out   []int32
	lens  []int // pattern lengths by global index
}

// newDFA compiles the patterns (their global indexes in ids, their
// lengths by global index in lens) into one automaton.
func newDFA(pats []string, ids []int32, lens []int) *dfa {
	d := &dfa{lens: lens}
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
		pats []int32 // global patterns ending here, in insertion order
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
	for k, p := range pats {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := d.classes[p[i]]
			t := child(s, c)
			if t < 0 {
				t = int32(len(nodes))
				nodes = append(nodes, node{})
				nodes[s].kids = append(nodes[s].kids, edge{c, t})
			}
			s = t
		}
		nodes[s].pats = append(nodes[s].pats, ids[k])
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
		outs[q] = append(outs[q], nodes[s].pats...)
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
func (d *dfa) emit(dst []Match, s uint32, end, after int) []Match {
	if end <= after {
		return dst
	}
	q := s >> d.shift
	for _, p := range d.out[d.outAt[q]:d.outAt[q+1]] {
		dst = append(dst, Match{int(p), end - d.lens[p], end})
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
func (d *dfa) find(dst []Match, text string, maxLen int, lane *[lanes - 1][]Match) []Match {
	// Lanes of equal length L; lane k > 0 starts maxLen-1 bytes before
	// b[k], the first end it keeps.
	ov := maxLen - 1
	L := (len(text) + (lanes-1)*ov) / lanes
	if L < laneMin*maxLen {
		return d.resume(dst, text, 0, 0, len(text), -1)
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
	// The lanes' tails, one at a time, then the lists in order.
	dst = d.resume(dst, text, st[0], lo[0]+L, hi[0], b[0])
	for k := 1; k < lanes; k++ {
		lane[k-1] = d.resume(lane[k-1], text, st[k], lo[k]+L, hi[k], b[k])
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

// resume reads text[i:hi] from state s and appends the occurrences that
// end after the offset after.
func (d *dfa) resume(dst []Match, text string, s uint32, i, hi, after int) []Match {
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
