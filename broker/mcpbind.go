package broker

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/delegation"
	"github.com/subzero-gateway/subzero/mcp"
)

// mcpVisibility answers the gateway's list filtering with the decision the
// pipeline's authorize step takes for a call: an item is listed when its
// call would be allowed.
//
// A list asks one decision per item, and clients list often, so the
// answers to a whole list are kept: per caller (the whole principal,
// every field of which the decision may read), server and list of items,
// for as long as the authorization state's generation stays the same and
// the time stays in the same period of the decision cache's TTL, the
// conditions under which the decision point would answer from its own
// cache. Lists are kept only when the authorizer reports its state (the
// node's *Authz) and its cache is on; answers with an engine error are
// never kept.
type mcpVisibility struct {
	p     *pipeline
	seed  maphash.Seed
	now   func() time.Time
	lists *otter.Cache[visKey, *visList]  // nil: nothing kept
	items *otter.Cache[uint64, *visItems] // the lists of items seen, shared
}

// decisionStater reports what an authorizer's answers depend on besides
// the request: the authorization state's generation and the resolution of
// the request's time (0: the answers must not be kept).
type decisionStater interface {
	decisionState() (delegation.Generation, time.Duration)
}

func (a *Authz) decisionState() (delegation.Generation, time.Duration) {
	return a.point.Generation(), a.point.CacheTTL()
}

// Bounds of the kept lists.
const (
	maxVisBytes = 8 << 20 // the answers, approximately
	maxVisItems = 256     // distinct lists of items
)

// newMCPVisibility returns the visibility of the pipeline p.
func newMCPVisibility(p *pipeline) *mcpVisibility {
	v := &mcpVisibility{p: p, seed: maphash.MakeSeed(), now: time.Now}
	ds, ok := p.authz.(decisionStater)
	if !ok {
		return v
	}
	_, ttl := ds.decisionState()
	if ttl <= 0 {
		return v
	}
	v.lists = otter.Must(&otter.Options[visKey, *visList]{
		MaximumWeight: maxVisBytes,
		Weigher: func(k visKey, l *visList) uint32 {
			return uint32(min(160+len(k.caller)+8*len(l.allowed), math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWriting[visKey, *visList](ttl),
	})
	v.items = otter.Must(&otter.Options[uint64, *visItems]{MaximumSize: maxVisItems})
	return v
}

// visKey names a kept list: the caller's encoded principal and server,
// the caller's address, and a hash of the items (compared in full before
// use, so a collision costs a miss, never a wrong answer).
type visKey struct {
	caller string
	ip     netip.Addr
	hash   uint64
}

// visItems is a list of items as asked, shared by the kept lists.
type visItems struct{ items []mcp.Item }

// visList is a kept list's answers; it is not modified once stored.
type visList struct {
	items   *visItems
	gen     delegation.Generation
	period  time.Time // the request time, truncated to the TTL
	allowed []uint64  // bit i answers items[i]
}

func (v *mcpVisibility) Visible(ctx context.Context, server string, items []mcp.Item) ([]bool, error) {
	who, err := v.p.authn.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	if v.lists == nil {
		out, _ := v.decide(ctx, who, server, items, time.Time{})
		return out, nil
	}
	gen, ttl := v.p.authz.(decisionStater).decisionState() // before deciding
	now := v.now()
	period := now.Truncate(ttl)
	k := visKey{caller: callerKey(who, server), ip: who.sourceIP, hash: v.hash(items)}
	if l, ok := v.lists.GetIfPresent(k); ok && l.gen == gen && l.period.Equal(period) && slices.Equal(l.items.items, items) {
		out := make([]bool, len(items))
		for i := range out {
			out[i] = l.allowed[i/64]&(1<<(i%64)) != 0
		}
		return out, nil
	}
	out, failed := v.decide(ctx, who, server, items, now)
	if failed {
		return out, nil // the denials of a failed engine are not kept
	}
	l := &visList{items: v.intern(k.hash, items), gen: gen, period: period, allowed: make([]uint64, (len(items)+63)/64)}
	for i, ok := range out {
		if ok {
			l.allowed[i/64] |= 1 << (i % 64)
		}
	}
	v.lists.Set(k, l)
	return out, nil
}

// decide asks the decision point about each item, at time at (zero: now).
// failed reports that the point failed to answer for one of them.
func (v *mcpVisibility) decide(ctx context.Context, who *principal, server string, items []mcp.Item, at time.Time) (out []bool, failed bool) {
	out = make([]bool, len(items))
	for i, it := range items {
		c := &mcp.Call{Method: methodOf(it.Kind), Server: server, Name: it.Name, Upstream: it.Upstream, Object: it.Object}
		req := v.p.request(who, c)
		req.Time = at
		d, err := v.p.authz.Decide(ctx, req)
		out[i] = err == nil && d.Allowed
		failed = failed || err != nil
	}
	return out, failed
}

// hash hashes items for their key: from the items' own keys, computed
// once when the gateway registered them, when they all have one.
func (v *mcpVisibility) hash(items []mcp.Item) uint64 {
	const prime = 1099511628211 // FNV-1a's, over words
	k := uint64(14695981039346656037)
	for _, it := range items {
		if it.Key == 0 {
			return v.hashFields(items)
		}
		k = (k ^ it.Key) * prime
	}
	return k
}

// hashFields hashes items' fields.
func (v *mcpVisibility) hashFields(items []mcp.Item) uint64 {
	var h maphash.Hash
	h.SetSeed(v.seed)
	for _, it := range items {
		h.WriteString(it.Kind)
		h.WriteByte(0)
		h.WriteString(it.Name)
		h.WriteByte(0)
		h.WriteString(it.Upstream)
		h.WriteByte(0)
		h.WriteString(it.Object)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// intern returns the shared copy of items, hashed h, adding it.
func (v *mcpVisibility) intern(h uint64, items []mcp.Item) *visItems {
	if x, ok := v.items.GetIfPresent(h); ok && slices.Equal(x.items, items) {
		return x
	}
	x := &visItems{items: slices.Clone(items)}
	v.items.Set(h, x)
	return x
}

// callerKey encodes, without ambiguity, every field of the principal the
// decision may read (its address aside) and the server.
func callerKey(who *principal, server string) string {
	n := len(server) + len(who.subject) + len(who.client) + 8*(3+len(who.scopes)+len(who.chain))
	for _, s := range who.scopes {
		n += len(s)
	}
	for _, s := range who.chain {
		n += len(s)
	}
	b := make([]byte, 0, n)
	b = appendField(b, server)
	b = appendField(b, who.subject)
	b = appendField(b, who.client)
	b = binary.AppendUvarint(b, uint64(len(who.scopes)))
	for _, s := range who.scopes {
		b = appendField(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(who.chain)))
	for _, s := range who.chain {
		b = appendField(b, s)
	}
	return string(b)
}

func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func methodOf(kind string) string {
	switch kind {
	case "prompt":
		return mcp.MethodPromptsGet
	case "resource":
		return mcp.MethodResourcesRead
	}
	return mcp.MethodToolsCall
}

// mcpRecorder writes the gateway's own events (tools learned, quarantined,
// approved) to the audit trail.
type mcpRecorder struct {
	log    auditor
	logger *slog.Logger
}

func (r mcpRecorder) Record(ctx context.Context, e mcp.Event) {
	reason := e.Reason
	if len(e.Detail) > 0 {
		if b, err := json.Marshal(e.Detail); err == nil { // compacts it
			reason += " " + string(b)
		}
	}
	d := audit.Allow
	if e.Action == "mcp.tool.quarantined" {
		d = audit.Deny
	}
	ev := audit.Event{Type: "mcp", Action: e.Action, Target: e.Target, Actor: audit.Actor{Subject: e.Actor},
		Decision: d, Reason: clipTo(reason, maxEventReason), RequestID: RequestID(ctx)}
	if _, err := r.log.Append(context.WithoutCancel(ctx), ev); err != nil {
		r.logger.ErrorContext(ctx, "audit", "action", e.Action, "target", e.Target, "err", err)
	}
}
