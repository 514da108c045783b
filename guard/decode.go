package guard

import (
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Decoding limits. Every decoded payload is at most as long as its
// encoded run (rot13 keeps the length, the others shrink it), so the
// budget bounds the total work at a small multiple of the input.
const (
	maxDecodeDepth = 3  // an encoding inside an encoding inside an encoding
	maxDecoded     = 32 // payloads per string
	minBase64      = 16 // characters of a base64 run
	minHex         = 16 // characters of a contiguous hex run
	minHexPairs    = 6  // separated pairs ("69 67 6e ...")
	minEscapes     = 3  // %XX escapes in a URL-encoded run
	minRot13Words  = 3
)

// budgetFor is the number of decoded bytes allowed for an input of n
// bytes.
func budgetFor(n int) int { return 2*n + 64 }

// decode finds encoded runs in text, decodes them and appends them to
// n.decoded, then decodes inside each payload. For depth 0 the runs'
// spans are their own; deeper, every payload carries the span of the
// outermost run (outerStart, outerEnd) and its chain of encodings.
func (n *Normalizer) decode(text string, outerStart, outerEnd int, chain string, depth int, budget int) int {
	if depth >= maxDecodeDepth || len(text) < minEscapes*3 {
		return budget
	}
	sum := summarize(text)
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
type summary struct {
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
func summarize(text string) (s summary) {
	var counts uint64
	s.base64, s.hex, counts = candidates(text)
	eToI, rToV := int(counts&0xFFFFFFFF), int(counts>>32)
	s.url = strings.IndexByte(text, '%') >= 0
	s.rot13 = eToI+rToV >= 8 && rToV*3 >= eToI
	return
}

// candidates reports whether text has a run of minBase64 base64
// characters, and whether it has something hexRuns may decode: a run of
// minHex hex digits, a "\x" or "0x" prefix (either case) or two pairs
// around a separator (see [hexPair]); and it returns the rot13 letter
// counts (see [sumCounts]), which need every byte, but only a table load
// and an add.
//
// It reads text eight bytes at a time. A run of 16 holds a whole block
// of eight starting at a multiple of eight, and a block with a byte
// below '+' (spaces, most punctuation, controls) or a non-ASCII one is
// in no run: only the other blocks are looked at byte by byte, and hex
// runs are looked for only inside long base64 runs, as the hex digits
// are base64 characters. A prefix or a pair starts at a digit or a
// backslash: only blocks with one are looked at for those.
func candidates(text string) (b64, hex bool, counts uint64) {
	const ones, high, low = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	src := unsafe.Slice(unsafe.StringData(text), len(text))
	done := 0 // text[:done] has been looked at for runs
	var tail [8]byte
	for p := 0; p < len(text); p += 8 {
		var x uint64
		if w := src[p:]; len(w) >= 8 {
			x = binary.LittleEndian.Uint64(w)
		} else {
			// Zero bytes past the end: neither in a run nor a digit.
			copy(tail[:], text[p:])
			x = binary.LittleEndian.Uint64(tail[:])
		}
		counts += sumCounts[byte(x)] + sumCounts[byte(x>>8)] + sumCounts[byte(x>>16)] + sumCounts[byte(x>>24)] +
			sumCounts[byte(x>>32)] + sumCounts[byte(x>>40)] + sumCounts[byte(x>>48)] + sumCounts[byte(x>>56)]
		z := x & low
		if !hex {
			marks := ((z+(0x80-'0')*ones)&^(z+(0x80-'9'-1)*ones) | eq8(x, '\\')) &^ x & high
			for ; marks != 0; marks &= marks - 1 {
				if hexStart(text, p+bits.TrailingZeros64(marks)/8) {
					hex = true
					break
				}
			}
		}
		// Bytes below '+' or non-ASCII: the block is in no run.
		if (^(z+(0x80-'+')*ones)|x)&high != 0 || p < done || b64 && hex {
			continue
		}
		// Maybe a run through the whole block: find its ends.
		e := p
		for e < len(text) && b64Byte(text[e]) {
			e++
		}
		done = e
		if e < p+8 {
			continue // a byte of the block is not base64
		}
		a := p
		for a > 0 && b64Byte(text[a-1]) {
			a--
		}
		if e-a < minBase64 {
			continue
		}
		b64 = true
		if !hex && nextLongRun(text[:e], a, clHex, minHex) >= 0 {
			hex = true
		}
	}
	return
}

// hexStart reports whether the digit or backslash text[p] starts a "\x"
// or "0x" prefix, or is the digit after the separator of two pairs.
func hexStart(text string, p int) bool {
	if p+1 >= len(text) {
		return false
	}
	if (text[p] == '\\' || text[p] == '0') && text[p+1]|0x20 == 'x' {
		return true
	}
	return hexPair(text, p)
}

// hexPair reports whether text[p] is the first digit of the second of
// two pairs of hex digits around a separator, each starting with a
// digit ("69 67"), the first pair not part of a longer hex run: the
// separated-pairs form of hexRuns.
func hexPair(text string, p int) bool {
	return p >= 3 && p+1 < len(text) && isDigit(text[p]) && sumSep[text[p-1]] && isHex(text[p-2]) && isDigit(text[p-3]) &&
		(p < 4 || !isHex(text[p-4])) && isHex(text[p+1])
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// summarize's tables, for every byte: sumCounts has the rot13 letter
// groups counted (e, t, o, i in the low half, their images r, g, b, v
// in the high half), sumSep the separators of hex pairs.
var sumCounts, sumSep = func() (counts [256]uint64, sep [256]bool) {
	for _, c := range " :,-" {
		sep[c] = true
	}
	for _, c := range "etoiETOI" {
		counts[c] = 1
	}
	for _, c := range "rgbvRGBV" {
		counts[c] = 1 << 32
	}
	return
}()

// emit records one payload: raw is the decoded text, already in n.arena
// (as arena[rawStart:]), s and e its run in text. It folds the payload,
// records it and decodes inside it. It returns the remaining budget.
func (n *Normalizer) emit(enc string, rawStart, s, e, outerStart, outerEnd int, chain string, depth, budget int) int {
	raw := n.arena[rawStart:]
	if len(n.decoded) >= maxDecoded || len(raw) == 0 || len(raw) > budget {
		n.arena = n.arena[:rawStart]
		return budget
	}
	budget -= len(raw)
	rawStr := unsafe.String(unsafe.SliceData(raw), len(raw))
	if depth == 0 {
		outerStart, outerEnd = s, e
		chain = enc
	} else {
		chain = n.join(chain, enc)
	}
	if n.sub == nil {
		n.sub = new(Normalizer)
	}
	f := n.sub.fold(rawStr, false)
	at := len(n.arena)
	n.arena = append(n.arena, f...)
	// n.arena may have moved: rawStr still points at the old array,
	// which stays alive and unchanged until the next call.
	text := unsafe.String(unsafe.SliceData(n.arena[at:]), len(f))
	n.decoded = append(n.decoded, Decoded{Encoding: chain, Start: outerStart, End: outerEnd, Text: text})
	return n.decode(rawStr, outerStart, outerEnd, chain, depth+1, budget)
}

// join returns chain+"+"+enc, from a cache of the chains seen so far so
// that nested payloads allocate only the first time.
func (n *Normalizer) join(chain, enc string) string {
	for _, c := range n.chains {
		if c.enc == enc && c.outer == chain {
			return c.joined
		}
	}
	joined := chain + "+" + enc
	if len(n.chains) < maxChains {
		n.chains = append(n.chains, chainName{chain, enc, joined})
	}
	return joined
}

// chainName is a cached chain of encodings: outer+"+"+enc.
type chainName struct{ outer, enc, joined string }

// maxChains bounds the cache of chain names; there are 6*6*6 chains.
const maxChains = 256

// Byte classes for the decoders' scans.
const (
	clB64    = 1 << iota // base64, standard or URL alphabet
	clHex                // hex digit
	clLetter             // ASCII letter
	clDigit              // ASCII digit
)

var class = func() (t [256]uint8) {
	for c := range t {
		b := byte(c)
		if isLetterByte(b) {
			t[c] |= clLetter | clB64
		}
		if '0' <= b && b <= '9' {
			t[c] |= clDigit | clB64 | clHex
		}
		if 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' {
			t[c] |= clHex
		}
		switch b {
		case '+', '/', '-', '_':
			t[c] |= clB64
		}
	}
	return
}()

func b64Byte(c byte) bool { return class[c]&clB64 != 0 }

// base64Runs decodes runs of the standard or URL base64 alphabet of at
// least minBase64 characters, with mixed case, whose decoding is mostly
// printable text. Runs may span line breaks after whole 4-character
// groups (MIME).
func (n *Normalizer) base64Runs(text string, os, oe int, chain string, depth, budget int) int {
	for i := 0; i < len(text); {
		if i = nextLongRun(text, i, clB64, minBase64); i < 0 {
			break
		}
		j, cnt := i, 0
		for {
			for j < len(text) && b64Byte(text[j]) {
				j++
				cnt++
			}
			// MIME line break: continue after a full group of 4.
			k := j
			if k < len(text) && text[k] == '\r' {
				k++
			}
			if k < len(text) && text[k] == '\n' && cnt%4 == 0 && cnt >= minBase64 && k+1 < len(text) && b64Byte(text[k+1]) {
				j = k + 1
				continue
			}
			break
		}
		e := j
		for e < len(text) && e-j < 2 && text[e] == '=' {
			e++
		}
		if j-i >= minBase64 {
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

// nextLongRun returns the start of the first run of at least n bytes of
// class cl (see class) at or after i, where text[i-1] is not of the
// class (or i is 0), or -1. It looks n-1 bytes ahead and back: a byte
// outside the class there rules out every run starting before it, so
// prose is read a few bytes in n. Bytes known to be of the class are
// not read twice.
func nextLongRun(text string, i int, cl uint8, n int) int {
	known := -1 // text[i:known+1] is in the class
	for i+n <= len(text) {
		k := i + n - 1
		for k > known && class[text[k]]&cl != 0 {
			k--
		}
		if k <= known || k < i {
			return i
		}
		known = i + n - 1
		i = k + 1
	}
	return -1
}

// tryBase64 decodes text[i:j] (padding up to e); on failure it tries the
// longest '/'-separated piece, for payloads inside URL paths. It
// returns the new budget, or -1 when nothing was decoded.
func (n *Normalizer) tryBase64(text string, i, j, e, os, oe int, chain string, depth, budget int) int {
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
	if bi >= 0 && bj-bi >= minBase64 && bj-bi < j-i {
		end := bj
		if bj == j {
			end = e
		}
		return n.base64At(text, bi, bj, end, os, oe, chain, depth, budget)
	}
	return -1
}

func (n *Normalizer) base64At(text string, i, j, e, os, oe int, chain string, depth, budget int) int {
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
	// Gather the characters without line breaks.
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
	n.arena = slices.Grow(n.arena, need)[:at+need]
	m, err := enc.Decode(n.arena[at:], src)
	if err != nil || !mostlyText(n.arena[at:at+m]) {
		n.arena = n.arena[:at]
		return -1
	}
	n.arena = n.arena[:at+m]
	return n.emit("base64", at, i, e, os, oe, chain, depth, budget)
}

// mostlyText reports whether b is valid UTF-8 of which at least 90% of
// the runes are printable (or tab and newlines) and at least 40% letters
// or digits: decoded text, not random bytes.
func mostlyText(b []byte) bool {
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
			if isLetterByte(c) || '0' <= c && c <= '9' {
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

func hexVal(c byte) (byte, bool) {
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

func isHex(c byte) bool { return class[c]&clHex != 0 }

// hexRuns decodes contiguous hex runs ("69676e6f7265..."), runs of
// escaped bytes ("\x69\x67...", "0x69 0x67 ...") and separated pairs
// ("69 67 6e 6f 72 65", "69:67:..."). A run must hold a letter a-f, so
// that digit strings (card and phone numbers) are never read as hex.
func (n *Normalizer) hexRuns(text string, os, oe int, chain string, depth, budget int) int {
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
		if class[c]&clB64 == 0 {
			i++
			continue
		}
		// A word: check its start, then skip it. Cheap checks before
		// decoding: a long run, a prefix, or a pair followed by a
		// separator and another pair.
		j := i
		for j < len(text) && class[text[j]]&clHex != 0 {
			j++
		}
		cand := j-i >= minHex ||
			c == '0' && len(text)-i > 4 && text[i+1]|0x20 == 'x' ||
			j-i == 2 && isDigit(c) && len(text)-j > 2 && (text[j] == ' ' || text[j] == ':' || text[j] == ',' || text[j] == '-') && isDigit(text[j+1]) && isHex(text[j+2])
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
		for j < len(text) && class[text[j]]&clB64 != 0 {
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
func (n *Normalizer) hexSeq(text string, i int) (end, at int, ok bool) {
	at = len(n.arena)
	letter := false
	// Contiguous.
	j := i
	for j < len(text) && isHex(text[j]) {
		if text[j] > '9' {
			letter = true
		}
		j++
	}
	if j-i >= minHex && (j == len(text) || !b64Byte(text[j])) {
		jj := i + (j-i)&^1
		for k := i; k < jj; k += 2 {
			hi, _ := hexVal(text[k])
			lo, _ := hexVal(text[k+1])
			n.arena = append(n.arena, hi<<4|lo)
		}
		if letter && mostlyText(n.arena[at:]) {
			return j, at, true
		}
		n.arena = n.arena[:at]
		return j, at, false
	}
	// Prefixed or separated pairs.
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
		if len(text)-p < 2 || !isHex(text[p]) || !isHex(text[p+1]) || p+2 < len(text) && isHex(text[p+2]) {
			break
		}
		hi, _ := hexVal(text[p])
		lo, _ := hexVal(text[p+1])
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
			// a ", " after a comma
			if sep == ',' && k+2 < len(text) && text[k+1] == ' ' {
				k++
			}
			// only consume the separator if a pair follows
			q := k + 1
			if prefix != "" && len(text)-q >= 2 && text[q] == prefix[0] {
				k = q
				continue
			}
			if prefix == "" && len(text)-q >= 2 && isHex(text[q]) && isHex(text[q+1]) {
				k = q
				continue
			}
			break
		}
		if prefix == "" {
			break
		}
	}
	minPairs := minHexPairs
	if prefix != "" {
		minPairs = 4
	}
	if pairs >= minPairs && (letter || prefix != "") && mostlyText(n.arena[at:]) {
		return k, at, true
	}
	n.arena = n.arena[:at]
	return max(k, i+1), at, false
}

// urlRuns decodes space-delimited runs that hold at least minEscapes
// %XX escapes.
func (n *Normalizer) urlRuns(text string, os, oe int, chain string, depth, budget int) int {
	for i := 0; i < len(text); {
		p := indexByte(text, i, '%')
		if p < 0 {
			break
		}
		// The run around p: non-space characters.
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
			if text[k] == '%' && isHex(text[k+1]) && isHex(text[k+2]) {
				escapes++
				k += 2
			}
		}
		if escapes >= minEscapes {
			at := len(n.arena)
			for k := s; k < e; k++ {
				if text[k] == '%' && k+2 < e && isHex(text[k+1]) && isHex(text[k+2]) {
					hi, _ := hexVal(text[k+1])
					lo, _ := hexVal(text[k+2])
					n.arena = append(n.arena, hi<<4|lo)
					k += 2
					continue
				}
				n.arena = append(n.arena, text[k])
			}
			if mostlyText(n.arena[at:]) {
				budget = n.emit("url", at, s, e, os, oe, chain, depth, budget)
			} else {
				n.arena = n.arena[:at]
			}
		}
		i = e
	}
	return budget
}

func indexByte(s string, from int, c byte) int {
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
func (n *Normalizer) rot13Runs(text string, os, oe int, chain string, depth, budget int) int {
	words := 0
	start, end := -1, -1
	flush := func() {
		if words >= minRot13Words {
			budget = n.rot13Stretch(text, start, end, words, os, oe, chain, depth, budget)
		}
		words, start, end = 0, -1, -1
	}
	for i := 0; i < len(text); {
		c := text[i]
		if class[c]&clLetter == 0 {
			if class[c]&clDigit != 0 || c == '\n' && i+1 < len(text) && text[i+1] == '\n' {
				flush() // digits and paragraphs end a stretch
			}
			i++
			continue
		}
		j, key, ok := wordAt(text, i)
		switch {
		case j < len(text) && class[text[j]]&clDigit != 0:
			flush()
		case j-i >= 2 && ok && commonWord(key):
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
func (n *Normalizer) rot13Stretch(text string, start, end, words, os, oe int, chain string, depth, budget int) int {
	// Words of one or two letters rotate into common words too often
	// ("ng" into "at"): only longer words count, on both sides of the
	// ratio.
	long, hits := 0, 0
	for i := start; i < end; {
		if class[text[i]]&clLetter == 0 {
			i++
			continue
		}
		// The stretch ends at the end of a word: so does every word
		// found in it.
		j, key, ok := wordAt(text, i)
		if j-i >= 3 {
			long++
			if ok && commonWord(rot13Key(key)) {
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
		n.arena = append(n.arena, rot13(text[k]))
	}
	return n.emit("rot13", at, start, end, os, oe, chain, depth, budget)
}

func rot13(c byte) byte {
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
func (n *Normalizer) decodeHidden(text string) {
	if n.stats.tags == 0 && n.stats.selectors == 0 {
		return
	}
	budget := budgetFor(len(text))
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
			ok = len(n.arena)-at >= 4 && mostlyText(n.arena[at:])
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
