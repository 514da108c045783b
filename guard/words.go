package guard

// FNV-1a, 32 bits, over lower-case ASCII letters.
const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
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

// commonTable is an open-addressing set of the words' hashes.
var commonTable = func() (t [1024]uint32) {
	for _, w := range commonWords {
		h := uint32(fnvOffset)
		for i := 0; i < len(w); i++ {
			h = (h ^ uint32(w[i])) * fnvPrime
		}
		k := h & uint32(len(t)-1)
		for t[k] != 0 && t[k] != h {
			k = (k + 1) & uint32(len(t)-1)
		}
		t[k] = h
	}
	return
}()

// commonWord reports whether h is the hash of a common word.
func commonWord(h uint32) bool {
	k := h & uint32(len(commonTable)-1)
	for commonTable[k] != 0 {
		if commonTable[k] == h {
			return true
		}
		k = (k + 1) & uint32(len(commonTable)-1)
	}
	return false
}
