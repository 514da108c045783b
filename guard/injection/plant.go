package injection

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tasks planted in documents. An e-mail or a web page an agent reads may
// carry a request addressed to whoever processes it: a question or an
// order that reads like a user's prompt ("Analyze the trend of electric
// car sales.", "How do I automate a daily reminder?") sitting in the
// middle or at the end of the document, about something the document
// does not discuss. No phrase marks it as an attack; its place does:
//
//   - the text reads as a document: e-mail furniture (headers, sign-offs,
//     footers) and a salutation, at least two of them;
//   - after the document has begun, a sentence opens (at a line or
//     sentence start) the way requests to an assistant open;
//   - the sentence is not about the document ("summarize this email",
//     "draft a reply"), does not end in a colon that introduces it, and
//     shares almost none of its content words with the rest of the text.
//
// A user pasting an e-mail and asking about it writes the request before
// the e-mail or refers to it; both are left alone.

const (
	// plantWeight is the evidence of one planted task: enough on its own.
	plantWeight = 3.2
	// plantMaxSentence bounds the bytes read for one sentence.
	plantMaxSentence = 400
)

// taskStarts open a request to an assistant: "write a", "how do i",
// "analyze"; questionStarts open a question (a planted task only when
// it ends in a question mark). Matched case-insensitively at the start
// of a line or sentence of the original text, after a lead word.
var (
	taskStarts = []string{
		"write", "provide", "suggest", "recommend", "list", "describe", "explain", "summarize",
		"summarise", "compose", "draft", "generate", "create", "translate", "calculate", "compare",
		"determine", "classify", "analyze", "analyse", "outline", "identify", "find", "write a",
		"write an", "write me", "write the", "provide a", "provide an", "provide me", "provide the",
		"provide insights", "provide some", "show me", "analyze", "analyse", "summarize the",
		"summarise the", "describe the", "describe how", "describe what", "explain how", "explain why",
		"explain the", "explain what", "list the", "list all", "list some", "give me", "generate a",
		"generate an", "create a", "create an", "compose a", "draft a", "suggest some", "suggest a",
		"recommend a", "recommend some", "calculate the", "compare the", "determine the", "classify the",
		"help me", "tell me about", "translate the", "what are the", "what is the", "what are some",
		"what is a", "which are the", "how do i", "how can i", "how does", "how do", "how have",
		"how has", "how should i", "how to", "is this", "can you classify", "can you write",
		"can you provide", "can you explain", "can you list", "can you summarize", "can you help",
		"can you tell me", "could you explain", "could you provide", "could you write", "escribe un",
		"escribe una", "proporciona", "analiza", "describe", "explica", "dame", "dime", "cómo puedo",
		"cuáles son", "schreibe eine*", "schreib mir", "erkläre", "analysiere", "beschreibe", "gib mir",
		"wie kann ich", "was sind", "écris un", "écris une", "rédige", "explique", "analyse", "décris",
		"donne-moi", "comment puis-je", "quels sont", "quelles sont", "escreva um", "escreva uma",
		"explique", "analise", "descreva", "como posso", "quais são", "scrivi un", "scrivi una", "spiega",
		"analizza", "descrivi", "come posso", "quali sono",
	}
	// docRefs mark a request about the document itself ("summarize this
	// email", "draft a reply"): the user's own, not a planted one. Matched
	// in the folded sentence, as whole words.
	docRefs = []string{
		"this email", "the email", "that email", "the above email", "this e-mail", "the e-mail",
		"this message", "the message", "this mail", "the mail", "this letter", "the letter",
		"this thread", "the thread", "this text", "the text", "this document", "the document",
		"the above", "above", "below", "the following", "following", "attached", "attachment", "reply",
		"replies", "respond", "response", "answer", "summary", "summarize", "summarise", "sender",
		"recipient", "this.", "this?", "this:", "it.", "it?", "them.", "them?", "este correo",
		"el correo", "este mensaje", "diese e-mail", "diese mail", "diese nachricht", "ce courriel",
		"cet e-mail", "ce message", "este e-mail", "esta mensagem", "questa email", "questo messaggio",
	}
	questionStarts = []string{
		"what", "which", "who", "why", "where", "when", "how", "is there", "are there", "can i",
		"should i", "qué", "cuál", "cuáles", "quién", "cómo", "dónde", "welche*", "wer", "warum", "wie",
		"wo", "quel", "quelle", "quels", "quelles", "pourquoi", "comment", "où", "o que", "qual", "quais",
		"quem", "por que", "onde", "che cosa", "quale", "quali", "chi", "perché", "dove",
	}
)

// plantedTask adds planted_task evidence to s.ev for the folded text,
// whose concepts are in s.byC.
func (d *Detector) plantedTask(s *scratch, folded string) {
	marks, greets := s.byC[cDocMark], s.byC[cGreeting]
	if len(marks) == 0 || len(marks)+min(len(greets), 1) < 2 {
		return
	}
	first := marks[0].start
	if len(greets) > 0 {
		first = min(first, greets[0].start)
	}
	o0, ok := s.orig(int(first), len(folded))
	if !ok {
		return
	}
	text := s.text
	ev := &s.ev[fPlantedTask]
	next := 0 // the end of the last sentence examined
	for i := o0 + 1; i < len(text); i++ {
		if i < next || !sentenceEnds[text[i-1]] {
			continue
		}
		j := skipLeadForward(text, i)
		question := false
		if !taskStartSet.has(text[j:]) {
			if !questionStartSet.has(text[j:]) {
				continue
			}
			question = true
		}
		fs := s.folded(j, len(folded))
		fs, fe, ok := s.sentence(folded, fs)
		if !ok || fe-fs < 4 {
			continue
		}
		if o, ok := s.orig(min(fe, len(folded)-1), len(folded)); ok {
			next = o
		}
		if question && !strings.HasSuffix(strings.TrimRight(folded[fs:fe], " "), "?") {
			continue
		}
		if aboutDocument(folded[fs:fe]) || !offTopic(folded, fs, fe) {
			continue
		}
		if ev.w < plantWeight {
			ev.w, ev.src, ev.span = plantWeight, 0, span{int32(fs), int32(fe)}
		}
		ev.n++
	}
}

// startSet is a list of sentence openings indexed by first character,
// for hasStart: openings are looked for at every sentence start of every
// document.
type startSet struct {
	ascii [utf8.RuneSelf][]string // by the text's first byte
	other []string                // for a text whose first byte is not ASCII
}

// newStartSet indexes starts: an opening is listed under every ASCII
// byte its first rune folds to (case-insensitively, as strings.EqualFold
// compares), and under other when it also folds to a non-ASCII rune
// ("k" to the Kelvin sign). Each list keeps the order of starts.
func newStartSet(starts []string) *startSet {
	ss := &startSet{}
	for _, w := range starts {
		r, _ := utf8.DecodeRuneInString(w)
		other := false
		f := r
		for {
			if f < utf8.RuneSelf {
				ss.ascii[f] = append(ss.ascii[f], w)
			} else {
				other = true
			}
			if f = unicode.SimpleFold(f); f == r {
				break
			}
		}
		if other {
			ss.other = append(ss.other, w)
		}
	}
	return ss
}

// first returns the first opening of the set that s opens with,
// case-insensitively, followed by the end of a word.
func (ss *startSet) first(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	list := ss.other
	if s[0] < utf8.RuneSelf {
		list = ss.ascii[s[0]]
	}
	for _, w := range list {
		if opens(s, w) {
			return w, true
		}
	}
	return "", false
}

func (ss *startSet) has(s string) bool {
	_, ok := ss.first(s)
	return ok
}

var (
	taskStartSet     = newStartSet(taskStarts)
	questionStartSet = newStartSet(questionStarts)
	leadSet          = newStartSet(leads)
)

// hasStart reports whether s opens with one of starts, case-insensitively,
// followed by the end of a word. startSet is its indexed form.
func hasStart(s string, starts []string) bool {
	for _, w := range starts {
		if opens(s, w) {
			return true
		}
	}
	return false
}

// opens reports whether s opens with w, case-insensitively, followed by
// the end of a word.
func opens(s, w string) bool {
	return len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) && (len(s) == len(w) || !isASCIIWord(s[len(w)]))
}

// The bytes that end a sentence (before the next one starts) and that
// skipLeadForward and skipLead step over, as sets: the bullet is three
// bytes, each in the set, as strings.IndexByte would find them.
var (
	sentenceEnds = byteSet("\n\r.!?|")
	leadBlanks   = byteSet(" \t\"'*->•,:")
	trailBlanks  = byteSet(" \t\"'*->•,")
)

// byteSet returns the set of the bytes of s.
func byteSet(s string) (set [256]bool) {
	for i := 0; i < len(s); i++ {
		set[s[i]] = true
	}
	return set
}

// skipLeadForward steps over blanks, bullets and one lead word at text[i:].
func skipLeadForward(text string, i int) int {
	blank := func(i int) int {
		for i < len(text) && leadBlanks[text[i]] {
			i++
		}
		return i
	}
	i = blank(i)
	if l, ok := leadSet.first(text[i:]); ok {
		return blank(i + len(l))
	}
	return i
}

// sentence returns the folded span of the sentence that starts at
// folded[fs], reading sentence boundaries from the original text (the
// folded text has no line breaks). ok is false when fs is not at the
// start of a line or sentence, or when the sentence ends in a colon that
// introduces what follows.
func (s *scratch) sentence(folded string, fs int) (int, int, bool) {
	text := s.text
	o, ok := s.orig(fs, len(folded))
	if !ok {
		return 0, 0, false
	}
	i := skipLead(text, o)
	if i > 0 && !sentenceEnds[text[i-1]] {
		return 0, 0, false
	}
	end := min(len(text), o+plantMaxSentence)
	e := o
	for ; e < end; e++ {
		c := text[e]
		if c == '\n' || c == '\r' {
			break
		}
		if c == '.' || c == '!' || c == '?' {
			e++
			break
		}
		if c == ':' {
			j := e + 1
			for j < len(text) && (text[j] == ' ' || text[j] == '\t') {
				j++
			}
			if j == len(text) || text[j] == '\n' || text[j] == '\r' {
				return 0, 0, false
			}
		}
	}
	return fs, s.folded(e, len(folded)), true
}

// leads are what may open a planted task before its verb: "Also, list
// ...", "P.S. How do I ...".
var leads = []string{"please", "also", "and", "p.s.", "ps", "ps:", "p.s.:", "additionally", "in addition", "by the way", "btw", "oh", "oh and", "one more thing", "finally"}

// skipLead returns where the sentence that text[o:] continues begins,
// stepping back over blanks, bullets, quotes and one lead word.
func skipLead(text string, o int) int {
	blank := func(i int) int {
		for i > 0 && trailBlanks[text[i-1]] {
			i--
		}
		return i
	}
	i := blank(o)
	for _, l := range leads {
		if i >= len(l) && strings.EqualFold(text[i-len(l):i], l) && (i == len(l) || !isASCIIWord(text[i-len(l)-1])) {
			return blank(i - len(l))
		}
	}
	return i
}

// orig maps a folded offset to the original text.
func (s *scratch) orig(fi, n int) (int, bool) {
	if s.offsets == nil {
		return fi, n == len(s.text) && fi <= n
	}
	if fi >= len(s.offsets) {
		return 0, false
	}
	o := int(s.offsets[fi])
	return o, o >= 0 && o <= len(s.text)
}

// folded maps an original offset to the first folded offset at or after it.
func (s *scratch) folded(o, n int) int {
	if s.offsets == nil {
		return min(o, n)
	}
	lo, hi := 0, min(len(s.offsets), n)
	for lo < hi {
		m := (lo + hi) / 2
		if int(s.offsets[m]) < o {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// aboutDocument reports whether the folded sentence refers to the
// document it sits in.
func aboutDocument(sent string) bool {
	for _, r := range docRefs {
		for i := 0; ; {
			k := strings.Index(sent[i:], r)
			if k < 0 {
				break
			}
			k += i
			if (k == 0 || !isASCIIWord(sent[k-1])) && (k+len(r) == len(sent) || !isASCIIWord(r[len(r)-1]) || !isASCIIWord(sent[k+len(r)])) {
				return true
			}
			i = k + 1
		}
	}
	return false
}

// offTopic reports whether the sentence folded[fs:fe] has at least two
// content words and at most a quarter of them occur elsewhere in the text.
func offTopic(folded string, fs, fe int) bool {
	before, sent, after := folded[:fs], folded[fs:fe], folded[fe:]
	n, shared := 0, 0
	for w := range strings.FieldsFuncSeq(sent, func(r rune) bool { return !wordRune(r) }) {
		if plantAddressee[w] {
			return false // correspondence: "send us your W-9", "what time works for you?"
		}
		if len(w) < 4 || plantStop[w] {
			continue
		}
		n++
		if strings.Contains(before, w) || strings.Contains(after, w) {
			shared++
		}
	}
	return n >= 2 && shared*4 <= n
}

// plantStop are words too common to tell a sentence's topic.
var plantStop = map[string]bool{}

// plantAddressee are the pronouns of a correspondent writing to the
// recipient; a task planted for an assistant speaks as its user (I, me,
// my) or impersonally.
var plantAddressee = map[string]bool{}

func init() {
	for w := range strings.FieldsSeq(`this that these those with from have what which your about into over they them their there
		will would could should been were when where does some more most also than then just only each every after before
		please help make give show write provide list describe explain analyze analyse summarize determine create generate
		like very much many other tell using used want need know sure here while between during past recent latest current
		major main best good great top following following how can you me my the and for`) {
		plantStop[w] = true
	}
	for w := range strings.FieldsSeq(`you your yours yourself we our ours us let's lets
		usted ustedes tu tus vosotros nosotros nuestro nuestra du dein deine ihr euch wir uns unser unsere
		vous votre vos nous notre nos você vocês nós nosso nossa voi vostro noi nostro nostra`) {
		plantAddressee[w] = true
	}
}
