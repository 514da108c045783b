package evals

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/standard"
)

// devSetPath is the development set, copied unchanged from the project's
// shared guard-eval directory with SOURCES.md, which says where each row
// comes from and under which license.
const devSetPath = "testdata/guard-eval/dev.jsonl"

// devSetRows is the size of the development set, so that a truncated copy
// does not pass for the set.
const devSetRows = 2879

func openDevSet(tb testing.TB) *os.File {
	tb.Helper()
	f, err := os.Open(devSetPath)
	if err != nil {
		tb.Fatalf("the guard's development set is missing: %v\n"+
			"It is a copy of shared/guard-eval/dev.jsonl; the gate cannot run without it.", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

func devSet(tb testing.TB) []Row {
	tb.Helper()
	var rows []Row
	for row, err := range ReadRows(openDevSet(tb), DefaultLimits()) {
		if err != nil {
			tb.Fatalf("%s: %v", devSetPath, err)
		}
		rows = append(rows, row)
	}
	if len(rows) != devSetRows {
		tb.Fatalf("%s has %d rows, want %d", devSetPath, len(rows), devSetRows)
	}
	return rows
}

func standardGuard(tb testing.TB) *guard.Guard {
	tb.Helper()
	g, err := standard.New(guard.Default())
	if err != nil {
		tb.Fatalf("standard.New(guard.Default()): %v", err)
	}
	return g
}

// gate says, for each target of DefaultTargets, whether missing it fails
// TestDevSetTargets (armed) or is only reported in the test's log, while
// the detectors are tuned. Arm a target once the guard meets it.
var gate = map[string]bool{
	"prompt attacks recall":    true,
	"benign FP rate":           true,
	"benign +kw FP rate":       true,
	"pii+secret recall":        true,
	"benign sensitive FP rate": true,
}

// TestDevSetTargets is the CI gate of issue 5: the standard guard, on its
// default config, over the development set, must meet the armed targets
// of DefaultTargets (see gate). It also checks that the rows file
// recounts to the report.
func TestDevSetTargets(t *testing.T) {
	var rowsFile bytes.Buffer
	r, err := Guard(t.Context(), standardGuard(t), Rows(devSet(t)), Options{Rows: &rowsFile})
	if err != nil {
		t.Fatal(err)
	}
	checkRecount(t, r, rowsFile.Bytes())
	targets := r.Check(DefaultTargets())
	var b strings.Builder
	if err := WriteTable(&b, &r, targets); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	if r.Overall.Errors > 0 {
		t.Errorf("%d rows failed to scan", r.Overall.Errors)
	}
	for _, tr := range targets {
		armed, ok := gate[tr.Name]
		switch {
		case !ok:
			t.Errorf("target %q is not in the gate table", tr.Name)
		case !tr.Met && armed:
			t.Errorf("target %s", tr)
		case !tr.Met:
			t.Logf("target not armed yet: %s", tr)
		}
	}
	if len(gate) != len(targets) {
		t.Errorf("the gate table has %d targets, Check %d", len(gate), len(targets))
	}
}

// BenchmarkDevSet scans every row of the development set as a prompt, one
// after the other: MB/s is the guard's single-core throughput on it.
func BenchmarkDevSet(b *testing.B) {
	rows := devSet(b)
	g := standardGuard(b)
	var n int64
	for _, r := range rows {
		n += int64(len(r.Text))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	ctx := b.Context()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for b.Loop() {
		for _, r := range rows {
			if _, err := g.Scan(ctx, guard.Input{Direction: guard.Prompt, Text: r.Text}); err != nil {
				b.Fatalf("row %s: %v", r.ID, err)
			}
		}
	}
	runtime.ReadMemStats(&ms1)
	scans := float64(b.N) * float64(len(rows))
	b.ReportMetric(scans/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/scans, "us/row")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/scans, "allocs/row")
}
