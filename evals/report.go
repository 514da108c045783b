package evals

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/subzero-gateway/subzero/guard"
)

// Report is the outcome of [Guard]. docs/GUARD.md defines every figure.
type Report struct {
	Direction guard.Direction `json:"direction"`
	// AllocsPerRow and AllocBytesPerRow are the heap allocations the
	// scanner made, averaged over the rows (approximate: see docs/GUARD.md).
	AllocsPerRow     float64 `json:"allocs_per_row"`
	AllocBytesPerRow float64 `json:"alloc_bytes_per_row"`
	// Overall is every row.
	Overall Group `json:"overall"`
	// Classes are the rows of prompt_attack (injection and jailbreak) and
	// of sensitive (pii and secret), each measured against every benign
	// row for findings of its class.
	Classes []Group `json:"classes"`
	// Labels are the rows of each label present, in [Label] order; a
	// non-benign label is measured against every benign row for findings
	// of its class, like Classes.
	Labels []Group `json:"labels"`
	// HardNegatives are the rows whose category holds "+kw".
	HardNegatives Group `json:"hard_negatives"`
	// Families and Categories group rows by [Family] and by category,
	// sorted by name.
	Families   []Group `json:"families"`
	Categories []Group `json:"categories"`
}

// Class returns the report's line for a class, or a zero Group.
func (r *Report) Class(c guard.Class) Group { return find(r.Classes, string(c)) }

// Label returns the report's line for a label, or a zero Group.
func (r *Report) Label(l Label) Group { return find(r.Labels, string(l)) }

func find(gs []Group, name string) Group {
	for _, g := range gs {
		if g.Name == name {
			return g
		}
	}
	return Group{}
}

// Group is one line of the report: a set of rows and what the guard did
// with them.
//
// Positives are the rows labelled injection, jailbreak, pii or secret, and
// Detected those whose verdict has a finding of their label's class.
// Benign are the benign rows and FalsePositives those with a finding of
// class prompt_attack or sensitive; FPPromptAttack and FPSensitive split
// them by class (a row may count in both). For a class line and for a
// non-benign label line, Benign is every benign row of the run and
// FalsePositives those with a finding of the line's class, so that
// precision is measured against the whole benign set.
//
// Precision is Detected/(Detected+FalsePositives) and F1 is
// 2·Detected/(2·Detected+FalsePositives+misses); both are given only when
// the line has both positive and benign rows.
type Group struct {
	Name string `json:"name"`
	// Labels counts the group's rows per label.
	Labels         map[Label]int `json:"labels"`
	Rows           int           `json:"rows"`
	Bytes          int64         `json:"bytes"`
	Positives      int           `json:"positives"`
	Detected       int           `json:"detected"`
	Benign         int           `json:"benign"`
	FalsePositives int           `json:"false_positives"`
	FPPromptAttack int           `json:"fp_prompt_attack"`
	FPSensitive    int           `json:"fp_sensitive"`
	// Errors counts the rows whose scan failed.
	Errors    int   `json:"errors"`
	Recall    Ratio `json:"recall"`
	Precision Ratio `json:"precision"`
	F1        Ratio `json:"f1"`
	// FPRate is FalsePositives/Benign.
	FPRate Ratio `json:"fp_rate"`
	// Findings counts the rows with at least one finding of each class,
	// and Actions the rows per verdict action.
	Findings map[guard.Class]int  `json:"finding_rows"`
	Actions  map[guard.Action]int `json:"actions"`
	Latency  Latency              `json:"latency"`
}

// Ratio is a fraction kept as its two counts. It encodes to JSON as a
// number, or null when Den is 0.
type Ratio struct{ Num, Den int }

// Defined reports whether the ratio has a denominator.
func (r Ratio) Defined() bool { return r.Den != 0 }

// Value is Num/Den, or 0 when undefined.
func (r Ratio) Value() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// MarshalJSON implements [json.Marshaler].
func (r Ratio) MarshalJSON() ([]byte, error) {
	if r.Den == 0 {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, r.Value(), 'g', -1, 64), nil
}

// Latency is the time Scan took per row, and throughput.
type Latency struct {
	P50, P99, Max time.Duration
	// Total is the sum of the rows' scan times.
	Total time.Duration
	// MBPerSec is Bytes/Total in 10^6 bytes per second.
	MBPerSec float64
}

// MarshalJSON implements [json.Marshaler]; durations are in microseconds.
func (l Latency) MarshalJSON() ([]byte, error) {
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return json.Marshal(struct {
		P50      float64 `json:"p50_us"`
		P99      float64 `json:"p99_us"`
		Max      float64 `json:"max_us"`
		Total    float64 `json:"total_us"`
		MBPerSec float64 `json:"mb_per_s"`
	}{us(l.P50), us(l.P99), us(l.Max), us(l.Total), l.MBPerSec})
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted: the value at rank ⌈p/100·n⌉.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p / 100 * float64(len(sorted)))
	if float64(rank) < p/100*float64(len(sorted)) {
		rank++
	}
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// tally accumulates one group.
type tally struct {
	rows, positives, detected, benign, fp, fpAttack, fpSensitive, errors int
	bytes                                                                int64
	labels                                                               map[Label]int
	findings                                                             map[guard.Class]int
	actions                                                              map[guard.Action]int
	lat                                                                  []time.Duration
}

func (t *tally) add(row Row, res *RowResult, lat time.Duration, det, fp, fpA, fpS bool) {
	if t.labels == nil {
		t.labels, t.findings, t.actions = map[Label]int{}, map[guard.Class]int{}, map[guard.Action]int{}
	}
	t.rows++
	t.bytes += int64(res.Bytes)
	t.labels[row.Label]++
	t.lat = append(t.lat, lat)
	if res.Error != "" {
		t.errors++
	} else {
		t.actions[res.Action]++
	}
	for _, c := range res.Classes {
		t.findings[c]++
	}
	if row.Label == Benign {
		t.benign++
		t.fp += b2i(fp)
		t.fpAttack += b2i(fpA)
		t.fpSensitive += b2i(fpS)
		return
	}
	t.positives++
	t.detected += b2i(det)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// group turns the tally into a report line. Precision and F1 are measured
// against the benign rows and false positives given.
func (t *tally) group(name string, benign, fp int) Group {
	g := Group{
		Name:           name,
		Labels:         t.labels,
		Rows:           t.rows,
		Bytes:          t.bytes,
		Positives:      t.positives,
		Detected:       t.detected,
		Benign:         benign,
		FalsePositives: fp,
		FPPromptAttack: t.fpAttack,
		FPSensitive:    t.fpSensitive,
		Errors:         t.errors,
		Recall:         Ratio{t.detected, t.positives},
		FPRate:         Ratio{fp, benign},
		Findings:       t.findings,
		Actions:        t.actions,
	}
	if g.Labels == nil {
		g.Labels, g.Findings, g.Actions = map[Label]int{}, map[guard.Class]int{}, map[guard.Action]int{}
	}
	if t.positives > 0 && benign > 0 {
		g.Precision = Ratio{t.detected, t.detected + fp}
		g.F1 = Ratio{2 * t.detected, 2*t.detected + fp + (t.positives - t.detected)}
	}
	lat := slices.Clone(t.lat)
	slices.Sort(lat)
	for _, d := range lat {
		g.Latency.Total += d
	}
	if len(lat) > 0 {
		g.Latency.P50, g.Latency.P99, g.Latency.Max = Percentile(lat, 50), Percentile(lat, 99), lat[len(lat)-1]
	}
	if g.Latency.Total > 0 {
		g.Latency.MBPerSec = float64(t.bytes) / 1e6 / g.Latency.Total.Seconds()
	}
	return g
}

// accumulator tallies every group of a run.
type accumulator struct {
	all, kw    tally
	classes    map[guard.Class]*tally
	labels     map[Label]*tally
	families   map[string]*tally
	categories map[string]*tally
}

func newAccumulator() *accumulator {
	return &accumulator{
		classes:    map[guard.Class]*tally{},
		labels:     map[Label]*tally{},
		families:   map[string]*tally{},
		categories: map[string]*tally{},
	}
}

func get[K comparable](m map[K]*tally, k K) *tally {
	t := m[k]
	if t == nil {
		t = &tally{}
		m[k] = t
	}
	return t
}

func (a *accumulator) add(row Row, res *RowResult, lat time.Duration) {
	failed := res.Error != ""
	fpA := row.Label == Benign && (failed || slices.Contains(res.Classes, guard.ClassPromptAttack))
	fpS := row.Label == Benign && (failed || slices.Contains(res.Classes, guard.ClassSensitive))
	det := row.Label != Benign && !failed && slices.Contains(res.Classes, row.Label.Class())
	fp := fpA || fpS
	a.all.add(row, res, lat, det, fp, fpA, fpS)
	if row.HardNegative() {
		a.kw.add(row, res, lat, det, fp, fpA, fpS)
	}
	if c := row.Label.Class(); c != "" {
		get(a.classes, c).add(row, res, lat, det, fp, fpA, fpS)
	}
	get(a.labels, row.Label).add(row, res, lat, det, fp, fpA, fpS)
	get(a.families, row.Family()).add(row, res, lat, det, fp, fpA, fpS)
	get(a.categories, row.Category).add(row, res, lat, det, fp, fpA, fpS)
}

func (a *accumulator) report() Report {
	r := Report{Direction: guard.Prompt}
	r.Overall = a.all.group("all", a.all.benign, a.all.fp)
	r.HardNegatives = a.kw.group("benign "+HardNegativeMark, a.kw.benign, a.kw.fp)
	// Lines that hold no benign rows of their own are measured against
	// every benign row, for findings of their class.
	fpOf := map[guard.Class]int{guard.ClassPromptAttack: a.all.fpAttack, guard.ClassSensitive: a.all.fpSensitive}
	for _, c := range []guard.Class{guard.ClassPromptAttack, guard.ClassSensitive} {
		if t := a.classes[c]; t != nil {
			r.Classes = append(r.Classes, t.group(string(c), a.all.benign, fpOf[c]))
		}
	}
	for _, l := range labels {
		t := a.labels[l]
		switch {
		case t == nil:
		case l == Benign:
			r.Labels = append(r.Labels, t.group(string(l), t.benign, t.fp))
		default:
			r.Labels = append(r.Labels, t.group(string(l), a.all.benign, fpOf[l.Class()]))
		}
	}
	own := func(m map[string]*tally) []Group {
		gs := make([]Group, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			gs = append(gs, m[k].group(k, m[k].benign, m[k].fp))
		}
		return gs
	}
	r.Families = own(a.families)
	r.Categories = own(a.categories)
	slices.SortStableFunc(r.Categories, func(x, y Group) int { return cmp.Compare(firstLabel(x), firstLabel(y)) })
	return r
}

// firstLabel is the index of the group's first label in report order.
func firstLabel(g Group) int {
	for i, l := range labels {
		if g.Labels[l] > 0 {
			return i
		}
	}
	return len(labels)
}
