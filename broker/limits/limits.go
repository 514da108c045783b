package limits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Budget bounds what one API key, client or user may consume. Zero means
// unlimited.
type Budget struct {
	RequestsPerMinute int64 `yaml:"requests_per_minute"`
	TokensPerMinute   int64 `yaml:"tokens_per_minute"`
	TokensPerDay      int64 `yaml:"tokens_per_day"`
	// Concurrent bounds the requests in flight at once, across nodes.
	Concurrent int64 `yaml:"concurrent"`
	// MaxTokens bounds the max_tokens one request may ask for.
	MaxTokens int64 `yaml:"max_tokens"`
}

// Bounds of a Budget's fields.
const (
	maxRequests   = 1_000_000_000
	maxTokens     = 1_000_000_000_000
	maxConcurrent = 1_000_000
)

func (b Budget) validate() error {
	for _, f := range []struct {
		name  string
		v, hi int64
	}{
		{"requests_per_minute", b.RequestsPerMinute, maxRequests},
		{"tokens_per_minute", b.TokensPerMinute, maxTokens},
		{"tokens_per_day", b.TokensPerDay, maxTokens},
		{"concurrent", b.Concurrent, maxConcurrent},
		{"max_tokens", b.MaxTokens, maxTokens},
	} {
		if f.v < 0 || f.v > f.hi {
			return fmt.Errorf("%s: %d not in [0, %d]", f.name, f.v, f.hi)
		}
	}
	return nil
}

// Config is the llm proxy's budgets section:
//
//	budgets:
//	  api_key: {requests_per_minute: 600, tokens_per_minute: 200000, concurrent: 20}
//	  client:  {tokens_per_day: 5000000, max_tokens: 4096}
//	  user:    {requests_per_minute: 60, tokens_per_day: 1000000, concurrent: 4}
//	  concurrency_lease: 10m
//
// Every caller gets the budget of its scope; the zero Config limits
// nothing.
type Config struct {
	APIKey Budget `yaml:"api_key"`
	Client Budget `yaml:"client"`
	User   Budget `yaml:"user"`
	// ConcurrencyLease is how long a concurrency slot is held when its
	// ticket is never done (the node crashed, or the store failed on
	// release). A ticket renews its leases every half of it while the
	// request runs.
	ConcurrencyLease time.Duration `yaml:"concurrency_lease"`
}

// Default returns the default configuration: no limits, 10-minute leases.
func Default() Config { return Config{ConcurrencyLease: 10 * time.Minute} }

// Validate reports the first invalid field, named by its key path. It does
// not mutate c.
func (c Config) Validate() error {
	for _, s := range []struct {
		name string
		b    Budget
	}{{"api_key", c.APIKey}, {"client", c.Client}, {"user", c.User}} {
		if err := s.b.validate(); err != nil {
			return fmt.Errorf("%s.%w", s.name, err)
		}
	}
	if c.ConcurrencyLease < time.Second || c.ConcurrencyLease > 24*time.Hour {
		return errors.New("concurrency_lease: must be between 1s and 24h")
	}
	return nil
}

// Who names the caller in each scope. An empty field is not limited.
type Who struct{ APIKey, Client, User string }

// MaxIDBytes bounds each field of [Who].
const MaxIDBytes = 512

// Request is one model call to admit.
type Request struct {
	Who Who
	// Model is the model asked for. It is not budgeted on its own: every
	// model draws on the same budgets.
	Model string
	// Tokens is the counted prompt tokens plus the completion tokens
	// reserved for the answer.
	Tokens int64
	// MaxTokens is the request's max_tokens (0: not set).
	MaxTokens int64
}

// Scopes and limits named by [Exceeded].
const (
	ScopeAPIKey = "api_key"
	ScopeClient = "client"
	ScopeUser   = "user"

	LimitRequestsPerMinute = "requests_per_minute"
	LimitTokensPerMinute   = "tokens_per_minute"
	LimitTokensPerDay      = "tokens_per_day"
	LimitConcurrent        = "concurrent"
	LimitMaxTokens         = "max_tokens"
)

// Exceeded is the error of a request over a budget: which scope's which
// limit, and when the same request would be admitted were nothing else
// charged meanwhile. RetryAfter 0 means never: the request itself is
// larger than the limit.
type Exceeded struct {
	Scope, Limit string
	RetryAfter   time.Duration
}

func (e *Exceeded) Error() string {
	if e.RetryAfter <= 0 {
		return fmt.Sprintf("limits: %s %s exceeded by the request itself", e.Scope, e.Limit)
	}
	return fmt.Sprintf("limits: %s %s exceeded; retry after %s", e.Scope, e.Limit, e.RetryAfter)
}

// Counters keeps the counts of a [Limiter]. Its methods take only
// primitive types, so that backends need not import this package.
//
// A window is named by a key and has a length W; its count at time t is
// the sliding-window estimate p·(W−e)/W + c over the fixed windows
// [k·W, (k+1)·W) with k = floor(t/W), e = t − k·W, c the count charged
// in window k and p in window k−1 (see the package comment). A slot set
// is named by a key and holds leases, each with an expiry.
//
// Methods are safe for concurrent use, and each is atomic against every
// other call on the same store, on every node that shares it.
type Counters interface {
	// Charge checks window i (keys[i], of length lengths[i]) for room for
	// amounts[i] under limits[i], and slot set j (slots[j]) for fewer than
	// slotLimits[j] unexpired leases; only if all have room, it adds
	// amounts[i] to each window and a lease named lease, expiring at
	// now+leaseTTL, to each slot set, and returns denied = -1. Otherwise
	// it changes nothing and returns the index of the window (i) or slot
	// set (len(keys)+j) that makes the request wait longest, and wait: how
	// long, as an upper bound, until the request would fit there were
	// nothing else charged (for a slot set, until its earliest lease
	// expires); wait < 0 when amounts[i] > limits[i], which never fits.
	Charge(ctx context.Context, now time.Time, keys []string, lengths []time.Duration, limits, amounts []int64,
		slots []string, slotLimits []int64, lease string, leaseTTL time.Duration) (denied int, wait time.Duration, err error)
	// Settle adds delta (which may be negative) to the windows keys[i] of
	// length lengths[i] as charged at time at: to the fixed window that
	// held at, if that is still the current or the previous one at now
	// (never taking it below zero), else, when delta is positive, to the
	// current one. Then it removes lease from the slot sets slots.
	Settle(ctx context.Context, at, now time.Time, keys []string, lengths []time.Duration, delta int64,
		slots []string, lease string) error
	// Extend sets the expiry of lease to now+leaseTTL in each slot set
	// slots that still holds it.
	Extend(ctx context.Context, now time.Time, slots []string, lease string, leaseTTL time.Duration) error
}

// Window lengths.
const (
	minute = time.Minute
	day    = 24 * time.Hour
)

// Limiter admits model calls within their budgets.
type Limiter struct {
	scopes   [3]scope
	counters Counters
	lease    time.Duration
	now      func() time.Time
	leaseID  string // this Limiter's random prefix of lease names
	seq      atomic.Uint64
}

type scope struct {
	name   string
	budget Budget
}

// New returns a Limiter for a valid cfg over counters.
func New(cfg Config, counters Counters) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	if counters == nil {
		return nil, errors.New("limits: no counters")
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	return &Limiter{
		scopes:   [3]scope{{ScopeAPIKey, cfg.APIKey}, {ScopeClient, cfg.Client}, {ScopeUser, cfg.User}},
		counters: counters,
		lease:    cfg.ConcurrencyLease,
		now:      time.Now,
		leaseID:  hex.EncodeToString(id[:]) + ".",
	}, nil
}

func (w Who) id(i int) string {
	switch i {
	case 0:
		return w.APIKey
	case 1:
		return w.Client
	}
	return w.User
}

// MaxTokens returns the smallest max_tokens budget that applies to w, or
// 0 when none does: what a proxy may put in a request that sets none.
func (l *Limiter) MaxTokens(w Who) int64 {
	var m int64
	for i, s := range l.scopes {
		if w.id(i) != "" && s.budget.MaxTokens > 0 && (m == 0 || s.budget.MaxTokens < m) {
			m = s.budget.MaxTokens
		}
	}
	return m
}

// Ticket is an admitted request's claim on its budgets; call [Ticket.Done]
// when the request ends.
type Ticket struct {
	l        *Limiter
	at       time.Time
	reserved int64
	keys     []string // token windows charged
	lengths  []time.Duration
	slots    []string
	lease    string
	done     atomic.Bool

	mu    sync.Mutex  // orders renewals with Done
	renew *time.Timer // renews the leases while the request runs
}

// Admit checks r against every budget that applies and charges them all,
// or nothing. It returns an [*Exceeded] when r is over a budget, and other
// errors when r is malformed or the store fails; the caller then refuses
// the request.
func (l *Limiter) Admit(ctx context.Context, r Request) (*Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case r.Tokens < 0 || r.Tokens > maxTokens:
		return nil, fmt.Errorf("limits: tokens %d not in [0, %d]", r.Tokens, int64(maxTokens))
	case r.MaxTokens < 0:
		return nil, fmt.Errorf("limits: max_tokens %d is negative", r.MaxTokens)
	}
	var (
		keys      []string
		lengths   []time.Duration
		limits    []int64
		amounts   []int64
		names     []name // of each window
		slots     []string
		slotLims  []int64
		slotNames []string // scope of each slot set
		tokenKeys []string
		tokenLens []time.Duration
	)
	for i, s := range l.scopes {
		id := r.Who.id(i)
		if id == "" {
			continue
		}
		if len(id) > MaxIDBytes {
			return nil, fmt.Errorf("limits: %s ID longer than %d bytes", s.name, MaxIDBytes)
		}
		b := s.budget
		if b.MaxTokens > 0 && r.MaxTokens > b.MaxTokens {
			return nil, &Exceeded{Scope: s.name, Limit: LimitMaxTokens}
		}
		base := s.name + ":" + id + ":"
		add := func(limit, kind string, length time.Duration, ceiling, n int64) *Exceeded {
			if ceiling == 0 {
				return nil
			}
			if n > ceiling {
				return &Exceeded{Scope: s.name, Limit: limit}
			}
			keys, lengths, limits, amounts = append(keys, base+kind), append(lengths, length), append(limits, ceiling), append(amounts, n)
			names = append(names, name{s.name, limit})
			if kind != "rpm" {
				tokenKeys, tokenLens = append(tokenKeys, base+kind), append(tokenLens, length)
			}
			return nil
		}
		if e := add(LimitRequestsPerMinute, "rpm", minute, b.RequestsPerMinute, 1); e != nil {
			return nil, e
		}
		if e := add(LimitTokensPerMinute, "tpm", minute, b.TokensPerMinute, r.Tokens); e != nil {
			return nil, e
		}
		if e := add(LimitTokensPerDay, "tpd", day, b.TokensPerDay, r.Tokens); e != nil {
			return nil, e
		}
		if b.Concurrent > 0 {
			slots, slotLims, slotNames = append(slots, base+"conc"), append(slotLims, b.Concurrent), append(slotNames, s.name)
		}
	}
	t := &Ticket{l: l, at: l.now(), reserved: r.Tokens, keys: tokenKeys, lengths: tokenLens, slots: slots}
	if len(keys) == 0 && len(slots) == 0 {
		return t, nil
	}
	if len(slots) > 0 {
		t.lease = l.leaseID + strconv.FormatUint(l.seq.Add(1), 36)
	}
	denied, wait, err := l.counters.Charge(ctx, t.at, keys, lengths, limits, amounts, slots, slotLims, t.lease, l.lease)
	switch {
	case err != nil:
		if len(slots) > 0 { // the store may have taken the leases before the error
			_ = l.counters.Settle(context.WithoutCancel(ctx), t.at, l.now(), nil, nil, 0, slots, t.lease)
		}
		return nil, fmt.Errorf("limits: %w", err)
	case denied < 0:
		if len(slots) > 0 {
			t.mu.Lock() // the timer may fire before AfterFunc returns
			t.renew = time.AfterFunc(l.lease/2, t.extend)
			t.mu.Unlock()
		}
		return t, nil
	case denied < len(keys):
		return nil, &Exceeded{Scope: names[denied].scope, Limit: names[denied].limit, RetryAfter: max(wait, 0)}
	case denied < len(keys)+len(slots):
		return nil, &Exceeded{Scope: slotNames[denied-len(keys)], Limit: LimitConcurrent, RetryAfter: max(wait, time.Millisecond)}
	}
	return nil, fmt.Errorf("limits: store refused index %d of %d", denied, len(keys)+len(slots))
}

// name names a window for [Exceeded].
type name struct{ scope, limit string }

// extend renews the ticket's leases, and schedules the next renewal
// unless the ticket is done. A failed renewal is not retried before the
// next: the leases may then expire early.
func (t *Ticket) extend() {
	if t.done.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.l.lease/2)
	_ = t.l.counters.Extend(ctx, t.l.now(), t.slots, t.lease, t.l.lease)
	cancel()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done.Load() {
		t.renew.Reset(t.l.lease / 2)
	}
}

// Done ends the request: it adds to or refunds from the token windows the
// difference between the tokens used and those reserved, and releases the
// concurrency slots. Only the first call counts; Done on a nil Ticket does
// nothing. It runs even when ctx is cancelled; store errors are dropped
// (leases then expire by themselves).
func (t *Ticket) Done(ctx context.Context, usedTokens int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	first := t.done.CompareAndSwap(false, true)
	if first && t.renew != nil {
		t.renew.Stop()
	}
	t.mu.Unlock()
	if !first {
		return
	}
	usedTokens = min(max(usedTokens, 0), maxTokens)
	delta := usedTokens - t.reserved
	keys, lengths := t.keys, t.lengths
	if delta == 0 {
		keys, lengths = nil, nil
	}
	if len(keys) == 0 && len(t.slots) == 0 {
		return
	}
	_ = t.l.counters.Settle(context.WithoutCancel(ctx), t.at, t.l.now(), keys, lengths, delta, t.slots, t.lease)
}
