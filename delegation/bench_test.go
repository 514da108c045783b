package delegation

import (
	"net/netip"
	"testing"
	"time"
)

// benchRequest is a typical agent call: a few attributes, scopes and
// context values.
func benchRequest() Request {
	r := forAgent("anne", "copilot")
	r.Subject.Attrs = map[string]any{"dept": "eng", "level": 3, "groups": []any{"eng", "oncall"}}
	r.Agent.Attrs = map[string]any{"vendor": "acme", "verified": true}
	r.Tool = "github.create_issue"
	r.Scopes = []string{"mcp:tools", "issues:write"}
	r.Risk = Risk{Level: "low", Score: 0.12}
	r.SourceIP = netip.MustParseAddr("192.0.2.10")
	r.Time = noon.Add(250 * time.Millisecond)
	r.Context = map[string]any{"session": "s-123", "mcp_server": "github"}
	return r
}

// benchPoint is a point over all three engines.
func benchPoint(b testing.TB, cfg Config) *Point {
	pol, _ := newRego(b, policy)
	return newPoint(b, cfg, newRelations(b, model, base...), newABAC(b), pol)
}

func BenchmarkDecideCacheHit(b *testing.B) {
	// The request's time is fixed, so its entry would only expire by the
	// TTL, measured on the real clock: take the longest.
	cfg := Default()
	cfg.Cache.TTL = MaxCacheTTL
	p := benchPoint(b, cfg)
	req := benchRequest()
	if d, err := p.Decide(b.Context(), req); err != nil || !d.Allowed {
		b.Fatalf("Decide = %+v, %v", d, err)
	}
	misses := 0
	b.ReportAllocs()
	for b.Loop() {
		d, err := p.Decide(b.Context(), req)
		if err != nil || !d.Allowed {
			b.Fatalf("Decide = %+v, %v", d, err)
		}
		if !d.Cached {
			misses++
		}
	}
	if misses > b.N/1000 {
		b.Fatalf("%d misses in %d decisions", misses, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/decision")
}

func BenchmarkDecideMiss(b *testing.B) {
	cfg := Default()
	cfg.Cache.Bytes = 0
	p := benchPoint(b, cfg)
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		d, err := p.Decide(b.Context(), req)
		if err != nil || !d.Allowed {
			b.Fatalf("Decide = %+v, %v", d, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/decision")
}

// TestCacheHitAllocs holds a cache hit to one allocation: the copy of the
// granting paths handed to the caller.
func TestCacheHitAllocs(t *testing.T) {
	p := benchPoint(t, Default())
	req := benchRequest()
	if _, err := p.Decide(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = p.Decide(t.Context(), req) }); n > 1 {
		t.Errorf("a cache hit allocates %v times, want at most 1", n)
	}
}
