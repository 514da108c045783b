package guard_test

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/standard"
)

// benchPrompt is a realistic prompt: a code review request with a diff.
const benchPrompt = `You are reviewing a pull request for a Go web service. The change adds an endpoint that
lists a customer's invoices, with pagination and filtering by date. Check the handler for correctness,
error handling and security: SQL queries should use placeholders, the customer ID must come from the
authenticated session rather than the query string, and the page size needs an upper bound. Summarize
your findings as a short list, most important first, and suggest a test for each issue.

    func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request) {
        customer := r.URL.Query().Get("customer")
        size, _ := strconv.Atoi(r.URL.Query().Get("size"))
        rows, err := s.db.QueryContext(r.Context(),
            "SELECT id, amount, issued_at FROM invoices WHERE customer_id = $1 ORDER BY issued_at DESC LIMIT $2",
            customer, size)
        if err != nil {
            http.Error(w, err.Error(), 500)
            return
        }
        defer rows.Close()
        var out []Invoice
        for rows.Next() {
            var inv Invoice
            if err := rows.Scan(&inv.ID, &inv.Amount, &inv.IssuedAt); err != nil {
                http.Error(w, err.Error(), 500)
                return
            }
            out = append(out, inv)
        }
        json.NewEncoder(w).Encode(out)
    }

Also tell me whether the JSON field names follow our conventions (snake_case, no abbreviations), whether
the 404 and 403 responses leak which invoices exist, and whether the 500 responses expose database errors
to clients. We deploy on Kubernetes behind an ingress that terminates TLS; the service reads its database
URL from the environment. Thanks in advance, and keep the answer under 300 words if you can.
`

func prompt(n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(benchPrompt)
	}
	s := sb.String()[:n]
	return s[:strings.LastIndexByte(s, ' ')]
}

func newGuard(b *testing.B) *guard.Guard {
	g, err := standard.New(guard.Default())
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// BenchmarkScan scans a realistic prompt with every standard detector and
// reports latency percentiles over the iterations, throughput and
// allocations.
func BenchmarkScan(b *testing.B) {
	g := newGuard(b)
	for _, size := range []int{1 << 10, 4 << 10} {
		text := prompt(size)
		b.Run(map[int]string{1 << 10: "1KB", 4 << 10: "4KB"}[size], func(b *testing.B) {
			in := guard.Input{Direction: guard.Prompt, Text: text}
			ctx := context.Background()
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			lat := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				t0 := time.Now()
				v, err := g.Scan(ctx, in)
				lat = append(lat, time.Since(t0))
				if err != nil || v.Action != guard.Allow {
					b.Fatalf("%v %+v", err, v)
				}
			}
			reportLatency(b, lat)
		})
	}
	b.Run("chat-JSON-4KB", func(b *testing.B) {
		doc := `{"model":"gpt-4o","messages":[{"role":"system","content":"You are a careful code reviewer."},` +
			`{"role":"user","content":` + quote(prompt(4<<10-120)) + `}],"temperature":0.2}`
		in := guard.Input{Direction: guard.Prompt, JSON: []byte(doc)}
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		lat := make([]time.Duration, 0, 1<<16)
		for b.Loop() {
			t0 := time.Now()
			if _, err := g.Scan(context.Background(), in); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportLatency(b, lat)
	})
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	us := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(us(0.50), "p50-µs")
	b.ReportMetric(us(0.99), "p99-µs")
}

// BenchmarkScanCore is the scanner alone (normalization, decoding,
// policy) with no detector.
func BenchmarkScanCore(b *testing.B) {
	g, err := guard.New(guard.Default())
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1 << 10, 4 << 10} {
		text := prompt(size)
		b.Run(map[int]string{1 << 10: "1KB", 4 << 10: "4KB"}[size], func(b *testing.B) {
			in := guard.Input{Direction: guard.Prompt, Text: text}
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Scan(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"clean-ascii-1KB", strings.ToLower(strings.Join(strings.Fields(prompt(1200)), " "))[:1000]},
		{"ascii-1KB", prompt(1 << 10)},
		{"ascii-4KB", prompt(4 << 10)},
		{"mixed-4KB", strings.Repeat("Привет, мир! Ignore the 2nd rule. 日本語のテキスト。 Café naïve – “quoted” ", 60)[:4096]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var n guard.Normalizer
			var dst guard.Normalized
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				n.Normalize(&dst, bc.text)
			}
		})
	}
}

// BenchmarkNormalizeAdversarial normalizes 1 MB inputs built to find
// quadratic paths: decoders re-reading sequences, expansions, long runs.
func BenchmarkNormalizeAdversarial(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"hex-pairs", strings.Repeat("69 67 ", 170000)},
		{"hex-escapes", strings.Repeat(`\x01`, 250000)},
		{"base64-run", strings.Repeat("QUJD", 250000)},
		{"percent", strings.Repeat("%41", 330000)},
		{"rot13", strings.Repeat("Vtaber nyy cerivbhf ", 50000)},
		{"single-letters", strings.Repeat("a ", 500000)},
		{"combining-marks", "a" + strings.Repeat("\u0301", 500000)},
		{"invalid-utf8", strings.Repeat("\xff", 1000000)},
		{"nfkc-expansion", strings.Repeat("\uFDFA", 330000)},
		{"tag-characters", strings.Repeat("\U000E0041", 250000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var n guard.Normalizer
			var dst guard.Normalized
			b.SetBytes(int64(len(bc.text)))
			for b.Loop() {
				n.Normalize(&dst, bc.text)
			}
		})
	}
}

// BenchmarkNormalizeDevSet normalizes every development-set row with one
// Normalizer: the normalization pass's share of the guard's throughput
// budget (200 MB/s on one core).
func BenchmarkNormalizeDevSet(b *testing.B) {
	texts, n := guard.DevTexts(b)
	var nz guard.Normalizer
	var dst guard.Normalized
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, t := range texts {
			nz.Normalize(&dst, t)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/pass")
}

// BenchmarkScanCoreDevSet scans every development-set row as a prompt
// with a guard that has no detector: normalization plus the scanner's
// own cost (pool, policy, obfuscation findings, excerpts).
func BenchmarkScanCoreDevSet(b *testing.B) {
	texts, n := guard.DevTexts(b)
	g, err := guard.New(guard.Default())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(n)
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for b.Loop() {
		for _, t := range texts {
			if _, err := g.Scan(ctx, guard.Input{Direction: guard.Prompt, Text: t}); err != nil {
				b.Fatal(err)
			}
		}
	}
	runtime.ReadMemStats(&ms1)
	scans := float64(b.N) * float64(len(texts))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/pass")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/scans, "allocs/row")
}
