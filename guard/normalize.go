package guard

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/unicode/norm"
)

// Normalize folds text as described at [Normalized] and returns a result
// the caller owns. It allocates; the scanner uses a pooled [Normalizer]
// instead. Detectors fold their phrase lists with Normalize so that a
// phrase and the text it should match go through the same steps.
func Normalize(text string) *Normalized {
	var n Normalizer
	var dst Normalized
	n.Normalize(&dst, text)
	out := &Normalized{
		Folded:    string([]byte(dst.Folded)),
		Invisible: dst.Invisible,
	}
	if dst.Offsets != nil {
		out.Offsets = append([]int32(nil), dst.Offsets...)
	}
	for _, d := range dst.Decoded {
		d.Text = string([]byte(d.Text))
		out.Decoded = append(out.Decoded, d)
	}
	return out
}

// Fold returns the folded form of text (Normalize(text).Folded) without
// decoding anything: for phrase lists.
func Fold(text string) string {
	var n Normalizer
	return string(n.fold(text, false))
}

// Normalizer holds the buffers of the normalization pass so that
// repeated calls do not allocate. A Normalizer is not safe for
// concurrent use; the zero value is ready.
//
// The strings and slices Normalize writes into dst point into the
// Normalizer's buffers: they are valid until its next call. This is why
// detectors must not retain a *Normalized.
type Normalizer struct {
	a, b   []byte  // ping-pong text buffers
	ao, bo []int32 // their offsets into the original text
	gaps   []int32 // spacing fold: gap widths of a run of single letters

	it norm.Iter

	// Decoding.
	arena   []byte // decoded payloads, raw and folded
	decoded []Decoded
	sub     *Normalizer // folds decoded payloads
	scratch []byte
	chains  []chainName // names of nested encodings

	// stats of the last call, for the scanner's obfuscation finding.
	stats normStats

	// plain caches, for every rune of the BMP, whether it is a plain
	// rune (see [plainRune]), filled as runes are met: a bit in known,
	// then its answer in plain.
	known, plain [1 << 10]uint64

	// lower caches, by the rune's low byte, what [Normalizer.rune]
	// makes of runes it only lower-cases, in any context.
	lower [256]lowerEntry

	// classes caches, by the rune's low byte, the classes of non-ASCII
	// runes scripts meets (see [Normalizer.scriptClass]).
	classes [256]classEntry
}

// classEntry is an entry of Normalizer.classes; the zero entry holds no
// rune, as r is never NUL.
type classEntry struct {
	r rune
	c uint8
}

// lowerEntry is an entry of Normalizer.lower: to holds the UTF-8 of
// r's lower case, size bytes long, and rtl whether r is right-to-left
// (see [rtl]). The zero entry holds no rune, as r is never NUL.
type lowerEntry struct {
	r    rune
	to   [utf8.UTFMax]byte
	size uint8
	rtl  bool
}

// normStats describes what the last normalization removed, beyond the
// count in Normalized.Invisible.
type normStats struct {
	invisible  int // all removed invisible characters
	tags       int // U+E0000-U+E007F
	bidi       int // embedding, override and isolate controls, LRM, RLM, ALM
	zeroWidth  int // U+200B-U+200D, U+2060-U+2064, U+FEFF, U+180E, fillers
	selectors  int // variation selectors in suspicious places
	marks      int // combining marks stripped from ASCII letters (zalgo)
	rtl        bool
	first      int // byte span of the removed characters
	last       int
	tagPayload bool
}

// Normalize folds text into dst (see [Normalized]). Pure ASCII text that
// is already folded is returned as is with nil Offsets; everything else
// is folded into the Normalizer's buffers. dst is valid until the next
// call on n.
func (n *Normalizer) Normalize(dst *Normalized, text string) {
	n.stats = normStats{first: -1}
	n.arena = n.arena[:0]
	n.decoded = n.decoded[:0]
	*dst = Normalized{}

	if folded(text) {
		dst.Folded = text
	} else {
		b := n.fold(text, true)
		dst.Folded = unsafe.String(unsafe.SliceData(b), len(b))
		dst.Offsets = n.ao[:len(b)+1]
		dst.Offsets[len(b)] = int32(len(text))
	}
	dst.Invisible = n.stats.invisible
	n.decode(text, 0, len(text), "", 0, budgetFor(len(text)))
	n.decodeHidden(text)
	if len(n.decoded) > 0 {
		dst.Decoded = n.decoded
	}
}

// Span maps a byte span of Folded back to a span of the original text.
func (nz *Normalized) Span(start, end int) (int, int) {
	if nz.Offsets == nil {
		return start, end
	}
	if start < 0 {
		start = 0
	}
	if end > len(nz.Offsets)-1 {
		end = len(nz.Offsets) - 1
	}
	if start > end {
		start = end
	}
	s, e := int(nz.Offsets[start]), int(nz.Offsets[end])
	if e < s {
		e = s
	}
	return s, e
}

// folded reports whether text is ASCII that folding leaves unchanged:
// lower case, single spaces between words, no leetspeak, no letter
// spacing, nothing to decode at the rune level.
func folded(text string) bool {
	if len(text) == 0 {
		return true
	}
	if text[0] == ' ' || text[len(text)-1] == ' ' {
		return false
	}
	// Most texts have a byte of fcOther early, which alone rules
	// them out: look for one eight bytes at a time first.
	if hasOther(text) {
		return false
	}
	prevSpace := false
	wordLen := 0 // length of the current space-delimited token
	singles := 0 // consecutive single-character tokens
	for i := 0; i < len(text); i++ {
		t := foldClass[text[i]]
		if t == fcPlain {
			prevSpace = false
			wordLen++
			continue
		}
		switch t {
		case fcSpace:
			if prevSpace {
				return false
			}
			prevSpace = true
			if wordLen == 1 {
				singles++
				if singles >= 2 {
					return false // maybe letter spacing; let fold decide
				}
			} else {
				singles = 0
			}
			wordLen = 0
			continue
		case fcSeparator:
			if wordLen == 1 && i+2 < len(text) && text[i+2] == text[i] {
				return false // maybe "i.g.n.o.r.e"
			}
		default: // upper case, controls, non-ASCII, digits, @ and $
			return false
		}
		prevSpace = false
		wordLen++
	}
	return true
}

// hasOther reports whether text has a byte of class fcOther: upper
// case, a control, non-ASCII, a digit, '@' or '$'.
func hasOther(text string) bool {
	const ones, high, low = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	src := unsafe.Slice(unsafe.StringData(text), len(text))
	i := 0
	for ; i+8 <= len(text); i += 8 {
		x := binary.LittleEndian.Uint64(src[i:])
		z := x & low
		other := x | // non-ASCII
			^(z + (0x80-0x20)*ones) | // controls
			(z+(0x80-'A')*ones)&^(z+(0x80-'Z'-1)*ones) | // upper case
			(z+(0x80-'0')*ones)&^(z+(0x80-'9'-1)*ones) | // digits
			eq8(x, 0x7f) | eq8(x, '@') | eq8(x, '$')
		if other&high != 0 {
			return true
		}
	}
	for ; i < len(text); i++ {
		if foldClass[text[i]] == fcOther {
			return true
		}
	}
	return false
}

// Classes of bytes for folded.
const (
	fcPlain = iota
	fcSpace
	fcSeparator
	fcOther
)

var foldClass = func() (t [256]uint8) {
	for c := range t {
		b := byte(c)
		switch {
		case b == ' ':
			t[c] = fcSpace
		case b >= 0x80, b < 0x20, b == 0x7f, 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '@', b == '$':
			t[c] = fcOther
		case b == '.' || b == '-' || b == '_' || b == '*' || b == '|' || b == '/' || b == '+' || b == '~' || b == ',' || b == ':':
			t[c] = fcSeparator
		}
	}
	return
}()

// fold runs the rune, script, spacing and leetspeak passes. With offsets
// set, n.ao holds the original offset of every output byte and has room
// for one more entry. The result aliases n.a.
func (n *Normalizer) fold(text string, offsets bool) []byte {
	ascii := n.runes(text) // text → a
	if !ascii {
		n.scripts() // a → b
		n.a, n.b, n.ao, n.bo = n.b, n.a, n.bo, n.ao
	}
	n.spacing() // in place
	if offsets {
		n.ao = grow32(n.ao, len(n.a)+1)
	}
	return n.a
}

// runes is pass 1: invalid UTF-8 becomes U+FFFD, invisible characters
// are removed and counted, NFKC is applied, letters are lower-cased,
// combining marks on ASCII letters are dropped and every space becomes
// ' '. It reports whether the output is ASCII.
func (n *Normalizer) runes(text string) bool {
	out, off := n.a[:0], n.ao[:0]
	if cap(out) < len(text)+8 || cap(off) < len(text)+8 {
		// lowerRun writes whole words: eight bytes of room; spacing
		// pads with two spaces and reads a word past them: sixteen.
		out = make([]byte, 0, len(text)+len(text)/8+16)
		off = make([]int32, 0, cap(out)+1)
	}
	ascii := true
	i := 0
	for i < len(text) {
		// A run of ASCII: lower-cased, controls to spaces.
		if text[i] < utf8.RuneSelf {
			out, off, i = lowerRun(out, off, text, i)
			if i == len(text) {
				break
			}
		}
		// A run of non-ASCII bytes is normalized as a unit; its first
		// rune may combine with the ASCII letter before it.
		j := i + 1
		for j < len(text) && text[j] >= utf8.RuneSelf {
			j++
		}
		start := i
		if i > 0 && len(out) > 0 && off[len(off)-1] == int32(i-1) && isLetterByte(text[i-1]) {
			if r, _ := utf8.DecodeRuneInString(text[i:]); unicode.Is(unicode.Mn, r) {
				start = i - 1
				out, off = out[:len(out)-1], off[:len(off)-1]
			}
		}
		seg := text[start:j]
		if !utf8.ValidString(seg) {
			// Normalize valid pieces; each invalid byte becomes U+FFFD.
			out, off = n.invalid(out, off, text, start, j)
			ascii = false
			i = j
			continue
		}
		// Compatibility decompositions expand (U+FDFA into 18 code
		// points): past a bound the rest is kept as it is, so that the
		// folded text stays within a small multiple of the input.
		if len(out) > maxExpansion*len(text)+64 {
			for k := 0; k < len(seg); {
				r, size := utf8.DecodeRuneInString(seg[k:])
				out, off, _ = n.rune(out, off, r, start+k)
				k += size
			}
			ascii = false
			i = j
			continue
		}
		// Most runs are a curly quote, a dash or an accented letter
		// that every step leaves as it is.
		if n.plainSeg(seg) {
			for k := 0; k < len(seg); {
				_, size := utf8.DecodeRuneInString(seg[k:])
				out = append(out, seg[k:k+size]...)
				for range size {
					off = append(off, int32(start+k))
				}
				k += size
			}
			ascii = false
			i = j
			continue
		}
		// The prefix that is already NFKC needs no iterator.
		q := norm.NFKC.QuickSpanString(seg)
		for k := 0; k < q; {
			r, size := utf8.DecodeRuneInString(seg[k:])
			var na bool
			out, off, na = n.rune(out, off, r, start+k)
			ascii = ascii && !na
			k += size
		}
		if q < len(seg) {
			n.it.InitString(norm.NFKC, seg[q:])
			for !n.it.Done() {
				pos := start + q + n.it.Pos()
				if len(out) > maxExpansion*len(text)+64 {
					for k := pos - start; k < len(seg); {
						r, size := utf8.DecodeRuneInString(seg[k:])
						out, off, _ = n.rune(out, off, r, start+k)
						k += size
					}
					ascii = false
					// An iterator left mid-segment keeps state that
					// InitString does not clear.
					n.it = norm.Iter{}
					break
				}
				b := n.it.Next()
				for k := 0; k < len(b); {
					r, size := utf8.DecodeRune(b[k:])
					k += size
					var na bool
					out, off, na = n.rune(out, off, r, pos)
					ascii = ascii && !na
				}
			}
		}
		i = j
	}
	n.a, n.ao = out, off
	return ascii
}

// lowerRun appends the run of ASCII at text[i:], lower-cased with
// control characters as spaces, and its offsets to out and off; it
// returns them and the end of the run. Eight bytes at a time: a word
// with no high bit is ASCII, and three carry-free additions find its
// upper-case letters and controls.
func lowerRun(out []byte, off []int32, text string, i int) ([]byte, []int32, int) {
	// Room for the rest of the text and one word more: words are
	// written whole and w advanced past the ASCII part only.
	n := len(text) - i + 8
	w := len(out)
	out = slices.Grow(out, n)[:w+n]
	off = slices.Grow(off, n)[:w+n]
	// The run, the output and its offsets from i and w, indexed by k;
	// the loop's condition bounds all three, so that its body needs
	// no bound checks.
	src := unsafe.Slice(unsafe.StringData(text), len(text))[i:]
	dst, dof := out[w:], off[w:]
	k := 0
	for ; k <= len(src)-8 && k <= len(dst)-8 && k <= len(dof)-8; k += 8 {
		x := binary.LittleEndian.Uint64(src[k : k+8])
		hi := x & 0x8080808080808080
		binary.LittleEndian.PutUint64(dst[k:k+8], lower8(x&^hi))
		f, o := dof[k:k+8], int32(i+k)
		f[0], f[1], f[2], f[3] = o, o+1, o+2, o+3
		f[4], f[5], f[6], f[7] = o+4, o+5, o+6, o+7
		if hi != 0 {
			n := bits.TrailingZeros64(hi) / 8
			return out[:w+k+n], off[:w+k+n], i + k + n
		}
	}
	i, w = i+k, w+k
	for ; i < len(text) && text[i] < utf8.RuneSelf; i++ {
		out[w], off[w] = lowerASCII[text[i]], int32(i)
		w++
	}
	return out[:w], off[:w], i
}

// lower8 lower-cases the eight ASCII bytes of x and turns controls
// into spaces.
func lower8(x uint64) uint64 {
	const ones = 0x0101010101010101
	const high, low = 0x80 * ones, 0x7f * ones
	upper := (x + (0x80-'A')*ones) &^ (x + (0x80-'Z'-1)*ones) & high
	ctl := ^(x + (0x80-0x20)*ones) & high // below 0x20
	d := x ^ low                          // DEL
	ctl |= ^((d&low + low) | d) & high
	m := ctl >> 7
	return (x|upper>>2)&^(m*0xff) | m*' '
}

// invalid folds text[i:j], which holds invalid UTF-8, rune by rune; each
// run of invalid bytes becomes one U+FFFD.
func (n *Normalizer) invalid(out []byte, off []int32, text string, i, j int) ([]byte, []int32) {
	for i < j {
		r, size := utf8.DecodeRuneInString(text[i:j])
		if r == utf8.RuneError && size == 1 {
			// A run of invalid bytes becomes one U+FFFD.
			out = append(out, "\uFFFD"...)
			off = append(off, int32(i), int32(i), int32(i))
			for i+size < j {
				if r, n := utf8.DecodeRuneInString(text[i+size : j]); r != utf8.RuneError || n != 1 {
					break
				}
				size++
			}
		} else {
			s := norm.NFKC.String(text[i : i+size])
			for _, r := range s {
				out, off, _ = n.rune(out, off, r, i)
			}
		}
		i += size
	}
	return out, off
}

// rune appends one NFKC-normalized rune from original offset pos. It
// reports whether it appended a non-ASCII rune.
func (n *Normalizer) rune(out []byte, off []int32, r rune, pos int) ([]byte, []int32, bool) {
	if r < utf8.RuneSelf {
		c := byte(r)
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c < 0x20 || c == 0x7f:
			c = ' '
		}
		return append(out, c), append(off, int32(pos)), false
	}
	if e := &n.lower[r&0xff]; e.r == r {
		out = append(out, e.to[:e.size]...)
		for range e.size {
			off = append(off, int32(pos))
		}
		n.stats.rtl = n.stats.rtl || e.rtl
		return out, off, true
	}
	if caseless(r) {
		// CJK, kana and Hangul: no case, no marks to strip, not spaces.
		var buf [utf8.UTFMax]byte
		size := utf8.EncodeRune(buf[:], r)
		out = append(out, buf[:size]...)
		for range size {
			off = append(off, int32(pos))
		}
		return out, off, true
	}
	if k := invisibleKind(r); k != 0 {
		n.invisible(k, r, pos, out)
		return out, off, false
	}
	if unicode.IsSpace(r) {
		return append(out, ' '), append(off, int32(pos)), false
	}
	if len(out) > 0 && isLetterByte(out[len(out)-1]) && unicode.In(r, unicode.Mn, unicode.Me) {
		n.stats.marks++ // zalgo and strike-through marks on ASCII letters
		return out, off, false
	}
	if r == utf8.RuneError {
		out = append(out, "\uFFFD"...)
		return out, append(off, int32(pos), int32(pos), int32(pos)), true
	}
	e := lowerEntry{r: r, rtl: rtl(r)}
	if e.rtl {
		n.stats.rtl = true // Hebrew, Arabic, Syriac, Thaana, NKo and their forms
	}
	e.size = uint8(utf8.EncodeRune(e.to[:], unicode.ToLower(r)))
	if !unicode.In(r, unicode.Mn, unicode.Me) {
		// Neither caseless, invisible, a space nor U+FFFD, and no
		// mark to strip after any letter: whatever comes before it,
		// r is lower-cased and counted right-to-left or not.
		n.lower[r&0xff] = e
	}
	out = append(out, e.to[:e.size]...)
	for range e.size {
		off = append(off, int32(pos))
	}
	return out, off, true
}

// rtl reports whether r is in the Hebrew, Arabic, Syriac, Thaana or NKo
// blocks or their presentation forms.
func rtl(r rune) bool {
	return r >= 0x0590 && r <= 0x08FF || r >= 0xFB1D && r <= 0xFDFF || r >= 0xFE70 && r <= 0xFEFC
}

// plainSeg reports whether seg, valid UTF-8 without ASCII, is all plain
// runes: then runes leaves it as it is, with each rune's offset.
func (n *Normalizer) plainSeg(seg string) bool {
	for k, r := range seg {
		if r >= 0x10000 {
			return false
		}
		w, bit := r>>6, uint64(1)<<(r&63)
		if n.known[w]&bit == 0 {
			n.known[w] |= bit
			if plainRune(seg[k : k+utf8.RuneLen(r)]) {
				n.plain[w] |= bit
			}
		}
		if n.plain[w]&bit == 0 {
			return false
		}
	}
	return true
}

// plainRune reports whether s, one non-ASCII rune, is one runes copies
// as it is: NFKC leaves it as it is alone, and next to any rune as it
// neither combines nor reorders (quick check yes, combining class 0,
// boundaries before and after); and [Normalizer.rune] appends it as it
// is and counts nothing: not invisible, a space, a mark, right-to-left
// or upper case.
func plainRune(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	if r < utf8.RuneSelf || r == utf8.RuneError || size != len(s) {
		return false
	}
	// A substring, not a buffer of its own: nothing to allocate.
	p := norm.NFKC.PropertiesString(s)
	return p.CCC() == 0 && p.BoundaryBefore() && p.BoundaryAfter() && len(p.Decomposition()) == 0 &&
		norm.NFKC.QuickSpanString(s) == size &&
		invisibleKind(r) == 0 && !unicode.IsSpace(r) && !unicode.In(r, unicode.Mn, unicode.Me) &&
		!rtl(r) &&
		unicode.ToLower(r) == r
}

// maxExpansion bounds what NFKC may expand the folded text to, in times
// the input plus 64 bytes; past it, code points are kept undecomposed.
const maxExpansion = 2

// The kinds of invisible characters.
const (
	invZeroWidth = iota + 1
	invBidi
	invTag
	invSelector
	invOther
	invBenign // removed but not counted: BOM at the start, ZWJ in emoji, VS16
)

// invisibleKind classifies r as an invisible character or returns 0.
func invisibleKind(r rune) int {
	switch {
	case r == 0x200B, r == 0x200C, r == 0x200D, r == 0x2060, r == 0xFEFF,
		r >= 0x2061 && r <= 0x2064, r == 0x180E, r == 0x115F, r == 0x1160,
		r == 0x3164, r == 0xFFA0, r == 0x034F, r == 0x00AD, r == 0x17B4, r == 0x17B5:
		return invZeroWidth
	case r == 0x200E, r == 0x200F, r == 0x061C, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return invBidi
	case r >= 0xE0000 && r <= 0xE007F:
		return invTag
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF:
		return invSelector
	case r >= 0xFFF9 && r <= 0xFFFB, r >= 0x206A && r <= 0x206F, r == 0x1D173, r >= 0x1D174 && r <= 0x1D17A:
		return invOther
	case r >= 0x0600 && r <= 0x0605, r == 0x06DD, r == 0x070F, r == 0x0890, r == 0x0891, r == 0x08E2,
		r == 0x110BD, r == 0x110CD, r >= 0x13430 && r <= 0x1343F, r >= 0x1BCA0 && r <= 0x1BCA3:
		return invOther // the rest of category Cf (Unicode 15)
	}
	return 0
}

// caseless reports whether r is in a block of letters without case,
// marks or spaces: CJK ideographs, kana, Hangul syllables.
func caseless(r rune) bool {
	return r >= 0x3041 && r <= 0x30FF || r >= 0x3400 && r <= 0x4DBF || r >= 0x4E00 && r <= 0x9FFF ||
		r >= 0xAC00 && r <= 0xD7A3 || r >= 0x20000 && r <= 0x2FA1F
}

// invisible records a removed invisible character at pos; out is what
// has been emitted so far (for context).
func (n *Normalizer) invisible(kind int, r rune, pos int, out []byte) {
	prevASCII := len(out) > 0 && out[len(out)-1] < utf8.RuneSelf && out[len(out)-1] != ' '
	switch kind {
	case invZeroWidth:
		// ZWJ and ZWNJ join emoji and shape Indic and Arabic script;
		// a BOM may open a text. Neither is an attack there.
		if (r == 0x200C || r == 0x200D) && !prevASCII {
			return
		}
		if r == 0xFEFF && pos == 0 {
			return
		}
		n.stats.zeroWidth++
	case invBidi:
		n.stats.bidi++
	case invTag:
		n.stats.tags++
	case invSelector:
		// VS15/VS16 after emoji and CJK are ordinary; after ASCII
		// letters, or from the supplement, they smuggle bytes.
		if r < 0xE0100 && !prevASCII {
			return
		}
		n.stats.selectors++
	}
	n.stats.invisible++
	if n.stats.first < 0 {
		n.stats.first = pos
	}
	n.stats.last = pos + utf8.RuneLen(r)
}

func isLetterByte(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// lowerASCII lower-cases ASCII letters and turns control characters into
// spaces.
var lowerASCII = func() (t [128]byte) {
	for c := range t {
		switch {
		case 'A' <= c && c <= 'Z':
			t[c] = byte(c) + 'a' - 'A'
		case c < 0x20 || c == 0x7f:
			t[c] = ' '
		default:
			t[c] = byte(c)
		}
	}
	return
}()

// scripts is pass 2, for text with non-ASCII letters: in every word, if
// each non-ASCII letter has an ASCII look-alike (UTS #39 skeleton), the
// word is written in ASCII ("іgnоrе" with Cyrillic і, о, е becomes
// "ignore"); if not, ASCII look-alikes in a mainly Cyrillic or Greek word
// are written in that script ("игнoрируй" with a Latin o). Punctuation
// look-alikes (curly quotes, dashes) become ASCII everywhere.
func (n *Normalizer) scripts() {
	in, ino := n.a, n.ao
	out, off := n.b[:0], n.bo[:0]
	for i := 0; i < len(in); {
		if in[i] < utf8.RuneSelf {
			// A run of ASCII is copied in bulk, up to a word that
			// goes on in another script.
			j := asciiEnd(in, i+1)
			k := j
			if j < len(in) {
				for k > i && isLetterByte(in[k-1]) {
					k--
				}
			}
			out = append(out, in[i:k]...)
			off = append(off, ino[i:k]...)
			if k > i {
				i = k
				continue
			}
		}
		r, size := utf8.DecodeRune(in[i:])
		if r >= utf8.RuneSelf && caseless(r) {
			// A run of CJK: copied as is.
			j := i + size
			for j < len(in) {
				r2, s2 := utf8.DecodeRune(in[j:])
				if r2 < utf8.RuneSelf || !caseless(r2) {
					break
				}
				j += s2
			}
			out = append(out, in[i:j]...)
			off = append(off, ino[i:j]...)
			i = j
			continue
		}
		if r < utf8.RuneSelf && !isLetterByte(byte(r)) || r >= utf8.RuneSelf && n.scriptClass(r)&scLetter == 0 {
			if r >= utf8.RuneSelf {
				if to, ok := confusable(r); ok {
					for k := 0; k < len(to); k++ {
						out = append(out, to[k])
						off = append(off, ino[i])
					}
					i += size
					continue
				}
			}
			out = append(out, in[i:i+size]...)
			off = append(off, ino[i:i+size]...)
			i += size
			continue
		}
		// A word: letters and marks.
		j := i
		asciiN, nonASCII, mapped, cyr, grk := 0, 0, 0, 0, 0
		for j < len(in) {
			r, size := utf8.DecodeRune(in[j:])
			if r < utf8.RuneSelf {
				if !isLetterByte(byte(r)) {
					break
				}
			} else if caseless(r) || n.scriptClass(r)&(scLetter|scMark) == 0 {
				break
			}
			switch {
			case r < utf8.RuneSelf:
				asciiN++
			case n.scriptClass(r)&scMark != 0:
			default:
				nonASCII++
				if n.scriptClass(r)&scConfusable != 0 {
					mapped++
				}
				if r >= 0x0400 && r <= 0x052F {
					cyr++
				} else if r >= 0x0370 && r <= 0x03FF || r >= 0x1F00 && r <= 0x1FFF {
					grk++
				}
			}
			j += size
		}
		switch {
		case nonASCII > 0 && mapped == nonASCII:
			for k := i; k < j; {
				r, size := utf8.DecodeRune(in[k:])
				if to, ok := confusable(r); ok {
					for x := 0; x < len(to); x++ {
						out = append(out, to[x])
						off = append(off, ino[k])
					}
				} else {
					out = append(out, in[k:k+size]...)
					off = append(off, ino[k:k+size]...)
				}
				k += size
			}
		case asciiN > 0 && (cyr > 0 || grk > 0):
			table := &latinToCyrillic
			if grk > cyr {
				table = &latinToGreek
			}
			for k := i; k < j; {
				c := in[k]
				if c < utf8.RuneSelf && table[c] != 0 {
					var buf [utf8.UTFMax]byte
					size := utf8.EncodeRune(buf[:], table[c])
					out = append(out, buf[:size]...)
					for range size {
						off = append(off, ino[k])
					}
					k++
					continue
				}
				_, size := utf8.DecodeRune(in[k:])
				out = append(out, in[k:k+size]...)
				off = append(off, ino[k:k+size]...)
				k += size
			}
		default:
			out = append(out, in[i:j]...)
			off = append(off, ino[i:j]...)
		}
		i = j
	}
	n.b, n.bo = out, off
}

// Classes of non-ASCII runes for scripts.
const (
	scLetter     = 1 << iota // unicode.IsLetter and not General Punctuation
	scMark                   // unicode.IsMark and not General Punctuation
	scConfusable             // confusable has a skeleton for it
)

// scriptClass returns the classes of r, a non-ASCII rune: from
// n.classes, or looked up in unicode's tables and [confusable]'s and
// kept there.
func (n *Normalizer) scriptClass(r rune) uint8 {
	e := &n.classes[r&0xff]
	if e.r != r {
		var c uint8
		if isLetter(r) {
			c |= scLetter
		}
		if !punctuation(r) && unicode.IsMark(r) {
			c |= scMark
		}
		if _, ok := confusable(r); ok {
			c |= scConfusable
		}
		*e = classEntry{r, c}
	}
	return e.c
}

// asciiEnd returns the index of the first non-ASCII byte of b at or
// after i, or len(b); eight bytes at a time.
func asciiEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if hi := binary.LittleEndian.Uint64(b[i:]) & 0x8080808080808080; hi != 0 {
			return i + bits.TrailingZeros64(hi)/8
		}
	}
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	return i
}

// punctuation reports whether r is in the General Punctuation block
// (curly quotes, dashes, ellipsis, invisible operators): neither a
// letter nor a mark, found without searching the letter tables.
func punctuation(r rune) bool { return r >= 0x2000 && r <= 0x206F }

// isLetter is unicode.IsLetter, knowing punctuation is not.
func isLetter(r rune) bool { return !punctuation(r) && unicode.IsLetter(r) }

// confusable returns the ASCII skeleton of r from the generated table.
func confusable(r rune) (string, bool) {
	if r < confusables[0].r || r > confusables[len(confusables)-1].r {
		return "", false
	}
	if r < 0x10000 && confusableBMP[r>>6]&(1<<(r&63)) == 0 {
		return "", false
	}
	k := sort.Search(len(confusables), func(i int) bool { return confusables[i].r >= r })
	if k < len(confusables) && confusables[k].r == r {
		return confusables[k].to, true
	}
	return "", false
}

// confusableBMP has a bit for every code point of the table below
// U+10000, so that most look-ups need no search.
var confusableBMP = func() (t [1024]uint64) {
	for _, e := range confusables {
		if e.r < 0x10000 {
			t[e.r>>6] |= 1 << (e.r & 63)
		}
	}
	return
}()

// latinToCyrillic and latinToGreek write lower-case ASCII look-alikes in
// the other script: the inverse of the table's entries for those scripts.
var latinToCyrillic, latinToGreek = func() (c, g [128]rune) {
	for _, e := range confusables {
		if len(e.to) != 1 || e.to[0] < 'a' || e.to[0] > 'z' {
			continue
		}
		switch {
		case unicode.Is(unicode.Cyrillic, e.r) && e.r >= 0x0430 && e.r <= 0x045F && c[e.to[0]] == 0:
			c[e.to[0]] = e.r
		case unicode.Is(unicode.Greek, e.r) && e.r >= 0x03B1 && e.r <= 0x03C9 && g[e.to[0]] == 0:
			g[e.to[0]] = e.r
		}
	}
	return
}()

// spacing is pass 3, in place on n.a: runs of spaces become one space
// (none at the ends), letter spacing is undone and leetspeak folded (see
// [leet]). Three or more single letters separated by spaces ("i g n o r
// e"), or four or more separated by one repeated punctuation mark inside
// a token ("i.g.n.o.r.e"), are joined; in spaced text a wider gap
// between letters is kept as a word break.
//
// Most of a text is words that none of this changes: [plainStretch]
// finds them eight bytes at a time and they are copied as they are.
func (n *Normalizer) spacing() {
	size := len(n.a)
	// plainStretch reads whole words up to two spaces past the end.
	b := slices.Grow(n.a, 16)[:size+2]
	b[size], b[size+1] = ' ', ' '
	b = b[:size]
	off := n.ao
	gaps := n.gaps[:0]
	w := 0 // write index; w <= i
	runStart, runN, runLetters := -1, 0, 0
	tokens, leets := 0, 0
	slow := -1 // a token plainStretch stopped at

	gap := 0
	for i := 0; i < size; {
		if b[i] == ' ' {
			gap++
			i++
			continue
		}
		if runN == 0 && i != slow {
			e, r, k := plainStretch(b, i)
			slow = r
			if e > i {
				// Whole plain tokens, one space between them.
				if w > 0 {
					b[w], off[w] = ' ', off[i-1]
					w++
				}
				if w != i {
					copy(b[w:], b[i:e])
					copy(off[w:], off[i:e])
				}
				w += e - i
				tokens += k
				gap = 0
				i = e
			}
			if oneLetter(b, r) {
				// A one-letter word ("a", "i") before a token of two
				// bytes or more from ASCII: a run of one single letter,
				// which nothing joins, and no token. Copied as it is.
				if w > 0 {
					b[w], off[w] = ' ', off[r-1]
					w++
				}
				b[w], off[w] = b[r], off[r]
				w++
				gap = 0
				i = r + 2
			}
			if i != r {
				continue
			}
			// The token plainStretch stopped at, from the start.
		}
		j := i + 1
		var lf uint8 // some byte may be leetspeak
		for j < size && b[j] != ' ' {
			lf |= leetTab[b[j]]
			j++
		}
		lf |= leetTab[b[i]]
		single := false
		if c := b[i]; j-i == 1 {
			// letters, and punctuation inside spaced words ("y o u ' r e")
			single = isLetterByte(c) || leetByte(rune(c)) || runN > 0 && strings.IndexByte(".,'!?:;-", c) >= 0
		} else if c >= utf8.RuneSelf && j-i <= utf8.UTFMax {
			r, size := utf8.DecodeRune(b[i:j])
			single = size == j-i && unicode.IsLetter(r)
		}
		if !single && runN > 0 {
			if runN >= 3 && runLetters >= 2 {
				var l int
				w, l = joinLetters(b, off, gaps, runStart, w)
				leets += l
			}
			runStart, runN, runLetters = -1, 0, 0
			gaps = gaps[:0]
		}
		if w > 0 {
			b[w], off[w] = ' ', off[i-1]
			w++
		}
		if single {
			if runN == 0 {
				runStart = w
			}
			gaps = append(gaps, int32(gap))
			runN++
			if b[i] >= utf8.RuneSelf || isLetterByte(b[i]) {
				runLetters++
			}
			w += copy(b[w:], b[i:j])
			copy(off[w-(j-i):], off[i:j])
			gap = 0
			i = j
			continue
		}
		t := w
		if j-i >= 7 && spacedToken(b[i:j]) > 0 {
			sep := 1
			// keep every other rune
			for k := i; k < j; {
				_, size := utf8.DecodeRune(b[k:j])
				copy(b[w:], b[k:k+size])
				copy(off[w:], off[k:k+size])
				w += size
				k += size
				if k < j {
					k += sep
				}
			}
		} else {
			if w != i {
				if j-i < 16 {
					for k := i; k < j; k++ {
						b[w+k-i], off[w+k-i] = b[k], off[k]
					}
				} else {
					copy(b[w:], b[i:j])
					copy(off[w:], off[i:j])
				}
			}
			w += j - i
		}
		if lf != 0 {
			leets += leet(b[t:w])
		}
		tokens++
		gap = 0
		i = j
	}
	if runN >= 3 && runLetters >= 2 {
		var l int
		w, l = joinLetters(b, off, gaps, runStart, w)
		leets += l
	}
	n.a, n.ao, n.gaps = b[:w], off[:w], gaps
	// Mostly leetspeak: fold the words the cautious rule left.
	if leets >= 2 && leets*3 >= tokens {
		leetText(n.a)
	}
}

// plainStretch finds the plain tokens from b[i], a token's first byte
// after a space or at the start: tokens spacing leaves as they are, with
// one space between them. A token is plain when it is two bytes or more,
// starts with an ASCII byte, has no byte leet may change and no
// punctuation as its second byte (where letters spaced by punctuation
// would show). It reads b eight bytes at a time, up to nine past
// len(b), which must be in its capacity, the first two of them spaces:
// the gap that ends every stretch.
//
// It returns the stretch's end e (e == i when the first token is not
// plain), where the token that stopped it starts (-1 when a gap or the
// end stopped it), and how many tokens the stretch holds.
func plainStretch(b []byte, i int) (e, stop, tokens int) {
	const ones, high, low = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	src := b[i:cap(b)]
	prevSpace, prevStart := uint64(0x80), uint64(0) // lane 7 of the word before
	// The loop's condition never ends it (the padding's gap does): it
	// spares the load its bound checks.
	for k := 0; k <= len(src)-8; k += 8 {
		p := i + k
		x := binary.LittleEndian.Uint64(src[k : k+8])
		sp := eq8(x, ' ')
		ps := sp<<8 | prevSpace
		start := ^sp & ps & high
		pst := start<<8 | prevStart
		// After a token's first byte, a space (a one-byte token), a
		// digit or ASCII punctuation: anything but a letter or
		// non-ASCII.
		y := (x | 0x20*ones) & low
		letter := (y + (0x80-'a')*ones) &^ (y + (0x80-'z'-1)*ones)
		z := x & low
		leet := (z+(0x80-'0')*ones)&^(z+(0x80-'9'-1)*ones)&^x | eq8(x, '@') | eq8(x, '$')
		bad := (start&x | // non-ASCII first byte
			^(letter|x)&pst | // not a letter second
			leet |
			sp&ps) & high // two spaces
		if bad == 0 {
			tokens += bits.OnesCount64(start)
			prevSpace, prevStart = sp>>56, start>>56
			continue
		}
		low := bad & -bad
		a := p + bits.TrailingZeros64(low)/8
		below := low>>7 - 1 // the lanes before a
		tokens += bits.OnesCount64(start & below)
		switch {
		case sp&low == 0: // inside a token: stop at its start
			// Tokens are one space apart: it starts after the last
			// space before a, or at i.
			last := a
			for last > i && b[last-1] != ' ' {
				last--
			}
			if last < a {
				tokens-- // its start was counted
			}
			return max(last-1, i), last, tokens
		case pst&low != 0: // the space after a one-byte token
			return max(a-2, i), a - 1, tokens - 1
		default: // the second space of a gap, maybe the padding's
			return a - 1, -1, tokens
		}
	}
	// Without the padding: the token at i is taken as not plain.
	return i, i, 0
}

// oneLetter reports whether b[r] is a one-letter token followed by one
// space and a token of two bytes or more that starts with an ASCII
// byte: the letter is a single letter that no run can join, since the
// token after it is not single. r < 0 is no token.
func oneLetter(b []byte, r int) bool {
	return r >= 0 && r+3 < len(b) && isLetterByte(b[r]) && b[r+1] == ' ' &&
		b[r+2] != ' ' && b[r+2] < utf8.RuneSelf && b[r+3] != ' '
}

// joinLetters joins a run of single letters, b[runStart:w] (letters and
// the spaces between them), whose gaps before each letter are gaps: the
// spaces go, but those of gaps wider than the narrowest are kept as one
// space; then it folds leetspeak in the joined words. It returns the
// run's new end and the number of words leet folded.
func joinLetters(b []byte, off []int32, gaps []int32, runStart, w int) (end, leets int) {
	minGap := gaps[1]
	for _, g := range gaps[1:] {
		minGap = min(minGap, g)
	}
	k2 := runStart
	g := 0
	for k := runStart; k < w; k++ {
		if b[k] == ' ' {
			continue
		}
		if k > runStart && b[k-1] == ' ' {
			g++
			if gaps[g] > minGap {
				b[k2], off[k2] = ' ', off[k-1]
				k2++
			}
		}
		b[k2], off[k2] = b[k], off[k]
		k2++
	}
	return k2, leet(b[runStart:k2])
}

// eq8 has the high bit of each byte of x that equals c set, and no
// other bit.
func eq8(x uint64, c byte) uint64 {
	const high, low = 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	y := x ^ uint64(c)*0x0101010101010101
	return ^((y&low + low) | y) & high
}

// spacedToken reports whether tok is four or more single letters joined
// by one repeated separator ("i.g.n.o.r.e", "i-g-n-o-r-e", an optional
// trailing separator allowed); it returns the separator's width or 0.
func spacedToken(tok []byte) int {
	if len(tok) < 7 {
		return 0
	}
	sep := tok[1]
	switch sep {
	case '.', '-', '_', '*', '|', '/', '+', '~', ',', ':':
	default:
		return 0
	}
	letters := 0
	for k := 0; k < len(tok); {
		r, size := utf8.DecodeRune(tok[k:])
		if !unicode.IsLetter(r) && !leetByte(r) {
			return 0
		}
		letters++
		k += size
		if k == len(tok) {
			break
		}
		if tok[k] != sep {
			return 0
		}
		k++
		if k == len(tok) {
			return 0 // a trailing separator would be kept; keep it simple
		}
	}
	if letters < 4 {
		return 0
	}
	return 1
}

func leetByte(r rune) bool {
	switch r {
	case '0', '1', '3', '4', '5', '7', '@', '$':
		return true
	}
	return false
}

// leet is pass 4, in place: inside an ASCII word (letters, digits, @ and
// $) that has a letter, leetspeak digits and symbols become letters
// ("1gn0r3" → "ignore", "p@$$w0rd" → "password"), when every digit of the
// word has a letter reading and either one sits between letters or the
// word has four letters or more. So numbers ("2024", "$100"), versions
// and units ("mp3", "4th", "ipv4", "sha256") stay as they are.
func leet(b []byte) (folded int) {
	for i := 0; i < len(b); {
		if !wordByte(b[i]) {
			i++
			continue
		}
		j := i
		letters, leets, other, inner := 0, 0, false, false
		for j < len(b) && wordByte(b[j]) {
			c := b[j]
			switch {
			case 'a' <= c && c <= 'z':
				letters++
			case leetOf(c, 0) == 0:
				other = true // a digit without a letter reading
			default:
				leets++
				if letters > 0 && j+1 < len(b) && 'a' <= b[j+1] && b[j+1] <= 'z' {
					inner = true
				}
			}
			j++
		}
		if !other && leets > 0 && (inner || letters >= 4 || letters >= 2 && leets == 1 && !ordinal(b[i:j])) {
			folded++
			for k := i; k < j; k++ {
				if c := b[k]; c < 'a' || c > 'z' {
					var run int
					if c == '1' {
						// a run of ones reads "ll" ("ki11"), a single one "i"
						run = 1
						if k+1 < j && b[k+1] == '1' || k > i && b[k-1] == 'l' {
							run = 2
						}
					}
					b[k] = leetOf(c, run)
				}
			}
		}
		i = j
	}
	return folded
}

// leetText folds every word of b (ASCII letters, digits, @ and $) whose
// digits all have a letter reading, short all-digit words included
// ("7h3", "15", "70"): for text that is mostly leetspeak, where
// [leet]'s caution would leave half the words as numbers.
func leetText(b []byte) {
	for i := 0; i < len(b); {
		if !wordByte(b[i]) {
			i++
			continue
		}
		j := i
		letters, other := 0, false
		for j < len(b) && wordByte(b[j]) {
			c := b[j]
			if 'a' <= c && c <= 'z' {
				letters++
			} else if leetOf(c, 0) == 0 {
				other = true
			}
			j++
		}
		if !other && (letters > 0 || j-i <= 3) {
			for k := i; k < j; k++ {
				if c := b[k]; c < 'a' || c > 'z' {
					run := 1
					if k+1 < j && b[k+1] == '1' || k > i && b[k-1] == 'l' {
						run = 2
					}
					b[k] = leetOf(c, run)
				}
			}
		}
		i = j
	}
}

// ordinal reports whether w is a number with an ordinal suffix ("4th").
func ordinal(w []byte) bool {
	n := len(w)
	if n < 3 || w[0] < '0' || w[0] > '9' {
		return false
	}
	switch string(w[n-2:]) {
	case "st", "nd", "rd", "th":
		for _, c := range w[:n-2] {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	return false
}

// leetTab marks the bytes leet may change.
var leetTab = func() (t [256]uint8) {
	for _, c := range "0123456789@$" {
		t[c] = 1
	}
	return
}()

func wordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '@' || c == '$'
}

// leetOf returns the letter c stands for, or 0.
func leetOf(c byte, run int) byte {
	switch c {
	case '0':
		return 'o'
	case '1':
		if run == 2 {
			return 'l'
		}
		return 'i'
	case '3':
		return 'e'
	case '4', '@':
		return 'a'
	case '5', '$':
		return 's'
	case '7':
		return 't'
	}
	return 0
}

func grow32(s []int32, n int) []int32 {
	if cap(s) >= n {
		return s[:n]
	}
	t := make([]int32, n, n+n/4)
	copy(t, s)
	return t
}
