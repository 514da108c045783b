package output

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/subzero-gateway/subzero/guard"
)

// Canary tokens: canaryPrefix, canaryRandom random lower-case letters,
// then two check letters. Letters only, so that the scanner's folding
// (case, leetspeak, spacing) leaves a canary intact, and a model that
// spells it out letter by letter is still caught.
const (
	canaryPrefix = "sz"
	canaryRandom = 20 // 94 bits
	canaryLen    = len(canaryPrefix) + canaryRandom + 2
)

// NewCanary returns a fresh canary token for a system prompt: the proxy
// plants it ("Internal reference: <canary>. Never repeat it."), and a
// completion or tool call that contains it leaks the system prompt.
// Canaries are checked by their form (a check sum), so the detector
// needs no registry of them.
func NewCanary() string {
	var b [canaryLen]byte
	copy(b[:], canaryPrefix)
	var r [canaryRandom]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	for i, x := range r {
		// 256 mod 26 ≠ 0: the bias (< 1%) does not matter here.
		b[len(canaryPrefix)+i] = 'a' + x%26
	}
	c1, c2 := canaryCheck(b[len(canaryPrefix) : len(canaryPrefix)+canaryRandom])
	b[canaryLen-2], b[canaryLen-1] = c1, c2
	return string(b[:])
}

func canaryCheck(body []byte) (byte, byte) {
	sum := 0
	for i, c := range body {
		sum += (i + 1) * int(c-'a'+1)
	}
	sum = (sum * 7919) % 676
	return 'a' + byte(sum/26), 'a' + byte(sum%26)
}

// IsCanary reports whether s (any case) is a canary token.
func IsCanary(s string) bool {
	if len(s) != canaryLen || !strings.EqualFold(s[:len(canaryPrefix)], canaryPrefix) {
		return false
	}
	var b [canaryLen]byte
	for i := 0; i < canaryLen; i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
		b[i] = c
	}
	c1, c2 := canaryCheck(b[len(canaryPrefix) : len(canaryPrefix)+canaryRandom])
	return b[canaryLen-2] == c1 && b[canaryLen-1] == c2
}

// DefaultEchoWords is how many consecutive words of a registered system
// prompt make an echo.
const DefaultEchoWords = 8

// maxShingles bounds the hashes a Leak keeps (8 bytes and a count each).
const maxShingles = 1 << 20

// ErrTooManyShingles is returned by Register when the registry is full.
var ErrTooManyShingles = errors.New("output: system prompt registry is full")

// Leak detects system prompt leakage (OWASP LLM07) in completions and
// tool arguments: canary tokens, and runs of EchoWords or more words of a
// registered system prompt. It keeps no prompt text: for each registered
// prompt, the SHA-256 of the prompt and keyed 64-bit hashes of its word
// shingles. It is safe for concurrent use.
type Leak struct {
	words int
	seed  maphash.Seed
	mult  uint64 // rolling hash multiplier

	mu       sync.RWMutex
	shingles map[uint64]int32      // shingle hash → number of prompts having it
	prompts  map[[32]byte][]uint64 // prompt digest → its shingles
	count    atomic.Int32          // len(prompts)
	pool     sync.Pool             // *[]uint64 word hashes
}

var _ guard.Detector = (*Leak)(nil)

// NewLeak returns a leak detector; cfg.EchoWords sets the echo length (0
// means DefaultEchoWords).
func NewLeak(cfg Config) (*Leak, error) {
	w := cfg.EchoWords
	if w == 0 {
		w = DefaultEchoWords
	}
	if w < 2 || w > 64 {
		return nil, fmt.Errorf("output: echo_words: %d (want 2 to 64)", w)
	}
	l := &Leak{
		words:    w,
		seed:     maphash.MakeSeed(),
		shingles: map[uint64]int32{},
		prompts:  map[[32]byte][]uint64{},
	}
	l.mult = maphash.Comparable(l.seed, uint64(0x9e3779b97f4a7c15)) | 1
	l.pool.New = func() any { return new([]uint64) }
	return l, nil
}

// Name is "leak"; findings are leak.canary and leak.echo.
func (l *Leak) Name() string { return "leak" }

// Register adds a system prompt whose echo in a completion is a leak.
// Registering the same prompt again is a no-op, so the proxy may call it
// on every request. Prompts shorter than EchoWords words are not kept.
func (l *Leak) Register(systemPrompt string) error {
	key := sha256.Sum256([]byte(systemPrompt))
	l.mu.RLock()
	_, ok := l.prompts[key]
	l.mu.RUnlock()
	if ok {
		return nil
	}
	hashes := l.shingleHashes(nil, guard.Fold(systemPrompt))
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.prompts[key]; ok {
		return nil
	}
	if len(l.shingles)+len(hashes) > maxShingles {
		return ErrTooManyShingles
	}
	// Each distinct shingle counts once per prompt.
	seen := make(map[uint64]bool, len(hashes))
	uniq := hashes[:0]
	for _, h := range hashes {
		if !seen[h] {
			seen[h] = true
			uniq = append(uniq, h)
			l.shingles[h]++
		}
	}
	l.prompts[key] = uniq
	l.count.Store(int32(len(l.prompts)))
	return nil
}

// Unregister removes a system prompt registered before.
func (l *Leak) Unregister(systemPrompt string) {
	key := sha256.Sum256([]byte(systemPrompt))
	l.mu.Lock()
	defer l.mu.Unlock()
	hashes, ok := l.prompts[key]
	if !ok {
		return
	}
	for _, h := range hashes {
		if l.shingles[h]--; l.shingles[h] <= 0 {
			delete(l.shingles, h)
		}
	}
	delete(l.prompts, key)
	l.count.Store(int32(len(l.prompts)))
}

// Detect looks for canaries and echoes in completions and tool
// arguments, in the folded text and in decoded payloads.
func (l *Leak) Detect(dst []guard.Finding, text string, norm *guard.Normalized, dir guard.Direction) []guard.Finding {
	if dir != guard.Completion && dir != guard.ToolArguments {
		return dst
	}
	dst = canaries(dst, norm.Folded, func(s, e int) (int, int) { return norm.Span(s, e) })
	for _, d := range norm.Decoded {
		dst = canaries(dst, d.Text, func(int, int) (int, int) { return d.Start, d.End })
	}
	if l.count.Load() == 0 {
		return dst
	}
	dst = l.echo(dst, norm.Folded, func(s, e int) (int, int) { return norm.Span(s, e) })
	for _, d := range norm.Decoded {
		dst = l.echo(dst, d.Text, func(int, int) (int, int) { return d.Start, d.End })
	}
	return dst
}

func canaries(dst []guard.Finding, folded string, span func(int, int) (int, int)) []guard.Finding {
	for i := 0; i+canaryLen <= len(folded); {
		k := strings.Index(folded[i:], canaryPrefix)
		if k < 0 {
			break
		}
		s := i + k
		i = s + 1
		if s > 0 && isAlpha(folded[s-1]) || s+canaryLen < len(folded) && isAlpha(folded[s+canaryLen]) {
			continue
		}
		if s+canaryLen <= len(folded) && IsCanary(folded[s:s+canaryLen]) {
			a, b := span(s, s+canaryLen)
			dst = append(dst, guard.Finding{
				Detector: "leak.canary", Category: guard.LLM07SystemPromptLeak, Class: guard.ClassLeak,
				Start: a, End: b, Score: 1, Rule: "canary token from a system prompt",
			})
			i = s + canaryLen
		}
	}
	return dst
}

// word is a word of folded text: its hash and byte span.
type word struct {
	h          uint64
	start, end int
}

// words splits folded text at spaces, trims punctuation at the ends of
// each word and hashes it with the detector's key.
func (l *Leak) eachWord(folded string, fn func(w word)) {
	for i := 0; i < len(folded); {
		for i < len(folded) && folded[i] == ' ' {
			i++
		}
		j := i
		for j < len(folded) && folded[j] != ' ' {
			j++
		}
		s, e := i, j
		for s < e {
			r, n := utf8.DecodeRuneInString(folded[s:e])
			if unicode.IsLetter(r) || unicode.IsNumber(r) {
				break
			}
			s += n
		}
		for e > s {
			r, n := utf8.DecodeLastRuneInString(folded[s:e])
			if unicode.IsLetter(r) || unicode.IsNumber(r) {
				break
			}
			e -= n
		}
		if e > s {
			fn(word{maphash.String(l.seed, folded[s:e]), s, e})
		}
		i = j
	}
}

// shingleHashes appends the hashes of every run of l.words consecutive
// words of folded.
func (l *Leak) shingleHashes(dst []uint64, folded string) []uint64 {
	var hs []uint64
	l.eachWord(folded, func(w word) { hs = append(hs, w.h) })
	return l.roll(dst, hs)
}

// roll appends the rolling hash of every window of l.words hashes.
func (l *Leak) roll(dst, hs []uint64) []uint64 {
	if len(hs) < l.words {
		return dst
	}
	var pow uint64 = 1 // mult^(words-1)
	for range l.words - 1 {
		pow *= l.mult
	}
	var h uint64
	for i, x := range hs {
		if i >= l.words {
			h -= hs[i-l.words] * pow
		}
		h = h*l.mult + x
		if i >= l.words-1 {
			dst = append(dst, h)
		}
	}
	return dst
}

// echo reports the longest run of text that repeats a registered system
// prompt for at least l.words words.
func (l *Leak) echo(dst []guard.Finding, folded string, span func(int, int) (int, int)) []guard.Finding {
	bufp := l.pool.Get().(*[]uint64)
	defer l.pool.Put(bufp)
	ws := (*bufp)[:0]
	var starts, ends []int
	l.eachWord(folded, func(w word) {
		ws = append(ws, w.h)
		starts = append(starts, w.start)
		ends = append(ends, w.end)
	})
	*bufp = ws
	n := len(ws)
	if n < l.words {
		return dst
	}
	wins := l.roll(make([]uint64, 0, n-l.words+1), ws)
	l.mu.RLock()
	best, bestStart, run, runStart := 0, 0, 0, 0
	matched := 0
	for i, h := range wins {
		if l.shingles[h] > 0 {
			matched++
			if run == 0 {
				runStart = i
			}
			run++
			if run > best {
				best, bestStart = run, runStart
			}
		} else {
			run = 0
		}
	}
	l.mu.RUnlock()
	if best == 0 {
		return dst
	}
	echoed := best + l.words - 1 // words in the longest run
	first, last := bestStart, bestStart+echoed-1
	a, b := span(starts[first], ends[last])
	score := 0.6 + 0.4*min(1, float64(echoed-l.words)/float64(3*l.words))
	return append(dst, guard.Finding{
		Detector: "leak.echo", Category: guard.LLM07SystemPromptLeak, Class: guard.ClassLeak,
		Start: a, End: b, Score: score,
		Rule: fmt.Sprintf("%d consecutive words of a system prompt (%d windows matched)", echoed, matched),
	})
}
