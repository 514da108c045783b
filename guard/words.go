package guard

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// commonWords are frequent English words (function words, common verbs
// and nouns, and the words of instructions to a model) and function
// words of five other European languages. The rot13 decoder uses them to
// tell rotated text from other text.
var commonWords = [...]string{
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
	// Function words of the other languages the injection phrase sets
	// cover (Spanish, Portuguese, French, Italian, German).
	"el", "la", "los", "las", "que", "en", "es", "por", "para", "con", "una", "del", "como",
	"os", "um", "uma", "nao", "mais", "le", "les", "est", "et", "des", "une", "pour", "dans",
	"vous", "pas", "il", "che", "di", "per", "sono", "der", "die", "das", "und", "ist",
	"nicht", "mit", "ein", "eine", "zu", "den", "sie", "ich", "du", "alle", "passwort",
	"contrasena", "senha", "mot", "passe", "ignora", "ignorez", "ignoriere",
}

// A word's key is its lower-case letters, up to maxKeyLetters of them,
// packed little-endian into two words and zero-padded: keys compare
// exactly, eight letters at a time, and no hash stands in for a word.
const maxKeyLetters = 16

type wordKey struct{ lo, hi uint64 }

// commonTable is an open-addressing set of the words' keys.
var commonTable = func() (t [1024]wordKey) {
	for _, w := range commonWords {
		var b [maxKeyLetters]byte
		copy(b[:], w)
		key := wordKey{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}
		k := key.slot()
		for t[k] != (wordKey{}) && t[k] != key {
			k = (k + 1) & uint32(len(t)-1)
		}
		t[k] = key
	}
	return
}()

func (key wordKey) slot() uint32 {
	return uint32((key.lo*0x9E3779B97F4A7C15 ^ key.hi*0xC2B2AE3D27D4EB4F) >> 54)
}

// commonWord reports whether key is a common word's.
func commonWord(key wordKey) bool {
	k := key.slot()
	for commonTable[k] != (wordKey{}) {
		if commonTable[k] == key {
			return true
		}
		k = (k + 1) & uint32(len(commonTable)-1)
	}
	return false
}

// wordAt returns the end of the run of ASCII letters starting at
// text[i], and the key of its lower-cased letters when it has at most
// maxKeyLetters of them (ok is false when it has more). It reads
// eight bytes at a time where sixteen remain.
func wordAt(text string, i int) (j int, key wordKey, ok bool) {
	const ones, high, low = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	if i+16 <= len(text) {
		src := unsafe.Slice(unsafe.StringData(text), len(text))
		x := binary.LittleEndian.Uint64(src[i:])
		if m := ^letters8(x) & high; m != 0 {
			n := bits.TrailingZeros64(m) / 8
			return i + n, wordKey{lo: (x | 0x20*ones) & (1<<(8*n) - 1)}, true
		}
		y := binary.LittleEndian.Uint64(src[i+8:])
		if m := ^letters8(y) & high; m != 0 {
			n := bits.TrailingZeros64(m) / 8
			return i + 8 + n, wordKey{x | 0x20*ones, (y | 0x20*ones) & (1<<(8*n) - 1)}, true
		}
		j = i + 16
		if j == len(text) || class[text[j]]&clLetter == 0 {
			return j, wordKey{x | 0x20*ones, y | 0x20*ones}, true
		}
	} else {
		var b [maxKeyLetters]byte
		j = i
		for j < len(text) && class[text[j]]&clLetter != 0 {
			if j-i < maxKeyLetters {
				b[j-i] = text[j] | 0x20
			}
			j++
		}
		if j-i <= maxKeyLetters {
			return j, wordKey{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}, true
		}
	}
	for j < len(text) && class[text[j]]&clLetter != 0 {
		j++
	}
	return j, wordKey{}, false
}

// letters8 has the high bit of each byte of x that is an ASCII letter
// set, and no other bit.
func letters8(x uint64) uint64 {
	const ones, high, low = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	y := (x | 0x20*ones) & low
	return (y + (0x80-'a')*ones) &^ (y + (0x80-'z'-1)*ones) &^ x & high
}

// rot13Key returns key, the key of a word, with its letters rotated by
// rot13, eight at a time: in each byte that holds a letter, 13 is added
// and 26 taken back from the letters n to z. No byte carries into the
// next, as the sums stay below 0x88 and the differences at or above 'a'.
func rot13Key(key wordKey) wordKey {
	return wordKey{rot13Word(key.lo), rot13Word(key.hi)}
}

func rot13Word(x uint64) uint64 {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	letter := (x + 0x7f*ones) & high // the key's bytes are 0 or a to z
	ge := (x + (0x80-'n')*ones) & high
	return x + (letter>>7)*13 - (ge>>7)*26
}
