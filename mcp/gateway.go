package mcp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/mcp/pin"
	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
	"github.com/subzero-gateway/subzero/mcp/upstream"
)

// Scanner is the guard as the gateway uses it: it scans tool definitions
// (direction guard.ToolDescription) before they are listed. *guard.Guard
// implements it.
type Scanner interface {
	Scan(ctx context.Context, in guard.Input) (guard.Verdict, error)
}

// Options are what a Gateway is made of. Every field but Logger,
// Registerer and PublicOrigin is required.
type Options struct {
	Config    Config
	Upstreams *upstream.Registry
	// Pipeline runs every tools/call, prompts/get and resources/read.
	Pipeline Pipeline
	// Visibility filters every list to what the caller may use.
	Visibility Visibility
	// Identity names the caller of a request; a request without one is
	// refused with 401.
	Identity Identity
	// Recorder receives the events of tool pinning and of the guard's
	// verdicts on tool definitions.
	Recorder Recorder
	// Pins decides whether a tool's definition may be used.
	Pins *pin.Pins
	// Scanner scans tool definitions; a Block verdict hides the tool.
	Scanner Scanner
	// Logger may be nil (no logs); Registerer may be nil (no metrics).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// PublicOrigin is the broker's own origin ("https://subzero.example"),
	// allowed as Origin besides Config.AllowedOrigins.
	PublicOrigin string
}

// Event actions the gateway records besides those of [Event].
const (
	ActionLearned     = "mcp.tool.learned"
	ActionQuarantined = "mcp.tool.quarantined"
	ActionApproved    = "mcp.tool.approved"
	// ActionBlocked: the guard blocked a tool's definition, which is
	// hidden; recorded once per definition and node.
	ActionBlocked = "mcp.tool.blocked"
)

// Gateway is the MCP gateway: it aggregates the upstreams' tools, prompts
// and resources into an index and serves it to MCP clients (Handler),
// running every call through the Pipeline. Its methods are safe for
// concurrent use.
type Gateway struct {
	cfg  Config
	opts Options
	log  *slog.Logger

	idx     atomic.Pointer[index]
	servers map[string]*vserver // by name, "" for /mcp
	names   []string            // upstream names, in configuration order

	mu    sync.Mutex // guards items and the servers' registered sets
	items map[string]*upstreamItems

	refreshMu map[string]*sync.Mutex // one per upstream: its refreshes in turn

	scanMu      sync.Mutex
	scanned     map[string]string // name, 0, definition hash → why the guard blocked it ("" allowed)
	blockLogged map[string]bool   // the same keys, for blocks that were recorded

	sessions *sessions
	origins  map[string]bool

	// fastCalls and fastLists count the calls and lists served on the
	// fast path (fastcall.go);
	// noFast turns it off (tests compare the two paths).
	fastCalls, fastLists atomic.Uint64
	noFast               atomic.Bool

	collisions *prometheus.GaugeVec
	hidden     prometheus.Gauge
	refreshErr *prometheus.CounterVec

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// QuarantinedTool is a tool hidden until an admin approves its pending
// definition.
type QuarantinedTool struct {
	// Name is the pin key, "<upstream>__<tool>", which Approve takes.
	Name     string `json:"name"`
	Upstream string `json:"upstream"`
	Tool     string `json:"tool"`
	// Hash is the approved definition's hash ("" for a tool never
	// approved); PendingHash the definition that quarantined it, which
	// Approve takes to let it through.
	Hash          string       `json:"hash,omitempty"`
	PendingHash   string       `json:"pending_hash"`
	Changes       []pin.Change `json:"changes,omitempty"`
	QuarantinedAt time.Time    `json:"quarantined_at"`
}

// New returns a gateway over o.Upstreams; it serves nothing until Start.
func New(o Options) (*Gateway, error) {
	switch {
	case o.Upstreams == nil:
		return nil, errors.New("mcp: New: Upstreams is required")
	case o.Pipeline == nil:
		return nil, errors.New("mcp: New: Pipeline is required")
	case o.Visibility == nil:
		return nil, errors.New("mcp: New: Visibility is required")
	case o.Identity == nil:
		return nil, errors.New("mcp: New: Identity is required")
	case o.Recorder == nil:
		return nil, errors.New("mcp: New: Recorder is required")
	case o.Pins == nil:
		return nil, errors.New("mcp: New: Pins is required")
	case o.Scanner == nil:
		return nil, errors.New("mcp: New: Scanner is required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.PublicOrigin != "" {
		if err := checkOrigin(o.PublicOrigin); err != nil {
			return nil, fmt.Errorf("mcp: New: PublicOrigin: %w", err)
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		cfg:         o.Config.withDefaults(),
		opts:        o,
		log:         log,
		servers:     map[string]*vserver{},
		items:       map[string]*upstreamItems{},
		refreshMu:   map[string]*sync.Mutex{},
		scanned:     map[string]string{},
		blockLogged: map[string]bool{},
		origins:     map[string]bool{},
		ctx:         ctx,
		cancel:      cancel,
		collisions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "subzero_mcp_name_collisions",
			Help: "Names offered by more than one upstream (or twice by one), which are served by none.",
		}, []string{"kind"}),
		hidden: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "subzero_mcp_tools_hidden",
			Help: "Tools hidden from lists and refused: quarantined, refused by their pin, or blocked by the guard.",
		}),
		refreshErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "subzero_mcp_refresh_errors_total",
			Help: "Failed lists of an upstream's tools, prompts or resources.",
		}, []string{"upstream"}),
	}
	g.idx.Store(emptyIndex())
	for _, o := range g.cfg.AllowedOrigins {
		g.origins[o] = true
	}
	if o.PublicOrigin != "" {
		g.origins[o.PublicOrigin] = true
	}
	for _, u := range o.Upstreams.All() {
		g.names = append(g.names, u.Name())
		g.refreshMu[u.Name()] = new(sync.Mutex)
	}
	g.sessions = newSessions(g.cfg.SessionIdleTTL, time.Now)
	g.servers[""] = g.newServer("", ServerConfig{Description: "all tools"}, true)
	for _, name := range sortedKeys(g.cfg.Servers) {
		g.servers[name] = g.newServer(name, g.cfg.Servers[name], false)
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{g.collisions, g.hidden, g.refreshErr} {
			if err := o.Registerer.Register(c); err != nil {
				cancel()
				return nil, fmt.Errorf("mcp: New: register metrics: %w", err)
			}
		}
	}
	return g, nil
}

// Start builds the index from every upstream and follows their changes:
// an upstream's lists are read again when it says one changed and when it
// reconnects. The upstreams' Registry must be started (or starting); an
// upstream that is down contributes nothing until it comes up. Start
// returns when every upstream's first lists were read or failed.
func (g *Gateway) Start(ctx context.Context) error {
	all := g.opts.Upstreams.All()
	var wg sync.WaitGroup
	for _, u := range all {
		u.OnListChanged(func(kind string) {
			if g.ctx.Err() != nil {
				return
			}
			g.refresh(g.ctx, u, kind)
		})
		wg.Go(func() {
			if err := g.refresh(ctx, u, upstream.KindTools, upstream.KindPrompts, upstream.KindResources); err != nil {
				g.wg.Go(func() { g.retry(u) })
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

// Bounds of the waits between the lists of an upstream that failed its
// first ones.
const (
	retryFirst = 500 * time.Millisecond
	retryMax   = 30 * time.Second
)

// retry lists u again, waiting longer each time, until every list
// succeeds once or the gateway closes. An upstream that was down at Start
// says nothing when it comes up: it reports changes only after it was up
// once.
func (g *Gateway) retry(u *upstream.Upstream) {
	wait := retryFirst
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		if g.refresh(g.ctx, u, upstream.KindTools, upstream.KindPrompts, upstream.KindResources) == nil {
			return
		}
		wait = min(2*wait, retryMax)
		t.Reset(wait)
	}
}

// Close stops following the upstreams and ends every session. It does not
// close the upstreams, which the Registry's owner does.
func (g *Gateway) Close() error {
	g.cancel()
	for _, v := range g.servers {
		v.close()
	}
	g.wg.Wait()
	return nil
}

// refresh lists kinds of u again and swaps the index. Errors keep what
// was listed before: an upstream that is down keeps its items, whose calls
// then fail as unavailable. It returns the first list's error.
func (g *Gateway) refresh(ctx context.Context, u *upstream.Upstream, kinds ...string) (first error) {
	mu := g.refreshMu[u.Name()]
	mu.Lock()
	defer mu.Unlock()

	g.mu.Lock()
	prev := g.items[u.Name()]
	g.mu.Unlock()
	next := &upstreamItems{}
	if prev != nil {
		*next = *prev
	}
	for _, kind := range kinds {
		var err error
		switch kind {
		case upstream.KindTools:
			next.tools, err = g.listTools(ctx, u)
		case upstream.KindPrompts:
			next.prompts, err = g.listPrompts(ctx, u)
		case upstream.KindResources:
			next.resources, next.templates, err = g.listResources(ctx, u)
		}
		if err != nil {
			first = cmp.Or(first, err)
			g.refreshErr.WithLabelValues(u.Name()).Inc()
			g.log.Warn("mcp: list failed; keeping the previous list", "upstream", u.Name(), "kind", kind, "err", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.items[u.Name()] = next
	g.rebuildLocked()
	return first
}

// rebuildLocked merges the items into a new index, swaps it in and updates
// the servers' registered sets, which tells clients what changed. g.mu is
// held.
func (g *Gateway) rebuildLocked() {
	x := merge(g.names, g.items, g.idx.Load(), g.log)
	g.idx.Store(x)
	hidden := 0
	for _, e := range x.tools {
		if e.hidden != "" {
			hidden++
		}
	}
	g.hidden.Set(float64(hidden))
	for _, k := range []string{"tool", "prompt", "resource", "template"} {
		g.collisions.WithLabelValues(k).Set(float64(x.collisionCount(k)))
	}
	for _, v := range g.servers {
		v.update(x)
	}
}

func (g *Gateway) listTools(ctx context.Context, u *upstream.Upstream) ([]*toolEntry, error) {
	tools, err := u.Tools(ctx)
	if err != nil {
		if errors.Is(err, mcpgo.ErrMethodNotFound) {
			return nil, nil
		}
		return nil, err
	}
	prefix := u.Prefix()
	out := make([]*toolEntry, 0, len(tools))
	for _, t := range tools {
		name := prefix + t.Name
		if !validName(t.Name) || len(name) > MaxNameBytes {
			g.log.Warn("mcp: tool name refused", "upstream", u.Name(), "bytes", len(t.Name))
			continue
		}
		if err := mcpgo.ValidateParamHeaderAnnotations(&t); err != nil {
			g.log.Warn("mcp: tool refused: invalid header annotations", "upstream", u.Name(), "tool", t.Name, "err", err)
			continue
		}
		e := &toolEntry{
			name:   name,
			up:     u,
			tool:   t,
			raw:    upstream.NewRawTool(t),
			listed: listedTool(name, t),
			object: kindTool + ":" + u.Name() + "." + t.Name,
			risk:   riskOf(g.cfg.Risk, name, t),
		}
		e.headerBound = len(mcpgo.ExtractParamHeaderBindings(&e.listed)) > 0
		e.hash, e.hidden = g.checkTool(ctx, u, name, t)
		out = append(out, e)
	}
	return out, nil
}

// checkTool scans the tool's definition and checks its pin, recording what
// changed. It returns the definition's hash and why the tool is hidden,
// "" when it is not.
func (g *Gateway) checkTool(ctx context.Context, u *upstream.Upstream, name string, t mcpgo.Tool) (hash, hidden string) {
	def, err := pin.Of(u.Name(), t)
	if err != nil {
		g.log.Warn("mcp: tool refused: its definition cannot be pinned", "upstream", u.Name(), "tool", t.Name, "err", err)
		return "", "its definition cannot be pinned"
	}
	hash = def.Hash()
	// The guard first: a definition it blocks is never learned.
	if why := g.scan(ctx, name, def); why != "" {
		return hash, why
	}
	v, err := g.opts.Pins.Check(ctx, def)
	if err != nil {
		g.log.Error("mcp: tool hidden: its pin could not be checked", "upstream", u.Name(), "tool", t.Name, "err", err)
		return hash, "its pin could not be checked"
	}
	switch {
	case v.Quarantined:
		detail, _ := json.Marshal(map[string]any{
			"upstream": u.Name(), "tool": t.Name, "reason": v.Reason,
			"hash": v.Hash, "approved": v.Approved, "changes": v.Changes,
		})
		g.opts.Recorder.Record(ctx, Event{
			Action: ActionQuarantined, Target: name,
			Reason: quarantineReason(v.Reason), Detail: detail,
		})
		g.log.Warn("mcp: tool quarantined", "upstream", u.Name(), "tool", t.Name, "reason", v.Reason)
	case v.Learned:
		detail, _ := json.Marshal(map[string]any{"upstream": u.Name(), "tool": t.Name, "hash": v.Hash})
		g.opts.Recorder.Record(ctx, Event{
			Action: ActionLearned, Target: name,
			Reason: "tool trusted on first use", Detail: detail,
		})
	}
	if !v.Allowed {
		return hash, "quarantined: " + quarantineReason(v.Reason) + "; an admin must approve it"
	}
	return hash, ""
}

func quarantineReason(r pin.Reason) string {
	switch r {
	case pin.ReasonChanged:
		return "its definition changed since it was approved"
	case pin.ReasonPinMismatch:
		return "its definition differs from the pinned one"
	case pin.ReasonNew:
		return "it is new and was never approved"
	}
	return "its definition is not approved"
}

// scan returns why the guard blocks the tool's definition, "" when it does
// not; verdicts are kept by definition hash.
func (g *Gateway) scan(ctx context.Context, name string, def pin.Definition) string {
	// The policy may differ by tool name, which the hash does not cover
	// for tools of two upstreams.
	key := name + "\x00" + def.Hash()
	g.scanMu.Lock()
	why, seen := g.scanned[key]
	g.scanMu.Unlock()
	if !seen {
		v, err := g.opts.Scanner.Scan(ctx, guard.Input{
			Direction: guard.ToolDescription,
			JSON:      def.JSON(),
			Meta:      guard.Meta{Route: "mcp", Tool: name},
		})
		switch {
		case err != nil:
			// Not kept: the next refresh scans again.
			g.log.Warn("mcp: tool hidden: its definition could not be scanned", "tool", name, "err", err)
			return "its definition could not be scanned"
		case v.Action == guard.Block:
			why = "the guard blocked its definition"
		}
		g.scanMu.Lock()
		if len(g.scanned) >= maxScanCache {
			clear(g.scanned)
		}
		g.scanned[key] = why
		g.scanMu.Unlock()
		if why != "" {
			g.recordBlock(ctx, key, name, def, v)
		}
	}
	return why
}

const maxScanCache = 10_000

func (g *Gateway) recordBlock(ctx context.Context, key, name string, def pin.Definition, v guard.Verdict) {
	g.scanMu.Lock()
	done := g.blockLogged[key]
	if len(g.blockLogged) >= maxScanCache {
		clear(g.blockLogged)
	}
	g.blockLogged[key] = true
	g.scanMu.Unlock()
	if done {
		return
	}
	type finding struct {
		Detector string `json:"detector"`
		Path     string `json:"path,omitempty"`
	}
	var fs []finding
	for _, f := range v.Findings {
		fs = append(fs, finding{Detector: f.Detector, Path: f.Path})
	}
	detail, _ := json.Marshal(map[string]any{
		"upstream": def.Upstream(), "tool": def.Name(), "hash": def.Hash(), "findings": fs,
	})
	g.opts.Recorder.Record(ctx, Event{
		Action: ActionBlocked, Target: name,
		Reason: "the guard blocked the tool's definition", Detail: detail,
	})
	g.log.Warn("mcp: tool hidden: the guard blocked its definition", "upstream", def.Upstream(), "tool", def.Name())
}

func (g *Gateway) listPrompts(ctx context.Context, u *upstream.Upstream) ([]*promptEntry, error) {
	if u.Capabilities().Prompts == nil {
		return nil, nil
	}
	prompts, err := u.Prompts(ctx)
	if err != nil {
		return nil, err
	}
	prefix := u.Prefix()
	out := make([]*promptEntry, 0, len(prompts))
	for _, p := range prompts {
		name := prefix + p.Name
		if !validName(p.Name) || len(name) > MaxNameBytes {
			continue
		}
		out = append(out, &promptEntry{name: name, up: u, prompt: p, object: kindPrompt + ":" + u.Name() + "." + p.Name})
	}
	return out, nil
}

func (g *Gateway) listResources(ctx context.Context, u *upstream.Upstream) ([]*resourceEntry, []*templateEntry, error) {
	if u.Capabilities().Resources == nil {
		return nil, nil, nil
	}
	res, err := u.Resources(ctx)
	if err != nil {
		return nil, nil, err
	}
	tmpls, err := u.ResourceTemplates(ctx)
	if err != nil && !errors.Is(err, mcpgo.ErrMethodNotFound) {
		return nil, nil, err
	}
	object := kindResource + ":" + u.Name()
	var rs []*resourceEntry
	for _, r := range res {
		if !validName(r.URI) {
			continue
		}
		rs = append(rs, &resourceEntry{uri: r.URI, up: u, res: r, object: object})
	}
	var ts []*templateEntry
	for _, t := range tmpls {
		if t.URITemplate == nil || t.URITemplate.Template == nil || !validName(t.URITemplate.Raw()) {
			continue
		}
		ts = append(ts, &templateEntry{uri: t.URITemplate.Raw(), up: u, tmpl: t, object: object})
	}
	return rs, ts, nil
}

// validName accepts a name or URI an upstream gives: 1 to MaxNameBytes
// bytes of valid UTF-8 without control characters.
func validName(s string) bool {
	return s != "" && cleanText(s, MaxNameBytes) && utf8.ValidString(s)
}

// Quarantined lists the quarantined tools, with what changed.
func (g *Gateway) Quarantined(ctx context.Context) ([]QuarantinedTool, error) {
	recs, err := g.opts.Pins.Quarantined(ctx)
	if err != nil {
		return nil, fmt.Errorf("mcp: quarantined: %w", err)
	}
	out := make([]QuarantinedTool, 0, len(recs))
	for _, r := range recs {
		out = append(out, QuarantinedToolOf(r))
	}
	return out, nil
}

// QuarantinedToolOf describes the quarantined tool r records, with what
// changed from its approved definition when both parse.
func QuarantinedToolOf(r pinstore.Record) QuarantinedTool {
	q := QuarantinedTool{
		Name: r.Key.String(), Upstream: r.Upstream, Tool: r.Tool,
		Hash: r.Hash, PendingHash: r.PendingHash, QuarantinedAt: r.QuarantinedAt,
	}
	var old pin.Definition
	if len(r.Definition) > 0 {
		old, _ = pin.ParseDefinition(r.Upstream, r.Definition)
	}
	if next, err := pin.ParseDefinition(r.Upstream, r.Pending); err == nil {
		q.Changes = pin.Diff(old, next)
	}
	return q
}

// ErrUnknownTool: Approve's name is no tool of a configured upstream.
var ErrUnknownTool = errors.New("mcp: unknown tool")

// Approve approves the pending definition of the tool name ("<upstream>__
// <tool>", as Quarantined lists it, or the name clients see) if hash is
// its hash (see [pin.Pins.Approve]), records ActionApproved with actor and
// reads the upstream's tools again, so that the tool reappears and clients
// are told the list changed.
func (g *Gateway) Approve(ctx context.Context, name, hash, actor string) error {
	up, tool, ok := "", "", false
	if e := g.idx.Load().tools[name]; e != nil {
		up, tool, ok = e.up.Name(), e.tool.Name, true
	} else {
		up, tool, ok = splitKey(name, g.names)
	}
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTool, name)
	}
	rec, err := g.opts.Pins.Approve(ctx, up, tool, hash, actor)
	if err != nil {
		return fmt.Errorf("mcp: approve %s: %w", name, err)
	}
	detail, _ := json.Marshal(map[string]any{"upstream": up, "tool": tool, "hash": rec.Hash})
	g.opts.Recorder.Record(ctx, Event{
		Action: ActionApproved, Target: name, Actor: actor,
		Reason: "an admin approved the tool's definition", Detail: detail,
	})
	if u, ok := g.opts.Upstreams.Get(up); ok {
		g.refresh(ctx, u, upstream.KindTools)
	}
	return nil
}

// Tools returns the names of the tools the server (""for /mcp) serves and
// may list, before the caller's visibility: for admin views and tests.
func (g *Gateway) Tools(server string) []string {
	v := g.servers[server]
	if v == nil {
		return nil
	}
	var out []string
	for name, e := range g.idx.Load().tools {
		if e.hidden == "" && v.selects(v.cfg.Tools, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
