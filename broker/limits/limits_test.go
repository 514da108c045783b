package limits_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/subzero-gateway/subzero/broker/limits"
	"github.com/subzero-gateway/subzero/internal/yamlconf"
	"github.com/subzero-gateway/subzero/store/bolt"
)

func openCounters(t *testing.T) *bolt.Counters {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); db.Close() })
	return c
}

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newLimiter(t *testing.T, cfg limits.Config, c limits.Counters) (*limits.Limiter, *clock) {
	t.Helper()
	l, err := limits.New(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
	limits.SetClock(l, clk.now)
	return l, clk
}

func exceeded(t *testing.T, err error) *limits.Exceeded {
	t.Helper()
	var e *limits.Exceeded
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *Exceeded", err)
	}
	return e
}

func TestConfig(t *testing.T) {
	if err := limits.Default().Validate(); err != nil {
		t.Fatalf("Default: %v", err)
	}
	for _, tc := range []struct {
		yaml, err string
	}{
		{"user: {requests_per_minute: -1}", "user.requests_per_minute: -1 not in [0, 1000000000]"},
		{"api_key: {tokens_per_day: 1000000000001}", "api_key.tokens_per_day: 1000000000001 not in [0, 1000000000000]"},
		{"client: {concurrent: 1000001}", "client.concurrent: 1000001 not in [0, 1000000]"},
		{"client: {max_tokens: -5}", "client.max_tokens: -5 not in [0, 1000000000000]"},
		{"concurrency_lease: 100ms", "concurrency_lease: must be between 1s and 24h"},
		{"user: {tokens_per_minute: 5}\nconcurrency_lease: 30s", ""},
	} {
		cfg := limits.Default()
		if err := yamlconf.Decode([]byte(tc.yaml), &cfg); err != nil {
			t.Fatalf("%q: decode: %v", tc.yaml, err)
		}
		err := cfg.Validate()
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.err {
				t.Errorf("%q: Validate = %q, want %q", tc.yaml, got, tc.err)
			}
		} else if tc.err != "" {
			t.Errorf("%q: Validate = nil, want %q", tc.yaml, tc.err)
		}
		if _, err := limits.New(cfg, openCounters(t)); (err == nil) != (tc.err == "") {
			t.Errorf("%q: New = %v", tc.yaml, err)
		}
	}
	if _, err := limits.New(limits.Default(), nil); err == nil {
		t.Error("New without counters: no error")
	}
}

func TestAdmit(t *testing.T) {
	cfg := limits.Default()
	cfg.APIKey = limits.Budget{RequestsPerMinute: 2, MaxTokens: 1000}
	cfg.Client = limits.Budget{TokensPerMinute: 3000, MaxTokens: 500}
	cfg.User = limits.Budget{TokensPerDay: 10_000}
	l, clk := newLimiter(t, cfg, openCounters(t))
	ctx := t.Context()
	who := limits.Who{APIKey: "k", Client: "c", User: "u"}

	t.Run("MaxTokens", func(t *testing.T) {
		if got := l.MaxTokens(who); got != 500 {
			t.Errorf("MaxTokens(all) = %d, want 500", got)
		}
		if got := l.MaxTokens(limits.Who{User: "u"}); got != 0 {
			t.Errorf("MaxTokens(user) = %d, want 0", got)
		}
		_, err := l.Admit(ctx, limits.Request{Who: who, Tokens: 10, MaxTokens: 501})
		if e := exceeded(t, err); *e != (limits.Exceeded{Scope: "client", Limit: "max_tokens"}) {
			t.Errorf("Exceeded = %+v", e)
		}
		// The API key's own cap is larger: without the client it passes.
		tk, err := l.Admit(ctx, limits.Request{Who: limits.Who{APIKey: "k2"}, MaxTokens: 1000})
		if err != nil {
			t.Fatal(err)
		}
		tk.Done(ctx, 0)
	})

	t.Run("Never", func(t *testing.T) {
		_, err := l.Admit(ctx, limits.Request{Who: who, Tokens: 3001})
		if e := exceeded(t, err); *e != (limits.Exceeded{Scope: "client", Limit: "tokens_per_minute"}) {
			t.Errorf("Exceeded = %+v", e)
		}
		if msg := err.Error(); strings.Contains(msg, `"c"`) || !strings.Contains(msg, "by the request itself") {
			t.Errorf("Error() = %q", msg)
		}
	})

	t.Run("RequestsPerMinute", func(t *testing.T) {
		who := limits.Who{APIKey: "rpm"}
		for range 2 {
			tk, err := l.Admit(ctx, limits.Request{Who: who})
			if err != nil {
				t.Fatal(err)
			}
			tk.Done(ctx, 0)
		}
		_, err := l.Admit(ctx, limits.Request{Who: who})
		e := exceeded(t, err)
		if e.Scope != "api_key" || e.Limit != "requests_per_minute" || e.RetryAfter <= 0 || e.RetryAfter > 2*time.Minute+time.Millisecond {
			t.Fatalf("Exceeded = %+v", e)
		}
		if msg := e.Error(); strings.Contains(msg, "rpm") || !strings.Contains(msg, "retry after") {
			t.Errorf("Error() = %q names the caller or no wait", msg)
		}
		clk.t = clk.t.Add(e.RetryAfter)
		if _, err := l.Admit(ctx, limits.Request{Who: who}); err != nil {
			t.Fatalf("after RetryAfter: %v", err)
		}
	})

	t.Run("BadRequest", func(t *testing.T) {
		for name, r := range map[string]limits.Request{
			"negative tokens":     {Who: who, Tokens: -1},
			"negative max_tokens": {Who: who, MaxTokens: -1},
			"long ID":             {Who: limits.Who{User: strings.Repeat("u", limits.MaxIDBytes+1)}},
		} {
			_, err := l.Admit(ctx, r)
			var e *limits.Exceeded
			if err == nil || errors.As(err, &e) {
				t.Errorf("%s: err = %v, want a non-Exceeded error", name, err)
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := l.Admit(cctx, limits.Request{Who: who}); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: err = %v", err)
		}
	})

	t.Run("Unlimited", func(t *testing.T) {
		l, _ := newLimiter(t, limits.Default(), openCounters(t))
		for range 100 {
			tk, err := l.Admit(ctx, limits.Request{Who: who, Tokens: 1e9, MaxTokens: 1e9})
			if err != nil {
				t.Fatal(err)
			}
			tk.Done(ctx, 2e9)
		}
	})
}

// TestDoneAfterCancel checks that a request whose context is cancelled
// (a client that hung up) still pays for its tokens and frees its slot.
func TestDoneAfterCancel(t *testing.T) {
	cfg := limits.Default()
	cfg.User = limits.Budget{TokensPerMinute: 100, Concurrent: 1}
	l, _ := newLimiter(t, cfg, openCounters(t))
	who := limits.Who{User: "u"}
	ctx, cancel := context.WithCancel(t.Context())
	tk, err := l.Admit(ctx, limits.Request{Who: who, Tokens: 10})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	tk.Done(ctx, 95)
	if _, err := l.Admit(t.Context(), limits.Request{Who: who, Tokens: 6}); exceeded(t, err).Limit != "tokens_per_minute" {
		t.Fatalf("err = %v, want tokens_per_minute (95 used)", err)
	}
	tk, err = l.Admit(t.Context(), limits.Request{Who: who, Tokens: 5})
	if err != nil {
		t.Fatalf("slot not freed: %v", err)
	}
	tk.Done(t.Context(), 5)
}

// TestRetryAfterBound checks, over random traffic, that a refused request
// retried after its RetryAfter, with nothing charged meanwhile, is
// admitted: RetryAfter is an upper bound.
func TestRetryAfterBound(t *testing.T) {
	cfg := limits.Default()
	cfg.APIKey = limits.Budget{RequestsPerMinute: 7, TokensPerMinute: 900, TokensPerDay: 40_000}
	cfg.User = limits.Budget{RequestsPerMinute: 5, TokensPerMinute: 700, Concurrent: 3}
	cfg.ConcurrencyLease = 45 * time.Second
	l, clk := newLimiter(t, cfg, openCounters(t))
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := t.Context()
	var open []*limits.Ticket
	refusals := map[string]int{}
	for i := range 3000 {
		clk.t = clk.t.Add(time.Duration(rng.IntN(8_000)) * time.Millisecond)
		if len(open) > 0 && rng.IntN(3) == 0 {
			j := rng.IntN(len(open))
			open[j].Done(ctx, rng.Int64N(400))
			open = append(open[:j], open[j+1:]...)
		}
		who := limits.Who{APIKey: "k", User: []string{"a", "b"}[rng.IntN(2)]}
		r := limits.Request{Who: who, Tokens: rng.Int64N(60)}
		if rng.IntN(10) == 0 {
			r.Tokens = rng.Int64N(500)
		}
		tk, err := l.Admit(ctx, r)
		if err == nil {
			open = append(open, tk)
			continue
		}
		e := exceeded(t, err)
		refusals[e.Limit]++
		if e.RetryAfter <= 0 {
			t.Fatalf("request %d: %+v: no RetryAfter", i, e)
		}
		clk.t = clk.t.Add(e.RetryAfter)
		tk, err = l.Admit(ctx, r)
		if err != nil {
			t.Fatalf("request %d: refused with %+v, and again after RetryAfter: %v", i, e, err)
		}
		open = append(open, tk)
	}
	for _, lim := range []string{"requests_per_minute", "tokens_per_minute", "tokens_per_day", "concurrent"} {
		if refusals[lim] == 0 {
			t.Errorf("no refusal by %s in the run (%v): the test does not cover it", lim, refusals)
		}
	}
}

// counterFunc is a Counters whose Charge is a function.
type counterFunc func() (int, time.Duration, error)

func (f counterFunc) Charge(context.Context, time.Time, []string, []time.Duration, []int64, []int64, []string, []int64, string, time.Duration) (int, time.Duration, error) {
	return f()
}

func (f counterFunc) Extend(context.Context, time.Time, []string, string, time.Duration) error {
	return nil
}

func (f counterFunc) Settle(context.Context, time.Time, time.Time, []string, []time.Duration, int64, []string, string) error {
	return nil
}

// TestStoreFailure checks that a store error or a nonsense answer is an
// error, not an Exceeded and not an admission: the caller fails closed.
func TestStoreFailure(t *testing.T) {
	cfg := limits.Default()
	cfg.User = limits.Budget{RequestsPerMinute: 1}
	for name, f := range map[string]counterFunc{
		"error":     func() (int, time.Duration, error) { return 0, 0, errors.New("connection refused") },
		"bad index": func() (int, time.Duration, error) { return 5, time.Second, nil },
	} {
		l, _ := newLimiter(t, cfg, f)
		tk, err := l.Admit(t.Context(), limits.Request{Who: limits.Who{User: "u"}})
		var e *limits.Exceeded
		if err == nil || tk != nil || errors.As(err, &e) {
			t.Errorf("%s: Admit = %v, %v; want an error", name, tk, err)
		}
	}
}

// TestLeaseRenewal checks, on a fake clock, that a request outliving its
// lease keeps its slot while it runs, and that Done stops the renewals.
func TestLeaseRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := limits.Default()
		cfg.User = limits.Budget{Concurrent: 1}
		cfg.ConcurrencyLease = 2 * time.Second
		l, err := limits.New(cfg, openCounters(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, who := t.Context(), limits.Who{User: "u"}
		tk, err := l.Admit(ctx, limits.Request{Who: who})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(7 * time.Second) // three and a half leases
		synctest.Wait()
		if _, err := l.Admit(ctx, limits.Request{Who: who}); exceeded(t, err).Limit != "concurrent" {
			t.Fatalf("second request while the first runs: %v", err)
		}
		tk.Done(ctx, 0)
		tk2, err := l.Admit(ctx, limits.Request{Who: who})
		if err != nil {
			t.Fatalf("after Done: %v", err)
		}
		tk2.Done(ctx, 0)
		time.Sleep(5 * time.Second) // no renewal left running
	})
}

// failingCounters fails every Charge and records the leases settled.
type failingCounters struct {
	counterFunc
	released []string
}

func (f *failingCounters) Settle(_ context.Context, _, _ time.Time, keys []string, _ []time.Duration, _ int64, slots []string, lease string) error {
	if len(keys) == 0 && len(slots) == 1 && lease != "" {
		f.released = append(f.released, slots[0])
	}
	return nil
}

// TestStoreFailureReleases checks that a Charge that failed (perhaps
// after the store took the leases, say on a timeout) releases them.
func TestStoreFailureReleases(t *testing.T) {
	cfg := limits.Default()
	cfg.User = limits.Budget{Concurrent: 1}
	f := &failingCounters{counterFunc: func() (int, time.Duration, error) { return 0, 0, context.DeadlineExceeded }}
	l, _ := newLimiter(t, cfg, f)
	if _, err := l.Admit(t.Context(), limits.Request{Who: limits.Who{User: "u"}}); err == nil {
		t.Fatal("Admit succeeded")
	}
	if len(f.released) != 1 || f.released[0] != "user:u:conc" {
		t.Errorf("released %q, want the user's slot", f.released)
	}
}
