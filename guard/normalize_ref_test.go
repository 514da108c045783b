// Code generated from normalize.go, decode.go and words.go at commit fe1889f; DO NOT EDIT.

// This is the normalizer as it was before its fast paths: the reference
// the differential tests compare Normalizer with.

package guard

import (
	"encoding/base64"
	"golang.org/x/text/unicode/norm"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Normalize folds text as described at [Normalized] and returns a result
// the caller owns. It allocates; the scanner uses a pooled [Normalizer]
// instead. Detectors fold their phrase lists with Normalize so that a
// phrase and the text it should match go through the same steps.
func refNormalize(text string) *Normalized {
	var n refNormalizer
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
func refFold(text string) string {
	var n refNormalizer
	return string(n.fold(text, false))
}

// Normalizer holds the buffers of the normalization pass so that
// repeated calls do not allocate. A Normalizer is not safe for
// concurrent use; the zero value is ready.
//
// The strings and slices Normalize writes into dst point into the
// Normalizer's buffers: they are valid until its next call. This is why
// detectors must not retain a *Normalized.
type refNormalizer struct {
	a, b   []byte  // ping-pong text buffers
	ao, bo []int32 // their offsets into the original text
	gaps   []int32 // spacing fold: gap widths of a run of single letters

	it norm.Iter

	// Decoding.
	arena   []byte // decoded payloads, raw and folded
	decoded []Decoded
	sub     *refNormalizer // folds decoded payloads
	scratch []byte

	// stats of the last call, for the scanner's obfuscation finding.
	stats refNormStats
}

// normStats describes what the last normalization removed, beyond the
// count in Normalized.Invisible.
type refNormStats struct {
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
func (n *refNormalizer) Normalize(dst *Normalized, text string) {
	n.stats = refNormStats{first: -1}
	n.arena = n.arena[:0]
	n.decoded = n.decoded[:0]
	*dst = Normalized{}

	if refFolded(text) {
		dst.Folded = text
	} else {
		b := n.fold(text, true)
		dst.Folded = unsafe.String(unsafe.SliceData(b), len(b))
		dst.Offsets = n.ao[:len(b)+1]
		dst.Offsets[len(b)] = int32(len(text))
	}
	dst.Invisible = n.stats.invisible
	n.decode(text, 0, len(text), "", 0, refBudgetFor(len(text)))
	n.decodeHidden(text)
	if len(n.decoded) > 0 {
		dst.Decoded = n.decoded
	}
}

// Span maps a byte span of Folded back to a span of the original text.

// folded reports whether text is ASCII that folding leaves unchanged:
// lower case, single spaces between words, no leetspeak, no letter
// spacing, nothing to decode at the rune level.
func refFolded(text string) bool {
	if len(text) == 0 {
		return true
	}
	if text[0] == ' ' || text[len(text)-1] == ' ' {
		return false
	}
	prevSpace := false
	wordLen := 0
	singles := 0
	for i := 0; i < len(text); i++ {
		t := refFoldClass[text[i]]
		if t == refFcPlain {
			prevSpace = false
			wordLen++
			continue
		}
		switch t {
		case refFcSpace:
			if prevSpace {
				return false
			}
			prevSpace = true
			if wordLen == 1 {
				singles++
				if singles >= 2 {
					return false
				}
			} else {
				singles = 0
			}
			wordLen = 0
			continue
		case refFcSeparator:
			if wordLen == 1 && i+2 < len(text) && text[i+2] == text[i] {
				return false
			}
		default:
			return false
		}
		prevSpace = false
		wordLen++
	}
	return true
}

// Classes of bytes for folded.
const (
	refFcPlain = iota
	refFcSpace
	refFcSeparator
	refFcOther
)

var refFoldClass = func() (t [256]uint8) {
	for c := range t {
		b := byte(c)
		switch {
		case b == ' ':
			t[c] = refFcSpace
		case b >= 0x80, b < 0x20, b == 0x7f, 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '@', b == '$':
			t[c] = refFcOther
		case b == '.' || b == '-' || b == '_' || b == '*' || b == '|' || b == '/' || b == '+' || b == '~' || b == ',' || b == ':':
			t[c] = refFcSeparator
		}
	}
	return
}()

// fold runs the rune, script, spacing and leetspeak passes. With offsets
// set, n.ao holds the original offset of every output byte and has room
// for one more entry. The result aliases n.a.
func (n *refNormalizer) fold(text string, offsets bool) []byte {
	ascii := n.runes(text)
	if !ascii {
		n.scripts()
		n.a, n.b, n.ao, n.bo = n.b, n.a, n.bo, n.ao
	}
	n.spacing()
	if offsets {
		n.ao = refGrow32(n.ao, len(n.a)+1)
	}
	return n.a
}

// runes is pass 1: invalid UTF-8 becomes U+FFFD, invisible characters
// are removed and counted, NFKC is applied, letters are lower-cased,
// combining marks on ASCII letters are dropped and every space becomes
// ' '. It reports whether the output is ASCII.
func (n *refNormalizer) runes(text string) bool {
	out, off := n.a[:0], n.ao[:0]
	if cap(out) < len(text) {
		out = make([]byte, 0, len(text)+len(text)/8)
		off = make([]int32, 0, cap(out)+1)
	}
	ascii := true
	i := 0
	for i < len(text) {

		j := i
		for j < len(text) && text[j] < utf8.RuneSelf {
			j++
		}
		if j > i {
			base := len(out)
			out = slices.Grow(out, j-i)[:base+j-i]
			off = slices.Grow(off, j-i)[:base+j-i]
			o, f := out[base:], off[base:]
			for k := range j - i {
				o[k] = refLowerASCII[text[i+k]]
				f[k] = int32(i + k)
			}
			i = j
			if i == len(text) {
				break
			}
		}

		j = i + 1
		for j < len(text) && text[j] >= utf8.RuneSelf {
			j++
		}
		start := i
		if i > 0 && len(out) > 0 && off[len(off)-1] == int32(i-1) && refIsLetterByte(text[i-1]) {
			if r, _ := utf8.DecodeRuneInString(text[i:]); unicode.Is(unicode.Mn, r) {
				start = i - 1
				out, off = out[:len(out)-1], off[:len(off)-1]
			}
		}
		seg := text[start:j]
		if !utf8.ValidString(seg) {

			out, off = n.invalid(out, off, text, start, j)
			ascii = false
			i = j
			continue
		}

		if len(out) > refMaxExpansion*len(text)+64 {
			for k := 0; k < len(seg); {
				r, size := utf8.DecodeRuneInString(seg[k:])
				out, off, _ = n.rune(out, off, r, start+k)
				k += size
			}
			ascii = false
			i = j
			continue
		}

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
				if len(out) > refMaxExpansion*len(text)+64 {
					for k := pos - start; k < len(seg); {
						r, size := utf8.DecodeRuneInString(seg[k:])
						out, off, _ = n.rune(out, off, r, start+k)
						k += size
					}
					ascii = false

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

// invalid folds text[i:j], which holds invalid UTF-8, rune by rune; each
// run of invalid bytes becomes one U+FFFD.
func (n *refNormalizer) invalid(out []byte, off []int32, text string, i, j int) ([]byte, []int32) {
	for i < j {
		r, size := utf8.DecodeRuneInString(text[i:j])
		if r == utf8.RuneError && size == 1 {

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
func (n *refNormalizer) rune(out []byte, off []int32, r rune, pos int) ([]byte, []int32, bool) {
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
	if refCaseless(r) {
		// CJK, kana and Hangul: no case, no marks to strip, not spaces.
		var buf [utf8.UTFMax]byte
		size := utf8.EncodeRune(buf[:], r)
		out = append(out, buf[:size]...)
		for range size {
			off = append(off, int32(pos))
		}
		return out, off, true
	}
	if k := refInvisibleKind(r); k != 0 {
		n.invisible(k, r, pos, out)
		return out, off, false
	}
	if unicode.IsSpace(r) {
		return append(out, ' '), append(off, int32(pos)), false
	}
	if len(out) > 0 && refIsLetterByte(out[len(out)-1]) && unicode.In(r, unicode.Mn, unicode.Me) {
		n.stats.marks++
		return out, off, false
	}
	if r == utf8.RuneError {
		out = append(out, "\uFFFD"...)
		return out, append(off, int32(pos), int32(pos), int32(pos)), true
	}
	if r >= 0x0590 && r <= 0x08FF || r >= 0xFB1D && r <= 0xFDFF || r >= 0xFE70 && r <= 0xFEFC {
		n.stats.rtl = true
	}
	r = unicode.ToLower(r)
	var buf [utf8.UTFMax]byte
	size := utf8.EncodeRune(buf[:], r)
	out = append(out, buf[:size]...)
	for range size {
		off = append(off, int32(pos))
	}
	return out, off, true
}

// maxExpansion bounds what NFKC may expand the folded text to, in times
// the input plus 64 bytes; past it, code points are kept undecomposed.
const refMaxExpansion = 2

// The kinds of invisible characters.
const (
	refInvZeroWidth = iota + 1
	refInvBidi
	refInvTag
	refInvSelector
	refInvOther
	refInvBenign // removed but not counted: BOM at the start, ZWJ in emoji, VS16
)

// invisibleKind classifies r as an invisible character or returns 0.
func refInvisibleKind(r rune) int {
	switch {
	case r == 0x200B, r == 0x200C, r == 0x200D, r == 0x2060, r == 0xFEFF,
		r >= 0x2061 && r <= 0x2064, r == 0x180E, r == 0x115F, r == 0x1160,
		r == 0x3164, r == 0xFFA0, r == 0x034F, r == 0x00AD, r == 0x17B4, r == 0x17B5:
		return refInvZeroWidth
	case r == 0x200E, r == 0x200F, r == 0x061C, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return refInvBidi
	case r >= 0xE0000 && r <= 0xE007F:
		return refInvTag
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF:
		return refInvSelector
	case r >= 0xFFF9 && r <= 0xFFFB, r >= 0x206A && r <= 0x206F, r == 0x1D173, r >= 0x1D174 && r <= 0x1D17A:
		return refInvOther
	case r >= 0x0600 && r <= 0x0605, r == 0x06DD, r == 0x070F, r == 0x0890, r == 0x0891, r == 0x08E2,
		r == 0x110BD, r == 0x110CD, r >= 0x13430 && r <= 0x1343F, r >= 0x1BCA0 && r <= 0x1BCA3:
		return refInvOther
	}
	return 0
}

// caseless reports whether r is in a block of letters without case,
// marks or spaces: CJK ideographs, kana, Hangul syllables.
func refCaseless(r rune) bool {
	return r >= 0x3041 && r <= 0x30FF || r >= 0x3400 && r <= 0x4DBF || r >= 0x4E00 && r <= 0x9FFF ||
		r >= 0xAC00 && r <= 0xD7A3 || r >= 0x20000 && r <= 0x2FA1F
}

// invisible records a removed invisible character at pos; out is what
// has been emitted so far (for context).
func (n *refNormalizer) invisible(kind int, r rune, pos int, out []byte) {
	prevASCII := len(out) > 0 && out[len(out)-1] < utf8.RuneSelf && out[len(out)-1] != ' '
	switch kind {
	case refInvZeroWidth:

		if (r == 0x200C || r == 0x200D) && !prevASCII {
			return
		}
		if r == 0xFEFF && pos == 0 {
			return
		}
		n.stats.zeroWidth++
	case refInvBidi:
		n.stats.bidi++
	case refInvTag:
		n.stats.tags++
	case refInvSelector:

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

func refIsLetterByte(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// lowerASCII lower-cases ASCII letters and turns control characters into
// spaces.
var refLowerASCII = func() (t [128]byte) {
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
func (n *refNormalizer) scripts() {
	in, ino := n.a, n.ao
	out, off := n.b[:0], n.bo[:0]
	for i := 0; i < len(in); {
		if in[i] < utf8.RuneSelf {

			j := i + 1
			for j < len(in) && in[j] < utf8.RuneSelf {
				j++
			}
			k := j
			if j < len(in) {
				for k > i && refIsLetterByte(in[k-1]) {
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
		if r >= utf8.RuneSelf && refCaseless(r) {

			j := i + size
			for j < len(in) {
				r2, s2 := utf8.DecodeRune(in[j:])
				if r2 < utf8.RuneSelf || !refCaseless(r2) {
					break
				}
				j += s2
			}
			out = append(out, in[i:j]...)
			off = append(off, ino[i:j]...)
			i = j
			continue
		}
		if !unicode.IsLetter(r) {
			if r >= utf8.RuneSelf {
				if to, ok := refConfusable(r); ok {
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

		j := i
		asciiN, nonASCII, mapped, cyr, grk := 0, 0, 0, 0, 0
		for j < len(in) {
			r, size := utf8.DecodeRune(in[j:])
			if r < utf8.RuneSelf {
				if !refIsLetterByte(byte(r)) {
					break
				}
			} else if refCaseless(r) || !unicode.IsLetter(r) && !unicode.IsMark(r) {
				break
			}
			switch {
			case r < utf8.RuneSelf:
				asciiN++
			case refCaseless(r):
				nonASCII++
			case unicode.IsMark(r):
			default:
				nonASCII++
				if _, ok := refConfusable(r); ok {
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
				if to, ok := refConfusable(r); ok {
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
			table := &refLatinToCyrillic
			if grk > cyr {
				table = &refLatinToGreek
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

// confusable returns the ASCII skeleton of r from the generated table.
func refConfusable(r rune) (string, bool) {
	if r < confusables[0].r || r > confusables[len(confusables)-1].r {
		return "", false
	}
	if r < 0x10000 && refConfusableBMP[r>>6]&(1<<(r&63)) == 0 {
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
var refConfusableBMP = func() (t [1024]uint64) {
	for _, e := range confusables {
		if e.r < 0x10000 {
			t[e.r>>6] |= 1 << (e.r & 63)
		}
	}
	return
}()

// latinToCyrillic and latinToGreek write lower-case ASCII look-alikes in
// the other script: the inverse of the table's entries for those scripts.
var refLatinToCyrillic, refLatinToGreek = func() (c, g [128]rune) {
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
func (n *refNormalizer) spacing() {
	b, off := n.a, n.ao
	gaps := n.gaps[:0]
	w := 0
	runStart, runN, runLetters := -1, 0, 0
	tokens, leets := 0, 0

	closeRun := func() {
		if runN >= 3 && runLetters >= 2 {
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
			leets += refLeet(b[runStart:k2])
			w = k2
		}
		runStart, runN, runLetters = -1, 0, 0
		gaps = gaps[:0]
	}

	gap := 0
	for i := 0; i < len(b); {
		if b[i] == ' ' {
			gap++
			i++
			continue
		}
		j := i + 1
		var lf uint8 // some byte may be leetspeak
		for j < len(b) && b[j] != ' ' {
			lf |= refLeetTab[b[j]]
			j++
		}
		lf |= refLeetTab[b[i]]
		single := false
		if c := b[i]; j-i == 1 {

			single = refIsLetterByte(c) || refLeetByte(rune(c)) || runN > 0 && strings.IndexByte(".,'!?:;-", c) >= 0
		} else if c >= utf8.RuneSelf && j-i <= utf8.UTFMax {
			r, size := utf8.DecodeRune(b[i:j])
			single = size == j-i && unicode.IsLetter(r)
		}
		if !single && runN > 0 {
			closeRun()
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
			if b[i] >= utf8.RuneSelf || refIsLetterByte(b[i]) {
				runLetters++
			}
			w += copy(b[w:], b[i:j])
			copy(off[w-(j-i):], off[i:j])
			gap = 0
			i = j
			continue
		}
		t := w
		if j-i >= 7 && refSpacedToken(b[i:j]) > 0 {
			sep := 1

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
			leets += refLeet(b[t:w])
		}
		tokens++
		gap = 0
		i = j
	}
	if runN > 0 {
		closeRun()
	}
	n.a, n.ao, n.gaps = b[:w], off[:w], gaps

	if leets >= 2 && leets*3 >= tokens {
		refLeetText(n.a)
	}
}

// spacedToken reports whether tok is four or more single letters joined
// by one repeated separator ("i.g.n.o.r.e", "i-g-n-o-r-e", an optional
// trailing separator allowed); it returns the separator's width or 0.
func refSpacedToken(tok []byte) int {
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
		if !unicode.IsLetter(r) && !refLeetByte(r) {
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
			return 0
		}
	}
	if letters < 4 {
		return 0
	}
	return 1
}

func refLeetByte(r rune) bool {
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
func refLeet(b []byte) (refFolded int) {
	for i := 0; i < len(b); {
		if !refWordByte(b[i]) {
			i++
			continue
		}
		j := i
		letters, leets, other, inner := 0, 0, false, false
		for j < len(b) && refWordByte(b[j]) {
			c := b[j]
			switch {
			case 'a' <= c && c <= 'z':
				letters++
			case refLeetOf(c, 0) == 0:
				other = true
			default:
				leets++
				if letters > 0 && j+1 < len(b) && 'a' <= b[j+1] && b[j+1] <= 'z' {
					inner = true
				}
			}
			j++
		}
		if !other && leets > 0 && (inner || letters >= 4 || letters >= 2 && leets == 1 && !refOrdinal(b[i:j])) {
			refFolded++
			for k := i; k < j; k++ {
				if c := b[k]; c < 'a' || c > 'z' {
					var run int
					if c == '1' {

						run = 1
						if k+1 < j && b[k+1] == '1' || k > i && b[k-1] == 'l' {
							run = 2
						}
					}
					b[k] = refLeetOf(c, run)
				}
			}
		}
		i = j
	}
	return refFolded
}

// leetText folds every word of b (ASCII letters, digits, @ and $) whose
// digits all have a letter reading, short all-digit words included
// ("7h3", "15", "70"): for text that is mostly leetspeak, where
// [leet]'s caution would leave half the words as numbers.
func refLeetText(b []byte) {
	for i := 0; i < len(b); {
		if !refWordByte(b[i]) {
			i++
			continue
		}
		j := i
		letters, other := 0, false
		for j < len(b) && refWordByte(b[j]) {
			c := b[j]
			if 'a' <= c && c <= 'z' {
				letters++
			} else if refLeetOf(c, 0) == 0 {
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
					b[k] = refLeetOf(c, run)
				}
			}
		}
		i = j
	}
}

// ordinal reports whether w is a number with an ordinal suffix ("4th").
func refOrdinal(w []byte) bool {
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
var refLeetTab = func() (t [256]uint8) {
	for _, c := range "0123456789@$" {
		t[c] = 1
	}
	return
}()

func refWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '@' || c == '$'
}

// leetOf returns the letter c stands for, or 0.
func refLeetOf(c byte, run int) byte {
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

func refGrow32(s []int32, n int) []int32 {
	if cap(s) >= n {
		return s[:n]
	}
	t := make([]int32, n, n+n/4)
	copy(t, s)
	return t
}

// Decoding limits. Every decoded payload is at most as long as its
// encoded run (rot13 keeps the length, the others shrink it), so the
// budget bounds the total work at a small multiple of the input.
const (
	refMaxDecodeDepth = 3  // an encoding inside an encoding inside an encoding
	refMaxDecoded     = 32 // payloads per string
	refMinBase64      = 16 // characters of a base64 run
	refMinHex         = 16 // characters of a contiguous hex run
	refMinHexPairs    = 6  // separated pairs ("69 67 6e ...")
	refMinEscapes     = 3  // %XX escapes in a URL-encoded run
	refMinRot13Words  = 3
)

// budgetFor is the number of decoded bytes allowed for an input of n
// bytes.
func refBudgetFor(n int) int { return 2*n + 64 }

// decode finds encoded runs in text, decodes them and appends them to
// n.decoded, then decodes inside each payload. For depth 0 the runs'
// spans are their own; deeper, every payload carries the span of the
// outermost run (outerStart, outerEnd) and its chain of encodings.
func (n *refNormalizer) decode(text string, outerStart, outerEnd int, chain string, depth int, budget int) int {
	if depth >= refMaxDecodeDepth || len(text) < refMinEscapes*3 {
		return budget
	}
	sum := refSummarize(text)
	if sum.base64 {
		budget = n.base64Runs(text, outerStart, outerEnd, chain, depth, budget)
	}
	if sum.hex {
		budget = n.hexRuns(text, outerStart, outerEnd, chain, depth, budget)
	}
	if sum.url {
		budget = n.urlRuns(text, outerStart, outerEnd, chain, depth, budget)
	}
	if sum.rot13 {
		budget = n.rot13Runs(text, outerStart, outerEnd, chain, depth, budget)
	}
	return budget
}

// summary says which decoders may find something in a text.
type refSummary struct {
	base64, hex, url, rot13 bool
}

// summarize is one cheap pass that tells which decoders to run: base64
// needs a run of 16 alphabet characters; hex a run of 16 hex digits, a
// "\x" or "0x" prefix, or two pairs around a separator; URL decoding a
// '%'; rot13 a letter distribution closer to rotated English than
// English is: the letters e, t, o and i (36% of English letters) and
// their images r, g, b and v (11%) trade places under rot13, so text
// whose r+g+b+v count reaches a third of its e+t+o+i count is checked
// word by word. A rotated sentence inside a long English text can stay
// under that bar: the price of not hashing every word of every text.
func refSummarize(text string) (s refSummary) {
	// Branch-free counting: the only branch taken per byte is the loop's.
	var b64Run, hexRun, maxB64, maxHex, eToI, rToV int
	pairs := false
	for i := 0; i < len(text); i++ {
		k := refSumClass[text[i]]
		eToI += int(k >> 6 & 1)
		rToV += int(k >> 7)

		if refB2i(hexRun == 2)&int(k>>5&1) != 0 && i+2 < len(text) && refIsDigit(text[i-2]) && refIsDigit(text[i+1]) && refIsHex(text[i+2]) {
			pairs = true
		}
		b64Run = (b64Run + 1) & -int(k&refClB64)
		hexRun = (hexRun + 1) & -int(k>>1&1)
		maxB64 = max(maxB64, b64Run)
		maxHex = max(maxHex, hexRun)
	}
	s.base64 = maxB64 >= refMinBase64
	s.hex = maxHex >= refMinHex || pairs ||
		strings.Contains(text, "\\x") || strings.Contains(text, "0x") || strings.Contains(text, "0X") || strings.Contains(text, "\\X")
	s.url = strings.IndexByte(text, '%') >= 0
	s.rot13 = eToI+rToV >= 8 && rToV*3 >= eToI
	return
}

func refIsDigit(c byte) bool { return '0' <= c && c <= '9' }

func refB2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sumClass is class (clB64 must be 1, clHex 2) plus sumSeparator for
// the separators of hex pairs and, in the top two bits, the rot13 letter
// groups (e, t, o, i and their images r, g, b, v).
const refSumSeparator = 1 << 5

var refSumClass = func() (t [256]uint8) {
	for c := range t {
		t[c] = refClass[c]
	}
	for _, c := range " :,-" {
		t[c] |= refSumSeparator
	}
	for _, c := range "etoiETOI" {
		t[c] |= 1 << 6
	}
	for _, c := range "rgbvRGBV" {
		t[c] |= 1 << 7
	}
	return
}()

// emit records one payload: raw is the decoded text, already in n.arena
// (as arena[rawStart:]), s and e its run in text. It folds the payload,
// records it and decodes inside it. It returns the remaining budget.
func (n *refNormalizer) emit(enc string, rawStart, s, e, outerStart, outerEnd int, chain string, depth, budget int) int {
	raw := n.arena[rawStart:]
	if len(n.decoded) >= refMaxDecoded || len(raw) == 0 || len(raw) > budget {
		n.arena = n.arena[:rawStart]
		return budget
	}
	budget -= len(raw)
	rawStr := unsafe.String(unsafe.SliceData(raw), len(raw))
	if depth == 0 {
		outerStart, outerEnd = s, e
		chain = enc
	} else {
		chain = chain + "+" + enc
	}
	if n.sub == nil {
		n.sub = new(refNormalizer)
	}
	f := n.sub.fold(rawStr, false)
	at := len(n.arena)
	n.arena = append(n.arena, f...)

	text := unsafe.String(unsafe.SliceData(n.arena[at:]), len(f))
	n.decoded = append(n.decoded, Decoded{Encoding: chain, Start: outerStart, End: outerEnd, Text: text})
	return n.decode(rawStr, outerStart, outerEnd, chain, depth+1, budget)
}

// Byte classes for the decoders' scans.
const (
	refClB64    = 1 << iota // base64, standard or URL alphabet
	refClHex                // hex digit
	refClLetter             // ASCII letter
	refClDigit              // ASCII digit
)

var refClass = func() (t [256]uint8) {
	for c := range t {
		b := byte(c)
		if refIsLetterByte(b) {
			t[c] |= refClLetter | refClB64
		}
		if '0' <= b && b <= '9' {
			t[c] |= refClDigit | refClB64 | refClHex
		}
		if 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' {
			t[c] |= refClHex
		}
		switch b {
		case '+', '/', '-', '_':
			t[c] |= refClB64
		}
	}
	return
}()

func refB64Byte(c byte) bool { return refClass[c]&refClB64 != 0 }

// base64Runs decodes runs of the standard or URL base64 alphabet of at
// least minBase64 characters, with mixed case, whose decoding is mostly
// printable text. Runs may span line breaks after whole 4-character
// groups (MIME).
func (n *refNormalizer) base64Runs(text string, os, oe int, chain string, depth, budget int) int {
	for i := 0; i < len(text); {
		if !refB64Byte(text[i]) {
			i++
			continue
		}
		j, cnt := i, 0
		for {
			for j < len(text) && refB64Byte(text[j]) {
				j++
				cnt++
			}

			k := j
			if k < len(text) && text[k] == '\r' {
				k++
			}
			if k < len(text) && text[k] == '\n' && cnt%4 == 0 && cnt >= refMinBase64 && k+1 < len(text) && refB64Byte(text[k+1]) {
				j = k + 1
				continue
			}
			break
		}
		e := j
		for e < len(text) && e-j < 2 && text[e] == '=' {
			e++
		}
		if j-i >= refMinBase64 {
			if b := n.tryBase64(text, i, j, e, os, oe, chain, depth, budget); b >= 0 {
				budget = b
			}
		}
		i = e
		if i == j {
			i = j + 1
		}
	}
	return budget
}

// tryBase64 decodes text[i:j] (padding up to e); on failure it tries the
// longest '/'-separated piece, for payloads inside URL paths. It
// returns the new budget, or -1 when nothing was decoded.
func (n *refNormalizer) tryBase64(text string, i, j, e, os, oe int, chain string, depth, budget int) int {
	if b := n.base64At(text, i, j, e, os, oe, chain, depth, budget); b >= 0 {
		return b
	}
	bi, bj := -1, -1
	for s := i; s < j; {
		t := s
		for t < j && text[t] != '/' {
			t++
		}
		if t-s > bj-bi {
			bi, bj = s, t
		}
		s = t + 1
	}
	if bi >= 0 && bj-bi >= refMinBase64 && bj-bi < j-i {
		end := bj
		if bj == j {
			end = e
		}
		return n.base64At(text, bi, bj, end, os, oe, chain, depth, budget)
	}
	return -1
}

func (n *refNormalizer) base64At(text string, i, j, e, os, oe int, chain string, depth, budget int) int {
	upper, lower, std, url := 0, 0, false, false
	for k := i; k < j; k++ {
		switch c := text[k]; {
		case 'A' <= c && c <= 'Z':
			upper++
		case 'a' <= c && c <= 'z':
			lower++
		case c == '+' || c == '/':
			std = true
		case c == '-' || c == '_':
			url = true
		}
	}
	if upper == 0 || lower == 0 || std && url {
		return -1
	}

	src := n.scratch[:0]
	for k := i; k < j; k++ {
		if c := text[k]; c != '\n' && c != '\r' {
			src = append(src, c)
		}
	}
	n.scratch = src
	if len(src)%4 == 1 {
		src = src[:len(src)-1]
	}
	enc := base64.RawStdEncoding
	if url {
		enc = base64.RawURLEncoding
	}
	at := len(n.arena)
	need := enc.DecodedLen(len(src))
	n.arena = append(n.arena, make([]byte, need)...)
	m, err := enc.Decode(n.arena[at:], src)
	if err != nil || !refMostlyText(n.arena[at:at+m]) {
		n.arena = n.arena[:at]
		return -1
	}
	n.arena = n.arena[:at+m]
	return n.emit("base64", at, i, e, os, oe, chain, depth, budget)
}

// mostlyText reports whether b is valid UTF-8 of which at least 90% of
// the runes are printable (or tab and newlines) and at least 40% letters
// or digits: decoded text, not random bytes.
func refMostlyText(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	total, printable, letters := 0, 0, 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		i += size
		total++
		switch {
		case r < utf8.RuneSelf:
			c := byte(r)
			if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' || c == '\r' {
				printable++
			}
			if refIsLetterByte(c) || '0' <= c && c <= '9' {
				letters++
			}
		case unicode.IsPrint(r):
			printable++
			if unicode.IsLetter(r) {
				letters++
			}
		}
	}
	return printable*10 >= total*9 && letters*5 >= total*2
}

func refHexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func refIsHex(c byte) bool { return refClass[c]&refClHex != 0 }

// hexRuns decodes contiguous hex runs ("69676e6f7265..."), runs of
// escaped bytes ("\x69\x67...", "0x69 0x67 ...") and separated pairs
// ("69 67 6e 6f 72 65", "69:67:..."). A run must hold a letter a-f, so
// that digit strings (card and phone numbers) are never read as hex.
func (n *refNormalizer) hexRuns(text string, os, oe int, chain string, depth, budget int) int {
	for i := 0; i < len(text); {
		c := text[i]
		if c == '\\' {
			if len(text)-i > 4 && text[i+1]|0x20 == 'x' {
				e, at, ok := n.hexSeq(text, i)
				if ok {
					budget = n.emit("hex", at, i, e, os, oe, chain, depth, budget)
				}
				i = max(e, i+1)
				continue
			}
			i++
			continue
		}
		if refClass[c]&refClB64 == 0 {
			i++
			continue
		}

		j := i
		for j < len(text) && refClass[text[j]]&refClHex != 0 {
			j++
		}
		cand := j-i >= refMinHex ||
			c == '0' && len(text)-i > 4 && text[i+1]|0x20 == 'x' ||
			j-i == 2 && refIsDigit(c) && len(text)-j > 2 && (text[j] == ' ' || text[j] == ':' || text[j] == ',' || text[j] == '-') && refIsDigit(text[j+1]) && refIsHex(text[j+2])
		if cand {
			e, at, ok := n.hexSeq(text, i)
			if ok {
				budget = n.emit("hex", at, i, e, os, oe, chain, depth, budget)
			}
			if e > j {
				i = e
				continue
			}
		}
		for j < len(text) && refClass[text[j]]&refClB64 != 0 {
			j++
		}
		i = j
	}
	return budget
}

// hexSeq decodes the hex sequence starting at text[i] into n.arena and
// returns its end, where its bytes start in the arena and whether it
// decoded to text. The end is past what was read even when it did not,
// so that the caller never reads the same sequence twice.
func (n *refNormalizer) hexSeq(text string, i int) (end, at int, ok bool) {
	at = len(n.arena)
	letter := false

	j := i
	for j < len(text) && refIsHex(text[j]) {
		if text[j] > '9' {
			letter = true
		}
		j++
	}
	if j-i >= refMinHex && (j == len(text) || !refB64Byte(text[j])) {
		jj := i + (j-i)&^1
		for k := i; k < jj; k += 2 {
			hi, _ := refHexVal(text[k])
			lo, _ := refHexVal(text[k+1])
			n.arena = append(n.arena, hi<<4|lo)
		}
		if letter && refMostlyText(n.arena[at:]) {
			return j, at, true
		}
		n.arena = n.arena[:at]
		return j, at, false
	}

	prefix := ""
	switch {
	case len(text)-i > 4 && text[i] == '\\' && (text[i+1] == 'x' || text[i+1] == 'X'):
		prefix = text[i : i+2]
	case len(text)-i > 4 && text[i] == '0' && (text[i+1] == 'x' || text[i+1] == 'X'):
		prefix = text[i : i+2]
	}
	var sep byte
	pairs := 0
	k := i
	letter = false
	for {
		p := k
		if prefix != "" {
			if len(text)-p < 2 || text[p] != prefix[0] || text[p+1]|0x20 != prefix[1]|0x20 {
				break
			}
			p += 2
		}
		if len(text)-p < 2 || !refIsHex(text[p]) || !refIsHex(text[p+1]) || p+2 < len(text) && refIsHex(text[p+2]) {
			break
		}
		hi, _ := refHexVal(text[p])
		lo, _ := refHexVal(text[p+1])
		if text[p] > '9' || text[p+1] > '9' {
			letter = true
		}
		n.arena = append(n.arena, hi<<4|lo)
		pairs++
		k = p + 2
		if k >= len(text) {
			break
		}
		next := text[k]
		if pairs == 1 {
			switch next {
			case ' ', ':', ',', '-':
				sep = next
			default:
				if prefix == "" {
					break
				}
				sep = 0
			}
		}
		if sep != 0 {
			if next != sep || k+1 >= len(text) {
				break
			}

			if sep == ',' && k+2 < len(text) && text[k+1] == ' ' {
				k++
			}

			q := k + 1
			if prefix != "" && len(text)-q >= 2 && text[q] == prefix[0] {
				k = q
				continue
			}
			if prefix == "" && len(text)-q >= 2 && refIsHex(text[q]) && refIsHex(text[q+1]) {
				k = q
				continue
			}
			break
		}
		if prefix == "" {
			break
		}
	}
	minPairs := refMinHexPairs
	if prefix != "" {
		minPairs = 4
	}
	if pairs >= minPairs && (letter || prefix != "") && refMostlyText(n.arena[at:]) {
		return k, at, true
	}
	n.arena = n.arena[:at]
	return max(k, i+1), at, false
}

// urlRuns decodes space-delimited runs that hold at least minEscapes
// %XX escapes.
func (n *refNormalizer) urlRuns(text string, os, oe int, chain string, depth, budget int) int {
	for i := 0; i < len(text); {
		p := refIndexByte(text, i, '%')
		if p < 0 {
			break
		}

		s := p
		for s > i && text[s-1] > ' ' {
			s--
		}
		e := p
		for e < len(text) && text[e] > ' ' {
			e++
		}
		escapes := 0
		for k := s; k+2 < e; k++ {
			if text[k] == '%' && refIsHex(text[k+1]) && refIsHex(text[k+2]) {
				escapes++
				k += 2
			}
		}
		if escapes >= refMinEscapes {
			at := len(n.arena)
			for k := s; k < e; k++ {
				if text[k] == '%' && k+2 < e && refIsHex(text[k+1]) && refIsHex(text[k+2]) {
					hi, _ := refHexVal(text[k+1])
					lo, _ := refHexVal(text[k+2])
					n.arena = append(n.arena, hi<<4|lo)
					k += 2
					continue
				}
				n.arena = append(n.arena, text[k])
			}
			if refMostlyText(n.arena[at:]) {
				budget = n.emit("url", at, s, e, os, oe, chain, depth, budget)
			} else {
				n.arena = n.arena[:at]
			}
		}
		i = e
	}
	return budget
}

func refIndexByte(s string, from int, c byte) int {
	if k := strings.IndexByte(s[from:], c); k >= 0 {
		return from + k
	}
	return -1
}

// rot13Runs decodes stretches of at least minRot13Words ASCII words none
// of which is a common English word, when at least two of them and 30%
// become common English words once rotated ("Vtaber nyy cerivbhf
// vafgehpgvbaf" reads "Ignore all previous instructions"). Each word
// costs two table probes.
func (n *refNormalizer) rot13Runs(text string, os, oe int, chain string, depth, budget int) int {
	words := 0
	start, end := -1, -1
	flush := func() {
		if words >= refMinRot13Words {
			budget = n.rot13Stretch(text, start, end, words, os, oe, chain, depth, budget)
		}
		words, start, end = 0, -1, -1
	}
	for i := 0; i < len(text); {
		c := text[i]
		if refClass[c]&refClLetter == 0 {
			if refClass[c]&refClDigit != 0 || c == '\n' && i+1 < len(text) && text[i+1] == '\n' {
				flush()
			}
			i++
			continue
		}
		j := i
		var w []byte
		for j < len(text) && refClass[text[j]]&refClLetter != 0 {
			w = append(w, text[j]|0x20)
			j++
		}
		switch {
		case j < len(text) && refClass[text[j]]&refClDigit != 0:
			flush()
		case j-i >= 2 && refCommonWord(string(w)):
			flush()
		default:
			if start < 0 {
				start = i
			}
			end = j
			words++
		}
		i = j
	}
	flush()
	return budget
}

// rot13Stretch decodes text[start:end], a stretch of words none of which
// is common, if at least two of its words of three letters or more, and
// 30% of them, become common words once rotated.
func (n *refNormalizer) rot13Stretch(text string, start, end, words, os, oe int, chain string, depth, budget int) int {

	long, hits := 0, 0
	for i := start; i < end; {
		if refClass[text[i]]&refClLetter == 0 {
			i++
			continue
		}
		j := i
		var w []byte
		for j < end && refClass[text[j]]&refClLetter != 0 {
			w = append(w, refRot13(text[j]|0x20))
			j++
		}
		if j-i >= 3 {
			long++
			if refCommonWord(string(w)) {
				hits++
			}
		}
		i = j
	}
	if hits < 2 || hits*10 < long*3 {
		return budget
	}
	at := len(n.arena)
	for k := start; k < end; k++ {
		n.arena = append(n.arena, refRot13(text[k]))
	}
	return n.emit("rot13", at, start, end, os, oe, chain, depth, budget)
}

func refRot13(c byte) byte {
	switch {
	case 'a' <= c && c <= 'z':
		return 'a' + (c-'a'+13)%26
	case 'A' <= c && c <= 'Z':
		return 'A' + (c-'A'+13)%26
	}
	return c
}

// decodeHidden decodes text smuggled in invisible characters: Unicode
// tag characters (U+E0020-U+E007E spell ASCII) and runs of variation
// selectors (one byte each, as in "emoji smuggling").
func (n *refNormalizer) decodeHidden(text string) {
	if n.stats.tags == 0 && n.stats.selectors == 0 {
		return
	}
	budget := refBudgetFor(len(text))
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		tag := r >= 0xE0020 && r <= 0xE007E
		vs := r >= 0xFE00 && r <= 0xFE0F || r >= 0xE0100 && r <= 0xE01EF
		if !tag && !vs {
			i += size
			continue
		}
		at := len(n.arena)
		j := i
		for j < len(text) {
			r, size := utf8.DecodeRuneInString(text[j:])
			switch {
			case tag && r >= 0xE0020 && r <= 0xE007E:
				n.arena = append(n.arena, byte(r-0xE0000))
			case !tag && r >= 0xFE00 && r <= 0xFE0F:
				n.arena = append(n.arena, byte(r-0xFE00))
			case !tag && r >= 0xE0100 && r <= 0xE01EF:
				n.arena = append(n.arena, byte(r-0xE0100+16))
			default:
				goto done
			}
			j += size
		}
	done:
		enc := "tags"
		ok := len(n.arena)-at >= 2
		if !tag {
			enc = "variation_selectors"
			ok = len(n.arena)-at >= 4 && refMostlyText(n.arena[at:])
		}
		if ok {
			budget = n.emit(enc, at, i, j, 0, 0, "", 0, budget)
			n.stats.tagPayload = true
		} else {
			n.arena = n.arena[:at]
		}
		i = j
	}
}

// commonWords are frequent English words (function words, common verbs
// and nouns, and the words of instructions to a model) and function
// words of five other European languages. The rot13 decoder uses them to
// tell rotated text from other text.
var refCommonWords = [...]string{
	"the", "be", "to", "of", "and", "in", "that", "have", "it", "for", "not", "on", "with",
	"he", "as", "you", "do", "at", "this", "but", "his", "by", "from", "they", "we", "say",
	"her", "she", "or", "an", "will", "my", "one", "all", "would", "there", "their", "what",
	"so", "up", "out", "if", "about", "who", "get", "which", "go", "me", "when", "make",
	"can", "like", "time", "no", "just", "him", "know", "take", "people", "into", "year",
	"your", "good", "some", "could", "them", "see", "other", "than", "then", "now", "look",
	"only", "come", "its", "over", "think", "also", "back", "after", "use", "two", "how",
	"our", "work", "first", "well", "way", "even", "new", "want", "because", "any", "these",
	"give", "day", "most", "us", "is", "are", "was", "were", "been", "has", "had", "did",
	"does", "am", "should", "must", "may", "might", "shall", "need", "tell", "show", "write",
	"read", "send", "print", "reveal", "ignore", "forget", "disregard", "previous", "prior",
	"above", "below", "instructions", "instruction", "rules", "rule", "system", "prompt",
	"password", "secret", "key", "user", "assistant", "answer", "question", "please", "now",
	"here", "where", "why", "very", "more", "many", "much", "every", "each", "before",
	"again", "always", "never", "nothing", "everything", "anything", "something", "same",
	"own", "too", "off", "down", "through", "between", "under", "while", "without", "still",
	"those", "such", "being", "yes", "okay", "hello", "thanks", "thank", "help", "let",
	"find", "keep", "put", "call", "try", "ask", "seem", "feel", "leave", "mean", "begin",
	"start", "stop", "run", "data", "file", "files", "text", "message", "email", "mail",
	"information", "content", "output", "input", "response", "following", "next", "last",
	"world", "life", "hand", "part", "place", "case", "week", "thing", "point", "number",
	"name", "home", "water", "word", "words", "long", "little", "great", "old", "big", "high",
	"different", "small", "large", "important", "right", "left", "true", "false", "free",
	"mode", "act", "pretend", "role", "access", "admin", "code", "execute", "command",

	"el", "la", "los", "las", "que", "en", "es", "por", "para", "con", "una", "del", "como",
	"os", "um", "uma", "nao", "mais", "le", "les", "est", "et", "des", "une", "pour", "dans",
	"vous", "pas", "il", "che", "di", "per", "sono", "der", "die", "das", "und", "ist",
	"nicht", "mit", "ein", "eine", "zu", "den", "sie", "ich", "du", "alle", "passwort",
	"contrasena", "senha", "mot", "passe", "ignora", "ignorez", "ignoriere",
}

// refCommonSet holds the common words.
var refCommonSet = func() map[string]bool {
	m := make(map[string]bool, len(refCommonWords))
	for _, w := range refCommonWords {
		m[w] = true
	}
	return m
}()

// refCommonWord reports whether w, lower case, is a common word.
func refCommonWord(w string) bool { return refCommonSet[w] }
