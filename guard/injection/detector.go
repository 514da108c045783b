package injection

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/internal/termscan"
)

// Bounds on the work per scanned string.
const (
	// chunk is how much text one automaton pass reads; matches are
	// collected per chunk so that their slice stays small.
	chunk = 16 << 10
	// maxSpans caps the occurrences kept per concept and source.
	maxSpans = 64
	// excerptMax is the longest excerpt a finding carries.
	excerptMax = 120
)

// The model's biases (log-odds with no evidence) and the share of extra
// occurrences of a family that adds to its weight.
const (
	biasInjection = -3
	biasJailbreak = -3
	repeatBonus   = 0.2
	repeatCap     = 4
)

// pattern is one automaton pattern: a folded term and the concepts it
// stands for.
type pattern struct {
	concepts    uint64
	left, right bool // word boundary required before / after
	stem        bool // a stem in a spaced script: the match extends to the word's end
}

// Detector finds prompt injection and jailbreak attempts. It is safe for
// concurrent use.
type Detector struct {
	cfg    Config
	m      *termscan.Matcher
	pats   []pattern
	maxLen int
	rules  []rule
	model  *model // nil when off
	off    [numFamilies]bool
	pool   sync.Pool
}

// embedded is the classifier's weights, decoded once.
var embedded = sync.OnceValues(func() (*model, bool) { return loadModel(modelBin) })

var _ guard.Detector = (*Detector)(nil)

// New builds a detector; it folds every lexicon term with the guard's
// normalizer and compiles them into Aho-Corasick automata (termscan).
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var off [numFamilies]bool
	for _, name := range cfg.Disabled {
		f, _ := familyByName(name)
		off[f] = true
	}
	d := &Detector{cfg: cfg, off: off}
	for _, r := range rules {
		if !off[r.fam] {
			d.rules = append(d.rules, r)
		}
	}

	index := map[string]int{}
	var words []string
	add := func(c concept, term string) {
		stem := strings.HasSuffix(term, "*")
		term = strings.TrimSuffix(term, "*")
		f := fold(term)
		if strings.TrimSpace(f) == "" {
			return
		}
		i, ok := index[f]
		if !ok {
			i = len(d.pats)
			index[f] = i
			words = append(words, f)
			first, _ := utf8.DecodeRuneInString(f)
			last, _ := utf8.DecodeLastRuneInString(f)
			d.pats = append(d.pats, pattern{left: spaced(first), right: spaced(last) && !stem})
			d.maxLen = max(d.maxLen, len(f))
		} else if stem {
			d.pats[i].right = false
		}
		if stem && d.pats[i].left {
			d.pats[i].stem = true
		}
		d.pats[i].concepts |= 1 << c
	}
	for _, e := range lexicon {
		for t := range strings.SplitSeq(e.terms, "|") {
			add(e.c, t)
		}
		for _, t := range e.lit {
			add(e.c, t)
		}
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("injection: the lexicon has no terms")
	}
	// A term that must start a word is looked for at word starts only
	// (an ASCII word byte rules one out: the start of every match that
	// can pass boundaryBefore), which keeps the automaton near its start
	// inside words, and scan still checks the boundary.
	m, err := termscan.NewOptions(words, termscan.Options{
		WordStart: func(i int) bool { return d.pats[i].left },
		Word:      isASCIIWord,
	})
	if err != nil {
		return nil, fmt.Errorf("injection: %w", err)
	}
	d.m = m
	if cfg.ModelThreshold > 0 {
		if m, ok := embedded(); ok {
			d.model = m
		}
	}
	d.pool.New = func() any { return new(scratch) }
	return d, nil
}

// Name returns "injection".
func (d *Detector) Name() string { return "injection" }

// span is a byte range in one source.
type span struct{ start, end int32 }

// evidence is what one family found in a string.
type evidence struct {
	w    float64 // the weight of the strongest rule that fired
	n    int     // how many times its rules fired
	src  int     // 0 for the folded text, i+1 for norm.Decoded[i]
	span span
}

// scratch is per-call state, pooled.
type scratch struct {
	found []termscan.Match
	lanes termscan.Scratch
	byC   [numConcepts][]span
	// present has bit c set when byC[c] is not empty.
	present uint64
	ev      [numFamilies]evidence
	// text and offsets are Detect's arguments, for the structural
	// signals that read line breaks; cleared before the scratch is pooled.
	text    string
	offsets []int32
}

// Detect scores text and appends an "injection" finding, a "jailbreak"
// finding, both or neither.
func (d *Detector) Detect(dst []guard.Finding, text string, norm *guard.Normalized, dir guard.Direction) []guard.Finding {
	folded := ""
	var decoded []guard.Decoded
	var offsets []int32
	if norm != nil {
		folded, decoded, offsets = norm.Folded, norm.Decoded, norm.Offsets
	} else {
		folded = fold(text)
	}
	s := d.pool.Get().(*scratch)
	s.ev = [numFamilies]evidence{}
	s.text, s.offsets = text, offsets
	defer func() {
		s.text, s.offsets = "", nil
		d.pool.Put(s)
	}()

	d.scan(s, folded, 0)
	for i := range decoded {
		before := s.ev
		d.scan(s, decoded[i].Text, i+1)
		for f := range s.ev {
			if s.ev[f].src == i+1 && s.ev[f].w >= 2 && s.ev[f] != before[f] {
				if s.ev[fEncoded].w == 0 {
					s.ev[fEncoded] = evidence{w: 1.5, n: 1, src: i + 1, span: s.ev[f].span}
				}
			}
		}
	}

	zi, zj := float64(biasInjection), float64(biasJailbreak)
	tool := dir == guard.ToolResult || dir == guard.ToolDescription
	var e [numFamilies]float64
	for f := range s.ev {
		ev := s.ev[f]
		if ev.n == 0 {
			continue
		}
		e[f] = ev.w * (1 + repeatBonus*float64(min(ev.n-1, repeatCap)))
		if tool && (f == int(fIndirect) || f == int(fExfiltration) || f == int(fToolCall) || f == int(fPlantedTask)) {
			e[f] *= 1.3
		}
		zi += familyInfo[f].inj * e[f]
		zj += familyInfo[f].jailbrk * e[f]
	}
	si, sj := sigmoid(zi), sigmoid(zj)
	n := len(dst)
	if si >= d.cfg.Threshold {
		dst = append(dst, d.finding(s, &e, true, si, text, folded, offsets, decoded))
	}
	if sj >= d.cfg.JailbreakThreshold {
		dst = append(dst, d.finding(s, &e, false, sj, text, folded, offsets, decoded))
	}
	if len(dst) == n && d.model != nil && max(zi, zj) >= float64(biasInjection)+modelGate {
		if p := sigmoid(d.model.logit(folded)); p >= d.cfg.ModelThreshold {
			f := d.finding(s, &e, zi >= zj, p, text, folded, offsets, decoded)
			if f.Rule == "" {
				f.Rule = "classifier"
			} else {
				f.Rule = "classifier+" + f.Rule
			}
			dst = append(dst, f)
		}
	}
	return dst
}

// scan matches src (the folded text or one decoded payload) and adds the
// evidence of every rule that fires to s.ev.
func (d *Detector) scan(s *scratch, text string, src int) {
	for b := s.present; b != 0; b &= b - 1 {
		c := bits.TrailingZeros64(b)
		s.byC[c] = s.byC[c][:0]
	}
	s.present = 0
	if len(text) == 0 {
		return
	}
	for off := 0; off < len(text); off += chunk {
		lo := max(0, off-d.maxLen+1)
		hi := min(len(text), off+chunk)
		s.found = d.m.Find(s.found[:0], text[lo:hi], &s.lanes)
		for _, m := range s.found {
			start, end := lo+m.Start, lo+m.End
			if end <= off && off > 0 {
				continue // seen in the previous chunk
			}
			p := d.pats[m.PatternID]
			if p.left && !boundaryBefore(text, start) || p.right && !boundaryAfter(text, end) {
				continue
			}
			if !p.right && p.stem {
				for end < len(text) {
					r, n := utf8.DecodeRuneInString(text[end:])
					if !wordRune(r) {
						break
					}
					end += n
				}
			}
			for b := p.concepts; b != 0; b &= b - 1 {
				c := bits.TrailingZeros64(b)
				if len(s.byC[c]) < maxSpans {
					s.byC[c] = append(s.byC[c], span{int32(start), int32(end)})
					s.present |= 1 << c
				}
			}
		}
	}
	if s.present == 0 {
		return // no rule fires, nor a planted task, without a concept
	}
	for b := s.present; b != 0; b &= b - 1 {
		c := bits.TrailingZeros64(b)
		if len(s.byC[c]) > 1 {
			slices.SortFunc(s.byC[c], func(a, b span) int { return int(a.start - b.start) })
		}
	}
	if src == 0 && !d.off[fPlantedTask] {
		d.plantedTask(s, text)
	}
	for i := range d.rules {
		r := &d.rules[i]
		if s.present&(1<<r.a) == 0 {
			continue // neither kind of rule fires without its first concept
		}
		var n int
		var sp span
		if r.b == none {
			n = len(s.byC[r.a])
			if n > 0 {
				sp = s.byC[r.a][0]
			}
		} else {
			n, sp = pairs(text, s.byC[r.a], s.byC[r.b], *r, d.maxLen)
		}
		if n == 0 {
			continue
		}
		ev := &s.ev[r.fam]
		if r.w > ev.w {
			ev.w, ev.src, ev.span = r.w, src, sp
		}
		ev.n += n
	}
}

// pairs counts the spans of bs that have a span of as before them (or on
// either side, with anyOrder) at most gap bytes away, and returns the
// first such pair's extent. Both lists are sorted by start.
func pairs(text string, as, bs []span, r rule, maxLen int) (int, span) {
	gap := r.gap
	if len(as) == 0 || len(bs) == 0 {
		return 0, span{}
	}
	n, lo := 0, 0
	var first span
	for _, b := range bs {
		for lo < len(as) && int(as[lo].start) < int(b.start)-gap-maxLen {
			lo++
		}
		for i := lo; i < len(as); i++ {
			a := as[i]
			if a == b {
				continue
			}
			if a.start < b.start {
				if int(b.start)-int(a.end) > gap || r.sentence && sentenceBreak(text, a.end, b.start) {
					continue
				}
			} else {
				if !r.anyOrder || int(a.start)-int(b.end) > gap {
					break
				}
				if r.sentence && sentenceBreak(text, b.end, a.start) {
					continue
				}
			}
			if n == 0 {
				first = span{min(a.start, b.start), max(a.end, b.end)}
			}
			n++
			break
		}
	}
	return n, first
}

// sentenceBreak reports whether text[from:to] ends a sentence or a line.
func sentenceBreak(text string, from, to int32) bool {
	if from >= to {
		return false
	}
	for i := from; i < to; i++ {
		switch text[i] {
		case '.':
			// not inside a word: "www.example.com", "3.5", "e.g"
			if i == 0 || int(i+1) >= len(text) || !isASCIIWord(text[i-1]) || !isASCIIWord(text[i+1]) {
				return true
			}
		case '!', '?', '\n':
			return true
		case 0xe3: // "。" U+3002 is e3 80 82
			if i+2 < to && text[i+1] == 0x80 && text[i+2] == 0x82 {
				return true
			}
		case 0xef: // "！" U+FF01 ef bc 81, "？" U+FF1F ef bc 9f
			if i+2 < to && text[i+1] == 0xbc && (text[i+2] == 0x81 || text[i+2] == 0x9f) {
				return true
			}
		}
	}
	return false
}

// finding builds the finding for one target from the evidence.
func (d *Detector) finding(s *scratch, e *[numFamilies]float64, inj bool, score float64, text, folded string, offsets []int32, decoded []guard.Decoded) guard.Finding {
	type contrib struct {
		f family
		v float64
	}
	var cs [numFamilies]contrib
	k := 0
	for f := range e {
		m := familyInfo[f].jailbrk
		if inj {
			m = familyInfo[f].inj
		}
		if v := m * e[f]; v > 0 {
			cs[k] = contrib{family(f), v}
			k++
		}
	}
	list := cs[:k]
	slices.SortStableFunc(list, func(a, b contrib) int {
		switch {
		case a.v > b.v:
			return -1
		case a.v < b.v:
			return 1
		}
		return 0
	})
	var rule strings.Builder
	for i, c := range list {
		if i > 0 {
			rule.WriteByte('+')
		}
		rule.WriteString(familyInfo[c.f].name)
	}
	f := guard.Finding{
		Detector: "injection",
		Category: guard.LLM01PromptInjection,
		Class:    guard.ClassPromptAttack,
		Score:    math.Round(score*1000) / 1000,
		Rule:     rule.String(),
	}
	if !inj {
		f.Detector, f.Category = "jailbreak", guard.Jailbreak
	}
	if len(list) == 0 {
		return f
	}
	ev := s.ev[list[0].f]
	if ev.src > 0 {
		p := decoded[ev.src-1]
		f.Start, f.End = p.Start, p.End
		f.Excerpt = excerpt(p.Encoding+": "+clip(p.Text, int(ev.span.start), int(ev.span.end)), 0, excerptMax)
		return f
	}
	start, end, ok := original(int(ev.span.start), int(ev.span.end), len(text), folded, offsets)
	if ok {
		f.Start, f.End = start, end
		f.Excerpt = excerpt(text, start, end)
	} else {
		f.Excerpt = excerpt(folded, int(ev.span.start), int(ev.span.end))
	}
	return f
}

// original maps a span of the folded text back to the original text.
func original(start, end, n int, folded string, offsets []int32) (int, int, bool) {
	if offsets == nil {
		if len(folded) != n || end > n {
			return 0, 0, false
		}
		return start, end, true
	}
	if start >= len(offsets) {
		return 0, 0, false
	}
	os, oe := int(offsets[start]), n
	if end < len(offsets) {
		oe = int(offsets[end])
	}
	if os < 0 || os > oe || oe > n {
		return 0, 0, false
	}
	return os, oe, true
}

// clip returns the evidence in s with a little context.
func clip(s string, start, end int) string {
	start = max(0, min(start, len(s)))
	end = max(start, min(end, len(s)))
	return s[start:end]
}

// excerpt returns s[start:end] with control characters blanked, cut to
// excerptMax bytes on a rune boundary.
func excerpt(s string, start, end int) string {
	start = max(0, min(start, len(s)))
	end = max(start, min(end, len(s)))
	s = s[start:end]
	if len(s) > excerptMax {
		cut := excerptMax
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	if printableASCII(s) {
		return s // what Map returns: no control, no U+FFFD
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
}

// printableASCII reports whether every byte of s is printable ASCII
// (0x20 to 0x7e).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// spaced reports whether r belongs to a script written with spaces between
// words, where terms must match whole words.
func spaced(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIIWord(byte(r))
	}
	return unicode.In(r, unicode.Latin, unicode.Cyrillic, unicode.Greek)
}

func isASCIIWord(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// wordRune reports whether r continues a word of a spaced script.
func wordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIIWord(byte(r))
	}
	return unicode.In(r, unicode.Latin, unicode.Cyrillic, unicode.Greek) || unicode.Is(unicode.Mn, r)
}

func boundaryBefore(s string, i int) bool {
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !wordRune(r)
}

func boundaryAfter(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return !wordRune(r)
}
