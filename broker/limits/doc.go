// Package limits keeps the LLM proxy's budgets (OWASP LLM10, unbounded
// consumption): per API key, per OAuth client and per user, requests per
// minute, tokens per minute and per day, concurrent requests, and the
// largest max_tokens one request may ask for.
//
// A [Limiter] is configured by [Config] and keeps its counts in a
// [Counters] store: store/bolt keeps them in the node's memory (the daily
// counts also in its file), store/redis in Redis, shared by every node.
// The proxy calls [Limiter.Admit] before a model call, with the prompt's
// counted tokens plus the completion tokens it reserves, and
// [Ticket.Done] after it with the tokens the upstream reports as used.
//
// # Algorithm
//
// Every rate (requests per minute, tokens per minute, tokens per day) is a
// sliding-window counter, approximated over two fixed windows of the
// rate's length W as Cloudflare and NGINX describe it: with p the count of
// the previous fixed window, c the count of the current one and e the time
// elapsed in the current one, the estimated count of the last W is
//
//	p·(W−e)/W + c
//
// and a request of n is admitted when that plus n is at most the limit.
// The estimate never rises without a charge, so the earliest time at which
// a refused request would be admitted, were nothing else charged, is found
// in closed form per window; [Exceeded.RetryAfter] is the largest of these
// (plus one millisecond for rounding) over the windows that refused, which
// makes it an upper bound: the same request retried after it is admitted
// unless other requests were charged meanwhile. Concurrency is a set of
// leases per scope, each expiring [Config.ConcurrencyLease] after it was
// taken unless the ticket releases it first (a ticket renews its leases
// while its request runs, so only a crashed node's leases expire); a
// refusal's RetryAfter is the time until the earliest lease expires, an
// upper bound that releases usually beat.
//
// Admit checks every window and slot of every scope that applies and then
// charges them all, or charges nothing: a refused request consumes no
// budget. Tokens are charged when the request is admitted, as reserved;
// Done adds or refunds the difference to the windows charged (a refund
// never takes a count below zero), so a request that used more than it
// reserved can take a count over its limit and delay the next ones.
//
// A request that could never be admitted gets a RetryAfter of 0: one whose
// MaxTokens exceeds a max_tokens budget (Limit "max_tokens"), or whose
// Tokens alone exceed a tokens_per_minute or tokens_per_day limit.
//
// # Stores
//
// store/redis keeps every count in Redis, shared by all nodes: one Lua
// script, one round trip, per Admit and per Done; keys expire when their
// counts are stale. A Redis restart keeps what its persistence keeps.
//
// store/bolt keeps the counts of one node in memory, behind one mutex, so
// that the hot path never writes the file; the daily windows are written
// behind to the bbolt file at most every second and read back when the
// node starts. A crash loses at most the last second of daily charges;
// minute windows and concurrency leases start empty after any restart
// (erring on the caller's side by at most one minute's budget).
//
// # Security
//
// Admit fails closed: a store error is returned as an error (not an
// [Exceeded]) and the caller refuses the request. Ticket.Done runs even
// when the request's context is cancelled (a client that hangs up
// mid-stream still pays for what it used); if the store fails then, the
// leases expire by themselves after ConcurrencyLease. Errors name scopes
// and limits, never the API key, client or user.
package limits
