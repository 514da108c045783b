package guard

import (
	"sort"
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

	// stats of the last call, for the scanner's obfuscation finding.
	stats normStats
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
	prevSpace := false
	wordLen := 0    // length of the current space-delimited token
	singles := 0    // consecutive single-character tokens
	digits := false // the current token has a digit, @ or $
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == ' ':
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
			if digits {
				return false
			}
			wordLen = 0
			continue
		case c >= 0x80, c < 0x20, 'A' <= c && c <= 'Z':
			return false
		case '0' <= c && c <= '9', c == '@', c == '$':
			digits = true
		case c == '.' || c == '-' || c == '_' || c == '*' || c == '|' || c == '/':
			if wordLen == 1 && i+2 < len(text) && text[i+2] == c {
				return false // maybe "i.g.n.o.r.e"
			}
		}
		prevSpace = false
		wordLen++
	}
	return !digits
}

// fold runs the rune, script, spacing and leetspeak passes. With offsets
// set, n.ao holds the original offset of every output byte and has room
// for one more entry. The result aliases n.a.
func (n *Normalizer) fold(text string, offsets bool) []byte {
	ascii := n.runes(text) // text → a
	if !ascii {
		n.scripts() // a → b
		n.a, n.b, n.ao, n.bo = n.b, n.a, n.bo, n.ao
	}
	n.spacing() // a → b
	n.a, n.b, n.ao, n.bo = n.b, n.a, n.bo, n.ao
	leet(n.a)
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
	if cap(out) < len(text) {
		out = make([]byte, 0, len(text)+len(text)/8)
		off = make([]int32, 0, cap(out)+1)
	}
	ascii := true
	i := 0
	for i < len(text) {
		c := text[i]
		if c < utf8.RuneSelf {
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case c < 0x20 || c == 0x7f:
				c = ' ' // controls, tab and newlines separate words
			}
			out = append(out, c)
			off = append(off, int32(i))
			i++
			continue
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
		n.it.InitString(norm.NFKC, seg)
		for !n.it.Done() {
			pos := start + n.it.Pos()
			b := n.it.Next()
			for k := 0; k < len(b); {
				r, size := utf8.DecodeRune(b[k:])
				k += size
				var na bool
				out, off, na = n.rune(out, off, r, pos)
				if na {
					ascii = false
				}
			}
		}
		i = j
	}
	n.a, n.ao = out, off
	return ascii
}

// invalid folds text[i:j], which holds invalid UTF-8, rune by rune.
func (n *Normalizer) invalid(out []byte, off []int32, text string, i, j int) ([]byte, []int32) {
	for i < j {
		r, size := utf8.DecodeRuneInString(text[i:j])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
			off = append(off, int32(i), int32(i), int32(i))
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
	if k := invisibleKind(r); k != 0 {
		n.invisible(k, r, pos, out)
		return out, off, false
	}
	if unicode.IsSpace(r) {
		return append(out, ' '), append(off, int32(pos)), false
	}
	if unicode.In(r, unicode.Mn, unicode.Me) && len(out) > 0 && isLetterByte(out[len(out)-1]) {
		n.stats.marks++ // zalgo and strike-through marks on ASCII letters
		return out, off, false
	}
	if r == utf8.RuneError {
		out = append(out, "\uFFFD"...)
		return out, append(off, int32(pos), int32(pos), int32(pos)), true
	}
	if r >= 0x0590 && r <= 0x08FF || r >= 0xFB1D && r <= 0xFDFF || r >= 0xFE70 && r <= 0xFEFC {
		n.stats.rtl = true // Hebrew, Arabic, Syriac, Thaana, NKo and their forms
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
	case unicode.Is(unicode.Cf, r):
		return invOther
	}
	return 0
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
		r, size := utf8.DecodeRune(in[i:])
		if !unicode.IsLetter(r) {
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
			if !unicode.IsLetter(r) && !unicode.IsMark(r) {
				break
			}
			switch {
			case r < utf8.RuneSelf:
				asciiN++
			case unicode.IsMark(r):
			default:
				nonASCII++
				if _, ok := confusable(r); ok {
					mapped++
				}
				if unicode.Is(unicode.Cyrillic, r) {
					cyr++
				} else if unicode.Is(unicode.Greek, r) {
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

// confusable returns the ASCII skeleton of r from the generated table.
func confusable(r rune) (string, bool) {
	if r < confusables[0].r || r > confusables[len(confusables)-1].r {
		return "", false
	}
	k := sort.Search(len(confusables), func(i int) bool { return confusables[i].r >= r })
	if k < len(confusables) && confusables[k].r == r {
		return confusables[k].to, true
	}
	return "", false
}

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

// spacing is pass 3: runs of spaces become one space (none at the ends),
// and letter spacing is undone: three or more single letters separated
// by spaces ("i g n o r e"), or four or more separated by one repeated
// punctuation mark inside a token ("i.g.n.o.r.e"), are joined. In spaced
// text a wider gap between letters is kept as a word break.
func (n *Normalizer) spacing() {
	in, ino := n.a, n.ao
	out, off := n.b[:0], n.bo[:0]
	gaps := n.gaps[:0]
	runStart, runN, runLetters := -1, 0, 0

	closeRun := func() {
		if runN >= 3 && runLetters >= 2 {
			minGap := gaps[1]
			for _, g := range gaps[1:] {
				minGap = min(minGap, g)
			}
			w := runStart
			g := 0
			for k := runStart; k < len(out); k++ {
				if out[k] == ' ' {
					continue
				}
				if k > runStart && out[k-1] == ' ' {
					g++
					if gaps[g] > minGap {
						out[w], off[w] = ' ', off[k-1]
						w++
					}
				}
				out[w], off[w] = out[k], off[k]
				w++
			}
			out, off = out[:w], off[:w]
		}
		runStart, runN, runLetters = -1, 0, 0
		gaps = gaps[:0]
	}

	gap := 0
	for i := 0; i < len(in); {
		if in[i] == ' ' {
			gap++
			i++
			continue
		}
		j := i
		for j < len(in) && in[j] != ' ' {
			j++
		}
		tok := in[i:j]
		r, size := utf8.DecodeRune(tok)
		single := size == len(tok) && (unicode.IsLetter(r) || leetByte(r))
		if !single && runN > 0 {
			closeRun()
		}
		if len(out) > 0 {
			out = append(out, ' ')
			off = append(off, ino[i-1])
		}
		if single {
			if runN == 0 {
				runStart = len(out)
			}
			gaps = append(gaps, int32(gap))
			runN++
			if unicode.IsLetter(r) {
				runLetters++
			}
		}
		if !single {
			if w := spacedToken(tok); w > 0 {
				// keep every other rune
				for k := 0; k < len(tok); {
					_, size := utf8.DecodeRune(tok[k:])
					out = append(out, tok[k:k+size]...)
					off = append(off, ino[i+k:i+k+size]...)
					k += size
					if k < len(tok) {
						k += w
					}
				}
				gap = 0
				i = j
				continue
			}
		}
		out = append(out, tok...)
		off = append(off, ino[i:j]...)
		gap = 0
		i = j
	}
	if runN > 0 {
		closeRun()
	}
	n.b, n.bo, n.gaps = out, off, gaps
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
func leet(b []byte) {
	for i := 0; i < len(b); {
		if !wordByte(b[i]) {
			i++
			continue
		}
		j := i
		letters, other, inner := 0, false, false
		for j < len(b) && wordByte(b[j]) {
			c := b[j]
			switch {
			case 'a' <= c && c <= 'z':
				letters++
			case leetOf(c, 0) == 0:
				other = true // a digit without a letter reading
			default:
				if letters > 0 && j+1 < len(b) && 'a' <= b[j+1] && b[j+1] <= 'z' {
					inner = true
				}
			}
			j++
		}
		if !other && letters > 0 && letters < j-i && (inner || letters >= 4) {
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
}

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
