package sensitive

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Bounds on how far a rule's window is widened to reach a blank.
const (
	snapLeft  = 64
	snapRight = 4096
)

// scanSecrets runs the keyword automaton over the lower-cased text, then
// each triggered detector near its keyword: gitleaks rules over windows
// around their keywords, this package's detectors at the keyword.
func (d *Detector) scanSecrets(s *scratch, text string) {
	ms := d.ac.FindAllOverlapping(s.low)
	if len(ms) == 0 && len(d.always) == 0 {
		return
	}
	s.wins = s.wins[:0]
	for _, r := range d.always {
		s.wins = append(s.wins, window{rule: r, start: 0, end: len(text)})
	}
	for _, m := range ms {
		for _, t := range d.targets[m.PatternID] {
			if t.rule >= 0 {
				r := &d.rules[t.rule]
				if r.anchor != nil {
					d.runAnchored(s, text, t.rule, m.Start-r.offset)
					continue
				}
				if r.assign {
					if a, e, ok := assignWindow(text, m.Start, m.End); ok {
						s.wins = append(s.wins, window{rule: t.rule, start: a, end: e})
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
	if s.npEnd == nil {
		s.npEnd = make(map[int]int)
		s.npWork = make(map[int]int)
	}
	if a < s.npEnd[rule] {
		return
	}
	// A rule reads as far as its longest match (then to a blank), an
	// unbounded one npAnchorMax bytes: the regexp engine's cost grows
	// with its input however early a match fails.
	end := min(len(text), a+npAnchorMax)
	if r.right > 0 {
		end = snapEnd(text, min(len(text), a+r.right))
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
	if s.npWork[rule] += end - a; s.npWork[rule] > 8*len(text)+npRight {
		return
	}
	m := r.anchor.FindStringSubmatchIndex(text[a:end])
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

// runRule runs one gitleaks rule over one window with gitleaks' checks:
// the secret group, the entropy floor, the global and the rule's
// allowlists.
func (d *Detector) runRule(s *scratch, text string, w window) {
	r := &d.rules[w.rule]
	sub := text[w.start:w.end]
	for _, m := range r.re.FindAllStringSubmatchIndex(sub, -1) {
		if r.np {
			gs, ge := npValue(r, m)
			if placeholderSecret(sub[gs:ge]) {
				continue
			}
			s.cands = append(s.cands, cand{
				start: w.start + gs, end: w.start + ge, kind: kindSecret,
				score: r.score, detector: r.detector, rule: r.rule,
			})
			continue
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
			continue
		}
		secret := sub[gs:ge]
		if r.entropy > 0 && entropy(secret) <= r.entropy || placeholderSecret(secret) {
			continue
		}
		match := sub[m[0]:m[1]]
		line := lineOf(text, w.start+m[0], w.start+m[1])
		low := s.low[w.start+gs : w.start+ge]
		if anyAllowed(d.global, secret, match, line, low) || anyAllowed(r.allow, secret, match, line, low) {
			continue
		}
		s.cands = append(s.cands, cand{
			start: w.start + gs, end: w.start + ge, kind: kindSecret,
			score: r.score, detector: r.detector, rule: r.rule,
		})
	}
}

func anyAllowed(as []*allowlist, secret, match, line string, low []byte) bool {
	for _, a := range as {
		if a.allowed(secret, match, line, low) {
			return true
		}
	}
	return false
}

// lineOf returns the lines of text that span [i, j), at most 256 bytes
// on either side (gitleaks' line allowlists look at the statement around
// a match; a minified file is one long line).
func lineOf(text string, i, j int) string {
	lo, hi := max(i-256, 0), min(j+256, len(text))
	a := lo + strings.LastIndexByte(text[lo:i], '\n') + 1
	b := strings.IndexByte(text[j:hi], '\n')
	if b < 0 {
		return text[a:hi]
	}
	return text[a : j+b]
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
// kept, so offsets are the same.
func lowerASCII(dst []byte, s string) []byte {
	dst = append(dst, s...)
	for i, c := range dst {
		if 'A' <= c && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
	return dst
}
