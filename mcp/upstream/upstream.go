package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/sony/gobreaker/v2"
)

// Kinds of list whose changes [Upstream.OnListChanged] reports.
const (
	KindTools     = "tools"
	KindResources = "resources"
	KindPrompts   = "prompts"
)

// States of an upstream in [Health].
const (
	StateStarting = "starting" // the first connection has not finished
	StateUp       = "up"       // connected
	StateDown     = "down"     // not connected; reconnects on the next call
	StateOpen     = "open"     // the circuit breaker is open: calls fail fast
)

// Errors, matched with errors.Is. Every error from an [Upstream] names the
// upstream and the method.
var (
	// ErrCircuitOpen: the breaker is open and the request was not sent.
	ErrCircuitOpen = errors.New("circuit open")
	// ErrUnavailable: the upstream could not be reached or the connection
	// broke (transport errors, HTTP 5xx, a dead child).
	ErrUnavailable = errors.New("unavailable")
	// ErrTimeout: the request took longer than call_timeout.
	ErrTimeout = errors.New("timed out")
	// ErrResultTooLarge: the answer was larger than max_result_bytes.
	ErrResultTooLarge = errors.New("result too large")
	// ErrListTooLong: a list had more pages or items than the bounds.
	ErrListTooLong = errors.New("list too long")
	// ErrRPC: the upstream answered with a JSON-RPC error, which is
	// wrapped too (mcp.ErrMethodNotFound, ...). Never retried.
	ErrRPC = errors.New("JSON-RPC error")
	// ErrClosed: the upstream was closed.
	ErrClosed = errors.New("closed")
)

// Bounds on what a list may hold.
const (
	MaxListPages = 100
	MaxListItems = 10_000
)

// envelopeBytes is what a response may hold beyond max_result_bytes on the
// wire (JSON-RPC envelope, SSE framing) before the transport gives up on it.
const envelopeBytes = 64 << 10

// Health is a snapshot of an upstream's state, for /readyz and admin views.
// It never holds a header value or other secret.
type Health struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
	Calls     uint64    `json:"calls"`
	Failures  uint64    `json:"failures"`
	// Protocol is the MCP protocol version negotiated on the current or
	// last connection.
	Protocol string `json:"protocol,omitempty"`
}

// Upstream is one upstream MCP server: a connection made on [Upstream.Start]
// and remade when it breaks, with a timeout on every request, retries of
// what is safe to repeat and a circuit breaker. Its methods are safe for
// concurrent use.
type Upstream struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	headers map[string]string
	env     []string
	secrets []string
	breaker *gobreaker.CircuitBreaker[any]
	// dialer connects; tests replace it.
	dialer func(ctx context.Context) (*conn, error)

	life context.Context
	stop context.CancelFunc

	calls, failures atomic.Uint64

	mu          sync.Mutex
	conn        *conn
	dialing     chan struct{}
	dialErr     error
	retryAt     time.Time
	dialBackoff *backoff.ExponentialBackOff
	state       string
	since       time.Time
	lastErr     string
	protocol    string
	legacy      string // the legacy protocol version an HTTP server settled on
	everUp      bool
	closed      bool
	started     bool
	changed     chan struct{}

	// viaTransport: CallToolRaw posts through mcp-go's transport, not
	// its own (tests compare the two).
	viaTransport bool

	lmu       sync.RWMutex
	listeners []func(kind string)
	pending   [3]atomic.Bool
	notify    chan int
	wg        sync.WaitGroup
}

// New returns an upstream for cfg, which must be valid. getenv reads the
// secrets of headers and secret_env now; a missing secret is an error.
// log may be nil.
func New(cfg Config, getenv func(string) string, log *slog.Logger) (*Upstream, error) {
	return newUpstream(cfg, getenv, log, nil)
}

func newUpstream(cfg Config, getenv func(string) string, log *slog.Logger, m *metrics) (*Upstream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	u := &Upstream{
		cfg:     cfg,
		log:     log.With("upstream", cfg.Name),
		m:       m,
		state:   StateStarting,
		since:   time.Now(),
		changed: make(chan struct{}),
		notify:  make(chan int, 3),
		dialBackoff: &backoff.ExponentialBackOff{
			InitialInterval: 250 * time.Millisecond, RandomizationFactor: 0.5,
			Multiplier: 2, MaxInterval: 30 * time.Second,
		},
	}
	if err := u.resolveSecrets(getenv); err != nil {
		return nil, err
	}
	u.life, u.stop = context.WithCancel(context.Background())
	u.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        cfg.Name,
		MaxRequests: uint32(cfg.Breaker.HalfOpenMax),
		Timeout:     cfg.Breaker.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(cfg.Breaker.Failures)
		},
		IsSuccessful:  breakerSuccess,
		IsExcluded:    func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: u.breakerChanged,
	})
	if cfg.Transport == TransportHTTP {
		u.dialer = u.dialHTTP
	} else {
		u.dialer = u.dialStdio
	}
	u.m.setUp(cfg.Name, false)
	u.m.setOpen(cfg.Name, false)
	u.wg.Go(u.dispatch)
	return u, nil
}

// resolveSecrets reads the header values and the child's environment.
func (u *Upstream) resolveSecrets(getenv func(string) string) error {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if len(u.cfg.Headers) > 0 {
		u.headers = make(map[string]string, len(u.cfg.Headers))
	}
	for i, h := range u.cfg.Headers {
		v, err := h.Value.Resolve(getenv)
		if err != nil {
			return fmt.Errorf("headers[%d].value: %w", i, err)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("headers[%d].value: %s holds a line break or NUL", i, h.Value)
		}
		u.headers[h.Name] = v
		u.addSecret(v)
	}
	if u.cfg.Transport != TransportStdio {
		return nil
	}
	env := make(map[string]string, len(u.cfg.Env)+len(u.cfg.SecretEnv)+1)
	if p := getenv("PATH"); p != "" {
		env["PATH"] = p
	}
	for k, v := range u.cfg.Env {
		env[k] = v
	}
	for k, r := range u.cfg.SecretEnv {
		v, err := r.Resolve(getenv)
		if err != nil {
			return fmt.Errorf("secret_env.%s: %w", k, err)
		}
		env[k] = v
		u.addSecret(v)
	}
	for k, v := range env {
		u.env = append(u.env, k+"="+v)
	}
	slices.Sort(u.env)
	return nil
}

// addSecret remembers v, and the long words in it (the token of
// "Bearer <token>"), for redaction.
func (u *Upstream) addSecret(v string) {
	u.secrets = append(u.secrets, v)
	for _, f := range strings.Fields(v) {
		if len(f) >= 8 && f != v {
			u.secrets = append(u.secrets, f)
		}
	}
	// Longest first, so that a word inside a value does not break up the
	// value's redaction.
	slices.SortFunc(u.secrets, func(a, b string) int { return len(b) - len(a) })
}

// redact replaces the secrets in s.
func (u *Upstream) redact(s string) string {
	for _, v := range u.secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "REDACTED")
		}
	}
	return s
}

// Name returns the upstream's configured name.
func (u *Upstream) Name() string { return u.cfg.Name }

// Prefix returns the prefix the gateway puts in front of the upstream's
// names: the configured prefix, or Name + "__" when none is configured.
func (u *Upstream) Prefix() string { return u.cfg.ResolvedPrefix() }

// Config returns the upstream's configuration with the defaults filled in.
func (u *Upstream) Config() Config { return u.cfg }

// Start connects and initializes. On failure the upstream stays down, keeps
// reconnecting in the background with backoff until it succeeds or is
// closed, and Start returns the error. Start bounds itself with
// connect_timeout; ctx may end it sooner.
func (u *Upstream) Start(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return u.wrap("connect", ErrClosed, nil)
	}
	first := !u.started
	u.started = true
	u.mu.Unlock()
	_, err := u.getConn(ctx)
	if err != nil && first {
		u.wg.Go(u.reconnectLoop)
	}
	return err
}

// reconnectLoop dials until a connection stands or the upstream closes.
func (u *Upstream) reconnectLoop() {
	for {
		u.mu.Lock()
		wait := time.Until(u.retryAt)
		up := u.conn != nil
		u.mu.Unlock()
		if up {
			return
		}
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-u.life.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := u.getConn(u.life); err == nil || errors.Is(err, ErrClosed) {
			return
		}
	}
}

// Capabilities returns the capabilities the server declared on the current
// or last connection; the zero value before the first.
func (u *Upstream) Capabilities() mcp.ServerCapabilities {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn != nil {
		return u.conn.caps
	}
	return mcp.ServerCapabilities{}
}

// OnListChanged registers fn to be called, on a goroutine of the upstream's,
// with KindTools, KindResources or KindPrompts when the server says that
// list changed, and with all three after a reconnection, when changes may
// have been missed. Notifications that arrive while fn runs are coalesced.
func (u *Upstream) OnListChanged(fn func(kind string)) {
	u.lmu.Lock()
	defer u.lmu.Unlock()
	u.listeners = append(u.listeners, fn)
}

var kinds = [3]string{KindTools, KindResources, KindPrompts}

// listChanged queues a notification of kind k (an index into kinds).
func (u *Upstream) listChanged(k int) {
	if !u.pending[k].Swap(true) {
		select {
		case u.notify <- k:
		default:
		}
	}
}

// dispatch calls the listeners, until the upstream closes.
func (u *Upstream) dispatch() {
	for {
		select {
		case <-u.life.Done():
			return
		case k := <-u.notify:
			u.pending[k].Store(false)
			u.lmu.RLock()
			ls := slices.Clone(u.listeners)
			u.lmu.RUnlock()
			for _, fn := range ls {
				fn(kinds[k])
			}
		}
	}
}

// Health returns a snapshot of the upstream's state.
func (u *Upstream) Health() Health {
	u.mu.Lock()
	h := Health{
		Name: u.cfg.Name, State: u.state, LastError: u.lastErr, Since: u.since,
		Protocol: u.protocol,
	}
	u.mu.Unlock()
	if u.breaker.State() == gobreaker.StateOpen {
		h.State = StateOpen
	}
	h.Calls, h.Failures = u.calls.Load(), u.failures.Load()
	return h
}

// Close closes the connection (ending an HTTP session, killing and reaping
// a stdio child) and stops reconnecting. Calls fail with ErrClosed after.
func (u *Upstream) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	c := u.conn
	u.conn = nil
	u.mu.Unlock()
	u.stop()
	var err error
	if c != nil {
		err = c.close()
	}
	u.wg.Wait()
	u.setState(StateDown, ErrClosed)
	return err
}

// setState records a state change, logging it and updating the gauge.
func (u *Upstream) setState(state string, cause error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.setStateLocked(state, cause)
}

func (u *Upstream) setStateLocked(state string, cause error) {
	if cause != nil {
		u.lastErr = u.redact(cause.Error())
	}
	if u.state == state {
		return
	}
	u.state, u.since = state, time.Now()
	close(u.changed)
	u.changed = make(chan struct{})
	u.m.setUp(u.cfg.Name, state == StateUp)
	if state == StateUp {
		u.log.Info("upstream up", "protocol", u.protocol)
	} else if !u.closed {
		u.log.Warn("upstream "+state, "err", u.lastErr)
	}
}

func (u *Upstream) breakerChanged(_ string, from, to gobreaker.State) {
	u.m.setOpen(u.cfg.Name, to == gobreaker.StateOpen)
	u.log.Warn("upstream circuit breaker", "from", from.String(), "to", to.String())
	u.mu.Lock()
	close(u.changed)
	u.changed = make(chan struct{})
	u.mu.Unlock()
}

// getConn returns the live connection, dialing when there is none. Only one
// dial runs at a time; after a failed dial, calls fail fast until the
// backoff has passed.
func (u *Upstream) getConn(ctx context.Context) (*conn, error) {
	for {
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			return nil, ErrClosed
		}
		if c := u.conn; c != nil {
			if !c.dead() {
				u.mu.Unlock()
				return c, nil
			}
			u.conn = nil
			u.setStateLocked(StateDown, c.cause())
			go c.close()
		}
		if ch := u.dialing; ch != nil {
			u.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if wait := time.Until(u.retryAt); wait > 0 {
			err := u.dialErr
			u.mu.Unlock()
			return nil, fmt.Errorf("%w (next attempt in %s)", err, wait.Round(time.Millisecond))
		}
		ch := make(chan struct{})
		u.dialing = ch
		u.mu.Unlock()
		go u.dial(ch)
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// dial connects once, recording the outcome, and closes ch.
func (u *Upstream) dial(ch chan struct{}) {
	ctx, cancel := context.WithTimeout(u.life, u.cfg.ConnectTimeout)
	start := time.Now()
	c, err := u.dialer(ctx)
	if err != nil {
		err = u.classify("connect", ctx, u.life, nil, err)
	}
	cancel()
	u.m.observe(u.cfg.Name, "connect", outcome(err), time.Since(start))
	u.mu.Lock()
	defer func() {
		u.dialing = nil
		close(ch)
		u.mu.Unlock()
	}()
	if err == nil && u.closed {
		go c.close()
		err = ErrClosed
	}
	if err != nil {
		u.dialErr = err
		u.retryAt = time.Now().Add(u.dialBackoff.NextBackOff())
		u.setStateLocked(StateDown, err)
		return
	}
	u.conn = c
	if c.dead() { // it broke already: lost found no u.conn to clear
		go u.lost(c)
	}
	u.protocol = c.version
	if c.legacy {
		u.legacy = c.version
	}
	u.dialErr, u.retryAt = nil, time.Time{}
	u.dialBackoff.Reset()
	again := u.everUp
	u.everUp = true
	u.setStateLocked(StateUp, nil)
	if again {
		for k := range kinds {
			u.listChanged(k)
		}
	}
}

// lost forgets c, which broke, if it is the current connection: the
// upstream is down until the next call connects again.
func (u *Upstream) lost(c *conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn != c || u.closed {
		return
	}
	u.conn = nil
	u.setStateLocked(StateDown, c.cause())
	go c.close()
}

// waitChange returns a channel closed at the next change of state.
func (u *Upstream) waitChange() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.changed
}

// Tools lists the upstream's tools, following the cursors.
func (u *Upstream) Tools(ctx context.Context) ([]mcp.Tool, error) {
	return list(ctx, u, string(mcp.MethodToolsList), func(ctx context.Context, c *client.Client, cur mcp.Cursor) ([]mcp.Tool, mcp.Cursor, error) {
		var req mcp.ListToolsRequest
		req.Params.Cursor = cur
		r, err := c.ListToolsByPage(ctx, req)
		if err != nil {
			return nil, "", err
		}
		return r.Tools, r.NextCursor, nil
	})
}

// Resources lists the upstream's resources, following the cursors.
func (u *Upstream) Resources(ctx context.Context) ([]mcp.Resource, error) {
	return list(ctx, u, string(mcp.MethodResourcesList), func(ctx context.Context, c *client.Client, cur mcp.Cursor) ([]mcp.Resource, mcp.Cursor, error) {
		var req mcp.ListResourcesRequest
		req.Params.Cursor = cur
		r, err := c.ListResourcesByPage(ctx, req)
		if err != nil {
			return nil, "", err
		}
		return r.Resources, r.NextCursor, nil
	})
}

// ResourceTemplates lists the upstream's resource templates, following the
// cursors.
func (u *Upstream) ResourceTemplates(ctx context.Context) ([]mcp.ResourceTemplate, error) {
	return list(ctx, u, string(mcp.MethodResourcesTemplatesList), func(ctx context.Context, c *client.Client, cur mcp.Cursor) ([]mcp.ResourceTemplate, mcp.Cursor, error) {
		var req mcp.ListResourceTemplatesRequest
		req.Params.Cursor = cur
		r, err := c.ListResourceTemplatesByPage(ctx, req)
		if err != nil {
			return nil, "", err
		}
		return r.ResourceTemplates, r.NextCursor, nil
	})
}

// Prompts lists the upstream's prompts, following the cursors.
func (u *Upstream) Prompts(ctx context.Context) ([]mcp.Prompt, error) {
	return list(ctx, u, string(mcp.MethodPromptsList), func(ctx context.Context, c *client.Client, cur mcp.Cursor) ([]mcp.Prompt, mcp.Cursor, error) {
		var req mcp.ListPromptsRequest
		req.Params.Cursor = cur
		r, err := c.ListPromptsByPage(ctx, req)
		if err != nil {
			return nil, "", err
		}
		return r.Prompts, r.NextCursor, nil
	})
}

// list follows cursors page by page, each page one request, within
// MaxListPages and MaxListItems; a cursor seen before is an error.
func list[T any](ctx context.Context, u *Upstream, method string, page func(context.Context, *client.Client, mcp.Cursor) ([]T, mcp.Cursor, error)) ([]T, error) {
	var all []T
	var cur mcp.Cursor
	seen := map[mcp.Cursor]bool{}
	for range MaxListPages {
		type pageResult struct {
			items []T
			next  mcp.Cursor
		}
		r, err := call(ctx, u, method, true, func(ctx context.Context, c *client.Client) (pageResult, error) {
			items, next, err := page(ctx, c, cur)
			return pageResult{items, next}, err
		})
		if err != nil {
			return nil, err
		}
		if len(all)+len(r.items) > MaxListItems {
			return nil, u.wrap(method, ErrListTooLong, fmt.Errorf("more than %d items", MaxListItems))
		}
		all = append(all, r.items...)
		if r.next == "" {
			return all, nil
		}
		if seen[r.next] {
			return nil, u.wrap(method, ErrRPC, errors.New("the server repeated a cursor"))
		}
		seen[r.next] = true
		cur = r.next
	}
	return nil, u.wrap(method, ErrListTooLong, fmt.Errorf("more than %d pages", MaxListPages))
}

// Repeatable reports whether calling t twice is safe: its annotations say
// it is read-only or idempotent.
func Repeatable(t mcp.Tool) bool {
	a := t.Annotations
	return a.ReadOnlyHint != nil && *a.ReadOnlyHint || a.IdempotentHint != nil && *a.IdempotentHint
}

// CallTool calls the tool t.Name with args and meta (which may be nil). The
// call is retried only if [Repeatable](t): pass the tool as listed by the
// upstream, or just its name to make sure it is sent at most once. A tool
// that fails returns a result with IsError set, not an error.
func (u *Upstream) CallTool(ctx context.Context, t mcp.Tool, args map[string]any, meta *mcp.Meta) (*mcp.CallToolResult, error) {
	const method = string(mcp.MethodToolsCall)
	r, err := call(ctx, u, method, Repeatable(t), func(ctx context.Context, c *client.Client) (*mcp.CallToolResult, error) {
		var req mcp.CallToolRequest
		req.Params.Name = t.Name
		req.Params.Meta = meta
		if args != nil {
			req.Params.Arguments = args
		}
		return c.CallTool(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return r, u.checkSize(method, r)
}

// ReadResource reads the resource at uri.
func (u *Upstream) ReadResource(ctx context.Context, uri string) (*mcp.ReadResourceResult, error) {
	const method = string(mcp.MethodResourcesRead)
	r, err := call(ctx, u, method, true, func(ctx context.Context, c *client.Client) (*mcp.ReadResourceResult, error) {
		var req mcp.ReadResourceRequest
		req.Params.URI = uri
		return c.ReadResource(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return r, u.checkSize(method, r)
}

// GetPrompt renders the prompt name with args.
func (u *Upstream) GetPrompt(ctx context.Context, name string, args map[string]string) (*mcp.GetPromptResult, error) {
	const method = string(mcp.MethodPromptsGet)
	r, err := call(ctx, u, method, true, func(ctx context.Context, c *client.Client) (*mcp.GetPromptResult, error) {
		var req mcp.GetPromptRequest
		req.Params.Name = name
		req.Params.Arguments = args
		return c.GetPrompt(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return r, u.checkSize(method, r)
}

// checkSize fails a result whose JSON is larger than max_result_bytes.
func (u *Upstream) checkSize(method string, r any) error {
	b, err := json.Marshal(r)
	if err != nil {
		return u.wrap(method, ErrRPC, fmt.Errorf("encode the result: %w", err))
	}
	if int64(len(b)) > u.cfg.MaxResultBytes {
		return u.wrap(method, ErrResultTooLarge, fmt.Errorf("%d bytes, more than max_result_bytes (%d)", len(b), u.cfg.MaxResultBytes))
	}
	return nil
}

// attempt is what the HTTP transport learns of one request: put in the
// request's context.
type attempt struct {
	status   atomic.Int32
	tooLarge atomic.Bool
}

type attemptKey struct{}

// errCallerGone marks an attempt ended by the caller's context: not the
// upstream's fault, so the breaker does not count it.
var errCallerGone = errors.New("caller went away")

// call runs one request under the breaker, a timeout per attempt, and
// retries when repeat is set and the failure is a transport one.
func call[T any](ctx context.Context, u *Upstream, method string, repeat bool, fn func(context.Context, *client.Client) (T, error)) (T, error) {
	return callConn(ctx, u, method, repeat, func(ctx context.Context, c *conn) (T, error) { return fn(ctx, c.client) })
}

// callConn is call with the connection.
func callConn[T any](ctx context.Context, u *Upstream, method string, repeat bool, fn func(context.Context, *conn) (T, error)) (T, error) {
	u.calls.Add(1)
	tries := uint(1)
	if repeat {
		tries += uint(*u.cfg.Retries.Max)
	}
	resent, n := false, uint(0)
	op := func() (T, error) {
		var zero T
		n++
		a := &attempt{}
		actx, cancel := context.WithTimeout(context.WithValue(ctx, attemptKey{}, a), u.cfg.CallTimeout)
		defer cancel()
		start := time.Now()
		var c *conn
		out, err := u.breaker.Execute(func() (any, error) {
			var err error
			if c, err = u.getConn(actx); err != nil {
				return nil, u.classify(method, actx, ctx, nil, err)
			}
			r, err := fn(actx, c)
			if err != nil {
				return nil, u.classify(method, actx, ctx, c, err, a)
			}
			return r, nil
		})
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			err = u.wrap(method, ErrCircuitOpen, nil)
		}
		u.m.observe(u.cfg.Name, method, outcome(err), time.Since(start))
		if err == nil {
			return out.(T), nil
		}
		// A session the server no longer knows was refused before it was
		// looked at: sending again on a new session is safe, once.
		if errors.Is(err, transport.ErrSessionTerminated) && !resent {
			resent = true
			return zero, err
		}
		if !repeat || !retryable(err) || n >= tries {
			return zero, backoff.Permanent(err)
		}
		return zero, err
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval: u.cfg.Retries.InitialBackoff, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: u.cfg.Retries.MaxBackoff,
	}
	r, err := backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxTries(tries+1), backoff.WithMaxElapsedTime(0))
	if err != nil {
		var zero T
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			if _, ok := errors.AsType[*callError](err); !ok {
				err = u.wrap(method, errCallerGone, err)
			}
		}
		if !errors.Is(err, ErrRPC) && !errors.Is(err, errCallerGone) {
			u.failures.Add(1)
		}
		return zero, err
	}
	return r, nil
}

// retryable reports whether err is worth another attempt: a transport
// failure, a timeout, or a session the server forgot.
func retryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout)
}

// breakerSuccess reports whether err leaves the upstream healthy: the
// server answered, even if with a JSON-RPC error or too much.
func breakerSuccess(err error) bool {
	return err == nil || errors.Is(err, ErrRPC) || errors.Is(err, ErrResultTooLarge) || errors.Is(err, ErrListTooLong)
}

// classify turns an error of mcp-go into one of the package's. actx is the
// attempt's context, ctx the caller's, c the connection used (nil when
// connecting), a the attempt's HTTP state.
func (u *Upstream) classify(method string, actx, ctx context.Context, c *conn, err error, a ...*attempt) error {
	if _, ok := errors.AsType[*callError](err); ok {
		return err
	}
	if errors.Is(err, ErrClosed) {
		return u.wrap(method, ErrClosed, nil)
	}
	if ctx.Err() != nil {
		return u.wrap(method, errCallerGone, ctx.Err())
	}
	if len(a) > 0 && a[0].tooLarge.Load() || c != nil && c.tooLarge.Load() {
		if c != nil && c.tooLarge.Load() {
			c.kill(errors.New("a message was larger than max_result_bytes"))
		}
		return u.wrap(method, ErrResultTooLarge, fmt.Errorf("more than max_result_bytes (%d) on the wire", u.cfg.MaxResultBytes))
	}
	if actx.Err() != nil {
		if method == "connect" {
			return u.wrap(method, ErrTimeout, fmt.Errorf("no answer within connect_timeout (%s)", u.cfg.ConnectTimeout))
		}
		return u.wrap(method, ErrTimeout, fmt.Errorf("no answer within call_timeout (%s)", u.cfg.CallTimeout))
	}
	if _, ok := errors.AsType[*transport.Error](err); !ok && method != "connect" {
		// The server answered with a JSON-RPC error, or an answer that
		// did not decode.
		return u.wrap(method, ErrRPC, err)
	}
	status := 0
	if len(a) > 0 {
		status = int(a[0].status.Load())
	}
	switch {
	case errors.Is(err, transport.ErrSessionTerminated):
		if c != nil {
			c.kill(errors.New("the server ended the session"))
		}
		return u.wrap(method, ErrUnavailable, err, transport.ErrSessionTerminated)
	case status >= 400 && status < 500:
		// 401, 403 and the like: the request is wrong, not the network.
		return u.wrap(method, ErrRPC, fmt.Errorf("HTTP status %d", status))
	}
	if c != nil {
		c.kill(err)
	}
	return u.wrap(method, ErrUnavailable, err)
}

// callError is an error of an upstream request.
type callError struct {
	upstream, method string
	kind             error
	extra            error // another sentinel the error matches
	err              error
	msg              string
}

func (e *callError) Error() string { return e.msg }

func (e *callError) Unwrap() []error {
	out := []error{e.kind}
	if e.extra != nil {
		out = append(out, e.extra)
	}
	if e.err != nil {
		out = append(out, e.err)
	}
	return out
}

// wrap returns an error of kind for method, with cause, redacted.
func (u *Upstream) wrap(method string, kind, cause error, extra ...error) error {
	e := &callError{upstream: u.cfg.Name, method: method, kind: kind, err: cause}
	if len(extra) > 0 {
		e.extra = extra[0]
	}
	e.msg = "upstream " + u.cfg.Name + ": " + method + ": " + kind.Error()
	if cause != nil {
		text := cause.Error()
		if red := u.redact(text); red != text {
			// Keep the sentinels the cause matches, but not its text.
			e.err = errors.New(red)
			for _, s := range []error{transport.ErrSessionTerminated, context.DeadlineExceeded, context.Canceled} {
				if errors.Is(cause, s) {
					e.err = &redacted{msg: red, is: s}
					break
				}
			}
			text = red
		}
		e.msg += ": " + text
	}
	return e
}

// redacted is a cause whose text held a secret.
type redacted struct {
	msg string
	is  error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.is }

// outcome names err for the requests metric.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrCircuitOpen):
		return "circuit_open"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrResultTooLarge), errors.Is(err, ErrListTooLong):
		return "too_large"
	case errors.Is(err, ErrRPC):
		return "rpc_error"
	case errors.Is(err, errCallerGone):
		return "canceled"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	return "unavailable"
}

// noRedirect refuses redirects: a redirect would carry the configured
// headers to wherever the upstream points.
func noRedirect(*http.Request, []*http.Request) error {
	return errors.New("redirects are not followed")
}
