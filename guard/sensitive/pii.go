package sensitive

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// scanPII runs the personal-data detectors. Each starts from a cheap byte
// scan ('@', digit runs, letter pairs before check digits) and validates
// candidates against the format's rules.
func (d *Detector) scanPII(s *scratch, text string) {
	if d.on[kindEmail] {
		d.emails(s, text)
	}
	if d.on[kindPhone] || d.on[kindCard] || d.on[kindSSN] || d.on[kindIP] {
		d.numbers(s, text)
	}
	if d.on[kindIP] {
		d.ipv6(s, text)
	}
	if d.on[kindIBAN] {
		d.ibans(s, text)
	}
	if d.on[kindLicense] {
		d.licenses(s, text)
	}
	if d.on[kindAddress] {
		d.addresses(s, text)
	}
}

// ---- e-mail ----

func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c >= 0x80
}

func isLabelChar(c byte) bool { return isAlnum(c) || c == '-' || c >= 0x80 }

// emails reports addresses (RFC 5322 addr-spec in the dot-atom form people
// write, with RFC 6531 UTF-8 local parts and IDN domains) whose top-level
// domain is a real one, and the common obfuscations "name [at] host [dot]
// com". Version pins (pkg@1.2.3), handles (@user), file names
// (icon@2x.png) and SSH remotes (git@host:repo) are not addresses.
func (d *Detector) emails(s *scratch, text string) {
	for i := 0; i < len(text); {
		k := strings.IndexByte(text[i:], '@')
		if k < 0 {
			break
		}
		at := i + k
		i = at + 1
		d.email(s, text, at, at+1, 0)
	}
	for _, w := range obfAt {
		for i := 0; i < len(s.low); {
			k := bytes.Index(s.low[i:], w)
			if k < 0 {
				break
			}
			at := i + k
			i = at + len(w)
			a, b := at, at+len(w)
			for a > 0 && text[a-1] == ' ' {
				a--
			}
			for b < len(text) && text[b] == ' ' {
				b++
			}
			d.email(s, text, a, b, 1)
		}
	}
}

// email checks the address around the separator text[at:after].
func (d *Detector) email(s *scratch, text string, at, after, obf int) {
	ls := at
	for ls > 0 && at-ls < 64 && isLocalChar(text[ls-1]) {
		ls--
	}
	for ls < at && (text[ls] == '.' || text[ls] == '-' || text[ls] == '+') {
		ls++
	}
	for ls < at && !utf8.RuneStart(text[ls]) {
		ls++
	}
	if ls == at || text[at-1] == '.' || strings.Contains(text[ls:at], "..") {
		return
	}
	// Domain labels, separated by "." or an obfuscated dot.
	j := after
	labels, last := 0, 0
	tldStart := j
	for {
		ls := j
		for j < len(text) && j-ls < 64 && isLabelChar(text[j]) {
			j++
		}
		if j == ls || text[ls] == '-' || text[j-1] == '-' {
			if labels == 0 {
				return
			}
			j = last
			break
		}
		labels++
		last = j
		tldStart = ls
		if j < len(text) && text[j] == '.' && j+1 < len(text) && isLabelChar(text[j+1]) {
			j++
			continue
		}
		if n := obfDot(text[j:]); n > 0 {
			obf++
			j += n
			continue
		}
		break
	}
	if labels < 2 {
		return
	}
	end := last
	for end > tldStart && !utf8.RuneStart(text[end-1]) && !utf8.FullRune([]byte(text[tldStart:end])) {
		end--
	}
	tld := text[tldStart:end]
	if !validTLD(tld) {
		return
	}
	if end < len(text) && text[end] == ':' && end+1 < len(text) && !isBlank(text[end+1]) {
		return // an SSH remote: git@github.com:org/repo
	}
	score := 0.9
	if obf > 0 {
		score = 0.8
	}
	s.cands = append(s.cands, cand{start: ls, end: end, kind: kindEmail, score: score, detector: "pii.email", rule: "addr-spec"})
}

// obfDot returns the length of an obfuscated dot ("[dot]", "(dot)",
// " dot " is too common in prose to count) at the start of t.
func obfDot(t string) int {
	if len(t) < 5 {
		return 0
	}
	o, c := t[0], t[4]
	if !(o == '[' && c == ']' || o == '(' && c == ')' || o == '{' && c == '}') || !strings.EqualFold(t[1:4], "dot") {
		return 0
	}
	return 5
}

// validTLD reports whether tld is a top-level domain of the public
// suffix list's ICANN section.
func validTLD(tld string) bool {
	if len(tld) < 2 {
		return false
	}
	ascii := true
	for i := 0; i < len(tld); i++ {
		c := tld[i]
		if c >= 0x80 {
			ascii = false
		} else if !isAlpha(c) && !(i > 1 && (isDigit(c) || c == '-') && strings.HasPrefix(strings.ToLower(tld), "xn--")) {
			return false
		}
	}
	t := strings.ToLower(tld)
	if !ascii {
		a, err := idna.Lookup.ToASCII(tld)
		if err != nil {
			return false
		}
		t = a
	}
	_, icann := publicsuffix.PublicSuffix(t)
	return icann
}

// obfAt are the obfuscated "at" forms: name [at] host.com. " at " is
// too common in prose.
var obfAt = [][]byte{[]byte("[at]"), []byte("(at)"), []byte("{at}")}

// ---- numbers: cards, SSNs, phones, IPv4 ----

// chunk is a run of digits with the separators people write inside
// numbers.
type chunk struct {
	start, end int
	digits     int
	plus       bool // starts with "+"
	seps       int  // separator runs
	sep        byte // the first separator, 0 if none
	mixed      bool // more than one kind of separator
	dots       int
	groups     [8]uint8 // digits per group, first 8 groups
	ngroups    int
}

// numbers splits the text into chunks and hands each to the validators.
func (d *Detector) numbers(s *scratch, text string) {
	i := 0
	for i < len(text) {
		if i = nextDigit(s.low, i); i == len(text) {
			break
		}
		start := i
		if start > 0 && (text[start-1] == '+' || text[start-1] == '(') {
			start--
			if text[start] == '(' && start > 0 && text[start-1] == '+' {
				start--
			}
		}
		if start > 0 && (isWord(text[start-1]) || text[start-1] == '.' || text[start-1] >= 0x80 && !prevIsSpaceOrPunct(text, start)) {
			// Inside a word or a longer dotted number: skip the run.
			for i < len(text) && (isWord(text[i]) || text[i] == '.' && i+1 < len(text) && isDigit(text[i+1])) {
				i++
			}
			continue
		}
		ch := scanChunk(text, start)
		i = max(ch.end, i+1)
		if ch.end < len(text) && (isWord(text[ch.end]) && !(text[ch.end] == 'x' && ch.end+1 < len(text) && isDigit(text[ch.end+1]))) {
			for i < len(text) && isWord(text[i]) {
				i++
			}
			continue
		}
		d.number(s, text, &ch)
	}
}

// prevIsSpaceOrPunct reports whether the rune before i is not a letter
// or digit (CJK text runs into numbers with no space).
func prevIsSpaceOrPunct(text string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	return r == utf8.RuneError || !(('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z'))
}

func isNumSep(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')'
}

// scanChunk reads a chunk starting at i.
func scanChunk(text string, i int) chunk {
	ch := chunk{start: i}
	if text[i] == '+' {
		ch.plus = true
		i++
	}
	g := 0
	for i < len(text) && ch.digits <= 24 {
		c := text[i]
		if isDigit(c) {
			ch.digits++
			g++
			i++
			continue
		}
		// A separator run of one byte, or ") ", " (", ")-": then a digit
		// (or "(" for "+41 (0)85").
		n := 0
		if isNumSep(c) {
			n = 1
			if i+1 < len(text) && (c == ')' && (text[i+1] == ' ' || text[i+1] == '-') || c == ' ' && text[i+1] == '(') {
				n = 2
			}
		}
		if n == 0 || i+n >= len(text) {
			break
		}
		nx := text[i+n]
		if !isDigit(nx) && !(nx == '(' && i+n+1 < len(text) && isDigit(text[i+n+1])) {
			break
		}
		if c == '(' && ch.digits > 0 && text[i-1] != ' ' {
			break
		}
		if g > 0 {
			if ch.ngroups < len(ch.groups) {
				ch.groups[ch.ngroups] = uint8(min(g, 255))
			}
			ch.ngroups++
			g = 0
		}
		if ch.sep == 0 {
			ch.sep = c
		} else if c != ch.sep && !(c == '(' || c == ')') {
			ch.mixed = true
		}
		if c == '.' {
			ch.dots++
		}
		ch.seps++
		i += n
	}
	if g > 0 {
		if ch.ngroups < len(ch.groups) {
			ch.groups[ch.ngroups] = uint8(min(g, 255))
		}
		ch.ngroups++
	}
	// A trailing closing parenthesis or extension is not part of it.
	ch.end = i
	return ch
}

// number dispatches one chunk.
func (d *Detector) number(s *scratch, text string, ch *chunk) {
	raw := text[ch.start:ch.end]
	if d.on[kindIP] && ch.dots == 3 && ch.ngroups == 4 && !ch.mixed && !ch.plus {
		d.ipv4(s, text, ch)
		return
	}
	if ch.dots > 0 && ch.sep == '.' && ch.ngroups >= 3 && !ch.mixed {
		// Dotted numbers: versions, dates, section numbers; phones written
		// with dots are accepted only with a phone word before them.
		if !(d.on[kindPhone] && phoneContext(s.low, ch.start) && ch.digits >= 7) {
			return
		}
	}
	if d.on[kindSSN] && d.ssn(s, text, ch) {
		return
	}
	if d.on[kindCard] && d.card(s, text, ch) {
		return
	}
	if d.on[kindPhone] {
		d.phone(s, text, ch, raw)
	}
}

// ---- payment cards ----

// iinRange is a range of issuer identification number prefixes with the
// card lengths its network issues (ISO/IEC 7812; networks' published
// ranges).
type iinRange struct {
	lo, hi   int // prefix range, inclusive, on the first `digits` digits
	digits   int
	min, max int
	network  string
}

var iinRanges = []iinRange{
	{4, 4, 1, 13, 19, "visa"},
	{51, 55, 2, 16, 16, "mastercard"},
	{2221, 2720, 4, 16, 16, "mastercard"},
	{34, 34, 2, 15, 15, "amex"},
	{37, 37, 2, 15, 15, "amex"},
	{6011, 6011, 4, 16, 19, "discover"},
	{644, 649, 3, 16, 19, "discover"},
	{65, 65, 2, 16, 19, "discover"},
	{622126, 622925, 6, 16, 19, "discover"},
	{3528, 3589, 4, 16, 19, "jcb"},
	{2131, 2131, 4, 15, 15, "jcb"},
	{1800, 1800, 4, 15, 15, "jcb"},
	{300, 305, 3, 14, 19, "diners"},
	{3095, 3095, 4, 14, 19, "diners"},
	{36, 36, 2, 14, 19, "diners"},
	{38, 39, 2, 16, 19, "diners"},
	{62, 62, 2, 16, 19, "unionpay"},
	{81, 81, 2, 16, 19, "unionpay"},
	{5018, 5018, 4, 12, 19, "maestro"},
	{5020, 5020, 4, 12, 19, "maestro"},
	{5038, 5038, 4, 12, 19, "maestro"},
	{5893, 5893, 4, 12, 19, "maestro"},
	{6304, 6304, 4, 12, 19, "maestro"},
	{6759, 6759, 4, 12, 19, "maestro"},
	{6761, 6763, 4, 12, 19, "maestro"},
	{56, 58, 2, 12, 19, "maestro"},
	{2200, 2204, 4, 16, 19, "mir"},
	{60, 60, 2, 16, 16, "rupay"},
	{508, 508, 3, 16, 16, "rupay"},
	{6521, 6522, 4, 16, 16, "rupay"},
}

// cardNetwork returns the network whose IIN range and lengths fit the
// digits, or "".
func cardNetwork(digits []byte) string {
	for _, r := range iinRanges {
		if len(digits) < r.min || len(digits) > r.max {
			continue
		}
		p := 0
		for _, c := range digits[:r.digits] {
			p = p*10 + int(c-'0')
		}
		if r.lo <= p && p <= r.hi {
			return r.network
		}
	}
	return ""
}

// luhn reports whether the digits pass the Luhn (mod 10) check.
func luhn(digits []byte) bool {
	sum, dbl := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		v := int(digits[i] - '0')
		if dbl {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		dbl = !dbl
	}
	return sum%10 == 0
}

// digitsOf appends the digits of s to dst.
func digitsOf(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			dst = append(dst, s[i])
		}
	}
	return dst
}

var cardRules = map[string]string{
	"visa": "luhn+iin:visa", "mastercard": "luhn+iin:mastercard", "amex": "luhn+iin:amex",
	"discover": "luhn+iin:discover", "jcb": "luhn+iin:jcb", "diners": "luhn+iin:diners",
	"unionpay": "luhn+iin:unionpay", "maestro": "luhn+iin:maestro", "mir": "luhn+iin:mir",
	"rupay": "luhn+iin:rupay",
}

// card reports a payment card number: 12 to 19 digits, written whole or
// in groups separated by spaces or dashes, passing the Luhn check, in a
// network's IIN range with one of its lengths, or, when no range fits,
// right after a card word.
func (d *Detector) card(s *scratch, text string, ch *chunk) bool {
	if ch.plus || ch.mixed || ch.digits < 12 || ch.digits > 19 || (ch.sep != 0 && ch.sep != ' ' && ch.sep != '-') {
		return false
	}
	var buf [24]byte
	dg := digitsOf(buf[:0], text[ch.start:ch.end])
	if allSame(dg) || !luhn(dg) {
		return false
	}
	net := cardNetwork(dg)
	rule, score := cardRules[net], 0.95
	if net == "" {
		if !cardContext(s.low, ch.start) {
			return false
		}
		rule, score = "luhn+context", 0.8
	}
	s.cands = append(s.cands, cand{start: ch.start, end: ch.end, kind: kindCard, score: score, detector: "pii.card", rule: rule})
	return true
}

func allSame(b []byte) bool {
	for _, c := range b {
		if c != b[0] {
			return false
		}
	}
	return true
}

// wordList is a list of lower-case context words.
type wordList [][]byte

func words(ws ...string) wordList {
	l := make(wordList, len(ws))
	for i, w := range ws {
		l[i] = []byte(w)
	}
	return l
}

// contextBefore reports whether one of the words starts a word in the n
// bytes of low (the lower-cased text) before i.
func contextBefore(low []byte, i, n int, ws wordList) bool {
	a := max(i-n, 0)
	w := low[a:i]
	for _, k := range ws {
		for off := 0; off < len(w); {
			j := bytes.Index(w[off:], k)
			if j < 0 {
				break
			}
			j += off
			if a+j == 0 || !isAlpha(low[a+j-1]) || !isAlpha(k[0]) {
				return true
			}
			off = j + 1
		}
	}
	return false
}

var cardWords = words("card", "credit", "debit", "visa", "mastercard", "amex", "cc ", "cc#", "cc:", "tarjeta", "carte", "karte", "carta", "cartão", "kaart", "kort", "карт", "卡", "カード")

func cardContext(low []byte, i int) bool { return contextBefore(low, i, 48, cardWords) }

// ---- US social security numbers ----

var ssnWords = words("ssn", "social security", "soc sec", "ss#", "ss #", "ss no", "taxpayer")

// ssn reports a US social security number: AAA-GG-SSSS with dashes,
// spaces or dots, or nine digits after an SSN word, excluding what the
// SSA never issues: area 000, 666 and 900-999, group 00, serial 0000,
// and the numbers made public in advertising (078-05-1120, 219-09-9999).
func (d *Detector) ssn(s *scratch, text string, ch *chunk) bool {
	if ch.plus || ch.mixed || ch.digits != 9 {
		return false
	}
	grouped := ch.ngroups == 3 && ch.groups[0] == 3 && ch.groups[1] == 2 && ch.groups[2] == 4 && (ch.sep == '-' || ch.sep == ' ' || ch.sep == '.')
	ctx := contextBefore(s.low, ch.start, 48, ssnWords)
	if !grouped && !(ch.ngroups == 1 && ctx) {
		return false
	}
	var buf [9]byte
	dg := digitsOf(buf[:0], text[ch.start:ch.end])
	area := int(dg[0]-'0')*100 + int(dg[1]-'0')*10 + int(dg[2]-'0')
	group := int(dg[3]-'0')*10 + int(dg[4]-'0')
	serial := string(dg[5:])
	if area == 0 || area == 666 || area >= 900 || group == 0 || serial == "0000" {
		return false
	}
	if n := string(dg); n == "078051120" || n == "219099999" || n == "123456789" {
		return false
	}
	score := 0.85
	if ctx {
		score = 0.95
	}
	s.cands = append(s.cands, cand{start: ch.start, end: ch.end, kind: kindSSN, score: score, detector: "pii.ssn", rule: "ssa-ranges"})
	return true
}

// ---- phone numbers ----

var phoneWords = words(
	"phone", "tel:", "tel.", "tel ", "telephone", "mobile", "cell", "fax", "call", "dial", "whatsapp", "sms", "text me",
	"contact", "reach me", "teléfono", "telefono", "téléphone", "telefon", "celular",
	"móvil", "movil", "handy", "portable", "cellulare", "телефон", "тел.", "电话", "電話",
	"手机", "携帯", "전화", "tlf", "ph:", "ph.", "mob:", "desk:",
)

var notPhoneWords = words("isbn", "issn", "doi", "version", "order", "invoice", "ref", "id:", "id ", "#")

func phoneContext(low []byte, i int) bool { return contextBefore(low, i, 40, phoneWords) }

// phone reports a telephone number: one written with a "+" country code
// that libphonenumber finds valid; one in a national format (grouped, or
// a trunk "0" prefix) that is valid in one of the configured regions; or
// 7 to 15 digits right after a phone word. Dates, times, versions,
// amounts and ISBNs are not numbers people dial.
func (d *Detector) phone(s *scratch, text string, ch *chunk, raw string) {
	if ch.digits < 7 || ch.digits > 15 || ch.ngroups > 6 {
		return
	}
	if looksLikeDate(ch) || (ch.start > 0 && strings.IndexByte("$#/\\=_-", text[ch.start-1]) >= 0) || strings.HasSuffix(text[:ch.start], "€") || strings.HasSuffix(text[:ch.start], "£") {
		return
	}
	if (ch.sep == '.' && ch.ngroups < 3) || (ch.sep == '/' && !phoneContext(s.low, ch.start)) || (ch.end < len(text) && (text[ch.end] == '/' || text[ch.end] == '\\')) {
		return // a decimal number, a fraction or a path
	}
	if ch.end < len(text) && text[ch.end] == '%' {
		return
	}
	if contextBefore(s.low, ch.start, 16, notPhoneWords) {
		return
	}
	ctx := phoneContext(s.low, ch.start)
	var buf [24]byte
	dg := digitsOf(buf[:0], raw)
	if allSame(dg) {
		return
	}
	valid, seen := s.phones[phoneKey{raw, ctx}]
	if seen {
		goto report
	}
	if ch.plus || strings.HasPrefix(raw, "00") {
		if validPhone(raw, "ZZ") || strings.HasPrefix(raw, "00") && validPhone("+"+string(dg[2:]), "ZZ") {
			valid = "e164"
		}
	} else if ch.ngroups >= 2 || ctx {
		if ch.ngroups == 3 && ch.groups[0] == 3 && ch.groups[1] == 2 && ch.groups[2] == 4 {
			return // the SSN shape
		}
		for _, r := range d.regions {
			if p := d.phoneRegions[r]; p != nil && !p.mayBeValid(raw) {
				continue
			}
			if validPhone(raw, r) {
				valid = "national:" + r
				break
			}
		}
	}
	if s.phones == nil {
		s.phones = make(map[phoneKey]string)
	}
	s.phones[phoneKey{raw, ctx}] = valid
report:
	switch {
	case valid != "" && (ctx || ch.plus || ch.ngroups >= 2):
		score := 0.8
		if ctx {
			score = 0.9
		}
		s.cands = append(s.cands, cand{start: ch.start, end: ch.end, kind: kindPhone, score: score, detector: "pii.phone", rule: "libphonenumber"})
	case ctx && (ch.ngroups >= 2 || ch.plus || ch.digits >= 10):
		s.cands = append(s.cands, cand{start: ch.start, end: ch.end, kind: kindPhone, score: 0.7, detector: "pii.phone", rule: "phone-context"})
	case ctx:
		s.cands = append(s.cands, cand{start: ch.start, end: ch.end, kind: kindPhone, score: 0.6, detector: "pii.phone", rule: "phone-context"})
	}
}

// validPhone parses n in region and reports whether libphonenumber finds
// it valid.
func validPhone(n, region string) bool {
	num, err := phonenumbers.Parse(n, region)
	return err == nil && phonenumbers.IsValidNumber(num)
}

// looksLikeDate reports chunks shaped like dates: YYYY-MM-DD, DD/MM/YYYY,
// DD.MM.YY and the like.
func looksLikeDate(ch *chunk) bool {
	if ch.ngroups != 3 || ch.sep == ' ' || ch.sep == '(' {
		return false
	}
	a, b, c := ch.groups[0], ch.groups[1], ch.groups[2]
	return a == 4 && b <= 2 && c <= 2 || a <= 2 && b <= 2 && (c == 2 || c == 4)
}

// ---- IP addresses ----

// ipv4 reports a dotted-quad IPv4 address (each part 0-255, no leading
// zeros), not after a version word, not a netmask, and not loopback,
// unspecified, broadcast or multicast (which name no host).
func (d *Detector) ipv4(s *scratch, text string, ch *chunk) {
	raw := text[ch.start:ch.end]
	a, err := netip.ParseAddr(raw)
	if err != nil || !a.Is4() {
		return
	}
	if ch.end < len(text) && text[ch.end] == '.' && ch.end+1 < len(text) && isDigit(text[ch.end+1]) {
		return
	}
	if versionBefore(s.low, ch.start) || !d.reportIP(a) || netmask(a) {
		return
	}
	s.cands = append(s.cands, cand{start: ch.start, end: ch.end, kind: kindIP, score: 0.85, detector: "pii.ip", rule: "ipv4"})
}

// versionBefore reports a version word or a "v" right before i.
func versionBefore(low []byte, i int) bool {
	if i > 0 && (low[i-1] == 'v' || low[i-1] == '@' || low[i-1] == '_' || low[i-1] == '-' && i > 1 && isAlnum(low[i-2])) {
		return true
	}
	return contextBefore(low, i, 24, versionWords)
}

var versionWords = words("version", "ver.", "release", "build", "firmware", "oid", "rev", "v.")

// netmask reports a contiguous IPv4 netmask such as 255.255.255.0.
func netmask(a netip.Addr) bool {
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return m != 0 && m>>31 == 1 && (^m)&(^m+1) == 0
}

func (d *Detector) reportIP(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	if d.skipPrivate && (a.IsPrivate() || a.IsLinkLocalUnicast()) {
		return false
	}
	return true
}

func isV6Char(c byte) bool { return isHex(c) || c == ':' || c == '.' }

// ipv6 reports IPv6 addresses (RFC 4291 text forms, checked by
// net/netip): eight groups, or a "::" compression with a group of three
// or more hex digits (so that slices like x[1::2] are not addresses).
func (d *Detector) ipv6(s *scratch, text string) {
	for i := 0; i < len(text); {
		k := strings.IndexByte(text[i:], ':')
		if k < 0 {
			return
		}
		c := i + k
		a, b := c, c
		for a > 0 && c-a < 45 && isV6Char(text[a-1]) {
			a--
		}
		for b < len(text) && b-a < 45 && isV6Char(text[b]) {
			b++
		}
		i = b + 1
		for b > a && text[b-1] == '.' {
			b--
		}
		if a > 0 && (isWord(text[a-1]) || text[a-1] == '.') || b < len(text) && isWord(text[b]) {
			continue
		}
		raw := text[a:b]
		if strings.Count(raw, ":") < 2 {
			continue
		}
		if !strings.Contains(raw, "::") && strings.Count(raw, ":") != 7 && !strings.Contains(raw, ".") {
			continue
		}
		long := false
		for _, g := range strings.Split(raw, ":") {
			if len(g) >= 3 {
				long = true
			}
		}
		if !long {
			continue
		}
		ad, err := netip.ParseAddr(raw)
		if err != nil || !ad.Is6() || !d.reportIP(ad) {
			continue
		}
		s.cands = append(s.cands, cand{start: a, end: b, kind: kindIP, score: 0.85, detector: "pii.ip", rule: "ipv6"})
	}
}

// nextDigit returns the index of the first ASCII digit of b at or after
// i, or len(b); eight bytes at a time.
func nextDigit(b []byte, i int) int {
	const (
		low7 = 0x7f7f7f7f7f7f7f7f
		high = 0x8080808080808080
	)
	if i < 0 || i > len(b) {
		return i
	}
	// Indexed from b[i:] by k, the loop needs no bound checks.
	s, k := b[i:], 0
	for ; k <= len(s)-8; k += 8 {
		x := binary.LittleEndian.Uint64(s[k : k+8])
		y := x & low7
		// Per byte: the high bit of y+0x50 is set from '0' on, that of
		// y+0x46 past '9'; no byte carries into the next.
		if m := (y + 0x5050505050505050) &^ (y + 0x4646464646464646) &^ x & high; m != 0 {
			return i + k + bits.TrailingZeros64(m)/8
		}
	}
	i += k
	for i < len(b) && !isDigit(b[i]) {
		i++
	}
	return i
}

// ---- IBAN ----

// ibanLengths is the IBAN length per country (SWIFT IBAN registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
	"BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
	"IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
	"LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
	"MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
	"SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
	"TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// ibans reports International Bank Account Numbers (ISO 13616): a
// country code, two check digits and the country's BBAN length, written
// whole or in groups of four, in any case, with the mod-97 check equal
// to 1.
func (d *Detector) ibans(s *scratch, text string) {
	for i := 0; i+4 < len(text); i++ {
		// Skip to the next position with a digit two bytes on.
		if i = nextDigit(s.low, i+2) - 2; i+4 >= len(text) {
			break
		}
		if !isDigit(text[i+2]) || !isDigit(text[i+3]) || !isAlpha(text[i]) || !isAlpha(text[i+1]) {
			continue
		}
		if i > 0 && isWord(text[i-1]) {
			continue
		}
		cc := [2]byte{text[i] &^ 0x20, text[i+1] &^ 0x20}
		n, ok := ibanLengths[string(cc[:])]
		if !ok {
			continue
		}
		var buf [34]byte
		got := 0
		j := i
		for j < len(text) && got < n {
			c := text[j]
			if isAlnum(c) {
				buf[got] = c
				got++
				j++
				continue
			}
			if (c == ' ' || c == '-') && got%4 == 0 && j+1 < len(text) && isAlnum(text[j+1]) {
				j++
				continue
			}
			break
		}
		if got != n || (j < len(text) && isWord(text[j])) {
			continue
		}
		if !mod97(buf[:n]) {
			continue
		}
		s.cands = append(s.cands, cand{start: i, end: j, kind: kindIBAN, score: 0.95, detector: "pii.iban", rule: "mod97"})
		i = j - 1
	}
}

// mod97 reports whether the IBAN passes ISO 7064 MOD 97-10: moved
// country code and check digits, letters as 10-35, remainder 1.
func mod97(iban []byte) bool {
	r := 0
	add := func(c byte) bool {
		switch {
		case isDigit(c):
			r = (r*10 + int(c-'0')) % 97
		case isAlpha(c):
			r = (r*100 + int(c|0x20-'a'+10)) % 97
		default:
			return false
		}
		return true
	}
	for _, c := range iban[4:] {
		if !add(c) {
			return false
		}
	}
	for _, c := range iban[:4] {
		if !add(c) {
			return false
		}
	}
	return r == 1
}
