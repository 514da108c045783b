package sensitive

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// licenseKeyword starts the words that announce a licence number
// ("license", "licence", "licencia"); the keyword automaton finds it.
const licenseKeyword = "licen"

var licenseWords = words("driver", "driving", "dl#", "dl no", "dl number", "führerschein", "permis de conduire", "licencia de conducir", "carteira de motorista", "patente di guida", "rijbewijs", "körkort")

// licenses reports a driver's licence number: a token of 5 to 20 letters
// and digits, with at least 4 digits, within a few words after a
// driver's-licence phrase. US states use many formats (7 digits, a
// letter and 12 digits, ...), so the phrase is required.
func (d *Detector) licenses(s *scratch, text string) {
	// The keyword automaton's hits of "licen", which cannot overlap
	// itself: in order of start.
	i := 0
	for _, m := range s.hits {
		if m.PatternID != d.licen || m.Start < i {
			continue
		}
		p := m.Start
		i = p + 5
		if !contextBefore(s.low, p+5, 24, licenseWords) {
			continue
		}
		// Skip the rest of the word and up to a few short words.
		j := p + 5
		for j < len(text) && isAlpha(text[j]) {
			j++
		}
		for words := 0; j < len(text) && j-p < 60; {
			for j < len(text) && (text[j] == ' ' || text[j] == ':' || text[j] == '#' || text[j] == '\'' || text[j] == '.') {
				j++
			}
			a := j
			dg := 0
			for j < len(text) && (isAlnum(text[j]) || text[j] == '-') {
				if isDigit(text[j]) {
					dg++
				}
				j++
			}
			if a == j {
				break
			}
			if dg >= 4 && j-a >= 5 && j-a <= 20 && isAlnum(text[j-1]) {
				s.cands = append(s.cands, cand{start: a, end: j, kind: kindLicense, score: 0.8, detector: "pii.driver_license", rule: "license-context"})
				i = j
				break
			}
			if dg > 0 {
				break
			}
			words++
			if words > 3 {
				break
			}
		}
	}
}

// Street words, lower case. Sources: USPS Publication 28 appendix C
// (street suffixes) and the street types of the national address
// formats of Europe and Latin America. Strong suffixes name a street on
// their own; weak ones are also common nouns ("3 Key Points") and need
// more evidence: a unit, an address word before, or a comma and a city.
var (
	strongSuffixes = []string{
		"street", "st.", "st", "avenue", "ave", "ave.", "road", "rd", "rd.", "boulevard",
		"blvd", "blvd.", "lane", "ln.", "drive", "dr.", "court", "ct.", "terrace", "parkway",
		"pkwy", "highway", "hwy", "crescent", "plaza", "alley", "circle", "trail", "close",
	}
	weakSuffixes = []string{
		"way", "place", "square", "pass", "flat", "flats", "rapids", "point", "points", "squares",
		"streets", "loop", "hill", "hills", "route", "bridge", "park", "view", "ridge", "grove",
		"gardens", "heights", "meadows", "springs", "village", "mews", "row", "walk", "path",
		"pike", "crossing", "estates", "harbor", "junction", "landing", "manor", "orchard",
		"station", "summit", "valley", "vista", "inlet", "lodge", "green", "field", "fields",
	}
	// gluedSuffixes end a capitalized street name: Feldstrasse 42.
	gluedSuffixes = []string{
		"straße", "strasse", "gasse", "weg", "allee", "platz", "damm", "ufer", "vej", "gade",
		"gatan", "gata", "vägen", "veien", "vegen", "vegur", "katu", "kuja", "tie", "laan",
		"straat", "plein", "gracht", "kade", "dreef", "utca", "ulica", "stræti", "straeti",
		"gränd", "torget", "torg", "stíg", "bulevar", "cesta", "ulice", "iela", "tänav",
	}
	// standalone street words before the number: Villacher Strasse 89,
	// Rákóczi út 13.
	standaloneTypes = []string{"strasse", "straße", "gasse", "weg", "allee", "platz", "u.", "út", "utca", "ulica", "vej", "straat", "laan"}
	// prefixTypes start a street name: Rua do Arenque 1634, 12 rue de la Paix.
	prefixTypes = []string{
		"rua", "rue", "via", "viale", "calle", "carrer", "avenida", "av.", "avda.", "paseo",
		"praça", "piazza", "piazzale", "strada", "corso", "ul.", "ulica", "boulevard", "bd.",
		"av", "chemin", "allée", "quai", "travessa", "largo", "rambla", "camino", "carretera", "calea",
		"aleja", "οδός", "λεωφόρος", "πλατεία", "улица", "ул.", "проспект", "avenue", "plaza",
	}
	particles = map[string]bool{
		"de": true, "del": true, "da": true, "do": true, "dos": true, "das": true, "du": true,
		"des": true, "la": true, "le": true, "les": true, "di": true, "della": true, "van": true,
		"von": true, "der": true, "den": true, "het": true, "of": true, "the": true, "y": true,
		"e": true, "et": true, "d'": true, "l'": true,
	}
	addressWords = words("address", "lives at", "live at", "lives in", "lived in", "live in", "located at",
		"ship to", "deliver to", "send to", "sent to", "moved to", "corner of", "dirección", "direccion",
		"adresse", "indirizzo", "endereço", "anschrift", "adres", "адрес", "住所", "地址", "meet me at", "drops you off at", "return to")
	unitWords = []string{"apt", "apt.", "apartment", "suite", "ste", "unit", "#", "flat", "floor", "fl."}
)

// Address word kinds.
const (
	addrStrong = iota
	addrWeak
	addrGlued
	addrStandalone
	addrPrefix
	addrBox
	addrMilitary
	addrUnit    // "Apt. 5" after "Name 12"
	addrContext // "address: Name 12, City"
)

// atWordStart reports whether address reads a street word of kind k only
// where it starts a word (where no letter precedes it): the keyword
// automaton need not report it after an ASCII letter.
func atWordStart(k int8) bool { return k != addrGlued && k != addrContext }

// addAddressWords adds the street words to the keyword set, each with
// its kinds.
func addAddressWords(kw *keywordSet) {
	add := func(k int8, list ...string) {
		for _, w := range list {
			if w != strings.ToLower(w) {
				continue
			}
			if r, sz := utf8.DecodeRuneInString(w); r >= 0x80 {
				// Non-ASCII letters are not lower-cased in the scanned
				// copy: add the capitalized and upper-case forms.
				list = append(list, string(unicode.ToUpper(r))+w[sz:], strings.ToUpper(w))
			}
			i := kw.id(w)
			kw.addr[i] = append(kw.addr[i], k)
		}
	}
	add(addrStrong, strongSuffixes...)
	add(addrWeak, weakSuffixes...)
	add(addrGlued, gluedSuffixes...)
	add(addrStandalone, standaloneTypes...)
	add(addrPrefix, prefixTypes...)
	add(addrBox, "p.o. box", "po box", "p. o. box", "postbox", "postfach", "apartado", "casilla", "psc ")
	add(addrUnit, "apt. ", "apt ", "suite ", "apartment ", "ste. ")
	for _, w := range addressWords {
		add(addrContext, string(w))
	}
	add(addrMilitary, "apo aa", "apo ae", "apo ap", "fpo aa", "fpo ae", "fpo ap", "dpo aa", "dpo ae", "dpo ap")
}

// addresses reports street addresses: a house number with a street name
// and type in the orders the world writes them (12 Main Street; 12 rue
// de la Paix; Feldstrasse 42; Rua do Arenque 1634; Rákóczi út 13), post
// office boxes, and US military addresses (PSC 1234, Box 5678, APO AE
// 09012). Weak street types need a unit, an address word or a city after
// a comma.
func (d *Detector) addresses(s *scratch, text string) {
	for _, m := range s.hits {
		for _, k := range d.kw.addr[m.PatternID] {
			d.address(s, text, k, m.Start, m.End)
		}
	}
}

func (d *Detector) address(s *scratch, text string, k int8, p, q int) {
	wordStart := p == 0 || !letterBefore(text, p)
	wordEnd := q >= len(text) || !isLetterAfter(text, q) || text[q-1] == '.'
	switch k {
	case addrStrong, addrWeak:
		if !wordStart || !wordEnd || !upperAt(text, p) && !strings.HasSuffix(text[p:q], ".") {
			return
		}
		// Back over one to four capitalized words to a house number.
		a, ok := nameBefore(text, p, 4)
		if !ok {
			return
		}
		n, ok := houseNumberBefore(text, a)
		if !ok {
			return
		}
		e := unitAfter(text, q)
		if k == addrWeak && e == q && !contextBefore(s.low, n, 80, addressWords) && !cityAfter(text, q) {
			return
		}
		d.addAddr(s, n, e, "number-name-type")
	case addrGlued:
		if wordStart || !wordEnd {
			return
		}
		a := p
		for a > 0 && letterBefore(text, a) {
			_, sz := utf8.DecodeLastRuneInString(text[:a])
			a -= sz
		}
		if p-a < 2 || !upperAt(text, a) {
			return
		}
		e, ok := numberAfter(text, q)
		if !ok {
			return
		}
		d.addAddr(s, a, unitAfter(text, e), "name-type-number")
	case addrStandalone:
		if !wordStart || !wordEnd {
			return
		}
		a, ok := nameBefore(text, p, 2)
		if !ok {
			return
		}
		e, ok := numberAfter(text, q)
		if !ok {
			return
		}
		d.addAddr(s, a, unitAfter(text, e), "name-type-number")
	case addrPrefix:
		if !wordStart || !wordEnd {
			return
		}
		if n, ok := houseNumberBefore(text, p); ok {
			e, ok := nameAfter(text, q, 4)
			if ok {
				d.addAddr(s, n, unitAfter(text, e), "number-type-name")
			}
			return
		}
		if !upperAt(text, p) && !contextBefore(s.low, p, 80, addressWords) {
			return
		}
		e, ok := nameAfter(text, q, 5)
		if !ok {
			return
		}
		e2, ok := numberAfter(text, e)
		if !ok {
			return
		}
		d.addAddr(s, p, unitAfter(text, e2), "type-name-number")
	case addrBox:
		if !wordStart {
			return
		}
		e, ok := numberAfter(text, q)
		if !ok && strings.HasSuffix(text[p:q], " ") {
			e, ok = numberAfter(text, q-1)
		}
		if !ok {
			return
		}
		if bytes.HasPrefix(s.low[p:q], []byte("psc")) {
			// PSC 1234, Box 5678
			i := e
			for i < len(text) && (text[i] == ',' || text[i] == ' ') {
				i++
			}
			if !strings.HasPrefix(string(s.low[i:min(i+4, len(s.low))]), "box ") {
				return
			}
			if e, ok = numberAfter(text, i+3); !ok {
				return
			}
		}
		d.addAddr(s, p, e, "box")
	case addrUnit:
		if !wordStart {
			return
		}
		e, ok := numberAfter(text, q-1)
		if !ok {
			return
		}
		// Back over blanks and a comma to "Name 12" or "12 Name".
		i := p
		for i > 0 && p-i < 4 && (isBlank(text[i-1]) || text[i-1] == ',') {
			i--
		}
		n := i
		for n > 0 && i-n < 5 && isDigit(text[n-1]) {
			n--
		}
		if n < i && n > 0 && text[n-1] == ' ' {
			if a, ok := nameBefore(text, n-1+1, 3); ok && a < n {
				d.addAddr(s, a, e, "name-number-unit")
			}
			return
		}
		if a, ok := nameBefore(text, i, 3); ok {
			if h, ok := houseNumberBefore(text, a); ok {
				d.addAddr(s, h, e, "number-name-unit")
			}
		}
	case addrContext:
		// address: [12345] Name 12[, City]
		i := q
		for i < len(text) && i-q < 12 && (text[i] == ' ' || text[i] == ':' || text[i] == ',') {
			i++
		}
		if strings.HasPrefix(text[i:], "is ") {
			i += 3
		}
		st := i
		if e, ok := numberAfter(text, i-1); ok && i > 0 && text[i-1] == ' ' {
			i = e
		}
		e, ok := nameAfter(text, i, 3)
		if !ok || e == i {
			return
		}
		e2, ok := numberAfter(text, e)
		if !ok {
			return
		}
		if e2 < len(text) && !(text[e2] == ',' || isBlank(text[e2]) || text[e2] == '.') {
			return
		}
		d.addAddr(s, st, unitAfter(text, e2), "context-name-number")
	case addrMilitary:
		if !wordStart || !(text[p] == 'A' || text[p] == 'F' || text[p] == 'D') {
			return
		}
		e, ok := numberAfter(text, q)
		if !ok || e-q < 5 {
			return
		}
		a := p
		// Take in the unit or ship before: "USNS Name FPO AA 12345".
		if i := bytes.LastIndex(s.low[max(p-48, 0):p], []byte("usns ")); i >= 0 {
			a = max(p-48, 0) + i
		} else if i := bytes.LastIndex(s.low[max(p-32, 0):p], []byte("psc ")); i >= 0 {
			a = max(p-32, 0) + i
		} else if i := bytes.LastIndex(s.low[max(p-32, 0):p], []byte("unit ")); i >= 0 {
			a = max(p-32, 0) + i
		}
		d.addAddr(s, a, e, "military")
	}
}

func (d *Detector) addAddr(s *scratch, a, e int, rule string) {
	s.cands = append(s.cands, cand{start: a, end: e, kind: kindAddress, score: 0.75, detector: "pii.address", rule: rule})
}

func isLetterAt(text string, i int) bool {
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsLetter(r)
}

func letterBefore(text string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	return unicode.IsLetter(r)
}

func isLetterAfter(text string, i int) bool { return isLetterAt(text, i) }

func upperAt(text string, i int) bool {
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsUpper(r)
}

// nameBefore walks back from p (the start of a street type) over one to
// max capitalized words (or particles), separated by single spaces, and
// returns where they start.
func nameBefore(text string, p, max int) (int, bool) {
	i := p
	n, caps := 0, 0
	for n < max {
		if i == 0 || text[i-1] != ' ' {
			break
		}
		j := i - 1
		e := j
		for j > 0 && (letterBefore(text, j) || text[j-1] == '\'' || text[j-1] == '-' || text[j-1] == '.') {
			_, sz := utf8.DecodeLastRuneInString(text[:j])
			j -= sz
		}
		if j == e {
			break
		}
		w := text[j:e]
		if upperAt(text, j) {
			caps++
		} else if !particles[strings.ToLower(w)] {
			break
		}
		i = j
		n++
	}
	return i, caps > 0
}

// nameAfter walks forward from q over one to max words (capitalized, or
// particles) and returns where the last one ends.
func nameAfter(text string, q, max int) (int, bool) {
	i := q
	n, caps := 0, 0
	for n < max && i < len(text) && text[i] == ' ' {
		j := i + 1
		for j < len(text) && (isLetterAt(text, j) || text[j] == '\'' || text[j] == '-' || text[j] == '.') {
			_, sz := utf8.DecodeRuneInString(text[j:])
			j += sz
		}
		if j == i+1 {
			break
		}
		if upperAt(text, i+1) {
			caps++
		} else if !particles[strings.ToLower(text[i+1:j])] {
			break
		}
		i = j
		n++
	}
	return i, caps > 0
}

// houseNumberBefore finds a house number (1 to 5 digits, a letter
// allowed) ending one space before a, and returns its start.
func houseNumberBefore(text string, a int) (int, bool) {
	i := a
	if i == 0 || text[i-1] != ' ' {
		return 0, false
	}
	i--
	if i > 0 && text[i-1] == ',' {
		i--
	}
	e := i
	if i > 0 && isAlpha(text[i-1]) && i > 1 && isDigit(text[i-2]) {
		i--
	}
	for i > 0 && e-i < 6 && isDigit(text[i-1]) {
		i--
	}
	if i == e || !isDigit(text[i]) || (i > 0 && (isWord(text[i-1]) || text[i-1] == '.' || text[i-1] == '$')) {
		return 0, false
	}
	return i, true
}

// numberAfter finds a house number one space after q and returns its end.
func numberAfter(text string, q int) (int, bool) {
	if q >= len(text) || text[q] != ' ' {
		return 0, false
	}
	i := q + 1
	j := i
	for j < len(text) && j-i < 5 && isDigit(text[j]) {
		j++
	}
	if j == i {
		return 0, false
	}
	if j < len(text) && isAlpha(text[j]) && (j+1 == len(text) || !isAlpha(text[j+1])) {
		j++
	}
	if j < len(text) && isWord(text[j]) {
		return 0, false
	}
	return j, true
}

// unitAfter extends an address over a following unit ("Apt. 5", "Suite
// 210", "#3").
func unitAfter(text string, e int) int {
	i := e
	for i < len(text) && i-e < 3 && (text[i] == ' ' || text[i] == ',') {
		i++
	}
	rest := strings.ToLower(text[i:min(i+12, len(text))])
	for _, u := range unitWords {
		if strings.HasPrefix(rest, u) {
			j := i + len(u)
			if j < len(text) && text[j] == '.' {
				j++
			}
			if n, ok := numberAfter(text, j); ok {
				return n
			}
			if j < len(text) && isDigit(text[j]) && u == "#" {
				for j < len(text) && isAlnum(text[j]) {
					j++
				}
				return j
			}
		}
	}
	return e
}

// cityAfter reports ", City" after q.
func cityAfter(text string, q int) bool {
	return q+2 < len(text) && text[q] == ',' && text[q+1] == ' ' && upperAt(text, q+2)
}
