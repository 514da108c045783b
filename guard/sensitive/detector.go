package sensitive

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/internal/termscan"
)

// excerptMax is the longest excerpt a finding carries.
const excerptMax = 120

// kind is the type of a sensitive value; it picks the placeholder.
type kind uint8

const (
	kindEmail kind = iota
	kindPhone
	kindCard
	kindSSN
	kindIBAN
	kindIP
	kindAddress
	kindLicense
	kindSecret
	numKinds
)

// kinds describes each kind: its placeholder tag and its rank when two
// values overlap (higher wins).
var kinds = [numKinds]struct {
	tag  string
	rank int8
}{
	kindEmail:   {"EMAIL", 5},
	kindPhone:   {"PHONE", 3},
	kindCard:    {"CARD", 8},
	kindSSN:     {"SSN", 6},
	kindIBAN:    {"IBAN", 7},
	kindIP:      {"IP", 4},
	kindAddress: {"ADDRESS", 1},
	kindLicense: {"DRIVER_LICENSE", 4},
	kindSecret:  {"SECRET", 9},
}

// placeholders caches "[EMAIL_1]" ... for the first numbers.
const cachedPlaceholders = 16

var placeholders = func() (p [numKinds][cachedPlaceholders]string) {
	for k := range p {
		for n := range p[k] {
			p[k][n] = "[" + kinds[k].tag + "_" + strconv.Itoa(n+1) + "]"
		}
	}
	return p
}()

func placeholder(k kind, n int) string {
	if n <= cachedPlaceholders {
		return placeholders[k][n-1]
	}
	return "[" + kinds[k].tag + "_" + strconv.Itoa(n) + "]"
}

// cand is a candidate finding: a span of the original text.
type cand struct {
	start, end int
	kind       kind
	score      float64
	detector   string
	rule       string
	num        int    // placeholder number, set when numbering
	ph         string // placeholder
}

// better reports whether a should be kept over b when they overlap.
func (a *cand) better(b *cand) bool {
	if ra, rb := kinds[a.kind].rank, kinds[b.kind].rank; ra != rb {
		return ra > rb
	}
	if la, lb := a.end-a.start, b.end-b.start; la != lb {
		return la > lb
	}
	if a.score != b.score {
		return a.score > b.score
	}
	// The same value found by gitleaks and Nosey Parker: keep gitleaks'
	// (the rule set this package started from, with finer rule names).
	return !strings.HasPrefix(a.rule, npRulePrefix) && strings.HasPrefix(b.rule, npRulePrefix)
}

// Targets of the keyword automaton besides gitleaks rules.
const (
	targetPEM = iota
	targetJWT
	targetURL
	targetHash
	targetAuth
	targetPEM64   // a base64-encoded PEM private key
	targetCLIPass // "-u user -p password" on a command line
	targetKey     // keyword-assignment; the key name index is added
)

// target is what one automaton pattern triggers: a gitleaks rule (rule >=
// 0) or one of this package's detectors.
type target struct {
	rule int // index in Detector.rules, or -1
	own  int // targetPEM..., when rule < 0
}

// Detector finds personal data and secrets. It is safe for concurrent
// use.
type Detector struct {
	on        [numKinds]bool
	own       [ownKey + 1]bool
	rules     []secretRule
	always    []int             // rules without keywords: run over every text
	npSkipped map[string]string // Nosey Parker rules RE2 cannot compile, with the reason
	global    []*allowlist
	// ac finds the keywords of the secret rules and detectors and the
	// street words of addresses, in one pass; kw says what each
	// pattern triggers.
	ac          *termscan.Matcher
	kw          keywordSet
	licen       int  // the pattern of licenseKeyword, or -1
	secrets     bool // the secret detectors have keywords
	keyNames    []keyName
	allowValues map[string]bool
	allowRe     *regexp.Regexp
	regions     []string
	// phoneRegions bound which numbers of a region libphonenumber can
	// find valid (see phoneRegion).
	phoneRegions map[string]*phoneRegion
	skipPrivate  bool
	// npWork bounds the bytes one anchored rule reads per text, in
	// multiples of the text's length (tests lift it).
	npWork int
	pool   sync.Pool
}

var _ guard.Detector = (*Detector)(nil)

// New builds a detector from a valid configuration.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Detector{
		regions:     slices.Clone(cfg.PhoneRegions),
		skipPrivate: cfg.SkipPrivateIPs,
		npWork:      8,
	}
	d.phoneRegions = newPhoneRegions(d.regions)
	for i, n := range piiNames {
		d.on[i] = cfg.enabled(n)
	}
	d.on[kindSecret] = cfg.Secrets
	for i, n := range ownSecretNames {
		d.own[i] = cfg.enabled(n)
	}
	if len(cfg.AllowValues) > 0 {
		d.allowValues = make(map[string]bool, len(cfg.AllowValues))
		for _, v := range cfg.AllowValues {
			d.allowValues[strings.TrimSpace(v)] = true
		}
	}
	if len(cfg.AllowPatterns) > 0 {
		re, err := regexp.Compile("^(?:(?:" + strings.Join(cfg.AllowPatterns, ")|(?:") + "))$")
		if err != nil {
			return nil, fmt.Errorf("sensitive.allow_patterns: %w", err)
		}
		d.allowRe = re
	}
	if d.on[kindAddress] {
		addAddressWords(&d.kw)
	}
	if cfg.Secrets {
		if err := d.buildSecrets(cfg); err != nil {
			return nil, err
		}
	}
	d.licen = -1
	if d.on[kindLicense] {
		d.licen = d.kw.id(licenseKeyword)
	}
	if len(d.kw.words) > 0 {
		ac, err := termscan.NewOptions(d.kw.words, termscan.Options{WordStart: d.kw.wordStart, Word: isAlpha})
		if err != nil {
			return nil, fmt.Errorf("sensitive: keyword automaton: %w", err)
		}
		d.ac = ac
	}
	d.pool.New = func() any { return new(scratch) }
	return d, nil
}

// keywordSet is the patterns of the keyword automaton, lower case, and
// per pattern what it triggers: secret rules and detectors, address
// kinds.
type keywordSet struct {
	words   []string
	index   map[string]int
	targets [][]target
	addr    [][]int8
}

// wordStart reports whether pattern i is looked for at word starts only
// (see termscan.Options): a street word that triggers no secret detector
// and is read at word starts only (atWordStart). Inside a word ("first",
// "just", "way" in "always") the automaton then neither reports it nor
// follows it, and the hits it leaves out are those after an ASCII
// letter, where address finds a letter before the word and gives up.
func (kw *keywordSet) wordStart(i int) bool {
	if len(kw.targets[i]) > 0 || len(kw.addr[i]) == 0 || kw.words[i] == licenseKeyword {
		return false
	}
	for _, k := range kw.addr[i] {
		if !atWordStart(k) {
			return false
		}
	}
	return true
}

// id returns the pattern ID of w, adding it when new.
func (kw *keywordSet) id(w string) int {
	if i, ok := kw.index[w]; ok {
		return i
	}
	if kw.index == nil {
		kw.index = map[string]int{}
	}
	i := len(kw.words)
	kw.index[w] = i
	kw.words = append(kw.words, w)
	kw.targets = append(kw.targets, nil)
	kw.addr = append(kw.addr, nil)
	return i
}

// buildSecrets compiles the gitleaks and Nosey Parker rules and adds
// their keywords, and this package's own secret detectors', to the
// keyword set.
func (d *Detector) buildSecrets(cfg Config) error {
	// The two rule sets compile independently: side by side, for startup.
	var (
		nps     []secretRule
		skipped map[string]string
		npErr   error
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		nps, skipped, npErr = compileNoseyParker(cfg)
	}()
	rules, global, err := compileGitleaks(cfg)
	<-done
	if err != nil {
		return err
	}
	d.rules, d.global = rules, global
	add := func(w string, t target) {
		i := d.kw.id(strings.ToLower(w))
		if !slices.Contains(d.kw.targets[i], t) {
			d.kw.targets[i] = append(d.kw.targets[i], t)
		}
		d.secrets = true
	}
	if npErr != nil {
		return npErr
	}
	d.npSkipped = skipped
	d.rules = append(d.rules, nps...)
	for i, r := range d.rules {
		if len(r.keywords) == 0 {
			d.always = append(d.always, i)
		}
		for _, k := range r.keywords {
			add(k, target{rule: i})
		}
	}
	if d.own[ownPEM] {
		add("-----begin", target{rule: -1, own: targetPEM})
		add("ls0tls1crudjti", target{rule: -1, own: targetPEM64})
	}
	if d.own[ownJWT] {
		add("eyj", target{rule: -1, own: targetJWT})
	}
	if d.own[ownURL] {
		add("://", target{rule: -1, own: targetURL})
	}
	if d.own[ownHash] {
		for _, p := range hashPrefixes {
			add(p, target{rule: -1, own: targetHash})
		}
	}
	if d.own[ownAuth] {
		add("bearer ", target{rule: -1, own: targetAuth})
		add("basic ", target{rule: -1, own: targetAuth})
		add("authorization:", target{rule: -1, own: targetAuth})
	}
	if d.own[ownKey] {
		add(" -p ", target{rule: -1, own: targetCLIPass})
		for i, k := range cfg.KeyNames {
			d.keyNames = append(d.keyNames, newKeyName(k))
			add(k, target{rule: -1, own: targetKey + i})
		}
	}
	return nil
}

// Name implements [guard.Detector].
func (d *Detector) Name() string { return "sensitive" }

// scratch is the per-call working memory, pooled.
type scratch struct {
	low   []byte
	hits  []termscan.Match // the keyword automaton's, over low
	scan  termscan.Scratch // the keyword automaton's lanes
	pre   []uint64         // prefilter state sets
	cands []cand
	wins  []window
	keys  []string
	// npEnd and npWork are, per anchored rule, where its last match
	// ended and how many bytes it has read in this text.
	npEnd, npWork []int
	npUsed        bool // npEnd and npWork need clearing
	// Per distinct value, within one text: the outcome of an anchored
	// assignment rule's regex on a window, and of phone validation
	// ("" when invalid). Keys are substrings of the text: cleared when
	// Detect returns, so that no reference to the text is kept.
	assigned map[assignKey][]int
	phones   map[phoneKey]string
}

// phoneKey is a phone candidate and whether a phone word precedes it.
type phoneKey struct {
	raw string
	ctx bool
}

// assignKey is an assignment rule and the window it ran on.
type assignKey struct {
	rule int
	sub  string
}

// window is a span of the text one gitleaks rule runs over.
type window struct {
	rule       int
	start, end int
}

// Detect implements [guard.Detector]: it appends one finding per
// sensitive value found in text, with spans in text. norm is not used:
// values are matched on the original text, where their checksums and
// formats hold.
func (d *Detector) Detect(dst []guard.Finding, text string, _ *guard.Normalized, _ guard.Direction) []guard.Finding {
	if len(text) == 0 {
		return dst
	}
	s := d.pool.Get().(*scratch)
	defer func() {
		clear(s.assigned)
		clear(s.phones)
		d.pool.Put(s)
	}()
	s.cands = s.cands[:0]
	if s.npUsed {
		clear(s.npEnd)
		clear(s.npWork)
		s.npUsed = false
	}
	d.keywordHits(s, text)
	d.scanPII(s, text)
	if d.secrets {
		d.scanSecrets(s, text)
	}
	if len(s.cands) == 0 {
		return dst
	}
	return d.emit(dst, s, text)
}

// keywordHits lower-cases text into s.low and finds the keywords in it:
// every occurrence, overlapping, ordered by end and, at one end, longest
// first (the order of coregx's FindAllOverlapping, which termscan_test.go
// checks), less those of word-start patterns (keywordSet.wordStart) right
// after an ASCII letter, in s.hits.
func (d *Detector) keywordHits(s *scratch, text string) {
	s.low = lowerASCII(s.low[:0], text)
	s.hits = s.hits[:0]
	if d.ac != nil {
		// low is not written until the next Detect, and the hits keep
		// offsets only.
		s.hits = d.ac.Find(s.hits, unsafe.String(unsafe.SliceData(s.low), len(s.low)), &s.scan)
	}
}

// allowed reports whether a value is on the configured allowlist.
func (d *Detector) allowed(v string) bool {
	v = strings.TrimSpace(v)
	return d.allowValues[v] || (d.allowRe != nil && d.allowRe.MatchString(v))
}

// emit resolves overlaps, numbers the placeholders and appends findings.
func (d *Detector) emit(dst []guard.Finding, s *scratch, text string) []guard.Finding {
	cs := s.cands
	if d.allowValues != nil || d.allowRe != nil {
		cs = slices.DeleteFunc(cs, func(c cand) bool { return d.allowed(text[c.start:c.end]) })
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(b.end, a.end)
	})
	kept := cs[:0]
	for _, c := range cs {
		if n := len(kept); n > 0 && c.start < kept[n-1].end {
			if c.better(&kept[n-1]) {
				kept[n-1] = c
			}
			continue
		}
		kept = append(kept, c)
	}
	// A replacement may now overlap an earlier kept value; drop the worse.
	out := kept[:0]
	for _, c := range kept {
		if n := len(out); n > 0 && c.start < out[n-1].end {
			if c.better(&out[n-1]) {
				out[n-1] = c
			}
			continue
		}
		out = append(out, c)
	}
	s.cands = out
	// Number placeholders per kind by first appearance of each distinct
	// value.
	s.keys = s.keys[:0]
	var count [numKinds]int
	for i := range out {
		c := &out[i]
		key := canonical(c.kind, text[c.start:c.end])
		c.num = 0
		for j := range i {
			if out[j].kind == c.kind && s.keys[j] == key {
				c.num = out[j].num
				break
			}
		}
		if c.num == 0 {
			count[c.kind]++
			c.num = count[c.kind]
		}
		c.ph = placeholder(c.kind, c.num)
		s.keys = append(s.keys, key)
	}
	for i := range out {
		c := &out[i]
		dst = append(dst, guard.Finding{
			Detector:    c.detector,
			Category:    guard.LLM02SensitiveInfo,
			Class:       guard.ClassSensitive,
			Start:       c.start,
			End:         c.end,
			Score:       c.score,
			Excerpt:     excerpt(text, out, i),
			Rule:        c.rule,
			Placeholder: c.ph,
		})
	}
	clear(s.keys)
	return dst
}

// Key returns the identity of the sensitive value f reports in text (the
// string f was found in): two findings of the same detector family with
// equal keys are the same value written alike or differently (digits of
// a card with or without spaces, an e-mail address in any case). The
// scanner uses it to number placeholders across the strings of one JSON
// document.
func Key(f guard.Finding, text string) string {
	if f.Start < 0 || f.End > len(text) || f.Start >= f.End {
		return ""
	}
	k := kindSecret
	for i, n := range piiNames {
		if n == f.Detector {
			k = kind(i)
		}
	}
	return kinds[k].tag + ":" + canonical(k, text[f.Start:f.End])
}

// canonical is the identity of a value of kind k.
func canonical(k kind, v string) string {
	switch k {
	case kindPhone, kindCard, kindSSN:
		return keep(v, isDigit)
	case kindIBAN:
		return strings.ToUpper(keep(v, isAlnum))
	case kindEmail, kindIP:
		return strings.ToLower(v)
	}
	return v
}

// keep returns the bytes of v that ok accepts; v itself when it accepts
// them all.
func keep(v string, ok func(byte) bool) string {
	i := 0
	for i < len(v) && ok(v[i]) {
		i++
	}
	if i == len(v) {
		return v
	}
	b := make([]byte, 0, len(v))
	for j := range len(v) {
		if ok(v[j]) {
			b = append(b, v[j])
		}
	}
	return string(b)
}

// excerpt shows where out[i] is, every reported value in view replaced
// by its placeholder and control characters by spaces; at most
// excerptMax bytes.
func excerpt(text string, out []cand, i int) string {
	c := &out[i]
	side := max((excerptMax-len(c.ph))/2, 0)
	ws, we := max(c.start-side, 0), min(c.end+side, len(text))
	for ws > 0 && !utf8.RuneStart(text[ws]) {
		ws++
	}
	for we < len(text) && !utf8.RuneStart(text[we]) {
		we--
	}
	var b strings.Builder
	b.Grow(excerptMax + 8)
	pos := ws
	for j := range out {
		g := &out[j]
		if g.end <= ws || g.start >= we {
			continue
		}
		if g.start > pos {
			writeClean(&b, text[pos:g.start])
		}
		b.WriteString(g.ph)
		pos = max(pos, g.end)
	}
	if pos < we {
		writeClean(&b, text[pos:we])
	}
	e := b.String()
	// The same value may be written again in view where it was not
	// reported (other context): mask every copy of a reported value.
	for j := range out {
		g := &out[j]
		if g.end-g.start < 4 || !firstOfValue(out, j) {
			continue
		}
		if v := text[g.start:g.end]; strings.Contains(e, v) {
			e = strings.ReplaceAll(e, v, g.ph)
		}
	}
	if len(e) > excerptMax {
		n := excerptMax
		for n > 0 && !utf8.RuneStart(e[n]) {
			n--
		}
		e = e[:n]
	}
	return e
}

// firstOfValue reports whether out[j] is the first finding of its value.
func firstOfValue(out []cand, j int) bool {
	for i := range j {
		if out[i].kind == out[j].kind && out[i].num == out[j].num {
			return false
		}
	}
	return true
}

func writeClean(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			c = ' '
		}
		b.WriteByte(c)
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// isWord reports whether c continues an identifier or token.
func isWord(c byte) bool { return isAlnum(c) || c == '_' }
