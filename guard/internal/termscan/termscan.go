package termscan

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"strconv"
	"unsafe"
)

// Match is one occurrence of a term: its index in the terms the Matcher
// was built from and its byte range in the text.
type Match struct {
	PatternID  int
	Start, End int
}

// Matcher finds every occurrence of its terms. It is safe for concurrent
// use.
type Matcher struct {
	terms    []string // by index
	blocks   []block  // the ASCII terms' first
	lens     []int    // term lengths by index
	maxLen   int
	anchored bool // some terms are found at word starts only
}

// Scratch is the lanes' working memory for one Find at a time; its zero
// value is ready. Keep one per goroutine (a detector's pooled scratch) so
// that Find does not allocate once the buffers have grown.
type Scratch struct {
	lane   [lanes - 1][]Match
	carry  []Match
	merged []Match // the blocks' occurrences, while they are merged
}

// Options are what New compiles besides the terms.
type Options struct {
	// WordStart, when set, picks the terms to be found only where they
	// start a word: at the start of the text or after a byte that Word
	// does not hold. The automaton then reads the text past a word's
	// first byte on the other terms only, and reports fewer
	// occurrences for a caller to rule out.
	WordStart func(term int) bool
	// Word holds the bytes that continue a word; with WordStart only.
	Word func(b byte) bool
	// wide builds every table wide, for the tests.
	wide bool
}

// New compiles the terms. A term may repeat (each index is reported, in
// order), but not be empty.
func New(terms []string) (*Matcher, error) { return NewOptions(terms, Options{}) }

// NewOptions compiles the terms as New does, with options.
func NewOptions(terms []string, o Options) (*Matcher, error) {
	m := &Matcher{terms: slices.Clone(terms), lens: make([]int, len(terms))}
	var word [256]bool
	for b := range word {
		word[b] = o.Word == nil || o.Word(byte(b))
	}
	type group struct {
		pats     []string
		ids      []int32
		anchored []bool
		leads    uint64
	}
	var ascii group
	var wide [11]group
	for i, w := range terms {
		if w == "" {
			return nil, errors.New("termscan: empty term at index " + strconv.Itoa(i))
		}
		m.lens[i] = len(w)
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
		a := o.WordStart != nil && o.WordStart(i)
		m.anchored = m.anchored || a
		g.pats, g.ids, g.anchored = append(g.pats, w), append(g.ids, int32(i)), append(g.anchored, a)
	}
	m.blocks = append(m.blocks, block{always: true, dfa: newDFA(ascii.pats, ascii.ids, ascii.anchored, m.lens, &word, o.wide)})
	for k, g := range wide {
		if len(g.pats) == 0 {
			continue
		}
		m.blocks = append(m.blocks, block{any: k == 0, leads: g.leads, dfa: newDFA(g.pats, g.ids, g.anchored, m.lens, &word, o.wide)})
	}
	return m, nil
}

// Len returns how many terms m was built from.
func (m *Matcher) Len() int { return len(m.terms) }

// Term returns term id.
func (m *Matcher) Term(id int) string { return m.terms[id] }

// MaxLen returns the length of the longest term in bytes.
func (m *Matcher) MaxLen() int { return m.maxLen }

// Find appends the occurrences of the terms in text to dst, ordered by
// end and, at one end, longest first (duplicate terms by index), and
// returns the extended slice. sc may be nil, at the cost of allocating
// the lanes' buffers.
func (m *Matcher) Find(dst []Match, text string, sc *Scratch) []Match {
	if sc == nil {
		sc = new(Scratch)
	}
	n := len(dst)
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
		dst = b.dfa.find(dst, text, &sc.lane, &sc.carry)
		if len(dst) > k && k > n {
			// Merge this block's occurrences with the earlier blocks'.
			sc.merged = append(sc.merged[:0], dst[n:]...)
			dst = merge(dst[:n], sc.merged[:k-n], sc.merged[k-n:])
		}
	}
	return dst
}

// FindAllOverlapping returns the occurrences of the terms in text in a
// new slice: coregx's method of that name, for tests and one-off uses.
func (m *Matcher) FindAllOverlapping(text []byte) []Match {
	return m.Find(nil, unsafe.String(unsafe.SliceData(text), len(text)), nil)
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
// a lead byte (invalid UTF-8) and runs on every non-ASCII text.
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

// leadBytes returns the set of UTF-8 lead bytes in text (bit b-0xc0 for
// byte b) and whether it has any byte >= 0x80.
func leadBytes(text string) (uint64, bool) {
	const high = 0x8080808080808080
	// Sixteen bytes at a time while they are ASCII; p is only read.
	p := unsafe.Slice(unsafe.StringData(text), len(text))
	i := 0
	for ; i+16 <= len(p); i += 16 {
		if (binary.LittleEndian.Uint64(p[i:])|binary.LittleEndian.Uint64(p[i+8:]))&high != 0 {
			break
		}
	}
	var leads uint64
	wide := false
	// Then eight at a time: a lead byte has its top two bits set.
	for ; i+8 <= len(p); i += 8 {
		w := binary.LittleEndian.Uint64(p[i:])
		if w&high == 0 {
			continue
		}
		wide = true
		for m := w & (w << 1) & high; m != 0; m &= m - 1 {
			c := byte(w >> (bits.TrailingZeros64(m) &^ 7))
			leads |= 1 << (c - 0xc0)
		}
	}
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
