package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/subzero-gateway/subzero/guard"
)

// Routes, as the guard's policy and the audit trail name them.
const (
	RouteChat       = "v1/chat/completions"
	RouteEmbeddings = "v1/embeddings"
	RouteModels     = "v1/models"
)

// Caller is who calls the proxy, as the node's authentication middleware
// established it.
type Caller struct {
	Subject  string // the user (or the client, for client credentials)
	ClientID string // the OAuth client
	APIKeyID string // the Subzero API key's ID, when the call used one
	// Models is the API key's model scope: model names or patterns ('*'
	// any run of characters) the key may use; nil means any.
	Models []string
	// Chain is the delegation chain, outermost actor first.
	Chain []string
}

type callerKey struct{}

// WithCaller returns ctx carrying c; the proxy refuses requests without one.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Authorizer decides whether a caller may use a model (as the client named
// it: an alias or a model). A non-nil error denies; its text is logged,
// never sent to the client. Safe for concurrent use.
type Authorizer interface {
	AllowModel(ctx context.Context, c Caller, model string) error
}

// Recorder receives one event per call, denials and failures included.
// Record must not block for long: it runs before the handler returns.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Event is the audit record of one call. It holds no prompt or answer
// text (the findings come without their excerpts): ContentHash is the hex SHA-256 of the messages as received, a
// zero byte, and the answer's content as delivered.
type Event struct {
	Endpoint      string // RouteChat, RouteEmbeddings, RouteModels
	Caller        Caller
	Model         string // as the client asked
	Upstream      string // the upstream that answered (or failed last)
	UpstreamModel string
	// PromptTokens and CompletionTokens come from the upstream's usage,
	// or are counted when it gives none (TokensCounted).
	PromptTokens     int64
	CompletionTokens int64
	TokensCounted    bool
	Findings         []guard.Finding
	Decision         string // "allow", "deny", "block" or "error"
	Reason           string
	Status           int
	Latency          time.Duration
	ContentHash      string
	Stream           bool
}

// Leak registers system prompts with the guard's leak detector
// (*output.Leak) for the time of a call.
type Leak interface {
	Register(systemPrompt string) error
	Unregister(systemPrompt string)
}

// Deps are the proxy's collaborators. Guard, Leak, Authorizer, Limiter and
// Recorder may be nil: no scans, no echo detection, no authorization
// beyond the caller's scope, no budgets, no events.
type Deps struct {
	Guard      guard.Scanner
	Leak       Leak
	Authorizer Authorizer
	Limiter    Limiter
	Recorder   Recorder
	Logger     *slog.Logger
	// GetEnv resolves the upstreams' API key references (os.Getenv).
	GetEnv func(string) string
}

// target is one place a model can be sent to.
type target struct {
	up    *upstream
	model string
}

// Proxy is the OpenAI-compatible proxy, an http.Handler for /v1. Safe for
// concurrent use.
type Proxy struct {
	cfg       Config
	deps      Deps
	log       *slog.Logger
	transport *http.Transport
	ups       []*upstream
	byModel   map[string][]target // plain and "upstream/model" names
	aliases   map[string][]target
	names     []string // the models and aliases /v1/models lists, sorted

	leakMu   sync.Mutex
	leakRefs map[[32]byte]int
}

// New validates cfg, resolves the upstreams' keys and returns the proxy.
func New(cfg Config, deps Deps) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.GetEnv == nil {
		deps.GetEnv = func(string) string { return "" }
	}
	p := &Proxy{
		cfg: cfg, deps: deps, log: deps.Logger, transport: newTransport(),
		byModel: map[string][]target{}, aliases: map[string][]target{}, leakRefs: map[[32]byte]int{},
	}
	client := &http.Client{Transport: p.transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // never follow a redirect with the key
	}}
	byName := map[string]*upstream{}
	seen := map[string]bool{}
	for i, uc := range cfg.Upstreams {
		u, err := newUpstream(uc, deps.GetEnv, client)
		if err != nil {
			return nil, fmt.Errorf("%s.upstreams[%d].%w", KeyPath, i, err)
		}
		p.ups = append(p.ups, u)
		byName[uc.Name] = u
		for _, m := range uc.Models {
			p.byModel[m] = append(p.byModel[m], target{u, m})
			p.byModel[uc.Name+"/"+m] = []target{{u, m}}
			if !seen[m] {
				seen[m] = true
				p.names = append(p.names, m)
			}
		}
	}
	for alias, ts := range cfg.Aliases {
		for _, t := range ts {
			up, model, _ := strings.Cut(t, "/")
			p.aliases[alias] = append(p.aliases[alias], target{byName[up], model})
		}
		p.names = append(p.names, alias)
	}
	slices.Sort(p.names)
	return p, nil
}

// Close closes idle upstream connections.
func (p *Proxy) Close() error {
	p.transport.CloseIdleConnections()
	return nil
}

// Health returns the state of each upstream, in configuration order.
func (p *Proxy) Health() []Health {
	hs := make([]Health, len(p.ups))
	for i, u := range p.ups {
		hs[i] = u.health()
	}
	return hs
}

// route returns the targets of a model name: an alias's, the upstreams
// serving a model in configuration order, or one "upstream/model".
func (p *Proxy) route(model string) []target {
	if ts, ok := p.aliases[model]; ok {
		return ts
	}
	return p.byModel[model]
}

// ServeHTTP serves POST /v1/chat/completions, POST /v1/embeddings, GET
// /v1/models and GET /v1/models/{model}; anything else is a JSON 404 or
// 405.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/v1/chat/completions":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, http.MethodPost)
			return
		}
		p.chat(w, r)
	case path == "/v1/embeddings":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, http.MethodPost)
			return
		}
		p.embeddings(w, r)
	case path == "/v1/models" || strings.HasPrefix(path, "/v1/models/"):
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, http.MethodGet)
			return
		}
		p.models(w, r, strings.TrimPrefix(strings.TrimPrefix(path, "/v1/models"), "/"))
	default:
		(&apiError{Status: http.StatusNotFound, Type: "invalid_request_error",
			Message: fmt.Sprintf("Invalid URL (%s %s)", clip(r.Method, 16), clip(path, 256))}).write(w)
	}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	(&apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error",
		Message: fmt.Sprintf("Invalid method for URL (%s %s)", clip(r.Method, 16), r.URL.Path)}).write(w)
}

// call is the state of one call, recorded when it ends.
type call struct {
	p      *Proxy
	start  time.Time
	ev     Event
	hash   hash.Hash
	done   func(ctx context.Context, used int64) // the budget ticket, or nil
	used   int64
	caller Caller
}

func (p *Proxy) begin(r *http.Request, endpoint string) *call {
	c := &call{p: p, start: time.Now(), ev: Event{Endpoint: endpoint, Decision: "allow", Status: http.StatusOK}}
	c.caller, _ = CallerFrom(r.Context())
	c.ev.Caller = c.caller
	return c
}

// finish releases the budget ticket and records the event. It runs once,
// on every exit.
func (c *call) finish(ctx context.Context) {
	if c.done != nil {
		c.done(context.WithoutCancel(ctx), c.used)
	}
	c.ev.Latency = time.Since(c.start)
	if c.hash != nil {
		c.ev.ContentHash = hex.EncodeToString(c.hash.Sum(nil))
	}
	if c.p.deps.Recorder != nil {
		c.p.deps.Recorder.Record(context.WithoutCancel(ctx), c.ev)
	}
}

// fail sends e and records it.
func (c *call) fail(w http.ResponseWriter, e *apiError) {
	c.ev.Status = e.Status
	c.ev.Decision = e.Decision
	if c.ev.Decision == "" {
		c.ev.Decision = "error"
	}
	c.ev.Reason = e.Reason
	if c.ev.Reason == "" {
		c.ev.Reason = e.Message
	}
	e.write(w)
}

// startHash starts the content hash with the prompt.
func (c *call) startHash(prompt []byte) {
	c.hash = sha256.New()
	c.hash.Write(prompt)
	c.hash.Write([]byte{0})
}

var errNoCaller = &apiError{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
	Message: "You didn't provide a valid access token or API key.", Decision: "deny", Reason: "no caller"}

// readBody reads the body of a caller's request up to the limit; a
// request the node let through without a caller is refused first.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if _, ok := CallerFrom(r.Context()); !ok {
		return nil, errNoCaller
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
				Message: fmt.Sprintf("The request body is larger than %d bytes.", p.cfg.MaxBodyBytes), Decision: "deny"}
		}
		return nil, &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: "Could not read the request body.", Decision: "deny"}
	}
	if len(body) == 0 {
		return nil, invalid("", "", "We could not parse the JSON body of your request. The API expects a JSON object.")
	}
	return body, nil
}

// authorize checks the caller's API-key scope and the authorizer.
func (p *Proxy) authorize(ctx context.Context, c Caller, model string) *apiError {
	deny := &apiError{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "permission_denied", Param: "model",
		Message: fmt.Sprintf("You are not allowed to use the model `%s`.", clip(model, 256)), Decision: "deny"}
	if !inScope(c, model) {
		deny.Reason = "model outside the API key's scope"
		return deny
	}
	if p.deps.Authorizer != nil {
		if err := p.deps.Authorizer.AllowModel(ctx, c, model); err != nil {
			deny.Reason = "authorizer: " + err.Error()
			return deny
		}
	}
	return nil
}

func inScope(c Caller, model string) bool {
	if c.Models == nil {
		return true
	}
	for _, m := range c.Models {
		if guard.Match(m, model) {
			return true
		}
	}
	return false
}

func modelNotFound(model string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", clip(model, 256)), Decision: "deny"}
}

// scanInput runs the guard over a prompt (JSON) and returns the verdict;
// a block or a failure is an error to send.
func (p *Proxy) scanInput(ctx context.Context, c *call, route string, data []byte) (guard.Verdict, *apiError) {
	v, err := p.deps.Guard.Scan(ctx, guard.Input{Direction: guard.Prompt, JSON: data,
		Meta: guard.Meta{Route: route, Client: c.caller.ClientID}})
	if err != nil {
		if errors.Is(err, guard.ErrTooLarge) {
			return v, &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
				Message: "The prompt is too large to inspect.", Decision: "deny", Reason: "guard: " + err.Error()}
		}
		p.log.Error("guard scan failed", "route", route, "err", err)
		return v, &apiError{Status: http.StatusInternalServerError, Type: "server_error",
			Message: "The request could not be inspected.", Reason: "guard: " + err.Error()}
	}
	c.ev.Findings = appendFindings(c.ev.Findings, v.Findings...)
	if v.Action == guard.Block {
		return v, policyError("The request was blocked by the gateway's content policy", v.Findings)
	}
	return v, nil
}

// appendFindings appends findings to an event's without their excerpts,
// which quote the content around them.
func appendFindings(dst []guard.Finding, fs ...guard.Finding) []guard.Finding {
	for _, f := range fs {
		f.Excerpt = ""
		dst = append(dst, f)
	}
	return dst
}

// policyError is the error for blocked content: it names the classes of
// the findings, never the content.
func policyError(what string, fs []guard.Finding) *apiError {
	var classes []string
	for _, f := range fs {
		s := string(f.Class) + " (" + string(f.Category) + ")"
		if !slices.Contains(classes, s) {
			classes = append(classes, s)
		}
	}
	slices.Sort(classes)
	msg := what + ": " + strings.Join(classes, ", ") + "."
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "content_policy_violation",
		Message: msg, Decision: "block", Reason: msg}
}

// registerPrompts registers the system prompts with the leak detector and
// returns the function that unregisters them. Prompts are counted, so that
// concurrent calls with the same prompt keep it registered until the last
// ends.
func (p *Proxy) registerPrompts(prompts []string) func() {
	if p.deps.Leak == nil || !p.cfg.Guard.SystemPromptLeak || len(prompts) == 0 {
		return func() {}
	}
	var done []string
	p.leakMu.Lock()
	for _, s := range prompts {
		if strings.TrimSpace(s) == "" {
			continue
		}
		k := sha256.Sum256([]byte(s))
		if p.leakRefs[k] == 0 {
			if err := p.deps.Leak.Register(s); err != nil {
				p.log.Warn("system prompt not registered for leak detection", "err", err)
				continue
			}
		}
		p.leakRefs[k]++
		done = append(done, s)
	}
	p.leakMu.Unlock()
	return func() {
		p.leakMu.Lock()
		defer p.leakMu.Unlock()
		for _, s := range done {
			k := sha256.Sum256([]byte(s))
			if p.leakRefs[k]--; p.leakRefs[k] <= 0 {
				delete(p.leakRefs, k)
				p.deps.Leak.Unregister(s)
			}
		}
	}
}

// countTokens counts the tokens of texts for model: exactly for short
// prompts, estimated for long ones (the budget is reconciled with the
// upstream's usage after the call).
func countTokens(model string, texts []string) int64 {
	var n int64
	for _, t := range texts {
		if len(t) <= exactCountBytes {
			n += int64(guard.CountTokens(model, t))
		} else {
			n += int64(guard.EstimateTokens(t))
		}
	}
	return n
}

// exactCountBytes is the longest text counted exactly before a call.
const exactCountBytes = 1024

// models serves GET /v1/models and /v1/models/{model}: the models and
// aliases the caller may use.
func (p *Proxy) models(w http.ResponseWriter, r *http.Request, one string) {
	c := p.begin(r, RouteModels)
	defer c.finish(r.Context())
	if _, ok := CallerFrom(r.Context()); !ok {
		c.fail(w, errNoCaller)
		return
	}
	c.ev.Model = one
	visible := func(name string) bool {
		return inScope(c.caller, name) && (p.deps.Authorizer == nil || p.deps.Authorizer.AllowModel(r.Context(), c.caller, name) == nil)
	}
	owner := func(name string) string {
		if ts := p.route(name); len(ts) > 0 && p.aliases[name] == nil {
			return ts[0].up.cfg.Name
		}
		return "subzero"
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	w.Header().Set("Content-Type", "application/json")
	if one != "" {
		if len(p.route(one)) == 0 || !slices.Contains(p.names, one) || !visible(one) {
			c.fail(w, modelNotFound(one))
			return
		}
		_ = writeJSON(w, model{one, "model", 0, owner(one)})
		return
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, n := range p.names {
		if visible(n) {
			list.Data = append(list.Data, model{n, "model", 0, owner(n)})
		}
	}
	_ = writeJSON(w, list)
}
