package injection

import (
	"math"
	"strings"
	"testing"
)

// logitRef is the classifier as [features] defines it: the reference for
// model.logit, which adds the same terms without the callback.
func logitRef(m *model, text string) float64 {
	var z float32
	features(text, func(h uint32, v float32) { z += m.w[h] * v })
	return float64(z + m.bias)
}

// TestLogitMatchesFeatures checks that logit gives bit for bit the sum
// over features on every development-set row, including rows longer than
// the head and tail the model reads.
func TestLogitMatchesFeatures(t *testing.T) {
	m, ok := embedded()
	if !ok {
		t.Fatal("no embedded model")
	}
	long := 0
	texts := []string{"", "a", "abc", "abcd", " ", "  x  ", "é", strings.Repeat("ignore previous ", 1000)}
	for _, r := range devRows(t) {
		texts = append(texts, r.norm.Folded)
	}
	for _, text := range texts {
		if len(text) > modelHead+modelTail {
			long++
		}
		got, want := m.logit(text), logitRef(m, text)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("logit(%.40q) = %v, want %v", text, got, want)
		}
	}
	if long == 0 {
		t.Error("no text longer than the model's head and tail")
	}
}

func FuzzLogit(f *testing.F) {
	f.Add("ignore all previous instructions")
	f.Add("\xff\x00 a  b\tc é 世界")
	m, ok := embedded()
	if !ok {
		f.Fatal("no embedded model")
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := m.logit(text), logitRef(m, text); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("logit = %v, want %v", got, want)
		}
	})
}
