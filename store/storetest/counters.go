package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/limits"
)

// counterBase is a fixed-window boundary for every window length used
// (minutes and days), far from the test's real clock on purpose.
var counterBase = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

type counters struct {
	limits.Counters
	t *testing.T
}

type win struct {
	key    string
	length time.Duration
	limit  int64
	amount int64
}

type slot struct {
	key   string
	limit int64
}

// charge calls Charge and returns denied and wait.
func (c counters) charge(now time.Time, ws []win, ss []slot, lease string) (int, time.Duration) {
	c.t.Helper()
	var (
		keys             []string
		lengths          []time.Duration
		lims, amts, slms []int64
		skeys            []string
	)
	for _, w := range ws {
		keys, lengths, lims, amts = append(keys, w.key), append(lengths, w.length), append(lims, w.limit), append(amts, w.amount)
	}
	for _, s := range ss {
		skeys, slms = append(skeys, s.key), append(slms, s.limit)
	}
	denied, wait, err := c.Charge(c.t.Context(), now, keys, lengths, lims, amts, skeys, slms, lease, time.Minute)
	if err != nil {
		c.t.Fatalf("Charge(%v, %v) at %s: %v", ws, ss, now.Sub(counterBase), err)
	}
	return denied, wait
}

func (c counters) ok(now time.Time, ws ...win) {
	c.t.Helper()
	if d, wait := c.charge(now, ws, nil, ""); d != -1 {
		c.t.Fatalf("Charge(%v) at %s = denied %d, wait %s; want admitted", ws, now.Sub(counterBase), d, wait)
	}
}

func (c counters) denied(now time.Time, ws ...win) (int, time.Duration) {
	c.t.Helper()
	d, wait := c.charge(now, ws, nil, "")
	if d == -1 {
		c.t.Fatalf("Charge(%v) at %s admitted; want denied", ws, now.Sub(counterBase))
	}
	return d, wait
}

func (c counters) settle(at, now time.Time, ws []win, delta int64, slots []string, lease string) {
	c.t.Helper()
	var keys []string
	var lengths []time.Duration
	for _, w := range ws {
		keys, lengths = append(keys, w.key), append(lengths, w.length)
	}
	if err := c.Settle(c.t.Context(), at, now, keys, lengths, delta, slots, lease); err != nil {
		c.t.Fatalf("Settle: %v", err)
	}
}

// room returns the largest amount that w admits at now, found by charging
// (which charges it): the count is limit minus room.
func (c counters) room(now time.Time, w win) int64 {
	c.t.Helper()
	lo, hi := int64(0), w.limit // lo fits (0 always does unless overdrawn)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		probe := w
		probe.amount = mid
		if d, _ := c.charge(now, []win{probe}, nil, ""); d == -1 {
			c.settle(now, now, []win{w}, -mid, nil, "") // undo the probe
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// Counters checks a [limits.Counters]: the sliding windows and their
// waits, all-or-nothing charges across keys, settling up and down,
// concurrency slots, their release and expiry, and a Limiter over the
// store. Each call to open must return an empty, isolated store.
func Counters(t *testing.T, open func(t *testing.T) limits.Counters) {
	store := func(t *testing.T) counters { return counters{open(t), t} }
	at := func(d time.Duration) time.Time { return counterBase.Add(d) }
	rpm := func(key string, limit, n int64) win { return win{key, time.Minute, limit, n} }

	t.Run("Window", func(t *testing.T) {
		c := store(t)
		for range 10 {
			c.ok(at(30*time.Second), rpm("k", 10, 1))
		}
		d, wait := c.denied(at(30*time.Second), rpm("k", 10, 1))
		// In the next window the previous 10 weigh 10·(60−e)/60; 10·54/60+1
		// is 10: e = 6s, plus 1ms for rounding. 30s + 6s + 1ms.
		if d != 0 || wait != 36*time.Second+time.Millisecond {
			t.Fatalf("denied %d, wait %s; want 0, 36.001s", d, wait)
		}
		c.denied(at(30*time.Second+wait-2*time.Millisecond), rpm("k", 10, 1))
		c.ok(at(30*time.Second+wait), rpm("k", 10, 1))
		// Fixed window 1 now holds 1, window 0 weighs 10·(60−6.001)/60.
		if got := c.room(at(66*time.Second), rpm("k", 10, 1)); got != 0 {
			t.Errorf("room at 66s = %d, want 0", got)
		}
		if got := c.room(at(114*time.Second), rpm("k", 10, 10)); got != 8 { // 10·6/60 + 1 = 2
			t.Errorf("room at 114s = %d, want 8", got)
		}
		if got := c.room(at(130*time.Second), rpm("k", 10, 10)); got != 9 { // 1·50/60
			t.Errorf("room at 130s = %d, want 9", got)
		}
		// Two windows later nothing is left.
		if got := c.room(at(181*time.Second), rpm("k", 10, 10)); got != 10 {
			t.Errorf("room at 181s = %d, want 10", got)
		}
	})

	t.Run("WaitInWindow", func(t *testing.T) {
		c := store(t)
		c.ok(at(50*time.Second), rpm("k", 10, 8)) // fixed window 0
		c.ok(at(70*time.Second), rpm("k", 10, 1)) // window 1: 8·50/60 + 1 ≈ 7.67
		// 3 more need 8·(60−e)/60 ≤ 6: e ≥ 15s, 5s from now, plus 1ms.
		d, wait := c.denied(at(70*time.Second), rpm("k", 10, 3))
		if d != 0 || wait != 5*time.Second+time.Millisecond {
			t.Fatalf("denied %d, wait %s; want 0, 5.001s", d, wait)
		}
		c.ok(at(70*time.Second+wait), rpm("k", 10, 3))
	})

	t.Run("WaitIsUpperBound", func(t *testing.T) {
		// Random traffic on a minute and a day window and a slot set; every
		// refused charge is repeated after its wait, with nothing charged
		// meanwhile, and must then be admitted.
		c := store(t)
		rng := rand.New(rand.NewPCG(3, 4))
		now := at(0)
		var leases []string
		refused := map[int]int{}
		for i := range 1500 {
			now = now.Add(time.Duration(rng.IntN(9000)) * time.Millisecond)
			if len(leases) > 0 && rng.IntN(10) != 0 {
				c.settle(now, now, nil, 0, []string{"s"}, leases[0])
				leases = leases[1:]
			}
			ws := []win{rpm("m", 400, rng.Int64N(100)), {"d", 24 * time.Hour, 40_000, 0}}
			ws[1].amount = ws[0].amount
			lease := strconv.Itoa(i)
			d, wait := c.charge(now, ws, []slot{{"s", 4}}, lease)
			if d == -1 {
				leases = append(leases, lease)
				continue
			}
			refused[d]++
			if wait <= 0 {
				t.Fatalf("charge %d refused by %d with wait %s", i, d, wait)
			}
			now = now.Add(wait)
			if d2, wait2 := c.charge(now, ws, []slot{{"s", 4}}, lease); d2 != -1 {
				t.Fatalf("charge %d refused by %d, wait %s; after it refused by %d, wait %s", i, d, wait, d2, wait2)
			}
			leases = append(leases, lease)
		}
		if len(refused) != 3 {
			t.Errorf("refusals by index: %v; want some by each of 0, 1, 2", refused)
		}
	})

	t.Run("Never", func(t *testing.T) {
		c := store(t)
		if _, wait := c.denied(at(0), rpm("k", 10, 11)); wait >= 0 {
			t.Errorf("wait = %s, want negative (never)", wait)
		}
		if d, wait := c.denied(at(0), rpm("a", 1, 1), rpm("b", 5, 1), rpm("k", 10, 11)); d != 2 || wait >= 0 {
			t.Errorf("with others: denied %d, wait %s; want 2, negative", d, wait)
		}
	})

	t.Run("AllOrNothing", func(t *testing.T) {
		c := store(t)
		day := win{"day", 24 * time.Hour, 1000, 0}
		c.ok(at(0), rpm("full", 1, 1))
		withDay := day
		withDay.amount = 600
		d, wait := c.denied(at(0), rpm("room", 100, 50), withDay, rpm("full", 1, 1))
		if d != 2 || wait <= 0 || wait > 2*time.Minute+time.Millisecond {
			t.Errorf("denied %d, wait %s; want 2, within 2m1ms", d, wait)
		}
		if got := c.room(at(0), rpm("room", 100, 100)); got != 100 {
			t.Errorf("room of an uncharged window = %d, want 100", got)
		}
		if got := c.room(at(0), day); got != 1000 {
			t.Errorf("room of the day window = %d, want 1000", got)
		}
		// The longest wait names the window: the day needs a day.
		c.ok(at(0), withDay)
		withDay.amount = 500
		if d, wait := c.denied(at(0), rpm("full", 1, 1), withDay); d != 1 || wait < 12*time.Hour {
			t.Errorf("denied %d, wait %s; want 1 (the day), over 12h", d, wait)
		}
	})

	t.Run("AllOrNothingConcurrent", func(t *testing.T) {
		c := store(t)
		var pairs, singles atomic.Int64
		var wg sync.WaitGroup
		m := []time.Duration{time.Minute, time.Minute}
		for i := range 64 {
			wg.Go(func() {
				for range 8 {
					var d int
					var err error
					if i%2 == 0 {
						d, _, err = c.Charge(t.Context(), at(0), []string{"a", "b"}, m, []int64{20, 1000}, []int64{1, 1}, nil, nil, "", 0)
						if err == nil && d == -1 {
							pairs.Add(1)
						}
					} else {
						d, _, err = c.Charge(t.Context(), at(0), []string{"b"}, m[:1], []int64{1000}, []int64{1}, nil, nil, "", 0)
						if err == nil && d == -1 {
							singles.Add(1)
						}
					}
					if err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if pairs.Load() != 20 || singles.Load() != 256 {
			t.Fatalf("admitted %d pairs and %d singles; want 20 and 256", pairs.Load(), singles.Load())
		}
		if got := c.room(at(0), rpm("b", 1000, 1000)); got != 1000-276 {
			t.Errorf("room of b = %d, want %d: a refused pair charged b", got, 1000-276)
		}
	})

	t.Run("Settle", func(t *testing.T) {
		c := store(t)
		w := rpm("k", 100, 80)
		c.ok(at(10*time.Second), w)
		c.settle(at(10*time.Second), at(20*time.Second), []win{w}, -50, nil, "")
		if got := c.room(at(20*time.Second), w); got != 70 {
			t.Errorf("room after refund = %d, want 70", got)
		}
		c.settle(at(10*time.Second), at(20*time.Second), []win{w}, 60, nil, "")
		if got := c.room(at(20*time.Second), w); got != 10 {
			t.Errorf("room after charge = %d, want 10", got)
		}
		// Settled in the next window: the previous window's count changes.
		c.settle(at(10*time.Second), at(70*time.Second), []win{w}, -90, nil, "")
		if got := c.room(at(70*time.Second), w); got != 100 {
			t.Errorf("room after refund into the previous window = %d, want 100", got)
		}
		// A refund never takes a count below zero.
		c.settle(at(70*time.Second), at(70*time.Second), []win{w}, -1000, nil, "")
		if got := c.room(at(70*time.Second), rpm("k", 100, 100)); got != 100 {
			t.Errorf("room after a large refund = %d, want 100", got)
		}
		// Charged long ago: more use lands in the current window, a refund
		// nowhere.
		c.settle(at(0), at(10*time.Minute), []win{w}, 30, nil, "")
		c.settle(at(0), at(10*time.Minute), []win{w}, -30, nil, "")
		if got := c.room(at(10*time.Minute), w); got != 70 {
			t.Errorf("room after a late settle = %d, want 70", got)
		}
		// Settling a window never charged creates it only for more use.
		fresh := rpm("fresh", 100, 0)
		c.settle(at(0), at(0), []win{fresh}, -5, nil, "")
		c.settle(at(0), at(0), []win{rpm("fresh2", 100, 0)}, 5, nil, "")
		if got := c.room(at(0), rpm("fresh2", 100, 100)); got != 95 {
			t.Errorf("room after settling up a new window = %d, want 95", got)
		}
	})

	t.Run("Slots", func(t *testing.T) {
		c := store(t)
		s := []slot{{"conc", 2}}
		for _, lease := range []string{"a", "b"} {
			if d, wait := c.charge(at(0), nil, s, lease); d != -1 {
				t.Fatalf("lease %s: denied %d, wait %s", lease, d, wait)
			}
		}
		// The first lease (taken at 0, TTL 1m) expires first.
		d, wait := c.charge(at(10*time.Second), nil, s, "c")
		if d != 0 || wait != 50*time.Second {
			t.Fatalf("third lease: denied %d, wait %s; want 0, 50s", d, wait)
		}
		c.settle(at(0), at(10*time.Second), nil, 0, []string{"conc"}, "a")
		if d, _ := c.charge(at(10*time.Second), nil, s, "c"); d != -1 {
			t.Fatal("lease after release denied")
		}
		if d, _ := c.charge(at(10*time.Second), nil, s, "d"); d == -1 {
			t.Fatal("third live lease admitted")
		}
		// b expires at 1m, c at 1m10s.
		if d, _ := c.charge(at(time.Minute), nil, s, "d"); d != -1 {
			t.Fatal("lease after expiry denied")
		}
		// A denied charge takes no lease: with a window full, the slot set
		// stays as it was.
		c.ok(at(time.Minute), rpm("w", 1, 1))
		if d, _ := c.charge(at(80*time.Second), []win{rpm("w", 1, 1)}, s, "e"); d != 0 {
			t.Fatalf("denied %d, want 0 (the window)", d)
		}
		if d, _ := c.charge(at(80*time.Second), nil, s, "e"); d != -1 { // c expired at 70s; d is live
			t.Fatal("lease denied: a refused charge took a slot")
		}
	})

	t.Run("Extend", func(t *testing.T) {
		c, ctx := store(t), t.Context()
		s := []slot{{"conc", 1}}
		if d, _ := c.charge(at(0), nil, s, "a"); d != -1 {
			t.Fatal("first lease denied")
		}
		if err := c.Extend(ctx, at(50*time.Second), []string{"conc", "other"}, "a", time.Minute); err != nil {
			t.Fatal(err)
		}
		// a now expires at 110s, not 60s.
		if d, wait := c.charge(at(80*time.Second), nil, s, "b"); d != 0 || wait != 30*time.Second {
			t.Fatalf("after Extend: denied %d, wait %s; want 0, 30s", d, wait)
		}
		// Extending a lease the set does not hold adds nothing.
		if err := c.Extend(ctx, at(80*time.Second), []string{"conc"}, "z", time.Hour); err != nil {
			t.Fatal(err)
		}
		c.settle(at(0), at(80*time.Second), nil, 0, []string{"conc"}, "a")
		if err := c.Extend(ctx, at(80*time.Second), []string{"conc"}, "a", time.Hour); err != nil {
			t.Fatal(err)
		}
		if d, _ := c.charge(at(80*time.Second), nil, s, "b"); d != -1 {
			t.Fatal("Extend of released or unknown leases took the slot")
		}
		if err := c.Extend(ctx, at(0), []string{"conc"}, "", time.Minute); err == nil {
			t.Error("Extend without a lease: no error")
		}
	})

	t.Run("Isolation", func(t *testing.T) {
		c := store(t)
		c.ok(at(0), rpm("k", 1, 1))
		c.ok(at(0), rpm("k2", 1, 1))
		c.ok(at(0), rpm("k:x", 1, 1))
		c.ok(at(0), win{"k", 24 * time.Hour, 1, 1})
	})

	t.Run("BadArguments", func(t *testing.T) {
		c := store(t)
		ctx := t.Context()
		for name, call := range map[string]func() error{
			"lengths": func() error {
				_, _, err := c.Charge(ctx, at(0), []string{"k"}, nil, []int64{1}, []int64{1}, nil, nil, "", 0)
				return err
			},
			"zero len": func() error {
				_, _, err := c.Charge(ctx, at(0), []string{"k"}, []time.Duration{0}, []int64{1}, []int64{1}, nil, nil, "", 0)
				return err
			},
			"empty key": func() error {
				_, _, err := c.Charge(ctx, at(0), []string{""}, []time.Duration{time.Minute}, []int64{1}, []int64{1}, nil, nil, "", 0)
				return err
			},
			"long key": func() error {
				_, _, err := c.Charge(ctx, at(0), []string{string(make([]byte, 2000))}, []time.Duration{time.Minute}, []int64{1}, []int64{1}, nil, nil, "", 0)
				return err
			},
			"no lease": func() error {
				_, _, err := c.Charge(ctx, at(0), nil, nil, nil, nil, []string{"s"}, []int64{1}, "", time.Minute)
				return err
			},
			"slot limits": func() error {
				_, _, err := c.Charge(ctx, at(0), nil, nil, nil, nil, []string{"s"}, nil, "l", time.Minute)
				return err
			},
			"settle sizes": func() error { return c.Settle(ctx, at(0), at(0), []string{"k"}, nil, 1, nil, "") },
			"twice": func() error {
				m := []time.Duration{time.Minute, time.Minute}
				_, _, err := c.Charge(ctx, at(0), []string{"k", "k"}, m, []int64{1, 1}, []int64{1, 1}, nil, nil, "", 0)
				return err
			},
			"slot twice": func() error {
				_, _, err := c.Charge(ctx, at(0), nil, nil, nil, nil, []string{"s", "s"}, []int64{1, 1}, "l", time.Minute)
				return err
			},
		} {
			if err := call(); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
	})

	t.Run("Limiter", func(t *testing.T) { counterLimiter(t, open(t)) })
}

// counterLimiter checks a Limiter over c, on the real clock: a refusal
// by one scope charges no other, tickets release slots and reconcile.
func counterLimiter(t *testing.T, c limits.Counters) {
	cfg := limits.Default()
	cfg.APIKey = limits.Budget{RequestsPerMinute: 1000, TokensPerDay: 100}
	cfg.User = limits.Budget{TokensPerDay: 1000, Concurrent: 2}
	l, err := limits.New(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	admit := func(who limits.Who, tokens int64) (*limits.Ticket, error) {
		t.Helper()
		tk, err := l.Admit(ctx, limits.Request{Who: who, Model: "m", Tokens: tokens})
		var ex *limits.Exceeded
		if err != nil && !errors.As(err, &ex) {
			t.Fatalf("Admit: %v", err)
		}
		return tk, err
	}
	alice := limits.Who{APIKey: "key1", User: "alice"}
	t1, err := admit(alice, 60)
	if err != nil {
		t.Fatal(err)
	}
	// The key's day has 40 left: 50 is refused by it, and the user's day
	// and slots are not charged.
	var ex *limits.Exceeded
	if _, err := admit(alice, 50); !errors.As(err, &ex) || ex.Scope != "api_key" || ex.Limit != "tokens_per_day" || ex.RetryAfter <= 0 {
		t.Fatalf("Admit(50) = %v; want api_key tokens_per_day", err)
	}
	t2, err := admit(limits.Who{User: "alice"}, 900)
	if err != nil {
		t.Fatalf("user's own 900 after a refused 50: %v", err)
	}
	// Two slots taken: a third is refused until one is done.
	if _, err := admit(limits.Who{User: "alice"}, 0); !errors.As(err, &ex) || ex.Limit != "concurrent" || ex.RetryAfter <= 0 {
		t.Fatalf("third concurrent = %v; want user concurrent", err)
	}
	t2.Done(ctx, 100) // refunds 800
	t2.Done(ctx, 900) // the second call does nothing
	t1.Done(ctx, 10)  // refunds 50 to both
	var nilTicket *limits.Ticket
	nilTicket.Done(ctx, 1)
	t3, err := admit(limits.Who{User: "alice"}, 890) // 1000 - 100 - 10
	if err != nil {
		t.Fatalf("after refunds: %v", err)
	}
	if _, err := admit(alice, 1); !errors.As(err, &ex) || ex.Scope != "user" {
		t.Fatalf("user's day full: %v", err)
	}
	t3.Done(ctx, 890)
	if _, err := admit(limits.Who{APIKey: "key1"}, 90); err != nil { // 100 - 10
		t.Fatalf("key after refund: %v", err)
	}
}

// CountersShared checks that two Limiters over two connections a and b to
// one store share their budgets, as two nodes would.
func CountersShared(t *testing.T, a, b limits.Counters) {
	two := func(budget limits.Budget) (*limits.Limiter, *limits.Limiter) {
		cfg := limits.Default()
		cfg.Client = budget
		la, err := limits.New(cfg, a)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := limits.New(cfg, b)
		if err != nil {
			t.Fatal(err)
		}
		return la, lb
	}
	la, lb := two(limits.Budget{TokensPerDay: 100})
	ctx := t.Context()
	who := limits.Who{Client: "agent-7"}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			l := la
			if i%2 == 1 {
				l = lb
			}
			tk, err := l.Admit(ctx, limits.Request{Who: who, Tokens: 10})
			var ex *limits.Exceeded
			switch {
			case err == nil:
				admitted.Add(1)
				tk.Done(ctx, 10)
			case !errors.As(err, &ex):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 10 {
		t.Fatalf("admitted %d of 20 calls of 10 tokens under a shared day of 100; want 10", admitted.Load())
	}
	// Concurrency across the two: three slots in all.
	la, lb = two(limits.Budget{Concurrent: 3})
	var tickets []*limits.Ticket
	for i := range 3 {
		l := []*limits.Limiter{la, lb}[i%2]
		tk, err := l.Admit(ctx, limits.Request{Who: who})
		if err != nil {
			t.Fatalf("slot %d: %v", i, err)
		}
		tickets = append(tickets, tk)
	}
	var ex *limits.Exceeded
	if _, err := lb.Admit(ctx, limits.Request{Who: who}); !errors.As(err, &ex) || ex.Limit != "concurrent" {
		t.Fatalf("fourth slot = %v; want concurrent", err)
	}
	tickets[0].Done(ctx, 0) // released through a, taken again through b
	if _, err := lb.Admit(ctx, limits.Request{Who: who}); err != nil {
		t.Fatalf("after a release on the other node: %v", err)
	}
}

// CountersRestart checks that daily windows survive reopening the store:
// open returns a store and a function that closes it and opens it again.
func CountersRestart(t *testing.T, open func(t *testing.T) (limits.Counters, func() limits.Counters)) {
	first, reopen := open(t)
	c := counters{first, t}
	day := win{"api_key:k:tpd", 24 * time.Hour, 1000, 700}
	now := counterBase.Add(time.Hour)
	c.ok(now, day)
	c.ok(now, win{"api_key:k:rpm", time.Minute, 10, 1})
	c = counters{reopen(), t}
	if got := c.room(now.Add(time.Minute), day); got != 300 {
		t.Errorf("room of the day window after reopening = %d, want 300", got)
	}
}

// BenchCounters measures Limiter.Admit and Ticket.Done over c with every
// budget on in all three scopes (nine windows, three slot sets), from
// 64 parallel callers (as many requests in flight) with distinct users.
// roundTrips, when not nil, returns the store round trips so far.
func BenchCounters(b *testing.B, c limits.Counters, roundTrips func() int64) {
	big := limits.Budget{RequestsPerMinute: 1e9, TokensPerMinute: 1e12, TokensPerDay: 1e12, Concurrent: 1e6, MaxTokens: 1e6}
	cfg := limits.Default()
	cfg.APIKey, cfg.Client, cfg.User = big, big, big
	l, err := limits.New(cfg, c)
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	var rt0 int64
	if roundTrips != nil {
		rt0 = roundTrips()
	}
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		user := "user-" + strconv.FormatInt(n.Add(1), 10)
		ctx := b.Context()
		for pb.Next() {
			tk, err := l.Admit(ctx, limits.Request{Who: limits.Who{APIKey: "key-1", Client: "agent-1", User: user}, Tokens: 500, MaxTokens: 256})
			if err != nil {
				b.Error(err)
				return
			}
			tk.Done(ctx, 420)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	if roundTrips != nil {
		b.ReportMetric(float64(roundTrips()-rt0)/float64(b.N), "round-trips/call")
	}
}

func (w win) String() string {
	return fmt.Sprintf("%s/%s %d of %d", w.key, w.length, w.amount, w.limit)
}
