package sensitive

// wordSet reports whether a text holds one of a set of words: an
// Aho-Corasick automaton compiled to a DFA over byte classes, stopped at
// the first state that ends a word.
//
// The allowlists test short targets (a secret, a match, a line) against
// many words (generic-api-key has 1,446 stopwords). The coregx automaton's
// IsMatch first looks for each byte that starts a word with one
// bytes.IndexByte, and again whenever it returns to its start state: on
// a short target with words starting with most letters, that costs tens
// of scans per call, where this loop reads each byte once.
type wordSet struct {
	class  [256]uint16
	stride int
	// trans[s*stride+c] is the state after class c in state s,
	// premultiplied by stride, with wordEnd set when it ends a word.
	trans []uint32
	empty bool // the empty word is in the set: every text holds it
}

const wordEnd = 1 << 31

// newWordSet compiles words.
func newWordSet(words []string) *wordSet {
	w := &wordSet{}
	k := 1 // class 0: bytes in no word
	for _, s := range words {
		if s == "" {
			w.empty = true
		}
		for i := 0; i < len(s); i++ {
			if w.class[s[i]] == 0 {
				w.class[s[i]] = uint16(k)
				k++
			}
		}
	}
	w.stride = k
	// The trie: goto[s*k+c] is the child of s by class c, or 0 (the
	// root is never a child).
	goTo := make([]int32, k)
	end := []bool{false}
	for _, s := range words {
		st := 0
		for i := 0; i < len(s); i++ {
			c := int(w.class[s[i]])
			if goTo[st*k+c] == 0 {
				goTo[st*k+c] = int32(len(end))
				goTo = append(goTo, make([]int32, k)...)
				end = append(end, false)
			}
			st = int(goTo[st*k+c])
		}
		end[st] = true
	}
	// Breadth first: a state's missing transitions are its failure
	// state's, and it ends a word when its failure state does.
	n := len(end)
	fail := make([]int32, n)
	delta := make([]int32, n*k)
	queue := make([]int32, 0, n)
	for c := range k {
		if t := goTo[c]; t != 0 {
			delta[c] = t
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		end[s] = end[s] || end[fail[s]]
		for c := range k {
			t := goTo[int(s)*k+c]
			if t == 0 {
				delta[int(s)*k+c] = delta[int(fail[s])*k+c]
				continue
			}
			fail[t] = delta[int(fail[s])*k+c]
			delta[int(s)*k+c] = t
			queue = append(queue, t)
		}
	}
	w.trans = make([]uint32, n*k)
	for i, t := range delta {
		w.trans[i] = uint32(int(t) * k)
		if end[t] {
			w.trans[i] |= wordEnd
		}
	}
	return w
}

// in reports whether b holds one of the words.
func (w *wordSet) in(b []byte) bool {
	if w.empty {
		return true
	}
	trans, class := w.trans, &w.class
	s := uint32(0)
	for _, c := range b {
		s = trans[s+uint32(class[c])]
		if s&wordEnd != 0 {
			return true
		}
	}
	return false
}
