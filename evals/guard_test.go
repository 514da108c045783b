package evals

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/subzero-gateway/subzero/guard"
)

// scanFunc is a guard.Scanner made of a function.
type scanFunc func(ctx context.Context, in guard.Input) (guard.Verdict, error)

func (f scanFunc) Scan(ctx context.Context, in guard.Input) (guard.Verdict, error) { return f(ctx, in) }

// scriptScanner reads its verdict from the text: each word PA adds a
// prompt-attack finding, SE a sensitive one, OUT an output one; ERR fails.
var scriptScanner = scanFunc(func(_ context.Context, in guard.Input) (guard.Verdict, error) {
	if in.Direction != guard.Prompt {
		return guard.Verdict{}, errors.New("not scanned as a prompt")
	}
	v := guard.Verdict{Action: guard.Allow}
	for w := range strings.FieldsSeq(in.Text) {
		switch w {
		case "PA":
			v.Findings = append(v.Findings, guard.Finding{Detector: "injection", Class: guard.ClassPromptAttack})
			v.Action = guard.Block
		case "SE":
			v.Findings = append(v.Findings, guard.Finding{Detector: "pii.email", Class: guard.ClassSensitive})
			if v.Action == guard.Allow {
				v.Action = guard.Redact
			}
		case "OUT":
			v.Findings = append(v.Findings, guard.Finding{Detector: "output.html", Class: guard.ClassOutput})
			if v.Action == guard.Allow {
				v.Action = guard.Flag
			}
		case "ERR":
			return guard.Verdict{}, errors.New("guard: input too large")
		}
	}
	return v, nil
})

// synthetic is a small set whose every figure is worked out by hand in
// TestGuardMetrics.
var synthetic = []Row{
	{ID: "i1", Label: Injection, Category: "fam1/a", Text: "PA ignore"},
	{ID: "i2", Label: Injection, Category: "fam1/a", Text: "PA PA"},
	{ID: "i3", Label: Injection, Category: "fam1/b", Text: "PA SE"},
	{ID: "i4", Label: Injection, Category: "fam1/b", Text: "SE only"}, // miss: wrong class
	{ID: "j1", Label: Jailbreak, Category: "dan", Text: "PA dan"},
	{ID: "j2", Label: Jailbreak, Category: "dan", Text: "OUT"}, // miss
	{ID: "p1", Label: PII, Category: "fam2/email", Text: "SE"},
	{ID: "p2", Label: PII, Category: "fam2/email", Text: "SE PA"},
	{ID: "p3", Label: PII, Category: "fam2/phone", Text: "ERR"}, // miss: error
	{ID: "s1", Label: Secret, Category: "keys", Text: "SE"},
	{ID: "b1", Label: Benign, Category: "fam1/clean+kw", Text: "PA"}, // FP attack, +kw
	{ID: "b2", Label: Benign, Category: "fam2/clean", Text: "SE"},    // FP sensitive
	{ID: "b3", Label: Benign, Category: "chat", Text: "PA SE"},       // FP both
	{ID: "b4", Label: Benign, Category: "chat", Text: "ERR"},         // FP both: error
	{ID: "b5", Label: Benign, Category: "chat+kw", Text: "OUT"},      // not a FP, +kw
	{ID: "b6", Label: Benign, Category: "chat", Text: "hello"},
	{ID: "b7", Label: Benign, Category: "chat+kw", Text: "ignore"}, // +kw
	{ID: "b8", Label: Benign, Category: "chat+kw", Text: "system"}, // +kw
	{ID: "b9", Label: Benign, Category: "chat", Text: "x"},
	{ID: "b10", Label: Benign, Category: "", Text: "y"},
}

func syntheticRows() []Row {
	rows := slices.Clone(synthetic)
	for i := range rows {
		rows[i].Line = i + 1
	}
	return rows
}

func TestGuardMetrics(t *testing.T) {
	r, err := Guard(t.Context(), scriptScanner, Rows(syntheticRows()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		Rows, Positives, Detected, Benign, FP, FPA, FPS, Errors int
		Recall, Precision, F1, FPRate                           Ratio
	}
	summary := func(g Group) line {
		return line{g.Rows, g.Positives, g.Detected, g.Benign, g.FalsePositives, g.FPPromptAttack, g.FPSensitive, g.Errors,
			g.Recall, g.Precision, g.F1, g.FPRate}
	}
	// Benign: 10 rows; b1, b3, b4 fire prompt_attack (3), b2, b3, b4
	// sensitive (3); b1–b4 are false positives (4).
	want := map[string]line{
		// 6 attacks, 4 detected; against 3 benign prompt-attack FPs.
		"class prompt_attack": {6, 6, 4, 10, 3, 0, 0, 0, Ratio{4, 6}, Ratio{4, 7}, Ratio{8, 8 + 3 + 2}, Ratio{3, 10}},
		// 4 sensitive rows, p3 failed: 3 detected; 3 sensitive FPs.
		"class sensitive":  {4, 4, 3, 10, 3, 0, 0, 1, Ratio{3, 4}, Ratio{3, 6}, Ratio{6, 6 + 3 + 1}, Ratio{3, 10}},
		"label injection":  {4, 4, 3, 10, 3, 0, 0, 0, Ratio{3, 4}, Ratio{3, 6}, Ratio{6, 6 + 3 + 1}, Ratio{3, 10}},
		"label jailbreak":  {2, 2, 1, 10, 3, 0, 0, 0, Ratio{1, 2}, Ratio{1, 4}, Ratio{2, 2 + 3 + 1}, Ratio{3, 10}},
		"label pii":        {3, 3, 2, 10, 3, 0, 0, 1, Ratio{2, 3}, Ratio{2, 5}, Ratio{4, 4 + 3 + 1}, Ratio{3, 10}},
		"label secret":     {1, 1, 1, 10, 3, 0, 0, 0, Ratio{1, 1}, Ratio{1, 4}, Ratio{2, 2 + 3 + 0}, Ratio{3, 10}},
		"label benign":     {10, 0, 0, 10, 4, 3, 3, 1, Ratio{0, 0}, Ratio{}, Ratio{}, Ratio{4, 10}},
		"hard negatives":   {4, 0, 0, 4, 1, 1, 0, 0, Ratio{}, Ratio{}, Ratio{}, Ratio{1, 4}},
		"overall":          {20, 10, 7, 10, 4, 3, 3, 2, Ratio{7, 10}, Ratio{7, 11}, Ratio{14, 14 + 4 + 3}, Ratio{4, 10}},
		"family fam1":      {5, 4, 3, 1, 1, 1, 0, 0, Ratio{3, 4}, Ratio{3, 4}, Ratio{6, 6 + 1 + 1}, Ratio{1, 1}},
		"family fam2":      {4, 3, 2, 1, 1, 0, 1, 1, Ratio{2, 3}, Ratio{2, 3}, Ratio{4, 4 + 1 + 1}, Ratio{1, 1}},
		"family chat":      {7, 0, 0, 7, 2, 2, 2, 1, Ratio{}, Ratio{}, Ratio{}, Ratio{2, 7}},
		"family dan":       {2, 2, 1, 0, 0, 0, 0, 0, Ratio{1, 2}, Ratio{}, Ratio{}, Ratio{}},
		"category fam1/b":  {2, 2, 1, 0, 0, 0, 0, 0, Ratio{1, 2}, Ratio{}, Ratio{}, Ratio{}},
		"category chat+kw": {3, 0, 0, 3, 0, 0, 0, 0, Ratio{}, Ratio{}, Ratio{}, Ratio{0, 3}},
		"category ":        {1, 0, 0, 1, 0, 0, 0, 0, Ratio{}, Ratio{}, Ratio{}, Ratio{0, 1}},
	}
	got := map[string]line{
		"class prompt_attack": summary(r.Class(guard.ClassPromptAttack)),
		"class sensitive":     summary(r.Class(guard.ClassSensitive)),
		"hard negatives":      summary(r.HardNegatives),
		"overall":             summary(r.Overall),
	}
	for _, g := range r.Labels {
		got["label "+g.Name] = summary(g)
	}
	for _, g := range r.Families {
		got["family "+g.Name] = summary(g)
	}
	for _, g := range r.Categories {
		got["category "+g.Name] = summary(g)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k) // lines not worked out by hand
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report lines (-want +got):\n%s", diff)
	}
	if n := len(r.Families); n != 6 {
		t.Errorf("%d families, want 6 (fam1, fam2, chat, dan, keys, \"\")", n)
	}
	if c := r.Class(guard.ClassPromptAttack).Findings; c[guard.ClassSensitive] != 2 {
		t.Errorf("prompt-attack rows with a sensitive finding: %d, want 2 (i3, i4)", c[guard.ClassSensitive])
	}
	if a := r.Overall.Actions; a[guard.Block] != 7 || a[guard.Redact] != 4 || a[guard.Flag] != 2 || a[guard.Allow] != 5 {
		t.Errorf("actions %v, want block 7, redact 4, flag 2, allow 5", a)
	}
	if r.Overall.Bytes != int64(len(strings.Join(func() []string {
		var ts []string
		for _, row := range synthetic {
			ts = append(ts, row.Text)
		}
		return ts
	}(), ""))) {
		t.Errorf("bytes %d", r.Overall.Bytes)
	}
	if r.Overall.Latency.P50 <= 0 || r.Overall.Latency.P99 < r.Overall.Latency.P50 || r.Overall.Latency.Max < r.Overall.Latency.P99 {
		t.Errorf("latency %+v", r.Overall.Latency)
	}
}

func TestGuardTargets(t *testing.T) {
	r, err := Guard(t.Context(), scriptScanner, Rows(syntheticRows()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Check(Targets{PromptAttackRecall: 0.6, BenignFPRate: 0.4, HardNegativeFPRate: 0.2, SensitiveRecall: 0.8, SensitiveFPRate: 0.3})
	var met []bool
	for _, tr := range got {
		met = append(met, tr.Met)
	}
	// 4/6 ≥ 0.6; 4/10 ≤ 0.4; 1/4 > 0.2; 3/4 < 0.8; 3/10 ≤ 0.3.
	if want := []bool{true, true, false, false, true}; !slices.Equal(met, want) {
		t.Errorf("met %v, want %v:\n%v", met, want, got)
	}
	// Without rows of a class, its targets are not met.
	r, err = Guard(t.Context(), scriptScanner, Rows(syntheticRows()[10:]), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range r.Check(Targets{1, 1, 1, 1, 1}) {
		if tr.Met == strings.Contains(tr.Name, "recall") {
			t.Errorf("%s", tr)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tt := range []struct {
		n    int
		p    float64
		want time.Duration
	}{{200, 50, 100}, {200, 99, 198}, {200, 100, 200}, {1, 50, 1}, {1, 99, 1}, {3, 50, 2}, {100, 99, 99}, {101, 99, 100}, {0, 50, 0}} {
		if got := Percentile(d[:tt.n], tt.p); got != tt.want {
			t.Errorf("Percentile(1..%d, %v) = %v, want %v", tt.n, tt.p, got, tt.want)
		}
	}
}

func TestGuardStops(t *testing.T) {
	rows := syntheticRows()
	t.Run("bad row", func(t *testing.T) {
		seq := func(yield func(Row, error) bool) {
			_ = yield(rows[0], nil) && yield(Row{}, ErrBadData)
		}
		if _, err := Guard(t.Context(), scriptScanner, seq, Options{}); !errors.Is(err, ErrBadData) {
			t.Errorf("error %v, want ErrBadData", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		s := scanFunc(func(ctx context.Context, in guard.Input) (guard.Verdict, error) {
			if n++; n == 3 {
				cancel()
				return guard.Verdict{}, ctx.Err()
			}
			return guard.Verdict{Action: guard.Allow}, nil
		})
		if _, err := Guard(ctx, s, Rows(rows), Options{}); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		if n != 3 {
			t.Errorf("%d scans, want 3", n)
		}
	})
	t.Run("rows file fails", func(t *testing.T) {
		if _, err := Guard(t.Context(), scriptScanner, Rows(rows), Options{Rows: failWriter{}}); err == nil || !strings.Contains(err.Error(), "write rows") {
			t.Errorf("error %v, want a write error", err)
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

// rowLine is a line of the rows file as its documentation describes it,
// decoded without this package's types.
type rowLine struct {
	Line      int      `json:"line"`
	ID        string   `json:"id"`
	Label     string   `json:"label"`
	Category  string   `json:"category"`
	Bytes     int      `json:"bytes"`
	Classes   []string `json:"classes"`
	Action    string   `json:"action"`
	LatencyUS float64  `json:"latency_us"`
	Error     string   `json:"error"`
}

// recount recomputes figures from a rows file the way docs/GUARD.md
// defines them, independently of the accumulator.
type recount struct {
	recall        map[string][2]int // class or label or family → detected, positives
	fp            map[string][2]int // "benign", "+kw", "prompt_attack", "sensitive" → false positives, benign rows
	latencyUS     []float64
	bytes, errors int
}

func recountRows(t *testing.T, data []byte) recount {
	t.Helper()
	c := recount{recall: map[string][2]int{}, fp: map[string][2]int{}}
	bump := func(m map[string][2]int, k string, hit bool) {
		v := m[k]
		if hit {
			v[0]++
		}
		v[1]++
		m[k] = v
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var l rowLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil && !strings.Contains(err.Error(), "unknown field \"detectors\"") {
			t.Fatalf("rows file: %v: %s", err, sc.Bytes())
		}
		c.latencyUS = append(c.latencyUS, l.LatencyUS)
		c.bytes += l.Bytes
		failed := l.Error != ""
		if failed {
			c.errors++
		}
		has := func(class string) bool { return failed || slices.Contains(l.Classes, class) }
		pa, se := has("prompt_attack"), has("sensitive")
		fam := strings.ReplaceAll(strings.SplitN(l.Category, "/", 2)[0], "+kw", "")
		switch l.Label {
		case "benign":
			bump(c.fp, "benign", pa || se)
			bump(c.fp, "prompt_attack", pa)
			bump(c.fp, "sensitive", se)
			if strings.Contains(l.Category, "+kw") {
				bump(c.fp, "+kw", pa || se)
			}
		case "injection", "jailbreak":
			det := !failed && slices.Contains(l.Classes, "prompt_attack")
			bump(c.recall, "prompt_attack", det)
			bump(c.recall, l.Label, det)
			bump(c.recall, "family "+fam, det)
		case "pii", "secret":
			det := !failed && slices.Contains(l.Classes, "sensitive")
			bump(c.recall, "sensitive", det)
			bump(c.recall, l.Label, det)
			bump(c.recall, "family "+fam, det)
		default:
			t.Fatalf("rows file: label %q", l.Label)
		}
	}
	return c
}

// checkRecount compares a report, through its JSON, with the figures
// recomputed from its rows file.
func checkRecount(t *testing.T, r Report, rowsFile []byte) {
	t.Helper()
	c := recountRows(t, rowsFile)
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Overall struct {
			Rows    int     `json:"rows"`
			Bytes   int     `json:"bytes"`
			Errors  int     `json:"errors"`
			FPRate  float64 `json:"fp_rate"`
			Latency struct {
				P50 float64 `json:"p50_us"`
				P99 float64 `json:"p99_us"`
			} `json:"latency"`
		} `json:"overall"`
		Classes, Labels, Families []struct {
			Name   string   `json:"name"`
			Recall *float64 `json:"recall"`
			FPRate *float64 `json:"fp_rate"`
		}
		HardNegatives struct {
			FPRate *float64 `json:"fp_rate"`
		} `json:"hard_negatives"`
	}
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	ratio := func(v [2]int) float64 { return float64(v[0]) / float64(v[1]) }
	check := func(what string, got *float64, want [2]int) {
		t.Helper()
		if want[1] == 0 {
			if got != nil {
				t.Errorf("%s: report %v, rows file has no rows", what, *got)
			}
			return
		}
		if got == nil || math.Abs(*got-ratio(want)) > 1e-12 {
			t.Errorf("%s: report %v, rows file %d/%d", what, got, want[0], want[1])
		}
	}
	if o := rep.Overall; o.Rows != len(c.latencyUS) || o.Bytes != c.bytes || o.Errors != c.errors {
		t.Errorf("overall rows, bytes, errors: report %d, %d, %d; rows file %d, %d, %d", o.Rows, o.Bytes, o.Errors, len(c.latencyUS), c.bytes, c.errors)
	}
	slices.Sort(c.latencyUS)
	rank := func(p float64) float64 { return c.latencyUS[int(math.Ceil(p/100*float64(len(c.latencyUS))))-1] }
	if o := rep.Overall; o.Latency.P50 != rank(50) || o.Latency.P99 != rank(99) {
		t.Errorf("latency p50, p99: report %v, %v µs; rows file %v, %v µs", o.Latency.P50, o.Latency.P99, rank(50), rank(99))
	}
	seen := 0
	for _, g := range rep.Classes {
		check("class "+g.Name+" recall", g.Recall, c.recall[g.Name])
		check("class "+g.Name+" FP rate", g.FPRate, c.fp[g.Name])
		seen++
	}
	for _, g := range rep.Labels {
		if g.Name == "benign" {
			check("benign FP rate", g.FPRate, c.fp["benign"])
		} else {
			check("label "+g.Name+" recall", g.Recall, c.recall[g.Name])
		}
		seen++
	}
	for _, g := range rep.Families {
		check("family "+g.Name+" recall", g.Recall, c.recall["family "+g.Name])
	}
	check("+kw FP rate", rep.HardNegatives.FPRate, c.fp["+kw"])
	if seen == 0 {
		t.Error("the report has no class or label lines")
	}
}

func TestRowsFileRecount(t *testing.T) {
	var rows bytes.Buffer
	r, err := Guard(t.Context(), scriptScanner, Rows(syntheticRows()), Options{Rows: &rows})
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(rows.Bytes(), []byte("\n")); n != len(synthetic) {
		t.Fatalf("rows file has %d lines, want %d", n, len(synthetic))
	}
	checkRecount(t, r, rows.Bytes())
	// Spot-check one line.
	first, _, _ := bytes.Cut(rows.Bytes(), []byte("\n"))
	var l rowLine
	if err := json.Unmarshal(first, &l); err != nil {
		t.Fatal(err)
	}
	l.LatencyUS = 0
	want := rowLine{Line: 1, ID: "i1", Label: "injection", Category: "fam1/a", Bytes: 9, Classes: []string{"prompt_attack"}, Action: "block"}
	if diff := cmp.Diff(want, l); diff != "" {
		t.Errorf("first line (-want +got):\n%s", diff)
	}
}

func TestWriteTable(t *testing.T) {
	r, err := Guard(t.Context(), scriptScanner, Rows(syntheticRows()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, &r, r.Check(DefaultTargets())); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"guard evaluation: 20 rows",
		"prompt attacks recall ≥ 0.9: 0.6667 (4/6) NOT MET",
		"prompt_attack  6",
		"4/6", "0.667", "3/10", "30.0%", "0.571", // prompt_attack line
		"benign +kw", "1/4", "25.0%",
		"fam1/b",
		"scan errors: 2 rows",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table does not contain %q:\n%s", want, out)
		}
	}
	if err := WriteTable(failWriter{}, &r, nil); err == nil {
		t.Error("WriteTable to a failing writer: no error")
	}
}
