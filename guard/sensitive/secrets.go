package sensitive

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"strings"
)

// Bounds on how far a rule's window is widened to reach a blank.
const (
	snapLeft  = 64
	snapRight = 4096
)

// scanSecrets runs each detector the keyword automaton's hits (over the
// lower-cased text) trigger near its keyword: gitleaks rules over windows
// around their keywords, this package's detectors at the keyword.
func (d *Detector) scanSecrets(s *scratch, text string) {
	ms := s.hits
	if len(ms) == 0 && len(d.always) == 0 {
		return
	}
	s.wins = s.wins[:0]
	for _, r := range d.always {
		s.wins = append(s.wins, window{rule: r, start: 0, end: len(text)})
	}
	for _, m := range ms {
		for _, t := range d.kw.targets[m.PatternID] {
			if t.rule >= 0 {
				r := &d.rules[t.rule]
				if r.np && r.anchor != nil {
					d.runAnchored(s, text, t.rule, m.Start-r.offset)
					continue
				}
				if r.assign {
					if a, e, ok := assignWindow(text, m.Start, m.End); ok {
						d.runAssign(s, text, t.rule, a, e)
					}
					continue
				}
				if m.End-m.Start <= 2 && !r.np && !tokenAfter(text, m.End) {
					continue
				}
				right := r.right
				if right < 0 {
					right = maxRight
				}
				s.wins = append(s.wins, window{rule: t.rule, start: snapStart(text, m.Start-r.left), end: snapEnd(text, m.End+right)})
				continue
			}
			switch {
			case t.own == targetPEM:
				d.pem(s, text, m.Start)
			case t.own == targetJWT:
				d.jwt(s, text, m.Start)
			case t.own == targetURL:
				d.urlCredentials(s, text, m.Start)
			case t.own == targetHash:
				d.passwordHash(s, text, m.Start)
			case t.own == targetAuth:
				d.authorization(s, text, m.Start, m.End)
			case t.own == targetPEM64:
				d.pem64(s, text, m.Start)
			case t.own == targetCLIPass:
				d.cliPassword(s, text, m.Start)
			case t.own >= targetKey:
				d.assignment(s, text, &d.keyNames[t.own-targetKey], m.Start, m.End)
			}
		}
	}
	if len(s.wins) == 0 {
		return
	}
	slices.SortFunc(s.wins, func(a, b window) int {
		if c := cmp.Compare(a.rule, b.rule); c != 0 {
			return c
		}
		return cmp.Compare(a.start, b.start)
	})
	cur := s.wins[0]
	for _, w := range s.wins[1:] {
		if w.rule == cur.rule && w.start <= cur.end {
			cur.end = max(cur.end, w.end)
			continue
		}
		d.runRule(s, text, cur)
		cur = w
	}
	d.runRule(s, text, cur)
}

// assignWindow returns the window a keyword-assignment rule can match
// in around a keyword at [p, q), following the family's shape: an
// identifier holding the keyword, at most 20 bytes of [ \t\w.-] and 3
// of [\s'"], an operator, at most 5 of [`'"\s=], then a value of at
// least 8 token bytes, ended by a blank. ok is false when no such
// shape is there (prose that merely says "key" or "token").
func assignWindow(text string, p, q int) (start, end int, ok bool) {
	start = p
	for start > 0 && p-start < 50 && (isWord(text[start-1]) || text[start-1] == '.' || text[start-1] == '-') {
		start--
	}
	i, n := q, 0
	for ; i < len(text) && n < 20 && (isWord(text[i]) || text[i] == ' ' || text[i] == '\t' || text[i] == '.' || text[i] == '-'); i++ {
		n++
	}
	for n = 0; i < len(text) && n < 3 && (isBlank(text[i]) || text[i] == '\'' || text[i] == '"'); i++ {
		n++
	}
	if i >= len(text) || strings.IndexByte("=>:|,?", text[i]) < 0 {
		return 0, 0, false
	}
	for n = 0; i < len(text) && n < 3 && strings.IndexByte("=>:|?", text[i]) >= 0; i++ {
		n++
	}
	for n = 0; i < len(text) && n < 5 && (isBlank(text[i]) || isQuote(text[i]) || text[i] == '='); i++ {
		n++
	}
	v := i
	for i < len(text) && !isBlank(text[i]) && !isQuote(text[i]) && text[i] != ';' {
		i++
	}
	if i-v < 8 {
		return 0, 0, false
	}
	return start, min(i+2, len(text)), true
}

// tokenAfter reports whether 16 token bytes follow i: the rules keyed
// by one- or two-byte keywords ("s.", "sk", "q~") match a long token
// right after them.
func tokenAfter(text string, i int) bool {
	n := 0
	for ; i < len(text) && n < 16; i++ {
		c := text[i]
		if !(isWord(c) || c == '-' || c == '.' || c == '~' || c == '+' || c == '/') {
			break
		}
		n++
	}
	return n >= 16
}

// snapStart moves a window start back to a blank or the text start, so
// that the window does not begin inside a token.
func snapStart(text string, i int) int {
	if i <= 0 {
		return 0
	}
	for lim := max(i-snapLeft, 0); i > lim; i-- {
		if isBlank(text[i-1]) {
			return i
		}
	}
	return i
}

// snapEnd moves a window end forward to a blank or the text end.
func snapEnd(text string, i int) int {
	if i >= len(text) {
		return len(text)
	}
	for lim := min(i+snapRight, len(text)); i < lim; i++ {
		if isBlank(text[i]) {
			return i
		}
	}
	return i
}

func isBlank(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// runAnchored runs an anchored Nosey Parker rule at byte a of text. A
// start inside the rule's last match is skipped, and the bytes a rule
// may read per text are bounded, so the work stays linear in the text.
func (d *Detector) runAnchored(s *scratch, text string, rule, a int) {
	r := &d.rules[rule]
	if a < 0 || a >= len(text) || !leadHolds(r.lead, text, a) {
		return
	}
	// A rule reads as far as its longest match (then to a blank), an
	// unbounded one npAnchorMax bytes: the regexp engine's cost grows
	// with its input however early a match fails.
	end := min(len(text), a+npAnchorMax)
	if r.right > 0 {
		end = snapEnd(text, min(len(text), a+r.right))
	}
	if !r.prefilter(s, text[a:end]) {
		return
	}
	s.ruleState(len(d.rules))
	if a < s.npEnd[rule] {
		return
	}
	if r.run != nil {
		j := min(end, a+npRight)
		if r.run.within >= 0 {
			j = min(end, a+r.run.within)
		}
		if s.npWork[rule] += j - a; !r.run.holds(text, a, j) {
			return
		}
	}
	if s.npWork[rule] += end - a; s.npWork[rule] > d.npWork*len(text)+npRight {
		return
	}
	m := r.findAnchored(text[a:end])
	if m == nil {
		return
	}
	s.npEnd[rule] = a + m[1]
	gs, ge := npValue(r, m)
	if placeholderSecret(text[a+gs : a+ge]) {
		return
	}
	s.cands = append(s.cands, cand{
		start: a + gs, end: a + ge, kind: kindSecret,
		score: r.score, detector: r.detector, rule: r.rule,
	})
}

// runRule runs one rule over one window.
func (d *Detector) runRule(s *scratch, text string, w window) {
	r := &d.rules[w.rule]
	sub := text[w.start:w.end]
	low := s.low[w.start:w.end]
	for i := range r.needs {
		if !r.needs[i].holds(low) {
			return
		}
	}
	for _, m := range r.re.FindAllStringSubmatchIndex(sub, -1) {
		d.ruleMatch(s, text, r, w.start, sub, m)
	}
}

// runAssign runs a rule of gitleaks' keyword-assignment family once,
// anchored at the start of the identifier holding a keyword: its
// pattern starts with that identifier ("[\w.-]{0,50}?" before the
// keyword), so the leftmost match in the window starts there, and an
// anchored run fails fast where the unanchored search would try every
// position. A start inside the rule's last match is skipped, and a
// window seen before in the text is not matched again.
func (d *Detector) runAssign(s *scratch, text string, rule, a, e int) {
	s.ruleState(len(d.rules))
	if a < s.npEnd[rule] {
		return
	}
	r := &d.rules[rule]
	sub := text[a:e]
	if s.assigned == nil {
		s.assigned = make(map[assignKey][]int)
	}
	k := assignKey{rule, sub}
	m, ok := s.assigned[k]
	if !ok && !r.prefilter(s, sub) {
		ok = true // m is nil
	}
	if !ok {
		m = r.findAnchored(sub)
		s.assigned[k] = m
	}
	if m == nil {
		return
	}
	s.npEnd[rule] = a + m[1]
	d.ruleMatch(s, text, r, a, sub, m)
}

// ruleMatch checks one match m of rule r in sub (text[base:...]) with
// gitleaks' checks: the secret group, the entropy floor, placeholders,
// the global and the rule's allowlists; Nosey Parker rules take their
// secret group and the placeholder check only.
func (d *Detector) ruleMatch(s *scratch, text string, r *secretRule, base int, sub string, m []int) {
	if r.np {
		gs, ge := npValue(r, m)
		if placeholderSecret(sub[gs:ge]) {
			return
		}
		s.cands = append(s.cands, cand{
			start: base + gs, end: base + ge, kind: kindSecret,
			score: r.score, detector: r.detector, rule: r.rule,
		})
		return
	}
	gs, ge := m[0], m[1]
	if r.group > 0 && 2*r.group+1 < len(m) && m[2*r.group] >= 0 {
		gs, ge = m[2*r.group], m[2*r.group+1]
	} else {
		for g := 2; g+1 < len(m); g += 2 {
			if m[g] >= 0 && m[g+1] > m[g] {
				gs, ge = m[g], m[g+1]
				break
			}
		}
	}
	for gs < ge && sub[gs] == '\n' {
		gs++
	}
	for ge > gs && sub[ge-1] == '\n' {
		ge--
	}
	if gs == ge {
		return
	}
	secret := sub[gs:ge]
	if r.entropy > 0 && entropy(secret) <= r.entropy || placeholderSecret(secret) {
		return
	}
	match := sub[m[0]:m[1]]
	la, lb := lineOf(text, base+m[0], base+m[1])
	line := text[la:lb]
	low := s.low[base+gs : base+ge]
	lowMatch, lowLine := s.low[base+m[0]:base+m[1]], s.low[la:lb]
	if anyAllowed(d.global, secret, match, line, low, lowMatch, lowLine) ||
		anyAllowed(r.allow, secret, match, line, low, lowMatch, lowLine) {
		return
	}
	s.cands = append(s.cands, cand{
		start: base + gs, end: base + ge, kind: kindSecret,
		score: r.score, detector: r.detector, rule: r.rule,
	})
}

func anyAllowed(as []*allowlist, secret, match, line string, low, lowMatch, lowLine []byte) bool {
	for _, a := range as {
		if a.allowed(secret, match, line, low, lowMatch, lowLine) {
			return true
		}
	}
	return false
}

// lineOf returns the span [a, b) of the lines of text that span
// [i, j), at most 256 bytes on either side (gitleaks' line allowlists
// look at the statement around a match; a minified file is one long
// line).
func lineOf(text string, i, j int) (a, b int) {
	lo, hi := max(i-256, 0), min(j+256, len(text))
	a = lo + strings.LastIndexByte(text[lo:i], '\n') + 1
	if n := strings.IndexByte(text[j:hi], '\n'); n >= 0 {
		return a, j + n
	}
	return a, hi
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	if len(s) == 0 {
		return 0
	}
	var counts [256]uint16
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// lowerASCII appends s with ASCII letters lower-cased; other bytes are
// kept, so offsets are the same. It reads and writes eight bytes at a
// time, from a loop whose condition bounds both slices, so that its body
// needs no bound checks.
func lowerASCII(dst []byte, s string) []byte {
	const (
		low7 = 0x7f7f7f7f7f7f7f7f
		high = 0x8080808080808080
	)
	n := len(dst)
	dst = slices.Grow(dst, len(s))[:n+len(s)]
	b := dst[n:]
	i := 0
	for ; i <= len(s)-8 && i <= len(b)-8; i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		y := x & low7
		// Per byte: the high bit of y+0x3f is set from 'A' on, that of
		// y+0x25 past 'Z'; no byte carries into the next. Upper-case
		// letters lack the 0x20 bit their lower case has.
		m := (y + 0x3f3f3f3f3f3f3f3f) &^ (y + 0x2525252525252525) &^ x & high
		binary.LittleEndian.PutUint64(b[i:i+8], x|m>>2)
	}
	for ; i < len(s) && i < len(b); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return dst
}

// findAnchored returns the submatches of the rule's anchored regex at
// the start of sub, or nil.
func (r *secretRule) findAnchored(sub string) []int {
	if r.short != nil && len(sub) <= r.shortMax {
		return r.short.FindStringSubmatchIndex(sub)
	}
	return r.anchor.FindStringSubmatchIndex(sub)
}

// ruleState readies the per-rule state of anchored runs for n rules.
func (s *scratch) ruleState(n int) {
	if len(s.npEnd) != n {
		s.npEnd, s.npWork = make([]int, n), make([]int, n)
	}
	s.npUsed = true
}

// prefilter reports whether the rule's anchored regex can match at the
// start of sub.
func (r *secretRule) prefilter(s *scratch, sub string) bool {
	if r.pre == nil {
		return true
	}
	ok, buf := r.pre.holds(sub, s.pre)
	s.pre = buf
	return ok
}
