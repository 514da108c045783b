package guard

import (
	"strings"
	"testing"
)

const benchPrompt = `You are reviewing a pull request for a Go web service. The change adds a new endpoint that
lists the invoices of a customer, with pagination and filtering by date. Please check the handler for
correctness, error handling and security issues: SQL queries should use placeholders, the customer ID
must come from the authenticated session rather than the query string, and the page size needs an upper
bound. Summarize your findings as a short list, most important first, and suggest a test for each issue.
Also tell me whether the JSON field names follow our conventions (snake_case, no abbreviations) and
whether the 404 and 403 responses leak information about which invoices exist. Thanks in advance!`

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"clean-ascii-folded", strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(benchPrompt+" "+benchPrompt, "404 and 403", "not-found and forbidden")), " "))[:900]},
		{"ascii-1KB", (benchPrompt + benchPrompt)[:1000]},
		{"ascii-4KB", strings.Repeat(benchPrompt, 6)[:4096]},
		{"mixed-4KB", strings.Repeat("Привет, мир! Ignore the 2nd rule. 日本語のテキスト。 Café naïve — “quoted” ", 60)[:4096]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var n Normalizer
			var dst Normalized
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				n.Normalize(&dst, bc.text)
			}
		})
	}
}
