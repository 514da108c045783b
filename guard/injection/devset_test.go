package injection

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/subzero-gateway/subzero/guard"
)

// devSetPath is the evaluation harness's copy of the development set.
const devSetPath = "../../evals/testdata/guard-eval/dev.jsonl"

// devRow is one development-set row, normalized.
type devRow struct {
	id, text string
	norm     *guard.Normalized
}

// devRows reads the development set and normalizes every row.
func devRows(tb testing.TB) []devRow {
	tb.Helper()
	f, err := os.Open(devSetPath)
	if err != nil {
		tb.Fatalf("open the development set: %v", err)
	}
	defer f.Close()
	var rows []devRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r struct{ ID, Text string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("%s: %v", devSetPath, err)
		}
		rows = append(rows, devRow{id: r.ID, text: r.Text, norm: normalize(r.Text)})
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", devSetPath, err)
	}
	if len(rows) == 0 {
		tb.Fatalf("%s: no rows", devSetPath)
	}
	return rows
}

// BenchmarkDevSet runs Detect over every development-set row as a
// prompt, normalized outside the timed region: the detector's share of
// the guard's throughput budget.
func BenchmarkDevSet(b *testing.B) {
	d := newDetector(b)
	rows := devRows(b)
	var n int64
	for _, r := range rows {
		n += int64(len(r.text))
	}
	dst := make([]guard.Finding, 0, 4)
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rows {
			dst = d.Detect(dst[:0], r.text, r.norm, guard.Prompt)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/pass")
}
