package sensitive

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// refWordSet is the reference for wordSet: each word looked up at each
// position of the text.
type refWordSet struct {
	words map[string]bool
	lens  []int
}

func newRefWordSet(words []string) *refWordSet {
	r := &refWordSet{words: map[string]bool{}}
	seen := map[int]bool{}
	for _, w := range words {
		r.words[w] = true
		if !seen[len(w)] {
			seen[len(w)] = true
			r.lens = append(r.lens, len(w))
		}
	}
	return r
}

func (r *refWordSet) in(b []byte) bool {
	for i := 0; i <= len(b); i++ {
		for _, n := range r.lens {
			if i+n <= len(b) && r.words[string(b[i:i+n])] {
				return true
			}
		}
	}
	return false
}

// allowWordLists returns the word lists of the default detector's
// allowlists: stopwords and the literals of regex prefilters.
func allowWordLists(tb testing.TB) [][]string {
	tb.Helper()
	f, err := loadGitleaks()
	if err != nil {
		tb.Fatal(err)
	}
	var lists [][]string
	add := func(a gitleaksAllowlist) {
		if len(a.Stopwords) > 0 {
			ws := make([]string, len(a.Stopwords))
			for i, w := range a.Stopwords {
				ws[i] = strings.ToLower(w)
			}
			lists = append(lists, ws)
		}
	}
	add(f.Allowlist)
	for _, r := range f.Rules {
		for _, a := range r.Allowlists {
			add(a)
		}
	}
	if len(lists) == 0 {
		tb.Fatal("no allowlist has stopwords")
	}
	lists = append(lists, []string{"ab", "b", "abc", "bcd", "cd"}, []string{"he", "she", "his", "hers"})
	return lists
}

// TestWordSetDevSet holds wordSet to its reference on every blank-
// separated token and every 32-byte slice of the development set and of
// the Nosey Parker examples, lower-cased, and on each word written
// whole and cut short, for every allowlist's words.
func TestWordSetDevSet(t *testing.T) {
	texts := devTexts(t)
	nps, err := loadNoseyParker()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nps {
		texts = append(texts, n.Examples...)
		texts = append(texts, n.NegativeExamples...)
	}
	var inputs [][]byte
	for _, text := range texts {
		low := lowerASCII(nil, text)
		inputs = append(inputs, bytes.Fields(low)...)
		for i := 0; i < len(low); i += 32 {
			inputs = append(inputs, low[i:min(i+32, len(low))])
		}
	}
	for _, words := range allowWordLists(t) {
		w, ref := newWordSet(words), newRefWordSet(words)
		hits := 0
		own := slices.Clone(inputs)
		for _, word := range words {
			// Each word inside a text, and cut short.
			own = append(own, []byte("<"+word+">"), []byte(word[:len(word)-1]))
		}
		for _, in := range own {
			got, want := w.in(in), ref.in(in)
			if got != want {
				t.Fatalf("%d words starting %q: in(%q) = %v, want %v", len(words), words[0], in, got, want)
			}
			if got {
				hits++
			}
		}
		if hits == 0 || hits == len(own) {
			t.Fatalf("%d words starting %q: %d of %d inputs hold one: the test tells nothing", len(words), words[0], hits, len(own))
		}
	}
}

func TestWordSetEmpty(t *testing.T) {
	if !newWordSet([]string{"x", ""}).in(nil) {
		t.Error("the empty word is in every text")
	}
	if newWordSet([]string{"x"}).in(nil) {
		t.Error("the empty text holds no word")
	}
}

// FuzzWordSet holds wordSet to its reference: the words are the
// fuzzer's first string split at '|'.
func FuzzWordSet(f *testing.F) {
	f.Add("he|she|his|hers", "ushers")
	f.Add("ab|bc|abcd|c", "abxbcd")
	f.Add("aaa|aab|b", "aaaab")
	f.Add("key|keyring|ring", "keyrin")
	f.Add("\xff\x00|\x00", "a\xff\xff\x00")
	f.Fuzz(func(t *testing.T, words, text string) {
		ws := strings.Split(words, "|")
		if got, want := newWordSet(ws).in([]byte(text)), newRefWordSet(ws).in([]byte(text)); got != want {
			t.Fatalf("words %q: in(%q) = %v, want %v", ws, text, got, want)
		}
	})
}
