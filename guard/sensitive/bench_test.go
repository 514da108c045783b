package sensitive

import (
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
