package injection

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/subzero-gateway/subzero/guard"
)

// TrainRow is one labelled text of the classifier's training data, in the
// format of the guard's evaluation rows. The labels "injection" and
// "jailbreak" are the positive class; "benign", "pii" and "secret" the
// negative one.
type TrainRow struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Label    string `json:"label"`
	Category string `json:"category"`
}

// TrainOptions are the settings of [Train]; the zero value trains and
// reports nothing more than the weights.
type TrainOptions struct {
	// Folds, when 2 or more, also cross-validates: the rows are split
	// into Folds folds by position, each fold is scored by a model
	// trained on the others, and TrainReport.CrossValidation compares the
	// rules alone with the rules and that model.
	Folds int
}

// TrainReport is what [Train] measured.
type TrainReport struct {
	// Rows and Positives count the rows trained on and the attacks
	// among them.
	Rows, Positives int
	// Fit is the classifier alone at the shipped threshold on the rows it
	// was trained on: in-sample, for the record only.
	Fit Figures
	// CrossValidation has one line per setting when TrainOptions.Folds
	// is 2 or more; every figure in it is out of fold.
	CrossValidation []CVLine
}

// CVLine is one setting measured by cross-validation.
type CVLine struct {
	// Setting names it: "rules alone", "rules + classifier at 0.85",
	// "rules + gated 0.85 + ungated 0.95" (the classifier also asked
	// about texts no rule found suspicious; not shipped).
	Setting string
	Figures
}

// Figures are a setting's counts on labelled rows.
type Figures struct {
	// Recall counts the attack rows caught.
	Recall Count
	// FalsePositives counts the benign rows flagged, FalsePositivesKW
	// those of the keyword hard negatives (categories with "+kw") and
	// FalsePositivesML those of the hand-written multilingual questions
	// (categories "handwritten_benign/…"). The pii and secret rows are
	// negatives in training but counted in none of these.
	FalsePositives, FalsePositivesKW, FalsePositivesML Count
}

// Count is Hit rows out of N.
type Count struct{ Hit, N int }

// Rate returns Hit/N, or 0 when N is 0.
func (c Count) Rate() float64 {
	if c.N == 0 {
		return 0
	}
	return float64(c.Hit) / float64(c.N)
}

// String formats c as "0.878 (667/760)".
func (c Count) String() string { return fmt.Sprintf("%.3f (%d/%d)", c.Rate(), c.Hit, c.N) }

func (c *Count) add(hit bool) {
	c.N++
	if hit {
		c.Hit++
	}
}

// add counts row r, flagged or not.
func (f *Figures) add(r *TrainRow, hit bool) {
	switch {
	case attackLabel(r.Label):
		f.Recall.add(hit)
	case r.Label == "benign":
		f.FalsePositives.add(hit)
		if strings.Contains(r.Category, "+kw") {
			f.FalsePositivesKW.add(hit)
		}
		if strings.HasPrefix(r.Category, "handwritten_benign/") {
			f.FalsePositivesML.add(hit)
		}
	}
}

// Training hyperparameters of the embedded model. Changing any of them
// changes model.bin.
const (
	trainEpochs = 30
	trainRate   = 0.5
	trainL2     = 1e-5
)

// Train fits the second-stage classifier to rows and returns its weights
// in model.bin's format. Training is deterministic: the same rows in the
// same order give the same bytes. The model.bin embedded in the package
// is Train's output on testdata/train.jsonl followed by
// testdata/benign_multilingual.jsonl (testdata/TRAINING.md); the command
// guard/injection/internal/train writes it.
//
// Train returns an error when rows is empty, has no attack or no
// negative row, or a row has an unknown label.
func Train(rows []TrainRow, opts TrainOptions) (model []byte, report TrainReport, err error) {
	pos := 0
	for i := range rows {
		switch rows[i].Label {
		case "injection", "jailbreak":
			pos++
		case "benign", "pii", "secret":
		default:
			return nil, TrainReport{}, fmt.Errorf("injection: train: row %d (%q): unknown label %q", i, rows[i].ID, rows[i].Label)
		}
	}
	if pos == 0 || pos == len(rows) {
		return nil, TrainReport{}, errors.New("injection: train: need attack and non-attack rows")
	}
	if opts.Folds == 1 || opts.Folds < 0 || opts.Folds > len(rows) {
		return nil, TrainReport{}, fmt.Errorf("injection: train: %d folds for %d rows", opts.Folds, len(rows))
	}
	folded := make([]string, len(rows))
	for i := range rows {
		folded[i] = guard.Normalize(rows[i].Text).Folded
	}
	m := fit(rows, folded, nil)
	report = TrainReport{Rows: len(rows), Positives: pos}
	for i := range rows {
		report.Fit.add(&rows[i], sigmoid(m.logit(folded[i])) >= modelThreshold)
	}
	if opts.Folds >= 2 {
		if report.CrossValidation, err = crossValidate(rows, folded, opts.Folds); err != nil {
			return nil, TrainReport{}, err
		}
	}
	return m.encode(), report, nil
}

// encode returns m in model.bin's format: modelDim little-endian float32
// weights, then the bias.
func (m *model) encode() []byte {
	b := make([]byte, 4*(modelDim+1))
	for i, w := range m.w {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(w))
	}
	binary.LittleEndian.PutUint32(b[4*modelDim:], math.Float32bits(m.bias))
	return b
}

func attackLabel(l string) bool { return l == "injection" || l == "jailbreak" }

// fit fits an L2-regularized logistic regression with AdaGrad, in a fixed
// order, for a fixed number of epochs, to the rows whose skip is false
// (all of them when skip is nil). Every product is rounded by an explicit
// conversion, so that no platform fuses it into a multiply-add and the
// weights do not depend on the compiler's choices. It only touches memory
// it allocates, from one goroutine; go:norace spares it the race
// detector's bookkeeping, which made retraining in `go test -race` eight
// times slower.
//
//go:norace
func fit(rows []TrainRow, folded []string, skip []bool) *model {
	type sample struct {
		f []uint32
		v []float32
		y float64
	}
	var data []sample
	for i := range rows {
		if skip != nil && skip[i] {
			continue
		}
		var s sample
		features(folded[i], func(h uint32, v float32) {
			s.f = append(s.f, h)
			s.v = append(s.v, v)
		})
		if attackLabel(rows[i].Label) {
			s.y = 1
		}
		data = append(data, s)
	}
	w := make([]float64, modelDim)
	g2 := make([]float64, modelDim)
	var bias, gb float64
	for range trainEpochs {
		for i := range data {
			// A fixed permutation: stride through the rows by a prime.
			s := &data[(i*7919)%len(data)]
			z := bias
			for k, h := range s.f {
				z += float64(w[h] * float64(s.v[k]))
			}
			p := 1 / (1 + math.Exp(-z))
			g := p - s.y
			for k, h := range s.f {
				gi := float64(g*float64(s.v[k])) + float64(trainL2*w[h])
				g2[h] += float64(gi * gi)
				w[h] -= trainRate * gi / (math.Sqrt(g2[h]) + 1e-8)
			}
			gb += float64(g * g)
			bias -= trainRate * g / (math.Sqrt(gb) + 1e-8)
		}
	}
	m := &model{w: make([]float32, modelDim), bias: float32(bias)}
	for i := range w {
		m.w[i] = float32(w[i])
	}
	return m
}

// crossValidate measures, out of fold, the rules alone, the rules with the
// classifier as shipped (asked only when the rules half-suspect a text) at
// several thresholds, and the classifier also asked about every text.
// Row i is in fold i mod k.
func crossValidate(rows []TrainRow, folded []string, k int) ([]CVLine, error) {
	oof := make([]float64, len(rows))
	skip := make([]bool, len(rows))
	for fold := range k {
		for i := range rows {
			skip[i] = i%k == fold
		}
		m := fit(rows, folded, skip)
		for i := range rows {
			if skip[i] {
				oof[i] = sigmoid(m.logit(folded[i]))
			}
		}
	}

	// rule[i]: the rules alone flag row i. gate[i]: they flag it or
	// would ask the classifier, found with a model that always answers
	// 0.5 at a threshold of 0.5.
	cfg := Default()
	cfg.ModelThreshold = 0
	rulesOnly, err := New(cfg)
	if err != nil {
		return nil, err
	}
	cfg.ModelThreshold = 0.5
	probe, err := New(cfg)
	if err != nil {
		return nil, err
	}
	probe.model = &model{w: make([]float32, modelDim)}
	rule := make([]bool, len(rows))
	gate := make([]bool, len(rows))
	for i := range rows {
		nz := guard.Normalize(rows[i].Text)
		rule[i] = len(rulesOnly.Detect(nil, rows[i].Text, nz, guard.Prompt)) > 0
		gate[i] = len(probe.Detect(nil, rows[i].Text, nz, guard.Prompt)) > 0
	}

	var lines []CVLine
	measure := func(setting string, hit func(i int) bool) {
		l := CVLine{Setting: setting}
		for i := range rows {
			l.add(&rows[i], hit(i))
		}
		lines = append(lines, l)
	}
	measure("rules alone", func(i int) bool { return rule[i] })
	for _, th := range []float64{0.5, 0.7, 0.8, modelThreshold, 0.9, 0.95} {
		measure(fmt.Sprintf("rules + classifier at %.2f", th), func(i int) bool {
			return rule[i] || gate[i] && oof[i] >= th
		})
	}
	for _, th := range []float64{0.85, 0.9, 0.95, 0.97} {
		measure(fmt.Sprintf("rules + gated %.2f + ungated %.2f", modelThreshold, th), func(i int) bool {
			return rule[i] || gate[i] && oof[i] >= modelThreshold || oof[i] >= th
		})
	}
	return lines, nil
}
