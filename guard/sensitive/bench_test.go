package sensitive

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/guard"
)

// clean is English prose with code-like words, numbers and no values.
const cleanPara = "The quarterly report covers 12 teams and 3 projects. Each engineer keeps notes in the " +
	"shared folder; the key points are listed below, with version 2.4 of the build and a 15% increase. " +
	"Please ask the team lead before changing the default token budget or the password policy page. "

// dirty adds values of every kind.
const dirtyPara = "Contact jane.doe@example.com or +41 44 668 18 00; card 4111 1111 1111 1111, SSN 123-45-6788, " +
	"IBAN DE89 3704 0044 0532 0130 00 from 41.173.96.26. export GITHUB_TOKEN=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 " +
	"password = 'hunter22' lives at 12 Main Street. "

func fill(para string, n int) string {
	return strings.Repeat(para, n/len(para)+1)[:n]
}

func benchDetect(b *testing.B, text string) {
	d, err := New(Default())
	if err != nil {
		b.Fatal(err)
	}
	var dst []guard.Finding
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		dst = d.Detect(dst[:0], text, nil, guard.Prompt)
	}
	b.ReportMetric(float64(len(dst)), "findings")
}

func BenchmarkDetect(b *testing.B) {
	for _, c := range []struct {
		name string
		para string
		n    int
	}{
		{"clean-1KB", cleanPara, 1 << 10},
		{"clean-4KB", cleanPara, 4 << 10},
		{"dirty-1KB", dirtyPara, 1 << 10},
		{"dirty-4KB", dirtyPara, 4 << 10},
	} {
		b.Run(c.name, func(b *testing.B) { benchDetect(b, fill(c.para, c.n)) })
	}
}

// devSetPath is the guard's development set, relative to this package.
const devSetPath = "../../evals/testdata/guard-eval/dev.jsonl"

// devTexts reads the text of every row of the development set.
func devTexts(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open(devSetPath)
	if err != nil {
		tb.Fatalf("the development set is missing: %v", err)
	}
	defer f.Close()
	var texts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("%s: %v", devSetPath, err)
		}
		texts = append(texts, r.Text)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", devSetPath, err)
	}
	if len(texts) == 0 {
		tb.Fatalf("%s has no rows", devSetPath)
	}
	return texts
}

// BenchmarkDetectDevSet runs Detect over every row of the development
// set, one after the other: MB/s is the detector's single-core
// throughput there (its budget is 150 MB/s).
func BenchmarkDetectDevSet(b *testing.B) {
	texts := devTexts(b)
	d, err := New(Default())
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, t := range texts {
		n += int64(len(t))
	}
	var dst []guard.Finding
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, t := range texts {
			dst = d.Detect(dst[:0], t, nil, guard.Prompt)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(texts)), "us/row")
}
