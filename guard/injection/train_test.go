package injection

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Training the second-stage classifier:
//
//	go test ./guard/injection -run TestTrain -train
//
// reads testdata/train.jsonl and writes model.bin. The training file is
// the development set less its held-out fifth (heldOut):
//
//	go test ./guard/injection -run TestTrain -train -train.from ../../../shared/guard-eval/dev.jsonl
//
// rewrites it first. Training is deterministic: same data, same weights.
var (
	trainFlag = flag.Bool("train", false, "train the classifier and write model.bin")
	trainFrom = flag.String("train.from", "", "rewrite testdata/train.jsonl from this development set, less the held-out fifth")
)

const (
	trainFile = "testdata/train.jsonl"
	// benignFile is hand-written everyday questions in the languages the
	// lexicon covers (testdata/TRAINING.md): without them every non-English
	// row the classifier sees is an attack.
	benignFile = "testdata/benign_multilingual.jsonl"
)

func TestTrain(t *testing.T) {
	if !*trainFlag {
		t.Skip("run with -train")
	}
	if *trainFrom != "" {
		rows := readDev(t, *trainFrom)
		f, err := os.Create(filepath.FromSlash(trainFile))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		n := 0
		for _, r := range rows {
			if heldOut(r.ID) {
				continue
			}
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d rows to %s", n, trainFile)
	}
	rows := readDev(t, filepath.FromSlash(trainFile))
	rows = append(rows, readDev(t, filepath.FromSlash(benignFile))...)
	crossValidate(t, rows)
	m := train(rows)
	b := make([]byte, 4*(modelDim+1))
	for i, w := range m.w {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(w))
	}
	binary.LittleEndian.PutUint32(b[4*modelDim:], math.Float32bits(m.bias))
	if err := os.WriteFile("model.bin", b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Training fit, for the record; the held-out figures come from -dev.
	fp, neg, tp, pos := 0, 0, 0, 0
	for _, r := range rows {
		p := 1 / (1 + math.Exp(-m.logit(normalize(r.Text).Folded)))
		if attackLabel(r.Label) {
			pos++
			if p >= modelThreshold {
				tp++
			}
		} else {
			neg++
			if p >= modelThreshold {
				fp++
			}
		}
	}
	t.Logf("trained on %d rows: recall %d/%d, false positives %d/%d at %.2f", len(rows), tp, pos, fp, neg, modelThreshold)
}

// crossValidate logs 5-fold out-of-fold figures of the rules alone and of
// the rules with the classifier at several thresholds: the classifier is
// always scored on rows it was not trained on.
func crossValidate(t *testing.T, rows []devRow) {
	cfg := Default()
	cfg.ModelThreshold = 0
	rulesOnly, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const k = 5
	oof := make([]float64, len(rows))
	for fold := range k {
		var tr []devRow
		for i, r := range rows {
			if i%k != fold {
				tr = append(tr, r)
			}
		}
		m := train(tr)
		for i, r := range rows {
			if i%k == fold {
				oof[i] = 1 / (1 + math.Exp(-m.logit(normalize(r.Text).Folded)))
			}
		}
	}
	probe := Default()
	probe.ModelThreshold = 1e-9 // fires whenever the gate opens
	pd, err := New(probe)
	if err != nil {
		t.Fatal(err)
	}
	rule := make([]bool, len(rows))
	gate := make([]bool, len(rows))
	for i, r := range rows {
		rule[i] = len(rulesOnly.Detect(nil, r.Text, normalize(r.Text), "prompt")) > 0
		gate[i] = len(pd.Detect(nil, r.Text, normalize(r.Text), "prompt")) > 0
	}
	for _, th := range []float64{2, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95} {
		tp, pos, fp, neg, fpkw, negkw := 0, 0, 0, 0, 0, 0
		for i, r := range rows {
			hit := rule[i] || gate[i] && oof[i] >= th
			kw := strings.Contains(r.Category, "+kw")
			switch {
			case attackLabel(r.Label):
				pos++
				if hit {
					tp++
				}
			case r.Label == "benign":
				neg++
				if kw {
					negkw++
				}
				if hit {
					fp++
					if kw {
						fpkw++
					}
				}
			}
		}
		name := fmt.Sprintf("rules + classifier at %.2f", th)
		if th > 1 {
			name = "rules alone"
		}
		t.Logf("5-fold: %-28s recall %.3f (%d/%d)  FP %.3f (%d/%d)  FP +kw %.3f (%d/%d)", name,
			float64(tp)/float64(pos), tp, pos, float64(fp)/float64(neg), fp, neg, float64(fpkw)/float64(negkw), fpkw, negkw)
	}
	// Not shipped, for the record: the gated classifier at modelThreshold
	// plus the classifier asked about every row at th. It costs a model
	// pass (tens of µs per 4 KiB) on every clean text.
	for _, th := range []float64{0.85, 0.9, 0.95, 0.97} {
		tp, pos, fp, neg, fpml, negml := 0, 0, 0, 0, 0, 0
		for i, r := range rows {
			hit := rule[i] || gate[i] && oof[i] >= modelThreshold || oof[i] >= th
			switch {
			case attackLabel(r.Label):
				pos++
				if hit {
					tp++
				}
			case r.Label == "benign":
				neg++
				ml := strings.HasPrefix(r.Category, "handwritten_benign/")
				if ml {
					negml++
				}
				if hit {
					fp++
					if ml {
						fpml++
					}
				}
			}
		}
		t.Logf("5-fold: rules + gated %.2f + ungated %.2f  recall %.3f (%d/%d)  FP %.3f (%d/%d)  FP multilingual %d/%d", modelThreshold, th,
			float64(tp)/float64(pos), tp, pos, float64(fp)/float64(neg), fp, neg, fpml, negml)
	}
}

func attackLabel(l string) bool { return l == "injection" || l == "jailbreak" }

// train fits an L2-regularized logistic regression with AdaGrad, in a
// fixed order, for a fixed number of epochs.
func train(rows []devRow) *model {
	type sample struct {
		f []uint32
		v []float32
		y float64
	}
	var data []sample
	for _, r := range rows {
		var s sample
		features(normalize(r.Text).Folded, func(h uint32, v float32) {
			s.f = append(s.f, h)
			s.v = append(s.v, v)
		})
		if attackLabel(r.Label) {
			s.y = 1
		}
		data = append(data, s)
	}
	const (
		epochs = 30
		rate   = 0.5
		l2     = 1e-5
	)
	w := make([]float64, modelDim)
	g2 := make([]float64, modelDim)
	var bias, gb float64
	for range epochs {
		for i := range data {
			// A fixed permutation: stride through the rows by a prime.
			s := &data[(i*7919)%len(data)]
			z := bias
			for k, h := range s.f {
				z += w[h] * float64(s.v[k])
			}
			p := 1 / (1 + math.Exp(-z))
			g := p - s.y
			for k, h := range s.f {
				gi := g*float64(s.v[k]) + l2*w[h]
				g2[h] += gi * gi
				w[h] -= rate * gi / (math.Sqrt(g2[h]) + 1e-8)
			}
			gb += g * g
			bias -= rate * g / (math.Sqrt(gb) + 1e-8)
		}
	}
	m := &model{w: make([]float32, modelDim), bias: float32(bias)}
	for i := range w {
		m.w[i] = float32(w[i])
	}
	return m
}
